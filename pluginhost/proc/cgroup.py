"""A cgroup v2 directory per worker, where the host may make one.

The host makes ``<its own cgroup>/pluginhost-<pid>-<n>`` when its cgroup lives on a cgroup2
mount, that cgroup already hands the ``memory`` controller to its children (it is in
``cgroup.subtree_control``; the host never enables it, which the no-internal-process rule would
refuse while the host runs in that cgroup), and the host may write there. It writes
``memory.max`` (and ``memory.swap.max`` = 0) and, with the ``pids`` controller, ``pids.max``;
the worker joins it itself (:func:`join`), before it sets its other limits. After the worker
exits, ``memory.events`` tells whether the kernel killed it for memory, and the directory is
removed. Where any of this is missing (cgroup v1, a cgroup2 with no controllers delegated, no
write access), :func:`make` returns None and the worker falls back to rlimits
(:mod:`pluginhost.proc.confine`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the worker imports this module: it must not import attrs for the plugin
    from ..model.limits import ResourceLimits

__all__ = ["available", "join", "make", "oom_killed", "remove"]

_counter = itertools.count(1)
MIB = 1024 * 1024


def available() -> tuple[Path | None, str]:
    """The host's own cgroup2 directory if workers can get cgroups under it, and why not if not.

    :returns: ``(directory, "")`` or ``(None, reason)``.
    """
    mount = _cgroup2_mount()
    if mount is None:
        return None, "no cgroup2 mount"
    relative = _own_cgroup()
    if relative is None:
        return None, "the host's cgroup v2 path is unknown"
    own = mount / relative.lstrip("/")
    try:
        delegated = (own / "cgroup.subtree_control").read_text("ascii").split()
    except OSError as e:
        return None, f"cannot read {own / 'cgroup.subtree_control'}: {e.strerror}"
    if "memory" not in delegated:
        return None, f"the memory controller is not delegated below {own}"
    if not os.access(own, os.W_OK):
        return None, f"{own} is not writable"
    return own, ""


def make(limits: ResourceLimits) -> Path | None:
    """A new cgroup for one worker with ``limits``' memory and threads set; None where the
    host cannot make one (the worker then uses rlimits)."""
    if limits.memory_mb is None and limits.threads is None:
        return None
    own, _ = available()
    if own is None:
        return None
    path = own / f"pluginhost-{os.getpid()}-{next(_counter)}"
    try:
        path.mkdir()
        if limits.memory_mb is not None:
            (path / "memory.max").write_text(str(limits.memory_mb * MIB), "ascii")
            _write_if_present(path / "memory.swap.max", "0")
        if limits.threads is not None:
            _write_if_present(path / "pids.max", str(limits.threads))
    except OSError:
        remove(path)
        return None
    return path


def join(path: str) -> bool:
    """Move this process into the cgroup at ``path``; False when the kernel refuses."""
    try:
        Path(path, "cgroup.procs").write_text(str(os.getpid()), "ascii")
    except OSError:
        return False
    return True


def oom_killed(path: Path) -> bool:
    """Whether the kernel killed a process of the cgroup at ``path`` for passing memory.max."""
    try:
        events = (path / "memory.events").read_text("ascii").splitlines()
    except OSError:
        return False
    counts = dict(line.split() for line in events if line.count(" ") == 1)
    return int(counts.get("oom_kill", "0")) > 0


def remove(path: Path) -> None:
    """Remove a worker's cgroup once its processes are gone (an error is left: best effort,
    the kernel keeps an empty cgroup harmlessly)."""
    with contextlib.suppress(OSError):
        path.rmdir()


def _write_if_present(path: Path, value: str) -> None:
    if path.exists():
        path.write_text(value, "ascii")


def _cgroup2_mount() -> Path | None:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as info:
            for line in info:
                before, _, after = line.partition(" - ")
                if after.split(" ", 1)[0] == "cgroup2":
                    return Path(before.split()[4])
    except OSError:
        return None
    return None


def _own_cgroup() -> str | None:
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        return None
    return None
