"""``pluginhost demo``: the whole pipeline on the demo plugins, narrated as it happens."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from hookspecs import greeter

from ._build import cached_wheel
from ._events import Event, EventKind
from ._host import PluginHost

__all__ = ["demo_plugins_dir", "run_demo"]

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
    shipped = Path(__file__).parent / "demo_plugins"
    if (shipped / "hello" / "pyproject.toml").is_file():
        return shipped
    return Path(__file__).resolve().parent.parent / "demo_plugins"


def cache_dir() -> Path:
    """Where built demo wheels are kept between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pluginhost" / "demo-wheels"


class _Narrator:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.colour = out.isatty() and "NO_COLOR" not in os.environ

    def say(self, text: str, code: str = "1") -> None:
        if self.colour:
            text = f"\033[{code}m{text}\033[0m"
        print(text, file=self.out, flush=True)

    def event(self, event: Event) -> None:
        self.say(f"  event  {event.describe()}", _COLOURS.get(event.kind, "0"))


@contextmanager
def _workspace(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    tmp = Path(tempfile.mkdtemp(prefix="pluginhost-demo-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_demo(keep: Path | None = None, out: TextIO = sys.stdout) -> int:
    """Build the demo plugins, start a host on them, call hooks, and show what happened.

    :param keep: a folder to leave the home and watched folder in; a temporary one otherwise.
    :returns: the process exit code (0 when every step behaved as shown).
    """
    say = _Narrator(out)
    with _workspace(keep) as root:
        wheels = root / "wheels"
        wheels.mkdir(exist_ok=True)
        say.say(
            "1. Building the demo plugins with their PEP 517 backend (cached after the first run)"
        )
        for project in ("hello", "polite", "needy"):
            built = cached_wheel(demo_plugins_dir() / project, cache_dir())
            shutil.copy2(built, wheels / built.name)
            say.say(f"  built  {built.name}", "0")
        host = PluginHost(
            greeter.PROJECT,
            specs=[greeter.GreeterSpec],
            home=root / "home",
            watch=[wheels],
            api_version=greeter.API_VERSION,
            environment=False,
        )
        host.subscribe(say.event)
        say.say(f"2. Starting a host (api {greeter.API_VERSION}) on {wheels}")
        with host:
            say.say("3. Load order (dependencies first): " + " -> ".join(host.load_order()))
            for name, deps in host.dependency_graph().items():
                say.say(f"  {name} requires {', '.join(deps) or 'nothing'}", "0")
            say.say("4. Problems, explained:")
            for problem in host.problems():
                say.say(f"  {problem}", "33")
            say.say('5. host.hook.greet(name="Ada") answers:')
            for answer in host.hook.greet(name="Ada"):
                say.say(f"  {answer}", "0")
            say.say(f"  farewell: {host.hook.farewell(name='Ada')}", "0")
            say.say("6. Removing polite:")
            host.remove("polite")
            say.say(f"  still loaded: {', '.join(host.load_order())}", "0")
        say.say("7. Host stopped; every plugin deactivated and unloaded.")
        if keep is not None:
            say.say(f"Home and wheels left in {root}", "0")
    return 0
