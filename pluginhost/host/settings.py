"""The host's settings: one frozen value, each key listed once with its type, default,
validation, documentation and how a configuration file spells it.

:class:`~pluginhost.PluginHost` takes them as keyword arguments or as one ``settings=`` value,
``pluginhost.toml`` / ``[tool.pluginhost]`` is read into one (see ``config_file``), and the
engine works from the host's. A field's ``metadata["file"]`` (a :class:`FileKey`) says how a
configuration file holds it; a field without one cannot be set from a file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final, Literal, get_args

import attrs

from ..discover.archive import WheelLimits
from ..discover.folder import WheelFolderSource
from ..discover.index_settings import IndexSettings
from ..discover.trust import TrustMode
from ..install.site_record import SiteCheck
from ..model.errors import SettingsError, VersionError
from ..model.frozen import frozen
from ..model.limits import ResourceLimits
from ..model.names import plugin_name
from ..model.policy import BreakingChange, VersionPolicy
from ..model.versions import Version, parse_version
from ..swap.transition import Timeouts

__all__ = [
    "FileKey", "FileKind", "HostIsolation", "Settings", "UnknownHooks", "positive_seconds",
    "watched_folders",
]  # fmt: skip

#: How a configuration file spells a setting's value (``config_file`` reads each kind).
FileKind = Literal[
    "string", "boolean", "count", "seconds", "strings", "path", "paths", "version", "choice",
    "table", "indexes",
]  # fmt: skip


#: Where the host runs the plugins of its watched folders (see ``Settings.isolation``).
HostIsolation = Literal["manifest", "process"]

#: What a plugin implementing hooks that no spec knows gets (see ``Settings.unknown_hooks``).
UnknownHooks = Literal["warn", "refuse"]


@frozen
class FileKey:
    """How a configuration file holds one setting.

    :param kind: the shape of its value in TOML.
    :param item: for a ``"table"``, the kind of each of its values.
    """

    kind: FileKind
    item: FileKind | None = None


def _file(kind: FileKind, item: FileKind | None = None) -> dict[str, FileKey]:
    return {"file": FileKey(kind, item)}


#: The longest a time setting may be: a year. ``inf`` or 1e300 seconds passed the check and
#: failed every step with OverflowError (a deadline past what the clock can hold).
MOST_SECONDS: Final = 365 * 24 * 3600.0


def positive_seconds(value: object) -> bool:
    """Whether ``value`` is a positive number of seconds, a year at most (a bool is not a
    number here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return 0 < value <= MOST_SECONDS


def _optional_path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None else Path(value)


def _paths(value: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> tuple[Path, ...]:
    # One folder given alone is one folder, not one per character.
    if isinstance(value, (str, os.PathLike)):
        return (Path(value),)
    return tuple(Path(v) for v in value)


def _strings(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    # Normalized like plugin names, so that "Hello_World" in a file blocks "hello-world".
    return tuple(plugin_name(v) for v in _strings(value))


def _indexes(value: Iterable[IndexSettings]) -> tuple[IndexSettings, ...]:
    # A function, not ``tuple``: attrs reads a converter's signature, and a builtin's is parsed
    # from its text by ``inspect``, whose tokenizer compiles its regexes first: 20 ms of every
    # ``import pluginhost`` on a slow machine, for one line (issue 13).
    return tuple(value)


def _optional_names(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else _names(value)


def _version(settings: object, attribute: attrs.Attribute[str], value: str) -> None:
    # Raises VersionError, as PluginHost always did; an epoch no host constraint could order.
    if not parse_version(value).orderable:
        raise VersionError(f"api_version {value!r} has an epoch, which no host constraint orders")


def _one_of(settings: object, attribute: attrs.Attribute[str], value: str) -> None:
    choices = attribute.metadata["choices"]
    if value not in choices:
        allowed = " or ".join(repr(c) for c in choices)
        raise SettingsError(f"must be {allowed}, not {value!r}", key=attribute.name)


def _count(settings: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"must be an integer, not {value!r}", key=attribute.name)
    if value < 0:
        raise SettingsError("must not be negative", key=attribute.name)


def _seconds(settings: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not positive_seconds(value):
        raise SettingsError(
            "must be a positive number of seconds, a year at most", key=attribute.name
        )


def _bool(settings: object, attribute: attrs.Attribute[bool], value: bool) -> None:
    if not isinstance(value, bool):
        raise SettingsError(f"must be True or False, not {value!r}", key=attribute.name)


def _timeouts(settings: object, attribute: attrs.Attribute[Timeouts], value: Timeouts) -> None:
    # Checked as the configuration file checks them: a negative import timeout waited
    # forever, and a zero one failed every plugin with a traceback.
    if not isinstance(value, Timeouts):
        raise SettingsError(f"must be a Timeouts, not {value!r}", key=attribute.name)
    for field in attrs.fields(Timeouts):
        if not positive_seconds(getattr(value, field.name)):
            key = f"{attribute.name}.{field.name}"
            raise SettingsError("must be a positive number of seconds, a year at most", key=key)


@frozen(kw_only=True)
class Settings:
    """Everything about a :class:`~pluginhost.PluginHost` that a configuration file can say,
    and ``live``. Each field is a keyword argument of ``PluginHost`` of the same name.

    Values are converted as ``PluginHost`` always took them: paths from strings or
    ``os.PathLike``, sequences to tuples. A bad value raises :class:`~pluginhost.SettingsError`
    (a ``ValueError``) naming the key; a bad ``api_version`` raises
    :class:`~pluginhost.VersionError`.

    >>> Settings(keep_backups=5).replace(trust="hashes").trust
    'hashes'
    """

    home: Path | None = attrs.field(default=None, converter=_optional_path, metadata=_file("path"))
    """The host's own directory: site dirs, backups, registry, lock, audit log, status
    document. Default ``./.pluginhost/<project>``. One host per home."""
    watch: tuple[Path, ...] = attrs.field(default=(), converter=_paths, metadata=_file("paths"))
    """Folders of plugin wheels: read at start and, when ``live``, watched for changes."""
    api_version: str = attrs.field(default="1.0.0", validator=_version, metadata=_file("version"))
    """The host API version that plugins' ``host`` constraints are checked against (semver
    or PEP 440)."""
    policy: VersionPolicy = attrs.field(
        default=VersionPolicy(),
        validator=attrs.validators.instance_of(VersionPolicy),
        metadata=_file("table", "boolean"),
    )
    """The version policy: ``allow_prerelease``, ``allow_downgrade``."""
    group: str | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.instance_of(str)),
        metadata=_file("string"),
    )
    """The entry-point group plugins declare themselves in; default ``<project>.plugins``."""
    environment: bool = attrs.field(default=True, validator=_bool, metadata=_file("boolean"))
    """Also load plugins installed in the host's own environment."""
    include: tuple[str, ...] = attrs.field(
        default=("*.whl",), converter=_strings, metadata=_file("strings")
    )
    """Glob patterns a wheel's file name must match to be read in watched folders."""
    exclude: tuple[str, ...] = attrs.field(
        default=(), converter=_strings, metadata=_file("strings")
    )
    """Glob patterns of wheel file names to skip in watched folders."""
    max_depth: int = attrs.field(default=0, validator=_count, metadata=_file("count"))
    """How many levels of subfolders of a watched folder are read (0: the folder only)."""
    follow_symlinks: bool = attrs.field(default=False, validator=_bool, metadata=_file("boolean"))
    """Enter symlinked folders and read symlinked wheels in watched folders."""
    limits: WheelLimits = attrs.field(
        default=WheelLimits(),
        validator=attrs.validators.instance_of(WheelLimits),
        metadata=_file("table", "count"),
    )
    """Bounds on what a wheel may cost to read (members, sizes, compression ratio)."""
    trust: TrustMode = attrs.field(
        default="permissions",
        validator=_one_of,
        metadata={**_file("choice"), "choices": get_args(TrustMode)},
    )
    """``"permissions"``: read any wheel that passes validation (and strict modes);
    ``"hashes"``: only wheels whose sha256 the trust file lists."""
    trust_file: Path | None = attrs.field(
        default=None, converter=_optional_path, metadata=_file("path")
    )
    """The trust file of ``trust="hashes"``; default ``<home>/trusted.txt``."""
    strict_modes: bool = attrs.field(default=True, validator=_bool, metadata=_file("boolean"))
    """Refuse watched folders, wheels, the home and the trust file that are reached through a
    symlink, owned by another user or writable by group or others (like sshd's
    ``StrictModes``); at start, every entry inside the home too."""
    verify_sites: SiteCheck = attrs.field(
        default="size",
        validator=_one_of,
        metadata={**_file("choice"), "choices": get_args(SiteCheck)},
    )
    """How a site dir's files are compared with its RECORD before it is first imported from
    (at start): ``"size"`` (a stat per file) or ``"hash"`` (every byte read and hashed). A site
    dir that differs, or holds a file no RECORD lists, is not imported."""
    # A file cannot say it: ``pluginhost run`` hosts are always live.
    live: bool = attrs.field(default=True, validator=_bool)
    """Watch the folders after start and apply changes as they come; ``False``: read them at
    start only (and by ``install()``)."""
    polling: bool = attrs.field(default=False, validator=_bool, metadata=_file("boolean"))
    """Poll the folders instead of using inotify (for network filesystems)."""
    rescan_interval: float = attrs.field(
        default=30.0, validator=_seconds, metadata=_file("seconds")
    )
    """Seconds between full rescans of the watched folders, which catch missed events."""
    settle: float = attrs.field(default=0.3, validator=_seconds, metadata=_file("seconds"))
    """Seconds a new or changed wheel must stay unchanged before it is read."""
    timeouts: Timeouts = attrs.field(
        default=Timeouts(),
        validator=_timeouts,
        metadata=_file("table", "seconds"),
    )
    """How long imports, lifecycle hooks, health checks and drains may take."""
    keep_backups: int = attrs.field(default=3, validator=_count, metadata=_file("count"))
    """How many earlier versions of each plugin are kept installed for rollback."""
    breaking_change: BreakingChange = attrs.field(
        default="reject",
        validator=_one_of,
        metadata={**_file("choice"), "choices": get_args(BreakingChange)},
    )
    """``"reject"`` an update that an active dependent's constraint excludes, or
    ``"cascade"``: unload that dependent and update."""
    persist_state: bool = attrs.field(default=False, validator=_bool, metadata=_file("boolean"))
    """Save each plugin's exported state in the registry and hand it back at the next start."""

    only: tuple[str, ...] | None = attrs.field(
        default=None, converter=_optional_names, metadata=_file("strings")
    )
    """When set, the only plugins that may load (by name); every other one is reported as
    ``blocked``. ``None``: no allow-list."""
    block: tuple[str, ...] = attrs.field(default=(), converter=_names, metadata=_file("strings"))
    """Plugins that may not load (by name), reported as ``blocked``; ``pluginhost run -p
    no:NAME`` adds to it."""
    unknown_hooks: UnknownHooks = attrs.field(
        default="warn",
        validator=_one_of,
        metadata={**_file("choice"), "choices": get_args(UnknownHooks)},
    )
    """A plugin that implements hooks no spec of the host knows (pluggy's ``check_pending``:
    ``optionalhook`` exempt), or no hook at all (unless the manager announces each plugin
    registered, as pytest's does for its fixtures): ``"warn"`` (it loads; an ``unknown_hooks``
    event and problem name the hooks) or ``"refuse"`` (it is not loaded, for that reason)."""
    application_first: bool = attrs.field(default=False, validator=_bool)
    """With an adopted ``manager``: the host's plugins are called after every plugin the
    application registered itself, as datasette, llm and tox call the plugins they load (they
    register their built-in plugins after them). ``False``: after those it registered before
    the host was made only, and before those it registers afterwards, as if it loaded its
    installed plugins at the moment the host is made (pytest: make the host after
    ``get_config()`` and before ``config.parse()``). See :mod:`pluginhost.swap.placement`."""
    index: tuple[IndexSettings, ...] = attrs.field(
        default=(),
        converter=_indexes,
        validator=attrs.validators.deep_iterable(attrs.validators.instance_of(IndexSettings)),
        metadata=_file("indexes"),
    )
    """Package indexes to follow (``[[pluginhost.index]]`` tables), each as an
    :class:`~pluginhost.IndexSource` takes it: ``url``, ``projects``, ``poll_interval``,
    ``rollout``, ``auth``, ``ca``, ``follow_offsite_redirects``, ``timeout``."""

    isolation: HostIsolation = attrs.field(
        default="manifest",
        validator=_one_of,
        metadata={**_file("choice"), "choices": get_args(HostIsolation)},
    )
    """Where plugins run: ``"manifest"`` (as each plugin's ``plugin.toml`` says, in the host's
    process by default) or ``"process"`` (every plugin from the watched folders in a worker
    process of its own; plugins installed in the environment still follow their manifest)."""
    resources: ResourceLimits = attrs.field(
        default=ResourceLimits(),
        validator=attrs.validators.instance_of(ResourceLimits),
        metadata=_file("table", "count"),
    )
    """The limits of process plugins' workers: ceilings and defaults, which a manifest's
    ``[plugin.resources]`` may lower but never raise (``memory_mb``, ``cpu_cores``,
    ``threads``, ``open_files``, ``call_timeout_s``)."""
    restart_limit: int = attrs.field(default=3, validator=_count, metadata=_file("count"))
    """How many crashes of a process plugin within ``restart_window`` quarantine it (no more
    restarts until an operator brings it back); 0: never restarted."""
    restart_window: float = attrs.field(
        default=300.0, validator=_seconds, metadata=_file("seconds")
    )
    """The window (seconds) in which ``restart_limit`` crashes quarantine a process plugin."""
    state_interval: float = attrs.field(default=10.0, validator=_seconds, metadata=_file("seconds"))
    """How often (seconds) each process plugin's state is exported and kept, for the restart
    after a crash (it is also taken at each swap)."""

    def replace(self, **changes: Any) -> Settings:
        """These settings with some keys changed, converted and checked like a new value.

        :raises TypeError: naming a key that is not a setting.
        :raises SettingsError: when a value is wrong, naming its key.
        """
        unknown = sorted(set(changes) - set(NAMES))
        if unknown:
            raise TypeError(f"unexpected keyword argument {unknown[0]!r}: not a setting")
        return attrs.evolve(self, **changes)

    @property
    def api(self) -> Version:
        """``api_version``, parsed."""
        return parse_version(self.api_version)

    @property
    def site_root(self) -> Path:
        """Where each plugin's isolated site dir lives: ``<home>/site``."""
        return self._home / "site"

    @property
    def staging_root(self) -> Path:
        """Where wheels are installed before they are renamed into place: ``<home>/staging``."""
        return self._home / "staging"

    @property
    def _home(self) -> Path:
        if self.home is None:
            # The host fills it in from the project (``host.settings.home`` is always set).
            raise SettingsError("is not set: the host's default depends on its project", key="home")
        return self.home


#: Every setting's name, in the order of :class:`Settings`.
NAMES: Final = tuple(f.name for f in attrs.fields(Settings))


def watched_folders(settings: Settings) -> tuple[WheelFolderSource, ...]:
    """A source for each folder of ``settings.watch``, with the settings' filters and limits.

    A relative folder is made absolute now, as the home is: the application (or a plugin) may
    change the working directory later, and the folder's watch then saw nothing, silently.
    """
    return tuple(
        WheelFolderSource(
            Path(folder).absolute(),
            include=settings.include,
            exclude=settings.exclude,
            max_depth=settings.max_depth,
            follow_symlinks=settings.follow_symlinks,
            limits=settings.limits,
        )
        for folder in settings.watch
    )
