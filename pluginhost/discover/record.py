"""RECORD: every file of a wheel is listed with a strong hash and its size.

A row naming no member is let be, as pip and ``installer`` let it be: nothing is installed from
it, and the site dir's own RECORD is written from the files installed (ddtrace 2.21.0's
manylinux wheels list C sources that its build removed after RECORD was written).

Each member's bytes are hashed as they are read (through the counting
:class:`~pluginhost.discover.archive.MemberReader`) and compared with its row; the members a
caller asks to keep are returned with the very bytes that matched.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from ..model.frozen import frozen
from .archive import MemberReader, RefusedError
from .metadata import read_text

__all__ = ["STRONG_HASHES", "check_record", "is_unlisted", "read_record"]

#: Hash algorithms accepted in RECORD; md5 and sha1 can be forged, so RECORD would prove nothing.
STRONG_HASHES: Final = frozenset({"sha256", "sha384", "sha512"})

# Signature files are by definition not listed in the RECORD they sign.
_UNLISTED: Final = frozenset({"RECORD", "RECORD.jws", "RECORD.p7s"})
# ASCII digits only, and few enough that int() never meets its digit limit: str.isdigit()
# accepts "¹" and "٣", and int() refuses the one and 5,000 digits of the other.
_SIZE: Final = re.compile(r"[0-9]{1,20}", re.ASCII)


@frozen
class _RecordEntry:
    algorithm: str
    digest: str
    size: int

    @classmethod
    def parse(cls, path: str, hash_: str, size: str) -> _RecordEntry:
        algorithm, _, digest = hash_.partition("=")
        if not digest or not size:
            raise RefusedError(f"RECORD gives no hash or no size for {path!r}")
        if algorithm not in STRONG_HASHES:
            raise RefusedError(
                f"RECORD hashes {path!r} with {algorithm!r}: a weak or unknown hash algorithm "
                "(only sha256, sha384 and sha512 are accepted)"
            )
        if not _SIZE.fullmatch(size):
            raise RefusedError(f"RECORD gives the invalid size {_show(size)} for {path!r}")
        return cls(algorithm, digest.rstrip("="), int(size))


def read_record(
    reader: MemberReader, infos: Mapping[str, zipfile.ZipInfo], dist_info: str
) -> dict[str, _RecordEntry | None]:
    """RECORD by path; ``None`` for the rows of RECORD itself and its signatures."""
    text = read_text(reader, infos, f"{dist_info}/RECORD")
    entries: dict[str, _RecordEntry | None] = {}
    for row in _rows(text):
        if len(row) != 3:
            raise RefusedError(f"RECORD has a malformed row {_show(','.join(row), 80)}")
        path, hash_, size = row
        if path in entries:
            raise RefusedError(f"RECORD lists {path!r} twice")
        unlisted = is_unlisted(path, dist_info)
        entries[path] = None if unlisted else _RecordEntry.parse(path, hash_, size)
    return entries


def _rows(text: str) -> list[list[str]]:
    """RECORD's rows; the csv module's own errors (a field over its size limit, a NUL in
    older Pythons) are the wheel's fault, refused like any other."""
    try:
        return list(csv.reader(text.splitlines()))
    except csv.Error as exc:
        raise RefusedError(f"RECORD is not valid CSV: {exc}") from exc


def _show(text: str, limit: int = 40) -> str:
    """``text`` for a message, cut short: a field may be megabytes long."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def is_unlisted(path: str, dist_info: str) -> bool:
    folder, _, name = path.rpartition("/")
    return folder == dist_info and name in _UNLISTED


def check_record(
    reader: MemberReader,
    infos: Mapping[str, zipfile.ZipInfo],
    dist_info: str,
    record: Mapping[str, _RecordEntry | None],
    keep: Callable[[str], bool],
    *,
    hold: int,
    hold_total: int,
) -> dict[str, tuple[zipfile.ZipInfo, bytes | None]]:
    """Every file member is in RECORD with its true hash and size (rows naming no member
    install nothing, and are let be).

    :param hold: the most bytes of one kept member held: a larger one is kept without its
        bytes (its size refuses it when it is read; a wheel of 1 MB held hundreds of MB of
        manifests that nothing would read).
    :param hold_total: the most bytes held for all kept members together.
    :returns: the members ``keep`` accepts, each with the bytes that matched RECORD, if held.
    :raises RefusedError: also when the kept members would hold over ``hold_total`` bytes.
    """
    listed = {path: entry for path, entry in record.items() if entry is not None}
    kept: dict[str, tuple[zipfile.ZipInfo, bytes | None]] = {}
    held = 0
    for name, info in infos.items():
        if info.is_dir() or is_unlisted(name, dist_info):
            continue
        entry = listed.get(name)
        if entry is None:
            raise RefusedError(f"member {name!r} is not listed in RECORD with a hash")
        if keep(name) and info.file_size <= hold:
            held += info.file_size
            if held > hold_total:
                raise RefusedError(f"its manifests hold over {hold_total} bytes")
            data = reader.read(info)
            _verify(name, entry, [data])
            kept[name] = (info, data)
        else:
            _verify(name, entry, reader.chunks(info))
            if keep(name):
                kept[name] = (info, None)
    return kept


def _verify(name: str, entry: _RecordEntry, chunks: Iterable[bytes]) -> None:
    digest = hashlib.new(entry.algorithm)
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    actual = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")
    if actual != entry.digest or size != entry.size:
        raise RefusedError(f"member {name!r} does not match its RECORD hash and size")
