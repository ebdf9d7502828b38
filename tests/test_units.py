"""Plugins of several entry points: one distribution, one unit, each entry point registered
under its own name (real wheels, real threads)."""

from __future__ import annotations

import builtins
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _pytest.config import PytestPluginManager

from pluginhost import Event, PluginHost, PluginState
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]

PUBLISHED = (
    "pytest-html==4.1.1",
    "pytest-metadata==3.1.1",
    "jinja2==3.1.4",
    "markupsafe==3.0.2",
)
"""A published distribution of two ``pytest11`` entry points (``html``, ``html_fixtures``), the
plugin it requires, and the libraries they import. Not pytest-xdist: the tests run under
pytest-xdist, and its modules in the environment would clash with the wheel's."""

CACHE = (
    Path(
        os.environ.get("PLUGINHOST_WHEEL_CACHE", Path(tempfile.gettempdir()) / "pluginhost-wheels")
    )
    / f"cp{sys.version_info[0]}{sys.version_info[1]}"
)
"""Where published wheels are downloaded to: outside the repository, kept between runs, one
folder per Python (MarkupSafe's wheel is built for one)."""

PART = """
import builtins
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")
VERSION = "{version}"
PART = "{part}"
LOG = builtins.__dict__.setdefault("_units_log", [])
count = 0

@hookimpl
def greet(name):
    global count
    count += 1
    return f"{{VERSION}}:{{PART}}:{{count}}"

@hookimpl
def pluginhost_export_state():
    return {{"count": count, "part": PART}}

@hookimpl
def pluginhost_import_state(state, previous_version):
    global count
    count = state["count"] if state else 0
    LOG.append(("import", PART, VERSION, state))

@hookimpl
def pluginhost_activate(host):
    LOG.append(("activate", PART, VERSION))

@hookimpl
def pluginhost_deactivate(host):
    LOG.append(("deactivate", PART, VERSION))
"""


def pair(factory: WheelFactory, version: str, **kwargs: object) -> Path:
    """The distribution ``pair-dist``: plugin ``pair``, entry points ``pair`` and ``pair.loop``."""
    return factory.build(
        "pair",
        version,
        distribution="pair-dist",
        code=PART.format(version=version, part="main"),
        more_entry_points={"pair.loop": "pair.loop"},
        files={"pair/loop.py": PART.format(version=version, part="loop")},
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(autouse=True)
def units_log() -> Iterator[list[tuple[object, ...]]]:
    """The lifecycle log the test plugins write to (shared through builtins)."""
    log: list[tuple[object, ...]] = builtins.__dict__.setdefault("_units_log", [])
    log.clear()
    yield log
    builtins.__dict__.pop("_units_log", None)


@pytest.fixture
def outside(tmp_path: Path) -> WheelFactory:
    """Builds wheels outside the watched folder, to be dropped in atomically."""
    return WheelFactory(tmp_path / "outside", group="greeter.plugins")


def answers(host: PluginHost) -> list[str]:
    return sorted(host.hook.greet(name="x"))


class TestUnits:
    def test_each_entry_point_registered_under_its_name(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """Both entry points load as one plugin, each registered under its own name, and the
        plugin is shown with its distribution's name."""
        pair(factory, "1.0.0")
        host = make_host()
        pm = host.plugin_manager
        assert getattr(pm.get_plugin("pair"), "PART", None) == "main"
        assert getattr(pm.get_plugin("pair.loop"), "PART", None) == "loop"
        assert answers(host) == ["1.0.0:loop:1", "1.0.0:main:1"]
        info = host.plugins["pair"]
        assert (info.entry_points, info.display) == (("pair", "pair.loop"), "pair-dist (pair)")
        assert host.load_order() == ("pair",)
        loaded = [e for e in events if e.plugin == "pair" and str(e.kind) == "loaded"]
        assert loaded[0].describe().startswith("loaded pair-dist (pair) 1.0.0")

    def test_hot_swap_under_calling_threads(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        make_host: MakeHost,
        wheels: Path,
        units_log: list[tuple[object, ...]],
    ) -> None:
        """Threads calling through swaps always see both entry points of one version, and each
        entry point's state goes to the same entry point of the new version."""
        pair(factory, "1.0.0")
        host = make_host(settle=0.05)
        stop = threading.Event()
        bad: list[list[str]] = []
        calls = [0]

        def call() -> None:
            while not stop.is_set():
                results = host.hook.greet(name="x")
                versions = {r.split(":")[0] for r in results}
                parts = sorted(r.split(":")[1] for r in results)
                if len(versions) != 1 or parts != ["loop", "main"]:
                    bad.append(results)
                calls[0] += 1

        threads = [threading.Thread(target=call) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            for minor in range(1, 6):
                version = f"1.{minor}.0"
                wheel = pair(outside, version)
                os.replace(wheel, wheels / wheel.name)
                assert host.wait_idle(30)
                assert host.plugins["pair"].version == version
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert calls[0] > 20
        assert bad == []
        imports = [e for e in units_log if e[0] == "import" and e[2] == "1.5.0"]
        assert {(e[1], e[3]["part"]) for e in imports} == {("main", "main"), ("loop", "loop")}  # type: ignore[index]

    def test_rollback_takes_both_back(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost
    ) -> None:
        """A rollback returns every entry point to the previous version."""
        pair(factory, "1.0.0")
        host = make_host()
        host.install(pair(outside, "1.1.0"))
        assert {r.split(":")[0] for r in answers(host)} == {"1.1.0"}
        host.rollback("pair")
        assert {r.split(":")[0] for r in answers(host)} == {"1.0.0"}
        assert len(answers(host)) == 2

    def test_removal_unregisters_both(
        self, factory: WheelFactory, make_host: MakeHost, units_log: list[tuple[object, ...]]
    ) -> None:
        """Removing the plugin unregisters and deactivates every entry point, last first."""
        pair(factory, "1.0.0")
        host = make_host()
        host.remove("pair")
        assert host.plugin_manager.get_plugin("pair") is None
        assert host.plugin_manager.get_plugin("pair.loop") is None
        assert answers(host) == []
        deactivated = [e[1] for e in units_log if e[0] == "deactivate"]
        assert deactivated == ["loop", "main"]

    def test_restart_from_registry(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A restart brings the unit back from the registry with both entry points."""
        pair(factory, "1.0.0")
        make_host().stop()
        again = make_host()
        assert answers(again) == ["1.0.0:loop:1", "1.0.0:main:1"]
        assert again.plugins["pair"].entry_points == ("pair", "pair.loop")

    def test_colliding_entry_point_names_refused(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A distribution declaring an entry-point name another plugin registered is refused,
        naming both; the first keeps serving."""
        pair(factory, "1.0.0")
        host = make_host()
        factory.build(
            "other",
            code=PART.format(version="9.0.0", part="other"),
            more_entry_points={"pair.loop": "other"},
        )
        host._reconcile()
        info = host.plugins["other"]
        assert info.state is PluginState.FAILED
        assert "entry point 'pair.loop' of plugin other" in str(info.error)
        assert "pair-dist (pair)" in str(info.error)
        assert answers(host) == ["1.0.0:loop:1", "1.0.0:main:1"]


def published(requirement: str) -> Path:
    """The published wheel of ``requirement``, from the cache or downloaded with pip; the test
    is skipped, saying why, when the package registry cannot be reached."""
    name, _, version = requirement.partition("==")
    prefix = f"{name.replace('-', '_')}-{version}-"
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(p for p in CACHE.glob("*.whl") if p.name.lower().startswith(prefix))
    if found:
        return found[0]
    command = [sys.executable, "-m", "pip", "download", requirement, "--no-deps", "-d", str(CACHE)]
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip(f"pip download {requirement} timed out: the package registry is unreachable")
    found = sorted(p for p in CACHE.glob("*.whl") if p.name.lower().startswith(prefix))
    if done.returncode != 0 or not found:
        pytest.skip(f"pip download {requirement} failed: {done.stderr.strip()[-300:]}")
    return found[0]


class TestPublishedUnit:
    def test_pytest_html_loads_both_entry_points(
        self, tmp_path: Path, wheels: Path, events: list[Event]
    ) -> None:
        """pytest-html, as published, loads in group pytest11 as one plugin whose entry points
        html and html_fixtures are registered under their names, after pytest-metadata, which
        it requires; and is removed whole. pytest's own manager is adopted, so its unmarked
        ``pytest_*`` functions are hooks."""
        for requirement in PUBLISHED:
            shutil.copy(published(requirement), wheels)
        host = PluginHost(
            "pytest",
            manager=PytestPluginManager(),
            group="pytest11",
            home=tmp_path / "home",
            watch=[wheels],
            environment=False,
        )
        host.subscribe(events.append)
        with host:
            pm = host.plugin_manager
            info = host.plugins["pytest-html"]
            assert (info.state, info.entry_points) == (
                PluginState.ACTIVE,
                ("html", "html_fixtures"),
            )
            assert info.display == "pytest-html"
            assert host.load_order() == ("metadata", "pytest-html")
            assert pm.get_plugin("html") is not None
            assert pm.get_plugin("html_fixtures") is not None
            impls = pm.hook.pytest_addoption.get_hookimpls()
            assert {"html", "metadata"} <= {i.plugin_name for i in impls}
            host.remove("pytest-html")
            assert pm.get_plugin("html") is None
            assert pm.get_plugin("html_fixtures") is None
