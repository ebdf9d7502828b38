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

import contextlib
import errno
import hashlib
import io
import os
import re
import shutil
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import attrs

from ..discover.archive import WheelLimits, open_wheel_file, read_wheel_bytes
from ..discover.handover import ValidatedWheel
from ..discover.wheel import WheelInfo, inspect_wheel
from ..model.errors import InstallError, PluginHostError, WheelError
from ..state import fs
from ..state.faults import crash_point

__all__ = ["InstalledSite", "install_wheel", "site_dir_name"]

# What a name or version may look like in a directory name: no separators, no leading dot.
_SAFE_PART: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]*")
_CHUNK: Final = 64 * 1024
_STAMP: Final = ".pluginhost/wheel.sha256"
# Failures of a fresh, private site dir that come from the member names, not from the disk:
# validation refuses such names; a path that outgrows PATH_MAX under a deep home is the rest.
_CANNOT_HOLD: Final = frozenset({errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR, errno.EEXIST})


@attrs.frozen
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


@attrs.frozen
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
    :raises WheelError: when a wheel is refused, changed since the caller read it, or names a
        member the file system cannot hold under ``site_root`` (a path too long).
    :raises InstallError: when the filesystem fails the install.
    """
    original = Path(wheel)
    _check_site_dir_name(name, version, original)
    with _disk("cannot make a staging dir", name, original):
        fs.make_dirs(Path(staging_root))
        staging = fs.make_temp_dir(Path(staging_root), "install-")
    try:
        # Read once and hashed: what is validated and installed are those bytes, whatever
        # becomes of the original meanwhile.
        own = _handed_over(validated, original, expected_sha256) or _private_copy(
            original, staging / "wheels" / "0", expected_sha256, limits, name
        )
        # Extra wheels are validated the same way, all before anything outside staging exists.
        extras = [
            _Copy(extra.info.path, extra.data, extra.info)
            if isinstance(extra, ValidatedWheel)
            else _private_copy(Path(extra), staging / "wheels" / str(i), None, limits, name)
            for i, extra in enumerate(extra_wheels, start=1)
        ]
        sha256 = own.info.sha256
        top_level = tuple(sorted({n for copy in (own, *extras) for n in copy.info.top_level}))
        # Named by content: the same bytes are never installed twice.
        target = Path(site_root) / site_dir_name(name, version, sha256)
        if target.exists():
            _check_stamp(target, sha256, original)
            return InstalledSite(target, sha256, top_level, reused=True)
        # Everything goes into one staged site dir, bytecode not compiled.
        site = staging / "site"
        for copy in (own, *extras):
            _install_copy(copy, site, name)
        with _disk("cannot stamp the site dir", name, original):
            # Private already: every file and directory was made so (install/destination.py).
            _write_stamp(site, sha256)
        crash_point("before_publish", version)
        # One rename makes the site dir appear whole; a concurrent install may have won.
        with _disk("cannot move the site dir into place", name, original):
            reused = _publish(site, target)
        if reused:
            _check_stamp(target, sha256, original)
        return InstalledSite(target, sha256, top_level, reused=reused)
    finally:
        # Copies and any half-installed site go, whatever happened.
        _remove_staging(staging)


def _check_site_dir_name(name: str, version: str, original: Path) -> None:
    # Before any work: name and version come from a manifest, which is not to be trusted.
    try:
        site_dir_name(name, version, "")
    except ValueError as exc:
        raise WheelError(f"cannot name a site dir: {exc}", plugin=name, path=original) from exc


@contextlib.contextmanager
def _disk(action: str, plugin: str, original: Path) -> Iterator[None]:
    """Tell a file system's refusal during ``action`` as an :class:`InstallError`."""
    try:
        yield
    except PluginHostError:
        raise
    except OSError as exc:
        raise InstallError(f"{action}: {fs.describe(exc)}", plugin=plugin, path=original) from exc


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
    original: Path, folder: Path, expected_sha256: str | None, limits: WheelLimits, plugin: str
) -> _Copy:
    """Read a wheel once, check it is the one expected and validate those very bytes.

    A wheel too large to hold in memory is copied into ``folder`` under its own name instead,
    hashed while copied, and validated from the copy.
    """
    with _disk("cannot read the wheel for installing", plugin, original):
        data = read_wheel_bytes(original)
    if data is None:
        return _staged_copy(original, folder, expected_sha256, limits, plugin)
    _check_expected(data.sha256, expected_sha256, original)
    # The bytes are validated under the original's name: its errors already name that file.
    return _Copy(original, data.data, inspect_wheel(original, limits=limits, data=data))


def _staged_copy(
    original: Path, folder: Path, expected_sha256: str | None, limits: WheelLimits, plugin: str
) -> _Copy:
    path = folder / original.name
    with _disk("cannot copy the wheel for installing", plugin, original):
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


def _install_copy(copy: _Copy, site: Path, plugin: str) -> None:
    """Install one validated wheel into ``site`` with installer, from the bytes validated."""
    # Imported here: a host that restores its plugins from their site dirs never needs it.
    from installer import install
    from installer.exceptions import InstallerError
    from installer.sources import WheelFile

    from .destination import private_destination

    destination = private_destination(_scheme_dict(site), sys.executable)
    try:
        with _open_archive(copy) as archive:
            source = WheelFile(archive)
            # Validation hashed every member of these very bytes against RECORD, with a strong
            # hash: installer hashing them again (by writing each to /dev/null, six system calls
            # a member, 120 us for a small wheel) would prove nothing more. Its checks of names
            # and rows stay: they refuse a few rows our validation lets through.
            source.validate_record(validate_contents=False)
            install(source, destination, {"INSTALLER": b"pluginhost\n"})
    except OSError as exc:
        if exc.errno in _CANNOT_HOLD:
            # No retry makes room for this path here: refused for good, like at validation.
            raise WheelError(
                f"the file system cannot hold a member here: {fs.describe(exc)}",
                path=copy.original,
            ) from exc
        raise InstallError(
            f"installing failed: {fs.describe(exc)}", plugin=plugin, path=copy.original
        ) from exc
    except (InstallerError, ValueError, zipfile.BadZipFile) as exc:
        raise WheelError(f"refused by installer: {exc}", path=copy.original) from exc


def _open_archive(copy: _Copy) -> zipfile.ZipFile:
    """The validated wheel as a zip, named as the original (installer parses the file name)."""
    contents = copy.contents
    archive = zipfile.ZipFile(io.BytesIO(contents) if isinstance(contents, bytes) else contents)
    archive.filename = str(copy.original)
    return archive


def _scheme_dict(site: Path) -> dict[str, str]:
    # Only the import root is importable: ".pluginhost" is not a valid module name, so scripts,
    # data and headers under it cannot shadow or be imported as modules.
    hidden = site / ".pluginhost"
    return {
        "purelib": str(site),
        "platlib": str(site),
        "scripts": str(hidden / "scripts"),
        "data": str(hidden / "data"),
        "headers": str(hidden / "headers"),
    }


def _write_stamp(site: Path, sha256: str) -> None:
    stamp = site / _STAMP
    fs.make_dirs(stamp.parent)
    fd = fs.open_new(stamp)
    try:
        fs.write(fd, sha256.encode("ascii") + b"\n", stamp)
    finally:
        os.close(fd)


def _remove_staging(staging: Path) -> None:
    """Remove a work dir; after a published install it is empty, which one ``rmdir`` tells
    (a tree walk is a dozen system calls, each a wait for the interpreter lock under busy
    callers)."""
    try:
        os.rmdir(staging)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)


def _check_stamp(target: Path, sha256: str, original: Path) -> None:
    """Make sure an existing site dir holds this very wheel, not one sharing 8 hex digits."""
    try:
        stamped = (target / _STAMP).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InstallError(f"cannot read the stamp of {target}: {exc}", path=original) from exc
    if stamped != sha256:
        raise InstallError(
            f"{target} holds another wheel (sha256 {stamped}, not {sha256})", path=original
        )


def _publish(site: Path, target: Path) -> bool:
    """Rename the staged site into place; ``True`` when an identical one got there first.

    When ``site/`` is another file system than ``staging/`` (a mount of its own), the staged
    site is copied next to ``target`` first, so that the rename that publishes it stays one
    atomic step on one file system. A crash mid-copy leaves a dot-dir in ``site/`` that the
    next start prunes, as it prunes every site dir nothing names.
    """
    fs.make_dirs(target.parent)
    try:
        fs.rename(site, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV or target.is_dir():
            return _lost_race(target, exc)
        near = fs.make_temp_dir(target.parent, f".{target.name}.incoming-")
        try:
            fs.copy_tree(site, near / "site")
            fs.rename(near / "site", target)
        except OSError as again:
            return _lost_race(target, again)
        finally:
            shutil.rmtree(near, ignore_errors=True)
    return False


def _lost_race(target: Path, exc: OSError) -> bool:
    # Same name means same bytes: a concurrent install's dir is as good as ours.
    if target.is_dir():
        return True
    raise exc
