"""Tests for what a poll of an index offers (discover/offering.py): the dependencies of the
plugins it offers, followed on the same index, through a host on a static index on loopback."""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import counter_code, greet_code, wait_for
from strategies import candidate

from pluginhost import (
    Event,
    EventKind,
    PluginHost,
    PluginInfo,
    PluginState,
    ProblemKind,
    WheelLimits,
)
from pluginhost.discover.index.client import IndexClient
from pluginhost.host.indexes import Indexes
from pluginhost.host.settings import Settings
from pluginhost.host.view import View
from pluginhost.state.registry import Record
from pluginhost.testing import WheelFactory
from pluginhost.testkit.static_index import StaticIndex

HostMaker = Callable[..., PluginHost]

#: A plugin whose greet answers the version of the sharedlib it imported.
USES_SHAREDLIB = (
    greet_code("x").replace('return "x"', "return sharedlib.VALUE") + "\nimport sharedlib\n"
)


def publish_sharedlib(index: StaticIndex, built: WheelFactory, *versions: str) -> None:
    for version in versions:
        code = f"VALUE = {version!r}\n"
        index.publish(built.build("sharedlib", version, group="other", code=code))


def publish_hello(index: StaticIndex, built: WheelFactory, version: str, needs: str) -> None:
    index.publish(built.build("hello", version, code=USES_SHAREDLIB, requires_dist=[needs]))


def greets(host: PluginHost, answer: str) -> Callable[[], bool]:
    return lambda: "hello" in host.load_order() and host.hook.greet(name="x") == [answer]


class TestDependencies:
    def test_new_release_needing_a_newer_major(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """A plugin's new release that needs a newer major of its dependency is served with
        it, though the release serving (still cached) needs the older major: the index's
        releases that each one needs are offered, not only one that both allow."""
        publish_sharedlib(static_index, built, "1.0.0", "2.0.0")
        publish_hello(static_index, built, "1.0.0", "sharedlib<2")
        host = follow(static_index, projects=["hello"])
        wait_for(greets(host, "1.0.0"))
        publish_hello(static_index, built, "2.0.0", "sharedlib>=2")
        wait_for(lambda: host.plugins["hello"].version == "2.0.0")
        assert host.hook.greet(name="x") == ["2.0.0"]

    def test_every_project_followed_older_dependency(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """Following every project of the index, a plugin that needs an older release of a
        library than the index's newest gets that release."""
        publish_sharedlib(static_index, built, "1.2.0", "2.0.0")
        publish_hello(static_index, built, "1.0.0", "sharedlib<2")
        host = follow(static_index)
        wait_for(greets(host, "1.2.0"))

    def test_dependency_release_published_later(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """A dependency's page is read at every poll: a plugin release that needs a release
        of it published after the host first read it is served."""
        publish_sharedlib(static_index, built, "1.0.0")
        publish_hello(static_index, built, "1.0.0", "sharedlib>=1")
        host = follow(static_index, projects=["hello"])
        wait_for(greets(host, "1.0.0"))
        publish_sharedlib(static_index, built, "1.1.0")
        publish_hello(static_index, built, "1.1.0", "sharedlib>=1.1")
        wait_for(lambda: host.plugins["hello"].version == "1.1.0")
        assert host.hook.greet(name="x") == ["1.1.0"]

    def test_dependency_from_the_environment_is_no_problem(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """A dependency the index does not have (the environment's pluggy) is no problem of
        the index: only a followed project it offers nothing of is."""
        wheel = built.build("hello", "1.0.0", code=greet_code("hi"), requires_dist=["pluggy>=1"])
        static_index.publish(wheel)
        host = follow(static_index, projects=["hello"])
        host.refresh()
        host.wait_idle(10)
        assert host.hook.greet(name="x") == ["hi"]
        assert host.problems() == ()


class TestRefused:
    def test_new_host_serves_the_release_before_a_broken_one(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """A host new to the index, whose newest releases it refuses (one not for this
        Python, one for another host API), fetches the releases below and serves the newest
        it takes (it served nothing of them: only the newest was downloaded); a release
        older than that is not downloaded."""
        for name in ("hello", "polite"):
            static_index.publish(built.build(name, "0.9.0", code=greet_code(f"{name} 0.9")))
            static_index.publish(built.build(name, "1.0.0", code=greet_code(f"{name} 1.0")))
        newer = built.build("hello", "2.0.0", code=greet_code("x"), requires_python=">=3.99")
        static_index.publish(newer)
        static_index.publish(built.build("polite", "2.0.0", code=greet_code("x"), host=">=99"))
        host = follow(static_index)
        wait_for(lambda: host.load_order() == ("hello", "polite"))
        assert sorted(host.hook.greet(name="x")) == ["hello 1.0", "polite 1.0"]
        downloads = [path for _, path, _ in static_index.requests if path.startswith("/files/")]
        assert not [path for path in downloads if "0.9.0" in path]

    def test_corrupt_metadata_refused_alone(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """A release whose METADATA's deflate stream is corrupt (zlib.error, which escaped the
        follower's reading of its requirements and failed every poll): refused by validation,
        the release below serves and the other projects are followed."""
        static_index.publish(built.build("hello", "1.0.0", code=greet_code("hello 1.0")))
        static_index.publish(built.build("polite", "1.0.0", code=greet_code("polite 1.0")))
        broken = corrupt_metadata(built.build("hello", "2.0.0", code=greet_code("x")))
        static_index.publish(broken, metadata=False)
        host = follow(static_index)
        wait_for(lambda: sorted(host.load_order()) == ["hello", "polite"])
        assert sorted(host.hook.greet(name="x")) == ["hello 1.0", "polite 1.0"]

    def test_requirement_that_cannot_compare_refused_alone(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """A release requiring a version over int()'s digit limit (a ValueError when the
        follower compared it with the dependency's releases, which failed every poll): the
        requirement is left to validation, which refuses the release; the one below serves."""
        publish_sharedlib(static_index, built, "1.0.0")
        static_index.publish(built.build("hello", "1.0.0", code=greet_code("hello 1.0")))
        publish_hello(static_index, built, "2.0.0", "sharedlib>=1." + "1" * 5000)
        host = follow(static_index, projects=["hello"])
        wait_for(lambda: host.load_order() == ("hello",))
        assert host.hook.greet(name="x") == ["hello 1.0"]

    @pytest.mark.parametrize("hostile", ["name", "url"])
    def test_a_file_listed_with_a_nul_is_refused_alone(
        self,
        hostile: str,
        static_index: StaticIndex,
        built: WheelFactory,
        follow: HostMaker,
        events: list[Event],
    ) -> None:
        """A file the index lists with a NUL in its name (packaging takes one in a build tag)
        or in its URL is refused alone, once, with a problem and an event naming the project
        and the file, and the poll goes on: a yank of the version serving, in the same poll,
        rolls it back. The NUL raised ValueError (the rename into the cache) or httpx's
        InvalidURL out of every poll, reported nowhere but the log, and the yanked release
        served on while the file was downloaded again at each poll."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        static_index.publish(built.build("hello", "1.1.0", code=counter_code("1.1.0")))
        host = follow(static_index)
        assert host.hook.greet(name="x") == ["1.1.0:1"]
        good = static_index.file_path(wheel_name("1.0.0"))
        sha256 = hashlib.sha256(good.read_bytes()).hexdigest()
        if hostile == "name":  # the bytes of 1.0.0, which match: only the name is wrong
            name, url = (
                "hello-1.2.0-1\x00-py3-none-any.whl",
                f"{static_index.base}/files/{good.name}",
            )
        else:
            name, url = wheel_name("1.2.0"), f"{static_index.base}/files/a\x00b.whl"
        static_index.list_file("hello", name, url=url, sha256=sha256)
        static_index.yank("hello", "1.1.0", "broken")
        wait_for(lambda: host.plugins["hello"].version == "1.0.0")
        assert host.hook.greet(name="x") == ["1.0.0:2"]
        (problem,) = host.problems()
        assert (problem.kind, problem.plugin, problem.version) == (
            ProblemKind.WHEEL_INVALID,
            "hello",
            "1.2.0",
        )
        assert problem.path == url
        assert "'\\x00'" in problem.message  # shown escaped, never as a NUL
        assert "\x00" not in problem.message
        # Told once a page: again only if a poll read the line before the yank.
        told = [(e.plugin, e.origin) for e in events if e.kind is EventKind.REFUSED]
        assert told
        assert set(told) == {("hello", url)}
        polls = len(static_index.requests)
        wait_for(lambda: len(static_index.requests) > polls + 4)  # a few polls later
        assert [e for e in events if e.kind is EventKind.REFUSED][len(told) :] == []
        assert downloads(static_index).count(f"/files/{good.name}") <= 1  # the rollback's
        assert not [e for e in events if e.kind is EventKind.INDEX_UNAVAILABLE]

    def test_a_release_whose_fetch_fails_unexpectedly_is_refused_alone(
        self,
        static_index: StaticIndex,
        built: WheelFactory,
        follow: HostMaker,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A release whose download fails with an error no check expected (a bug) is refused
        alone, saying so, its traceback logged; the poll goes on, and a yank in it rolls the
        version serving back (raised, the error failed every poll with its yanks)."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        static_index.publish(built.build("hello", "1.1.0", code=counter_code("1.1.0")))
        host = follow(static_index)
        assert host.hook.greet(name="x") == ["1.1.0:1"]
        real = IndexClient.download

        def download(client: IndexClient, file: Any, into: Path) -> Path:
            if file.filename == wheel_name("1.2.0"):
                raise RuntimeError("a bug in a download")
            return real(client, file, into)

        monkeypatch.setattr(IndexClient, "download", download)
        with caplog.at_level(logging.ERROR, logger="pluginhost"):
            static_index.publish(built.build("hello", "1.2.0", code=counter_code("1.2.0")))
            static_index.yank("hello", "1.1.0", "broken")
            wait_for(lambda: host.plugins["hello"].version == "1.0.0")
        (problem,) = host.problems()
        assert (problem.kind, problem.plugin, problem.version) == (
            ProblemKind.WHEEL_INVALID,
            "hello",
            "1.2.0",
        )
        assert (
            f"fetching {wheel_name('1.2.0')} failed unexpectedly (RuntimeError: a bug in a "
            "download); not tried again until the index's page for hello changes"
        ) == problem.message
        assert "fetching" in caplog.text
        assert "Traceback (most recent call last)" in caplog.text


def corrupt_metadata(wheel: Path) -> Path:
    """``wheel`` with bytes of its METADATA's deflate stream flipped (its RECORD unchanged)."""
    with zipfile.ZipFile(wheel) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("/METADATA"))
    data = bytearray(wheel.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode())
    data[start] = 0xFF  # a deflate block of type 3, which does not exist: zlib.error
    wheel.write_bytes(bytes(data))
    return wheel


def cached(host: PluginHost) -> list[str]:
    """The wheels in the host's index cache, by name."""
    return sorted(p.name for p in (host.home / "index").glob("*/*.whl"))


def wheel_name(version: str) -> str:
    return f"hello-{version}-py3-none-any.whl"


class TestCachePruning:
    def test_cache_keeps_what_serves_and_the_backups(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """The cache keeps the wheels of the version serving and of its backups, and prunes
        the rest: a host following an index for months does not grow without bound. A yank
        rolls back to the backup without downloading it again."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        host = follow(static_index, keep_backups=1)
        for version in ("1.1.0", "1.2.0", "1.3.0"):
            static_index.publish(built.build("hello", version, code=counter_code(version)))
            wait_for(lambda v=version: host.plugins["hello"].version == v)
        wait_for(lambda: cached(host) == [wheel_name("1.2.0"), wheel_name("1.3.0")])
        static_index.yank("hello", "1.3.0", "bad")
        wait_for(lambda: host.plugins["hello"].version == "1.2.0")
        downloads = [path for _, path, _ in static_index.requests if path.startswith("/files/")]
        assert downloads.count(f"/files/{wheel_name('1.2.0')}") == 1

    def test_partial_download_pruned(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """A download cut short by a crash (a ``.partial-`` file) is deleted at the next poll."""
        static_index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        host = follow(static_index)
        (folder,) = (host.home / "index").iterdir()
        partial = folder / ".partial-crashed.whl"
        partial.write_bytes(b"half a wheel")
        host.refresh()
        wait_for(lambda: not partial.exists())
        assert cached(host) == [wheel_name("1.0.0")]


class TestKept:
    def test_nothing_until_the_host_published_a_view(self, tmp_path: Path) -> None:
        """The caches are told the host's versions (serving, failed, backups) only once it
        has published a view since its start: before its restore, its view names nothing,
        and a cache pruned then would lose the wheel of a version serving."""
        serving, backup = candidate("hello", "2.0.0", sha="a" * 64), candidate("hello", "1.0.0")
        info = PluginInfo("hello", "2.0.0", PluginState.ACTIVE, "o", "hello", sha256="a" * 64)
        views = [View()]
        indexes = Indexes([], Settings(home=tmp_path), lambda: views[-1])
        indexes.start(lambda folder, paths: None, lambda event: None, live=False)
        assert indexes.kept() is None
        record = Record(candidate=backup, site_dir="hello-1.0.0", top_level=("hello",))
        views.append(View(plugins={"hello": info}, backups={"hello": (record,)}))
        assert indexes.kept() == {serving.sha256, backup.sha256}
        assert Indexes([], Settings(home=tmp_path)).kept() is None  # no view: never pruned


def downloads(index: StaticIndex) -> list[str]:
    """The files the index served, in order."""
    return [path for _, path, _ in index.requests if path.startswith("/files/")]


class TestMetadata:
    def test_release_for_another_python_not_downloaded(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """A release whose core metadata (PEP 658) requires another Python is not downloaded
        (the page does not say: only its metadata file does), and the release below serves
        from the first poll."""
        static_index.publish(built.build("hello", "1.0.0", code=greet_code("hello 1.0")))
        newer = built.build("hello", "2.0.0", code=greet_code("x"), requires_python=">=3.99")
        static_index.publish(newer)
        host = follow(static_index)
        assert host.hook.greet(name="x") == ["hello 1.0"]
        assert downloads(static_index) == [
            "/files/hello-2.0.0-py3-none-any.whl.metadata",
            "/files/hello-1.0.0-py3-none-any.whl.metadata",
            "/files/hello-1.0.0-py3-none-any.whl",
        ]
        (problem,) = host.problems()
        assert "requires Python >=3.99 (its metadata)" in problem.message

    def test_metadata_of_too_many_requirements_refused(
        self, static_index: StaticIndex, built: WheelFactory, follow: HostMaker
    ) -> None:
        """Core metadata of more Requires-Dist lines than a wheel may have is refused before
        any is parsed, and its wheel not downloaded (4 MiB of them, 10 kB gzipped, held the
        poller for a minute of CPU); the release below serves."""
        static_index.publish(built.build("hello", "1.0.0", code=greet_code("hello 1.0")))
        lines = [f"dep{n}>=1" for n in range(5_001)]
        static_index.publish(built.build("hello", "2.0.0", code="x", requires_dist=lines))
        host = follow(static_index)
        assert host.hook.greet(name="x") == ["hello 1.0"]
        assert "/files/hello-2.0.0-py3-none-any.whl" not in downloads(static_index)
        (problem,) = host.problems()
        assert "its metadata has 5001 Requires-Dist lines, over 5000" in problem.message

    def test_metadata_not_matching_its_hash_refused(
        self,
        static_index: StaticIndex,
        built: WheelFactory,
        follow: HostMaker,
        events: list[Event],
    ) -> None:
        """A metadata file whose bytes do not match the index's sha256 refuses its release
        before the wheel is downloaded, and the release below serves."""
        static_index.publish(built.build("hello", "1.0.0", code=greet_code("hello 1.0")))
        static_index.publish(built.build("hello", "2.0.0", code=greet_code("hello 2.0")))
        metadata = static_index.file_path("hello-2.0.0-py3-none-any.whl.metadata")
        metadata.write_bytes(metadata.read_bytes() + b"Requires-Dist: evil\n")
        host = follow(static_index)
        wait_for(lambda: host.plugins.get("hello") is not None)
        assert host.hook.greet(name="x") == ["hello 1.0"]
        assert "/files/hello-2.0.0-py3-none-any.whl" not in downloads(static_index)
        (refused,) = [e for e in events if e.kind is EventKind.REFUSED]
        assert "metadata of hello-2.0.0-py3-none-any.whl has sha256" in str(refused.error)


class TestTooLarge:
    def test_release_over_the_hosts_wheel_size_refused_alone(
        self,
        static_index: StaticIndex,
        built: WheelFactory,
        follow: HostMaker,
        events: list[Event],
    ) -> None:
        """A release whose file is larger than the host validates (``max_wheel_size``) is
        refused alone, once: the release below serves, the other projects are followed, and
        later polls do not download it again. Raised, it failed every poll of the index."""
        static_index.publish(built.build("hello", "1.0.0", code=greet_code("hello 1.0")))
        padding = {"hello/padding.bin": os.urandom(64 * 1024)}
        static_index.publish(built.build("hello", "2.0.0", code=greet_code("x"), files=padding))
        static_index.publish(built.build("polite", "1.0.0", code=greet_code("polite 1.0")))
        host = follow(static_index, limits=WheelLimits(max_wheel_size=32 * 1024))
        # In either order: the release below is downloaded once the refusal is taken.
        wait_for(lambda: sorted(host.load_order()) == ["hello", "polite"])
        assert sorted(host.hook.greet(name="x")) == ["hello 1.0", "polite 1.0"]
        (refused,) = [e for e in events if e.kind is EventKind.REFUSED]
        big_url = f"{static_index.base}/files/hello-2.0.0-py3-none-any.whl"
        told = (
            "sent the file hello-2.0.0-py3-none-any.whl larger than 32768 bytes (its size cap): "
            f"{big_url!r}"
        )
        assert told in str(refused.error)
        # The problem names the file and its URL (it said only "sent a file larger than ...").
        (problem,) = [p for p in host.problems() if p.kind is ProblemKind.WHEEL_INVALID]
        assert told in problem.message
        assert not [e for e in events if e.kind is EventKind.INDEX_UNAVAILABLE]
        big = "/files/hello-2.0.0-py3-none-any.whl"
        polls = len(static_index.requests)
        wait_for(lambda: len(static_index.requests) > polls + 4)  # a few polls later
        assert downloads(static_index).count(big) == 1
