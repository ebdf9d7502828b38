"""Figures 4 and 5: discovery and cold start over many installed distributions.

4. Discovery: pluginhost's environment source (entry points and manifests, nothing imported)
   against ``importlib.metadata.entry_points(group=...)`` over the same site dir.
5. Cold start, in a fresh interpreter each time: a host started on the installed plugins
   (discover, resolve, import, register in order) against pluggy's
   ``load_setuptools_entrypoints`` of the same plugins; and the cost of importing unrelated
   modules in a host with many plugins loaded from wheels against a host with none.
"""

from __future__ import annotations

import importlib.metadata
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import Row, hook_module, row, run_child, write_site

from pluginhost import EnvironmentSource
from pluginhost.testing import WheelFactory

PROJECT = "benchcold"
GROUP = f"{PROJECT}.plugins"
#: Distributions installed per plugin: 1,000 of which 200 are plugins.
DISTS_PER_PLUGIN = 5
#: Unrelated modules imported per run of the import figure.
UNRELATED = 1000

_CHILD_PRELUDE = f"""
import json, sys, time
import pluggy
hookspec = pluggy.HookspecMarker({PROJECT!r})
class Spec:
    @hookspec
    def ping(self): ...
"""

# Both sides scan the whole sys.path (the site dir first): the host with its default
# environment=True, pluggy with load_setuptools_entrypoints. "seconds" starts once each side
# has imported its library; "with_import" at the child's first line, so it counts
# `import pluginhost` (and what it imports) against `import pluggy` (and what
# load_setuptools_entrypoints imports on its own, importlib.metadata among them).
_COLD_CHILD = """
import time
begun = time.perf_counter()
import json, sys
site, mode, home = sys.argv[1:4]
sys.path.insert(0, site)
import pluggy
if mode == "host":
    from pluginhost import PluginHost
hookspec = pluggy.HookspecMarker("benchcold")
class Spec:
    @hookspec
    def ping(self): ...
started = time.perf_counter()
if mode == "host":
    host = PluginHost("benchcold", specs=[Spec], home=home, live=False)
    host.start()
    answers = host.hook.ping()
else:
    pm = pluggy.PluginManager("benchcold")
    pm.add_hookspecs(Spec)
    pm.load_setuptools_entrypoints("benchcold.plugins")
    answers = pm.hook.ping()
done = time.perf_counter()
print(json.dumps({"seconds": done - started, "with_import": done - begun, "plugins": len(answers)}))
"""

_IMPORT_ONLY = """
import time
begun = time.perf_counter()
import sys
exec(sys.argv[1])
print('{"seconds": %r}' % (time.perf_counter() - begun))
"""

_IMPORT_CHILD = (
    _CHILD_PRELUDE
    + """
import importlib
wheels, home, unrelated, count = sys.argv[1:5]
from pluginhost import PluginHost
host = PluginHost("benchcold", specs=[Spec], home=home, watch=[wheels], environment=False,
                  live=False)
host.start()
loaded = len(host.hook.ping())
sys.path.insert(0, unrelated)
names = [f"unrelated{index}" for index in range(int(count))]
passes = []
# Several passes, each module imported afresh: the quickest pass is the least disturbed by
# the other processes of a shared machine.
for _ in range(5):
    for name in names:
        sys.modules.pop(name, None)
    started = time.perf_counter()
    for name in names:
        importlib.import_module(name)
    passes.append((time.perf_counter() - started) / len(names))
seconds = min(passes)
print(json.dumps({"seconds": seconds, "plugins": loaded, "sys_path": len(sys.path)}))
"""
)


def make_site(root: Path, plugins: int) -> Path:
    return write_site(
        root, dists=DISTS_PER_PLUGIN * plugins, plugins=plugins, project=PROJECT, hook="ping"
    )


def discovery(site: Path, plugins: int, repeat: int, *, figure: str) -> Row:
    ours: list[float] = []
    base: list[float] = []
    for _ in range(repeat):
        # A new source each time: a kept scan would be measuring a dictionary lookup.
        started = time.perf_counter()
        scan = EnvironmentSource(path=(str(site),)).scan(GROUP)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        found = _entry_points_over(site)
        base.append(time.perf_counter() - started)
        assert len(scan.candidates) == len(found) == plugins, (len(scan.candidates), len(found))
    ratio = statistics.median(ours) / statistics.median(base)
    dists = DISTS_PER_PLUGIN * plugins
    return row(
        figure,
        f"{dists}/{plugins}",
        ours,
        unit="ms",
        baseline=base,
        baseline_name="importlib.metadata.entry_points",
        ratio=ratio,
        target="ratio <= 1.2",
        met=ratio <= 1.2,
    )


def _entry_points_over(site: Path) -> importlib.metadata.EntryPoints:
    """``entry_points(group=...)`` as an application calls it, with only ``site`` on the path."""
    saved = sys.path[:]
    sys.path[:] = [str(site)]
    try:
        return importlib.metadata.entry_points(group=GROUP)
    finally:
        sys.path[:] = saved


def cold_start(site: Path, plugins: int, repeat: int, tmp: Path, *, figure: str) -> list[Row]:
    """The cold start without and with the library's import counted, bytecode cached on both
    sides (the plugins' by an uncounted first run, the libraries' by their installation)."""
    runs: list[tuple[dict[str, float], dict[str, float]]] = []
    # One run each first, not counted: it writes the plugins' bytecode.
    for index in range(repeat + 1):
        home = tmp / f"home-{plugins}-{index}"
        mine = run_child(_COLD_CHILD, str(site), "host", str(home))
        theirs = run_child(_COLD_CHILD, str(site), "pluggy", "-")
        assert mine["plugins"] == theirs["plugins"] == plugins, (mine, theirs)
        if index:
            runs.append((mine, theirs))
    rows = []
    for key, name, target in (("seconds", "", 1.3), ("with_import", ", import counted", 1.5)):
        ours = [mine[key] for mine, _ in runs]
        base = [theirs[key] for _, theirs in runs]
        ratio = statistics.median(ours) / statistics.median(base)
        rows.append(
            row(
                figure + name,
                plugins,
                ours,
                unit="ms",
                baseline=base,
                baseline_name="pluggy load_setuptools_entrypoints" + name,
                ratio=ratio,
                target=f"ratio <= {target}",
                met=ratio <= target,
                bytecode_cached=True,
            )
        )
    return rows


def import_cost(repeat: int, statement: str, figure: str) -> Row:
    """``statement`` (``import pluginhost``, or what a host needs to start: ``from pluginhost
    import PluginHost``) against ``import pluggy``, each in fresh interpreters (bytecode cached:
    both were imported once before)."""
    run_child(_IMPORT_ONLY, statement)
    run_child(_IMPORT_ONLY, "import pluggy")
    ours, base = [], []
    for _ in range(repeat):
        ours.append(run_child(_IMPORT_ONLY, statement)["seconds"])
        base.append(run_child(_IMPORT_ONLY, "import pluggy")["seconds"])
    ratio = statistics.median(ours) / statistics.median(base)
    return row(
        figure,
        "-",
        ours,
        unit="ms",
        baseline=base,
        baseline_name="import pluggy",
        ratio=ratio,
        target="ratio <= 2",
        met=ratio <= 2,
        bytecode_cached=True,
    )


def unrelated_import(plugins: int, repeat: int, tmp: Path) -> Row:
    """Importing modules that are no plugin's, with ``plugins`` loaded from wheels vs none."""
    wheels, empty, unrelated = tmp / "import-wheels", tmp / "import-empty", tmp / "unrelated"
    factory = WheelFactory(wheels, group=GROUP)
    for index in range(plugins):
        factory.build(f"loaded{index}", code=hook_module(PROJECT, "ping", str(index)))
    empty.mkdir()
    unrelated.mkdir()
    for index in range(UNRELATED):
        (unrelated / f"unrelated{index}.py").write_text(f"VALUE = {index}\n")
    ours: list[float] = []
    base: list[float] = []
    # The same homes each time: after the first start, a restart restores the plugins from
    # their site dirs. The first run of each is not counted (bytecode, installation).
    for index in range(repeat + 1):
        args = (str(unrelated), str(UNRELATED))
        mine = run_child(_IMPORT_CHILD, str(wheels), str(tmp / "import-home"), *args)
        theirs = run_child(_IMPORT_CHILD, str(empty), str(tmp / "import-home-empty"), *args)
        assert (mine["plugins"], theirs["plugins"]) == (plugins, 0), (mine, theirs)
        assert mine["sys_path"] == theirs["sys_path"], "sys.path grew with the plugins"
        if index:
            ours.append(mine["seconds"])
            base.append(theirs["seconds"])
    ratio = statistics.median(ours) / statistics.median(base)
    return row(
        "5 unrelated import",
        plugins,
        ours,
        unit="us",
        baseline=base,
        baseline_name="host with no plugins",
        ratio=ratio,
        target="ratio <= 1.1",
        met=ratio <= 1.1,
    )


def figures(quick: bool) -> list[Row]:
    plugins = 4 if quick else 200
    repeat, children = (2, 1) if quick else (15, 7)
    with tempfile.TemporaryDirectory() as tmp:
        site = make_site(Path(tmp), plugins)
        return [
            discovery(site, plugins, repeat, figure="4 discovery"),
            *cold_start(site, plugins, children, Path(tmp), figure="5 cold start"),
            import_cost(3 if quick else 15, "import pluginhost", "5 import"),
            import_cost(
                3 if quick else 15, "from pluginhost import PluginHost", "5 import PluginHost"
            ),
            unrelated_import(plugins, children, Path(tmp)),
        ]


def scaling(quick: bool, sizes: tuple[int, ...]) -> list[Row]:
    """Figure 7 for discovery and cold start, at each size."""
    repeat, children = (2, 1) if quick else (9, 3)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for plugins in sizes:
            site = make_site(Path(tmp), plugins)
            rows.append(discovery(site, plugins, repeat, figure="7 discovery, N plugins"))
            rows += cold_start(site, plugins, children, Path(tmp), figure="7 cold start, N plugins")
    return rows
