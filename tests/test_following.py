"""Following a package index with a host: a static index on loopback (yanks, upload times,
ETags and faults that the real servers do not serve), real wheels, real threads."""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import POLL, counter_code, greet_code, wait_for

from hookspecs import greeter
from pluginhost import (
    Event,
    EventKind,
    HostStateError,
    IndexSource,
    PluginHost,
    PluginState,
    ProblemKind,
    Rollout,
)
from pluginhost.discover import downloads
from pluginhost.discover.index.client import IndexClient
from pluginhost.model.rollout import cohort
from pluginhost.state.store import AtomicJsonFile
from pluginhost.testing import WheelFactory
from pluginhost.testkit.static_index import Fault, StaticIndex

LONG_AGO = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)

HostMaker = Callable[..., PluginHost]


def answers(host: PluginHost) -> list[str]:
    return sorted(host.hook.greet(name="x"))


class TestFollowing:
    def test_published_version_swapped_in(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """A host loads what the index offers at start, and swaps to a newer version once it
        is published, its state handed over."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        host = follow(static_index)
        assert answers(host) == ["1.0.0:1"]
        static_index.publish(built.build("hello", "1.1.0", code=counter_code("1.1.0")))
        wait_for(lambda: host.plugins["hello"].version == "1.1.0")
        assert answers(host) == ["1.1.0:2"]
        cached = host.plugins["hello"]
        assert "index" in str(cached.origin)

    def test_prerelease_dependency_taken_when_no_final_release_fits(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """A dependency released only as a prerelease is fetched, as pip would choose it,
        though the plugin's Requires-Dist names no prerelease."""
        code = "VALUE = 'rc'\n"
        static_index.publish(built.build("sharedlib", "1.0.0rc1", group="other", code=code))
        plugin = greet_code("x").replace('return "x"', "return sharedlib.VALUE")
        wheel = built.build(
            "hello", "1.0.0", code=plugin + "\nimport sharedlib\n", requires_dist=["sharedlib"]
        )
        static_index.publish(wheel)
        host = follow(static_index, projects=["hello"])
        wait_for(lambda: "hello" in host.load_order())
        assert host.hook.greet(name="x") == ["rc"]

    def test_yanked_version_rolled_back(
        self,
        static_index: StaticIndex,
        built: WheelFactory,
        follow: HostMaker,
        events: list[Event],
        tmp_path: Path,
    ) -> None:
        """A serving version yanked on the index is swapped back to the highest version still
        allowed, with its state, and the event and the audit line say it was yanked."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        static_index.publish(built.build("hello", "2.0.0", code=counter_code("2.0.0")))
        host = follow(static_index)
        assert answers(host) == ["2.0.0:1"]
        static_index.yank("hello", "2.0.0", "breaks the greeting")
        # The view shows 1.0.0 as soon as it serves, while 2.0.0 drains: the state says
        # rolled back only once the drain is over.
        wait_for(lambda: host.plugins["hello"].state is PluginState.ROLLED_BACK)
        assert host.plugins["hello"].version == "1.0.0"
        assert answers(host) == ["1.0.0:2"]
        # The view changes before the event is told (host/changes.py): wait for it.
        wait_for(lambda: any(e.kind is EventKind.ROLLED_BACK for e in events))
        (event,) = [e for e in events if e.kind is EventKind.ROLLED_BACK]
        assert event.error == "yanked: breaks the greeting"
        assert not [e for e in events if e.kind in (EventKind.UNLOADED, EventKind.REMOVED)]
        audit = [json.loads(line) for line in host.audit_log.read_text().splitlines()]
        assert [a["reason"] for a in audit if a["action"] == "rollback"] == [
            "yanked: breaks the greeting"
        ]

    def test_deleted_release_rolled_back(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker, events: list[Event]
    ) -> None:
        """A serving release deleted from the index rolls back from the cache, saying so."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        host = follow(static_index)
        static_index.publish(built.build("hello", "2.0.0", code=counter_code("2.0.0")))
        wait_for(lambda: host.plugins["hello"].version == "2.0.0")
        static_index.delete("hello", "2.0.0")
        wait_for(lambda: host.plugins["hello"].version == "1.0.0")
        assert answers(host) == ["1.0.0:1"]
        # The view changes before the event is told (host/changes.py): wait for it.
        wait_for(lambda: any(e.kind is EventKind.ROLLED_BACK for e in events))
        (event,) = [e for e in events if e.kind is EventKind.ROLLED_BACK]
        assert event.error == "deleted from the index"
        # The version it went back to serves: it is no backup of itself (it was listed, and
        # rollback() went back to 1.0.0 from 1.0.0).
        assert host.status("hello").backups == ()
        with pytest.raises(HostStateError, match="no earlier version"):
            host.rollback("hello")

    def test_no_version_left_keeps_serving(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """When the index offers no version of a project any more, the serving version keeps
        serving and a problem says so."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        host = follow(static_index)
        static_index.delete("hello", "1.0.0")
        wait_for(lambda: any(p.kind is ProblemKind.NOT_ON_INDEX for p in host.problems()))
        host.refresh()
        host.wait_idle(10)
        assert answers(host)[0].startswith("1.0.0")

    def test_outage_keeps_serving_and_is_told_once(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker, events: list[Event]
    ) -> None:
        """An index stopped, then started again: nothing is unloaded, the outage and its end
        are each told once, and a release published meanwhile arrives after."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        host = follow(static_index)
        static_index.stop()
        wait_for(lambda: any(e.kind is EventKind.INDEX_UNAVAILABLE for e in events))
        time.sleep(POLL * 6)
        assert answers(host) == ["1.0.0:1"]
        assert [p.kind for p in host.problems()] == [ProblemKind.INDEX_UNAVAILABLE]
        static_index.publish(built.build("hello", "1.1.0", code=counter_code("1.1.0")))
        static_index.start()
        wait_for(lambda: host.plugins["hello"].version == "1.1.0")
        kinds = [e.kind for e in events]
        assert kinds.count(EventKind.INDEX_UNAVAILABLE) == 1
        assert kinds.count(EventKind.INDEX_AVAILABLE) == 1
        assert EventKind.UNLOADED not in kinds
        assert host.problems() == ()

    def test_garbage_and_5xx_keep_serving(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker, events: list[Event]
    ) -> None:
        """An index answering 5xx or garbage leaves every plugin serving."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        host = follow(static_index)
        static_index.fault("/simple/", Fault(status=503))
        static_index.fault("/simple/hello/", Fault(body=b"{not json"))
        wait_for(lambda: any(e.kind is EventKind.INDEX_UNAVAILABLE for e in events))
        time.sleep(POLL * 4)
        assert answers(host) == ["1.0.0:1"]

    def test_a_poll_that_fails_unexpectedly_is_a_problem(
        self,
        static_index: StaticIndex,
        built: WheelFactory,
        follow: HostMaker,
        events: list[Event],
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A poll that fails with an error no check expected (a bug) is an
        ``index_unavailable`` problem and event saying why, its traceback logged; the plugins
        serve on, and the next poll that succeeds ends it. Logged alone, it left
        host.problems() empty while the index's yanks went unapplied."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        host = follow(static_index)

        def project(client: IndexClient, name: str) -> object:
            raise RuntimeError("a bug in a poll")

        monkeypatch.setattr(IndexClient, "project", project)
        with caplog.at_level(logging.ERROR, logger="pluginhost"):
            static_index.publish(built.build("hello", "1.1.0", code=counter_code("1.1.0")))
            wait_for(lambda: any(e.kind is EventKind.INDEX_UNAVAILABLE for e in events))
        (problem,) = host.problems()
        assert problem.kind is ProblemKind.INDEX_UNAVAILABLE
        assert "its poll failed unexpectedly, RuntimeError: a bug in a poll" in problem.message
        assert "the poll failed unexpectedly" in caplog.text
        assert "Traceback (most recent call last)" in caplog.text
        assert answers(host) == ["1.0.0:1"]
        monkeypatch.undo()
        wait_for(lambda: host.plugins["hello"].version == "1.1.0")
        assert host.problems() == ()
        kinds = [e.kind for e in events]
        assert (
            kinds.count(EventKind.INDEX_UNAVAILABLE) == kinds.count(EventKind.INDEX_AVAILABLE) == 1
        )

    def test_hash_mismatch_refused_until_page_changes(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker, events: list[Event]
    ) -> None:
        """A download whose bytes do not match the index's sha256 is refused, once (not
        downloaded again at each poll), and the serving version serves on; once the index
        lists other bytes for it (a release uploaded again), they are downloaded and served."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        host = follow(static_index)
        static_index.publish(built.build("hello", "1.1.0", code=counter_code("1.1.0")))
        tampered = static_index.file_path("hello-1.1.0-py3-none-any.whl")
        tampered.write_bytes(tampered.read_bytes() + b"\0")
        wait_for(lambda: any(e.kind is EventKind.REFUSED for e in events))
        time.sleep(POLL * 5)
        assert [e.kind for e in events].count(EventKind.REFUSED) == 1
        assert answers(host) == ["1.0.0:1"]
        assert any(p.kind is ProblemKind.WHEEL_INVALID for p in host.problems())
        path = "/files/hello-1.1.0-py3-none-any.whl"
        assert [p for _, p, _ in static_index.requests].count(path) == 1
        again = built.build("hello", "1.1.0", code=counter_code("1.1.0") + "# built again\n")
        static_index.publish(again)
        wait_for(lambda: host.plugins["hello"].version == "1.1.0")
        assert answers(host) == ["1.1.0:2"]

    def test_releases_refused_for_their_bytes_leave_the_cache(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker, tmp_path: Path
    ) -> None:
        """Broken releases the host refuses are deleted from the cache and not downloaded
        again while the index lists the same files; their problems are still shown, and a
        release uploaded again with other bytes is downloaded and served. Every refused
        release stayed cached: a project of many broken releases filled the home."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        host = follow(static_index)
        broken = ["1.1.0", "1.2.0", "1.3.0"]
        for version in broken:
            static_index.publish(built.build("hello", version, broken="bad-record-hash"))

        def refusals() -> set[str]:
            told = [p for p in host.problems() if "deleted from the cache" in p.message]
            return {Path(p.path or "").name.split("-")[1] for p in told}

        wait_for(lambda: refusals() == set(broken), timeout=20)
        cached = sorted(p.name for p in (tmp_path / "home").rglob("hello-*.whl"))
        assert cached == ["hello-1.0.0-py3-none-any.whl"]
        time.sleep(POLL * 5)
        for version in broken:
            path = f"/files/hello-{version}-py3-none-any.whl"
            assert [p for _, p, _ in static_index.requests].count(path) == 1, version
        assert all(p.kind is ProblemKind.WHEEL_INVALID for p in host.problems())
        assert answers(host) == ["1.0.0:1"]
        static_index.publish(built.build("hello", "1.3.0", code=counter_code("1.3.0")))
        wait_for(lambda: host.plugins["hello"].version == "1.3.0")
        assert answers(host) == ["1.3.0:2"]

    def test_a_download_the_cache_cannot_keep_leaves_the_poll_going(
        self,
        static_index: StaticIndex,
        built: WheelFactory,
        follow: HostMaker,
        events: list[Event],
        tmp_path: Path,
    ) -> None:
        """A release the cache cannot keep (a full disk; here a folder where its file goes)
        is told and waits for the next poll, and the poll goes on: a yank in the same poll is
        applied. The OSError failed every poll, and the yanked version served on, silently."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        static_index.publish(built.build("hello", "2.0.0", code=counter_code("2.0.0")))
        host = follow(static_index)
        assert answers(host) == ["2.0.0:1"]
        (cached,) = (tmp_path / "home").rglob("hello-2.0.0-py3-none-any.whl")
        (cached.parent / "hello-3.0.0-py3-none-any.whl").mkdir()
        static_index.publish(built.build("hello", "3.0.0", code=counter_code("3.0.0")))
        static_index.yank("hello", "2.0.0", "broken")
        wait_for(lambda: host.plugins["hello"].version == "1.0.0")
        assert answers(host) == ["1.0.0:2"]
        refused = [e for e in events if e.kind is EventKind.REFUSED]
        assert any("cannot keep hello-3.0.0-py3-none-any.whl" in (e.error or "") for e in refused)

    def test_outage_polls_back_off(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker, events: list[Event]
    ) -> None:
        """While the index fails, the polls come further and further apart (from the poll
        interval up to ten times it), and at the poll interval again once it answers."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        follow(static_index)
        static_index.fault("/simple/", Fault(status=503))
        wait_for(lambda: any(e.kind is EventKind.INDEX_UNAVAILABLE for e in events))
        before = len(static_index.requests)
        time.sleep(POLL * 20)
        failing = len(static_index.requests) - before
        assert failing <= 10, failing  # about 6; 20 at the poll interval
        del static_index.faults["/simple/"]
        wait_for(lambda: any(e.kind is EventKind.INDEX_AVAILABLE for e in events))
        before = len(static_index.requests)
        time.sleep(POLL * 10)
        assert len(static_index.requests) - before >= 6

    def test_trust_file_applies_to_index_wheels(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker, tmp_path: Path
    ) -> None:
        """With trust="hashes", a release whose sha256 on the index the trust file lacks is
        not even downloaded, and the trusted release before it serves (a host that took the
        newest release only served nothing)."""
        trusted = built.build("hello", "1.0.0", code=counter_code("1.0.0"))
        static_index.publish(trusted)
        static_index.publish(built.build("hello", "1.1.0", code=counter_code("1.1.0")))
        digest = hashlib.sha256(trusted.read_bytes()).hexdigest()
        trust_file = tmp_path / "trusted.txt"
        trust_file.write_text(f"hello==1.0.0 --hash=sha256:{digest}\n")
        trust_file.chmod(0o600)
        host = follow(static_index, trust="hashes", trust_file=trust_file)
        assert answers(host) == ["1.0.0:1"]
        (untrusted,) = [p for p in host.problems() if p.kind is ProblemKind.UNTRUSTED]
        assert untrusted.version == "1.1.0"
        assert "not listed in the trust file; not downloaded" in untrusted.message
        downloads = [path for _, path, _ in static_index.requests if path.endswith(".whl")]
        assert downloads == ["/files/hello-1.0.0-py3-none-any.whl"]


class TestRollout:
    def test_cohorts_follow_the_steps(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """A release reaches a host once its age passes the step covering the host's cohort;
        until then the problem says why."""
        static_index.publish(
            built.build("hello", "1.0.0", code=counter_code("1.0.0")), upload_time=LONG_AGO
        )
        now = datetime.datetime.now(datetime.timezone.utc)
        static_index.publish(
            built.build("hello", "2.0.0", code=counter_code("2.0.0")),
            upload_time=now - datetime.timedelta(seconds=100),
        )
        hosts = [f"host-{i}" for i in range(40)]
        # 100 s old: cohorts below 50 have it (step 60 s), the others wait for 1 h.
        early = next(h for h in hosts if cohort(h, "hello", "2.0.0") < 50)
        late = next(h for h in hosts if cohort(h, "hello", "2.0.0") >= 50)
        steps = [(0, 10), (60, 50), (3600, 100)]
        first = follow(static_index, home="early", rollout=Rollout(host_id=early, steps=steps))
        second = follow(static_index, home="late", rollout=Rollout(host_id=late, steps=steps))
        assert first.plugins["hello"].version == "2.0.0"
        assert second.plugins["hello"].version == "1.0.0"
        (note,) = [p for p in second.problems() if p.kind is ProblemKind.ROLLOUT]
        group = cohort(late, "hello", "2.0.0")
        assert f"rollout: 50% of hosts after 1 min; this host is in cohort {group}" in note.message
        due = now - datetime.timedelta(seconds=100) + datetime.timedelta(hours=1)
        # A time, not a countdown: a countdown made the problem another one every minute.
        assert f"(its turn after 1 h, at {due:%Y-%m-%d %H:%M} UTC)" in note.message

    def test_a_serving_version_is_not_held_back_by_a_rollout(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """A rollout set on a host that serves a version already brings new versions, and
        takes none back: the serving version stays offered and no problem calls it "not
        serving here yet" (it did, for a version served before the rollout was set)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        wheel = built.build("hello", "1.0.0", code=counter_code("1.0.0"))
        static_index.publish(wheel, upload_time=now - datetime.timedelta(seconds=10))
        follow(static_index).stop()
        hosts = [f"host-{i}" for i in range(40)]
        late = next(h for h in hosts if cohort(h, "hello", "1.0.0") >= 50)
        rollout = Rollout(host_id=late, steps=[(0, 0), (3600, 100)])
        host = follow(static_index, rollout=rollout)
        host.refresh()
        host.wait_idle(10)
        assert host.plugins["hello"].version == "1.0.0"
        assert not [p for p in host.problems() if p.kind is ProblemKind.ROLLOUT]

    def test_first_sighting_persists(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker, tmp_path: Path
    ) -> None:
        """Without an upload time, a release's age counts from its first sighting, kept in the
        home across restarts."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        rollout = Rollout(host_id="h", steps=[(3600, 100)])
        host = follow(static_index, rollout=rollout)
        assert "hello" not in host.plugins
        host.stop()
        (sightings,) = (tmp_path / "home" / "index").glob("*/sightings.json")
        assert "hello 1.0.0" in sightings.read_text()

    def test_sighting_without_a_zone_leaves_the_polls_going(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker, tmp_path: Path
    ) -> None:
        """A first sighting of no time zone (checksummed, from another writer) is dropped: the
        polls go on and a yank is applied. It failed every poll (naive minus aware), and the
        yanked version served on."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        static_index.publish(built.build("hello", "2.0.0", code=counter_code("2.0.0")))
        rollout = Rollout(host_id="h", steps=[(0, 100)])
        follow(static_index, rollout=rollout).stop()
        (path,) = (tmp_path / "home" / "index").glob("*/sightings.json")
        forged = dict.fromkeys(AtomicJsonFile(path).read(), "2026-01-01T00:00:00")
        AtomicJsonFile(path).write(forged)
        host = follow(static_index, rollout=rollout)
        assert answers(host) == ["2.0.0:1"]
        static_index.yank("hello", "2.0.0", "broken")
        wait_for(lambda: host.plugins["hello"].version == "1.0.0")


class TestRefresh:
    def test_refresh_polls_now(
        self, static_index: StaticIndex, built: WheelFactory, tmp_path: Path
    ) -> None:
        """host.refresh() polls at once: with an hour between polls, a release still arrives."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        source = IndexSource(static_index.url, poll_interval=3600)
        host = PluginHost(
            greeter.PROJECT,
            specs=[greeter.GreeterSpec],
            home=tmp_path / "home",
            api_version=greeter.API_VERSION,
            environment=False,
            sources=[source],
        )
        with host:
            static_index.publish(built.build("hello", "1.1.0", code=counter_code("1.1.0")))
            host.refresh()
            wait_for(lambda: host.plugins["hello"].version == "1.1.0", timeout=10)


def idle_requests(index: StaticIndex) -> list[tuple[str, str, dict[str, str]]]:
    """The requests of a few polls once the host has what the index offers."""
    time.sleep(POLL * 2)
    before = len(index.requests)
    time.sleep(POLL * 6)
    idle = index.requests[before:]
    assert len(idle) >= 3
    return idle


class TestPolls:
    def test_idle_poll_is_one_serial_request(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """With an index-wide serial, an idle poll is one request for the root's headers,
        whatever the number of projects, and never a download."""
        for name in ("hello", "polite", "other"):
            static_index.publish(built.build(name, "1.0.0", code=greet_code(name)))
        follow(static_index, projects=["hello", "polite", "other"])
        idle = idle_requests(static_index)
        assert {path for _, path, _ in idle} == {"/simple/"}

    def test_idle_polls_are_conditional(
        self, built: WheelFactory, follow: HostMaker, tmp_path: Path
    ) -> None:
        """Without a serial, an idle poll is one conditional request per followed project,
        answered 304, and never a download."""
        with StaticIndex(tmp_path / "plain", serial=False) as index:
            index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
            follow(index, projects=["hello"])
            idle = idle_requests(index)
            assert {path for _, path, _ in idle} == {"/simple/hello/"}
            assert all("If-None-Match" in headers for _, _, headers in idle)
            # The serial is asked for once: the index sends none.
            assert [path for _, path, _ in index.requests].count("/simple/") == 1


class TestConfig:
    def test_index_table_read(self, tmp_path: Path) -> None:
        """A [[pluginhost.index]] table is read into Settings.index, paths against the file,
        and the host follows it."""
        from pluginhost.host.config_file import HostConfig

        config = tmp_path / "pluginhost.toml"
        config.write_text(
            '[pluginhost]\nproject = "greeter"\n'
            '[[pluginhost.index]]\nurl = "http://127.0.0.1:1/simple/"\n'
            'projects = ["Hello_Plugin"]\n'
            'poll_interval = 5\nca = "ca.pem"\nusername = "u"\npassword = "secret"\n'
            'rollout = { host_id = "web-1", steps = [[0, 10], [60, 100]] }\n'
        )
        (index,) = HostConfig.from_file(config).index
        assert index.projects == ("hello-plugin",)
        assert (index.poll_interval, index.ca) == (5, tmp_path / "ca.pem")
        assert index.rollout == Rollout(host_id="web-1", steps=[(0, 10), (60, 100)])
        assert "secret" not in repr(index)

    @pytest.mark.parametrize(
        ("table", "key"),
        [
            ('url = "ftp://x/"', "index[0].url"),
            ('url = "http://x/"\npoll_interval = 0', "index[0].poll_interval"),
            ('url = "http://x/"\nusername = "u"', "index[0]"),
            ('url = "http://x/"\nrollout = { steps = [[0, 200]] }', "index[0].rollout"),
            ('url = "http://x/"\nfrobnicate = 1', "index[0].frobnicate"),
        ],
    )
    def test_bad_table_names_the_key(self, tmp_path: Path, table: str, key: str) -> None:
        """A wrong value in an index table is an error naming the file and the key."""
        from pluginhost.host.config_file import ConfigError, HostConfig

        config = tmp_path / "pluginhost.toml"
        config.write_text(f'[pluginhost]\nproject = "greeter"\n[[pluginhost.index]]\n{table}\n')
        with pytest.raises(ConfigError) as info:
            HostConfig.from_file(config)
        assert info.value.key == f"pluginhost.{key}"


class TestRun:
    def test_run_follows_the_configured_index(
        self, static_index: StaticIndex, built: WheelFactory, tmp_path: Path
    ) -> None:
        """`pluginhost run` follows the [[pluginhost.index]] of its config, and `pluginhost
        status` says why a newer release does not serve there yet."""
        from test_cli import HostProcess, wait_status

        static_index.publish(
            built.build("hello", "1.0.0", code=counter_code("1.0.0")), upload_time=LONG_AGO
        )
        static_index.publish(built.build("hello", "2.0.0", code=counter_code("2.0.0")))
        late = next(h for h in (f"h{i}" for i in range(50)) if cohort(h, "hello", "2.0.0") >= 10)
        config = tmp_path / "pluginhost.toml"
        config.write_text(
            '[pluginhost]\nproject = "greeter"\nspecs = ["hookspecs.greeter:GreeterSpec"]\n'
            f'home = "home"\napi_version = "{greeter.API_VERSION}"\nenvironment = false\n'
            f'[[pluginhost.index]]\nurl = "{static_index.url}"\npoll_interval = 0.2\n'
            f'rollout = {{ host_id = "{late}", steps = [[0, 10], [3600, 100]] }}\n'
        )
        host = HostProcess(config)
        try:
            host.wait_for("loaded hello 1.0.0")
            text = wait_status(tmp_path / "home", "hello", "pending")
            assert "hello 2.0.0 is not serving here yet: rollout: 10% of hosts after 0 s" in text
        finally:
            code, errors = host.stop()
        assert code == 0, errors


class TestRestart:
    def test_restart_with_the_index_down_keeps_serving(
        self, static_index: StaticIndex, built: WheelFactory, tmp_path: Path, events: list[Event]
    ) -> None:
        """A host restarted while its index is down restores what it served from the index,
        and unloads nothing for it."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))

        def host() -> PluginHost:
            source = IndexSource(static_index.url, poll_interval=POLL, timeout=1.0)
            made = PluginHost(
                greeter.PROJECT,
                specs=[greeter.GreeterSpec],
                home=tmp_path / "home",
                api_version=greeter.API_VERSION,
                environment=False,
                sources=[source],
            )
            made.subscribe(events.append)
            return made

        with host() as first:
            assert answers(first) == ["1.0.0:1"]
        static_index.stop()
        with host() as second:
            assert answers(second) == ["1.0.0:1"]
            wait_for(lambda: any(e.kind is EventKind.INDEX_UNAVAILABLE for e in events))
            time.sleep(POLL * 3)
            assert answers(second) == ["1.0.0:2"]
        assert EventKind.REMOVED not in [e.kind for e in events]


class TestStop:
    def test_stop_ends_a_long_poll_between_requests(
        self, built: WheelFactory, follow: HostMaker, tmp_path: Path
    ) -> None:
        """A host stops without waiting for the end of a poll of many slow pages."""
        names = [f"p{n}" for n in range(10)]
        with StaticIndex(tmp_path / "slow", serial=False) as index:
            for name in names:
                index.publish(built.build(name, "1.0.0", code=greet_code(name)))
            host = follow(index, projects=names)
            for name in names:  # each page as it is, but slow
                page = (tmp_path / "slow" / "simple" / name / "index.json").read_bytes()
                index.fault(f"/simple/{name}/", Fault(body=page, delay=0.5))
            host.refresh()
            time.sleep(0.3)
            started = time.monotonic()
            host.stop()
            assert time.monotonic() - started < 2.5  # the whole poll takes 5 s


def trickle_a_release(index: StaticIndex, built: WheelFactory) -> str:
    """Publish ``big`` 1.0.0, its wheel sent a byte a millisecond (minutes for its 200 kB,
    well within a rate floor whose grace is the test's 60 s timeout); the download's path."""
    blob = {"big/blob.bin": os.urandom(200 * 1024)}
    wheel = built.build("big", "1.0.0", code=greet_code("big"), files=blob)
    path = f"/files/{wheel.name}"
    index.fault(path, Fault(body=wheel.read_bytes(), content_type="application/octet-stream",
                            trickle=0.001))  # fmt: skip
    index.publish(wheel)
    wait_for(lambda: any(p == path for _, p, _ in index.requests))
    return path


class TestDownloads:
    def test_a_yank_applies_while_another_projects_download_trickles(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """A yank rolls back within a few polls while another project's new release is still
        being downloaded: the poll publishes what it read without waiting for the download
        (it waited, and an index trickling a big wheel held every yank for hours)."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        static_index.publish(built.build("hello", "2.0.0", code=counter_code("2.0.0")))
        host = follow(static_index, timeout=60.0)
        assert answers(host) == ["2.0.0:1"]
        trickle_a_release(static_index, built)
        static_index.yank("hello", "2.0.0", "broken")
        wait_for(lambda: host.plugins["hello"].version == "1.0.0", timeout=10.0)
        assert answers(host) == ["1.0.0:2"]
        assert "big" not in host.plugins  # still on its way, and nothing of it is offered
        assert not list((host.home / "index").glob("*/big-*.whl"))

    def test_stop_abandons_a_trickling_download(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """A host stops without waiting for a download under way, and leaves no partial file
        of it (it waited for the download, 30 s, and left its thread downloading)."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        host = follow(static_index, timeout=60.0)
        trickle_a_release(static_index, built)
        started = time.monotonic()
        host.stop()
        assert time.monotonic() - started < 5.0  # a hang guard: the download takes minutes
        cache = host.home / "index"
        wait_for(lambda: not list(cache.glob("*/.partial-*")), timeout=5.0)
        assert not list(cache.glob("*/big-*.whl"))

    def test_download_threads_are_bounded(
        self,
        static_index: StaticIndex,
        built: WheelFactory,
        follow: HostMaker,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Projects past MAX_THREADS wait for a thread, and each is served in turn: an index
        trickling a release of each of many projects held a thread and a connection per
        project (1,000 followed projects: past the usual limit of 1,024 file descriptors)."""
        monkeypatch.setattr(downloads, "MAX_THREADS", 2)
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        host = follow(static_index, timeout=60.0)
        names = [f"slow{index}" for index in range(5)]
        for name in names:
            blob = {f"{name}/blob.bin": os.urandom(4096)}
            wheel = built.build(name, "1.0.0", code=greet_code(name), files=blob)
            body = wheel.read_bytes()
            fault = Fault(body=body, content_type="application/octet-stream", trickle=0.0002)
            static_index.fault(f"/files/{wheel.name}", fault)
            static_index.publish(wheel)
        most = 0

        def served() -> bool:
            nonlocal most
            threads = threading.enumerate()
            most = max(most, sum(t.name.startswith("pluginhost-index-download") for t in threads))
            return all(name in host.plugins for name in names)

        wait_for(served, timeout=120.0)
        assert most == 2

    def test_a_download_the_index_keeps_failing_is_told_once(
        self,
        static_index: StaticIndex,
        built: WheelFactory,
        follow: HostMaker,
        events: list[Event],
    ) -> None:
        """A file the index answers 503 for is tried again at each poll, and told once while
        its failure stays the same (a refused event came at every poll); the release below
        serves meanwhile."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        host = follow(static_index)
        wheel = built.build("hello", "2.0.0", code=counter_code("2.0.0"))
        path = f"/files/{wheel.name}"
        static_index.fault(path, Fault(status=503, body=b"down"))
        static_index.publish(wheel)
        wait_for(lambda: sum(p == path for _, p, _ in static_index.requests) >= 4)
        refused = [e for e in events if e.kind is EventKind.REFUSED]
        assert len(refused) == 1
        assert "503" in str(refused[0].error)
        assert host.plugins["hello"].version == "1.0.0"
