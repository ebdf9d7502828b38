"""The messages between the host and its site writer (:mod:`.writer_process`), and their codec.

MessagePack through msgspec, as with process plugins (``proc/messages.py``): values only, never
pickle. The writer speaks first, once, with :class:`WriterReady`; then it answers each
:class:`JobMsg` with :class:`WriteDone` (with the bytecode of the modules the job asked for:
:mod:`.compiled`) or :class:`WriteFailed`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Union

import msgspec

from .compiled import Compiled
from .site_writer import SiteJob, StagedWheel

__all__ = [
    "PROTOCOL",
    "CompiledMsg",
    "JobMsg",
    "Reply",
    "WheelMsg",
    "WriteDone",
    "WriteFailed",
    "WriterReady",
    "decoder",
    "job_of",
    "message_of",
]

#: Raised whenever the messages change shape: a writer of another version is not used.
PROTOCOL = 2


class WheelMsg(msgspec.Struct, array_like=True):
    """A validated wheel: its bytes, or the path of its private copy (a wheel too large to
    hold in memory)."""

    original: str
    data: bytes | None
    copy: str | None


class JobMsg(msgspec.Struct, tag="job", array_like=True):
    wheels: list[WheelMsg]
    staging_root: str
    target: str
    plugin: str
    version: str
    sha256: str
    compile: bool
    optimize: int
    preload: list[str]


class WriterReady(msgspec.Struct, tag="ready", array_like=True):
    protocol: int
    pid: int


class CompiledMsg(msgspec.Struct, array_like=True):
    module: str
    path: str
    pyc: bytes


class WriteDone(msgspec.Struct, tag="done", array_like=True):
    reused: bool
    compiled: list[CompiledMsg]

    def modules(self) -> tuple[Compiled, ...]:
        return tuple(Compiled(c.module, c.path, c.pyc) for c in self.compiled)

    @classmethod
    def of(cls, reused: bool, modules: tuple[Compiled, ...]) -> WriteDone:
        return cls(reused, [CompiledMsg(c.module, c.path, c.pyc) for c in modules])


class WriteFailed(msgspec.Struct, tag="failed", array_like=True):
    """``kind``: ``wheel`` (a :class:`~pluginhost.WheelError`) or ``install`` (an
    :class:`~pluginhost.InstallError`)."""

    kind: str
    reason: str
    plugin: str | None
    path: str | None


Reply = Union[WriterReady, WriteDone, WriteFailed]  # noqa: UP007


def decoder() -> msgspec.msgpack.Decoder[Any]:
    """A decoder that accepts the writer's messages and jobs, nothing else."""
    return msgspec.msgpack.Decoder(Union[JobMsg, WriterReady, WriteDone, WriteFailed])  # noqa: UP007


def message_of(job: SiteJob) -> JobMsg:
    wheels = [
        WheelMsg(str(w.original), w.contents, None)
        if isinstance(w.contents, bytes)
        else WheelMsg(str(w.original), None, str(w.contents))
        for w in job.wheels
    ]
    return JobMsg(
        wheels,
        str(job.staging_root),
        str(job.target),
        job.plugin,
        job.version,
        job.sha256,
        job.compile,
        job.optimize,
        list(job.preload),
    )


def job_of(message: JobMsg) -> SiteJob:
    wheels = tuple(
        StagedWheel(Path(w.original), w.data if w.data is not None else Path(w.copy or ""))
        for w in message.wheels
    )
    return SiteJob(
        wheels,
        Path(message.staging_root),
        Path(message.target),
        message.plugin,
        message.version,
        message.sha256,
        message.compile,
        message.optimize,
        tuple(message.preload),
    )
