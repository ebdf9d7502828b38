"""A wheel being assembled, and its bytes: members, METADATA, WHEEL, entry points, RECORD, zip.

:class:`Draft` is what :class:`~pluginhost.testkit.wheels.WheelFactory` assembles and what the
broken kinds of :mod:`pluginhost.testkit.hostile` edit; :func:`write_archive` turns it into the
bytes of a wheel, deterministic whatever the clock or the platform.
"""

from __future__ import annotations

import base64
import hashlib
import io
import stat
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import attrs
from packaging.utils import canonicalize_name

__all__ = [
    "EXECUTABLE_MODE",
    "FILE_MODE",
    "LINK_MODE",
    "Draft",
    "Member",
    "escape",
    "write_archive",
]

# Fixed so that identical inputs give identical bytes, whatever the clock or the platform.
_DATE_TIME: Final = (1980, 1, 1, 0, 0, 0)
FILE_MODE: Final = (stat.S_IFREG | 0o644) << 16
EXECUTABLE_MODE: Final = (stat.S_IFREG | 0o755) << 16
LINK_MODE: Final = (stat.S_IFLNK | 0o777) << 16


@attrs.define
class Member:
    """One file of the archive; ``in_record=False`` leaves it out of RECORD."""

    name: str
    data: bytes
    mode: int = FILE_MODE
    in_record: bool = True


@attrs.define
class Draft:
    """A wheel being assembled; the broken kinds edit it before it is written."""

    distribution: str
    version: str
    tag: str
    module: str
    members: list[Member]
    metadata: dict[str, list[str]]
    wheel_version: str = "1.0"
    dist_info_version: str | None = None
    stated_version: str | None = None
    stated_name: str | None = None
    record: bool = True
    weak: frozenset[str] = frozenset()
    after_record: Callable[[list[Member]], None] | None = None
    entry_points_tail: str = ""

    @property
    def dist_info(self) -> str:
        version = self.dist_info_version or self.version
        return f"{escape(self.distribution)}-{version}.dist-info"

    @property
    def filename(self) -> str:
        return f"{escape(self.distribution)}-{self.version}-{self.tag}.whl"


def escape(name: str) -> str:
    """A distribution name as wheel file names and .dist-info directories spell it."""
    return canonicalize_name(name).replace("-", "_")


def write_archive(draft: Draft, entry_points: Mapping[str, Mapping[str, str]]) -> bytes:
    """The wheel's bytes: package members, then .dist-info, RECORD last."""
    dist_info = draft.dist_info
    members = [
        *draft.members,
        Member(f"{dist_info}/METADATA", _metadata(draft).encode()),
        Member(f"{dist_info}/WHEEL", _wheel_file(draft).encode()),
        Member(
            f"{dist_info}/entry_points.txt",
            (_entry_points(entry_points) + draft.entry_points_tail).encode(),
        ),
    ]
    if draft.record:
        members.append(Member(f"{dist_info}/RECORD", _record(members, dist_info, draft.weak)))
    if draft.after_record is not None:
        draft.after_record(members)
    return _zip(members)


def _metadata(draft: Draft) -> str:
    version = draft.stated_version or draft.version
    name = draft.stated_name or draft.distribution
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"{key}: {value}" for key, values in draft.metadata.items() for value in values]
    return "\n".join(lines) + "\n"


def _wheel_file(draft: Draft) -> str:
    return (
        f"Wheel-Version: {draft.wheel_version}\n"
        "Generator: pluginhost.testing\n"
        "Root-Is-Purelib: true\n"
        f"Tag: {draft.tag}\n"
    )


def _entry_points(groups: Mapping[str, Mapping[str, str]]) -> str:
    sections = [
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items())
        for group, entries in groups.items()
    ]
    return "\n".join(sections)


def _record(members: Sequence[Member], dist_info: str, weak: frozenset[str]) -> bytes:
    """RECORD rows with urlsafe base64 sha256 digests (md5 for names in ``weak``)."""
    rows = []
    for member in members:
        if member.in_record:
            algorithm = "md5" if member.name in weak else "sha256"
            digest = hashlib.new(algorithm, member.data).digest()
            encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
            rows.append(f"{member.name},{algorithm}={encoded},{len(member.data)}\n")
    rows.append(f"{dist_info}/RECORD,,\n")
    return "".join(rows).encode()


def _zip(members: Sequence[Member]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            info = zipfile.ZipInfo(member.name, date_time=_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so that the mode bits mean the same everywhere
            info.external_attr = member.mode
            with warnings.catch_warnings():
                # zipfile warns about duplicate names, which "duplicate-member" wants.
                warnings.simplefilter("ignore", UserWarning)
                archive.writestr(info, member.data)
    return buffer.getvalue()
