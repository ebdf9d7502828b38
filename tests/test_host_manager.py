"""PluginHost(..., manager=pm): the application's own plugin manager adopted, with real pytest,
datasette and llm managers and a real published wheel."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import importlib_metadata
import pluggy
import pytest
from _pytest.assertion.rewrite import AssertionRewriter
from _pytest.config import Config, get_config

from pluginhost import HostStateError, PluginHost, SettingsError
from pluginhost.testing import WheelFactory

#: A published plugin whose two hooks are unmarked ``pytest_*`` functions.
PYTEST_MOCK = "pytest-mock==3.17.0"
#: Where published wheels are downloaded once, outside the repository.
CACHE = Path(os.environ.get("PLUGINHOST_WHEEL_CACHE", Path.home() / ".cache/pluginhost-wheels"))

PYTEST_PLUGIN = """
from importlib.metadata import version

# pytest-asyncio's pattern: the plugin asks for its own version while it is imported.
__version__ = version("phx-pytest")

def pytest_addoption(parser):
    parser.addini("phx_{tag}", "an option of phx-pytest {tag}")

def pytest_report_header(config):
    return "phx-pytest {tag}"
"""


#: A plugin of fixtures only, as pytest-datadir is: no hook implementation at all.
FIXTURES_ONLY = """
import pytest

@pytest.fixture
def shared_data():
    return {"answer": 42}
"""


#: A pytest plugin with an option of its own, read when pytest loads its initial conftests.
OPTIONS_PLUGIN = """
import os

def pytest_addoption(parser):
    parser.addoption("--phx-early", default="no")

def pytest_load_initial_conftests(early_config, parser, args):
    os.environ["PHX_EARLY"] = early_config.known_args_namespace.phx_early
"""

#: A pytest plugin of assertion helpers, as pytest-mock's are.
CHECKS_PLUGIN = """
import pytest

@pytest.fixture
def check_equal():
    def check(got, wanted):
        assert got == wanted
    return check
"""

#: A library a pytest plugin requires, with an assertion of its own.
DEP_CHECK = """
def check(got, wanted):
    assert got == wanted
"""

#: docs/hosting.md's pytest recipe, run as a program.
OPTIONS_RUN = """
import sys
from _pytest.config import get_config
from pluginhost import PluginHost

args = sys.argv[1:]
config = get_config(args)
host = PluginHost("pytest", (), manager=config.pluginmanager, group="pytest11",
                  watch=[{folder!r}], environment=False, home={home!r})
host.start_with_application()
config = config.pluginmanager.hook.pytest_cmdline_parse(
    pluginmanager=config.pluginmanager, args=args
)
if not host.running:  # PYTEST_DISABLE_PLUGIN_AUTOLOAD=1: pytest loaded no installed plugin
    host.start()
try:
    print(*(f"{{n}}: {{i.state.value}}" for n, i in host.plugins.items()))
    status = config.hook.pytest_cmdline_main(config=config)
finally:
    config._ensure_unconfigure()
    host.stop()
sys.exit(int(status))
"""


def run_recipe(
    factory: WheelFactory, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """:data:`OPTIONS_RUN` on ``factory``'s folder, a real pytest in a subprocess, in
    ``tmp_path`` with ``args``."""
    script = OPTIONS_RUN.format(folder=str(factory.directory), home=str(tmp_path / "home"))
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=tmp_path,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


class Listener:
    """A plugin of the application: hears of every plugin registered, like pytest's fixture
    manager does."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    def pytest_plugin_registered(self, plugin: object, plugin_name: str) -> None:
        self.heard.append(plugin_name)


@pytest.fixture
def config() -> Config:
    """A real pytest configuration, its PytestPluginManager with pytest's own plugins."""
    return get_config()


@pytest.fixture
def adopt(tmp_path: Path, wheels: Path) -> Iterator[Any]:
    """Starts (and later stops) hosts on the application's manager, watching ``wheels``."""
    hosts: list[PluginHost] = []

    def make(pm: pluggy.PluginManager, **kwargs: Any) -> PluginHost:
        # Each application's entry-point group: pytest's has a name of its own.
        kwargs.setdefault("group", {"pytest": "pytest11"}.get(pm.project_name, pm.project_name))
        host = PluginHost(
            pm.project_name,
            manager=pm,
            home=tmp_path / "home",
            watch=[wheels],
            environment=False,
            live=False,
            **kwargs,
        )
        hosts.append(host)
        return host.start()

    yield make
    for host in hosts:
        host.stop()


def own_plugins(pm: pluggy.PluginManager) -> dict[str, tuple[str, ...]]:
    """The application's own plugins and the hooks each answers, to compare before and after."""
    return {
        name: tuple(sorted(c.name for c in pm.get_hookcallers(plugin) or ()))
        for name, plugin in pm.list_name_plugin()
        if plugin is not None and not name.startswith("phx")
    }


def listed(pm: pluggy.PluginManager) -> list[tuple[str, str]]:
    return [(d.project_name, d.version) for _, d in pm.list_plugin_distinfo()]


def versions(name: str) -> set[str]:
    """The version both importlib.metadata and its backport give for ``name``."""
    return {importlib.metadata.version(name), importlib_metadata.version(name)}


class TestPytestManager:
    def test_unmarked_hooks_collected(
        self, adopt: Any, config: Config, wheels: Path, tmp_path: Path
    ) -> None:
        """Unmarked ``pytest_*`` functions are hooks, history is replayed (pytest_addoption)
        and the application hears of the plugin, as with pytest's own register."""
        pm = config.pluginmanager
        listener = Listener()
        pm.register(listener, "listener")
        WheelFactory(wheels, "pytest11").build(
            "phx-pytest", code=PYTEST_PLUGIN.format(tag="one"), no_manifest=True
        )
        adopt(pm)
        hooks = sorted(c.name for c in pm.get_hookcallers(pm.get_plugin("phx-pytest")) or ())
        assert hooks == ["pytest_addoption", "pytest_report_header"]
        assert "phx_one" in config._parser._inidict
        assert listener.heard[-1] == "phx-pytest"
        assert listener.heard.count("phx-pytest") == 1

    def test_swap_rollback_remove_keep_the_application(
        self, adopt: Any, config: Config, wheels: Path, tmp_path: Path
    ) -> None:
        """Through a swap, a rollback and a removal, pytest's own plugins answer as before,
        and the metadata and list_plugin_distinfo() are the serving version's."""
        pm = config.pluginmanager
        before = own_plugins(pm)
        factory = WheelFactory(wheels, "pytest11")
        factory.build("phx-pytest", code=PYTEST_PLUGIN.format(tag="one"), no_manifest=True)
        host = adopt(pm)
        assert versions("phx-pytest") == {"1.0.0"}
        newer = WheelFactory(tmp_path / "newer", "pytest11").build(
            "phx-pytest", "2.0.0", code=PYTEST_PLUGIN.format(tag="two"), no_manifest=True
        )
        host.install(newer)
        assert versions("phx-pytest") == {"2.0.0"}
        assert pm.get_plugin("phx-pytest").__version__ == "2.0.0"
        assert listed(pm) == [("phx-pytest", "2.0.0")]
        assert "phx_two" in config._parser._inidict
        host.rollback("phx-pytest")
        assert versions("phx-pytest") == {"1.0.0"}
        assert pm.get_plugin("phx-pytest").__version__ == "1.0.0"
        assert listed(pm) == [("phx-pytest", "1.0.0")]
        assert own_plugins(pm) == before
        host.remove("phx-pytest")
        assert listed(pm) == []
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.version("phx-pytest")
        assert own_plugins(pm) == before
        assert host.problems() == ()

    @pytest.mark.parametrize("unknown_hooks", ["warn", "refuse"])
    def test_plugin_of_fixtures_only(
        self, adopt: Any, config: Config, wheels: Path, unknown_hooks: str
    ) -> None:
        """A plugin that implements no hook but offers fixtures (pytest-datadir,
        pytest-tmpfs) loads with no problem, even under unknown_hooks="refuse": pytest
        announces each plugin registered, and its fixture manager takes the fixtures from it
        then. Its listeners hear of it as they would from pytest's own register."""
        pm = config.pluginmanager
        listener = Listener()
        pm.register(listener, "listener")
        WheelFactory(wheels, "pytest11").build("phx-fixtures", code=FIXTURES_ONLY, no_manifest=True)
        host = adopt(pm, unknown_hooks=unknown_hooks)
        assert host.load_order() == ("phx-fixtures",)
        assert host.problems() == ()
        assert listener.heard.count("phx-fixtures") == 1
        assert pm.get_plugin("phx-fixtures").shared_data.__name__ == "shared_data"

    def test_name_held_by_the_application_refused(
        self, adopt: Any, config: Config, wheels: Path
    ) -> None:
        """A plugin named like one of pytest's own is refused; pytest's keeps serving."""
        pm = config.pluginmanager
        python_plugin = pm.get_plugin("python")
        WheelFactory(wheels, "pytest11").build(
            "python",
            code="def pytest_report_header(config):\n    return 'x'\n",
            module="phx_python",
            no_manifest=True,
        )
        host = adopt(pm)
        assert pm.get_plugin("python") is python_plugin
        (problem,) = host.problems()
        assert "registered under a name that the application already registered" in (
            problem.message
        )

    def test_published_pytest_mock(self, adopt: Any, config: Config, wheels: Path) -> None:
        """The published pytest-mock wheel loads with both its unmarked hooks, and its
        version shows in the metadata and in list_plugin_distinfo()."""
        shutil.copy(published(PYTEST_MOCK), wheels)
        pm = config.pluginmanager
        host = adopt(pm)
        assert host.problems() == ()
        plugin = pm.get_plugin("pytest_mock")  # its entry point's name, as pytest registers it
        hooks = sorted(c.name for c in pm.get_hookcallers(plugin) or ())
        assert hooks == ["pytest_addoption", "pytest_configure"]
        assert "mock_use_standalone_module" in config._parser._inidict
        assert versions("pytest_mock") == {"3.17.0"}
        assert listed(pm) == [("pytest-mock", "3.17.0")]

    def test_started_with_the_application(self, factory: WheelFactory, tmp_path: Path) -> None:
        """A host started with the application (``start_with_application``) loads its plugins
        where pytest loads its installed ones, inside ``parse()``: a plugin's command-line
        option is parsed and its ``pytest_load_initial_conftests`` runs, as for an installed
        plugin. Started after ``parse()``, pytest refused the option and the hook never came."""
        factory.build("phx-options", group="pytest11", code=OPTIONS_PLUGIN, no_manifest=True)
        (tmp_path / "test_it.py").write_text(
            "import os\n\ndef test_it():\n    assert os.environ['PHX_EARLY'] == 'yes'\n"
        )
        run = run_recipe(factory, tmp_path, "-p", "no:cacheprovider", "--phx-early", "yes")
        assert run.returncode == 0, run.stdout + run.stderr
        assert "phx-options: active" in run.stdout
        assert "1 passed" in run.stdout

    def test_plugin_removed_while_down_adds_no_option(
        self, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A plugin whose wheel was deleted between two runs of pytest is not loaded by the
        second: its option is unknown there. It was restored, then unloaded by the first
        reconcile, and pytest kept the option it had added."""
        wheel = factory.build(
            "phx-options", group="pytest11", code=OPTIONS_PLUGIN, no_manifest=True
        )
        (tmp_path / "test_it.py").write_text("def test_it():\n    pass\n")
        run = run_recipe(factory, tmp_path, "-p", "no:cacheprovider", "--phx-early", "yes")
        assert run.returncode == 0, run.stdout + run.stderr
        wheel.unlink()
        run = run_recipe(factory, tmp_path, "-p", "no:cacheprovider", "--phx-early", "yes")
        assert "unrecognized arguments: --phx-early" in run.stderr, run.stdout + run.stderr
        run = run_recipe(factory, tmp_path, "-p", "no:cacheprovider")
        assert run.returncode == 0, run.stdout + run.stderr
        assert "phx-options" not in run.stdout

    def test_plugin_asserts_rewritten_as_pytest_rewrites_installed_ones(
        self, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """pytest rewrites the ``assert`` statements of its installed plugins' modules, and of
        the host's plugins too: a failing assert in a plugin's helper says what differed
        (pytest-mock's ``assert_called_with`` relies on it). The host's own import hook served
        the modules first, and the assert failed with a bare AssertionError."""
        factory.build("phx-checks", group="pytest11", code=CHECKS_PLUGIN, no_manifest=True)
        (tmp_path / "test_it.py").write_text(
            "def test_it(check_equal):\n    check_equal([1, 2, 3], [1, 2, 4])\n"
        )
        run = run_recipe(factory, tmp_path, "-p", "no:cacheprovider")
        assert "1 failed" in run.stdout, run.stdout + run.stderr
        assert "assert [1, 2, 3] == [1, 2, 4]" in run.stdout
        # Of no module: not the host's plugins, nor pluginhost itself (whose pluginhost.testing is
        # a pytest11 plugin: installed as a wheel, as CI's tox does, its packages are marked).
        assert "cannot be rewritten" not in run.stdout + run.stderr

    def test_pytest_does_not_warn_of_pluginhost_imported_before_it(self) -> None:
        """pytest marks the top-level packages of pluginhost's distribution for rewriting (its
        ``pytest11`` plugin) as it parses its arguments; the documented recipe imported them
        before, and pytest warned "Module already imported so cannot be rewritten" of each: an
        error under ``filterwarnings = error`` (published probe 10). They ask not to be
        rewritten, which pytest checks before it warns (``mark_rewrite``)."""
        import hookspecs
        import pluginhost

        for package in (pluginhost, hookspecs):
            assert AssertionRewriter.is_rewrite_disabled(package.__doc__ or ""), package

    def test_dependency_asserts_not_rewritten(self, factory: WheelFactory, tmp_path: Path) -> None:
        """pytest rewrites its plugins' modules, not their dependencies': neither does the host
        (the rewrite reached every module the host served, dependencies too)."""
        factory.build("phx-dep", group="other", code=DEP_CHECK, no_manifest=True)
        code = "import pytest\nimport phx_dep\n\n@pytest.fixture\ndef check_equal():\n"
        code += "    return phx_dep.check\n"
        factory.build(
            "phx-checks", group="pytest11", code=code, no_manifest=True, requires_dist=["phx-dep"]
        )
        (tmp_path / "test_it.py").write_text(
            "def test_it(check_equal):\n    check_equal([1, 2, 3], [1, 2, 4])\n"
        )
        run = run_recipe(factory, tmp_path, "-p", "no:cacheprovider")
        assert "1 failed" in run.stdout, run.stdout + run.stderr
        assert "phx-checks: active" in run.stdout
        assert "assert [1, 2, 3] == [1, 2, 4]" not in run.stdout

    def test_plugins_loaded_by_name_do_not_start_it(
        self, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A plugin pytest loads by its name (``-p NAME``, a module's ``pytest_plugins``) is
        not the moment pytest loads its installed plugins: the host waits for that one, or,
        with autoload off, for the recipe's own start. A test module's ``pytest_plugins``
        then started the host a second time, and the module failed to import."""
        factory.build("phx-options", group="pytest11", code=OPTIONS_PLUGIN, no_manifest=True)
        (tmp_path / "helpermod.py").write_text("import pytest\n")
        (tmp_path / "test_it.py").write_text(
            "pytest_plugins = ['helpermod']\n\ndef test_it():\n    pass\n"
        )
        run = run_recipe(
            factory,
            tmp_path,
            "-p",
            "no:cacheprovider",
            env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(tmp_path)},
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "phx-options: active" in run.stdout
        assert "1 passed" in run.stdout

    def test_started_by_a_load_asked_with_keywords(self, tmp_path: Path) -> None:
        """The application may name pluggy's parameters (``group=``): the wrapper takes them
        as pluggy does; a load of another group starts nothing."""
        pm = pluggy.PluginManager("phx")
        host = PluginHost("phx", (), manager=pm, home=tmp_path / "home", environment=False)
        host.start_with_application()
        pm.load_setuptools_entrypoints(group="other.plugins")
        assert not host.running
        pm.load_setuptools_entrypoints(group="phx.plugins", name=None)
        try:
            assert host.running
        finally:
            host.stop()

    def test_started_with_a_manager_of_its_own_refused(self, tmp_path: Path) -> None:
        host = PluginHost("phx", (), home=tmp_path / "home", environment=False)
        with pytest.raises(HostStateError, match="application's own manager"):
            host.start_with_application()

    def test_other_project_refused(self, config: Config, tmp_path: Path) -> None:
        """Adopting pytest's manager for another project is a SettingsError."""
        with pytest.raises(SettingsError, match="project 'pytest', not of 'greeter'"):
            PluginHost("greeter", manager=config.pluginmanager, home=tmp_path / "home")


class TestApplicationListings:
    def test_datasette_plugins(self, adopt: Any, wheels: Path) -> None:
        """datasette's get_plugins() (its /-/plugins page) shows the plugin with its version;
        datasette's built-in plugins stay."""
        plugins = pytest.importorskip("datasette.plugins", reason="datasette is not installed")
        builtins = own_plugins(plugins.pm)
        WheelFactory(wheels, "datasette").build(
            "phx-datasette", "1.2.0", code=hook_code("datasette", "extra_template_vars")
        )
        host = adopt(plugins.pm)
        shown = {p["name"]: p for p in plugins.get_plugins()}
        assert shown["phx-datasette"]["version"] == "1.2.0"
        assert shown["phx-datasette"]["hooks"] == ["extra_template_vars"]
        host.stop()
        assert "phx-datasette" not in {p["name"] for p in plugins.get_plugins()}
        assert own_plugins(plugins.pm) == builtins

    def test_llm_plugins(self, adopt: Any, wheels: Path) -> None:
        """llm's get_plugins() (``llm plugins``) shows the plugin with its version."""
        llm = pytest.importorskip("llm", reason="llm is not installed")
        WheelFactory(wheels, "llm").build(
            "phx-llm", "0.3.0", code=hook_code("llm", "register_commands", "cli")
        )
        adopt(llm.plugins.pm)
        shown = {p["name"]: p for p in llm.get_plugins()}
        assert shown["phx-llm"]["version"] == "0.3.0"
        assert shown["phx-llm"]["hooks"] == ["register_commands"]


def hook_code(project: str, hook: str, *args: str) -> str:
    """A plugin module with one marked hook implementation that does nothing."""
    return (
        f"import pluggy\n\nhookimpl = pluggy.HookimplMarker({project!r})\n\n\n"
        f"@hookimpl\ndef {hook}({', '.join(args)}):\n    return None\n"
    )


def published(requirement: str) -> Path:
    """A published wheel, downloaded once into :data:`CACHE`; skips when it cannot be."""
    name, _, version = requirement.partition("==")
    stem = f"{name.replace('-', '_')}-{version}-"
    found = sorted(CACHE.glob(f"{stem}*.whl"))
    if not found:
        # Few retries and a short timeout: without a registry, skip soon rather than hang CI.
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        command += ["--retries", "1", "--timeout", "15"]
        result = subprocess.run(
            [*command, "-d", str(CACHE), requirement],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        found = sorted(CACHE.glob(f"{stem}*.whl"))
        if result.returncode != 0 or not found:
            pytest.skip(f"cannot download {requirement}: {result.stderr.strip()[-300:]}")
    return found[0]
