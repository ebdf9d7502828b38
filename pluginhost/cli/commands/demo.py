"""``pluginhost demo``: the whole pipeline on the demo plugins, narrated as it happens.

Seven steps, each checked as well as shown: build the plugins' wheels with their PEP 517 backend;
discover, resolve and load them; hot-swap a new version while threads keep calling; drop a
broken version and see it rolled back; explain a requirement nobody meets; delete a wheel and
see its plugin unloaded; crash a process plugin and see it come back while the host serves
(:mod:`pluginhost.cli.crash_demo`). The exit code is 0 only when every step behaved as narrated.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import attrs

from hookspecs import greeter

from ...host.host import PluginHost
from ...model.events import Event, EventKind
from ...model.problems import ProblemKind
from ..build import backend_of, cached_wheel
from ..common import UsageError
from ..crash_demo import crash_step

__all__ = ["demo_plugins_dir", "run", "run_demo"]

_INITIAL = ("hello", "polite", "needy")
"""Projects whose wheels are in the watched folder before the host starts."""
_LATER = ("hello-1.1", "hello-broken", "sturdy")
"""Projects whose wheels are dropped in while the host runs (steps 3, 4 and 7)."""
_THREADS = 4
_IDLE_TIMEOUT = 20.0
_GREETING = re.compile(r"\(hello (?P<version>[^,]+), greeting #(?P<number>\d+)\)")

_COLOURS = {
    EventKind.LOADED: "32",
    EventKind.UPDATED: "32",
    EventKind.LOAD_FAILED: "31",
    EventKind.MANIFEST_INVALID: "31",
    EventKind.ROLLED_BACK: "33",
    EventKind.UNLOADED: "36",
    EventKind.REMOVED: "36",
}


def demo_plugins_dir() -> Path:
    """The demo plugins' source trees: shipped in the package, or the checkout's own folder."""
    package = Path(__file__).resolve().parents[2]
    shipped = package / "demo_plugins"
    if (shipped / "hello" / "pyproject.toml").is_file():
        return shipped
    return package.parent / "demo_plugins"


def cache_dir() -> Path:
    """Where built demo wheels are kept between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pluginhost" / "demo-wheels"


class _Narrator:
    """Prints one line per step, fact or event; colour only for a terminal that wants it."""

    def __init__(self, out: TextIO, root: Path) -> None:
        self.out = out
        self.root = root
        self.colour = out.isatty() and "NO_COLOR" not in os.environ
        # Events arrive on the host's worker thread while the demo prints on its own: one
        # line must never be cut into another.
        self._lock = threading.Lock()

    def say(self, text: str, code: str = "1") -> None:
        if self.colour:
            text = f"\033[{code}m{text}\033[0m"
        with self._lock:
            print(text, file=self.out, flush=True)

    def line(self, text: str, code: str = "0") -> None:
        self.say(f"  {text}", code)

    def event(self, event: Event) -> None:
        if event.origin:
            event = attrs.evolve(event, origin=self.short(event.origin))
        self.line(f"event  {event.describe()}", _COLOURS.get(event.kind, "0"))

    def short(self, path: str | Path) -> str:
        """``path`` relative to the demo's folder, when it is in it: the temp prefix is noise."""
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


@contextmanager
def _workspace(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        # A kept folder from an earlier run holds a registry and newer wheels: the host would
        # restore those, and the story told here would no longer be true.
        if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
            raise UsageError(f"--keep {keep}: not a new or empty folder")
        try:
            keep.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--keep {keep}: cannot create it: {exc.strerror or exc}") from exc
        yield keep.resolve()
        return
    tmp = Path(tempfile.mkdtemp(prefix="pluginhost-demo-")).resolve()
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _parse(answer: object) -> tuple[str, int] | None:
    """hello's ``(version, greeting number)`` from one answer, or ``None`` for other plugins'."""
    match = _GREETING.search(str(answer))
    return (match["version"], int(match["number"])) if match else None


class _Caller(threading.Thread):
    """Calls ``greet`` until told to stop, keeping hello's greetings and every failure.

    A call fails when it raises, or when its answers are not one complete set: a swap must
    show each call either the old plugins or the new ones, never a gap or a mix.
    """

    def __init__(self, host: PluginHost, expected: int, halt: threading.Event) -> None:
        super().__init__(name="demo-caller", daemon=True)
        self.host = host
        self.expected = expected
        self.halt = halt
        # Each thread appends only to its own lists: counting needs no lock.
        self.greetings: list[tuple[str, int]] = []
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.halt.is_set():
            self.call()

    def call(self) -> None:
        try:
            answers = self.host.hook.greet(name="Bob")
        except Exception as exc:  # counted and reported: the demo's point is that it is 0
            self.failures.append(f"{type(exc).__name__}: {exc}")
            return
        hello = [g for g in map(_parse, answers) if g]
        if len(answers) != self.expected or len(hello) != 1:
            self.failures.append(f"incomplete answers: {answers!r}")
            return
        self.greetings.append(hello[0])


class _Traffic:
    """Background threads calling ``host.hook.greet`` as fast as they can."""

    def __init__(self, host: PluginHost, threads: int) -> None:
        # Every plugin implementing greet answers each call; counted without calling, so that
        # no greeting number is spent here.
        expected = len(host.hook.greet.get_hookimpls())
        self.halt = threading.Event()
        self.callers = [_Caller(host, expected, self.halt) for _ in range(threads)]

    def __enter__(self) -> _Traffic:
        for caller in self.callers:
            caller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.halt.set()
        for caller in self.callers:
            caller.join()

    def served(self) -> int:
        return sum(len(c.greetings) for c in self.callers)

    def failed(self) -> int:
        return sum(len(c.failures) for c in self.callers)

    def greetings(self) -> list[tuple[str, int]]:
        return [g for c in self.callers for g in c.greetings]

    def first_failure(self) -> str | None:
        return next((f for c in self.callers for f in c.failures), None)


class _Demo:
    """The six steps, in order, on one workspace; ``ok`` turns false at the first failed check."""

    def __init__(self, root: Path, say: _Narrator) -> None:
        self.root = root
        self.say = say
        self.wheels = root / "wheels"
        self.outside = root / "outside"
        self.built: dict[str, Path] = {}
        self.events: list[Event] = []
        self.last_number = 0
        self.dropped_at = 0  # where the events of the latest drop begin in ``events``
        self.ok = True
        self.host = PluginHost(
            greeter.PROJECT,
            specs=[greeter.GreeterSpec],
            home=root / "home",
            watch=[self.wheels],
            api_version=greeter.API_VERSION,
            environment=False,  # only the demo's wheels, whatever this environment holds
            settle=0.1,  # the demo drops whole wheels in one rename: no need to wait long
            state_interval=0.1,  # sturdy's state, kept for its restart (step 7)
        )

    def check(self, passed: bool, fact: str, failure: str) -> None:
        """Say ``fact`` when it holds; otherwise say ``failure`` and fail the demo."""
        if passed:
            self.say.line(fact, "32")
        else:
            self.say.line(f"FAILED: {failure}", "31")
            self.ok = False

    def run(self) -> bool:
        self.say.say(
            "pluginhost demo: real plugin wheels, a host loading them, and live changes. "
            "Each line is a step, a fact the demo checked, or an event the host emitted."
        )
        self.build()
        self.host.subscribe(self.events.append)
        self.host.subscribe(self.say.event)
        try:
            self.start()
            self.swap()
            self.broken()
            self.missing()
            self.remove()
            crash_step(self.host, self.say, self.check, self._drop_sturdy, self._traffic)
            self.say.say(
                "Stopping the host: each plugin is deactivated, and sturdy's worker stopped"
            )
        finally:
            self.host.stop()
        self.outside.rmdir()  # empty once every drop is done: nothing there to explore
        return self.ok

    # -- 1. build ------------------------------------------------------------------------------

    def build(self) -> None:
        source = demo_plugins_dir()
        backend = backend_of(source / "hello")
        self.say.say(
            f"1. Build the demo plugins in {source} with their PEP 517 backend ({backend})"
        )
        cache = cache_dir()
        self.say.line(f"wheel cache: {cache}")
        cached = set(cache.glob("*/*.whl"))
        for project in (*_INITIAL, *_LATER):
            wheel = cached_wheel(source / project, cache)
            self.built[project] = wheel
            verb = "reused" if wheel in cached else "built "
            self.say.line(f"{verb} {wheel.name}  (from {project}/)")
        self.wheels.mkdir()
        self.outside.mkdir()
        for project in _INITIAL:
            shutil.copy2(self.built[project], self.wheels)
        names = ", ".join(self.built[p].name for p in _INITIAL)
        self.say.line(f"copied into the watched folder wheels/: {names}")

    # -- 2. discover, resolve, load, call ------------------------------------------------------

    def start(self) -> None:
        self.say.say(
            f"2. Start a host for the {greeter.PROJECT!r} hooks (api {greeter.API_VERSION}) "
            "watching wheels/: discover, resolve, load in dependency order"
        )
        self.host.start()
        for name, info in self.host.plugins.items():
            wants = ", ".join(f"{dep} {rule}" for dep, rule in info.requires.items())
            if info.error:
                # A failure says why where it first shows, not steps later.
                why = info.error.removeprefix(f"{name} {info.version} ")
                self.say.line(f"{name} {info.version} ({info.state}), not loaded: {why}", "33")
            else:
                self.say.line(f"{name} {info.version} ({info.state}) requires {wants or 'nothing'}")
        order = " -> ".join(self.host.load_order())
        self.say.line(f"load order (dependencies first): {order}", "1")
        self.greet("Ada")
        farewell = self.host.hook.farewell(name="Ada")
        self.say.line(f'host.hook.farewell(name="Ada") answers (first answer wins): {farewell}')

    def greet(self, name: str) -> tuple[str, int] | None:
        """Call ``greet`` once, show every answer, and return hello's."""
        answers = self.host.hook.greet(name=name)
        self.say.line(f'host.hook.greet(name="{name}") answers:')
        for answer in answers:
            self.say.line(f"  {answer}")
        hello = next((g for g in map(_parse, answers) if g), None)
        if hello is not None:
            self.last_number = max(self.last_number, hello[1])
        return hello

    def _drop_sturdy(self) -> None:
        self.drop("sturdy")
        self.wait()

    def _traffic(self) -> _Traffic:
        return _Traffic(self.host, _THREADS)

    def wait(self) -> None:
        idle = self.host.wait_idle(_IDLE_TIMEOUT)
        self.check(idle, "host.wait_idle(): change applied", f"not idle after {_IDLE_TIMEOUT:g}s")

    def drop(self, project: str) -> None:
        """Put a wheel into the watched folder in one rename, as operators should.

        Copied first beside the folder (same filesystem), so that the watcher never sees a
        half-written file.
        """
        wheel = self.built[project]
        staged = Path(shutil.copy2(wheel, self.outside))
        self.dropped_at = len(self.events)
        # Said before the rename: the host's events about it may come before this thread runs.
        self.say.line(f"dropped {wheel.name} into wheels/ (one rename)", "1")
        os.replace(staged, self.wheels / wheel.name)

    # -- 3. hot swap under load ----------------------------------------------------------------

    def swap(self) -> None:
        self.say.say(
            f"3. Hot swap: hello 1.1.0 dropped into wheels/ while {_THREADS} threads "
            "keep calling host.hook.greet"
        )
        with _Traffic(self.host, _THREADS) as traffic:
            time.sleep(0.3)  # calls flowing well before the drop
            served, failed = traffic.served(), traffic.failed()
            self.say.line(f"{served:,} calls served so far, all by hello 1.0.0")
            self.drop("hello-1.1")
            self.wait()
            during = traffic.served() - served, traffic.failed() - failed
            time.sleep(0.2)  # and well after the switch
        self.report_swap(traffic, during)

    def report_swap(self, traffic: _Traffic, during: tuple[int, int]) -> None:
        greetings = traffic.greetings()
        old = [n for v, n in greetings if v == "1.0.0"]
        new = [n for v, n in greetings if v == "1.1.0"]
        self.say.line(f"answered by hello 1.0.0: {len(old):,} calls; by hello 1.1.0: {len(new):,}")
        if old and new:
            self.say.line(
                f"last greeting by hello 1.0.0: #{max(old)}; first by hello 1.1.0: #{min(new)}"
            )
            self.say.line(f"  {_overlap(old, new)}")
        self.check_numbering(sorted(n for _, n in greetings), swapped=bool(old and new))
        self.check(
            traffic.failed() == 0,
            f"calls during the swap (from the drop until idle): {during[0]:,} served, "
            f"{during[1]} failed ({traffic.served():,} served in all)",
            f"calls failed: {during[1]} during the swap, {traffic.failed()} in all, "
            f"e.g. {traffic.first_failure()}",
        )

    def check_numbering(self, numbers: list[int], *, swapped: bool) -> None:
        """The counter went on across the swap: each number once, none skipped, no restart."""
        first, count = self.last_number + 1, len(numbers)
        self.check(
            swapped and numbers == list(range(first, first + count)),
            f"state handed over: the counter went on; every greeting from #{first} to "
            f"#{first + count - 1} given exactly once, none lost or repeated",
            "both versions should have answered, and the greeting numbers should go on "
            "across the swap without a gap, a repeat or a restart",
        )
        self.last_number += count

    # -- 4. a broken version rolls back --------------------------------------------------------

    def broken(self) -> None:
        self.say.say("4. A broken version: hello 1.2.0, whose health check fails, dropped in")
        before = self.last_number
        self.drop("hello-broken")
        self.wait()
        since = self.events[self.dropped_at :]
        rolled = any(e.kind is EventKind.ROLLED_BACK and e.plugin == "hello" for e in since)
        info = self.host.status("hello").info
        self.check(
            rolled and info.version == "1.1.0",
            f"rolled back: hello is on {info.version} again (state: {info.state})",
            f"hello should be back on 1.1.0, is {info.state} on {info.version}",
        )
        hello = self.greet("Ada")
        self.check(
            hello == ("1.1.0", before + 1),
            f"hello 1.1.0 still answers, and its counter went on from #{before}",
            f"expected greeting #{before + 1} by hello 1.1.0, got {hello}",
        )

    # -- 5. a missing requirement, explained ---------------------------------------------------

    def missing(self) -> None:
        self.say.say("5. What is not loaded, and why: host.problems()")
        problems = self.host.problems()
        for problem in problems:
            self.say.line(str(problem), "33")
        self.check(
            any(p.kind is ProblemKind.MISSING and p.plugin == "needy" for p in problems),
            "needy is left out, its reason named; the other plugins serve regardless",
            "needy's missing requirement is not among the problems",
        )

    # -- 6. a wheel deleted: its plugin unloads ------------------------------------------------

    def remove(self) -> None:
        self.say.say("6. Removal: polite's wheel deleted from wheels/")
        (self.wheels / self.built["polite"].name).unlink()
        self.say.line(f"deleted {self.built['polite'].name}", "1")
        self.wait()
        removed = any(e.kind is EventKind.REMOVED and e.plugin == "polite" for e in self.events)
        order = self.host.load_order()
        self.check(
            removed and order == ("hello",),
            f"polite unloaded; load order now: {' -> '.join(order)}",
            f"polite should be gone, load order is {order}",
        )
        self.greet("Ada")


def _next_commands(say: _Narrator, root: Path) -> None:
    """What to run on the kept folder: the commands that read a home, and a host on it."""
    home, wheels = shlex.quote(str(root / "home")), shlex.quote(str(root / "wheels"))
    say.say("Next, look at what the host left there:")
    for command, why in (
        (f"pluginhost list --home {home}", "the plugins and their states"),
        (f"pluginhost status hello --home {home}", "hello's history and backups"),
        (f"pluginhost audit --home {home}", "every install, swap, rollback and removal"),
        (f"pluginhost doctor --home {home}", "what is wrong, and why (exit 3: needy)"),
        (f"pluginhost inspect {wheels}/*.whl", "what each wheel declares"),
    ):
        say.line(f"{command}    # {why}")


def _overlap(old: list[int], new: list[int]) -> str:
    """One line on why the last old greeting and the first new one are not neighbours."""
    first_new = min(new)
    late = [n for n in old if n > first_new]
    if not late:
        return f"(consecutive: the counter went from #{max(old)} to #{first_new} at the switch)"
    calls = "1 call" if len(late) == 1 else f"{len(late)} calls"
    return (
        f"(why they overlap: {calls} that took hello 1.0.0 just before the switch was paused "
        f"(threads take turns at the interpreter lock) while the others made "
        f"{max(late) - first_new:,} calls on 1.1.0; one shared counter, so no number repeats)"
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo; ``--keep DIR`` leaves its home and wheels there."""
    return run_demo(keep=args.keep)


def run_demo(keep: Path | None = None, out: TextIO = sys.stdout) -> int:
    """Build the demo plugins, run a host on them through six steps, and show what happened.

    :param keep: a new or empty folder to leave the home and watched folder in; a temporary
        one otherwise.
    :returns: the process exit code: 0 when every step behaved as shown, 1 otherwise.
    :raises UsageError: when ``keep`` is a folder that is not empty, or cannot be made.
    """
    with _workspace(keep) as root:
        say = _Narrator(out, root)
        ok = _Demo(root, say).run()
        if keep is not None:
            say.say(
                f"Left in {root}: wheels/ (the watched folder) and home/ (registry.json, "
                "and in site/ one isolated site dir per version installed)"
            )
            _next_commands(say, root)
    if ok:
        say.say("Demo complete: every step behaved as shown.", "32")
        return 0
    say.say("Demo FAILED: see the FAILED lines above.", "31")
    return 1
