"""The trust policy: which folders and wheel files pluginhost reads code from at all.

Two checks, both made before a byte of the archive is parsed:

- **Strict modes** (on by default, in the manner of sshd's ``StrictModes``): a watched folder, a
  wheel file, the trust file and the home must not be reachable through a symlink, and neither
  they nor any folder above them may be owned by another user (root aside) or be writable by
  group or others (but the owner's own private group, :mod:`.private_group`). Whoever can
  write there could put code in front of the host. A world-writable
  folder with the sticky bit (``/tmp``) is accepted as a parent: others cannot rename or delete
  the entries they do not own in it.
- **Hashes** (``trust="hashes"``): only wheels whose sha256 is listed in a trust file load. The
  file uses pip's hash-checking format, one requirement per line::

      # plugin name (or distribution name) == version, then one or more hashes
      hello==1.1.0 --hash=sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
      polite==1.0.0 \\
          --hash=sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752

The trust file is read again whenever it changes, so an operator lists a hash first and then
drops the wheel.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final, Literal

import attrs
from packaging.version import InvalidVersion, Version

from ..model.errors import TrustError
from ..model.frozen import frozen
from ..model.names import canonicalize_name
from ..state import held_stat
from ..state.regular import read_regular
from .private_group import private_group

__all__ = [
    "MAX_TRUST_FILE",
    "TrustGate",
    "TrustMode",
    "TrustedHash",
    "parse_trust_file",
]

TrustMode = Literal["permissions", "hashes"]

_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_REQUIREMENT: Final = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s=;]+)$")
#: The largest trust file read: 4 MiB is some 25,000 hashes.
MAX_TRUST_FILE: Final = 4 * 1024 * 1024


@frozen
class TrustedHash:
    """One hash listed in a trust file, with the name and version it is listed for."""

    name: str
    version: str
    line: int

    def matches(self, names: tuple[str, ...], version: str) -> bool:
        """Whether the entry names one of ``names`` (plugin or distribution) at ``version``."""
        if canonicalize_name(self.name) not in {canonicalize_name(n) for n in names}:
            return False
        return _same_version(self.version, version)


def _same_version(listed: str, actual: str) -> bool:
    if listed == actual:
        return True
    try:
        return Version(listed) == Version(actual)
    except ValueError:  # InvalidVersion; a number past int()'s digit limit in the wheel's
        return False


def _readable_version(text: str, number: int, path: Path) -> None:
    """Refuse a version no comparison could read: a number past ``int()``'s digit limit made
    the wheel the line names be refused, as if it were at fault, and the file never named.
    One that is not PEP 440 is compared as text."""
    try:
        Version(text)
    except InvalidVersion:
        pass
    except ValueError as exc:
        raise TrustError(f"line {number}: the version cannot be read: {exc}", path=path) from None


def parse_trust_file(text: str, path: Path) -> dict[str, TrustedHash]:
    """The sha256 hashes a trust file lists, each with its entry.

    :raises TrustError: naming the file and line of the first malformed entry.
    """
    hashes: dict[str, TrustedHash] = {}
    for number, line in _logical_lines(text):
        tokens = line.split()
        match = _REQUIREMENT.match(tokens[0])
        if match is None:
            raise TrustError(f"line {number}: {tokens[0]!r} is not 'name==version'", path=path)
        _readable_version(match[2], number, path)
        values = _hash_values(tokens[1:], number, path)
        if not values:
            raise TrustError(f"line {number}: {tokens[0]} lists no --hash", path=path)
        for value in values:
            hashes[value] = TrustedHash(match[1], match[2], number)
    return hashes


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Non-empty lines without comments, continuation lines joined, with their first number."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            yield start, full
    if pending.strip():
        yield start, pending.strip()


def _hash_values(tokens: list[str], number: int, path: Path) -> list[str]:
    values, i = [], 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--hash" and i + 1 < len(tokens):
            token, i = f"--hash={tokens[i + 1]}", i + 1
        if not token.startswith("--hash="):
            raise TrustError(f"line {number}: unexpected {token!r}", path=path)
        algorithm, _, value = token[len("--hash=") :].partition(":")
        if algorithm != "sha256":
            raise TrustError(
                f"line {number}: only sha256 hashes are accepted, not {algorithm!r}", path=path
            )
        if not _HEX64.match(value.lower()):
            raise TrustError(f"line {number}: {value!r} is not a sha256 hex digest", path=path)
        values.append(value.lower())
        i += 1
    return values


def _read_trust_file(path: Path) -> bytes:
    """The trust file's bytes: a regular file of at most 4 MiB (a link is resolved first;
    strict modes refuse one anyway).

    :raises OSError: when it cannot be read, is not a regular file or is too large.
    """
    return read_regular(os.path.realpath(path), max_size=MAX_TRUST_FILE)


def unsafe_path(
    path: Path,
    *,
    uid: int | None = None,
    checked: Path | None = None,
    leaf: os.stat_result | None = None,
) -> str | None:
    """Why ``path`` is not safe to read code from, or ``None`` when it is (or does not exist).

    ``path`` and every folder above it are checked: no symlink, owned by ``uid`` (the effective
    user by default) or root, not writable by group or others except a sticky folder above.

    :param checked: a folder above ``path`` already found safe: the walk stops there.
    :param leaf: the ``lstat`` of ``path`` the caller made just now, if it did: not made again.
    """
    uid = os.geteuid() if uid is None else uid
    # Strings, not Path objects: a look runs this for every wheel of every folder, and
    # pathlib's parents and comparisons cost more than the lstat.
    current = os.path.abspath(path)
    stop = os.path.abspath(checked) if checked is not None else None
    given, first = leaf, True
    while current != stop:
        try:
            st = given if given is not None else os.lstat(current)
        except FileNotFoundError:
            pass
        else:
            reason = _unsafe_entry(current, st, uid, leaf=first)
            if reason is not None:
                return reason
        parent = os.path.dirname(current)
        if parent == current:
            break
        current, given, first = parent, None, False
    return None


def _unsafe_entry(path: str, st: os.stat_result, uid: int, *, leaf: bool) -> str | None:
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link (resolve it, or relax strict_modes)"
    if st.st_uid not in (uid, 0):
        return f"{path} is owned by uid {st.st_uid}, neither this user (uid {uid}) nor root"
    writable = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if writable == stat.S_IWGRP and private_group(st.st_gid, st.st_uid):
        writable = 0  # the owner's own group (a umask of 002): nobody else writes there
    sticky_parent = not leaf and stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
    if writable and not sticky_parent:
        who = (
            "group and others"
            if writable == stat.S_IWGRP | stat.S_IWOTH
            else ("group" if writable == stat.S_IWGRP else "others")
        )
        mode = oct(stat.S_IMODE(st.st_mode))
        return f"{path} is writable by {who} (mode {mode}; fix with chmod go-w)"
    return None


def _refuse(path: Path, what: str, reason: str | None) -> None:
    """:raises TrustError: naming ``what`` and why strict modes refuse ``path``, if they do."""
    if reason is not None:
        raise TrustError(f"{what} refused by strict_modes: {reason}", path=path)


@attrs.define
class TrustGate:
    """The host's trust policy, with the trust file read again whenever it changes.

    :param mode: ``"permissions"`` (strict modes only, when on) or ``"hashes"``.
    :param strict_modes: check owners, modes and symlinks.
    :param trust_file: the file of trusted hashes (``mode="hashes"``).
    """

    mode: TrustMode = "permissions"
    strict_modes: bool = True
    trust_file: Path | None = None
    _cache: tuple[bytes, dict[str, TrustedHash]] | None = None
    _pinned: Mapping[str, TrustedHash] | TrustError | None = None
    # By folder: its (inode, mode, owner) and why it was refused, at its last full check.
    _folders: dict[str, tuple[object, str | None]] = attrs.field(factory=dict, repr=False)

    @property
    def hashes(self) -> bool:
        return self.mode == "hashes"

    def check_path(
        self,
        path: Path,
        what: str,
        *,
        checked: Path | None = None,
        leaf: os.stat_result | None = None,
    ) -> None:
        """Refuse ``path`` (a folder, a wheel, the home) under strict modes.

        :param checked: a folder above ``path`` already checked (see :func:`unsafe_path`).
        :param leaf: the ``lstat`` of ``path`` made just now, if any (see :func:`unsafe_path`).
        :raises TrustError: naming ``what`` and the component at fault.
        """
        if not self.strict_modes:
            return
        _refuse(path, what, unsafe_path(path, checked=checked, leaf=leaf))

    def check_folder(self, path: Path, what: str, *, again: bool = True) -> None:
        """:meth:`check_path` for a watched folder.

        :param again: walk up to the root; else the folders above ``path`` are taken as the
            last full check found them while ``path`` itself (its inode, mode and owner) is
            unchanged. A look told which files changed then costs one ``lstat``, not one per
            folder up to the root (a swap waited for the interpreter lock after each while
            threads called hooks); a change above the folder, which no event announces, is
            seen by the next full check (the poll's, at each rescan interval).
        :raises TrustError: naming ``what`` and the component at fault.
        """
        if not self.strict_modes:
            return
        key = os.path.abspath(path)
        if again:
            held_stat.forget()  # a file system mounted over a folder is seen here
        try:
            st = held_stat.lstat(key, key)
            signature: object = (st.st_ino, st.st_mode, st.st_uid)
        except OSError as exc:
            signature = exc.errno
        kept = self._folders.get(key)
        if again or kept is None or kept[0] != signature:
            kept = (signature, unsafe_path(path))
            self._folders[key] = kept
        _refuse(path, what, kept[1])

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """Within this block, the trust file is read once: one look, one set of hashes."""
        try:
            self._pinned = self.trusted() if self.hashes else None
        except TrustError as exc:
            self._pinned = exc
        try:
            yield
        finally:
            self._pinned = None

    def trusted(self) -> Mapping[str, TrustedHash]:
        """The hashes of the trust file as it is now (or as pinned).

        :raises TrustError: when the file is missing, unsafe or malformed: nothing is trusted.
        """
        if isinstance(self._pinned, TrustError):
            # A fresh error each time: raising one object again would grow its traceback.
            raise TrustError(self._pinned.reason, path=self._pinned.path)
        if self._pinned is not None:
            return self._pinned
        path = self.trust_file
        if path is None:
            raise TrustError('trust="hashes" needs a trust file; none is configured')
        self.check_path(path, "trust file")
        # Compared by content, not by mtime: two quick edits of the same size can share an
        # mtime tick. The file is small; reading it at each look costs microseconds.
        try:
            data = _read_trust_file(path)
        except OSError as exc:
            raise TrustError(f"cannot read the trust file: {exc}", path=path) from exc
        if self._cache is not None and self._cache[0] == data:
            return self._cache[1]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TrustError(f"the trust file is not UTF-8: {exc}", path=path) from exc
        hashes = parse_trust_file(text, path)
        self._cache = (data, hashes)
        return hashes

    def fingerprint(self) -> object:
        """What the trust decisions of the trust file depend on, to notice when it changes."""
        if not self.hashes or self.trust_file is None:
            return None
        try:
            return (unsafe_path(self.trust_file), _read_trust_file(self.trust_file))
        except OSError as exc:
            return str(exc)

    def check_sha256(self, path: Path, sha256: str) -> TrustedHash:
        """The trust file's entry for a wheel's hash.

        :raises TrustError: when the hash is not listed (or the trust file is unusable).
        """
        entry = self.trusted().get(sha256)
        if entry is None:
            raise TrustError(
                f"sha256 {sha256} is not listed in the trust file {self.trust_file}; "
                "refused unread",
                path=path,
            )
        return entry

    def check_identity(self, path: Path, sha256: str, names: tuple[str, ...], version: str) -> None:
        """Refuse a listed wheel whose name or version is not the one its entry states.

        :raises TrustError: when they disagree, naming the trust file's line.
        """
        entry = self.check_sha256(path, sha256)
        if not entry.matches(names, version):
            raise TrustError(
                f"the trust file {self.trust_file} lists this sha256 as "
                f"{entry.name}=={entry.version} (line {entry.line}), but the wheel is "
                f"{names[0]} {version}",
                path=path,
                plugin=names[0],
            )
