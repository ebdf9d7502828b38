"""Tests for what a poll of an index offers (discover/offering.py): the dependencies of the
plugins it offers, followed on the same index, through a host on a static index on loopback."""

from __future__ import annotations

from collections.abc import Callable

from conftest import greet_code, wait_for

from pluginhost import PluginHost
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
