"""Read-only validation of a wheel: the archive is read in memory, nothing is written.

:func:`inspect_wheel` refuses, with a :class:`~pluginhost.WheelError` naming the file and the
reason, any wheel that is malformed, that lies about its contents (RECORD, sizes, names), that could
escape or surprise an installer (paths, links, duplicates, startup files, bytecode), or that does
not fit this interpreter (tags, ``Requires-Python``). Checks run cheapest first: the file name, then
the zip's central directory (declared sizes, before a byte is decompressed; see
:mod:`~pluginhost.discover.archive`), then the metadata (:mod:`~pluginhost.discover.metadata`),
and last the contents of every member against RECORD (:mod:`~pluginhost.discover.record`),
counting the bytes actually read.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs

from ..model.errors import WheelError
from ..model.frozen import frozen
from .archive import (
    MemberReader,
    RefusedError,
    WheelBytes,
    WheelLimits,
    check_directory,
    check_entry,
    check_size,
    open_zip,
)
from .metadata import (
    EntryPointSpec,
    FileName,
    check_metadata,
    check_requires_python,
    check_tags,
    check_wheel_version,
    find_dist_info,
    find_top_level,
    read_entry_points,
    read_headers,
    read_requires_dist,
)
from .record import check_record, read_record

__all__ = [
    "Inspection",
    "WheelInfo",
    "inspect_members",
    "inspect_wheel",
    "read_member",
]


@frozen
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


@frozen
class Inspection:
    """A valid wheel's :class:`WheelInfo`, and the members kept by :func:`inspect_members`.

    :param info: what the wheel declares.
    """

    info: WheelInfo
    _kept: Mapping[str, tuple[zipfile.ZipInfo, bytes | None]] = attrs.field(repr=False)

    def read_member(self, member: str, *, max_size: int) -> bytes:
        """A kept member, refused as :func:`read_member` would refuse it in the same file.

        These are the bytes checked against RECORD: the file is not read again, so a file
        replaced since cannot slip in other bytes.

        :raises WheelError: when the member is missing or larger than ``max_size``.
        :raises KeyError: when the member is in the wheel but was not kept, or kept without
            its bytes (it is larger than ``WheelLimits.max_manifest_size``).
        """
        try:
            if member not in self.info.members:
                raise RefusedError(f"has no member {member!r}")
            info, data = self._kept[member]
            _check_member(info, max_size)
        except RefusedError as exc:
            raise WheelError(str(exc), path=self.info.path) from exc.__cause__
        if data is None:
            raise KeyError(member)
        return data

    def kept_members(self) -> list[tuple[zipfile.ZipInfo, bytes | None]]:
        """The kept members with their directory entries and bytes, if held (to send them to
        another process)."""
        return list(self._kept.values())


def inspect_wheel(
    path: str | os.PathLike[str],
    *,
    limits: WheelLimits = WheelLimits(),
    data: WheelBytes | None = None,
) -> WheelInfo:
    """Validate a wheel completely and return what it declares, writing nothing anywhere.

    >>> info = inspect_wheel("wheels/hello-1.0.0-py3-none-any.whl")
    >>> info.distribution, info.top_level
    ('hello', ('hello',))

    :param path: the wheel file; its name is parsed, and errors name it.
    :param limits: bounds on member count and sizes.
    :param data: the file's bytes and hash, as :func:`~.archive.read_wheel_bytes` returned them:
        these are what is validated, and the file is not read.
    :raises WheelError: naming the file, the distribution when known, and why it is refused.
    """
    return inspect_members(path, _none, limits=limits, data=data).info


def inspect_members(
    path: str | os.PathLike[str],
    keep: Callable[[str], bool],
    *,
    limits: WheelLimits = WheelLimits(),
    data: WheelBytes | None = None,
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
        filename = FileName.parse(wheel.name)
        plugin = filename.distribution
        return _inspect(wheel, filename, limits, keep, data)
    except RefusedError as exc:
        raise WheelError(str(exc), plugin=plugin, path=wheel) from exc.__cause__


def read_member(path: str | os.PathLike[str], member: str, *, max_size: int) -> bytes:
    """Read one member of a wheel, at most ``max_size`` bytes of it.

    :param path: the wheel file (normally one :func:`inspect_wheel` accepted).
    :param member: the member's name in the archive, e.g. ``hello/plugin.toml``.
    :param max_size: the largest uncompressed size accepted.
    :raises WheelError: when the member is missing, larger than ``max_size``, or unreadable.
    """
    try:
        with open_zip(path) as (archive, _sha256):
            try:
                info = archive.getinfo(member)
            except KeyError:
                raise RefusedError(f"has no member {member!r}") from None
            return MemberReader(archive, _check_member(info, max_size)).read(info)
    except RefusedError as exc:
        raise WheelError(str(exc), path=path) from exc.__cause__


def _none(name: str) -> bool:
    return False


def _check_member(info: zipfile.ZipInfo, max_size: int) -> WheelLimits:
    """Refuse one member read on its own as more than ``max_size``; returns the limits read."""
    limits = WheelLimits(max_member_size=max_size)
    check_entry(info)
    check_size(info, info.file_size, limits)
    return limits


def _inspect(
    wheel: Path,
    filename: FileName,
    limits: WheelLimits,
    keep: Callable[[str], bool],
    data: WheelBytes | None,
) -> Inspection:
    with open_zip(wheel, data, limits.max_wheel_size, limits.max_members) as (archive, sha256):
        infos = check_directory(archive.infolist(), limits)
        dist_info = find_dist_info(infos, filename)
        reader = MemberReader(archive, limits)
        metadata = read_headers(reader, infos, f"{dist_info}/METADATA")
        wheel_meta = read_headers(reader, infos, f"{dist_info}/WHEEL")
        record = read_record(reader, infos, dist_info)
        distribution, version = check_metadata(metadata, filename)
        check_wheel_version(wheel_meta)
        check_tags(filename.tags)
        requires_python = check_requires_python(metadata, str(wheel))
        requires_dist = read_requires_dist(metadata, limits.max_requirements)
        entry_points = read_entry_points(reader, infos, f"{dist_info}/entry_points.txt")
        # Manifests are what is kept: one larger than a manifest may be is refused when read.
        hold = limits.max_manifest_size
        kept = check_record(reader, infos, dist_info, record, keep, hold=hold, hold_total=16 * hold)
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
        top_level=find_top_level(infos, dist_info, filename.data_dir),
        members=frozenset(infos),
    )
    return Inspection(info, kept)
