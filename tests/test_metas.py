"""Meta-packages: the requirements a dependency wheel requiring a plugin adds to it."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from pluginhost.discover.candidates import candidate_from_wheel, inspect_plugin_wheel
from pluginhost.discover.wheel import inspect_wheel
from pluginhost.model.candidate import Candidate
from pluginhost.model.errors import ResolutionError
from pluginhost.model.names import canonicalize_name
from pluginhost.model.problems import ProblemKind
from pluginhost.resolve.metas import meta_lines, metas_of, missing_plugins, unmet_requirements
from pluginhost.testing import WheelFactory


def _plugin(factory: WheelFactory, version: str) -> Candidate:
    wheel = factory.build("bare", version)
    candidate = candidate_from_wheel(inspect_plugin_wheel(wheel), factory.group)
    assert candidate is not None
    return candidate


def _meta(factory: WheelFactory, *lines: str) -> Path:
    return factory.build("meta", "1.0.0", group="other.group", requires_dist=list(lines))


class TestMetas:
    def test_other_requirements_added_for_the_version_meant(
        self, wheel_factory: WheelFactory
    ) -> None:
        """The meta-package's other lines are added to the plugin version it requires, named
        as its; lines that do not apply here (an extra, another platform) are not."""
        meta = _meta(
            wheel_factory,
            "bare>=1.0,<2",
            "uv>=0.9",
            'docs-tool; extra == "docs"',
            'winlib; sys_platform == "nowhere"',
        )
        metas = metas_of([inspect_wheel(meta)])
        plugins = {canonicalize_name("bare")}
        assert meta_lines(metas, _plugin(wheel_factory, "1.4.0"), plugins, 100) == [
            ("meta 1.0.0", "uv>=0.9")
        ]
        assert meta_lines(metas, _plugin(wheel_factory, "2.0.0"), plugins, 100) == []

    def test_requirements_on_plugins_are_not_added(self, wheel_factory: WheelFactory) -> None:
        """A meta-package's requirement on another plugin is that plugin's link, not a
        dependency to install."""
        meta = _meta(wheel_factory, "bare", "other-plugin", "uv")
        metas = metas_of([inspect_wheel(meta)])
        plugins = {canonicalize_name("bare"), canonicalize_name("other_plugin")}
        assert meta_lines(metas, _plugin(wheel_factory, "1.0.0"), plugins, 100) == [
            ("meta 1.0.0", "uv")
        ]

    def test_only_the_newest_version_of_a_meta_package_counts(
        self, wheel_factory: WheelFactory
    ) -> None:
        """Two versions of one meta-package at hand (an upgrade dropped beside the old wheel):
        the highest adds its lines, the other nothing, as pip installs one version of it."""
        old = wheel_factory.build(
            "meta", "1.0", group="other.group", requires_dist=["bare", "uv==1.0"]
        )
        new = wheel_factory.build(
            "meta", "2.0", group="other.group", requires_dist=["bare", "uv==2.0"]
        )
        metas = metas_of([inspect_wheel(new), inspect_wheel(old)])
        plugins = {canonicalize_name("bare")}
        assert meta_lines(metas, _plugin(wheel_factory, "1.0.0"), plugins, 100) == [
            ("meta 2.0", "uv==2.0")
        ]
        metas = metas_of([inspect_wheel(old), inspect_wheel(new)])
        assert meta_lines(metas, _plugin(wheel_factory, "1.0.0"), plugins, 100) == [
            ("meta 2.0", "uv==2.0")
        ]

    def test_the_lines_metas_add_together_are_bounded(self, wheel_factory: WheelFactory) -> None:
        """Past the limit, the lines the meta-packages of a plugin add together are refused,
        naming the plugin and the meta-packages: each within WheelLimits.max_requirements, 40
        of them added 40,000 lines to one plugin (attack probe 12's M4)."""
        wheels = [
            wheel_factory.build(
                f"meta{i}",
                "1.0",
                group="other.group",
                requires_dist=["bare", *(f"lib{j}" for j in range(40))],
            )
            for i in range(3)
        ]
        metas = metas_of([inspect_wheel(w) for w in wheels])
        plugins = {canonicalize_name("bare")}
        plugin = _plugin(wheel_factory, "1.0.0")
        assert len(meta_lines(metas, plugin, plugins, 120)) == 120
        with pytest.raises(ResolutionError) as caught:
            meta_lines(metas, plugin, plugins, 119)
        assert caught.value.plugin == "bare"
        message = str(caught.value)
        assert "meta0 1.0, meta1 1.0, meta2 1.0" in message, message
        assert "more than 119 requirement lines" in message, message

    def test_a_long_meta_package_is_read_in_linear_time(self, wheel_factory: WheelFactory) -> None:
        """A meta-package of 5,000 lines (the most a wheel holds) is read in one pass: its
        metas share one tuple of its lines (a copy of its other lines for each line made 25
        million steps)."""
        lines = ["bare", *(f"lib{j}>=1" for j in range(4_999))]
        wheel = inspect_wheel(
            wheel_factory.build("meta", "1.0", group="other.group", requires_dist=lines)
        )
        metas = metas_of([wheel])
        assert len(metas) == 5_000
        shared = {id(meta.lines) for found in metas.values() for meta in found}
        assert len(shared) == 1
        (meta,) = metas["lib17"]
        assert len(meta.lines) == 5_000


def _nothing_installed(name: str) -> str | None:
    return None


class TestMissingPlugins:
    def test_a_wheel_nothing_requires_with_a_requirement_nothing_meets(
        self, wheel_factory: WheelFactory
    ) -> None:
        """Named: the wheel, its unmet requirement, and no plugin."""
        meta = _meta(wheel_factory, "gone-plugin>=2")
        unmet = unmet_requirements([inspect_wheel(meta)], _nothing_installed)
        (problem,) = missing_plugins(unmet, [])
        assert (problem.kind, problem.plugin, problem.path) == (
            ProblemKind.MISSING,
            None,
            str(meta),
        )
        assert problem.involved == (NormalizedName("gone-plugin"),)

    def test_a_dependency_of_a_plugin_or_of_a_wheel_is_not_named(
        self, wheel_factory: WheelFactory
    ) -> None:
        """A wheel a plugin at hand requires, or another wheel does, is a dependency: its
        unmet requirement is that plugin's failure, not a missing plugin."""
        lib = wheel_factory.build("lib", group="other.group", requires_dist=["gone>=1"])
        user = wheel_factory.build("user", group="other.group", requires_dist=["lib"])
        wheels = [inspect_wheel(lib), inspect_wheel(user)]
        assert unmet_requirements(wheels, _nothing_installed) == ()
        unmet = unmet_requirements([inspect_wheel(lib)], _nothing_installed)
        assert len(missing_plugins(unmet, [])) == 1
        plugin = wheel_factory.build("needs-lib", requires_dist=["lib"])
        candidate = candidate_from_wheel(inspect_plugin_wheel(plugin), wheel_factory.group)
        assert candidate is not None
        assert missing_plugins(unmet, [candidate]) == []

    def test_the_environment_is_asked_once_per_name(self, wheel_factory: WheelFactory) -> None:
        """However many lines name a distribution, its installed version is looked up once
        (the host's lookup costs about 0.6 ms a call: attack probe 12's M4)."""
        asked: list[str] = []

        def installed(name: str) -> str | None:
            asked.append(name)
            return None

        lines = ["gone-plugin", *(f"lib>=0.{j}" for j in range(300))]
        unmet_requirements([inspect_wheel(_meta(wheel_factory, *lines))], installed)
        assert sorted(asked) == ["gone-plugin", "lib"]

    def test_an_older_version_beside_a_newer_one_is_not_named(
        self, wheel_factory: WheelFactory
    ) -> None:
        """meta 1.0 requires a plugin gone, meta 2.0 beside it one at hand: only meta 2.0
        counts, and it is met, so nothing is named (the older one is ignored, no error)."""
        old = wheel_factory.build(
            "meta", "1.0", group="other.group", requires_dist=["gone-plugin", "uv"]
        )
        new = wheel_factory.build("meta", "2.0", group="other.group", requires_dist=["bare"])
        wheels = [inspect_wheel(old), inspect_wheel(new)]
        assert missing_plugins(unmet_requirements(wheels, _nothing_installed), []) != []
        bare = _plugin(wheel_factory, "1.0.0")
        assert missing_plugins(unmet_requirements(wheels, _nothing_installed), [bare]) == []

    def test_met_by_the_environment_or_a_plugin_at_hand(self, wheel_factory: WheelFactory) -> None:
        """A requirement an installed distribution meets is met; a meta-package whose plugin
        is at hand is no problem (its other requirements are that plugin's)."""
        meta = _meta(wheel_factory, "bare", "gone")
        wheels = [inspect_wheel(meta)]
        assert unmet_requirements(wheels, lambda name: "1.0") == ()
        unmet = unmet_requirements(wheels, _nothing_installed)
        assert missing_plugins(unmet, [_plugin(wheel_factory, "1.0.0")]) == []
