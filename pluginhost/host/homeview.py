"""A host's home as another process reads it: the status document and the registry, read once.

Everything here only reads, and may run while a host works on the home: each report comes from
one document (``status.json``, or the registry when a host never wrote a status), and documents
are replaced atomically, so a report is always one consistent snapshot, never half of a change.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..model.errors import HostStateError, PluginHostError
from ..model.frozen import frozen
from ..model.status import PluginState
from ..state.registry import REGISTRY_LIMIT, Registry
from ..state.store import DOCUMENT_LIMIT, AtomicJsonFile, HomeLock
from .status_shape import check_status
from .statusdoc import STATUS_FILE

__all__ = ["HomeView", "read_document", "read_home", "require_home"]


@frozen
class HomeView:
    """What the documents of a home say, read once.

    :param holder: the pid of the host holding the home's lock, if one does.
    :param status: the status document's data, if it could be read.
    :param registry: the registry's data, if it could be read.
    :param errors: why a document could not be read, by file name.
    :param recovered: why a document's main copy could not be read, by file name, when its
        backup was read instead.
    """

    home: Path
    holder: int | None
    status: Mapping[str, Any] | None
    registry: Mapping[str, Any] | None
    errors: Mapping[str, str] = attrs.field(factory=dict)
    recovered: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def plugins(self) -> Mapping[str, Mapping[str, Any]]:
        """Each plugin the host knows, by name: from the status, or the registry's active set."""
        if self.status is not None:
            plugins: Mapping[str, Mapping[str, Any]] = self.status.get("plugins", {})
            return plugins
        if self.registry is not None:
            return {r["candidate"]["name"]: _record_plugin(r) for r in self.registry["active"]}
        return {}

    @property
    def load_order(self) -> list[str]:
        if self.status is not None:
            return list(self.status.get("load_order", []))
        return list(self.plugins)


def read_document(path: Path) -> Any | None:
    """A checksummed document (main copy, else its backup) without writing anything.

    :raises StoreError: when a copy exists but neither is usable.
    """
    return AtomicJsonFile(path).peek()


def require_home(home: Path) -> None:
    """:raises HostStateError: when ``home`` is not a pluginhost home at all (no host ever
    started on it), as a mistyped ``--home`` is."""
    if not (home / "lock").exists() and not (home / "registry.json").exists():
        raise HostStateError("not a pluginhost home (no lock, no registry.json)", path=home)


def read_home(home: Path, *, lock_errors: bool = False) -> HomeView:
    """Read a home's documents once.

    :param lock_errors: put a lock file that cannot be probed (a FIFO, a directory) in the
        view's ``errors`` under ``lock``, as if no host ran (``pluginhost doctor`` reports it
        among its findings); else it is raised.
    :raises HostStateError: when ``home`` is not a pluginhost home at all, or (unless
        ``lock_errors``) its lock file is not a regular file.
    """
    require_home(home)
    errors: dict[str, str] = {}
    recovered: dict[str, str] = {}
    documents: dict[str, Any] = {}
    # Each with the limit its writer keeps to: a larger copy is unusable, refused unread.
    for name, limit in ((STATUS_FILE, DOCUMENT_LIMIT), ("registry.json", REGISTRY_LIMIT)):
        document = AtomicJsonFile(home / name, max_size=limit)
        try:
            documents[name] = document.peek()
        except PluginHostError as exc:
            errors[name] = exc.reason
        if document.recovered:
            recovered[name] = document.recovered
    try:
        holder = HomeLock.holder(home)
    except HostStateError as exc:
        if not lock_errors:
            raise
        errors["lock"], holder = exc.reason, None
    return HomeView(
        home=home,
        holder=holder,
        status=_checked_status(documents.get(STATUS_FILE), errors),
        registry=_checked_registry(documents.get("registry.json"), home, errors),
        errors=errors,
        recovered=recovered,
    )


def _checked_registry(data: Any | None, home: Path, errors: dict[str, str]) -> Any | None:
    """``data``, or ``None`` when a host could not start from it (a record of the wrong
    shape): named in ``errors``, as an unreadable one is. ``list``, ``status`` and ``graph``
    ended in an internal error on such a registry, and ``doctor`` found it fine."""
    if data is None:
        return None
    try:
        Registry.from_json(data, home / "registry.json")
    except PluginHostError as exc:
        errors["registry.json"] = exc.reason
        return None
    return data


def _checked_status(data: Any | None, errors: dict[str, str]) -> Any | None:
    """``data``, or ``None`` when it is not shaped as a status document: then read as an
    unreadable status is, named in ``errors`` and the registry shown in its place."""
    if data is None:
        return None
    try:
        check_status(data)
    except ValueError as exc:
        errors[STATUS_FILE] = f"unreadable ({exc})"
        return None
    return data


def _record_plugin(record: Mapping[str, Any]) -> dict[str, Any]:
    """A registry record shaped like a status document's plugin entry."""
    c = record["candidate"]
    origin = c["origin"]
    return {
        "name": c["name"],
        "version": c["version"],
        "state": str(PluginState.COMMITTED),
        "origin": origin.get("wheel") or origin.get("distribution", ""),
        "distribution": c["distribution"],
        "requires": c["requires"],
        "optional": c["optional"],
        "site_dir": record["site_dir"],
        "sha256": origin.get("sha256"),
        "error": None,
        "history": [],
        "backups": [],
    }
