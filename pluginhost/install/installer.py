"""Installation: a validated wheel into its own site dir, staged privately, renamed into place.

Nothing is written outside ``staging_root`` before every wheel involved has passed validation, and
nothing outside ``staging_root`` and ``site_root`` is ever written. What is installed is exactly
what was validated: a wheel is read once into memory, hashed, validated and installed from those
bytes (one too large to hold is copied into staging, hashed on the way, and used from the copy).
A wheel discovery validated already is handed over as a
:class:`~pluginhost.discover.handover.ValidatedWheel` and installed from its bytes, with no
further read, hash or validation.

A site dir is named by the plugin wheel's content hash, so the same bytes are never installed
twice, and it appears whole, by one rename, or not at all. The dir name holds 8 hex digits of the
hash; the full digest, stamped inside as ``.pluginhost/wheel.sha256``, is checked before a dir is
reused.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import attrs

from ..discover.archive import WheelLimits, open_wheel_file, read_wheel_bytes
from ..discover.handover import ValidatedWheel
from ..discover.wheel import WheelInfo, inspect_wheel
from ..model.errors import InstallError, WheelError
from ..model.frozen import frozen
from ..state import fs
from .compiled import entry_modules
from .site_writer import STAMP, SiteJob, SiteWrite, StagedWheel, disk_errors, write_site

if TYPE_CHECKING:
    from ..model.candidate import Candidate

__all__ = ["InstalledSite", "candidate_job", "install_wheel", "plugin_job", "site_dir_name"]

# What a name or version may look like in a directory name: no separators, no leading dot.
_SAFE_PART: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]*")
_CHUNK: Final = 64 * 1024


@frozen
class InstalledSite:
    """A plugin's site dir, ready to import from.

    :param path: the site dir, the import root of the plugin and its extra wheels.
    :param sha256: hex digest of the plugin's wheel.
    :param top_level: importable names in the dir (the plugin's and its extra wheels'), sorted.
    :param reused: ``True`` when the dir was already there and nothing was installed.
    """

    path: Path
    sha256: str
    top_level: tuple[str, ...]
    reused: bool


@frozen
class _Copy:
    """A wheel's bytes as validated, and what validation read from them.

    :param original: the wheel file the caller named, named in errors.
    :param contents: the bytes, or for a wheel too large to hold, its private copy in staging.
    :param info: what validation read.
    """

    original: Path
    contents: bytes | Path = attrs.field(repr=False)
    info: WheelInfo


def site_dir_name(name: str, version: str, sha256: str) -> str:
    """The name of a plugin's site dir: one per plugin, version and wheel content.

    >>> site_dir_name("hello", "1.0.0", "0123456789abcdef")
    'hello-1.0.0-01234567'

    :raises ValueError: when ``name`` or ``version`` could not be a single, visible directory name.
    """
    for part in (name, version):
        if not _SAFE_PART.fullmatch(part):
            raise ValueError(f"{part!r} cannot be part of a directory name")
    return f"{name}-{version}-{sha256[:8]}"


def install_wheel(
    wheel: str | os.PathLike[str],
    *,
    site_root: Path,
    staging_root: Path,
    name: str,
    version: str,
    expected_sha256: str | None = None,
    extra_wheels: Sequence[Path | ValidatedWheel] = (),
    limits: WheelLimits = WheelLimits(),
    validated: ValidatedWheel | None = None,
    write: SiteWrite = write_site,
    preload: tuple[str, ...] = (),
) -> InstalledSite:
    """Validate ``wheel`` and its ``extra_wheels`` and install them into one new site dir.

    >>> site = install_wheel(path, site_root=home / "site", staging_root=home / "staging",
    ...                      name="hello", version="1.0.0")
    >>> site.path.name, site.top_level
    ('hello-1.0.0-5a1b2c3d', ('hello_plugin',))

    :param wheel: the plugin's wheel.
    :param site_root: where site dirs live; best on the same file system as ``staging_root``
        (else each site dir is copied once more, beside its final place, before its rename).
    :param staging_root: where private work dirs are made, and always removed again.
    :param name: the plugin's name, for the site dir's name.
    :param version: the plugin's version, for the site dir's name.
    :param expected_sha256: the digest the caller read; other bytes are refused.
    :param extra_wheels: wheels meeting the plugin's ``Requires-Dist``, installed beside it:
        files, or wheels validated already.
    :param limits: bounds on the wheels' member count and sizes.
    :param validated: ``wheel`` as discovery validated it (under the same ``limits``): its
        bytes are installed, the file is not read. Ignored unless it is of this very file
        with ``expected_sha256``.
    :param write: writes the site dir once every wheel is validated: in this process
        (:func:`~.site_writer.write_site`), or in the host's helper process.
    :param preload: the modules whose bytecode the helper process is to send back
        (:mod:`.compiled`).
    :raises WheelError: when a wheel is refused, changed since the caller read it, or names a
        member the file system cannot hold under ``site_root`` (a path too long).
    :raises InstallError: when the filesystem fails the install.
    """
    original = Path(wheel)
    _check_site_dir_name(name, version, original)
    with _Copies(Path(staging_root), name, original) as copies:
        # Read once and hashed: what is validated and installed are those bytes, whatever
        # becomes of the original meanwhile.
        own = _handed_over(validated, original, expected_sha256) or _private_copy(
            original, copies, "0", expected_sha256, limits, name
        )
        # Extra wheels are validated the same way, all before anything outside staging exists.
        extras = [
            _Copy(extra.info.path, extra.data, extra.info)
            if isinstance(extra, ValidatedWheel)
            else _private_copy(Path(extra), copies, str(i), None, limits, name)
            for i, extra in enumerate(extra_wheels, start=1)
        ]
        sha256 = own.info.sha256
        top_level = tuple(sorted({n for copy in (own, *extras) for n in copy.info.top_level}))
        # Named by content: the same bytes are never installed twice.
        target = Path(site_root) / site_dir_name(name, version, sha256)
        if target.exists():
            _check_stamp(target, sha256, original)
            return InstalledSite(target, sha256, top_level, reused=True)
        wheels = tuple(StagedWheel(copy.original, copy.contents) for copy in (own, *extras))
        job = SiteJob(wheels, Path(staging_root), target, name, version, sha256, preload=preload)
        reused = write(job)
        if reused:
            _check_stamp(target, sha256, original)
        return InstalledSite(target, sha256, top_level, reused=reused)


def plugin_job(
    wheel: ValidatedWheel,
    *,
    site_root: Path,
    staging_root: Path,
    name: str,
    version: str,
    preload: tuple[str, ...] = (),
) -> SiteJob:
    """The job that writes the site dir of a plugin wheel validated already, with no extra
    wheels: the job :func:`install_wheel` gives its writer for that wheel.

    :raises ValueError: when ``name`` or ``version`` cannot name a site dir.
    """
    sha256 = wheel.info.sha256
    target = Path(site_root) / site_dir_name(name, version, sha256)
    staged = (StagedWheel(wheel.info.path, wheel.data),)
    return SiteJob(staged, Path(staging_root), target, name, version, sha256, preload=preload)


def candidate_job(
    candidate: Candidate, wheel: ValidatedWheel, *, site_root: Path, staging_root: Path
) -> SiteJob | None:
    """The :func:`plugin_job` of ``candidate``, read from ``wheel``: the job its install gives
    the writer, with the bytecode of its entry modules asked for. The host and the site
    writer (which writes it with the read of a look's wheel) make it alike.

    :returns: ``None`` when the plugin's name or version cannot name a site dir (its install
        refuses it, saying why).
    """
    try:
        return plugin_job(
            wheel,
            site_root=site_root,
            staging_root=staging_root,
            name=candidate.name,
            version=candidate.version_text,
            preload=entry_modules(candidate.entry_points),
        )
    except ValueError:
        return None


class _Copies:
    """The work dir for copies of wheels too large to hold in memory: made when the first
    one needs it (most wheels are held, and each system call on the way costs under busy
    callers), removed at the end whatever happened."""

    def __init__(self, staging_root: Path, plugin: str, original: Path) -> None:
        self._root = staging_root
        self._plugin = plugin
        self._original = original
        self._dir: Path | None = None

    def folder(self, name: str) -> Path:
        if self._dir is None:
            with disk_errors("cannot make a staging dir", self._plugin, self._original):
                fs.make_dirs(self._root)
                self._dir = fs.make_temp_dir(self._root, "copies-")
        return self._dir / name

    def __enter__(self) -> _Copies:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


def _check_site_dir_name(name: str, version: str, original: Path) -> None:
    # Before any work: name and version come from a manifest, which is not to be trusted.
    try:
        site_dir_name(name, version, "")
    except ValueError as exc:
        raise WheelError(f"cannot name a site dir: {exc}", plugin=name, path=original) from exc


def _handed_over(
    validated: ValidatedWheel | None, original: Path, expected_sha256: str | None
) -> _Copy | None:
    """The bytes discovery validated, when they are of ``original`` with the expected hash."""
    if validated is None or validated.info.path != original:
        return None
    if expected_sha256 is not None and validated.info.sha256 != expected_sha256.lower():
        return None
    return _Copy(original, validated.data, validated.info)


def _private_copy(
    original: Path,
    copies: _Copies,
    slot: str,
    expected_sha256: str | None,
    limits: WheelLimits,
    plugin: str,
) -> _Copy:
    """Read a wheel once, check it is the one expected and validate those very bytes.

    A wheel too large to hold in memory is copied under its own name into the folder ``slot``
    of ``copies`` instead, hashed while copied, and validated from the copy.
    """
    with disk_errors("cannot read the wheel for installing", plugin, original):
        data = read_wheel_bytes(original)
    if data is None:
        return _staged_copy(original, copies.folder(slot), expected_sha256, limits, plugin)
    _check_expected(data.sha256, expected_sha256, original)
    # The bytes are validated under the original's name: its errors already name that file.
    return _Copy(original, data.data, inspect_wheel(original, limits=limits, data=data))


def _staged_copy(
    original: Path, folder: Path, expected_sha256: str | None, limits: WheelLimits, plugin: str
) -> _Copy:
    path = folder / original.name
    with disk_errors("cannot copy the wheel for installing", plugin, original):
        sha256 = _copy_hashing(original, path)
    _check_expected(sha256, expected_sha256, original)
    try:
        info = inspect_wheel(path, limits=limits)
    except WheelError as exc:
        # Name the file the caller knows, not our private copy of it.
        raise WheelError(exc.reason, plugin=exc.plugin, path=original) from exc
    return _Copy(original, path, info)


def _check_expected(sha256: str, expected_sha256: str | None, original: Path) -> None:
    if expected_sha256 is not None and sha256 != expected_sha256.lower():
        raise WheelError(
            f"changed since it was read (sha256 {sha256}, expected {expected_sha256})",
            path=original,
        )


def _copy_hashing(source: Path, target: Path) -> str:
    digest = hashlib.sha256()
    fs.make_dirs(target.parent)
    with open_wheel_file(source) as src, fs.create(target) as dst:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            dst.write(chunk)
    return digest.hexdigest()


def _check_stamp(target: Path, sha256: str, original: Path) -> None:
    """Make sure an existing site dir holds this very wheel, not one sharing 8 hex digits."""
    try:
        stamped = (target / STAMP).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InstallError(f"cannot read the stamp of {target}: {exc}", path=original) from exc
    if stamped != sha256:
        raise InstallError(
            f"{target} holds another wheel (sha256 {stamped}, not {sha256})", path=original
        )
