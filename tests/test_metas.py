"""Meta-packages: the requirements a dependency wheel requiring a plugin adds to it."""

from __future__ import annotations

from pathlib import Path

from pluginhost.discover.candidates import candidate_from_wheel, inspect_plugin_wheel
from pluginhost.discover.wheel import inspect_wheel
from pluginhost.model.candidate import Candidate
from pluginhost.model.names import canonicalize_name
from pluginhost.resolve.metas import meta_lines, metas_of
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
