"""Load published plugin wheels in this process, the application's way or pluginhost's, and print
what was registered as one JSON line.

Run as a script, one process per load, so that applications and plugins never meet:

    python probe.py native APP WORKDIR WHEEL...   # the application's plugin manager, the normal way
    python probe.py host APP WORKDIR WHEEL...     # pluginhost, from a watched folder
    python probe.py swap APP WORKDIR OLD NEW      # OLD swapped for NEW under 4 calling threads

The last wheel is the subject; those before it are plugins it requires, loaded first. The output
names, for each entry point of the subject, the hooks it registered and the answers of a few
side-effect-free hooks of the application, called on that plugin's implementations only.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import shutil
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy

APPS = {
    "datasette": ("datasette", "datasette"),
    "llm": ("llm", "llm"),
    "pytest": ("pytest", "pytest11"),
    "tox": ("tox", "tox"),
}


# -- the applications' plugin managers ------------------------------------------------------------


def app_manager(app: str) -> pluggy.PluginManager:
    """The application's own plugin manager, as it is when the application loads its plugins."""
    if app == "pytest":
        from _pytest.config import get_config

        return get_config().pluginmanager
    if app == "datasette":
        from datasette.plugins import pm

        return pm
    if app == "llm":
        from llm.plugins import pm

        return pm
    from tox.plugin.manager import MANAGER

    return MANAGER.manager


def app_specs(app: str) -> Any:
    """The module of the application's hook specifications."""
    name = {
        "pytest": "_pytest.hookspec",
        "datasette": "datasette.hookspecs",
        "llm": "llm.hookspecs",
        "tox": "tox.plugin.spec",
    }[app]
    return importlib.import_module(name)


# -- real calls -----------------------------------------------------------------------------------


class Recorder:
    """A stand-in for a ``register`` callback or object: it records what it was given."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.seen.append(["call", norm(args), norm(kwargs)])

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("__"):
            raise AttributeError(name)

        def method(*args: Any, **kwargs: Any) -> None:
            self.seen.append([name, norm(args), norm(kwargs)])

        return method

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "seen":
            object.__setattr__(self, name, value)
        else:
            self.seen.append(["set " + name, norm(value)])


def norm(value: Any, depth: int = 0) -> Any:  # noqa: PLR0911 (one return per kind of value)
    """``value`` as JSON that two processes can compare: code by its qualified name."""
    if depth > 6:
        return "..."
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = [norm(v, depth + 1) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, dict):
        return {str(k): norm(v, depth + 1) for k, v in value.items()}
    if hasattr(value, "model_id"):
        return f"model {value.model_id}"
    if inspect.isclass(value) or callable(value):
        module = getattr(value, "__module__", "?")
        return f"{module}.{getattr(value, '__qualname__', type(value).__qualname__)}"
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def pytest_calls(pm: pluggy.PluginManager) -> dict[str, Callable[[], tuple[dict[str, Any], Any]]]:
    from _pytest.config.argparsing import Parser

    def addoption() -> tuple[dict[str, Any], Any]:
        parser = Parser(_ispytest=True)

        def seen() -> Any:
            groups = [*parser._groups, parser._anonymous]
            options = sorted(n for g in groups for o in g.options for n in o.names())
            return {"options": options, "ini": sorted(parser._inidict)}

        return {"parser": parser, "pluginmanager": pm}, seen

    return {"pytest_addoption": addoption}


def datasette_calls(
    _pm: pluggy.PluginManager,
) -> dict[str, Callable[[], tuple[dict[str, Any], Any]]]:
    import click
    from datasette.app import Datasette

    datasette = Datasette(memory=True)
    page = {
        "template": "index.html",
        "database": None,
        "table": None,
        "columns": None,
        "view_name": "index",
        "request": None,
        "datasette": datasette,
    }
    cell = {
        "row": None,
        "value": '{"a": [1, 2]}',
        "column": "c",
        "table": "t",
        "database": "d",
        "datasette": datasette,
        "request": None,
    }

    def plain(kwargs: dict[str, Any]) -> Callable[[], tuple[dict[str, Any], Any]]:
        return lambda: (kwargs, None)

    def commands() -> tuple[dict[str, Any], Any]:
        cli = click.Group()
        return {"cli": cli}, lambda: sorted(cli.commands)

    return {
        "register_routes": plain({"datasette": datasette}),
        "register_output_renderer": plain({"datasette": datasette}),
        "register_facet_classes": plain({}),
        "extra_css_urls": plain(page),
        "extra_js_urls": plain(page),
        "render_cell": plain(cell),
        "register_commands": commands,
    }


def llm_calls(_pm: pluggy.PluginManager) -> dict[str, Callable[[], tuple[dict[str, Any], Any]]]:
    import click

    def recorded() -> tuple[dict[str, Any], Any]:
        register = Recorder()
        return {"register": register}, lambda: register.seen

    def commands() -> tuple[dict[str, Any], Any]:
        cli = click.Group()
        return {"cli": cli}, lambda: sorted(cli.commands)

    hooks = ["register_models", "register_embedding_models", "register_template_loaders"]
    hooks += ["register_fragment_loaders", "register_tools"]
    return {**dict.fromkeys(hooks, recorded), "register_commands": commands}


def tox_calls(_pm: pluggy.PluginManager) -> dict[str, Callable[[], tuple[dict[str, Any], Any]]]:
    from tox.config.cli.parser import ToxParser

    def register() -> tuple[dict[str, Any], Any]:
        recorder = Recorder()
        return {"register": recorder}, lambda: recorder.seen

    def add_option() -> tuple[dict[str, Any], Any]:
        parser = ToxParser.base()
        return {"parser": parser}, lambda: sorted(a.dest for a in parser._actions)

    return {"tox_register_tox_env": register, "tox_add_option": add_option}


CALLS = {"pytest": pytest_calls, "datasette": datasette_calls, "llm": llm_calls, "tox": tox_calls}


def call_impl(impl: Any, make: Callable[[], tuple[dict[str, Any], Any]]) -> Any:
    """Call one hook implementation with fresh arguments; what it returned and what it did."""
    kwargs, seen = make()
    try:
        result = impl.function(*[kwargs.get(a) for a in impl.argnames])
        if inspect.isawaitable(result):
            result = asyncio.run(_awaited(result))
    except Exception as error:  # the answer being compared is the failure itself
        return {"raised": type(error).__name__}
    return {"returned": norm(result), "did": norm(seen()) if seen else None}


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


# -- what a plugin registered ---------------------------------------------------------------------


def entry_points(wheel: Path, group: str) -> list[tuple[str, str]]:
    """The (name, value) entry points of ``wheel`` in ``group``, read from its dist-info."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        text = archive.read(names[0]).decode() if names else ""
    found, section = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line.strip("[]").strip()
        elif "=" in line and section == group:
            name, value = (part.strip() for part in line.split("=", 1))
            found.append((name, value))
    return found


def registered(app: str, pm: pluggy.PluginManager, wheel: Path) -> dict[str, Any]:
    """For each entry point of ``wheel``: its hooks in ``pm`` and its answers to the real calls."""
    calls = CALLS[app](pm)
    report: dict[str, Any] = {}
    for name, value in entry_points(wheel, APPS[app][1]):
        module_name, _, attr = value.partition(":")
        module = sys.modules.get(module_name.strip())
        plugin = getattr(module, attr.strip()) if module is not None and attr else module
        callers = pm.get_hookcallers(plugin) if plugin is not None else None
        if callers is None:
            report[name] = None
            continue
        answers = {}
        for caller in sorted(callers, key=lambda c: c.name):
            if caller.name in calls:
                impls = [i for i in caller.get_hookimpls() if i.plugin is plugin]
                answers[caller.name] = [call_impl(i, calls[caller.name]) for i in impls]
        report[name] = {"hooks": sorted(c.name for c in callers), "calls": answers}
    return report


# -- the three modes ------------------------------------------------------------------------------


def native(app: str, work: Path, wheels: list[Path]) -> dict[str, Any]:
    """Load the wheels the application's way: on sys.path, through its entry-point loading."""
    target = work / "target"
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(target)
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    pm = app_manager(app)
    group = APPS[app][1]
    try:
        for wheel in wheels:
            for name, _ in entry_points(wheel, group):
                pm.load_setuptools_entrypoints(group, name=name)
    except Exception as error:
        return {"loaded": False, "error": f"{type(error).__name__}: {error}"}
    return {"loaded": True, "plugins": registered(app, pm, wheels[-1])}


def adopts_manager() -> bool:
    """Whether this pluginhost takes ``manager=`` (issue 17's first feature)."""
    import attrs

    from pluginhost import PluginHost
    from pluginhost.host.settings import Settings

    signature = inspect.signature(PluginHost.__init__).parameters
    return "manager" in signature or "manager" in attrs.fields_dict(Settings)


def make_host(app: str, work: Path, wheels: list[Path], *, live: bool) -> Any:
    """A host on a watched folder holding ``wheels``, on the application's manager if it can."""
    from pluginhost import PluginHost

    folder = work / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        shutil.copy2(wheel, folder / wheel.name)
    project, group = APPS[app]
    options: dict[str, Any] = {"group": group, "watch": [folder], "home": work / "home"}
    options.update(environment=False, live=live)
    if adopts_manager():
        return PluginHost(project, (), manager=app_manager(app), **options)
    return PluginHost(project, [app_specs(app)], **options)


def hosted(app: str, work: Path, wheels: list[Path]) -> dict[str, Any]:
    """Load the wheels with pluginhost from a watched folder."""
    host = make_host(app, work, wheels, live=False)
    with host:
        states = {n: str(info.state) for n, info in host.plugins.items()}
        problems = [str(p) for p in host.problems()]
        loaded = bool(states) and all("active" in s.lower() for s in states.values())
        report = {"loaded": loaded, "states": states, "problems": problems}
        if loaded:
            report["plugins"] = registered(app, host.plugin_manager, wheels[-1])
        report["adopted"] = adopts_manager()
    return report


def swap(app: str, work: Path, old: Path, new: Path) -> dict[str, Any]:
    """Swap ``old`` for ``new`` in a live host while four threads call ``render_cell``."""
    host = make_host(app, work, [old], live=True)
    calls, failures, stop = [0], [], threading.Event()
    cell = {"row": None, "value": '{"a": 1}', "column": "c", "table": "t", "database": "d"}
    with host:
        (name,) = host.plugins
        before = str(host.plugins[name].version)

        def call() -> None:
            while not stop.is_set():
                try:
                    host.hook.render_cell(**cell, datasette=None, request=None)
                    calls[0] += 1
                except Exception as error:
                    failures.append(repr(error))

        def version() -> str | None:
            info = host.plugins.get(name)
            return None if info is None else str(info.version)

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.3)
            # The new wheel first, whole (written aside, renamed in), then the old one goes: a
            # wheel deleted first is a removal, and the plugin would be unloaded meanwhile.
            aside = work / f".{new.name}.part"
            shutil.copy2(new, aside)
            os.replace(aside, work / "wheels" / new.name)
            deadline = time.monotonic() + 60
            while version() == before and time.monotonic() < deadline:
                host.wait_idle(1)
            (work / "wheels" / old.name).unlink()
            host.wait_idle(10)
            time.sleep(0.3)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        after = version()
        problems = [str(p) for p in host.problems()]
    return {
        "before": before,
        "after": after,
        "calls": calls[0],
        "failures": failures[:5],
        "problems": problems,
    }


def main(argv: list[str]) -> int:
    mode, app, work, *wheels = argv
    paths = [Path(w) for w in wheels]
    run = {"native": native, "host": hosted, "swap": lambda a, w, p: swap(a, w, *p)}[mode]
    try:
        report = run(app, Path(work), paths)
    except Exception as error:
        report = {"loaded": False, "error": f"{type(error).__name__}: {error}"}
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
