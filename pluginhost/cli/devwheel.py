"""Local development versions: a built wheel relabelled ``1.2.0+dev.N`` for ``pluginhost dev``.

A host swaps only to a newer version, and a rebuild of the same version with other bytes is not
one. Each rebuild gets the next local label instead (``+dev.1``, ``+dev.2``...), which the host
orders after the release and after every earlier label (see
:class:`~pluginhost.model.versions.Version`).
The label is put into the built wheel itself (file name, ``.dist-info`` folder, ``METADATA``,
``RECORD``), so it works whatever the backend and however the project states its version.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version as Pep440Version

from ..model.errors import BuildError

__all__ = ["DevWheel", "dev_number", "dev_wheels", "relabel"]

_LABEL: Final = re.compile(r"dev\.(\d+)")


class DevWheel:
    """A wheel file name read for what ``dev`` needs: distribution, version, dev number."""

    def __init__(self, path: Path) -> None:
        self.path = path
        name, version, _, _ = parse_wheel_filename(path.name)
        self.distribution = canonicalize_name(name)
        self.version = version

    @property
    def number(self) -> int | None:
        """``N`` of a ``+dev.N`` version, else ``None``."""
        return dev_number(str(self.version))


def dev_number(version: str) -> int | None:
    """``N`` of ``1.2.0+dev.N``; ``None`` for any other version.

    >>> dev_number("1.2.0+dev.7"), dev_number("1.2.0")
    (7, None)
    """
    _, _, local = version.partition("+")
    match = _LABEL.fullmatch(local)
    return int(match[1]) if match else None


def dev_wheels(folder: Path, distribution: str) -> list[DevWheel]:
    """The ``+dev.N`` wheels of ``distribution`` in ``folder``, oldest first."""
    found = []
    for path in folder.glob("*.whl"):
        try:
            wheel = DevWheel(path)
        except ValueError:  # not ours to judge: the host refuses it with a reason
            continue
        if wheel.distribution == canonicalize_name(distribution) and wheel.number is not None:
            found.append(wheel)
    return sorted(found, key=lambda w: w.number or 0)


def relabel(wheel: Path, number: int, out_dir: Path) -> Path:
    """Write ``wheel`` again into ``out_dir`` as version ``<release>+dev.<number>``.

    Any local label the wheel had is replaced. ``RECORD`` is written anew, with the hash and
    size of every member, as the host checks them.

    :returns: the new wheel's path.
    :raises BuildError: when ``wheel`` has no readable ``.dist-info``.
    """
    _, version, _, _ = parse_wheel_filename(wheel.name)
    new_version = f"{Pep440Version(str(version)).public}+dev.{number}"
    stem, _, tags = wheel.name.removesuffix(".whl").partition("-")
    tags = tags.partition("-")[2]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{stem}-{new_version}-{tags}.whl"
    with zipfile.ZipFile(wheel) as source:
        old_info = _dist_info(source, wheel)
        new_info = (
            f"{old_info.removesuffix('.dist-info').rpartition('-')[0]}-{new_version}.dist-info"
        )
        members = [
            (_renamed(info.filename, old_info, new_info), info, source.read(info))
            for info in source.infolist()
            if not info.is_dir() and info.filename != f"{old_info}/RECORD"
        ]
    members = [
        (name, info, _metadata(data, new_version) if name == f"{new_info}/METADATA" else data)
        for name, info, data in members
    ]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for name, info, data in members:
            out.writestr(_info(name, info), data)
        record = f"{new_info}/RECORD"
        out.writestr(_info(record, None), _record(members, record))
    return target


def _dist_info(source: zipfile.ZipFile, wheel: Path) -> str:
    roots = {n.split("/", 1)[0] for n in source.namelist() if n.endswith(".dist-info/METADATA")}
    if len(roots) != 1:
        raise BuildError("the built wheel has no single .dist-info/METADATA", path=wheel)
    return roots.pop()


def _renamed(name: str, old: str, new: str) -> str:
    return new + name[len(old) :] if name.startswith(old + "/") else name


def _metadata(data: bytes, version: str) -> bytes:
    headers, sep, body = data.partition(b"\n\n")
    lines = [
        f"Version: {version}".encode() if line.startswith(b"Version:") else line
        for line in headers.split(b"\n")
    ]
    return b"\n".join(lines) + sep + body


def _info(name: str, like: zipfile.ZipInfo | None) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, like.date_time if like else (1980, 1, 1, 0, 0, 0))
    info.external_attr = like.external_attr if like else 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _record(members: Iterable[tuple[str, zipfile.ZipInfo, bytes]], record: str) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")  # quotes a name with a comma, as RECORD does
    for name, _, data in members:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        writer.writerow([name, f"sha256={digest}", len(data)])
    writer.writerow([record, "", ""])
    return text.getvalue()
