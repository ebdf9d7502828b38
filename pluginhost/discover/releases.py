"""The releases of one project on an index, as a follower sees them: one wheel per version that
this interpreter can install, what was yanked, and what a cached wheel's bytes are.

Pure functions of the index's page and this interpreter's tags (and of what the host trusts
and refused), but for :func:`file_sha256` and :func:`requires_of`, which read a wheel of the
cache.
"""

from __future__ import annotations

import email.message
import email.parser
import functools
import hashlib
import os
import platform
import zipfile
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import BinaryIO, Final

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import sys_tags
from packaging.utils import (
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import Version

from ..model.frozen import frozen
from ..model.problems import Problem, ProblemKind
from ..model.specifiers import checked_applies
from .archive import ZIP_ERRORS, WheelLimits
from .central_directory import directory_refusal
from .index.client import MAX_METADATA_BYTES
from .index.pages import IndexFile

__all__ = [
    "Release",
    "down_to_taken",
    "file_sha256",
    "metadata_verdict",
    "python_fits",
    "releases",
    "requires_in",
    "requires_of",
    "trusted_only",
    "withdrawal_reason",
]


@frozen
class Release:
    """One version of a project: the wheel of it this interpreter prefers.

    :param version: the version, as PEP 440 orders it.
    :param file: the wheel, as the index lists it.
    """

    version: Version
    file: IndexFile

    @property
    def yanked(self) -> bool:
        return self.file.yanked is not None


@functools.cache
def _tag_rank() -> Mapping[object, int]:
    """This interpreter's tags, best first (the order pip prefers them in)."""
    return {tag: rank for rank, tag in enumerate(sys_tags())}


def _python() -> str:
    return platform.python_version()


def _rank(file: IndexFile, project: str) -> tuple[Version, int] | None:
    """The file's version and how much this interpreter prefers it; ``None`` when it is no
    wheel of ``project`` this interpreter can install."""
    try:
        name, version, _build, tags = parse_wheel_filename(file.filename)
    except ValueError:
        # InvalidWheelFilename: a source distribution, or no wheel at all; a version over
        # int()'s digit limit, a ValueError too, failed every poll of the index when raised.
        return None
    if name != project:
        return None
    ranks = [_tag_rank()[t] for t in tags if t in _tag_rank()]
    if not ranks:
        return None
    if file.requires_python and not python_fits(file.requires_python):
        return None
    return version, min(ranks)


def python_fits(requires_python: str) -> bool:
    """Whether this interpreter meets a ``Requires-Python``; an unreadable one is taken as met
    (validation reads the wheel's own, and says what is wrong)."""
    try:
        return SpecifierSet(requires_python).contains(_python(), prereleases=True)
    except ValueError:
        # InvalidSpecifier, and a version over int()'s digit limit, which the specifier parses
        # only when it compares: raised, it failed every poll of the index.
        return True


def releases(project: str, files: Iterable[IndexFile]) -> list[Release]:
    """One release per version that has a wheel for this interpreter, highest version first.

    Of a version's wheels, the one whose tags this interpreter prefers; a version with a wheel
    not yanked is not yanked (PEP 592 yanks files; a release is yanked when all of them are).
    """
    best: dict[Version, tuple[bool, int, IndexFile]] = {}
    for file in files:
        ranked = _rank(file, project)
        if ranked is None:
            continue
        version, rank = ranked
        key = (file.yanked is not None, rank, file)
        if version not in best or key[:2] < best[version][:2]:
            best[version] = key
    return [Release(v, best[v][2]) for v in sorted(best, reverse=True)]


def trusted_only(
    project: str, live: list[Release], trusted: Collection[str] | None, notes: list[Problem]
) -> list[Release]:
    """The releases whose sha256 on the index the trust file lists (all, without
    ``trusted``); a note, in ``notes``, for each newer one it lacks: none is downloaded, so a
    trusted older release serves."""
    if trusted is None:
        return live
    kept = [r for r in live if r.file.sha256 in trusted]
    newer = live[: live.index(kept[0])] if kept else live
    for release in newer:
        notes.append(
            Problem(
                ProblemKind.UNTRUSTED,
                project,
                f"{project} {release.version} on the index: its sha256 "
                f"{release.file.sha256} is not listed in the trust file; not downloaded",
                version=str(release.version),
                path=release.file.url,
            )
        )
    return kept


def down_to_taken(
    admitted: list[Release],
    mine: Mapping[str, Path],
    refused: Collection[str],
    skipped: Collection[str],
) -> list[Release]:
    """The admitted releases from the newest down to the first one neither the host refused
    (``refused``: paths) nor the poll did (``skipped``: file names refused before or at the
    download): a broken newest release must not leave a new host without any."""
    wanted = []
    for release in admitted:
        wanted.append(release)
        name = release.file.filename
        path = mine.get(name)
        if name not in skipped and (path is None or os.path.abspath(path) not in refused):
            break
    return wanted


def withdrawal_reason(file: IndexFile) -> str:
    """What the event and the audit line say of a yanked file: ``yanked`` and its reason."""
    return f"yanked: {file.yanked}" if file.yanked else "yanked"


def file_sha256(path: Path) -> str:
    """The sha256 of a cached wheel, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(functools.partial(f.read, 1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


#: The most ``Requires-Dist`` lines a release's metadata may have: a wheel's default limit.
MAX_REQUIREMENTS: Final = WheelLimits().max_requirements


def requires_of(path: Path) -> dict[NormalizedName, SpecifierSet]:
    """The distributions a cached wheel's ``Requires-Dist`` names for this interpreter (extras
    aside), each with the versions it allows: the follower fetches them from the same index.

    A wheel that cannot be read names none: validation refuses it, and says why. So does one
    whose METADATA is larger than an index may serve on its own (a few kilobytes of deflated
    METADATA could otherwise take gigabytes to read).
    """
    try:
        with open(path, "rb") as handle:
            # Walked first, as validation does: zipfile decodes each entry's extra field in
            # quadratic time, here on the follower's thread.
            if directory_refusal(handle, WheelLimits().max_members) is not None:
                return {}
            handle.seek(0)
            text = _metadata(handle)
            if text is None:
                return {}
    except (*ZIP_ERRORS, RuntimeError):  # RuntimeError: an encrypted member
        # Raised, a corrupt deflate stream (zlib.error) failed every poll of the index.
        return {}
    try:
        return requires_in(text)
    except ValueError:  # too many lines: validation refuses the wheel for them, and says why
        return {}


def _metadata(handle: BinaryIO) -> str | None:
    """The wheel's one METADATA, unless it is larger than an index may serve on its own."""
    with zipfile.ZipFile(handle) as archive:
        infos = [i for i in archive.infolist() if i.filename.endswith(".dist-info/METADATA")]
        # zipfile stops at the declared size, so checking it bounds what is read.
        if len(infos) != 1 or infos[0].file_size > MAX_METADATA_BYTES:
            return None
        return archive.read(infos[0]).decode("utf-8", "replace")


def metadata_verdict(
    text: str, filename: str
) -> tuple[dict[NormalizedName, SpecifierSet], str | None]:
    """The ``Requires-Dist`` (as :func:`requires_in`) of a release's core metadata (PEP
    658/714: what an index serves beside a wheel, read before it), and why this interpreter
    does not take the release (``None`` when it does): its ``Requires-Python``, or more lines
    than it reads."""
    headers = _headers(text)
    try:
        requires = _requires(headers)
    except ValueError as exc:
        return {}, f"{filename}: its metadata {exc}"
    python = headers.get("Requires-Python")
    if python is None or python_fits(python):
        return requires, None
    return requires, f"{filename} requires Python {python} (its metadata)"


def requires_in(text: str) -> dict[NormalizedName, SpecifierSet]:
    """The distributions a METADATA text's ``Requires-Dist`` names for this interpreter
    (extras aside), each with the versions it allows.

    :raises ValueError: when it has more than :data:`MAX_REQUIREMENTS` lines, as a wheel may
        not (:attr:`~pluginhost.WheelLimits.max_requirements`).
    """
    return _requires(_headers(text))


def _requires(headers: email.message.Message) -> dict[NormalizedName, SpecifierSet]:
    lines = headers.get_all("Requires-Dist", [])
    if len(lines) > MAX_REQUIREMENTS:
        # Each line is parsed by packaging: a core metadata file of 4 MiB, 10 kB gzipped,
        # held the poller for a minute of CPU.
        raise ValueError(f"has {len(lines)} Requires-Dist lines, over {MAX_REQUIREMENTS}")
    found: dict[NormalizedName, list[str]] = {}
    for line in lines:
        try:
            requirement = Requirement(line)
            applies = checked_applies(requirement)
        except ValueError:  # InvalidRequirement, a specifier, its marker: validation says why
            continue
        if applies:
            # Two lines on one distribution (under different markers) both hold: joined once
            # at the end (joined line by line, the sets were copied again at each one).
            specifiers = found.setdefault(canonicalize_name(requirement.name), [])
            specifiers.extend(str(s) for s in requirement.specifier)
    return {name: SpecifierSet(",".join(specs)) for name, specs in found.items()}


def _headers(text: str) -> email.message.Message:
    return email.parser.Parser().parsestr(text, headersonly=True)
