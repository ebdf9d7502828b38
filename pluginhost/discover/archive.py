"""The zip archive of a wheel: its bytes read at once, its bounds, its central directory and
counted reads of its members.

A wheel of up to 32 MiB is read whole, with one read, and hashed once: zipfile's many seeks then
cost no system call, and a caller that passes the bytes on (to install them) knows they are the
ones validated. A larger wheel is hashed and read from its file, by chunks.

The central directory is checked as declared (names, kinds, sizes, the whole archive's ratio,
and that no two members share bytes) before a byte is decompressed; :class:`MemberReader` then
counts the bytes actually read, so that a lying header cannot bypass the declared checks.
Every refusal is a :class:`RefusedError`, which the public functions of
:mod:`~pluginhost.discover.wheel` turn into a :class:`~pluginhost.WheelError`.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, Final

import attrs

from ..model.frozen import frozen
from ..model.problems import CANNOT_READ
from ..state.regular import open_regular
from .central_directory import END_RECORD, END_RECORD_SIZE, directory_refusal
from .names import STARTUP_MODULES, name_refusal, tree_refusal

__all__ = [
    "STARTUP_MODULES",
    "ZIP_ERRORS",
    "MemberReader",
    "RefusedError",
    "WheelBytes",
    "WheelLimits",
    "check_archive_ratio",
    "check_directory",
    "check_entry",
    "check_size",
    "hash_wheel_file",
    "open_wheel_file",
    "open_zip",
    "read_wheel_bytes",
]


# Below this size a high ratio is just a repetitive file (a long, regular source file reaches 200
# easily), not a bomb: the member and total size limits already bound what it can cost.
_RATIO_FLOOR: Final = 1024 * 1024
# The same for the whole archive: a few MiB of small, repetitive files cost nothing to unpack.
_ARCHIVE_RATIO_FLOOR: Final = 8 * 1024 * 1024
_LOCAL_HEADER_SIZE: Final = 30
_CHUNK: Final = 64 * 1024
# Up to this size a wheel is held in memory while it is validated (and installed): plugin wheels
# are far smaller, and the common support wheels (numpy, pandas: 10 to 20 MB) still fit. Above
# it, reading by chunks bounds the memory a wheel costs, at the price of a system call per seek.
_IN_MEMORY: Final = 32 * 1024 * 1024
_LOCAL_HEADER: Final = b"PK\x03\x04"
#: What zipfile and zlib raise on corrupt, truncated or unsupported data (an unknown compression
#: method or zip version is NotImplementedError); OSError covers the file itself.
ZIP_ERRORS: Final = (
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    EOFError,
    ValueError,
    NotImplementedError,
    OSError,
)


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"WheelLimits.{attribute.name} must be a positive integer, not {value!r}")


@frozen
class WheelLimits:
    """Bounds on what a wheel may cost to read, checked on declared and on actual sizes.

    :param max_members: entries in the archive, directories included.
    :param max_total_size: sum of the uncompressed sizes of all members, in bytes.
    :param max_ratio: uncompressed / compressed size of one member (zip bombs); members under
        1 MiB uncompressed are exempt, since a small repetitive file is not a bomb. A shared
        library that auditwheel vendored is padded with zeros (pillow 13.0.0's
        ``libXau.so``: 2 MiB at a ratio of 224); a bomb of zeros deflates at about 1,000.
    :param max_archive_ratio: uncompressed / compressed size of all members together (many
        small bombs, each under the per-member floor); archives under 8 MiB uncompressed are
        exempt. A wheel of code compresses 3 to 10 times.
    :param max_member_size: uncompressed size of one member, in bytes; members are read by
        chunks, so only ``max_total_size`` bounds what they cost together (playwright's
        ``driver/node`` is 146 MiB).
    :param max_manifest_size: the most :func:`read_member` callers read of a ``plugin.toml``,
        and the most validation holds of one kept for them (sixteen times it of all together;
        a wheel whose manifests hold more is refused).
    :param max_metadata_size: uncompressed size of each text file of the ``.dist-info`` that
        validation parses (METADATA, WHEEL, RECORD, ``entry_points.txt``): parsing costs about
        1.5 s a MiB, so a few kilobytes deflated could hold the host's lock for minutes.
    :param max_requirements: ``Requires-Dist`` lines in METADATA, each parsed by packaging
        (about 17 microseconds each): within ``max_metadata_size`` there can be 60,000.
    :param max_entry_points: entry points declared in ``entry_points.txt``: within
        ``max_metadata_size`` there can be 100,000, and the host holds each.
    :param max_wheel_size: size of the wheel file itself, in bytes, checked on its ``fstat``
        before a byte is read or hashed: a sparse file of 100 GB takes no room on disk, and
        minutes to hash.
    """

    max_members: int = attrs.field(default=10_000, validator=_positive)
    max_total_size: int = attrs.field(default=256 * 1024 * 1024, validator=_positive)
    max_ratio: int = attrs.field(default=500, validator=_positive)
    max_member_size: int = attrs.field(default=256 * 1024 * 1024, validator=_positive)
    max_manifest_size: int = attrs.field(default=64 * 1024, validator=_positive)
    max_archive_ratio: int = attrs.field(default=100, validator=_positive)
    max_metadata_size: int = attrs.field(default=1024 * 1024, validator=_positive)
    max_requirements: int = attrs.field(default=5_000, validator=_positive)
    max_entry_points: int = attrs.field(default=10_000, validator=_positive)
    max_wheel_size: int = attrs.field(default=256 * 1024 * 1024, validator=_positive)


class RefusedError(Exception):
    """One reason to refuse a wheel; the public functions add the path and the plugin."""


@frozen
class WheelBytes:
    """A wheel file's bytes, read at once, and their sha256, taken once.

    :param data: the whole file.
    :param sha256: hex digest of ``data``.
    """

    data: bytes = attrs.field(repr=False)
    sha256: str

    @classmethod
    def of(cls, data: bytes) -> WheelBytes:
        """``data`` with its digest."""
        return cls(data, hashlib.sha256(data).hexdigest())


def read_wheel_bytes(
    path: str | os.PathLike[str],
    before: os.stat_result | None = None,
    max_size: int | None = None,
) -> WheelBytes | None:
    """The whole file, read at once and hashed, or ``None`` when it is too large to hold in
    memory (32 MiB).

    Only a regular file is read, and a symbolic link is not followed (see
    :func:`~.regular.open_regular`, which takes ``before``): a FIFO or a device is refused at
    once.

    :param max_size: the largest file accepted (``WheelLimits.max_wheel_size``), if bounded.
    :raises NotRegularFileError: when ``path`` is not a regular file.
    :raises RefusedError: when it is larger than ``max_size``.
    :raises OSError: when the file cannot be opened or read.
    """
    fd, st = open_regular(path, before=before)
    try:
        size = st.st_size
        check_file_size(size, max_size)
        if size > _IN_MEMORY:
            return None
        # One read, normally: asking for a byte more than the size finds a file grown meanwhile.
        # On the descriptor itself: a file object would fstat it once more.
        data = os.read(fd, size + 1)
        whole = data if len(data) == size else _read_on(fd, data)
    finally:
        os.close(fd)
    return WheelBytes.of(whole) if whole is not None else None


def open_wheel_file(path: str | os.PathLike[str], max_size: int | None = None) -> BinaryIO:
    """A wheel too large to hold, opened to be read by chunks: a regular file only.

    :raises NotRegularFileError: when ``path`` is not a regular file.
    :raises RefusedError: when it is larger than ``max_size``.
    """
    fd, st = open_regular(path)
    try:
        check_file_size(st.st_size, max_size)
    except RefusedError:
        os.close(fd)
        raise
    return open(fd, "rb")


def hash_wheel_file(path: str | os.PathLike[str], max_size: int) -> str:
    """The sha256 of a wheel too large to hold, read by chunks, at most ``max_size`` bytes
    of it (a file that grows past that while it is read is refused).

    :raises NotRegularFileError: when ``path`` is not a regular file.
    :raises RefusedError: when it is larger than ``max_size``.
    :raises OSError: when it cannot be read.
    """
    with open_wheel_file(path, max_size) as handle:
        return _hash_file(handle, max_size)


def check_file_size(size: int, max_size: int | None) -> None:
    """:raises RefusedError: when a wheel file of ``size`` bytes is over ``max_size``."""
    if max_size is not None and size > max_size:
        raise RefusedError(
            f"the file is {size} bytes, over the limit of {max_size} (WheelLimits.max_wheel_size)"
        )


def _read_on(fd: int, data: bytes) -> bytes | None:
    """The rest of a file whose size changed while it was read, unless it outgrows the bound."""
    parts, total = [data], len(data)
    while parts[-1] and total <= _IN_MEMORY:
        parts.append(os.read(fd, _IN_MEMORY + 1 - total))
        total += len(parts[-1])
    return b"".join(parts) if total <= _IN_MEMORY else None


@contextmanager
def open_zip(
    path: str | os.PathLike[str],
    data: WheelBytes | None = None,
    max_size: int | None = None,
    max_members: int | None = None,
) -> Iterator[tuple[zipfile.ZipFile, str]]:
    """Read the wheel once and hash it (unless ``data`` holds its bytes already), then read the
    zip from those same bytes; yields the archive and the sha256 of the bytes.

    :param max_size: the largest file read (``WheelLimits.max_wheel_size``), if bounded.
    :param max_members: the most entries its central directory may hold
        (``WheelLimits.max_members``), counted before zipfile reads them, if bounded.
    """
    with _contents(path, data, max_size) as (handle, sha256):
        # Walked before zipfile reads it: zipfile makes an object of each entry (a file of
        # nothing but entries all at one member, 1.5 million in 81 MB, took it 16 s) and
        # decodes each extra field in quadratic time (1,500 entries of 64 KiB of empty records
        # took it 23 s, at each opening).
        reason = directory_refusal(handle, max_members)
        if reason is not None:
            raise RefusedError(reason)
        try:
            archive = zipfile.ZipFile(handle)
        except ZIP_ERRORS as exc:
            raise RefusedError(
                f"not a zip archive, or a truncated or unsupported one: {exc}"
            ) from exc
        with archive:
            _check_bounds(handle, archive)
            _check_overlaps(handle, archive)
            yield archive, sha256


@contextmanager
def _contents(
    path: str | os.PathLike[str], data: WheelBytes | None, max_size: int | None
) -> Iterator[tuple[BinaryIO, str]]:
    """The wheel's bytes as a file and their sha256: in memory, unless too large to hold."""
    try:
        if data is None:
            data = read_wheel_bytes(path, max_size=max_size)
        handle = io.BytesIO(data.data) if data is not None else open_wheel_file(path, max_size)
    except OSError as exc:
        raise RefusedError(f"{CANNOT_READ}: {exc}") from exc
    with handle:
        try:
            sha256 = data.sha256 if data is not None else _hash_file(handle, max_size)
            handle.seek(0)
        except OSError as exc:
            raise RefusedError(
                f"not a zip archive, or a truncated or unsupported one: {exc}"
            ) from exc
        yield handle, sha256


def _check_bounds(handle: BinaryIO, archive: zipfile.ZipFile) -> None:
    """Refuse bytes before the first member or after the end record: zipfile reads past both
    (a self-extracting stub, a polyglot file), and what else reads the file may not."""
    handle.seek(0)
    if handle.read(4) != _LOCAL_HEADER:
        raise RefusedError("has data before its first member (not a plain zip archive)")
    end = END_RECORD_SIZE + len(archive.comment)
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - end))
    if size < end or handle.read(4) != END_RECORD:
        raise RefusedError("has data after the end of its zip archive")


def _check_overlaps(handle: BinaryIO, archive: zipfile.ZipFile) -> None:
    """Refuse members whose bytes overlap, or run into the central directory.

    Overlapping members are how the "better zip bomb" makes a few kilobytes expand to gigabytes
    while every member keeps a modest ratio; zipfile catches it in some versions only, and only
    as a member is read. Each member's local header and data must end before the next one.
    """
    end, previous = 0, ""
    for info in sorted(archive.infolist(), key=lambda i: i.header_offset):
        if info.header_offset < end:
            raise RefusedError(
                f"member {info.filename!r} overlaps member {previous!r} in the archive "
                "(overlapping members: a zip bomb)"
            )
        end, previous = _member_end(handle, info), info.filename
    start_dir: int = getattr(archive, "start_dir", end)
    if end > start_dir:
        raise RefusedError(
            f"member {previous!r} runs into the central directory (overlapping members: a zip bomb)"
        )


def _member_end(handle: BinaryIO, info: zipfile.ZipInfo) -> int:
    """Where a member's local header and data end, as its local header says."""
    handle.seek(info.header_offset)
    header = handle.read(_LOCAL_HEADER_SIZE)
    if len(header) < _LOCAL_HEADER_SIZE or header[:4] != _LOCAL_HEADER:
        raise RefusedError(f"member {info.filename!r} has no local header where it should")
    name_size, extra_size = (int(n) for n in struct.unpack("<HH", header[26:30]))
    return info.header_offset + _LOCAL_HEADER_SIZE + name_size + extra_size + info.compress_size


def _hash_file(handle: BinaryIO, max_size: int | None) -> str:
    digest, total = hashlib.sha256(), 0
    while chunk := handle.read(_CHUNK):
        total += len(chunk)
        check_file_size(total, max_size)  # it grew since its fstat
        digest.update(chunk)
    return digest.hexdigest()


def check_directory(
    infos: list[zipfile.ZipInfo], limits: WheelLimits
) -> dict[str, zipfile.ZipInfo]:
    """Check every entry as declared; returns the entries by name."""
    if len(infos) > limits.max_members:
        raise RefusedError(f"has {len(infos)} members, more than the limit of {limits.max_members}")
    by_folded: dict[str, str] = {}
    for info in infos:
        check_entry(info)
        check_size(info, info.file_size, limits)
        folded = info.filename.casefold()
        if folded in by_folded:
            first = by_folded[folded]
            kind = "twice" if first == info.filename else f"twice, differing in case from {first!r}"
            raise RefusedError(f"contains the member {info.filename!r} {kind}")
        by_folded[folded] = info.filename
    total = sum(info.file_size for info in infos)
    if total > limits.max_total_size:
        raise RefusedError(
            f"declares {total} bytes uncompressed, over the limit of {limits.max_total_size}"
        )
    check_archive_ratio(total, sum(info.compress_size for info in infos), limits, "declares")
    reason = tree_refusal([info.filename for info in infos])
    if reason is not None:
        raise RefusedError(reason)
    return {info.filename: info for info in infos}


def check_archive_ratio(total: int, compressed: int, limits: WheelLimits, verb: str) -> None:
    """Refuse an archive whose members together expand more than ``max_archive_ratio`` times.

    :param verb: ``declares`` or ``holds``: whether ``total`` is declared or was read.
    """
    if total > _ARCHIVE_RATIO_FLOOR and total > limits.max_archive_ratio * max(compressed, 1):
        raise RefusedError(
            f"{verb} {total} bytes uncompressed from {compressed} compressed, a ratio over the "
            f"archive limit of {limits.max_archive_ratio} (zip bomb)"
        )


def check_entry(info: zipfile.ZipInfo) -> None:
    """Refuse an entry that is not a plain file or directory, or whose name is unsafe."""
    # orig_filename is the name as stored; zipfile cuts ``filename`` at a NUL byte.
    name = info.orig_filename
    reason = name_refusal(name)
    if reason is not None:
        raise RefusedError(reason)
    if stat.S_ISLNK(info.external_attr >> 16):
        raise RefusedError(f"member {name!r} is a symbolic link")
    if info.flag_bits & 0x1:
        raise RefusedError(f"member {name!r} is encrypted")


def check_size(info: zipfile.ZipInfo, size: int, limits: WheelLimits) -> None:
    """Refuse a member whose (declared or actual) uncompressed ``size`` is over a limit."""
    if size > limits.max_member_size:
        raise RefusedError(
            f"member {info.filename!r} is {size} bytes uncompressed, "
            f"over the limit of {limits.max_member_size}"
        )
    if size > _RATIO_FLOOR and size > limits.max_ratio * max(info.compress_size, 1):
        raise RefusedError(
            f"member {info.filename!r} expands from {info.compress_size} to {size} bytes, "
            f"a ratio over the limit of {limits.max_ratio} (zip bomb)"
        )


class MemberReader:
    """Reads members of one archive, refusing as soon as actual sizes break the limits."""

    def __init__(self, archive: zipfile.ZipFile, limits: WheelLimits) -> None:
        self._archive: Final = archive
        self._limits: Final = limits
        self._compressed: Final = sum(info.compress_size for info in archive.infolist())
        self._total = 0

    @property
    def limits(self) -> WheelLimits:
        """The limits this reader checks."""
        return self._limits

    def read(self, info: zipfile.ZipInfo) -> bytes:
        """The whole member."""
        return b"".join(self.chunks(info))

    def chunks(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """The member's bytes in chunks, checked against the limits as they come."""
        size = 0
        try:
            with self._archive.open(info) as stream:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    self._count(info, size, len(chunk))
                    yield chunk
        except ZIP_ERRORS as exc:
            raise RefusedError(f"cannot read member {info.filename!r}: {exc}") from exc
        if size != info.file_size:
            raise RefusedError(f"member {info.filename!r} holds {size} bytes, not {info.file_size}")

    def _count(self, info: zipfile.ZipInfo, size: int, more: int) -> None:
        # Counting what was really read keeps a lying header from bypassing the declared checks.
        self._total += more
        check_size(info, size, self._limits)
        if self._total > self._limits.max_total_size:
            raise RefusedError(f"holds over {self._limits.max_total_size} bytes uncompressed")
        check_archive_ratio(self._total, self._compressed, self._limits, "holds")
