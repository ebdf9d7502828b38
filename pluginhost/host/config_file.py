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

    [pluginhost.resources]                      # process plugins' ceilings: ResourceLimits
    memory_mb = 512
    call_timeout_s = 5
    [[pluginhost.index]]                        # a package index to follow (see IndexSource)
    url = "https://pypi.example.org/team/plugins/+simple/"
    poll_interval = 30
    rollout = { steps = [[0, 10], [1800, 50], [7200, 100]] }

The file can turn strict modes off and name the folders the host imports from, so it is
checked first, always, as strict modes check a watched folder: owned by this user or root, not
writable by group or others, nor is any folder above it; a link is followed, and the file
reached is checked (:class:`~pluginhost.TrustError` otherwise).

Besides ``project`` and ``specs``, the keys are the fields of :class:`Settings` that carry a
:class:`FileKey`, read by its kind. Every error names the file and the key, so that an operator
can fix it without reading code.
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from ..discover.trust import unsafe_path
from ..model.errors import PluginHostError, SettingsError, TrustError, VersionError
from ..model.frozen import frozen
from ..state.regular import read_small
from .host import PluginHost
from .index_config import read_indexes
from .settings import FileKey, FileKind, Settings, positive_seconds

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

__all__ = ["FILE_KEYS", "ConfigError", "HostConfig"]

#: The settings a file can hold, by key.
_SETTINGS: Final = {
    f.name: f.metadata["file"] for f in attrs.fields(Settings) if "file" in f.metadata
}
#: Every key of the root table: what the host is for, then its settings.
FILE_KEYS: Final = ("project", "specs", *_SETTINGS)
#: The largest configuration file read: a pyproject.toml with a long [tool] section is far
#: smaller.
MAX_CONFIG_SIZE: Final = 4 * 1024 * 1024


class ConfigError(PluginHostError):
    """A configuration file is unreadable or one of its keys is wrong.

    :param key: the dotted key at fault (``pluginhost.timeouts.drain``), when one is.
    """

    def __init__(self, reason: str, *, path: str | Path, key: str | None = None) -> None:
        self.key = key
        super().__init__(f"{key}: {reason}" if key else reason, path=path)


@frozen(kw_only=True)
class HostConfig(Settings):
    """What ``pluginhost run`` needs to build a :class:`~pluginhost.PluginHost`: the file's
    settings, plus the file, the project and the hookspecs it names.

    Paths are absolute, resolved against the configuration file's folder.
    """

    path: Path
    project: str
    specs: tuple[str, ...] = ()

    @classmethod
    def from_file(cls, path: str | Path) -> HostConfig:
        """Read a ``pluginhost.toml`` or a ``pyproject.toml``.

        :raises ConfigError: naming the file and the key at fault.
        :raises TrustError: when the file fails strict modes (:func:`_check_owner`).
        """
        file = Path(path).resolve()  # a link followed: the file it leads to is read
        _check_owner(file)
        try:
            # A regular file only, bounded: a FIFO named by --config blocked every command.
            text = read_small(str(file), max_size=MAX_CONFIG_SIZE).decode("utf-8")
            document = tomllib.loads(text)
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror or exc}", path=file) from exc
        except (ValueError, RecursionError) as exc:
            # TOMLDecodeError and UnicodeDecodeError, and what the parser lets out on hostile
            # input: RecursionError for deep nesting, ValueError for an integer of 5,000 digits.
            raise ConfigError(f"not valid TOML: {exc}", path=file) from exc
        prefix, table = _root_table(document, file)
        return _Reader(file, prefix).config(table)

    @property
    def settings(self) -> Settings:
        """The settings alone, as :class:`~pluginhost.PluginHost` takes them."""
        return Settings(**{name: getattr(self, name) for name in attrs.fields_dict(Settings)})

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
        settings = self.settings.replace(home=self.resolved_home)
        try:
            return PluginHost(self.project, specs, settings=settings)
        except ValueError as exc:  # pluggy: a spec without hooks of this project
            hint = f"{exc} (name a class: 'module:Class')"
            raise ConfigError(hint, path=self.path, key="specs") from exc


def _check_owner(file: Path) -> None:
    """Refuse a configuration file that another user could have written, whatever it says.

    The file can turn strict modes off and name the folders whose wheels the host imports, so
    it gets their checks itself, always, before a key of it applies: the file reached and
    every folder above it owned by this user or root, and not writable by group or others
    (a mallory-owned file of mode 666 made root's host import her wheel).

    :raises TrustError: naming the file and the component at fault.
    """
    reason = unsafe_path(file)
    if reason is not None:
        raise TrustError(f"config file refused by strict_modes: {reason}", path=file)


def _root_table(document: Mapping[str, Any], file: Path) -> tuple[str, Mapping[str, Any]]:
    """The ``[pluginhost]`` table, or ``[tool.pluginhost]`` (a pyproject.toml)."""
    tool = document.get("tool")
    if isinstance(tool, Mapping) and "pluginhost" in tool:
        prefix, table = "tool.pluginhost", tool["pluginhost"]
    else:
        prefix, table = "pluginhost", document.get("pluginhost")
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


class _BadValueError(Exception):
    """A value of the wrong shape; the reader adds the file and the key."""


def _kind_name(value: object) -> str:
    names = {str: "string", bool: "boolean", int: "integer", float: "number"}
    return names.get(type(value), type(value).__name__)


def _typed(kind: type, name: str) -> Callable[[object], Any]:
    def read(value: object) -> Any:
        # bool is an int in Python, never in TOML: keep them apart.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise _BadValueError(f"must be a {name}, not {_kind_name(value)}")
        return value

    return read


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _BadValueError("must be a list of strings")
    return tuple(value)


def _seconds(value: object) -> float:
    if not positive_seconds(value):
        raise _BadValueError("must be a positive number of seconds, a year at most")
    return float(value)  # type: ignore[arg-type]  # positive_seconds checked it


def _positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _BadValueError("must be a positive integer")
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise _BadValueError("must be true or false")
    return value


_string = _typed(str, "string")
#: How the value of each kind is read, before the setting's own conversion and checks.
_SCALARS: Final[dict[FileKind, Callable[[object], Any]]] = {
    "string": _string,
    "version": _string,
    "choice": _string,
    "boolean": _typed(bool, "boolean"),
    "count": _typed(int, "integer"),
    "seconds": _seconds,
    "strings": _strings,
}
#: Within a table (policy, timeouts, limits), where every value must be of one kind.
_ITEMS: Final[dict[FileKind, Callable[[object], Any]]] = {
    "boolean": _flag,
    "seconds": _seconds,
    "count": _positive_int,
}


class _Reader:
    """Reads the settings of one root table, failing with the file and the dotted key."""

    def __init__(self, file: Path, prefix: str) -> None:
        self.file = file
        self.prefix = prefix

    def fail(self, key: str, reason: str) -> ConfigError:
        return ConfigError(reason, path=self.file, key=f"{self.prefix}.{key}")

    def config(self, table: Mapping[str, Any]) -> HostConfig:
        unknown = sorted(set(table) - set(FILE_KEYS))
        if unknown:
            raise self.fail(unknown[0], f"unknown key (known: {', '.join(sorted(FILE_KEYS))})")
        if "project" not in table:
            raise self.fail("project", "is required (the pluggy project name, e.g. 'greeter')")
        settings = Settings()
        for key, spec in _SETTINGS.items():
            if key in table:
                settings = self.apply(settings, key, spec, table[key])
        return HostConfig(
            path=self.file,
            project=self.scalar("project", _string, table["project"]),
            specs=self.scalar("specs", _strings, table.get("specs", [])),
            **{name: getattr(settings, name) for name in attrs.fields_dict(Settings)},
        )

    def apply(self, settings: Settings, key: str, spec: FileKey, value: object) -> Settings:
        """``settings`` with the file's ``value`` for ``key``, checked by the setting too."""
        if spec.kind == "indexes":
            read: object = read_indexes(value, self.fail, functools.partial(self.resolve, key))
        elif spec.kind == "table":
            read = self.table(key, spec, value)
        else:
            read = self.value(key, spec, value)
        try:
            return settings.replace(**{key: read})
        except (SettingsError, VersionError) as exc:
            raise self.fail(key, exc.reason) from exc

    def value(self, key: str, spec: FileKey, value: object) -> object:
        if spec.kind == "path":
            return self.resolve(key, self.scalar(key, _string, value))
        if spec.kind == "paths":
            return tuple(self.resolve(key, p) for p in self.scalar(key, _strings, value))
        read = self.scalar(key, _SCALARS[spec.kind], value)
        choices = attrs.fields_dict(Settings)[key].metadata.get("choices")
        if choices is not None and read not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}")
        return read

    def scalar(self, key: str, read: Callable[[object], Any], value: object) -> Any:
        try:
            return read(value)
        except _BadValueError as exc:
            raise self.fail(key, str(exc)) from None

    def resolve(self, key: str, text: str) -> Path:
        if "\0" in text:  # no path holds one: the file system would refuse it untyped
            raise self.fail(key, "is not a path: it holds a NUL character")
        try:
            return (self.file.parent / Path(text).expanduser()).resolve()
        except (RuntimeError, OSError) as exc:  # a symlink loop; ~user of no such user
            raise self.fail(key, f"cannot be resolved: {exc}") from None

    def table(self, key: str, spec: FileKey, value: object) -> object:
        """A sub-table (``[pluginhost.timeouts]``) as the value type of its setting."""
        kind: Any = type(attrs.fields_dict(Settings)[key].default)
        # TOML cannot spell ``import_`` naturally: the file says ``import``.
        names = {f.name.rstrip("_"): f.name for f in attrs.fields(kind)}
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be a table")
        unknown = sorted(set(value) - set(names))
        if unknown:
            known = ", ".join(sorted(names))
            raise self.fail(f"{key}.{unknown[0]}", f"unknown key (known: {known})")
        assert spec.item is not None  # every table setting names the kind of its values
        read = _ITEMS[spec.item]
        # A key ending in ``_s`` is seconds in a table of counts (``resources.call_timeout_s``).
        values = {
            names[k]: self.scalar(f"{key}.{k}", _seconds if k.endswith("_s") else read, v)
            for k, v in value.items()
        }
        try:
            return kind(**values)
        except ValueError as exc:  # the value's own checks: a limit past what can be enforced
            raise self.fail(key, str(exc)) from None
