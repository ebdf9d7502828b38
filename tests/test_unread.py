"""Tests for the projects a poll could not read (discover/unread.py): one project's page that
fails is a problem of its own and the poll goes on, through hosts on a static index on
loopback."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import POLL, counter_code, wait_for

from pluginhost import Event, EventKind, PluginHost, ProblemKind
from pluginhost.discover.index.client import MAX_PAGE_BYTES
from pluginhost.testing import WheelFactory
from pluginhost.testkit.static_index import Fault, StaticIndex

HostMaker = Callable[..., PluginHost]

#: What a project's page answers instead of itself, and what the problem says of it.
FAULTS = {
    "5xx": (Fault(status=503), "failed (503 Service Unavailable)"),
    "garbage": (Fault(body=b"{not json"), "is not a readable page: DecodeError"),
    "oversized": (
        Fault(body=b'{"meta": {"api-version": "1.0"}, "files": []}' + b" " * MAX_PAGE_BYTES),
        f"sent the page of polite larger than {MAX_PAGE_BYTES} bytes (its size cap)",
    ),
    "timeout": (Fault(delay=1.5), "did not send the head of its answer within 0.5 s"),
    # A decoder per coding raised a bare RecursionError, which failed the whole poll.
    "stacked-codings": (
        Fault(body=b"\x1f\x8b" * 32, headers=(("Content-Encoding", ",".join(["gzip"] * 2000)),)),
        "sent a body in 2000 stacked content codings",
    ),
}


def answers(host: PluginHost) -> list[str]:
    return sorted(host.hook.greet(name="x"))


def unread(host: PluginHost) -> list[str]:
    return [p.plugin or "" for p in host.problems() if p.kind is ProblemKind.PROJECT_UNAVAILABLE]


def publish(index: StaticIndex, built: WheelFactory) -> None:
    for name, version in (("hello", "1.0.0"), ("hello", "2.0.0"), ("polite", "1.0.0")):
        code = counter_code(f"{name} {version}")
        index.publish(built.build(name, version, code=code))


class TestOnePageUnread:
    @pytest.mark.parametrize("fault", list(FAULTS))
    def test_the_other_projects_are_followed(
        self,
        fault: str,
        static_index: StaticIndex,
        built: WheelFactory,
        follow: HostMaker,
        events: list[Event],
    ) -> None:
        """One project's page answering an HTTP error, garbage, a page over the size cap, in
        2,000 stacked codings, or nothing in time is a ``project_unavailable`` problem naming
        the index, the project and the reason, told once: the poll goes on, a yank of another
        project is applied, and the project's serving version serves on (no yank is inferred
        from its page). It made the whole index unavailable, and the yank waited for that
        page."""
        publish(static_index, built)
        host = follow(static_index, timeout=0.5)
        assert answers(host) == ["hello 2.0.0:1", "polite 1.0.0:1"]
        page = f"{static_index.url}polite/"
        given, reason = FAULTS[fault]
        static_index.fault("/simple/polite/", given)
        static_index.yank("hello", "2.0.0", "broken")
        wait_for(lambda: host.plugins["hello"].version == "1.0.0", timeout=20)
        wait_for(lambda: unread(host) == ["polite"])
        assert answers(host) == ["hello 1.0.0:2", "polite 1.0.0:2"]
        (problem,) = host.problems()
        assert problem.kind is ProblemKind.PROJECT_UNAVAILABLE
        assert problem.path == page
        assert problem.message.startswith(
            f"index {static_index.url}: the page of polite cannot be read ("
        )
        assert reason in problem.message
        time.sleep(POLL * 4)  # a few polls later, still one event
        (told,) = [e for e in events if e.kind is EventKind.PROJECT_UNAVAILABLE]
        assert (told.plugin, told.origin) == ("polite", page)
        assert f"{page}: project 'polite': " in (told.error or "")
        assert not [e for e in events if e.kind is EventKind.INDEX_UNAVAILABLE]
        assert EventKind.UNLOADED not in [e.kind for e in events]
        del static_index.faults["/simple/polite/"]
        wait_for(lambda: any(e.kind is EventKind.PROJECT_AVAILABLE for e in events), timeout=20)
        wait_for(lambda: host.problems() == ())
        kinds = [e.kind for e in events]
        assert kinds.count(EventKind.PROJECT_AVAILABLE) == kinds.count(
            EventKind.PROJECT_UNAVAILABLE
        )

    def test_a_page_unread_at_start_keeps_its_cached_version(
        self,
        static_index: StaticIndex,
        built: WheelFactory,
        follow: HostMaker,
        tmp_path: Path,
    ) -> None:
        """A host restarted while one project's page fails serves that project's cached
        version (held, not pruned, though no page of it was read) and the others' news."""
        publish(static_index, built)
        follow(static_index).stop()
        static_index.fault("/simple/polite/", Fault(status=500))
        static_index.publish(built.build("hello", "3.0.0", code=counter_code("hello 3.0.0")))
        host = follow(static_index)
        wait_for(lambda: host.plugins["hello"].version == "3.0.0")
        host.refresh()
        host.wait_idle(10)
        assert answers(host) == ["hello 3.0.0:1", "polite 1.0.0:1"]
        assert unread(host) == ["polite"]
        cached = sorted(p.name for p in (tmp_path / "home" / "index").glob("*/polite-*.whl"))
        assert cached == ["polite-1.0.0-py3-none-any.whl"]

    def test_an_index_without_a_serial_that_is_down_is_an_outage(
        self, built: WheelFactory, follow: HostMaker, events: list[Event], tmp_path: Path
    ) -> None:
        """An index that sends no serial, followed for named projects (its root is not read
        at each poll), and down as a whole, is an ``index_unavailable`` outage, not a problem
        per project: a page that cannot be reached asks the root once. One page failing while
        the root answers is that project's problem."""
        with StaticIndex(tmp_path / "plain", serial=False) as index:
            publish(index, built)
            host = follow(index, projects=["hello", "polite"])
            index.fault("/simple/polite/", Fault(status=502))
            wait_for(lambda: unread(host) == ["polite"])
            del index.faults["/simple/polite/"]
            wait_for(lambda: host.problems() == ())
            index.stop()
            wait_for(lambda: any(e.kind is EventKind.INDEX_UNAVAILABLE for e in events))
            assert [p.kind for p in host.problems()] == [ProblemKind.INDEX_UNAVAILABLE]
            told = [e.plugin for e in events if e.kind is EventKind.PROJECT_UNAVAILABLE]
            assert told == ["polite"]  # the 502 alone
            index.start()
            wait_for(lambda: any(e.kind is EventKind.INDEX_AVAILABLE for e in events))
            wait_for(lambda: host.problems() == ())


class TestListing:
    @pytest.mark.parametrize(
        ("entry", "shown", "why"),
        [
            ("bad\\u0000name", "bad\\x00name", "with a control character ('\\x00')"),
            ("esc\\u001bname", "esc\\x1bname", "with a control character ('\\x1b')"),
            ("lone\\ud800", "lone\\ud800", "with a lone surrogate ('\\ud800')"),
        ],
        ids=["nul", "escape", "surrogate"],
    )
    def test_an_unfit_name_is_refused_alone(
        self,
        entry: str,
        shown: str,
        why: str,
        static_index: StaticIndex,
        built: WheelFactory,
        follow: HostMaker,
        events: list[Event],
    ) -> None:
        """A root listing naming a project with a NUL, another control character or a lone
        surrogate: that entry alone is a ``project_unavailable`` problem naming the listing,
        the entry (escaped) and why, told once; the rest of the listing counts, and a yank in
        the same poll is applied. The entry failed the whole poll (msgspec refused the listing
        for a lone surrogate; a NUL made its page's URL one httpx refuses)."""
        publish(static_index, built)
        host = follow(static_index)
        assert answers(host) == ["hello 2.0.0:1", "polite 1.0.0:1"]
        names = ", ".join(f'{{"name": "{n}"}}' for n in ("hello", entry, "polite"))
        listing = f'{{"meta": {{"api-version": "1.0"}}, "projects": [{names}]}}'
        static_index.fault("/simple/", Fault(body=listing.encode()))
        static_index.yank("hello", "2.0.0", "broken")
        wait_for(lambda: host.plugins["hello"].version == "1.0.0", timeout=20)
        assert answers(host) == ["hello 1.0.0:2", "polite 1.0.0:2"]
        wait_for(lambda: unread(host) == [shown])
        (problem,) = host.problems()
        assert problem.path == static_index.url
        assert problem.message == (
            f"index {static_index.url}: lists a project named '{shown}', {why}: not followed; "
            "the rest of the listing is followed"
        )
        time.sleep(POLL * 4)  # a few polls later, still one event
        (told,) = [e for e in events if e.kind is EventKind.PROJECT_UNAVAILABLE]
        assert (told.plugin, told.origin) == (shown, static_index.url)
        assert not [e for e in events if e.kind is EventKind.INDEX_UNAVAILABLE]
        del static_index.faults["/simple/"]
        wait_for(lambda: host.problems() == ())


class TestManyPagesUnanswered:
    def test_pages_that_hang_are_asked_a_few_a_poll_in_turn(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """Pages that hang one after another are asked after the others, and once three in a
        row went unanswered, the rest of those the last poll could not read either are left
        for the next poll, in turn: each poll held on for every such page, and the news of
        the projects after them waited as long."""
        publish(static_index, built)
        hanging = [f"a{n}" for n in range(1, 6)]
        for name in hanging:
            static_index.publish(built.build(name, "1.0.0", code=counter_code(name)))
        host = follow(static_index, timeout=0.3)
        for name in hanging:
            static_index.fault(f"/simple/{name}/", Fault(delay=1.0))
        static_index.yank("hello", "2.0.0", "broken")  # a change: the pages are asked again
        wait_for(lambda: sorted(unread(host)) == hanging, timeout=30)
        wait_for(lambda: host.plugins["hello"].version == "1.0.0")
        static_index.requests.clear()
        # Whole polls only: the one under way when the requests were cleared is cut.
        wait_for(lambda: len(_polls(static_index)) > 5, timeout=60)
        asked = [
            [p for p in poll if p.split("/")[2] in hanging] for poll in _polls(static_index)[1:5]
        ]
        assert all(len(pages) == 3 for pages in asked), asked
        assert {page for pages in asked for page in pages} == {f"/simple/{n}/" for n in hanging}
        assert sorted(unread(host)) == hanging  # each keeps its problem, deferred or not


def _polls(index: StaticIndex) -> list[list[str]]:
    """The page requests the index received, split at each poll's requests of the root (its
    serial, then its listing: two in a row)."""
    polls: list[list[str]] = []
    for _method, path, _headers in list(index.requests):
        if path == "/simple/":
            if not polls or polls[-1]:
                polls.append([])
        elif polls and path.startswith("/simple/"):
            polls[-1].append(path)
    return polls
