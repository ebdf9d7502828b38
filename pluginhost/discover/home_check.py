"""Strict modes for a whole home: who may change what the host imports and trusts.

Code is imported from the home's site dirs and decisions are read from its documents, so whoever
may write anything in the home may run code as the host (a root host runs it as root). The host
creates all of it private (see :mod:`pluginhost.state.fs`); :func:`home_faults` checks what is
there, as ``start()`` does under ``strict_modes`` and as ``pluginhost doctor`` reports it:

- the home and every folder above it: not a symbolic link, owned by this user or root, not
  writable by group or others (see :func:`~pluginhost.discover.trust.unsafe_path`);
- every entry inside, at any depth (site dirs and their files, the registry, the status
  document, the audit log and its head, the lock, ``staging/`` and ``control/`` themselves):
  not a symbolic link, owned by this user or root, and not writable by group or others where
  group or others can reach it. An entry inside a folder only its owner may enter (mode
  ``0o700``, as the host makes them) cannot be reached by anyone else whatever its own mode:
  Python writes ``__pycache__`` folders with the umask's mode, inside the host's private dirs.

What ``staging/`` and ``control/`` hold is not walked: staging is emptied at every start, and
the requests in ``control/`` are checked one by one when they are read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

from ..model.errors import HostStateError, TrustError
from ..model.frozen import frozen
from ..state.fs import describe, make_dirs
from .trust import TrustGate, unsafe_path

__all__ = ["HomeFault", "check_home", "check_start", "home_faults", "prepare_home"]

# Folders of the home whose contents are not walked (see the module's docstring).
_NOT_WALKED: Final = frozenset({"staging", "control"})
# Group or others may pass through a folder with any of these bits.
_ENTER_BITS: Final = stat.S_IXGRP | stat.S_IXOTH


@frozen
class HomeFault:
    """One entry of a home that fails strict modes.

    :param path: the entry at fault.
    :param reason: why, naming the entry.
    """

    path: Path
    reason: str


def home_faults(home: Path, *, uid: int | None = None) -> list[HomeFault]:
    """Every entry of ``home`` that fails strict modes, the home itself first.

    :param uid: the user the host runs as; the effective user by default.
    :returns: empty when nothing is at fault, or when ``home`` does not exist yet.
    """
    uid = os.geteuid() if uid is None else uid
    home = Path(os.path.abspath(home))
    reason = unsafe_path(home, uid=uid)
    if reason is not None:
        return [HomeFault(home, reason)]
    try:
        st = os.lstat(home)
    except FileNotFoundError:
        return []
    return list(_walk(home, reachable=bool(st.st_mode & _ENTER_BITS), uid=uid, top=True))


def check_home(home: Path, *, uid: int | None = None) -> None:
    """Refuse a home that fails strict modes.

    :raises TrustError: naming the first entry at fault and how many more there are.
    """
    faults = home_faults(home, uid=uid)
    if not faults:
        return
    more = f" (and {len(faults) - 1} more: run pluginhost doctor)" if len(faults) > 1 else ""
    raise TrustError(f"home refused by strict_modes: {faults[0].reason}{more}", path=faults[0].path)


def _walk(folder: Path, *, reachable: bool, uid: int, top: bool = False) -> Iterator[HomeFault]:
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError as exc:
        yield HomeFault(folder, f"{folder} cannot be read ({exc.strerror or exc})")
        return
    for entry in entries:
        path = Path(entry.path)
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # gone meanwhile (a temp file renamed into place)
        reason = _fault(path, st, uid, reachable=reachable)
        if reason is not None:
            yield HomeFault(path, reason)
        elif stat.S_ISDIR(st.st_mode) and not (top and entry.name in _NOT_WALKED):
            inner = reachable and bool(st.st_mode & _ENTER_BITS)
            yield from _walk(path, reachable=inner, uid=uid)


def _fault(path: Path, st: os.stat_result, uid: int, *, reachable: bool) -> str | None:
    if reachable:
        # The rule strict modes apply to every other path, on this entry alone.
        return unsafe_path(path, uid=uid, checked=path.parent)
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link (the host never makes one in its home)"
    if st.st_uid not in (uid, 0):
        return f"{path} is owned by uid {st.st_uid}, neither this user (uid {uid}) nor root"
    return None


def prepare_home(home: Path, folders: Iterable[Path], *, strict_modes: bool) -> None:
    """Make the home's ``folders``, private; with ``strict_modes``, only once the home and the
    folders above it pass them.

    Judged before anything is made: a home reached through another user's link had its folders
    made through it (in /etc), before :func:`check_start` refused it.

    :raises TrustError: when the home or a folder above it fails strict modes.
    :raises HostStateError: when a folder cannot be made.
    """
    if strict_modes and (reason := unsafe_path(home)) is not None:
        raise TrustError(f"home refused by strict_modes: {reason}", path=str(home))
    try:
        for folder in folders:
            make_dirs(folder)
    except OSError as exc:
        raise HostStateError(f"cannot prepare home: {describe(exc)}", path=home) from exc


def check_start(home: Path, gate: TrustGate) -> None:
    """What a host checks before it imports anything from ``home``: code is imported from its
    site dirs, so whoever may write there may run code.

    :raises TrustError: when strict modes are on and the home fails them (every entry: owner,
        mode, no symbolic links), or when hashes are trusted and the trust file is missing or
        malformed.
    """
    if gate.strict_modes:
        check_home(home)
    if gate.hashes:
        gate.trusted()
