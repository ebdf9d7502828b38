"""The wheel factory: real, valid plugin wheels in about a millisecond, or deliberately broken ones.

Re-exported by :mod:`pluginhost.testing`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from packaging.version import InvalidVersion, Version

from .archive import EXECUTABLE_MODE, FILE_MODE, Draft, Member, write_archive
from .hostile import break_bytes, break_draft, break_filename, check_kind

__all__ = ["WheelFactory"]

_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")


class WheelFactory:
    """Writes real, valid wheels fast (zipfile + correct RECORD), or deliberately broken ones.

    >>> factory = WheelFactory(tmp_path / "wheels")
    >>> factory.build("hello", code="def greet(name): return 'hi'").name
    'hello-1.0.0-py3-none-any.whl'

    :param directory: where wheels are written (created when needed).
    :param group: the entry point group plugins are declared in.
    """

    def __init__(self, directory: str | os.PathLike[str], group: str = "greeter.plugins") -> None:
        self.directory: Final = Path(directory)
        self.group: Final = group

    def build(
        self,
        name: str,
        version: str = "1.0.0",
        *,
        code: str = "",
        module: str | None = None,
        group: str | None = None,
        entry_point: str | None = None,
        more_entry_points: Mapping[str, str] | None = None,
        other_groups: Mapping[str, Mapping[str, str]] | None = None,
        manifest: str | None = None,
        no_manifest: bool = False,
        host: str | None = None,
        requires: Mapping[str, str] | None = None,
        optional: Mapping[str, str] | None = None,
        files: Mapping[str, str | bytes] | None = None,
        requires_dist: Sequence[str] = (),
        requires_python: str | None = None,
        tag: str = "py3-none-any",
        distribution: str | None = None,
        broken: str | None = None,
        filename: str | None = None,
    ) -> Path:
        """Write a wheel for plugin ``name`` and return its path.

        :param name: the plugin (entry point) name; also the distribution name by default.
        :param version: the distribution version (normalized as PEP 440 does:
            ``1.1.0-rc.1`` is ``1.1.0rc1``), and the manifest's (as given).
        :param code: the text of ``<module>/__init__.py``.
        :param module: the package name; defaults to ``name`` with ``-`` and ``.`` as ``_``.
        :param group: the entry point group; defaults to the factory's.
        :param entry_point: the entry point value; defaults to ``module``.
        :param more_entry_points: more entry points in the same group, by name, declared after
            ``name``'s: one distribution, one plugin of several entry points.
        :param other_groups: entry points of other groups, by group then name (a
            ``console_scripts`` command, a plugin of another host).
        :param manifest: the text of ``<module>/plugin.toml``, verbatim.
        :param no_manifest: ship no ``plugin.toml`` at all.
        :param host: the manifest's ``host`` constraint.
        :param requires: the manifest's ``[plugin.requires]`` table.
        :param optional: the manifest's ``[plugin.optional]`` table.
        :param files: more members, by path from the wheel root.
        :param requires_dist: ``Requires-Dist`` lines of METADATA.
        :param requires_python: ``Requires-Python`` of METADATA.
        :param tag: the wheel tag, e.g. ``py3-none-any``.
        :param distribution: the distribution name; defaults to ``name``.
        :param broken: one of :data:`~pluginhost.testing.BROKEN_KINDS`, to write a wheel that
            validation must refuse.
        :param filename: the file name in :attr:`directory`; defaults to the standard one.
        :raises ValueError: when ``broken`` is not one of :data:`~pluginhost.testing.BROKEN_KINDS`,
            or ``version`` is not a PEP 440 version.
        """
        if broken is not None:
            check_kind(broken)
        package = module or re.sub(r"[-.]", "_", name)
        members = [Member(f"{package}/__init__.py", code.encode())]
        if manifest is None and not no_manifest:
            manifest = _manifest(name, version, host, requires, optional)
        if manifest is not None:
            members.append(Member(f"{package}/plugin.toml", manifest.encode()))
        members += [Member(path, _bytes(data), _mode(path)) for path, data in (files or {}).items()]
        metadata = {"Requires-Dist": list(requires_dist)}
        if requires_python is not None:
            metadata["Requires-Python"] = [requires_python]
        release = version if broken is not None or filename is not None else _pep440(version)
        draft = Draft(distribution or name, release, tag, package, members, metadata)
        declared = {name: entry_point or package, **(more_entry_points or {})}
        entry_points = {**(other_groups or {}), group or self.group: declared}
        break_draft(draft, broken)
        data = break_bytes(write_archive(draft, entry_points), broken)
        return self._write(break_filename(filename or draft.filename, broken), data)

    def _write(self, filename: str, data: bytes) -> Path:
        # Written aside and renamed, so a watcher of the folder never sees half a wheel.
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / filename
        temp = self.directory / f".{filename}.tmp"
        temp.write_bytes(data)
        os.replace(temp, path)
        return path


def _pep440(version: str) -> str:
    """``version`` as the distribution's, normalized: semver's ``1.1.0-rc.1`` is ``1.1.0rc1``
    (written as given, its hyphen made a file name every host refused); the manifest keeps it
    as given."""
    try:
        return str(Version(version))
    except InvalidVersion:
        reason = f"{version!r} is not a PEP 440 version, as a distribution's must be"
        raise ValueError(reason) from None


def _mode(path: str) -> int:
    """A member's mode bits in the archive: a ``.data/scripts`` member is executable, as the
    build backends write them (installer makes a script executable only then)."""
    parts = path.split("/")
    scripts = len(parts) > 2 and parts[0].endswith(".data") and parts[1] == "scripts"
    return EXECUTABLE_MODE if scripts else FILE_MODE


def _bytes(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else data


def _manifest(
    name: str,
    version: str,
    host: str | None,
    requires: Mapping[str, str] | None,
    optional: Mapping[str, str] | None,
) -> str:
    """A ``plugin.toml`` with the given fields, in TOML."""
    lines = ["[plugin]", f"name = {_toml_str(name)}", f"version = {_toml_str(version)}"]
    if host is not None:
        lines.append(f"host = {_toml_str(host)}")
    for table, entries in (("requires", requires), ("optional", optional)):
        if entries is not None:
            lines += ["", f"[plugin.{table}]"]
            lines += [f"{_toml_key(key)} = {_toml_str(value)}" for key, value in entries.items()]
    return "\n".join(lines) + "\n"


def _toml_str(value: str) -> str:
    # JSON's string escapes (\", \\, \n, \uXXXX) are all valid in TOML basic strings.
    return json.dumps(value)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_str(key)
