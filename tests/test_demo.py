"""``pluginhost demo``, run as a real subprocess: each of its seven steps is visible and checked."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pluginhost.cli.commands import demo as _demo

pytestmark = pytest.mark.slow

WHEELS = (
    "hello_plugin-1.0.0-py3-none-any.whl",
    "polite_plugin-1.0.0-py3-none-any.whl",
    "needy_plugin-0.1.0-py3-none-any.whl",
    "hello_plugin-1.1.0-py3-none-any.whl",
    "hello_plugin-1.2.0-py3-none-any.whl",
    "sturdy_plugin-1.0.0-py3-none-any.whl",
)


def run_demo(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "pluginhost", "demo", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel cache shared by this module's runs, empty before the first."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def first(cache: Path) -> subprocess.CompletedProcess[str]:
    """One run of the demo on an empty cache, shared by the tests of its output."""
    return run_demo(cache=cache)


@pytest.fixture(scope="module")
def out(first: subprocess.CompletedProcess[str]) -> str:
    assert first.returncode == 0, first.stdout + first.stderr
    return first.stdout


def number(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in output"
    return int(match[1].replace(",", ""))


def _line_with(text: str, out: str) -> str:
    return next(line for line in out.splitlines() if text in line)


class TestSteps:
    def test_exit_and_plain_text(self, first: subprocess.CompletedProcess[str]) -> None:
        """Exit 0, every check passed, no colour with NO_COLOR, nothing on stderr."""
        assert first.returncode == 0
        assert "Demo complete: every step behaved as shown." in first.stdout
        assert "FAILED" not in first.stdout
        assert "\033[" not in first.stdout
        assert first.stderr == ""

    def test_1_builds_wheels_with_backend(self, out: str, cache: Path) -> None:
        """Every demo project is built by flit_core into the cache."""
        assert "PEP 517 backend (flit_core.buildapi)" in out
        for wheel in WHEELS:
            assert f"built  {wheel}" in out
        cached = sorted(p.name for p in (cache / "pluginhost" / "demo-wheels").glob("*/*.whl"))
        assert cached == sorted(WHEELS)

    def test_2_discovery_order_and_hooks(self, out: str) -> None:
        """Discovery, the dependency with its constraint, the load order, hook answers."""
        discovered = "event  discovered polite-plugin (polite) 1.0.0"
        assert f"{discovered} from wheels/polite_plugin-1.0.0" in out
        assert "polite 1.0.0 (active) requires hello ^1.0" in out
        hello = out.index("event  loaded hello-plugin (hello) 1.0.0")
        assert hello < out.index("event  loaded polite-plugin (polite) 1.0.0")
        assert "load order (dependencies first): hello -> polite" in out
        assert "Hello, Ada! (hello 1.0.0, greeting #1)" in out
        assert "Pleased to meet you, Ada." in out
        assert "Goodbye, Ada, and thank you." in out

    def test_3_hot_swap_under_load(self, out: str) -> None:
        """The update under load: its event, the counter going on, calls served, none failed."""
        assert "dropped hello_plugin-1.1.0-py3-none-any.whl into wheels/ (one rename)" in out
        assert "event  updated hello-plugin (hello) 1.0.0 -> 1.1.0" in out
        first_new = number(r"first by hello 1\.1\.0: #(\d+)", out)
        assert first_new > number(r"([\d,]+) calls served so far", out)
        assert "state handed over: the counter went on" in out
        assert number(r"during the swap \(from the drop until idle\): ([\d,]+) served", out) > 0
        assert re.search(r"until idle\): [\d,]+ served, 0 failed \([\d,]+ served in all\)", out)

    def test_no_version_goes_to_itself(self, out: str) -> None:
        """No ``1.0.0 -> 1.0.0`` line: polite, re-imported for hello, says so instead."""
        assert not re.search(r"(\S+) -> \1\b", out), re.search(r".*(\S+) -> \1\b.*", out)
        polite = "polite-plugin (polite) 1.0.0"
        assert f"event  updated {polite} (re-imported for hello 1.1.0) from" in out
        assert f"event  rolled_back {polite} (re-imported for hello 1.2.0) at health" in out

    def test_counter_gap_explained(self, out: str) -> None:
        """The line after the last old and first new greeting says why they are where they are."""
        line = out.splitlines()[out.splitlines().index(_line_with("last greeting by", out)) + 1]
        assert re.fullmatch(
            r"    \((consecutive: the counter went from #\d+ to #\d+ at the switch|why they "
            r"overlap: \d+ calls? that took hello 1\.0\.0 just before the switch was paused .*)\)",
            line,
        ), line

    def test_failure_reason_where_it_first_shows(self, out: str) -> None:
        """needy's first line in step 2 says why it is not loaded."""
        assert (
            "needy 0.1.0 (failed), not loaded: requires translator ^2.0, which is not available"
            in out[: out.index("3. Hot swap")]
        )

    def test_4_broken_version_rolls_back(self, out: str) -> None:
        """The unhealthy version is rolled back and 1.1.0 answers with its counter intact."""
        assert "event  load_failed hello-plugin (hello) 1.1.0 -> 1.2.0 at health" in out
        assert "event  rolled_back hello-plugin (hello) 1.2.0 -> 1.1.0 at health" in out
        assert "rolled back: hello is on 1.1.0 again" in out
        last = number(r"every greeting from #\d+ to #(\d+) given exactly once", out)
        assert f"Hello again, Ada! (hello 1.1.0, greeting #{last + 1})" in out

    def test_5_missing_dependency_explained(self, out: str) -> None:
        """needy's problem, word for word as host.problems() gives it."""
        assert "missing: needy 0.1.0 requires translator ^2.0, which is not available" in out

    def test_6_removed_wheel_unloads(self, out: str) -> None:
        """Deleting polite's wheel unloads it with a removed event; hello goes on alone."""
        assert "deleted polite_plugin-1.0.0-py3-none-any.whl" in out
        assert "event  removed polite-plugin (polite) 1.0.0" in out
        assert "polite unloaded; load order now: hello" in out
        tail = out[out.index("event  removed polite-plugin (polite)") :]
        assert "Pleased to meet you" not in tail
        assert "(hello 1.1.0, greeting #" in tail

    def test_7_process_plugin_crashes_and_comes_back(self, out: str) -> None:
        """sturdy runs in a worker; its crash reaches the caller, hello serves on, and a new
        worker comes back with sturdy's state."""
        step = out[out.index("7. Crash containment") :]
        host_pid = number(r"\(the host is pid (\d+)\)", step)
        first = number(r"sturdy 1\.0\.0 runs in worker pid (\d+)", step)
        assert first != host_pid
        assert "farewell #1" in step
        assert 'host.hook.farewell(name="crash") raised PluginCrashedError' in step
        assert "event  crashed sturdy-plugin (sturdy) 1.0.0 (exited with code 1)" in step
        assert "event  restarted sturdy-plugin (sturdy) 1.0.0" in step
        assert re.search(r"meanwhile hello served [\d,]+ calls from 4 threads, 0 failed", step)
        second = number(r"sturdy is back in a new worker \(pid (\d+), 1 restart\)", step)
        assert second not in (first, host_pid)
        assert f"(sturdy, worker pid {second}, farewell #2)" in step


class TestSecondRun:
    def test_reuses_cache_and_keeps(
        self, first: subprocess.CompletedProcess[str], cache: Path, tmp_path: Path
    ) -> None:
        """A second run reuses every cached wheel; --keep leaves the home and watched folder."""
        keep = tmp_path / "kept"
        proc = run_demo("--keep", str(keep), cache=cache)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for wheel in WHEELS:
            assert f"reused {wheel}" in proc.stdout
        assert "built " not in proc.stdout
        assert f"Left in {keep}" in proc.stdout
        assert sorted(p.name for p in (keep / "wheels").glob("*.whl")) == [
            "hello_plugin-1.0.0-py3-none-any.whl",
            "hello_plugin-1.1.0-py3-none-any.whl",
            "hello_plugin-1.2.0-py3-none-any.whl",
            "needy_plugin-0.1.0-py3-none-any.whl",
            "sturdy_plugin-1.0.0-py3-none-any.whl",
        ]
        assert (keep / "home" / "registry.json").is_file()
        assert any(p.name.startswith("hello-1.1.0-") for p in (keep / "home" / "site").iterdir())
        tail = proc.stdout[proc.stdout.index("Next, look at what the host left there:") :]
        assert f"  pluginhost list --home {keep / 'home'}    # the plugins" in tail
        assert f"  pluginhost audit --home {keep / 'home'}" in tail
        assert f"  pluginhost doctor --home {keep / 'home'}" in tail
        listed = subprocess.run(
            [sys.executable, "-m", "pluginhost", "list", "--home", str(keep / "home")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        assert "hello" in listed.stdout

    def test_keep_refuses_used_folder(self, cache: Path, tmp_path: Path) -> None:
        """--keep on a folder with things in it is one clear usage error (exit 2, as for a
        path that names nothing usable), not a mixed-up demo."""
        (tmp_path / "kept").mkdir()
        (tmp_path / "kept" / "something").write_text("x")
        proc = run_demo("--keep", str(tmp_path / "kept"), cache=cache)
        assert proc.returncode == 2
        assert proc.stderr.strip() == (
            f"pluginhost: error: --keep {tmp_path / 'kept'}: not a new or empty folder"
        )


class TestFailureIsReported:
    def test_lost_state_fails_the_demo(
        self, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A new version that does not take the counter over makes the demo say so and exit 1."""
        plugins = tmp_path / "demo_plugins"
        shutil.copytree(_demo.demo_plugins_dir(), plugins)
        code = plugins / "hello-1.1" / "hello_plugin" / "__init__.py"
        code.write_text(code.read_text().replace('state["counter"]', "itertools.count(1)"))
        monkeypatch.setattr(_demo, "demo_plugins_dir", lambda: plugins)
        monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
        out = io.StringIO()
        assert _demo.run_demo(out=out) == 1
        text = out.getvalue()
        assert "FAILED: both versions should have answered, and the greeting numbers" in text
        assert text.rstrip().endswith("Demo FAILED: see the FAILED lines above.")
