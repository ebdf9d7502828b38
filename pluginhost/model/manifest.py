"""The plugin manifest (``plugin.toml``): what a plugin declares about itself.

::

    [plugin]
    name = "polite"            # optional: the entry-point name
    version = "1.1.0"          # optional: the distribution's by default; if stated, must agree
    host = "^1.2"              # optional: constraint on the host's api_version, "*" by default
    isolation = "process"      # optional: run in a worker process ("in-process" by default)
    [plugin.requires]          # plugins that must be present
    hello = "^1.0"
    [plugin.optional]          # plugins that order the load when present
    metrics = ">=0.3"
    [plugin.resources]         # optional: the worker's limits, lowering the host's
    memory_mb = 256            # also cpu_cores, threads, open_files, call_timeout_s (seconds)

Every way a manifest can be unusable is a :class:`ManifestError` naming the file, the plugin and
the dotted key at fault.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from types import ModuleType
from typing import Final, Literal, NoReturn, get_args

import attrs

from .errors import ManifestError, VersionError
from .limits import ResourceLimits
from .names import NAME_RULE, VALID_NAME, PluginName, plugin_name
from .semver_base import SemVer
from .versions import ANY, Constraint, Version, parse_dist_version, parse_version

__all__ = ["MANIFEST_NAME", "MAX_MANIFEST_SIZE", "Isolation", "Manifest", "load_toml_parser"]

MANIFEST_NAME: Final = "plugin.toml"
MAX_MANIFEST_SIZE: Final = 64 * 1024

_PLUGIN_KEYS: Final = ("host", "isolation", "name", "optional", "requires", "resources", "version")
#: Where a plugin's code runs: in the host's process, or in a worker process of its own.
Isolation = Literal["in-process", "process"]
#: Each ``[plugin.resources]`` key, and whether it may be a fraction (seconds) or not (counts).
_RESOURCES: Final = {
    "memory_mb": False,
    "cpu_cores": False,
    "threads": False,
    "open_files": False,
    "call_timeout_s": True,
}
_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")


@attrs.frozen(cache_hash=True)  # immutable, and hashed with every candidate that holds it
class Manifest:
    """A plugin's declaration: its name, version and constraints.

    :param name: normalized plugin name.
    :param version: the plugin's semantic version.
    :param host: constraint on the host's ``api_version``.
    :param requires: plugins that must be present, with constraints.
    :param optional: plugins that order the load when present and are not needed otherwise.
    :param path: where the manifest was read from (``wheel.whl!pkg/plugin.toml``), or ``None``
        when the plugin ships no manifest.
    :param isolation: ``"process"``: the plugin asks to run in a worker process of its own.
    :param resources: the limits it asks for in its worker (each lowers the host's, never
        raises it).
    """

    name: PluginName
    version: Version
    host: Constraint = ANY
    requires: Mapping[PluginName, Constraint] = attrs.field(factory=dict, hash=False)
    optional: Mapping[PluginName, Constraint] = attrs.field(factory=dict, hash=False)
    path: str | None = None
    isolation: Isolation = "in-process"
    resources: ResourceLimits = ResourceLimits()

    @classmethod
    def from_toml(
        cls,
        data: bytes,
        *,
        path: str,
        default_name: str,
        dist_version: str,
        max_size: int = MAX_MANIFEST_SIZE,
    ) -> Manifest:
        """Read a ``plugin.toml``.

        >>> m = Manifest.from_toml(b'[plugin]\\nhost = "^1.2"', path="plugin.toml",
        ...                        default_name="Hello_World", dist_version="1.0")
        >>> m.name, str(m.version), str(m.host)
        ('hello-world', '1.0.0', '^1.2')

        :param path: where ``data`` comes from, for errors and :attr:`path`.
        :param default_name: the entry-point name, used when the manifest names no plugin.
        :param dist_version: the distribution's (PEP 440) version, which the manifest's must match.
        :param max_size: the most bytes accepted.
        :raises ManifestError: naming the file, the plugin when known and the key at fault.
        """
        where = _Where(path, plugin_name(default_name))
        table = _plugin_table(_load(data, max_size, where), where)
        name = _name(table, default_name, where)
        where.plugin = name
        _check_keys(table, where)
        version = _version(table, dist_version, where)
        host = _constraint(table["host"], _dotted("host"), where) if "host" in table else ANY
        requires = _requirements(table, "requires", name, {}, where)
        optional = _requirements(table, "optional", name, requires, where)
        isolation = _isolation(table, where)
        resources = _resources(table, where)
        return cls(name, version, host, requires, optional, path, isolation, resources)

    @classmethod
    def default(cls, *, name: str, dist_version: str, path: str | None = None) -> Manifest:
        """The manifest of a plugin that ships no ``plugin.toml``.

        >>> str(Manifest.default(name="plain", dist_version="2.3").version)
        '2.3.0'

        :raises ManifestError: when the name is invalid or the version has no semver equivalent.
        """
        where = _Where(path, plugin_name(name))
        valid = _valid_name(name, "entry-point name", "name", where)
        return cls(valid, _dist_version(dist_version, where), path=path)


@attrs.define
class _Where:
    """Where errors point: the manifest's path and, once known, the plugin's name."""

    path: str | None
    plugin: str | None

    def fail(
        self,
        reason: str,
        key: str | None = None,
        *,
        cause: Exception | None = None,
        kind: type[ManifestError] = ManifestError,
    ) -> NoReturn:
        raise kind(reason, plugin=self.plugin, path=self.path, key=key) from cause


def load_toml_parser() -> ModuleType:
    """The TOML parser, imported when first needed: a host whose plugins have no manifest
    starts without it.

    tomli, not the standard library's tomllib (the same parser, in pure Python): tomli's
    wheels are compiled with mypyc, and parse a manifest in a third of the time and import
    in two thirds (3.5 against 9.4 us, 1.2 against 2.0 ms, measured on 2026-12-07). A start
    reads the manifest of every plugin of the environment. tomli refuses inline arrays and
    tables nested past a fixed depth with a ``RecursionError``, which :func:`_load` reports.
    """
    import tomli

    parser: ModuleType = tomli
    return parser


def _load(data: bytes, max_size: int, where: _Where) -> dict[str, object]:
    tomllib = load_toml_parser()
    if len(data) > max_size:
        where.fail(f"manifest of {len(data)} bytes is larger than the limit of {max_size} bytes")
    try:
        parsed: dict[str, object] = tomllib.loads(data.decode("utf-8"))
        return parsed
    except UnicodeDecodeError as e:
        where.fail(f"manifest is not UTF-8 (invalid byte at offset {e.start})", cause=e)
    except tomllib.TOMLDecodeError as e:
        # The message carries TOML's "(at line L, column C)".
        where.fail(f"invalid TOML: {e}", cause=e)
    except RecursionError as e:
        where.fail("invalid TOML: nested too deeply", cause=e)
    except ValueError as e:
        # tomllib lets int() refuse an integer of thousands of digits on its own.
        where.fail(f"invalid TOML: {e}", cause=e)


def _plugin_table(document: dict[str, object], where: _Where) -> dict[str, object]:
    for key in document:
        if key != "plugin":
            where.fail(f"unknown key {_show(key)}; the only allowed key is 'plugin'", _key(key))
    if "plugin" not in document:
        where.fail("manifest has no [plugin] table", "plugin")
    return _table(document["plugin"], "plugin", where)


def _check_keys(table: dict[str, object], where: _Where) -> None:
    for key in table:
        if key not in _PLUGIN_KEYS:
            allowed = ", ".join(_PLUGIN_KEYS)
            where.fail(f"unknown key {_show(key)}; allowed keys are {allowed}", _dotted(key))


def _name(table: dict[str, object], default_name: str, where: _Where) -> PluginName:
    if "name" not in table:
        return _valid_name(default_name, "entry-point name", "name", where)
    key = _dotted("name")
    return _valid_name(_string(table["name"], key, where), "name", key, where)


def _valid_name(text: str, what: str, key: str, where: _Where) -> PluginName:
    if not VALID_NAME.fullmatch(text):
        where.fail(f"{what} {_show(text)} is not a valid plugin name: {NAME_RULE}", key)
    return plugin_name(text)


def _version(table: dict[str, object], dist_version: str, where: _Where) -> Version:
    dist = _dist_version(dist_version, where)
    if "version" not in table:
        return dist
    key = _dotted("version")
    text = _string(table["version"], key, where)
    if text == dist_version:
        return dist  # the usual case, spared a second parse and a comparison
    try:
        version = parse_version(text)
    except VersionError as e:
        where.fail(e.reason, key, cause=e, kind=VersionError)
    # Agreement ignores a local label: a local build such as ``1.2.0+dev.3`` (``pluginhost
    # dev``) agrees with a manifest saying ``1.2.0``; a post release does not agree with its
    # release. The distribution's version is the one kept, label and all.
    if not _agrees(version, dist):
        where.fail(
            f"version {_show(text)} disagrees with the distribution version {_show(dist_version)}",
            key,
        )
    return dist


def _agrees(stated: Version, dist: Version) -> bool:
    mine, theirs = stated.pep440, dist.pep440
    if mine is not None and theirs is not None:
        return mine.public == theirs.public
    return SemVer.compare(stated, dist) == 0  # semver's order sees no build metadata


def _dist_version(text: str, where: _Where) -> Version:
    try:
        return parse_dist_version(text)
    except VersionError as e:
        reason = f"the distribution version cannot be a plugin version: {e.reason}"
        where.fail(reason, "version", cause=e, kind=VersionError)


def _requirements(
    table: dict[str, object],
    which: str,
    own: PluginName,
    required: Mapping[PluginName, Constraint],
    where: _Where,
) -> dict[PluginName, Constraint]:
    """Parse ``plugin.requires`` or ``plugin.optional``, given what is ``required`` already."""
    if which not in table:
        return {}  # the common case, and discovery parses hundreds of manifests at a start
    entries = _table(table[which], _dotted(which), where)
    result: dict[PluginName, Constraint] = {}
    for raw, value in entries.items():
        key = _dotted(which, raw)
        name = _valid_name(raw, f"{which} entry", key, where)
        if name == own:
            where.fail(f"plugin {own!r} cannot depend on itself", key)
        if name in result:
            where.fail(f"{name!r} is listed twice under different spellings", key)
        if name in required:
            where.fail(f"{name!r} is both required and optional", key)
        result[name] = _constraint(value, key, where)
    return result


def _isolation(table: dict[str, object], where: _Where) -> Isolation:
    if "isolation" not in table:
        return "in-process"
    key = _dotted("isolation")
    text = _string(table["isolation"], key, where)
    choices: dict[str, Isolation] = {"process": "process", "in-process": "in-process"}
    if text not in choices:
        allowed = " or ".join(map(repr, get_args(Isolation)))
        where.fail(f"must be {allowed}, not {_show(text)}", key)
    return choices[text]


def _resources(table: dict[str, object], where: _Where) -> ResourceLimits:
    if "resources" not in table:
        return ResourceLimits()
    entries = _table(table["resources"], _dotted("resources"), where)
    values: dict[str, int | float] = {}
    for raw, value in entries.items():
        key = _dotted("resources", raw)
        if raw not in _RESOURCES:
            allowed = ", ".join(_RESOURCES)
            where.fail(f"unknown key {_show(raw)}; allowed keys are {allowed}", key)
        fraction = _RESOURCES[raw]
        number = isinstance(value, int | float) if fraction else isinstance(value, int)
        if isinstance(value, bool) or not number:
            what = "a number of seconds" if fraction else "an integer"
            where.fail(f"must be {what}, not {_toml_type(value)}", key)
        assert isinstance(value, int | float)
        if not 0 < value < float("inf"):  # also refuses nan
            where.fail(f"must be a positive finite number, not {value}", key)
        values[raw] = value
    try:
        return ResourceLimits(**values)  # type: ignore[arg-type]
    except ValueError as exc:  # past what a worker can put in force
        where.fail(str(exc), _dotted("resources"), cause=exc)


def _constraint(value: object, key: str, where: _Where) -> Constraint:
    text = _string(value, key, where)
    try:
        return Constraint.parse(text)
    except VersionError as e:
        where.fail(e.reason, key, cause=e, kind=VersionError)


def _table(value: object, key: str, where: _Where) -> dict[str, object]:
    if not isinstance(value, dict):
        where.fail(f"must be a table, not {_toml_type(value)}", key)
    return value


def _string(value: object, key: str, where: _Where) -> str:
    if not isinstance(value, str):
        where.fail(f"must be a string, not {_toml_type(value)}", key)
    return value


def _toml_type(value: object) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    # Never repr() the value itself: it may be nested deeper than repr can recurse.
    return names.get(type(value), type(value).__name__)


def _dotted(*parts: str) -> str:
    """The manifest key ``plugin.<parts>``."""
    return _key("plugin", *parts)


def _key(*parts: str) -> str:
    """A dotted key, each part quoted as TOML would where it is not bare."""
    return ".".join(
        p if _BARE_KEY.fullmatch(p) else json.dumps(p, ensure_ascii=False) for p in parts
    )


def _show(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
