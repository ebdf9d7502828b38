"""Requires-Dist on another plugin, and PEP 440 versions, through a running host: real wheels."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import greet_code
from test_environment import install_into

from pluginhost import EnvironmentSource, PluginHost, ProblemKind
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]

# A plugin whose module imports its dependency's at import time, as datasette-cluster-map
# does with datasette-leaflet: it loads only when the dependency is there first.
CMAP = greet_code("cmap") + "\nimport leaflet_dist\nLEAFLET = leaflet_dist.VERSION\n"


def leaflet(factory: WheelFactory, version: str) -> Path:
    """A plugin ``leaflet`` of distribution ``leaflet-dist``, without plugin.toml."""
    code = greet_code(f"leaflet {version}") + f"\nVERSION = {version!r}\n"
    return factory.build(
        "leaflet",
        version,
        code=code,
        module="leaflet_dist",
        distribution="leaflet-dist",
        no_manifest=True,
    )


def cmap(factory: WheelFactory, spec: str = ">=0.2", version: str = "1.0.0", **kw: object) -> Path:
    """A plugin ``cmap`` whose Requires-Dist names ``leaflet-dist`` and a third-party library."""
    return factory.build(
        "cmap",
        version,
        code=CMAP,
        distribution="cmap-dist",
        requires_dist=[f"leaflet-dist{spec}", "pluggy>=1"],
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def outside(tmp_path: Path) -> WheelFactory:
    return WheelFactory(tmp_path / "outside", group="greeter.plugins")


def drop(wheel: Path, folder: Path) -> None:
    os.replace(wheel, folder / wheel.name)


def not_met_neither(host: PluginHost) -> bool:
    return not any("met neither" in p.message for p in host.problems())


class TestFromAFolder:
    def test_loads_after_the_plugin_it_names(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """Requires-Dist on a folder plugin's distribution orders the load and is reported."""
        cmap(factory)
        leaflet(factory, "0.2.1")
        host = make_host()
        assert host.load_order() == ("leaflet", "cmap")
        assert host.dependency_graph()["cmap"] == ("leaflet",)
        assert host.plugins["cmap"].requires == {"leaflet": ">=0.2"}
        assert sorted(host.hook.greet(name="x")) == ["cmap", "leaflet 0.2.1"]
        assert not_met_neither(host)

    def test_highest_version_the_specifier_allows(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """The specifier constrains the version: <0.3 picks 0.2.1 over 0.3.0."""
        cmap(factory, "<0.3")
        leaflet(factory, "0.2.1")
        leaflet(factory, "0.3.0")
        host = make_host()
        assert host.plugins["leaflet"].version == "0.2.1"
        assert host.load_order() == ("leaflet", "cmap")

    def test_unsatisfiable_names_who_needs_what(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """No version fits: cmap is skipped, naming its requirement and the versions at hand."""
        cmap(factory, ">=0.2")
        leaflet(factory, "0.1.0")
        host = make_host()
        assert host.load_order() == ("leaflet",)
        problem = next(p for p in host.problems() if p.plugin == "cmap")
        assert problem.kind is ProblemKind.UNSATISFIABLE
        assert "cmap 1.0.0 requires leaflet >=0.2, available: leaflet 0.1.0" in problem.message
        assert not_met_neither(host)

    def test_plugin_toml_and_requires_dist_both_apply(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """plugin.toml ^0.2 and Requires-Dist !=0.2.1: the one version satisfying both loads."""
        cmap(factory, "!=0.2.1", requires={"leaflet": "^0.2"})
        for version in ("0.2.0", "0.2.1", "0.3.0"):
            leaflet(factory, version)
        host = make_host()
        assert host.plugins["leaflet"].version == "0.2.0"
        assert host.plugins["cmap"].requires == {
            "leaflet": "^0.2 (plugin.toml) and !=0.2.1 (Requires-Dist)"
        }

    def test_remove_unloads_the_dependent(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """Removing the plugin named by Requires-Dist unloads the plugin that needs it."""
        cmap(factory)
        leaflet(factory, "0.2.1")
        host = make_host()
        host.remove("leaflet")
        assert host.load_order() == ()
        problem = next(p for p in host.problems() if p.plugin == "cmap")
        assert problem.kind is ProblemKind.DEPENDENCY_FAILED

    def test_wheel_deleted_unloads_the_dependent(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """The plugin's wheel deleted: the dependent goes with it, saying why; from then on the
        requirement is a third-party one that nothing meets."""
        cmap(factory)
        wheel = leaflet(factory, "0.2.1")
        host = make_host(settle=0.05)
        wheel.unlink()
        assert host.wait_idle(20)
        assert host.load_order() == ()
        messages = [p.message for p in host.problems() if p.plugin == "cmap"]
        assert "cmap was unloaded because leaflet, which it requires, went away" in messages

    def test_restart_keeps_the_link(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """A restart restores both in order, and the dependent still goes with its dependency."""
        cmap(factory)
        leaflet(factory, "0.2.1")
        make_host().stop()
        host = make_host()
        assert host.load_order() == ("leaflet", "cmap")
        host.remove("leaflet")
        assert host.load_order() == ()


def installed(tmp_path: Path, version: str, monkeypatch: pytest.MonkeyPatch) -> EnvironmentSource:
    """An environment holding leaflet ``version``, installed as pip --target would."""
    site = tmp_path / "site"
    install_into(leaflet(WheelFactory(tmp_path / "built"), version), site)
    monkeypatch.syspath_prepend(str(site))
    return EnvironmentSource(path=(str(site),))


class TestFromTheEnvironment:
    def test_installed_plugin_named(
        self,
        factory: WheelFactory,
        tmp_path: Path,
        make_host: MakeHost,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Requires-Dist on a plugin installed in the environment orders and constrains."""
        cmap(factory)
        host = make_host(sources=[installed(tmp_path, "0.2.1", monkeypatch)])
        assert host.load_order() == ("leaflet", "cmap")
        assert host.plugins["leaflet"].site_dir is None
        assert not_met_neither(host)

    def test_installed_version_too_low(
        self,
        factory: WheelFactory,
        tmp_path: Path,
        make_host: MakeHost,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """An installed version the specifier refuses makes the dependent unsatisfiable."""
        cmap(factory, ">=0.2")
        host = make_host(sources=[installed(tmp_path, "0.1.0", monkeypatch)])
        assert host.load_order() == ("leaflet",)
        problem = next(p for p in host.problems() if p.plugin == "cmap")
        assert problem.kind is ProblemKind.UNSATISFIABLE


class TestBreakingUpdate:
    def test_rejected(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """An update the Requires-Dist specifier excludes is held back, naming the dependent."""
        cmap(factory, "<1")
        leaflet(factory, "0.2.1")
        host = make_host(settle=0.05)
        drop(leaflet(outside, "1.0.0"), wheels)
        assert host.wait_idle(20)
        assert host.plugins["leaflet"].version == "0.2.1"
        refusal = next(p for p in host.problems() if p.plugin == "leaflet")
        assert "leaflet 1.0.0 would break cmap 1.0.0, which requires leaflet <1" in (
            refusal.message
        )

    def test_cascades(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """With breaking_change='cascade', the dependent is let go and the update applied."""
        cmap(factory, "<1")
        leaflet(factory, "0.2.1")
        host = make_host(settle=0.05, breaking_change="cascade")
        drop(leaflet(outside, "1.0.0"), wheels)
        assert host.wait_idle(20)
        assert host.load_order() == ("leaflet",)
        assert host.plugins["leaflet"].version == "1.0.0"
        let_go = next(p for p in host.problems() if p.plugin == "cmap")
        assert let_go.kind is ProblemKind.DEPENDENCY_FAILED

    def test_update_within_the_specifier_swaps_the_dependent(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """An update the specifier allows swaps in, the dependent re-imported against it."""
        cmap(factory, "<1")
        leaflet(factory, "0.2.1")
        host = make_host(settle=0.05)
        drop(leaflet(outside, "0.2.1.post1"), wheels)
        assert host.wait_idle(20)
        assert host.plugins["leaflet"].version == "0.2.1.post1"
        assert host.load_order() == ("leaflet", "cmap")


class TestPep440Versions:
    def test_post_release_and_epoch_swap_in_order(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """0.2.0 -> 0.2.0.post2 -> 1!0.1 swap in, and 0.3.0 after them is lower: no swap."""
        factory.build("hello", "0.2.0", code=greet_code("0.2.0"), no_manifest=True)
        host = make_host(settle=0.05)
        for version, serving in [
            ("0.2.0.post2", "0.2.0.post2"),
            ("1!0.1", "1!0.1"),
            ("0.3.0", "1!0.1"),
        ]:
            drop(outside.build("hello", version, code=greet_code(version)), wheels)
            assert host.wait_idle(20)
            assert host.plugins["hello"].version == serving
            assert host.hook.greet(name="x") == [serving]

    def test_epoch_under_a_manifest_constraint(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A plugin.toml constraint cannot order 1!0.1: refused, naming plugin and version."""
        factory.build("hello", "1.0.0", code=greet_code("1.0.0"), no_manifest=True)
        factory.build("hello", "1!0.1", code=greet_code("1!0.1"), no_manifest=True)
        factory.build("polite", code=greet_code("polite"), requires={"hello": "^1.0"})
        host = make_host()
        assert host.plugins["hello"].version == "1.0.0"
        refusal = next(p for p in host.problems() if p.plugin == "hello")
        assert refusal.kind is ProblemKind.REFUSED
        assert refusal.version == "1!0.1"
        assert "hello 1!0.1 has an epoch" in refusal.message

    def test_four_part_and_local_versions_load(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """1.2.3.4 is above 1.2.3, and satisfies ~1.2.3 of a plugin.toml."""
        factory.build("hello", "1.2.3", code=greet_code("1.2.3"), no_manifest=True)
        factory.build("hello", "1.2.3.4", code=greet_code("1.2.3.4"), no_manifest=True)
        factory.build("polite", code=greet_code("polite"), requires={"hello": "~1.2.3"})
        host = make_host()
        assert host.plugins["hello"].version == "1.2.3.4"
        assert host.load_order() == ("hello", "polite")
