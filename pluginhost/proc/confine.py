"""A worker's resource limits, set in the worker before any plugin code runs.

Which mechanism applies where (:func:`apply` returns what it used, and the host shows it):

- ``memory_mb``: cgroup v2 ``memory.max`` when the host could make a cgroup for the worker
  (:mod:`pluginhost.proc.cgroup`: a cgroup2 hierarchy whose memory controller the host's own
  cgroup may hand to children, and a directory the host may write, as in a delegated systemd
  scope or a container with its own cgroup namespace); the kernel then kills the worker when it
  passes the limit, and the host reads ``memory.events`` to name the limit. Everywhere else,
  ``RLIMIT_AS``: allocations past it raise ``MemoryError`` in the worker. RLIMIT_AS counts
  address space, not resident memory (each thread's stack and malloc arena count in full), so
  give a worker headroom. Machines with cgroup v1 (a bare cgroup2 beside it has no controllers)
  get RLIMIT_AS.
- ``cpu_cores``: ``sched_setaffinity`` to the first N of the CPUs the worker may use.
- ``open_files``: ``RLIMIT_NOFILE`` (soft and hard): opening past it fails with ``EMFILE``.
- ``threads``: a counted check, always: starting a thread while ``/proc/self/task`` already
  holds ``threads`` tasks raises :class:`ThreadLimitError`. ``RLIMIT_NPROC`` is not used: it
  counts every process of the user, and root ignores it. With a cgroup, ``pids.max`` also bounds
  the worker's threads and child processes together.

When a limit is hit the worker stops (:func:`limit_of` names it), and the host reports it.
"""

from __future__ import annotations

import errno
import os
import resource
import threading
from collections.abc import Callable
from typing import Any

from .messages import LimitsMsg

__all__ = ["LimitError", "ThreadLimitError", "apply", "hit", "limit_of"]

MIB = 1024 * 1024
#: Room above what the worker has mapped when its limits are set: the plugin's imports need it.
_MEMORY_HEADROOM_MB = 16

#: The limit a refusal hit, even when plugin code caught the error (threads only: the kernel's
#: refusals cannot be seen unless they reach the worker's loop).
_hit: list[str] = []


class LimitError(Exception):
    """A limit cannot be set, or is below what the worker needs to start."""

    def __init__(self, limit: str, reason: str) -> None:
        self.limit = limit
        super().__init__(reason)


class ThreadLimitError(RuntimeError):
    """Starting a thread would pass the worker's ``threads`` limit."""


def hit() -> str | None:
    """The limit a refusal hit since the worker started, if any."""
    return _hit[0] if _hit else None


def apply(limits: LimitsMsg, cgroup_joined: bool) -> list[str]:
    """Set ``limits`` on this process.

    :param cgroup_joined: whether the worker is in a cgroup made for it, whose ``memory.max``
        and ``pids.max`` the host has set.
    :returns: how each limit is enforced, as ``"name: mechanism"``.
    :raises LimitError: a limit cannot be set or leaves the worker no room to start.
    """
    enforced = []
    if limits.memory_mb is not None:
        enforced.append(f"memory_mb: {_memory(limits.memory_mb, cgroup_joined)}")
    if limits.cpu_cores is not None:
        enforced.append(f"cpu_cores: {_cpu(limits.cpu_cores)}")
    if limits.open_files is not None:
        enforced.append(f"open_files: {_files(limits.open_files)}")
    if limits.threads is not None:
        enforced.append(f"threads: {_threads(limits.threads, cgroup_joined)}")
    return enforced


def limit_of(error: BaseException, limits: LimitsMsg) -> str | None:
    """The limit that ``error``, raised by plugin code, says was hit; None for a plain error.

    Read without running the plugin's code: ``isinstance`` asks an object its ``__class__``
    and ``error.errno`` may be a property, either of which the plugin's exception may make
    raise (the worker, which read them before it replied, died of it)."""
    kind = type(error)
    if issubclass(kind, MemoryError) and limits.memory_mb is not None:
        return "memory_mb"
    if issubclass(kind, OSError) and _errno(error) in (errno.EMFILE, errno.ENFILE):
        return "open_files" if limits.open_files is not None else None
    if issubclass(kind, ThreadLimitError):
        return "threads"
    return None


#: The errno that OSError itself holds, read past any property of a subclass.
_ERRNO = OSError.__dict__["errno"]


def _errno(error: BaseException) -> int | None:
    value = _ERRNO.__get__(error, OSError)
    return value if type(value) is int else None


def _memory(memory_mb: int, cgroup_joined: bool) -> str:
    if cgroup_joined:
        return "cgroup v2 memory.max"
    mapped = _mapped_mb()
    if memory_mb < mapped + _MEMORY_HEADROOM_MB:
        raise LimitError(
            "memory_mb",
            f"memory_mb={memory_mb} leaves no room: the worker maps {mapped} MiB before"
            f" importing the plugin (RLIMIT_AS counts address space)",
        )
    size = memory_mb * MIB
    resource.setrlimit(resource.RLIMIT_AS, (size, size))
    return "RLIMIT_AS"


def _mapped_mb() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def _cpu(cores: int) -> str:
    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, allowed[:cores])
    return "sched_setaffinity"


def _files(count: int) -> str:
    highest = max((int(fd) for fd in os.listdir("/proc/self/fd")), default=2)
    if count <= highest + 1:
        raise LimitError(
            "open_files", f"open_files={count} leaves no room: the worker uses {highest + 1}"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))
    return "RLIMIT_NOFILE"


def _threads(count: int, cgroup_joined: bool) -> str:
    lock = threading.Lock()

    def guard(start: Callable[..., Any]) -> Callable[..., Any]:
        def start_checked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                alive = len(os.listdir("/proc/self/task"))
                if alive >= count:
                    if not _hit:
                        _hit.append("threads")
                    raise ThreadLimitError(
                        f"can't start new thread: the worker's threads limit ({count}) is reached"
                    )
                return start(*args, **kwargs)

        return start_checked

    import _thread  # noqa: PLC0415 (the module threading starts its threads with)

    # threading keeps its own reference to the starter (3.10-3.12 start_new_thread, 3.13
    # start_joinable_thread): both it and _thread's are wrapped.
    for module in (_thread, threading):
        for attr in (
            "start_new_thread",
            "_start_new_thread",
            "start_joinable_thread",
            "_start_joinable_thread",
        ):
            if hasattr(module, attr):
                setattr(module, attr, guard(getattr(module, attr)))
    return "counted check and cgroup pids.max" if cgroup_joined else "counted check"
