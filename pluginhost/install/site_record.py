"""Is a site dir still what was installed? Its files against the RECORD of each distribution in it.

A site dir is written once, by one rename, and never modified; a file that changed, appeared or
went since then was changed by something else, and is not imported. Checked before a site dir is
first imported from in a process (at start, a restore), so a file planted while the host was
down is not run at its next start:

- every row of every ``*.dist-info/RECORD`` names a regular file inside the site dir, of the
  size the row says, and, with ``verify="hash"``, of the digest it says (every byte is read);
- every file in the site dir is named by a row, except the host's own stamp
  (``.pluginhost/wheel.sha256``) and the bytecode Python caches in ``__pycache__`` folders;
- nothing is a symbolic link (an install never makes one).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Final, Literal

__all__ = ["SiteCheck", "site_fault"]

SiteCheck = Literal["size", "hash"]
"""How closely files are compared with RECORD: ``"size"`` (a stat each), ``"hash"`` (all bytes)."""

_STAMP: Final = PurePosixPath(".pluginhost", "wheel.sha256")
_CACHE: Final = "__pycache__"
_CHUNK: Final = 256 * 1024


def site_fault(site: Path, check: SiteCheck = "size") -> tuple[Path, str] | None:
    """The first file of ``site`` that differs from what was installed, and why.

    :param site: a site dir.
    :param check: compare sizes only, or sizes and digests.
    :returns: ``None`` when every file is as installed; else the file at fault and the reason.
    """
    listed: dict[PurePosixPath, tuple[str, str]] = {}
    for record in sorted(site.glob("*.dist-info/RECORD")):
        try:
            for name, digest, size in _rows(record):
                listed[_inside(name)] = (digest, size)
        except _RecordError as fault:
            return record, fault.reason
    if not listed:
        return site, "no RECORD: not a site dir the host installed"
    for relative, (digest, size) in sorted(listed.items()):
        reason = _file_fault(site / relative, digest, size, check)
        if reason is not None:
            return site / relative, reason
    for unlisted in _files(site):
        if unlisted not in listed and unlisted != _STAMP:
            return site / unlisted, "is in no RECORD: it was not installed from the wheel"
    return None


class _RecordError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _rows(record: Path) -> list[tuple[str, str, str]]:
    try:
        text = record.read_text(encoding="utf-8")
        rows = list(csv.reader(io.StringIO(text)))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _RecordError(f"cannot be read: {exc}") from None
    if not all(len(row) == 3 for row in rows if row):
        raise _RecordError("has a row that is not path,hash,size")
    return [(row[0], row[1], row[2]) for row in rows if row]


def _inside(relative: str) -> PurePosixPath:
    path = PurePosixPath(os.path.normpath(relative))
    if path.is_absolute() or path.parts[:1] == ("..",):
        raise _RecordError(f"names a file outside the site dir: {relative!r}")
    return path


def _file_fault(path: Path, digest: str, size: str, check: SiteCheck) -> str | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "is missing (listed in RECORD)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file (an install only writes regular files)"
    if size and str(st.st_size) != size:
        return f"changed since it was installed (size {st.st_size}, RECORD says {size})"
    # A RECORD names itself without hash or size.
    return _digest_fault(path, digest) if size and digest and check == "hash" else None


def _digest_fault(path: Path, expected: str) -> str | None:
    algorithm, _, value = expected.partition("=")
    if algorithm not in hashlib.algorithms_guaranteed:
        return f"has a RECORD hash of unknown kind {algorithm!r}"
    digest = hashlib.new(algorithm)
    try:
        with open(path, "rb", buffering=0) as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    actual = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")
    if actual != value:
        return f"changed since it was installed ({algorithm} differs from RECORD's)"
    return None


def _files(site: Path) -> Iterator[PurePosixPath]:
    """Every entry of ``site`` that is not a folder, relative, bytecode caches left out."""
    for folder, dirs, files in os.walk(site):
        dirs[:] = [d for d in dirs if d != _CACHE or os.path.islink(os.path.join(folder, d))]
        base = PurePosixPath(Path(folder).relative_to(site).as_posix())
        # A link to a folder is listed among dirs, and never followed.
        links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        for name in sorted((*files, *links)):
            yield base / name
