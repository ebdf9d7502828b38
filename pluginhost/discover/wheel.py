"""Read-only validation of a wheel: the archive is read in memory, nothing is written.

A wheel of up to 32 MiB is read whole, with one read, and validated from those bytes: zipfile's
many seeks then cost no system call, and a caller that passes the bytes on (to install them)
knows they are the ones validated. A larger wheel is hashed and read from its file, by chunks.

:func:`inspect_wheel` refuses, with a :class:`~pluginhost.WheelError` naming the file and the
reason, any wheel that is malformed, that lies about its contents (RECORD, sizes, names), that could
escape or surprise an installer (paths, links, duplicates, startup files, bytecode), or that does
not fit this interpreter (tags, ``Requires-Python``). Checks run cheapest first: the file name, then
the zip's central directory (declared sizes, before a byte is decompressed), then the metadata, and
last the contents of every member against RECORD, counting the bytes actually read.
"""

from __future__ import annotations

import base64
import configparser
import csv
import email.message
import email.parser
import email.policy
import functools
import hashlib
import io
import os
import re
import stat
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Final

import attrs
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, sys_tags
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from ..model.errors import WheelError

__all__ = [
    "EntryPointSpec",
    "Inspection",
    "WheelInfo",
    "WheelLimits",
    "inspect_members",
    "inspect_wheel",
    "read_member",
    "read_wheel_file",
]

#: Hash algorithms accepted in RECORD; md5 and sha1 can be forged, so RECORD would prove nothing.
STRONG_HASHES: Final = frozenset({"sha256", "sha384", "sha512"})
#: Modules that ``site`` imports at every interpreter start: a plugin must not ship one.
STARTUP_MODULES: Final = frozenset({"sitecustomize", "usercustomize"})
#: The ``.data`` subdirectories a wheel may use (the installation schemes).
DATA_SCHEMES: Final = frozenset({"purelib", "platlib", "headers", "scripts", "data"})

# Signature files are by definition not listed in the RECORD they sign.
_UNLISTED: Final = frozenset({"RECORD", "RECORD.jws", "RECORD.p7s"})
# Below this size a high ratio is just a repetitive file (a long, regular source file reaches 200
# easily), not a bomb: the member and total size limits already bound what it can cost.
_RATIO_FLOOR: Final = 1024 * 1024
_CHUNK: Final = 64 * 1024
# Up to this size a wheel is held in memory while it is validated (and installed): plugin wheels
# are far smaller, and the common support wheels (numpy, pandas: 10 to 20 MB) still fit. Above
# it, reading by chunks bounds the memory a wheel costs, at the price of a system call per seek.
_IN_MEMORY: Final = 32 * 1024 * 1024
_DRIVE: Final = re.compile(r"^[A-Za-z]:")
_MODULE_SUFFIXES: Final = (".py", ".pyc", ".so", ".pyd")
_LOCAL_HEADER: Final = b"PK\x03\x04"
_END_RECORD: Final = b"PK\x05\x06"
_END_RECORD_SIZE: Final = 22
# What zipfile and zlib raise on corrupt, truncated or unsupported data (an unknown compression
# method or zip version is NotImplementedError); OSError covers the file itself.
_ZIP_ERRORS: Final = (
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


@attrs.frozen
class WheelLimits:
    """Bounds on what a wheel may cost to read, checked on declared and on actual sizes.

    :param max_members: entries in the archive, directories included.
    :param max_total_size: sum of the uncompressed sizes of all members, in bytes.
    :param max_ratio: uncompressed / compressed size of one member (zip bombs); members under
        1 MiB uncompressed are exempt, since a small repetitive file is not a bomb.
    :param max_member_size: uncompressed size of one member, in bytes.
    :param max_manifest_size: the most :func:`read_member` callers read of a ``plugin.toml``.
    """

    max_members: int = attrs.field(default=10_000, validator=_positive)
    max_total_size: int = attrs.field(default=256 * 1024 * 1024, validator=_positive)
    max_ratio: int = attrs.field(default=200, validator=_positive)
    max_member_size: int = attrs.field(default=64 * 1024 * 1024, validator=_positive)
    max_manifest_size: int = attrs.field(default=64 * 1024, validator=_positive)


@attrs.frozen
class EntryPointSpec:
    """One entry point declared in a wheel's ``entry_points.txt``."""

    name: str
    group: str
    value: str

    @classmethod
    def parse_all(cls, text: str) -> tuple[EntryPointSpec, ...]:
        """Parse an ``entry_points.txt``, keeping the case of names and the text of values.

        >>> EntryPointSpec.parse_all("[greeter.plugins]\\nHello = hello_plugin\\n")
        (EntryPointSpec(name='Hello', group='greeter.plugins', value='hello_plugin'),)

        :raises ValueError: when the text is not a valid INI file.
        """
        # No interpolation: a "%" in a value is text, and "=" alone separates name from value.
        parser = _CaseSensitiveParser(interpolation=None, delimiters=("=",))
        try:
            parser.read_string(text)
        except configparser.Error as exc:
            raise ValueError(str(exc)) from exc
        return tuple(
            cls(name, group, value.strip())
            for group in parser.sections()
            for name, value in parser.items(group)
        )


class _CaseSensitiveParser(configparser.ConfigParser):
    def optionxform(self, optionstr: str) -> str:
        # Entry point names are case-sensitive; ConfigParser lowercases keys by default.
        return optionstr


@attrs.frozen
class WheelInfo:
    """What a valid wheel declares, as read by :func:`inspect_wheel`.

    :param path: the wheel file.
    :param sha256: hex digest of the whole file.
    :param distribution: ``Name`` from METADATA, as written.
    :param version: ``Version`` from METADATA, as written (PEP 440).
    :param dist_info_dir: the ``.dist-info`` directory, e.g. ``hello-1.0.0.dist-info``.
    :param tags: the expanded tags of the file name, sorted, e.g. ``("py3-none-any",)``.
    :param requires_python: ``Requires-Python`` from METADATA, if any.
    :param requires_dist: the ``Requires-Dist`` lines of METADATA.
    :param entry_points: every entry point of ``entry_points.txt``.
    :param top_level: the importable names at the root of purelib/platlib, sorted.
    :param members: the names of every archive member.
    """

    path: Path
    sha256: str
    distribution: str
    version: str
    dist_info_dir: str
    tags: tuple[str, ...]
    requires_python: str | None
    requires_dist: tuple[str, ...]
    entry_points: tuple[EntryPointSpec, ...]
    top_level: tuple[str, ...]
    members: frozenset[str]


class _RefusedError(Exception):
    """One reason to refuse a wheel; the public functions add the path and the plugin."""


@attrs.frozen
class _FileName:
    distribution: NormalizedName
    version: Version
    tags: frozenset[Tag]
    data_dir: str  # spelled as in the file name, which is where installer looks for it

    @classmethod
    def parse(cls, filename: str) -> _FileName:
        try:
            name, version, _build, tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, InvalidVersion) as exc:
            raise _RefusedError(f"not a valid wheel file name: {exc}") from exc
        raw_name, raw_version = filename.split("-")[:2]
        return cls(name, version, tags, f"{raw_name}-{raw_version}.data")


@attrs.frozen
class _RecordEntry:
    algorithm: str
    digest: str
    size: int

    @classmethod
    def parse(cls, path: str, hash_: str, size: str) -> _RecordEntry:
        algorithm, _, digest = hash_.partition("=")
        if not digest or not size:
            raise _RefusedError(f"RECORD gives no hash or no size for {path!r}")
        if algorithm not in STRONG_HASHES:
            raise _RefusedError(
                f"RECORD hashes {path!r} with {algorithm!r}: a weak or unknown hash algorithm "
                "(only sha256, sha384 and sha512 are accepted)"
            )
        if not size.isdigit():
            raise _RefusedError(f"RECORD gives the invalid size {size!r} for {path!r}")
        return cls(algorithm, digest.rstrip("="), int(size))


def inspect_wheel(
    path: str | os.PathLike[str],
    *,
    limits: WheelLimits = WheelLimits(),
    data: bytes | None = None,
) -> WheelInfo:
    """Validate a wheel completely and return what it declares, writing nothing anywhere.

    >>> info = inspect_wheel("wheels/hello-1.0.0-py3-none-any.whl")
    >>> info.distribution, info.top_level
    ('hello', ('hello',))

    :param path: the wheel file; its name is parsed, and errors name it.
    :param limits: bounds on member count and sizes.
    :param data: the file's bytes, as :func:`read_wheel_file` returned them: these are what is
        validated, and the file is not read.
    :raises WheelError: naming the file, the distribution when known, and why it is refused.
    """
    return inspect_members(path, _none, limits=limits, data=data).info


def inspect_members(
    path: str | os.PathLike[str],
    keep: Callable[[str], bool],
    *,
    limits: WheelLimits = WheelLimits(),
    data: bytes | None = None,
) -> Inspection:
    """:func:`inspect_wheel`, keeping the bytes of the members ``keep`` accepts as it checks them.

    >>> inspection = inspect_members(path, lambda name: name.endswith("/plugin.toml"))
    >>> inspection.read_member("hello/plugin.toml", max_size=65536)
    b'[plugin]\\nname = "hello"\\n'

    :param keep: tells, by name, the members to keep; directories and RECORD are never kept.
    :raises WheelError: as :func:`inspect_wheel` does.
    """
    wheel = Path(path)
    plugin: str | None = None
    try:
        filename = _FileName.parse(wheel.name)
        plugin = filename.distribution
        return _inspect(wheel, filename, limits, keep, data)
    except _RefusedError as exc:
        raise WheelError(str(exc), plugin=plugin, path=wheel) from exc.__cause__


def read_member(path: str | os.PathLike[str], member: str, *, max_size: int) -> bytes:
    """Read one member of a wheel, at most ``max_size`` bytes of it.

    :param path: the wheel file (normally one :func:`inspect_wheel` accepted).
    :param member: the member's name in the archive, e.g. ``hello/plugin.toml``.
    :param max_size: the largest uncompressed size accepted.
    :raises WheelError: when the member is missing, larger than ``max_size``, or unreadable.
    """
    try:
        with _open_zip(path) as (archive, _sha256):
            try:
                info = archive.getinfo(member)
            except KeyError:
                raise _RefusedError(f"has no member {member!r}") from None
            return _Reader(archive, _check_member(info, max_size)).read(info)
    except _RefusedError as exc:
        raise WheelError(str(exc), path=path) from exc.__cause__


def read_wheel_file(path: str | os.PathLike[str]) -> bytes | None:
    """The whole file, read at once, or ``None`` when it is too large to hold in memory (32 MiB).

    :raises OSError: when the file cannot be opened or read.
    """
    with open(path, "rb", buffering=0) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > _IN_MEMORY:
            return None
        # One read, normally: asking for a byte more than the size finds a file grown meanwhile.
        data = handle.read(size + 1)
        return data if len(data) == size else _read_on(handle, data)


def _read_on(handle: io.FileIO, data: bytes) -> bytes | None:
    """The rest of a file whose size changed while it was read, unless it outgrows the bound."""
    parts, total = [data], len(data)
    while parts[-1] and total <= _IN_MEMORY:
        parts.append(handle.read(_IN_MEMORY + 1 - total))
        total += len(parts[-1])
    return b"".join(parts) if total <= _IN_MEMORY else None


@attrs.frozen
class Inspection:
    """A valid wheel's :class:`WheelInfo`, and the members kept by :func:`inspect_members`.

    :param info: what the wheel declares.
    """

    info: WheelInfo
    _kept: Mapping[str, tuple[zipfile.ZipInfo, bytes]] = attrs.field(repr=False)

    def read_member(self, member: str, *, max_size: int) -> bytes:
        """A kept member, refused as :func:`read_member` would refuse it in the same file.

        These are the bytes checked against RECORD: the file is not read again, so a file
        replaced since cannot slip in other bytes.

        :raises WheelError: when the member is missing or larger than ``max_size``.
        :raises KeyError: when the member is in the wheel but was not kept.
        """
        try:
            if member not in self.info.members:
                raise _RefusedError(f"has no member {member!r}")
            info, data = self._kept[member]
            _check_member(info, max_size)
        except _RefusedError as exc:
            raise WheelError(str(exc), path=self.info.path) from exc.__cause__
        return data


def _none(name: str) -> bool:
    return False


def _check_member(info: zipfile.ZipInfo, max_size: int) -> WheelLimits:
    """Refuse one member read on its own as more than ``max_size``; returns the limits read."""
    limits = WheelLimits(max_member_size=max_size)
    _check_entry(info)
    _check_size(info, info.file_size, limits)
    return limits


def _inspect(
    wheel: Path,
    filename: _FileName,
    limits: WheelLimits,
    keep: Callable[[str], bool],
    data: bytes | None,
) -> Inspection:
    with _open_zip(wheel, data) as (archive, sha256):
        infos = _check_directory(archive.infolist(), limits)
        dist_info = _find_dist_info(infos, filename)
        reader = _Reader(archive, limits)
        metadata = _read_headers(reader, infos, f"{dist_info}/METADATA")
        wheel_meta = _read_headers(reader, infos, f"{dist_info}/WHEEL")
        record = _read_record(reader, infos, dist_info)
        distribution, version = _check_metadata(metadata, filename)
        _check_wheel_version(wheel_meta)
        _check_tags(filename.tags)
        requires_python = _check_requires_python(metadata)
        requires_dist = _requires_dist(metadata)
        entry_points = _read_entry_points(reader, infos, f"{dist_info}/entry_points.txt")
        kept = _check_record(reader, infos, dist_info, record, keep)
    info = WheelInfo(
        path=wheel,
        sha256=sha256,
        distribution=distribution,
        version=version,
        dist_info_dir=dist_info,
        tags=tuple(sorted(str(tag) for tag in filename.tags)),
        requires_python=requires_python,
        requires_dist=requires_dist,
        entry_points=entry_points,
        top_level=_top_level(infos, dist_info, filename.data_dir),
        members=frozenset(infos),
    )
    return Inspection(info, kept)


@contextmanager
def _open_zip(
    path: str | os.PathLike[str], data: bytes | None = None
) -> Iterator[tuple[zipfile.ZipFile, str]]:
    """Read the wheel once and hash it, then read the zip from those same bytes."""
    with _contents(path, data) as (handle, sha256):
        try:
            archive = zipfile.ZipFile(handle)
        except _ZIP_ERRORS as exc:
            raise _RefusedError(
                f"not a zip archive, or a truncated or unsupported one: {exc}"
            ) from exc
        with archive:
            _check_bounds(handle, archive)
            yield archive, sha256


@contextmanager
def _contents(path: str | os.PathLike[str], data: bytes | None) -> Iterator[tuple[BinaryIO, str]]:
    """The wheel's bytes as a file and their sha256: in memory, unless too large to hold."""
    try:
        if data is None:
            data = read_wheel_file(path)
        handle = io.BytesIO(data) if data is not None else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise _RefusedError(f"cannot read the file: {exc}") from exc
    with handle:
        try:
            sha256 = hashlib.sha256(data).hexdigest() if data is not None else _hash_file(handle)
            handle.seek(0)
        except OSError as exc:
            raise _RefusedError(
                f"not a zip archive, or a truncated or unsupported one: {exc}"
            ) from exc
        yield handle, sha256


def _check_bounds(handle: BinaryIO, archive: zipfile.ZipFile) -> None:
    """Refuse bytes before the first member or after the end record: zipfile reads past both
    (a self-extracting stub, a polyglot file), and what else reads the file may not."""
    handle.seek(0)
    if handle.read(4) != _LOCAL_HEADER:
        raise _RefusedError("has data before its first member (not a plain zip archive)")
    end = _END_RECORD_SIZE + len(archive.comment)
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - end))
    if size < end or handle.read(4) != _END_RECORD:
        raise _RefusedError("has data after the end of its zip archive")


def _hash_file(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


# -- the central directory: names, kinds and declared sizes, before anything is read -------------


def _check_directory(
    infos: list[zipfile.ZipInfo], limits: WheelLimits
) -> dict[str, zipfile.ZipInfo]:
    """Check every entry as declared; returns the entries by name."""
    if len(infos) > limits.max_members:
        raise _RefusedError(
            f"has {len(infos)} members, more than the limit of {limits.max_members}"
        )
    by_folded: dict[str, str] = {}
    for info in infos:
        _check_entry(info)
        _check_size(info, info.file_size, limits)
        folded = info.filename.casefold()
        if folded in by_folded:
            first = by_folded[folded]
            kind = "twice" if first == info.filename else f"twice, differing in case from {first!r}"
            raise _RefusedError(f"contains the member {info.filename!r} {kind}")
        by_folded[folded] = info.filename
    total = sum(info.file_size for info in infos)
    if total > limits.max_total_size:
        raise _RefusedError(
            f"declares {total} bytes uncompressed, over the limit of {limits.max_total_size}"
        )
    return {info.filename: info for info in infos}


def _check_entry(info: zipfile.ZipInfo) -> None:
    """Refuse an entry that is not a plain file or directory, or whose name is unsafe."""
    # orig_filename is the name as stored; zipfile cuts ``filename`` at a NUL byte.
    name = info.orig_filename
    _check_name(name)
    if stat.S_ISLNK(info.external_attr >> 16):
        raise _RefusedError(f"member {name!r} is a symbolic link")
    if info.flag_bits & 0x1:
        raise _RefusedError(f"member {name!r} is encrypted")


def _check_name(name: str) -> None:
    """Refuse a member name that could land outside the target or run at interpreter start."""
    if "\x00" in name:
        raise _RefusedError(f"member name {name!r} contains a NUL byte")
    if "\\" in name:
        raise _RefusedError(f"member name {name!r} contains a backslash")
    if name.startswith("/"):
        raise _RefusedError(f"member name {name!r} is an absolute path")
    if _DRIVE.match(name):
        raise _RefusedError(f"member name {name!r} starts with a drive letter")
    parts = name.removesuffix("/").split("/")
    odd = [part for part in parts if part in ("", ".", "..")]
    if odd:
        raise _RefusedError(f"member name {name!r} has a {odd[0]!r} component")
    _check_parts(name, [part.casefold() for part in parts])


def _check_parts(name: str, parts: list[str]) -> None:
    if "__pycache__" in parts:
        raise _RefusedError(f"member {name!r} is in a __pycache__ directory (stale bytecode)")
    if parts[-1].endswith(".pth") and not name.endswith("/"):
        raise _RefusedError(f"member {name!r} is a .pth file, which runs at interpreter start")
    if any(part.split(".", 1)[0] in STARTUP_MODULES for part in parts):
        raise _RefusedError(f"member {name!r} is a startup module (sitecustomize/usercustomize)")


def _check_size(info: zipfile.ZipInfo, size: int, limits: WheelLimits) -> None:
    """Refuse a member whose (declared or actual) uncompressed ``size`` is over a limit."""
    if size > limits.max_member_size:
        raise _RefusedError(
            f"member {info.filename!r} is {size} bytes uncompressed, "
            f"over the limit of {limits.max_member_size}"
        )
    if size > _RATIO_FLOOR and size > limits.max_ratio * max(info.compress_size, 1):
        raise _RefusedError(
            f"member {info.filename!r} expands from {info.compress_size} to {size} bytes, "
            f"a ratio over the limit of {limits.max_ratio} (zip bomb)"
        )


# -- layout and metadata ------------------------------------------------------------------------


def _find_dist_info(infos: Mapping[str, zipfile.ZipInfo], filename: _FileName) -> str:
    """The one ``.dist-info`` directory, agreeing with the file name; checks ``.data`` too."""
    roots = {name.split("/", 1)[0] for name in infos if "/" in name}
    found = sorted(root for root in roots if root.endswith(".dist-info"))
    if len(found) != 1:
        listed = ", ".join(found) or "none"
        raise _RefusedError(f"must contain exactly one .dist-info directory, found {listed}")
    dist_info = found[0]
    stem = dist_info.removesuffix(".dist-info")
    name, _, version = stem.partition("-")
    if canonicalize_name(name) != filename.distribution or _version(version) != filename.version:
        raise _RefusedError(
            f"{dist_info} disagrees with the file name ({filename.distribution} {filename.version})"
        )
    _check_data_dir(infos, roots, filename.data_dir)
    return dist_info


def _check_data_dir(infos: Mapping[str, zipfile.ZipInfo], roots: set[str], data_dir: str) -> None:
    strays = sorted(root for root in roots if root.endswith(".data") and root != data_dir)
    if strays:
        raise _RefusedError(f"has the .data directory {strays[0]!r}, expected only {data_dir!r}")
    for name in infos:
        if not _in_data_scheme(name, data_dir):
            raise _RefusedError(f"member {name!r} is not in a valid {data_dir} subdirectory")


def _in_data_scheme(name: str, data_dir: str) -> bool:
    """Whether ``name`` is outside ``data_dir`` or inside one of its scheme directories."""
    parts = name.removesuffix("/").split("/")
    if parts[0] != data_dir:
        return True
    if name.endswith("/"):
        return len(parts) == 1 or parts[1] in DATA_SCHEMES
    return len(parts) > 2 and parts[1] in DATA_SCHEMES


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _read_headers(
    reader: _Reader, infos: Mapping[str, zipfile.ZipInfo], member: str
) -> email.message.Message:
    """Parse an RFC 822 style metadata file (METADATA, WHEEL)."""
    text = _read_text(reader, infos, member)
    return email.parser.Parser(policy=email.policy.compat32).parsestr(text)


def _read_text(reader: _Reader, infos: Mapping[str, zipfile.ZipInfo], member: str) -> str:
    if member not in infos:
        raise _RefusedError(f"has no {member}")
    try:
        return reader.read(infos[member]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _RefusedError(f"{member} is not valid UTF-8: {exc}") from exc


def _header(headers: email.message.Message, key: str) -> str:
    value = headers.get(key)
    if value is None or not str(value).strip():
        raise _RefusedError(f"METADATA has no {key}")
    return str(value).strip()


def _check_metadata(metadata: email.message.Message, filename: _FileName) -> tuple[str, str]:
    """METADATA's Name and Version, which must agree with the file name (and so the dist-info)."""
    name, version = _header(metadata, "Name"), _header(metadata, "Version")
    if canonicalize_name(name) != filename.distribution:
        raise _RefusedError(f"METADATA Name {name!r} disagrees with the file name")
    if _version(version) != filename.version:
        raise _RefusedError(f"METADATA Version {version!r} disagrees with the file name")
    return name, version


def _check_wheel_version(wheel_meta: email.message.Message) -> None:
    text = str(wheel_meta.get("Wheel-Version", "")).strip()
    major = text.split(".", 1)[0]
    if not (major.isdigit() and int(major) == 1):
        raise _RefusedError(f"WHEEL has Wheel-Version {text!r}; only 1.x is supported")


@functools.lru_cache(maxsize=1)
def _supported_tags() -> frozenset[Tag]:
    # sys_tags() yields hundreds of tags and costs about a millisecond: compute it once.
    return frozenset(sys_tags())


def _check_tags(tags: frozenset[Tag]) -> None:
    if tags.isdisjoint(_supported_tags()):
        listed = ", ".join(sorted(str(tag) for tag in tags))
        raise _RefusedError(f"none of its tags ({listed}) is supported by this interpreter")


def _check_requires_python(metadata: email.message.Message) -> str | None:
    text = metadata.get("Requires-Python")
    if text is None:
        return None
    try:
        spec = SpecifierSet(str(text))
    except InvalidSpecifier as exc:
        raise _RefusedError(f"METADATA has an invalid Requires-Python {text!r}") from exc
    running = ".".join(str(part) for part in sys.version_info[:3])
    if not spec.contains(running, prereleases=True):
        raise _RefusedError(f"requires Python {text}, this is Python {running}")
    return str(text)


def _requires_dist(metadata: email.message.Message) -> tuple[str, ...]:
    lines = tuple(str(line).strip() for line in metadata.get_all("Requires-Dist") or ())
    for line in lines:
        try:
            Requirement(line)
        except InvalidRequirement as exc:
            raise _RefusedError(f"METADATA has an invalid Requires-Dist {line!r}") from exc
    return lines


def _read_entry_points(
    reader: _Reader, infos: Mapping[str, zipfile.ZipInfo], member: str
) -> tuple[EntryPointSpec, ...]:
    if member not in infos:
        return ()
    try:
        return EntryPointSpec.parse_all(_read_text(reader, infos, member))
    except ValueError as exc:
        raise _RefusedError(f"{member} is not valid: {exc}") from exc


def _top_level(
    infos: Mapping[str, zipfile.ZipInfo], dist_info: str, data_dir: str
) -> tuple[str, ...]:
    """Importable names at the root of purelib/platlib, including ``<name>.data/purelib``."""
    names = set()
    for member in infos:
        parts = member.split("/")
        if parts[0] == data_dir and len(parts) > 2 and parts[1] in ("purelib", "platlib"):
            parts = parts[2:]
        elif parts[0] in (dist_info, data_dir):
            continue
        name = _importable(parts)
        if name is not None:
            names.add(name)
    return tuple(sorted(names))


def _importable(parts: list[str]) -> str | None:
    """The top-level name a member makes importable: its package, or itself as a module."""
    if len(parts) > 1:
        return parts[0] if parts[0].isidentifier() else None
    stem = parts[0].split(".", 1)[0]
    if parts[0].endswith(_MODULE_SUFFIXES) and stem.isidentifier():
        return stem
    return None


# -- contents: every byte read is counted, every member checked against RECORD -------------------


class _Reader:
    """Reads members of one archive, refusing as soon as actual sizes break the limits."""

    def __init__(self, archive: zipfile.ZipFile, limits: WheelLimits) -> None:
        self._archive: Final = archive
        self._limits: Final = limits
        self._total = 0

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
        except _ZIP_ERRORS as exc:
            raise _RefusedError(f"cannot read member {info.filename!r}: {exc}") from exc
        if size != info.file_size:
            raise _RefusedError(
                f"member {info.filename!r} holds {size} bytes, not {info.file_size}"
            )

    def _count(self, info: zipfile.ZipInfo, size: int, more: int) -> None:
        # Counting what was really read keeps a lying header from bypassing the declared checks.
        self._total += more
        _check_size(info, size, self._limits)
        if self._total > self._limits.max_total_size:
            raise _RefusedError(f"holds over {self._limits.max_total_size} bytes uncompressed")


def _read_record(
    reader: _Reader, infos: Mapping[str, zipfile.ZipInfo], dist_info: str
) -> dict[str, _RecordEntry | None]:
    """RECORD by path; ``None`` for the rows of RECORD itself and its signatures."""
    text = _read_text(reader, infos, f"{dist_info}/RECORD")
    entries: dict[str, _RecordEntry | None] = {}
    for row in csv.reader(text.splitlines()):
        if len(row) != 3:
            raise _RefusedError(f"RECORD has a malformed row {row!r}")
        path, hash_, size = row
        if path in entries:
            raise _RefusedError(f"RECORD lists {path!r} twice")
        unlisted = _is_unlisted(path, dist_info)
        entries[path] = None if unlisted else _RecordEntry.parse(path, hash_, size)
    return entries


def _is_unlisted(path: str, dist_info: str) -> bool:
    folder, _, name = path.rpartition("/")
    return folder == dist_info and name in _UNLISTED


def _check_record(
    reader: _Reader,
    infos: Mapping[str, zipfile.ZipInfo],
    dist_info: str,
    record: Mapping[str, _RecordEntry | None],
    keep: Callable[[str], bool],
) -> dict[str, tuple[zipfile.ZipInfo, bytes]]:
    """Every file member is in RECORD with its true hash and size, and nothing else is.

    :returns: the members ``keep`` accepts, each with the bytes that matched RECORD.
    """
    listed = {path: entry for path, entry in record.items() if entry is not None}
    kept = {}
    for name, info in infos.items():
        if info.is_dir() or _is_unlisted(name, dist_info):
            continue
        entry = listed.pop(name, None)
        if entry is None:
            raise _RefusedError(f"member {name!r} is not listed in RECORD with a hash")
        if keep(name):
            data = reader.read(info)
            _verify(name, entry, [data])
            kept[name] = (info, data)
        else:
            _verify(name, entry, reader.chunks(info))
    if listed:
        raise _RefusedError(f"RECORD lists {min(listed)!r}, which is not in the archive")
    return kept


def _verify(name: str, entry: _RecordEntry, chunks: Iterable[bytes]) -> None:
    digest = hashlib.new(entry.algorithm)
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    actual = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")
    if actual != entry.digest or size != entry.size:
        raise _RefusedError(f"member {name!r} does not match its RECORD hash and size")
