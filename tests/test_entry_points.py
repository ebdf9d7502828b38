"""An entry point names only what its own wheel ships, and a top-level name that the environment
serves, through any finder of ``sys.meta_path``, is refused.

The hostile entry points go through the corpus' machinery (``tests/test_hostile.py``): each is
dropped into a watched folder and given to ``install()`` while hello 1.0.0 serves, and the five
promises are checked.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import types
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from conftest import greet_code
from test_environment import install_into
from test_hostile import LIMITS, MakeHost, Scene, marker_code

from pluginhost import (
    EnvironmentSource,
    Event,
    EventKind,
    ManifestError,
    ProblemKind,
    ResolutionError,
)
from pluginhost.discover.candidates import own_entry_point
from pluginhost.state.audit import AuditEntry, read_audit
from pluginhost.testing import WheelFactory

# Each hostile entry point of a plugin "evil" that ships its own package ``evil``, by kind.
HOSTILE_ENTRY_POINTS = {
    "another-plugins-module": "hello",
    "another-plugins-attribute": "hello:greet",
    "stdlib-module": "json",
    "stdlib-dotted": "os.path:join",
    "pluginhost-module": "pluginhost.testkit.misbehave",
    "pluginhost-package": "pluginhost",
    "scripts-only": "evil_script",
    "relative": ".evil",
    "empty-attribute": "evil:",
    "not-an-identifier": "evil-plugin",
}


@pytest.fixture
def scene(tmp_path: Path, make_host: MakeHost, factory: WheelFactory) -> Scene:
    """hello 1.0.0 serving from the watched folder (the corpus' own scene)."""
    marker = tmp_path / "imported.txt"
    factory.build("hello", "1.0.0", code=marker_code(marker, "1.0.0"))
    host = make_host(limits=LIMITS)
    marker.unlink()
    return Scene(tmp_path, host, factory)


def hostile_entry_point(scene: Scene, kind: str) -> Path:
    """A wheel of plugin ``evil`` whose entry point is the hostile one; importing its own
    package leaves the scene's marker."""
    return scene.factory.build(
        "evil",
        "1.1.0",
        code=marker_code(scene.marker, "evil"),
        entry_point=HOSTILE_ENTRY_POINTS[kind],
        # A module the wheel ships, but as a script: not importable.
        files={"evil-1.1.0.data/scripts/evil_script.py": "print('run')\n"},
    )


class TestHostileEntryPoints:
    @pytest.mark.parametrize("kind", sorted(HOSTILE_ENTRY_POINTS))
    def test_dropped(self, scene: Scene, events: list[Event], kind: str) -> None:
        """Refused at discovery with a manifest problem naming the wheel; hello answers once."""
        wheel = hostile_entry_point(scene, kind)
        assert scene.host.wait_idle()
        problems = [p for p in scene.host.problems() if p.path == str(wheel)]
        assert [p.kind for p in problems] == [ProblemKind.MANIFEST_INVALID]
        assert "entry point" in problems[0].message
        assert "evil" not in scene.host.load_order()
        scene.assert_contained(wheel, events)

    @pytest.mark.parametrize("kind", sorted(HOSTILE_ENTRY_POINTS))
    def test_installed(self, scene: Scene, events: list[Event], kind: str) -> None:
        """install() raises a ManifestError naming the wheel and the entry point."""
        scene.factory = WheelFactory(scene.tmp_path / "elsewhere", group="greeter.plugins")
        wheel = hostile_entry_point(scene, kind)
        with pytest.raises(ManifestError) as info:
            scene.host.install(wheel)
        assert str(info.value).startswith(f"{wheel}")
        assert info.value.key == "entry_points"
        scene.assert_contained(wheel, events)

    def test_removing_the_impostor_leaves_hello_serving(self, scene: Scene) -> None:
        """The bug this closes: ``evil = hello`` registered hello's module a second time, and
        removing evil took hello's hooks with it."""
        wheel = hostile_entry_point(scene, "another-plugins-module")
        assert scene.host.wait_idle()
        wheel.unlink()
        assert scene.host.wait_idle()
        assert scene.host.plugins["hello"].state.value == "active"
        assert scene.host.hook.greet(name="x") == ["1.0.0"]


class TestExtras:
    """Extras after an entry point's value (``module:attr [extra]``) are dropped, as
    ``importlib.metadata`` drops them: the specification asks consumers to parse them."""

    @pytest.mark.parametrize("value", ["evil [extra]", " evil [one, two] ", "evil[x]"])
    def test_a_wheel_with_extras_loads(self, scene: Scene, value: str) -> None:
        """Dropped into the folder, it loads and answers beside hello."""
        scene.factory.build(
            "evil", "1.1.0", code=marker_code(scene.marker, "evil"), entry_point=value
        )
        assert scene.host.wait_idle()
        assert scene.host.problems() == ()
        assert sorted(scene.host.hook.greet(name="x")) == ["1.0.0", "evil"]

    def test_an_installed_plugin_with_extras_loads(
        self, tmp_path: Path, make_host: MakeHost, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A distribution installed in the environment, its entry point with extras."""
        factory = WheelFactory(tmp_path / "built", group="greeter.plugins")
        wheel = factory.build("envplug", code=greet_code("from env"), entry_point="envplug [x]")
        site = tmp_path / "site"
        install_into(wheel, site)
        monkeypatch.syspath_prepend(str(site))
        host = make_host(sources=[EnvironmentSource(path=(str(site),))])
        assert host.problems() == ()
        assert host.hook.greet(name="x") == ["from env"]
        host.remove("envplug")


class TestOwnEntryPoint:
    @pytest.mark.parametrize("value", ["evil", "evil:plugin", "evil.inner", " evil : a.b "])
    def test_own_module_accepted(self, value: str) -> None:
        """A module of the wheel's own top-level names, with or without an attribute."""
        own_entry_point(value, ("evil", "evil_helpers"), "evil", "evil.whl")

    @pytest.mark.parametrize("value", ["", ":x", "evil:x:y", "evil.", "évil-x", "a" * 5000])
    def test_malformed_refused(self, value: str) -> None:
        """Anything but ``module`` or ``module:attribute`` is refused, quoted within bounds."""
        with pytest.raises(ManifestError) as info:
            own_entry_point(value, ("evil",), "evil", "evil.whl")
        assert len(str(info.value)) < 500


class EditableFinder(importlib.abc.MetaPathFinder):
    """Serves one top-level name from a folder outside ``sys.path``, as the finder of a
    setuptools editable install does."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name, self.folder = name, folder

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        init = self.folder / fullname / "__init__.py"
        return importlib.util.spec_from_file_location(fullname, init)


@pytest.fixture
def editable(tmp_path: Path) -> Iterator[Path]:
    """``collide_editable`` importable only through a finder of sys.meta_path; its file."""
    package = tmp_path / "editable" / "collide_editable"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    finder = EditableFinder("collide_editable", package.parent)
    sys.meta_path.append(finder)
    yield package / "__init__.py"
    sys.meta_path.remove(finder)
    sys.modules.pop("collide_editable", None)


class TestEnvironmentFinders:
    def test_name_an_editable_install_serves_refused(
        self, scene: Scene, events: list[Event], editable: Path
    ) -> None:
        """A plugin shipping a top-level name that only an editable install's finder serves
        is refused before its code runs, naming where the environment has it."""
        scene.factory = WheelFactory(scene.tmp_path / "elsewhere", group="greeter.plugins")
        wheel = scene.factory.build(
            "collide", code=marker_code(scene.marker, "collide"), module="collide_editable"
        )
        with pytest.raises(ResolutionError, match=r"'collide_editable'.*host environment") as info:
            scene.host.install(wheel)
        assert str(editable) in str(info.value)
        assert not scene.marker.exists()
        assert "collide_editable" not in sys.modules
        assert scene.host.hook.greet(name="x") == ["1.0.0"]
        [failed] = [e for e in events if e.kind is EventKind.LOAD_FAILED]
        assert failed.origin == str(wheel)
        audited = [e for e in read_audit(scene.host.audit_log) if isinstance(e, AuditEntry)]
        assert [(e.action, e.outcome) for e in audited if e.origin == str(wheel)] == [
            ("install", "failed")
        ]
        assert list(scene.host.staging_root.iterdir()) == []
