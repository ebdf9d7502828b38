"""The messages between the host and its site writer (:mod:`.writer_process`), and their codec.

MessagePack through msgspec, as with process plugins (``proc/messages.py``): values only, never
pickle. The writer speaks first, once, with :class:`WriterReady`; then it answers each
:class:`JobMsg` with :class:`WriteDone` (with the bytecode of the modules the job asked for:
:mod:`.compiled`) or :class:`WriteFailed`, and each :class:`ReadMsg` (a look's wheel to read
and validate: :mod:`~pluginhost.discover.reading`) with :class:`ReadDone`, :class:`ReadFailed`
or :class:`ReadHere`. A read may also ask for the site dir of the plugin the wheel offers
(:class:`AheadMsg`): its :class:`ReadDone` then carries that write's answer too.
"""

from __future__ import annotations

import itertools
import os
import zipfile
from pathlib import Path
from typing import Any, Union

import attrs
import msgspec

from ..discover.archive import WheelBytes, WheelLimits
from ..discover.metadata import EntryPointSpec
from ..discover.reading import WheelRead
from ..discover.wheel import Inspection, WheelInfo
from ..model.errors import WheelError
from .compiled import Compiled
from .site_writer import SiteJob, StagedWheel

__all__ = [
    "PROTOCOL",
    "AheadMsg",
    "CompiledMsg",
    "JobMsg",
    "LogMsg",
    "ReadDone",
    "ReadFailed",
    "ReadHere",
    "ReadMsg",
    "Reply",
    "WheelMsg",
    "WriteDone",
    "WriteFailed",
    "WriterReady",
    "decoder",
    "job_of",
    "message_of",
    "read_done",
    "read_message",
    "read_of",
    "sendable",
    "utf8_paths",
    "wheel_read",
]

#: Raised whenever the messages change shape: a writer of another version is not used.
PROTOCOL = 9


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


class LogMsg(msgspec.Struct, tag="log", array_like=True):
    """A warning the writer logged during a job, sent ahead of the job's answer, for the host
    to log with its own handlers: a wheel read in the writer is told of as one the host
    reads itself."""

    logger: str
    level: int
    message: str


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


class AheadMsg(msgspec.Struct, array_like=True):
    """With a read: once the wheel is validated, write the site dir of the plugin it offers to
    ``group``, as its install would (:func:`~.installer.candidate_job`), with the job's
    bytecode settings (see :class:`~.site_writer.SiteJob`)."""

    group: str
    site_root: str
    staging_root: str
    compile: bool
    optimize: int


class ReadMsg(msgspec.Struct, tag="read", array_like=True):
    """A wheel file to read and validate: its path, its ``lstat`` (as the ten numbers of an
    ``os.stat_result``: the file opened must be that file) and the limits, in
    :class:`~pluginhost.WheelLimits`' order; and the site dir to write then, if any."""

    path: str
    lstat: list[int]
    limits: list[int]
    ahead: AheadMsg | None = None


class KeptMsg(msgspec.Struct, array_like=True):
    """A member kept by validation (a manifest), with the sizes its directory declares."""

    name: str
    file_size: int
    compress_size: int
    data: bytes | None


class InfoMsg(msgspec.Struct, array_like=True):
    """A :class:`~pluginhost.discover.wheel.WheelInfo`, field by field (entry points as
    ``[group, [[name, value], ...]]``, a group's name once: once per entry point, a group
    named by 1 MB of text made a wheel of 3 kB an answer of 300 MB)."""

    path: str
    sha256: str
    distribution: str
    version: str
    dist_info_dir: str
    tags: list[str]
    requires_python: str | None
    requires_dist: list[str]
    entry_points: list[tuple[str, list[tuple[str, str]]]]
    top_level: list[str]
    members: list[str]


class ReadDone(msgspec.Struct, tag="read_done", array_like=True):
    """The file's sha256, and either its bytes and what validation read, or why it refused
    (and no bytes); with the site dir the writer writes next for the read's :class:`AheadMsg`
    (``target``), when it writes one: that write's answer is the next frame."""

    data: bytes
    sha256: str
    info: InfoMsg | None
    kept: list[KeptMsg]
    refused: str | None
    plugin: str | None
    path: str | None
    target: str | None = None


class ReadFailed(msgspec.Struct, tag="read_failed", array_like=True):
    """The file could not be read (nothing is known of its bytes)."""

    reason: str
    path: str


class ReadHere(msgspec.Struct, tag="read_here", array_like=True):
    """The file is the host's to read: it grew past what the writer reads since its ``lstat``."""

    path: str


Reply = Union[WriterReady, WriteDone, WriteFailed, ReadDone, ReadFailed, ReadHere]  # noqa: UP007


def decoder() -> msgspec.msgpack.Decoder[Any]:
    """A decoder that accepts the writer's messages and jobs, nothing else."""
    return msgspec.msgpack.Decoder(
        Union[  # noqa: UP007
            JobMsg,
            ReadMsg,
            WriterReady,
            WriteDone,
            WriteFailed,
            ReadDone,
            ReadFailed,
            ReadHere,
            LogMsg,
        ]
    )


def read_message(
    path: Path, lstat: os.stat_result, limits: WheelLimits, ahead: AheadMsg | None = None
) -> ReadMsg:
    numbers = [int(lstat[i]) for i in range(10)]  # mode, ino, dev, nlink, uid, gid, size, times
    return ReadMsg(str(path), numbers, list(attrs.astuple(limits)), ahead)


def read_of(message: ReadMsg) -> tuple[Path, os.stat_result, WheelLimits]:
    """The path, ``lstat`` and limits a :class:`ReadMsg` carries.

    :raises ValueError, TypeError: when they are not a stat's ten numbers and valid limits.
    """
    if len(message.lstat) != 10:
        raise ValueError(f"an lstat is ten numbers, not {len(message.lstat)}")
    return Path(message.path), os.stat_result(message.lstat), WheelLimits(*message.limits)


def read_done(done: WheelRead) -> ReadDone:
    """The answer that carries ``done`` back to the host."""
    data, inspected = done.data, done.inspected
    if isinstance(inspected, WheelError):
        # The bytes of a refused wheel are not used: its digest is enough (and it may be large).
        return ReadDone(b"", data.sha256, None, [], *_refusal(inspected))
    kept = [
        KeptMsg(info.filename, info.file_size, info.compress_size, member)
        for info, member in inspected.kept_members()
    ]
    return ReadDone(data.data, data.sha256, _info_msg(inspected.info), kept, None, None, None)


def wheel_read(reply: ReadDone) -> WheelRead:
    """The :class:`~pluginhost.discover.reading.WheelRead` a :class:`ReadDone` carries."""
    data = WheelBytes(reply.data, reply.sha256)
    if reply.info is None:
        reason = reply.refused or "refused by the site writer"
        return WheelRead(data, WheelError(reason, plugin=reply.plugin, path=reply.path))
    kept = {}
    for member in reply.kept:
        entry = zipfile.ZipInfo(member.name)
        entry.file_size, entry.compress_size = member.file_size, member.compress_size
        kept[member.name] = (entry, member.data)
    return WheelRead(data, Inspection(_info(reply.info), kept))


def _refusal(exc: WheelError) -> tuple[str, str | None, str | None]:
    return exc.reason, exc.plugin, exc.path


def _info_msg(info: WheelInfo) -> InfoMsg:
    return InfoMsg(
        str(info.path),
        info.sha256,
        info.distribution,
        info.version,
        info.dist_info_dir,
        list(info.tags),
        info.requires_python,
        list(info.requires_dist),
        _grouped(info.entry_points),
        list(info.top_level),
        sorted(info.members),
    )


def _info(msg: InfoMsg) -> WheelInfo:
    return WheelInfo(
        path=Path(msg.path),
        sha256=msg.sha256,
        distribution=msg.distribution,
        version=msg.version,
        dist_info_dir=msg.dist_info_dir,
        tags=tuple(msg.tags),
        requires_python=msg.requires_python,
        requires_dist=tuple(msg.requires_dist),
        entry_points=tuple(
            EntryPointSpec(name, group, value)
            for group, pairs in msg.entry_points
            for name, value in pairs
        ),
        top_level=tuple(msg.top_level),
        members=frozenset(msg.members),
    )


def _grouped(
    entry_points: tuple[EntryPointSpec, ...],
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The entry points in runs of one group, in their order."""
    return [
        (group, [(ep.name, ep.value) for ep in run])
        for group, run in itertools.groupby(entry_points, key=lambda ep: ep.group)
    ]


def utf8_paths(*paths: Path) -> bool:
    """Whether ``paths`` can be sent: the messages' text is UTF-8, and a file name of other
    bytes is held with surrogates, which no encoder takes (such a job is done by the host)."""
    try:
        for path in paths:
            str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def sendable(job: SiteJob) -> bool:
    """Whether every path of ``job`` can be sent (see :func:`utf8_paths`)."""
    copies = [w.contents for w in job.wheels if isinstance(w.contents, Path)]
    return utf8_paths(job.staging_root, job.target, *(w.original for w in job.wheels), *copies)


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
