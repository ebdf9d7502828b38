"""The resource limits a process plugin runs under: a value, no I/O.

The host's limits are ceilings and defaults; a plugin's manifest can lower them, never raise
them (:meth:`ResourceLimits.lowered_by`). ``None`` in a field means no limit.
"""

from __future__ import annotations

import threading
from typing import Any, Final, TypeVar, final

import attrs

from .frozen import frozen

__all__ = ["LIMIT_NAMES", "ResourceLimits"]

#: The fields of :class:`ResourceLimits`, as :attr:`ExitInfo.limit` names the one that was hit.
LIMIT_NAMES = ("memory_mb", "cpu_cores", "threads", "open_files", "call_timeout_s")

_N = TypeVar("_N", int, float)


def _lower(ceiling: _N | None, wanted: _N | None) -> _N | None:
    if ceiling is None:
        return wanted
    if wanted is None:
        return ceiling
    return min(ceiling, wanted)


#: The largest value of each limit the worker can put in force: setrlimit() takes a signed
#: 64-bit number of bytes, the others are counts the kernel keeps in 32 bits, and a wait longer
#: than threading.TIMEOUT_MAX raises. A larger one failed every process plugin's load (an
#: OverflowError, or a worker dying as it started) instead of the settings.
_LARGEST: Final = {
    "memory_mb": (2**63 - 1) // 2**20,
    "cpu_cores": 2**31 - 1,
    "threads": 2**31 - 1,
    "open_files": 2**31 - 1,
    "call_timeout_s": threading.TIMEOUT_MAX,
}


def _positive(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
        raise ValueError(f"{attribute.name} must be a positive number or None, not {value!r}")
    largest = _LARGEST[attribute.name]
    if value > largest:
        raise ValueError(f"{attribute.name} must be at most {largest}, not {value!r}")


@final
@frozen
class ResourceLimits:
    """What one worker process may use.

    :param memory_mb: address space (or cgroup memory) in MiB.
    :param cpu_cores: how many of the allowed CPUs the worker may run on.
    :param threads: how many threads the worker may have alive at once, its main thread included.
    :param open_files: how many file descriptors the worker may have open.
    :param call_timeout_s: how long one hook call may take before the worker is killed.
    """

    memory_mb: int | None = attrs.field(default=None, validator=_positive)
    cpu_cores: int | None = attrs.field(default=None, validator=_positive)
    threads: int | None = attrs.field(default=None, validator=_positive)
    open_files: int | None = attrs.field(default=None, validator=_positive)
    call_timeout_s: float | None = attrs.field(default=None, validator=_positive)

    def lowered_by(self, wanted: ResourceLimits) -> ResourceLimits:
        """Each field: the lower of the two; a manifest can lower a ceiling, never raise it.

        :param wanted: the limits a plugin's manifest asks for.
        :returns: the limits in force.
        """
        return ResourceLimits(
            memory_mb=_lower(self.memory_mb, wanted.memory_mb),
            cpu_cores=_lower(self.cpu_cores, wanted.cpu_cores),
            threads=_lower(self.threads, wanted.threads),
            open_files=_lower(self.open_files, wanted.open_files),
            call_timeout_s=_lower(self.call_timeout_s, wanted.call_timeout_s),
        )

    def is_unlimited(self) -> bool:
        """Whether no field sets a limit."""
        return self == ResourceLimits()
