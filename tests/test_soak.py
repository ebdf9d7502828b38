"""Soak: hours of a live host's life compressed into minutes, with its invariants checked after
every step.

A random (seeded) sequence of good updates, broken updates (a wheel validation refuses, an import
that raises, a health check that fails), removals, rollbacks and restarts is applied through a
watched folder, while four threads call the hook without pause. After each step, once the host
is idle: no call failed or missed a plugin that stayed active through the step, no call was
answered twice by one plugin or by a version that never loaded, the active set is the registry on
disk and what pluggy has registered, no staging is left, no module of a retired version is alive,
no site dir is kept beyond what the registry names, and each plugin's state counter survived its
swaps and restarts.

Not in the default run (``-m "not soak"`` in pytest's options). Run it with::

    python -m pytest -m soak -s          # or: python -m tox -e soak

``PLUGINHOST_SOAK_SECONDS`` sets how long (default 180), ``PLUGINHOST_SOAK_SEED`` replays a run;
the seed is printed at the start and in every failure.
"""

from __future__ import annotations

import gc
import logging
import os
import random
import threading
import time
import types
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from hookspecs import greeter
from pluginhost import Event, EventKind, HostStateError, PluginHost, Timeouts
from pluginhost.state.store import AtomicJsonFile
from pluginhost.testing import BROKEN_KINDS, WheelFactory

pytestmark = pytest.mark.soak

SECONDS = float(os.environ.get("PLUGINHOST_SOAK_SECONDS", "180"))
KEEP_BACKUPS = 2
CALLERS = 4

CODE = """
import pluggy
{broken}
hookimpl = pluggy.HookimplMarker("greeter")
NAME = "{name}"
VERSION = "{version}"
STATE = {{"name": NAME, "count": 0}}


@hookimpl
def greet(name):
    STATE["count"] += 1
    return NAME + " " + VERSION


@hookimpl
def pluginhost_health():
    return {healthy}


@hookimpl
def pluginhost_export_state():
    return dict(STATE)


@hookimpl
def pluginhost_import_state(state, previous_version):
    STATE["count"] = state["count"]
"""

# beta requires alpha: removing alpha takes beta with it, updating alpha re-imports beta.
REQUIRES: dict[str, dict[str, str]] = {"alpha": {}, "beta": {"alpha": "^1.0"}, "gamma": {}}
# Kinds that are slow to build or need other limits say nothing more than the others here.
WHEEL_BREAKS = [k for k in BROKEN_KINDS if k not in {"zip-bomb", "too-many-members"}]


@attrs.define
class Callers:
    """Threads calling ``greet`` without pause, checking every answer as it comes."""

    host: PluginHost
    step: list[int] = attrs.Factory(lambda: [0])
    allowed: set[str] = attrs.Factory(set)
    errors: list[str] = attrs.Factory(list)
    calls: list[int] = attrs.Factory(lambda: [0] * CALLERS)
    # Per thread: step -> plugins that answered every call made wholly within that step.
    answered: list[dict[int, frozenset[str]]] = attrs.Factory(lambda: [{} for _ in range(CALLERS)])
    stop: threading.Event = attrs.Factory(threading.Event)
    threads: list[threading.Thread] = attrs.Factory(list)

    def start(self) -> None:
        for i in range(CALLERS):
            thread = threading.Thread(target=self._run, args=(i,), name=f"soak-caller-{i}")
            thread.start()
            self.threads.append(thread)

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _run(self, i: int) -> None:
        seen = self.answered[i]
        while not self.stop.is_set():
            started = self.step[0]
            try:
                answers = self.host.hook.greet(name="soak")
            except Exception as exc:
                self.errors.append(f"call failed in step {started}: {type(exc).__name__}: {exc}")
                continue
            ended = self.step[0]
            self.calls[i] += 1
            names = [a.split(" ")[0] for a in answers]
            if len(set(names)) != len(names):
                self.errors.append(f"step {started}: one plugin answered twice: {answers}")
            unknown = [a for a in answers if a not in self.allowed]
            if unknown:
                self.errors.append(f"step {started}: answered by versions never loaded: {unknown}")
            if started == ended:
                got = frozenset(names)
                seen[started] = seen[started] & got if started in seen else got
            time.sleep(0.0002)

    def missed(self, step: int, stable: set[str]) -> list[str]:
        """Plugins active through ``step`` that some call made within it did not reach."""
        return sorted(
            {n for seen in self.answered for n in stable - seen.get(step, frozenset(stable))}
        )


@attrs.define
class Soak:
    """The host under test, its folder, and what the steps should lead to."""

    make: Callable[[], PluginHost]
    home: Path
    folder: Path
    events: list[Event]
    callers: Callers
    rng: random.Random
    seed: int
    next_minor: dict[str, int] = attrs.Factory(lambda: dict.fromkeys(REQUIRES, 0))
    kinds: Counter[str] = attrs.Factory(Counter)
    # Per plugin: the minor versions its wheels in the folder offer (good or not), and those
    # rolled back from.
    offered: dict[str, dict[int, bool]] = attrs.Factory(lambda: {n: {} for n in REQUIRES})
    rejected: dict[str, set[int]] = attrs.Factory(lambda: {n: set() for n in REQUIRES})
    stable_of: dict[int, set[str]] = attrs.Factory(dict)
    """Step -> the plugins active before and after it, which every call within it must reach."""

    # -- steps -------------------------------------------------------------------------------

    def build(self, name: str, *, broken: str | None = None, healthy: bool = True) -> str:
        self.next_minor[name] += 1
        minor = self.next_minor[name]
        version = f"1.{minor}.0"
        code = CODE.format(
            name=name,
            version=version,
            healthy=healthy,
            broken='raise RuntimeError("broken on purpose")' if broken == "import" else "",
        )
        wheel_break = broken if broken in BROKEN_KINDS else None
        if wheel_break is None:
            # A candidate: good, or loadable only to fail (and undone).
            self.offered[name][minor] = broken is None
        if wheel_break is None and broken != "import":
            # Health-failing versions answer calls between their switch and their check.
            self.callers.allowed.add(f"{name} {version}")
        WheelFactory(self.folder).build(
            name, version, code=code, requires=REQUIRES[name], broken=wheel_break
        )
        return version

    def drop_good(self, name: str) -> Callable[[], None]:
        before = self.active()
        self.build(name)
        return lambda: self.expect_active(self.converged(before))

    def drop_broken(self, name: str) -> Callable[[], None]:
        before = self.active()
        how = self.rng.choice(["import", "health", self.rng.choice(WHEEL_BREAKS)])
        self.kinds[f"broken:{'wheel' if how in BROKEN_KINDS else how}"] += 1
        self.build(name, broken=how, healthy=how != "health")
        return lambda: self.expect_active(self.converged(before))

    def remove(self, name: str) -> Callable[[], None]:
        before = self.active()
        for wheel in self.folder.glob(f"{name}-*.whl"):
            wheel.unlink()
        self.offered[name].clear()
        return lambda: self.expect_active(self.converged(before))

    def rollback(self, name: str) -> Callable[[], None]:
        before = self.active()
        backups = self.host.status(name).backups if name in before else ()
        if not backups:
            with pytest.raises(HostStateError):
                self.host.rollback(name)
            return lambda: self.expect_active(before)
        assert self.host.rollback(name).version == backups[0], self.context()
        self.rejected[name].add(_minor(before[name]))
        # A rollback changes that plugin alone; the folders are not looked at.
        return lambda: self.expect_active({**before, name: backups[0]})

    def restart(self, name: str) -> Callable[[], None]:
        """Stop the host and start another on the same home: what was committed is restored,
        then the folders are read as at any change."""
        before = self.active()
        self.host.stop()
        self.callers.host = self.make()
        return lambda: self.expect_active(self.converged(before))

    def converged(self, before: dict[str, str]) -> dict[str, str]:
        """What a look at the folder must lead to from ``before``: for each plugin whose
        requirements are active, the highest version offered and not rolled back from, if it
        is good and higher than the active one, else the active one; nothing for a plugin no
        wheel offers. A broken highest version is tried, fails, and blocks lower ones for a
        plugin that serves; one that none serves falls back to the highest good one
        (docs/operations.md, "A plugin that no version serves yet falls back")."""
        expected: dict[str, str] = {}
        for name in ("alpha", "gamma", "beta"):
            if not self.offered[name] or any(d not in expected for d in REQUIRES[name]):
                continue
            wanted = [m for m in self.offered[name] if m not in self.rejected[name]]
            top = max(wanted, default=None)
            current = _minor(before[name]) if name in before else None
            if current is None:
                good = [m for m in wanted if self.offered[name][m]]
                if good:
                    expected[name] = f"1.{max(good)}.0"
            elif top is not None and self.offered[name][top] and current < top:
                expected[name] = f"1.{top}.0"
            else:
                expected[name] = before[name]
        return expected

    # -- checks ------------------------------------------------------------------------------

    @property
    def host(self) -> PluginHost:
        return self.callers.host

    def expect_active(self, expected: dict[str, str]) -> None:
        assert self.active() == expected, self.context()

    def active(self) -> dict[str, str]:
        plugins = self.host.plugins
        return {n: plugins[n].version for n in self.host.load_order()}

    def counts(self) -> dict[str, int]:
        return {s["name"]: s["count"] for s in self.host.hook.pluginhost_export_state()}

    def context(self) -> str:
        return f"seed {self.seed}, step {self.callers.step[0]}, active {self.active()}"

    def check(self, stable: set[str], before_counts: dict[str, int]) -> None:
        """Every invariant, with the host idle after a step."""
        ctx = self.context()
        assert self.callers.errors == [], f"{ctx}: {self.callers.errors[:5]}"
        active = self.active()
        # Registry on disk, pluggy's registrations and the host agree: nothing half-registered.
        # Nothing committed yet reads as nothing active.
        data = AtomicJsonFile(self.home / "registry.json").read() or {"active": [], "history": {}}
        on_disk = {r["candidate"]["name"]: r["candidate"]["version"] for r in data["active"]}
        assert on_disk == active, ctx
        pm = self.host.plugin_manager
        assert {name for name, _ in pm.list_name_plugin()} == set(active), ctx
        greet_impls = pm.hook.greet.get_hookimpls()
        assert sorted(i.plugin_name for i in greet_impls) == sorted(active), ctx
        assert sorted(self.host.hook.greet(name="check")) == sorted(
            f"{n} {v}" for n, v in active.items()
        ), ctx
        # No staging left, and no site dir beyond what the registry names (backups bounded).
        assert list((self.home / "staging").iterdir()) == [], ctx
        records = [*data["active"], *(r for rs in data["history"].values() for r in rs)]
        sites = {p.name for p in (self.home / "site").iterdir()}
        assert sites == {r["site_dir"] for r in records}, ctx
        for name, history in data["history"].items():
            assert len(history) <= KEEP_BACKUPS, f"{name}: {ctx}"
        # One module object per active plugin, of the active version; retired ones are freed.
        gc.collect()
        modules = [
            o
            for o in gc.get_objects()
            if isinstance(o, types.ModuleType) and o.__name__ in REQUIRES
        ]
        versions = sorted(f"{m.__name__} {getattr(m, 'VERSION', '?')}" for m in modules)
        assert versions == sorted(f"{n} {v}" for n, v in active.items()), ctx
        # State handed from version to version: a counter never goes back while it serves.
        after = self.counts()
        for name in stable:
            assert after[name] >= before_counts[name], f"{name} state lost: {ctx}"
        leaks = [e for e in self.events if e.error and "still referenced" in e.error]
        assert leaks == [], ctx
        assert [e for e in self.events if e.kind is EventKind.DRAIN_TIMEOUT] == [], ctx

    def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        steps = {
            "drop_good": (self.drop_good, 40),
            "drop_broken": (self.drop_broken, 25),
            "remove": (self.remove, 15),
            "rollback": (self.rollback, 20),
            "restart": (self.restart, 3),
        }
        names, weights = zip(*((k, w) for k, (_, w) in steps.items()), strict=True)
        while time.monotonic() < deadline:
            kind = self.rng.choices(names, weights)[0]
            plugin = self.rng.choice(list(REQUIRES))
            self.kinds[kind] += 1
            before, before_counts = self.active(), self.counts()
            self.callers.step[0] += 1
            step = self.callers.step[0]
            expect = steps[kind][0](plugin)
            assert self.host.wait_idle(60), self.context()
            expect()
            stable = set(before) & set(self.active())
            self.check(stable, before_counts)
            if kind == "restart":
                # Calls between the stop and the start rightly found no plugin.
                stable = set()
            self.stable_of[step] = stable
            # Calls made wholly within an earlier step are all in by now.
            if step > 1:
                self.check_calls(step - 1)

    def check_calls(self, step: int) -> None:
        """No call made wholly within ``step`` missed a plugin active all through it."""
        missed = self.callers.missed(step, self.stable_of.get(step, set()))
        assert missed == [], f"calls missed {missed} in step {step}: {self.context()}"


def _minor(version: str) -> int:
    return int(version.split(".")[1])


@pytest.fixture
def errors_logged() -> Iterator[list[logging.LogRecord]]:
    """Records of pluginhost's log at ERROR or above (a worker run that raised, say)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("pluginhost")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_soak(
    make_host: Callable[..., PluginHost],
    wheels: Path,
    tmp_path: Path,
    events: list[Event],
    errors_logged: list[logging.LogRecord],
) -> None:
    """Random drops, broken versions, removals and rollbacks under calls from four threads:
    every invariant holds after every step."""
    seed = int(os.environ.get("PLUGINHOST_SOAK_SEED") or random.randrange(2**32))
    print(f"\nsoak: seed {seed}, {SECONDS:g}s (PLUGINHOST_SOAK_SEED={seed} replays it)", flush=True)

    def make() -> PluginHost:
        return make_host(
            settle=0.05,
            keep_backups=KEEP_BACKUPS,
            persist_state=True,
            timeouts=Timeouts(import_=10, activate=10, health=10, drain=10),
        )

    host = make()
    assert host.project == greeter.PROJECT
    callers = Callers(host)
    soak = Soak(make, tmp_path / "home", wheels, events, callers, random.Random(seed), seed)
    callers.start()
    try:
        soak.run(SECONDS)
    finally:
        callers.join()
    soak.check_calls(callers.step[0])
    assert callers.errors == [], f"seed {seed}: {callers.errors[:5]}"
    assert [r.getMessage() for r in errors_logged] == [], f"seed {seed}"
    print(
        f"soak: seed {seed}: {callers.step[0]} steps {dict(sorted(soak.kinds.items()))}, "
        f"{sum(callers.calls)} calls, {len(events)} events, active {soak.active()}",
        flush=True,
    )
    assert callers.step[0] > 10
    assert sum(callers.calls) > 1000
