"""Choosing shared dependencies (pluginhost/resolve/shared.py): pure, on real wheel metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from pluginhost import DependencyConflictError, ResolutionError, WheelInfo
from pluginhost.discover.wheel import inspect_wheel
from pluginhost.resolve.shared import Need, Serving, applicable, choose_dependencies
from pluginhost.testing import WheelFactory


@pytest.fixture
def libs(tmp_path: Path) -> dict[str, WheelInfo]:
    """Real dependency wheels: sharedlib 1.0.0 and 2.0.0 (2.0.0 needs otherlib), otherlib 1.0."""
    factory = WheelFactory(tmp_path, group="none")
    paths = {
        "s1": factory.build("sharedlib", "1.0.0", group="other"),
        "s2": factory.build("sharedlib", "2.0.0", group="other", requires_dist=["otherlib>=1"]),
        "o1": factory.build("otherlib", "1.0.0", group="other"),
    }
    return {key: inspect_wheel(path) for key, path in paths.items()}


def _none(name: str) -> str | None:
    return None


class TestChoose:
    def test_highest_fitting_wheel_and_its_requirements(self, libs: dict[str, WheelInfo]) -> None:
        """The highest wheel meeting the requirement is chosen, then what it requires."""
        choices = choose_dependencies(
            "a", "a 1.0", ["sharedlib>=1"], list(libs.values()), {}, _none
        )
        assert [(c.distribution, c.wheel and c.wheel.version) for c in choices] == [
            ("sharedlib", "2.0.0"),
            ("otherlib", "1.0.0"),
        ]
        assert choices[1].need == Need("sharedlib 2.0.0", "otherlib>=1")

    def test_the_environment_is_asked_once_per_name(self, libs: dict[str, WheelInfo]) -> None:
        """Each distribution's environment version is looked up once, however many lines
        name it: the host's lookup costs about 0.6 ms, and 40,000 meta-package lines naming
        one library took 20 s under the host's lock (attack probe 12's M4)."""
        asked: list[str] = []

        def installed(name: str) -> str | None:
            asked.append(name)
            return "9.0" if name == "pluggy" else None

        more = [("meta 1.0", f"pluggy>=0.{j}") for j in range(500)]
        lines = ["sharedlib>=1", "pluggy>=0.1", "pluggy<10"]
        choices = choose_dependencies(
            "a", "a 1.0", lines, list(libs.values()), {}, installed, more=more
        )
        assert [c.distribution for c in choices] == ["sharedlib", "otherlib"]
        assert sorted(asked) == ["otherlib", "pluggy", "sharedlib"]

    def test_environment_preferred(self, libs: dict[str, WheelInfo]) -> None:
        """A version in the environment that meets the requirement wins over any wheel."""
        choices = choose_dependencies(
            "a", "a 1.0", ["sharedlib>=1"], list(libs.values()), {}, lambda name: "1.5"
        )
        assert choices == []

    def test_serving_kept_when_it_meets(self, libs: dict[str, WheelInfo]) -> None:
        """The version serving is kept when it meets the requirement, though a newer is at hand."""
        serving = {"sharedlib": Serving("1.0.0", (Need("b 1.0", "sharedlib"),))}
        (choice,) = choose_dependencies(
            "a", "a 1.0", ["sharedlib>=1"], list(libs.values()), serving, _none
        )
        assert choice.wheel is None

    def test_other_users_constrain_the_new_version(self, libs: dict[str, WheelInfo]) -> None:
        """A new version must meet the needs of the plugins using the serving one too."""
        serving = {"sharedlib": Serving("1.0.0", (Need("b 1.0", "sharedlib<2"),))}
        with pytest.raises(DependencyConflictError) as caught:
            choose_dependencies("a", "a 1.0", ["sharedlib>=2"], list(libs.values()), serving, _none)
        error = caught.value
        assert error.distribution == "sharedlib"
        assert error.needs == (("b 1.0", "sharedlib<2"), ("a 1.0", "sharedlib>=2"))
        assert [v for v, _ in error.available] == ["2.0.0", "1.0.0"]
        assert isinstance(error, ResolutionError)

    def test_missing_names_refusals(self) -> None:
        """Nothing at hand but a refused wheel: the error names the refusal, not 'missing'."""
        with pytest.raises(DependencyConflictError) as caught:
            choose_dependencies(
                "a",
                "a 1.0",
                ["coverage>=7"],
                [],
                {},
                _none,
                {"coverage": [("7.17.5", "member 'x' is bad")]},
            )
        assert "coverage 7.17.5 is in the folder but was refused: member 'x' is bad" in str(
            caught.value
        )

    def test_missing_named(self) -> None:
        """Nothing at all: the requirement is named as met by neither source."""
        with pytest.raises(DependencyConflictError, match="met neither by the host environment"):
            choose_dependencies("a", "a 1.0", ["nothing-here>=1"], [], {}, _none)

    def test_markers_and_extras(self) -> None:
        """Requirements of extras or other platforms do not apply; bad ones are refused."""
        texts = ['x; extra == "cli"', 'y; sys_platform == "nonesuch"', "z>=1"]
        assert [r.name for r in applicable("a", texts)] == ["z"]
        with pytest.raises(ResolutionError, match="invalid Requires-Dist"):
            applicable("a", ["not a requirement !"])

    def test_specifier_that_cannot_compare(self) -> None:
        """A version over int()'s digit limit: a ResolutionError naming the plugin."""
        with pytest.raises(ResolutionError, match="invalid Requires-Dist") as caught:
            applicable("a", ["z>=1." + "1" * 5000])
        assert caught.value.plugin == "a"

    def test_marker_naming_no_environment_value(self) -> None:
        """A marker comparing two strings (an installed plugin's METADATA is not validated):
        a ResolutionError naming the plugin, not packaging's KeyError."""
        with pytest.raises(ResolutionError, match="names what no environment has") as caught:
            applicable("a", ['z; "y" < "z"'])
        assert caught.value.plugin == "a"
