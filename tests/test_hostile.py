"""The hostile-input corpus: every broken wheel kind and hostile manifest, dropped into a
watched folder and given to ``install()`` while a good version serves.

Each case asserts the five promises: a typed error naming the file and the reason; no file
written outside the staging area; no plugin code imported; the serving version unchanged; an
event and an audit entry.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pluginhost import (
    Event,
    EventKind,
    ManifestError,
    PluginHost,
    PluginHostError,
    ProblemKind,
    VersionError,
    WheelError,
    WheelLimits,
)
from pluginhost.state.audit import AuditEntry, read_audit
from pluginhost.state.bounds import bound_text
from pluginhost.testing import BROKEN_KINDS, WheelFactory

MakeHost = Callable[..., PluginHost]

# Limits low enough for "too-many-members" (see BROKEN_KINDS), high enough for the rest.
LIMITS = WheelLimits(max_members=50)
EVIL_PATHS = [Path("/tmp/pluginhost-evil.py"), Path("/tmp/pluginhost-evil.pth")]


def marker_code(marker: Path, version: str) -> str:
    """Plugin code that leaves a file behind if it is ever imported."""
    return (
        "import pathlib, pluggy\n"
        f"pathlib.Path({str(marker)!r}).write_text('imported')\n"
        "hookimpl = pluggy.HookimplMarker('greeter')\n"
        "@hookimpl\n"
        f"def greet(name):\n    return {version!r}\n"
    )


def files_under(root: Path) -> set[Path]:
    return {Path(dirpath, f) for dirpath, _, files in os.walk(root) for f in files}


class Scene:
    """A host serving hello 1.0.0 from a watched folder, and what it looked like then."""

    def __init__(self, tmp_path: Path, host: PluginHost, factory: WheelFactory) -> None:
        self.tmp_path = tmp_path
        self.host = host
        self.factory = factory
        self.marker = tmp_path / "imported.txt"
        self.before = self.outside_staging()

    def outside_staging(self) -> set[Path]:
        home = self.host.home
        found = set()
        for path in files_under(self.tmp_path):
            if path.is_relative_to(self.host.staging_root):
                continue
            if path.parent == home:
                continue  # the host's own documents: registry, status, audit log, lock
            found.add(path)
        return found

    def assert_contained(self, wheel: Path, events: list[Event]) -> None:
        """The five promises, after ``wheel`` was refused."""
        host = self.host
        # Nothing written outside staging but the wheel itself and the home's documents.
        assert self.outside_staging() - {wheel} == self.before - {wheel}
        assert not any(p.exists() for p in EVIL_PATHS)
        assert not list(host.staging_root.iterdir())
        # No plugin code imported.
        assert not self.marker.exists()
        # The serving version unchanged.
        assert host.plugins["hello"].version == "1.0.0"
        assert host.hook.greet(name="x") == ["1.0.0"]
        # An event and an audit entry naming the file and the reason.
        # A manifest's origin names the member too: "<wheel>!hello/plugin.toml".
        [event] = [e for e in events if (e.origin or "").startswith(str(wheel))]
        assert event.kind in {EventKind.REFUSED, EventKind.MANIFEST_INVALID}
        assert event.error_type in {_name(WheelError), _name(ManifestError), _name(VersionError)}
        assert event.error is not None
        assert str(wheel.name) in event.error
        entries = [
            e
            for e in read_audit(host.audit_log)
            if isinstance(e, AuditEntry) and e.origin == event.origin
        ]
        # The audit line keeps the reason bounded (a huge field is cut, with its digest).
        assert [(e.action, e.outcome, e.reason) for e in entries] == [
            ("refusal", "refused", bound_text(event.error))
        ]


def _name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


@pytest.fixture
def scene(tmp_path: Path, make_host: MakeHost, factory: WheelFactory) -> Scene:
    marker = tmp_path / "imported.txt"
    factory.build("hello", "1.0.0", code=marker_code(marker, "1.0.0"))
    host = make_host(limits=LIMITS)
    marker.unlink()  # the good version was imported: that is fine
    return Scene(tmp_path, host, factory)


def broken(scene: Scene, kind: str) -> Path:
    return scene.factory.build(
        "hello", "1.1.0", code=marker_code(scene.marker, "1.1.0"), broken=kind
    )


HOSTILE_MANIFESTS = {
    "deeply-nested": "[plugin]\nname = 'hello'\nversion = '1.1.0'\nx = " + "[" * 2000 + "]" * 2000,
    "enormous": "[plugin]\nname = 'hello'\nversion = '1.1.0'\n" + "# padding\n" * 10_000,
    "fullwidth-name": "[plugin]\nname = '\uff48\uff45\uff4c\uff4c\uff4f'\nversion = '1.1.0'\n",
    "cyrillic-name": "[plugin]\nname = 'h\u0435llo'\nversion = '1.1.0'\n",
    "zero-width-name": "[plugin]\nname = 'hello\u200b'\nversion = '1.1.0'\n",
    "not-utf8": "[plugin]\nname = 'hello'\nversion = '1.1.0'\n# \udcff\n",
    "version-disagrees": "[plugin]\nname = 'hello'\nversion = '9.0.0'\n",
    "bad-constraint": "[plugin]\nname = 'hello'\nversion = '1.1.0'\nhost = '>>1'\n",
    "unknown-key": "[plugin]\nname = 'hello'\nversion = '1.1.0'\nrun = 'rm -rf /'\n",
    "not-a-table": "plugin = 'hello'\n",
    # Integers and versions past what int() reads (its 4,300-digit limit).
    "huge-integer": "[plugin]\nname = 'hello'\nversion = '1.1.0'\nx = " + "1" * 5000 + "\n",
    "huge-version": "[plugin]\nname = 'hello'\nversion = '1.1." + "1" * 5000 + "'\n",
    "huge-constraint": "[plugin]\nname = 'hello'\nversion = '1.1.0'\nhost = '^"
    + "9" * 5000
    + "'\n",
    "superscript-version": "[plugin]\nname = 'hello'\nversion = '\u00b9.1.0'\n",
    "arabic-digit-constraint": "[plugin]\nname = 'hello'\nversion = '1.1.0'\nhost = '^\u0661.0'\n",
}


def hostile_manifest(scene: Scene, kind: str) -> Path:
    text = HOSTILE_MANIFESTS[kind]
    data = text.encode("utf-8", "surrogateescape")
    return scene.factory.build(
        "hello",
        "1.1.0",
        code=marker_code(scene.marker, "1.1.0"),
        files={"hello/plugin.toml": data},
        no_manifest=True,
    )


class TestBrokenWheels:
    @pytest.mark.parametrize("kind", BROKEN_KINDS)
    def test_dropped(self, scene: Scene, events: list[Event], kind: str) -> None:
        wheel = broken(scene, kind)
        assert scene.host.wait_idle()
        problems = [p for p in scene.host.problems() if p.path == str(wheel)]
        assert [p.kind for p in problems] == [ProblemKind.WHEEL_INVALID]
        assert str(wheel) in problems[0].message
        scene.assert_contained(wheel, events)

    @pytest.mark.parametrize("kind", BROKEN_KINDS)
    def test_installed(self, scene: Scene, events: list[Event], kind: str) -> None:
        # Written outside the watched folder: only install() sees it.
        scene.factory = WheelFactory(scene.tmp_path / "elsewhere", group="greeter.plugins")
        wheel = broken(scene, kind)
        with pytest.raises(WheelError) as info:
            scene.host.install(wheel)
        assert str(info.value).startswith(f"{wheel}: ")
        assert info.value.reason in str(info.value)
        scene.assert_contained(wheel, events)


class TestHostileManifests:
    @pytest.mark.parametrize("kind", sorted(HOSTILE_MANIFESTS))
    def test_dropped(self, scene: Scene, events: list[Event], kind: str) -> None:
        wheel = hostile_manifest(scene, kind)
        assert scene.host.wait_idle()
        problems = [p for p in scene.host.problems() if p.path and str(wheel) in p.path]
        assert problems, scene.host.problems()
        assert problems[0].kind in {ProblemKind.MANIFEST_INVALID, ProblemKind.CYCLE}
        if problems[0].kind is ProblemKind.MANIFEST_INVALID:
            scene.assert_contained(wheel, events)

    @pytest.mark.parametrize("kind", sorted(HOSTILE_MANIFESTS))
    def test_installed(self, scene: Scene, events: list[Event], kind: str) -> None:
        scene.factory = WheelFactory(scene.tmp_path / "elsewhere", group="greeter.plugins")
        wheel = hostile_manifest(scene, kind)
        with pytest.raises(ManifestError) as info:
            scene.host.install(wheel)
        assert str(info.value).startswith(f"{wheel}")
        scene.assert_contained(wheel, events)


class TestSparseFile:
    """A sparse file of 64 GiB named like a wheel takes no room on disk and minutes to hash
    (2 GiB took 10 s here): refused from its size, before a byte of it is read."""

    REASON = "over the limit of 268435456 (WheelLimits.max_wheel_size)"

    def sparse(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "hello-1.1.0-py3-none-any.whl"
        with open(path, "wb") as f:
            f.truncate(64 << 30)
        return path

    def test_dropped(self, scene: Scene, events: list[Event]) -> None:
        wheel = self.sparse(scene.factory.directory)
        assert scene.host.wait_idle(timeout=30)
        problems = [p for p in scene.host.problems() if p.path == str(wheel)]
        assert [p.kind for p in problems] == [ProblemKind.WHEEL_INVALID]
        assert self.REASON in problems[0].message
        scene.assert_contained(wheel, events)

    def test_installed(self, scene: Scene, events: list[Event]) -> None:
        wheel = self.sparse(scene.tmp_path / "elsewhere")
        with pytest.raises(WheelError, match=re.escape(self.REASON)):
            scene.host.install(wheel)
        scene.assert_contained(wheel, events)


def test_control_a_good_version_does_all_the_corpus_rules_out(scene: Scene) -> None:
    """The corpus' checks can fail: the same drop, intact, is imported and served."""
    scene.factory.build("hello", "1.1.0", code=marker_code(scene.marker, "1.1.0"))
    assert scene.host.wait_idle()
    assert scene.marker.exists()
    assert scene.host.hook.greet(name="x") == ["1.1.0"]
    assert scene.outside_staging() - scene.before  # a new site dir


def test_corpus_is_large() -> None:
    """Several cases for each class the issue names."""
    assert len(BROKEN_KINDS) >= 40
    assert len(HOSTILE_MANIFESTS) >= 8
    assert sys.version_info >= (3, 10)
    assert issubclass(WheelError, PluginHostError)
