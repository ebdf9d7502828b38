"""The status document's shape, checked where another process reads it: a document of another
shape (checksummed all the same) is read as an unreadable one, never an internal error."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pluginhost import HostSnapshot, PluginState
from pluginhost.cli.commands.graph import graph_report
from pluginhost.cli.commands.list import home_line
from pluginhost.host.doctor import Diagnosis
from pluginhost.host.homeview import read_home
from pluginhost.host.status_shape import check_status
from pluginhost.state.store import AtomicJsonFile

Mutation = Callable[[dict[str, Any]], object]


def _plugin(doc: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = doc["plugins"]["hello"]
    return entry


#: Each way of getting the shape wrong, and the field the reason names.
MUTATIONS: dict[str, tuple[Mutation, str]] = {
    "updated 1e300": (lambda d: d.update(updated=1e300), "$.updated"),
    "updated missing": (lambda d: d.pop("updated"), "no 'updated'"),
    "history time 1e300": (
        lambda d: _plugin(d)["history"][0].update(time=1e300),
        "$.plugins.hello.history[0].time",
    ),
    "unknown state": (lambda d: _plugin(d).update(state="zzz"), "$.plugins.hello.state"),
    "state a list": (lambda d: _plugin(d).update(state=[]), "$.plugins.hello.state"),
    "plugins a list": (lambda d: d.update(plugins=[]), "$.plugins"),
    "entry without name": (lambda d: _plugin(d).pop("name"), "no 'name'"),
    "version an int": (lambda d: _plugin(d).update(version=1), "$.plugins.hello.version"),
    "requires a list": (lambda d: _plugin(d).update(requires=["a"]), "$.plugins.hello.requires"),
    "limits unknown": (lambda d: _plugin(d).update(limits={"x": 1}), "$.plugins.hello.limits"),
    "limits too high": (
        lambda d: _plugin(d).update(limits={"threads": 2**40}),
        "$.plugins.hello.limits",
    ),
    "restarts a bool": (lambda d: _plugin(d).update(restarts=True), "$.plugins.hello.restarts"),
    "problem of unknown kind": (lambda d: d.update(problems=[{"kind": "nope"}]), "$.problems[0]"),
    "problem without message": (
        lambda d: d.update(problems=[{"kind": "missing", "plugin": None}]),
        "no 'message'",
    ),
    "load_order an int": (lambda d: d.update(load_order=5), "$.load_order"),
    "event without plugin": (lambda d: d.update(events=[{"error": "x"}]), "no 'plugin'"),
}


def _forge(home: Path, mutate: Mutation) -> str:
    """Rewrite the status document, checksummed, with one change; the reason it gives."""
    path = home / "status.json"
    data = copy.deepcopy(json.loads(path.read_text())["data"])
    mutate(data)
    AtomicJsonFile(path, durable=False).write(data)
    try:
        check_status(data)
    except ValueError as exc:
        return str(exc)
    raise AssertionError("the forged document passed the check")


class TestCheckStatus:
    def test_written_document_passes(self, stopped_home: Path) -> None:
        """The document a host writes has the shape."""
        check_status(json.loads((stopped_home / "status.json").read_text())["data"])

    @pytest.mark.parametrize("case", MUTATIONS)
    def test_wrong_shape_named(self, stopped_home: Path, case: str) -> None:
        """Each wrong shape is a ValueError naming the field."""
        mutate, field = MUTATIONS[case]
        assert field in _forge(stopped_home, mutate)


class TestReaders:
    @pytest.mark.parametrize("case", MUTATIONS)
    def test_wrong_shape_read_as_unreadable(self, stopped_home: Path, case: str) -> None:
        """The snapshot, doctor and graph read a document of the wrong shape as an unreadable
        one: named in the errors, the registry's plugins shown. Each ended in an internal
        error (OverflowError, ValueError, KeyError, AttributeError, TypeError)."""
        reason = _forge(stopped_home, MUTATIONS[case][0])
        snapshot = HostSnapshot.read(stopped_home)
        assert snapshot.errors["status.json"] == f"unreadable ({reason})"
        assert snapshot.plugins["hello"].info.state is PluginState.COMMITTED
        assert snapshot.updated is None
        assert home_line(snapshot) == (
            f"host not running (status.json unreadable ({reason}): "
            "the registry's plugins are shown)"
        )
        messages = [f.message for f in Diagnosis.read(stopped_home).problems]
        assert f"status.json cannot be read: unreadable ({reason})" in messages
        assert graph_report(read_home(stopped_home))["load_order"] == ["hello"]
