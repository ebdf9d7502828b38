"""The registry: what is installed and active, kept under ``home/`` across restarts and crashes.

It is written as one document through :class:`~pluginhost.state.store.AtomicJsonFile` after every
committed change, so after a crash at any point a restart finds either the set before the change
or the set after it.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs
from packaging.specifiers import SpecifierSet

from ..model.candidate import (
    Candidate,
    CandidateKey,
    EntryPoint,
    InstalledOrigin,
    Origin,
    WheelOrigin,
)
from ..model.errors import PluginHostError
from ..model.frozen import frozen
from ..model.limits import ResourceLimits
from ..model.manifest import Manifest
from ..model.names import PluginName, plugin_name
from ..model.pacing import pace
from ..model.specifiers import DistSpecifier
from ..model.versions import Constraint, parse_dist_version
from .dependencies import DepRecord
from .fields import array, flag, maybe_text, obj, text, texts
from .kept import Kept
from .store import DOCUMENT_LIMIT, AtomicJsonFile, canonical

__all__ = ["REGISTRY_LIMIT", "Record", "Registry", "RegistryEncoder", "RegistryFile"]

logger = logging.getLogger("pluginhost")

FORMAT = 1
#: The most bytes ``registry.json`` may hold: 0.5 MB for 1,000 plugins, but a persisted state
#: may take 32 MiB (see limits.md), and a commit that would pass it is refused.
REGISTRY_LIMIT: Final = DOCUMENT_LIMIT


@frozen
class Record:
    """One installed version of a plugin: enough to load it again without its wheel.

    :param candidate: what was discovered about it.
    :param site_dir: its site dir, relative to the home's ``site/`` folder (``None`` for
        distributions installed in the environment).
    :param top_level: the top-level names served from the site dir.
    :param manual: whether it was installed with ``host.install()`` rather than found by a source.
    :param pinned: whether the plugin is held at this version (installed below a version on
        offer), until it is unpinned.
    """

    candidate: Candidate
    site_dir: str | None
    top_level: tuple[str, ...]
    manual: bool = False
    pinned: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "candidate": _candidate_to_json(self.candidate),
            "site_dir": self.site_dir,
            "top_level": list(self.top_level),
            "manual": self.manual,
            "pinned": self.pinned,
        }

    @classmethod
    def from_json(cls, data: Any) -> Record:
        """:raises TypeError: naming a field of another type than :meth:`to_json` writes
        (else an untyped error out of the start, where it is used); KeyError, ValueError."""
        data = obj(data, "a record")
        return cls(
            candidate=_candidate_from_json(obj(data["candidate"], "candidate")),
            site_dir=maybe_text(data, "site_dir"),
            top_level=texts(data, "top_level"),
            manual=flag(data, "manual"),
            pinned=flag(data, "pinned"),
        )


@frozen
class Registry:
    """The committed state of a host home.

    :param active: the active plugins, in load order.
    :param history: earlier versions per plugin, most recent first (the rollback backups).
    :param state: each plugin's exported state, when the host persists state, as
        ``{"version": <version that exported it>, "value": <the state>}``.
    :param removed: plugins removed with ``host.remove()``, kept out until installed again.
    :param rejected: versions rolled back from, as ``(name, version, sha256 or origin)``, kept
        out until their bytes change or they are installed again.
    :param deps: the shared dependencies serving the active plugins (absent from documents
        written before they existed: none).
    :param held: versions installed with ``host.install()`` of plugins that are not active
        (disabled, blocked, or failed since): offered again at the next start, so that an
        ``enable`` loads them (without a site dir: installed again from their wheel). Written
        only when there are any.
    """

    active: tuple[Record, ...] = ()
    history: Mapping[PluginName, tuple[Record, ...]] = attrs.field(factory=dict)
    state: Mapping[PluginName, Any] = attrs.field(factory=dict)
    removed: tuple[PluginName, ...] = ()
    rejected: tuple[CandidateKey, ...] = ()
    deps: tuple[DepRecord, ...] = ()
    held: tuple[Record, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "active": [r.to_json() for r in self.active],
            "history": {k: [r.to_json() for r in v] for k, v in sorted(self.history.items())},
            "state": dict(self.state),
            "removed": sorted(self.removed),
            "rejected": [k.to_json() for k in sorted(self.rejected)],
            "deps": [d.to_json() for d in self.deps],
            **({"held": [r.to_json() for r in self.held]} if self.held else {}),
        }

    @classmethod
    def from_json(cls, data: Any, path: Path) -> Registry:
        """Rebuild a registry; a document of another format or shape is a PluginHostError."""
        try:
            data = obj(data, "the registry")
            written = data.get("format")
            if written != FORMAT or isinstance(written, bool):
                raise ValueError(f"unknown format {written!r}")
            return cls(
                active=_records(data, "active"),
                history=_history(obj(data["history"], "history")),
                state={plugin_name(k): v for k, v in obj(data.get("state", {}), "state").items()},
                removed=tuple(map(plugin_name, texts(data, "removed", []))),
                rejected=tuple(map(_key, array(data, "rejected", []))),
                deps=tuple(map(DepRecord.from_json, array(data, "deps", []))),
                held=_records(data, "held", []),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PluginHostError(f"registry is not readable: {exc}", path=path) from exc


class RegistryEncoder:
    """A registry's canonical JSON (:func:`~pluginhost.state.store.canonical` of
    :meth:`Registry.to_json`), re-encoding only the records that changed since the last call.

    A commit used to encode every record of a host of a thousand plugins to change one. A
    record's text is kept while the very record object is given again (found in C, see
    :mod:`.kept`): records are frozen values, and the ledger hands an unchanged plugin's record
    over again, and its backups as the same tuple.
    """

    def __init__(self) -> None:
        self._active: Kept[str, Record, str] = Kept()
        self._history: Kept[PluginName, tuple[Record, ...], str] = Kept()

    def canonical(self, registry: Registry) -> str:
        """The text, byte for byte what ``canonical(registry.to_json())`` gives."""
        records = list(registry.active)
        names = list(map(_NAME_OF, records))
        active = ",".join(self._active.results(names, records, _record_text))
        # In the order canonical JSON sorts keys (plugin names are str).
        plugins = sorted(registry.history)
        backups = list(map(registry.history.__getitem__, plugins))
        history = ",".join(self._history.results(plugins, backups, _history_text))
        rejected = canonical([k.to_json() for k in sorted(registry.rejected)])
        deps = canonical([d.to_json() for d in registry.deps])
        held = f'"held":{canonical([r.to_json() for r in registry.held])},' if registry.held else ""
        return (
            f'{{"active":[{active}],"deps":{deps},"format":{FORMAT},{held}'
            f'"history":{{{history}}},'
            f'"rejected":{rejected},"removed":{canonical(sorted(registry.removed))},'
            f'"state":{canonical(dict(registry.state))}}}'
        )

    @property
    def encoded(self) -> int:
        """How many active records and backup lists the last call encoded: for the tests."""
        return self._active.made + self._history.made


_NAME_OF = operator.attrgetter("candidate.name")


def _record_text(_name: str, record: Record) -> str:
    return canonical(record.to_json())


def _history_text(name: PluginName, records: tuple[Record, ...]) -> str:
    return f"{canonical(name)}:[{','.join(_record_text(name, r) for r in records)}]"


def _records(
    data: Mapping[str, Any], key: str, default: list[Any] | None = None
) -> tuple[Record, ...]:
    return tuple(map(Record.from_json, array(data, key, default)))


def _history(history: Mapping[str, Any]) -> dict[PluginName, tuple[Record, ...]]:
    return {plugin_name(k): _records(history, k) for k in history}


def _key(data: Any) -> CandidateKey:
    key = CandidateKey.from_json(data)
    return key._replace(name=plugin_name(key.name))


def _candidate_to_json(c: Candidate) -> dict[str, Any]:
    m = c.manifest
    origin: dict[str, str]
    if isinstance(c.origin, WheelOrigin):
        origin = {"wheel": str(c.origin.path), "sha256": c.origin.sha256}
    else:
        origin = {"distribution": c.origin.distribution, "location": c.origin.location}
    return {
        "name": m.name,
        "version": str(m.version),
        "host": str(m.host),
        "requires": {k: str(v) for k, v in m.requires.items()},
        "optional": {k: str(v) for k, v in m.optional.items()},
        "manifest_path": m.path,
        **_isolation_to_json(m),
        "origin": origin,
        "distribution": c.distribution,
        "entry_points": [[ep.name, ep.value] for ep in c.entry_points],
        "requires_dist": list(c.requires_dist),
        "top_level": list(c.top_level),
        # Which plugins its Requires-Dist named when it was chosen: a restart loads it in
        # that order and unloads it with them, before any folder is looked at.
        "plugin_requires": {
            k: [v.distribution, str(v.specifier)] for k, v in c.plugin_requires.items()
        },
    }


def _isolation_to_json(m: Manifest) -> dict[str, Any]:
    """A process plugin's isolation and limits; nothing for the others (records written
    before they existed read the same)."""
    if m.isolation == "in-process" and m.resources == ResourceLimits():
        return {}
    limits = {k: v for k, v in attrs.asdict(m.resources).items() if v is not None}
    return {"isolation": m.isolation, "resources": limits}


def _candidate_from_json(d: Mapping[str, Any]) -> Candidate:
    manifest = Manifest(
        name=plugin_name(text(d, "name")),
        version=parse_dist_version(text(d, "version")),
        host=Constraint.parse(text(d, "host")),
        requires=_constraints(d, "requires"),
        optional=_constraints(d, "optional"),
        path=maybe_text(d, "manifest_path"),
        isolation="process" if text(d, "isolation", "in-process") == "process" else "in-process",
        resources=ResourceLimits(**obj(d.get("resources", {}), "resources")),
    )
    return Candidate(
        manifest=manifest,
        origin=_origin_from_json(obj(d["origin"], "origin")),
        distribution=text(d, "distribution"),
        entry_points=_entry_points_from_json(d, manifest.name),
        requires_dist=texts(d, "requires_dist"),
        top_level=texts(d, "top_level"),
        plugin_requires={
            plugin_name(k): _dist_specifier(k, v)
            for k, v in obj(d.get("plugin_requires", {}), "plugin_requires").items()
        },
    )


def _constraints(d: Mapping[str, Any], key: str) -> dict[PluginName, Constraint]:
    found = obj(d[key], key)
    return {plugin_name(k): Constraint.parse(text(found, k)) for k in found}


def _origin_from_json(o: Mapping[str, Any]) -> Origin:
    if "wheel" in o:
        return WheelOrigin(Path(text(o, "wheel")), text(o, "sha256"))
    return InstalledOrigin(text(o, "distribution"), text(o, "location"))


def _dist_specifier(plugin: str, value: Any) -> DistSpecifier:
    if not _is_pair(value):
        raise TypeError(f"plugin_requires of {plugin} must be two strings")
    return DistSpecifier(value[0], SpecifierSet(value[1]))


def _entry_points_from_json(d: Mapping[str, Any], name: str) -> tuple[EntryPoint, ...]:
    if "entry_points" in d:
        pairs = d["entry_points"]
        if not isinstance(pairs, list) or not all(_is_pair(p) for p in pairs):
            raise TypeError("entry_points must be a list of [name, value] strings")
        if not pairs:
            raise ValueError(f"plugin {name!r} has no entry point")
        return tuple(EntryPoint(n, v) for n, v in pairs)
    # Written before a plugin could have several: its one entry point, whose name was not
    # kept, registered under the plugin's name.
    return (EntryPoint(name, text(d, "entry_point")),)


def _is_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)


class RegistryFile:
    """``home/registry.json``: what a restart restores, read at start and rewritten whole, crash
    safe, at every commit (only the records that changed are encoded again).

    :param path: the file.
    """

    def __init__(self, path: Path) -> None:
        self._file = AtomicJsonFile(path, max_size=REGISTRY_LIMIT)
        self._text = RegistryEncoder()

    @property
    def path(self) -> Path:
        return self._file.path

    def read(self) -> Registry:
        """The registry on disk (empty when there is none); a recovery from the backup is
        logged.

        :raises PluginHostError: when neither copy is readable.
        """
        data = self._file.read()
        if self._file.recovered:
            logger.warning("registry: %s", self._file.recovered)
        return Registry.from_json(data, self._file.path) if data is not None else Registry()

    def write(self, registry: Registry) -> None:
        """Commit ``registry``.

        :raises StoreError: when it cannot be written.
        """
        text = self._text.canonical(registry)
        pace()  # encoding a thousand plugins' registry holds the lock; writing it does not
        self._file.write_canonical(text)
