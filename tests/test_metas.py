"""Meta-packages: the requirements a dependency wheel requiring a plugin adds to it."""

from __future__ import annotations

from pathlib import Path

from packaging.utils import NormalizedName

from pluginhost.discover.candidates import candidate_from_wheel, inspect_plugin_wheel
from pluginhost.discover.wheel import inspect_wheel
from pluginhost.model.candidate import Candidate
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
        assert meta_lines(metas, _plugin(wheel_factory, "1.4.0"), plugins) == [
            ("meta 1.0.0", "uv>=0.9")
        ]
        assert meta_lines(metas, _plugin(wheel_factory, "2.0.0"), plugins) == []

    def test_requirements_on_plugins_are_not_added(self, wheel_factory: WheelFactory) -> None:
        """A meta-package's requirement on another plugin is that plugin's link, not a
        dependency to install."""
        meta = _meta(wheel_factory, "bare", "other-plugin", "uv")
        metas = metas_of([inspect_wheel(meta)])
        plugins = {canonicalize_name("bare"), canonicalize_name("other_plugin")}
        assert meta_lines(metas, _plugin(wheel_factory, "1.0.0"), plugins) == [("meta 1.0.0", "uv")]

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
        assert meta_lines(metas, _plugin(wheel_factory, "1.0.0"), plugins) == [
            ("meta 2.0", "uv==2.0")
        ]
        metas = metas_of([inspect_wheel(old), inspect_wheel(new)])
        assert meta_lines(metas, _plugin(wheel_factory, "1.0.0"), plugins) == [
            ("meta 2.0", "uv==2.0")
        ]


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

    def test_met_by_the_environment_or_a_plugin_at_hand(self, wheel_factory: WheelFactory) -> None:
        """A requirement an installed distribution meets is met; a meta-package whose plugin
        is at hand is no problem (its other requirements are that plugin's)."""
        meta = _meta(wheel_factory, "bare", "gone")
        wheels = [inspect_wheel(meta)]
        assert unmet_requirements(wheels, lambda name: "1.0") == ()
        unmet = unmet_requirements(wheels, _nothing_installed)
        assert missing_plugins(unmet, [_plugin(wheel_factory, "1.0.0")]) == []
