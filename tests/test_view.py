"""What readers see, built directly: a View of real candidates, a History, plugin snapshots."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import attrs
import pytest
from strategies import candidate

from pluginhost.host.view import (
    HISTORY_LIMIT,
    History,
    View,
    active_info,
    failed_info,
    plugin_info,
)
from pluginhost.model.errors import HostStateError
from pluginhost.model.names import plugin_name
from pluginhost.model.problems import Problem, ProblemKind
from pluginhost.model.status import PluginState
from pluginhost.state.registry import Record
from pluginhost.swap.members import Active
from pluginhost.swap.switch import Implementations

N = plugin_name
HELLO = candidate("hello", "1.1.0")
POLITE = candidate("polite", "1.0.0", requires={"hello": "^1.0"}, optional={"extra": ">=2"})


class TestView:
    def test_graph_shows_only_active_dependencies(self) -> None:
        """The graph lists each active plugin in load order, with its active dependencies only."""
        view = View(
            order=(N("hello"), N("polite")),
            planned={
                N("polite"): (N("hello"), N("gone")),
                N("hello"): (),
                N("gone"): (N("hello"),),
            },
        )
        assert list(view.graph.items()) == [("hello", ()), ("polite", ("hello",))]

    def test_graph_is_read_only(self) -> None:
        """Readers cannot change the graph they are given."""
        graph = View(order=(N("hello"),)).graph
        with pytest.raises(TypeError):
            graph["x"] = ()  # type: ignore[index]

    def test_status_of_a_plugin(self) -> None:
        """status() gives the snapshot, the history and the backups' versions of a plugin."""
        info = plugin_info(HELLO, PluginState.ACTIVE, None, None)
        history = History()
        history.add("loaded", HELLO)
        old = candidate("hello", "1.0.0")
        view = View(
            order=(N("hello"),),
            plugins=MappingProxyType({"hello": info}),
            history=history.view(),
            backups=MappingProxyType({"hello": (Record(old, "hello-1.0.0-x", ()),)}),
        )
        status = view.status(N("hello"))
        assert status.info == info
        assert [e.outcome for e in status.history] == ["loaded"]
        assert status.backups == ("1.0.0",)

    def test_status_of_an_unknown_plugin_raises(self) -> None:
        """status() of a name nobody knows raises HostStateError naming it once."""
        with pytest.raises(HostStateError, match=r"^no plugin named 'nope'$") as err:
            View().status(N("nope"))
        assert err.value.plugin == "nope"


class TestHistory:
    def test_entries_in_order_with_their_details(self) -> None:
        """Each entry carries the version, outcome, hash and error, oldest first."""
        history = History()
        history.add("loaded", HELLO)
        history.add("failed", HELLO, "boom")
        first, second = history.view()["hello"]
        assert (first.version, first.outcome, first.sha256, first.error) == (
            "1.1.0",
            "loaded",
            HELLO.sha256,
            None,
        )
        assert (second.outcome, second.error) == ("failed", "boom")
        assert first.time <= second.time

    def test_bounded_to_the_latest(self) -> None:
        """Only the latest HISTORY_LIMIT entries of a plugin are kept."""
        history = History()
        for i in range(HISTORY_LIMIT + 5):
            history.add("loaded", HELLO, str(i))
        entries = history.view()["hello"]
        assert len(entries) == HISTORY_LIMIT
        assert entries[0].error == "5"
        assert entries[-1].error == str(HISTORY_LIMIT + 4)

    def test_each_plugin_bounded_on_its_own(self) -> None:
        """A busy plugin does not push another plugin's entries out."""
        history = History()
        history.add("loaded", POLITE)
        for _ in range(HISTORY_LIMIT + 1):
            history.add("loaded", HELLO)
        assert len(history.view()["polite"]) == 1

    def test_view_is_a_copy(self) -> None:
        """A view taken earlier does not see later entries."""
        history = History()
        history.add("loaded", HELLO)
        before = history.view()
        history.add("unloaded", HELLO)
        assert len(before["hello"]) == 1
        assert len(history.view()["hello"]) == 2


def serving(site: Path | None = Path("/home/site/hello-1.1.0")) -> Active:
    """``HELLO`` as the ledger keeps it once it serves (a plugin object with no hooks)."""
    return Active(HELLO, (Implementations("hello", object(), ()),), site, ("hello",))


class TestActiveInfo:
    def test_made_when_there_is_none(self) -> None:
        """Without an earlier snapshot, one is made from the active plugin."""
        info = active_info(serving(), PluginState.ACTIVE, False, None)
        assert info == plugin_info(HELLO, PluginState.ACTIVE, Path("/home/site/hello-1.1.0"), None)

    def test_earlier_snapshot_kept_when_it_says_the_same(self) -> None:
        """The earlier snapshot is reused when nothing it shows changed."""
        last = active_info(serving(), PluginState.ACTIVE, False, None)
        assert active_info(serving(), PluginState.ACTIVE, False, last) is last

    @pytest.mark.parametrize(
        ("state", "pinned", "site", "version"),
        [
            (PluginState.ROLLED_BACK, False, Path("/home/site/hello-1.1.0"), "1.1.0"),
            (PluginState.ACTIVE, True, Path("/home/site/hello-1.1.0"), "1.1.0"),
            (PluginState.ACTIVE, False, Path("/home/site/other"), "1.1.0"),
            (PluginState.ACTIVE, False, Path("/home/site/hello-1.1.0"), "1.0.0"),
        ],
    )
    def test_made_anew_when_something_changed(
        self, state: PluginState, pinned: bool, site: Path, version: str
    ) -> None:
        """A change of state, pin, site dir or version makes a new snapshot."""
        last = attrs.evolve(
            active_info(serving(), PluginState.ACTIVE, False, None), version=version
        )
        info = active_info(serving(site), state, pinned, last)
        assert info is not last
        assert (info.state, info.pinned, info.site_dir, info.version) == (
            state,
            pinned,
            site,
            "1.1.0",
        )


class TestPluginInfo:
    def test_snapshot_of_a_candidate(self) -> None:
        """plugin_info fills the snapshot from the candidate and its manifest."""
        site = Path("/home/site/polite-1.0.0-abc")
        info = plugin_info(POLITE, PluginState.ACTIVE, site, None, pinned=True)
        assert (info.name, info.version, info.state) == ("polite", "1.0.0", PluginState.ACTIVE)
        assert info.origin == str(POLITE.origin)
        assert info.distribution == "polite"
        assert dict(info.requires) == {"hello": "^1.0"}
        assert dict(info.optional) == {"extra": ">=2"}
        assert (info.site_dir, info.sha256, info.pinned) == (site, POLITE.sha256, True)

    def test_failed_with_a_candidate(self) -> None:
        """A failed plugin with a candidate shows that version, the problem's message, no site."""
        problem = Problem(ProblemKind.LOAD_FAILED, "hello", "hello 1.1.0: boom", version="1.1.0")
        info = failed_info("hello", HELLO, problem)
        assert (info.state, info.version, info.error) == (
            PluginState.FAILED,
            "1.1.0",
            "hello 1.1.0: boom",
        )
        assert info.site_dir is None

    def test_failed_without_a_candidate(self) -> None:
        """A failed plugin known only by a problem takes its version and path from it."""
        problem = Problem(
            ProblemKind.MANIFEST_INVALID, "hello", "bad", version="2.0.0", path="/w/h.whl"
        )
        info = failed_info("hello", None, problem)
        assert (info.name, info.version, info.origin, info.error) == (
            "hello",
            "2.0.0",
            "/w/h.whl",
            "bad",
        )
        assert info.state is PluginState.FAILED

    def test_failed_without_version_or_path(self) -> None:
        """Without a version or path in the problem, the snapshot says so with empty text."""
        info = failed_info("hello", None, Problem(ProblemKind.MISSING, "hello", "gone"))
        assert (info.version, info.origin, info.distribution) == ("", "", "")
