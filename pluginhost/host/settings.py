"""Host configuration files for ``pluginhost run``: a ``[pluginhost]`` table in
``pluginhost.toml``, or ``[tool.pluginhost]`` in a ``pyproject.toml``.

Example::

    [pluginhost]
    project = "greeter"
    specs = ["hookspecs.greeter:GreeterSpec"]   # "module:attr" or "module"
    home = "greeter-home"                       # relative to this file
    watch = ["wheels"]
    api_version = "1.4.0"

    [pluginhost.policy]
    allow_prerelease = false

    [pluginhost.timeouts]
    import = 30

    [pluginhost.limits]                         # see WheelLimits
    max_total_size = 67108864

Every error names the file and the key, so that an operator can fix it without reading code.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, TypeVar, get_args

import attrs

from ..discover.archive import WheelLimits
from ..discover.trust import TrustMode
from ..model.errors import PluginHostError, VersionError
from ..model.policy import VersionPolicy
from ..model.versions import parse_version
from ..swap.transition import Timeouts
from .engine import BreakingChange
from .host import PluginHost

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

__all__ = ["ConfigError", "HostConfig"]

_T = TypeVar("_T")

_KEYS: Final = frozenset(
    {
        "project",
        "specs",
        "home",
        "watch",
        "api_version",
        "environment",
        "policy",
        "timeouts",
        "keep_backups",
        "breaking_change",
        "persist_state",
        "polling",
        "settle",
        "rescan_interval",
        "include",
        "exclude",
        "max_depth",
        "trust",
        "trust_file",
        "strict_modes",
        "limits",
    }
)
_LIMIT_KEYS: Final = frozenset(f.name for f in attrs.fields(WheelLimits))
_POLICY_KEYS: Final = frozenset({"allow_prerelease", "allow_downgrade"})
# TOML cannot spell ``import_`` naturally; the file says ``import``.
_TIMEOUT_KEYS: Final = {
    "import": "import_",
    "activate": "activate",
    "health": "health",
    "drain": "drain",
}


class ConfigError(PluginHostError):
    """A configuration file is unreadable or one of its keys is wrong.

    :param key: the dotted key at fault (``pluginhost.timeouts.drain``), when one is.
    """

    def __init__(self, reason: str, *, path: str | Path, key: str | None = None) -> None:
        self.key = key
        super().__init__(f"{key}: {reason}" if key else reason, path=path)


@attrs.frozen
class HostConfig:
    """What ``pluginhost run`` needs to build a :class:`~pluginhost.PluginHost`.

    Paths are absolute, resolved against the configuration file's folder.
    """

    path: Path
    project: str
    specs: tuple[str, ...] = ()
    home: Path | None = None
    watch: tuple[Path, ...] = ()
    api_version: str = "1.0.0"
    environment: bool = True
    policy: VersionPolicy = VersionPolicy()
    timeouts: Timeouts = Timeouts()
    keep_backups: int = 3
    breaking_change: BreakingChange = "reject"
    persist_state: bool = False
    polling: bool = False
    settle: float = 0.3
    rescan_interval: float = 30.0
    include: tuple[str, ...] = ("*.whl",)
    exclude: tuple[str, ...] = ()
    max_depth: int = 0
    trust: TrustMode = "permissions"
    trust_file: Path | None = None
    strict_modes: bool = True
    limits: WheelLimits = WheelLimits()

    @classmethod
    def from_file(cls, path: str | Path) -> HostConfig:
        """Read a ``pluginhost.toml`` or a ``pyproject.toml``.

        :raises ConfigError: naming the file and the key at fault.
        """
        file = Path(path).resolve()
        try:
            document = tomllib.loads(file.read_text("utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror or exc}", path=file) from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"not valid TOML: {exc}", path=file) from exc
        prefix, table = _root_table(document, file)
        return _Reader(file, prefix, table).config()

    @property
    def resolved_home(self) -> Path:
        """The home the host will use (the host's own default when none is configured)."""
        return self.home if self.home is not None else Path(".pluginhost", self.project).resolve()

    def load_specs(self) -> list[types.ModuleType | type]:
        """Import the hookspec modules and classes named by ``specs``.

        :raises ConfigError: when one cannot be imported, naming it.
        """
        return [_import_spec(spec, self.path) for spec in self.specs]

    def make_host(self) -> PluginHost:
        """A host built from this configuration (not started).

        :raises ConfigError: when a hookspec cannot be imported or declares no hooks.
        """
        specs = self.load_specs()
        try:
            return self._host(specs)
        except ValueError as exc:  # pluggy: a spec without hooks of this project
            hint = f"{exc} (name a class: 'module:Class')"
            raise ConfigError(hint, path=self.path, key="specs") from exc

    def _host(self, specs: list[types.ModuleType | type]) -> PluginHost:
        return PluginHost(
            self.project,
            specs=specs,
            home=self.resolved_home,
            watch=self.watch,
            api_version=self.api_version,
            policy=self.policy,
            environment=self.environment,
            include=self.include,
            exclude=self.exclude,
            max_depth=self.max_depth,
            polling=self.polling,
            settle=self.settle,
            rescan_interval=self.rescan_interval,
            timeouts=self.timeouts,
            keep_backups=self.keep_backups,
            breaking_change=self.breaking_change,
            persist_state=self.persist_state,
            trust=self.trust,
            trust_file=self.trust_file,
            strict_modes=self.strict_modes,
            limits=self.limits,
        )


def _root_table(document: Mapping[str, Any], file: Path) -> tuple[str, Mapping[str, Any]]:
    """The ``[pluginhost]`` table, or ``[tool.pluginhost]`` (a pyproject.toml)."""
    tool = document.get("tool")
    if isinstance(tool, Mapping) and "pluginhost" in tool:
        candidates = [("tool.pluginhost", tool["pluginhost"])]
    else:
        candidates = [("pluginhost", document.get("pluginhost"))]
    prefix, table = candidates[0]
    if table is None:
        wanted = "[tool.pluginhost]" if file.name == "pyproject.toml" else "[pluginhost]"
        raise ConfigError(f"has no {wanted} table", path=file)
    if not isinstance(table, Mapping):
        raise ConfigError("must be a table", path=file, key=prefix)
    return prefix, table


def _import_spec(spec: str, file: Path) -> types.ModuleType | type:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure is the config's problem to report
        raise ConfigError(
            f"cannot import {module_name!r}: {type(exc).__name__}: {exc}",
            path=file,
            key="specs",
        ) from exc
    if not attr:
        return module
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ConfigError(f"{module_name!r} has no attribute {attr!r}", path=file, key="specs")
    if not isinstance(target, (type, types.ModuleType)):
        raise ConfigError(f"{spec!r} is not a class or module", path=file, key="specs")
    return target


class _Reader:
    """Reads typed values from the root table, failing with the dotted key."""

    def __init__(self, file: Path, prefix: str, table: Mapping[str, Any]) -> None:
        self.file = file
        self.prefix = prefix
        self.table = table

    def fail(self, key: str, reason: str) -> ConfigError:
        return ConfigError(reason, path=self.file, key=f"{self.prefix}.{key}")

    def config(self) -> HostConfig:
        unknown = sorted(set(self.table) - _KEYS)
        if unknown:
            raise self.fail(unknown[0], f"unknown key (known: {', '.join(sorted(_KEYS))})")
        if "project" not in self.table:
            raise self.fail("project", "is required (the pluggy project name, e.g. 'greeter')")
        defaults = HostConfig(path=self.file, project="-")
        return HostConfig(
            path=self.file,
            project=self.get("project", str, defaults.project),
            specs=self.strings("specs", defaults.specs),
            home=self.path("home") if "home" in self.table else None,
            watch=tuple(self.resolve(p) for p in self.strings("watch", ())),
            api_version=self.version("api_version", defaults.api_version),
            environment=self.get("environment", bool, defaults.environment),
            policy=self.policy(),
            timeouts=self.timeouts(),
            keep_backups=self.count("keep_backups", defaults.keep_backups),
            breaking_change=self.breaking_change(),
            persist_state=self.get("persist_state", bool, defaults.persist_state),
            polling=self.get("polling", bool, defaults.polling),
            settle=self.seconds(self.table, "settle", defaults.settle),
            rescan_interval=self.seconds(self.table, "rescan_interval", defaults.rescan_interval),
            include=self.strings("include", defaults.include),
            exclude=self.strings("exclude", defaults.exclude),
            max_depth=self.count("max_depth", defaults.max_depth),
            trust=self.trust(),
            trust_file=self.path("trust_file") if "trust_file" in self.table else None,
            strict_modes=self.get("strict_modes", bool, defaults.strict_modes),
            limits=self.limits(),
        )

    def get(self, key: str, kind: type[_T], default: _T) -> _T:
        value = self.table.get(key, default)
        # bool is an int in Python, never in TOML: keep them apart.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(key, f"must be a {_kind_name(kind)}, not {_kind_name(type(value))}")
        return value

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.table.get(key, list(default))
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "must be a list of strings")
        return tuple(value)

    def resolve(self, text: str) -> Path:
        return (self.file.parent / Path(text).expanduser()).resolve()

    def path(self, key: str) -> Path:
        return self.resolve(self.get(key, str, ""))

    def version(self, key: str, default: str) -> str:
        text = self.get(key, str, default)
        try:
            parse_version(text)
        except VersionError as exc:
            raise self.fail(key, exc.reason) from exc
        return text

    def count(self, key: str, default: int) -> int:
        value = self.get(key, int, default)
        if value < 0:
            raise self.fail(key, "must not be negative")
        return value

    def seconds(
        self, table: Mapping[str, Any], key: str, default: float, *, within: str = ""
    ) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.fail(within + key, "must be a positive number of seconds")
        return float(value)

    def breaking_change(self) -> BreakingChange:
        value = self.get("breaking_change", str, "reject")
        choices = get_args(BreakingChange)
        if value not in choices:
            raise self.fail("breaking_change", f"must be one of {', '.join(choices)}")
        return "cascade" if value == "cascade" else "reject"

    def trust(self) -> TrustMode:
        value = self.get("trust", str, "permissions")
        choices = get_args(TrustMode)
        if value not in choices:
            raise self.fail("trust", f"must be one of {', '.join(choices)}")
        return "hashes" if value == "hashes" else "permissions"

    def limits(self) -> WheelLimits:
        table = self.sub_table("limits", _LIMIT_KEYS)
        values = {}
        for key, value in table.items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise self.fail(f"limits.{key}", "must be a positive integer")
            values[key] = value
        return WheelLimits(**values)

    def sub_table(self, key: str, known: frozenset[str]) -> Mapping[str, Any]:
        table = self.table.get(key, {})
        if not isinstance(table, Mapping):
            raise self.fail(key, "must be a table")
        unknown = sorted(set(table) - known)
        if unknown:
            known_text = ", ".join(sorted(known))
            raise self.fail(f"{key}.{unknown[0]}", f"unknown key (known: {known_text})")
        return table

    def policy(self) -> VersionPolicy:
        table = self.sub_table("policy", _POLICY_KEYS)
        for key, value in table.items():
            if not isinstance(value, bool):
                raise self.fail(f"policy.{key}", "must be true or false")
        return VersionPolicy(**table)

    def timeouts(self) -> Timeouts:
        table = self.sub_table("timeouts", frozenset(_TIMEOUT_KEYS))
        values = {
            _TIMEOUT_KEYS[key]: self.seconds(table, key, 0.0, within="timeouts.") for key in table
        }
        return Timeouts(**values)


def _kind_name(kind: type) -> str:
    return {str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        kind, kind.__name__
    )
