"""The status document: ``home/status.json``, what a running host shows to the CLI.

The registry holds what a restart needs; this document holds what an operator asks about
(failed plugins and why, the problems, the history, recent events). The host rewrites it whole,
through :class:`~pluginhost.state.store.AtomicJsonFile`, under its lock after every change, so a
reader in another process always sees one consistent snapshot. Every string in it is bounded
(see :mod:`pluginhost.state.bounds`): a wheel's field quoted by a refusal cannot make it grow.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from ..model.errors import PluginHostError
from ..model.events import Event
from ..model.names import PluginName
from ..model.pacing import pace
from ..model.problems import Problem, Requirement
from ..model.status import HistoryEntry, PluginInfo, PluginStatus
from ..state.bounds import FIELD_LIMIT, bound_strings, bound_text
from ..state.kept import Kept
from ..state.store import AtomicJsonFile, canonical

if TYPE_CHECKING:
    from .host import PluginHost
    from .view import View

__all__ = [
    "STATUS_FILE",
    "StatusWriter",
    "document",
    "event_json",
    "history_json",
    "info_json",
    "problem_json",
]

logger = logging.getLogger("pluginhost")

STATUS_FILE: Final = "status.json"
FORMAT: Final = 1
RECENT_EVENTS: Final = 50


class StatusWriter:
    """Keeps the recent events and writes the status document of one host.

    :param home: the host's home; the document is ``home/status.json``.
    """

    def __init__(self, home: Path) -> None:
        # Rewritten after every change and at every start: syncing it to disk and keeping a
        # backup copy cost as much as committing the registry, for a document nothing restores.
        self._file = AtomicJsonFile(home / STATUS_FILE, durable=False)
        self._events: collections.deque[Event] = collections.deque(maxlen=RECENT_EVENTS)
        # Each recent event's JSON data, made when a document first shows it, by the event's
        # id (the event kept with it, so that no id is reused while it is here): a document is
        # written after every change, and describing the fifty events again each time was
        # wasted; describing each when recorded cost a start hundreds of descriptions.
        self._described: dict[int, tuple[Event, dict[str, Any]]] = {}
        # Each plugin's entry as text, kept while its snapshot, history and backups are the
        # very objects of the last view: a change re-encodes only the plugins it touched, and
        # finds them in C, not in a loop over a host's thousand (see state/kept.py).
        self._entries: Kept[str, PluginInfo, str] = Kept()
        # The plugins' names sorted as canonical JSON sorts keys, for the names of the last
        # view: a swap does not change them.
        self._sorted: tuple[list[str], list[int]] = ([], [])
        # The other entries (load order, graph, problems...) as text, with the value each was
        # made from: comparing a thousand-plugin graph with the last one runs at C speed,
        # bounding and encoding it again did not.
        self._parts: dict[str, tuple[object, str]] = {}

    def record(self, event: Event) -> None:
        """An event bus subscriber: remember the event for the next document."""
        self._events.append(event)

    def publish(self, host: PluginHost, view: View) -> None:
        """Write the document for ``host`` now; call with the host's lock held.

        :param view: the host's view, whose plugins' entries are written.

        Never raises: the document is for people, and failing to write it must not fail the
        change that was just committed.
        """
        pace()  # after the audit log's anchor, and the change before it
        try:
            text = self._text(host, view)
            pace()
            self._file.write_canonical(text)
        except Exception:
            logger.exception("cannot write %s", self._file.path)

    def _text(self, host: PluginHost, view: View) -> str:
        """The document as canonical JSON, byte for byte ``canonical(bound_strings(document(
        host, events)))``, with the entries of unchanged plugins taken from the last one."""
        doc = document(host, self._events_json(), plugins=False, graph=False)
        pace()
        names = list(view.plugins)
        histories: list[object] = list(map(view.history.get, names))
        backups: list[object] = list(map(view.backups.get, names))

        def entry(name: str, info: PluginInfo) -> str:
            data = _plugin_json(info, view.status(PluginName(name)))
            # With the comma that follows the entry before it: the entries go into one join.
            return "," + canonical(bound_text(name)) + ":" + _bounded(data)

        texts = self._entries.results(
            names, list(view.plugins.values()), entry, also=(histories, backups)
        )
        pace()
        parts = {k: self._part(k, v) for k, v in doc.items()}
        # Kept while the load order and the plan's graph are equal to the last ones (compared
        # in C): working out the active graph walks every plugin.
        parts["graph"] = self._part(
            "graph", (view.order, view.planned), lambda _: _graph_json(view.graph)
        )
        entries = list(map(texts.__getitem__, self._sorted_order(names)))
        if entries:
            entries[0] = entries[0][1:]
        parts["plugins"] = ""  # in its place among the keys, written below
        pieces: list[str] = []
        for key in sorted(parts):
            pieces += ("," if pieces else "{", canonical(key), ":")
            if key == "plugins":
                pieces += ("{", *entries, "}")
            else:
                pieces.append(parts[key])
        pieces.append("}")
        # One join: the document of a thousand plugins is most of a megabyte, and each copy of
        # it cost a good part of a millisecond.
        return "".join(pieces)

    def _events_json(self) -> list[dict[str, Any]]:
        """The recent events as :func:`event_json` gives them, each made once."""
        events = list(self._events)  # a copy in C: the bus appends from other threads
        last, made = self._described, {}
        for event in events:
            kept = last.get(id(event))
            made[id(event)] = kept if kept and kept[0] is event else (event, event_json(event))
        self._described = made
        return [made[id(event)][1] for event in events]

    def _sorted_order(self, names: list[str]) -> list[int]:
        """The positions of ``names`` in the order canonical JSON sorts their keys: by the
        bounded key itself, not by its encoding."""
        if names != self._sorted[0]:
            order = sorted(range(len(names)), key=lambda i: bound_text(names[i]))
            self._sorted = (names, order)
        return self._sorted[1]

    def _part(self, key: str, value: object, to_json: Callable[[Any], object] = lambda v: v) -> str:
        last = self._parts.get(key)
        if last is not None and last[0] == value:
            return last[1]
        text = _bounded(to_json(value))
        self._parts[key] = (value, text)
        return text


def _bounded(data: object) -> str:
    """``canonical(bound_strings(data))`` for data whose keys are all text (the document's
    entries and parts), with the walk that bounds each string taken only when the text is
    longer than a field may be: no string in a shorter one is longer. At a start among 1,000
    plugins, their document took 27-29 ms with every entry walked, 19-20 ms so."""
    text = canonical(data)
    return text if len(text) <= FIELD_LIMIT else canonical(bound_strings(data))


def _graph_json(graph: Mapping[str, tuple[str, ...]]) -> dict[str, list[str]]:
    return {name: list(deps) for name, deps in graph.items()}


def document(
    host: PluginHost, events: list[dict[str, Any]], *, plugins: bool = True, graph: bool = True
) -> dict[str, Any]:
    """The status document's data for ``host`` (without its ``plugins`` entry if not
    ``plugins``, nor its ``graph`` if not ``graph``: the writer encodes those itself).

    :param events: the recent events, each as :func:`event_json` gives it.
    """
    doc = {
        "format": FORMAT,
        "project": host.project,
        "pid": os.getpid(),
        "updated": time.time(),
        "load_order": list(host.load_order()),
        "problems": [problem_json(p) for p in host.problems()],
        "events": events,
    }
    if graph:
        doc["graph"] = _graph_json(host.dependency_graph())
    if plugins:
        doc["plugins"] = {
            name: _plugin_json(info, _status(host, info)) for name, info in host.plugins.items()
        }
    return doc


def _status(host: PluginHost, info: PluginInfo) -> PluginStatus:
    try:
        return host.status(info.name)
    except PluginHostError:
        # Gone between the two reads: the next document will not list it.
        return PluginStatus(info, (), ())


def _plugin_json(info: PluginInfo, status: PluginStatus) -> dict[str, Any]:
    data = info_json(info)
    return {
        **data,
        "history": [history_json(h) for h in status.history],
        "backups": list(status.backups),
    }


def info_json(info: PluginInfo) -> dict[str, Any]:
    """A :class:`PluginInfo` as JSON data."""
    return {
        "name": info.name,
        "version": info.version,
        "state": str(info.state),
        "origin": info.origin,
        "distribution": info.distribution,
        "display": info.display,
        "entry_points": list(info.entry_points),
        "requires": dict(info.requires),
        "optional": dict(info.optional),
        "site_dir": str(info.site_dir) if info.site_dir is not None else None,
        "sha256": info.sha256,
        "error": info.error,
        "pinned": info.pinned,
        "isolation": info.isolation,
        "pid": info.pid,
        "restarts": info.restarts,
        "limits": attrs.asdict(info.limits) if info.limits is not None else None,
        "quarantined": info.quarantined,
    }


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    """A :class:`HistoryEntry` as JSON data."""
    return {
        "version": entry.version,
        "outcome": entry.outcome,
        "time": entry.time,
        "sha256": entry.sha256,
        "error": entry.error,
    }


def problem_json(problem: Problem) -> dict[str, Any]:
    """A :class:`Problem` as JSON data."""
    return {
        "kind": str(problem.kind),
        "plugin": problem.plugin,
        "message": problem.message,
        "involved": list(problem.involved),
        "version": problem.version,
        "path": problem.path,
        "requirement": _requirement_json(problem.requirement),
    }


def _requirement_json(requirement: Requirement | None) -> dict[str, Any] | None:
    if requirement is None:
        return None
    return {
        "plugin": requirement.plugin,
        "version": requirement.version,
        "requires": requirement.requires,
        "constraint": requirement.constraint,
        "available": list(requirement.available),
        "chosen": requirement.chosen,
    }


def event_json(event: Event) -> dict[str, Any]:
    """An :class:`Event` as the status document shows it."""
    return {
        "kind": str(event.kind),
        "plugin": event.plugin,
        "distribution": event.distribution,
        "version": event.version,
        "previous_version": event.previous_version,
        "error": event.error,
        "time": event.time,
        "text": event.describe(),
    }
