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
from typing import Any

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
from .kept import Kept
from .store import AtomicJsonFile, canonical

__all__ = ["Record", "Registry", "RegistryEncoder", "RegistryFile"]

logger = logging.getLogger("pluginhost")

FORMAT = 1


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
    def from_json(cls, data: Mapping[str, Any]) -> Record:
        site_dir = data["site_dir"]
        if site_dir is not None and not isinstance(site_dir, str):
            # Else a TypeError out of the start, where the site dir is made a path.
            raise TypeError(f"site_dir must be a string or null, not {type(site_dir).__name__}")
        return cls(
            candidate=_candidate_from_json(data["candidate"]),
            site_dir=site_dir,
            top_level=tuple(str(n) for n in data["top_level"]),
            manual=bool(data.get("manual", False)),
            pinned=bool(data.get("pinned", False)),
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
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            return cls(
                active=tuple(Record.from_json(r) for r in data["active"]),
                history={
                    plugin_name(k): tuple(Record.from_json(r) for r in v)
                    for k, v in data["history"].items()
                },
                state={plugin_name(k): v for k, v in data.get("state", {}).items()},
                removed=tuple(plugin_name(n) for n in data.get("removed", [])),
                rejected=tuple(_key(k) for k in data.get("rejected", [])),
                deps=tuple(DepRecord.from_json(d) for d in data.get("deps", [])),
                held=tuple(Record.from_json(r) for r in data.get("held", [])),
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
        name=plugin_name(d["name"]),
        version=parse_dist_version(d["version"]),
        host=Constraint.parse(d["host"]),
        requires={plugin_name(k): Constraint.parse(v) for k, v in d["requires"].items()},
        optional={plugin_name(k): Constraint.parse(v) for k, v in d["optional"].items()},
        path=d["manifest_path"],
        isolation="process" if d.get("isolation") == "process" else "in-process",
        resources=ResourceLimits(**d.get("resources", {})),
    )
    o = d["origin"]
    origin: Origin = (
        WheelOrigin(Path(o["wheel"]), o["sha256"])
        if "wheel" in o
        else InstalledOrigin(o["distribution"], o["location"])
    )
    return Candidate(
        manifest=manifest,
        origin=origin,
        distribution=d["distribution"],
        entry_points=_entry_points_from_json(d, manifest.name),
        requires_dist=tuple(d["requires_dist"]),
        top_level=tuple(d["top_level"]),
        plugin_requires={
            plugin_name(k): DistSpecifier(dist, SpecifierSet(spec))
            for k, (dist, spec) in d.get("plugin_requires", {}).items()
        },
    )


def _entry_points_from_json(d: Mapping[str, Any], name: str) -> tuple[EntryPoint, ...]:
    if "entry_points" in d:
        found = tuple(EntryPoint(str(n), str(v)) for n, v in d["entry_points"])
        if not found:
            raise ValueError(f"plugin {name!r} has no entry point")
        return found
    # Written before a plugin could have several: its one entry point, whose name was not
    # kept, registered under the plugin's name.
    return (EntryPoint(name, d["entry_point"]),)


class RegistryFile:
    """``home/registry.json``: what a restart restores, read at start and rewritten whole, crash
    safe, at every commit (only the records that changed are encoded again).

    :param path: the file.
    """

    def __init__(self, path: Path) -> None:
        self._file = AtomicJsonFile(path)
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
