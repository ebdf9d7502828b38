"""Imports ahead: a run of new plugins imported on one helper thread, each guarded and bounded."""

from __future__ import annotations

import functools
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import greet_code

from pluginhost import Event, EventKind, PluginHost, ProblemKind, Timeouts
from pluginhost.load.ahead import Ahead, Imported, import_ahead
from pluginhost.load.bounded import bounded
from pluginhost.load.modules import import_entry_point
from pluginhost.model.candidate import CandidateKey, EntryPoint
from pluginhost.model.errors import ActivationError
from pluginhost.model.names import PluginName
from pluginhost.swap import transition as _transition
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Writes a module of the given source on ``sys.path``; returns its (unique) name."""
    root = tmp_path / "modules"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    written: list[str] = []

    def write(source: str) -> str:
        name = f"ahead_{uuid.uuid4().hex[:12]}"
        (root / f"{name}.py").write_text(source)
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def ahead(name: str) -> Ahead:
    key = CandidateKey(PluginName(name), "1.0.0", "-")
    return Ahead(PluginName(name), key, (EntryPoint(name, name),), (name,), None)


def first(result: Imported) -> object:
    """The object of the one entry point a plugin imported ahead has."""
    assert isinstance(result.value, tuple)
    return result.value[0]


class TestImportAhead:
    def test_each_imported_in_order_on_one_helper(self, modules: Callable[[str], str]) -> None:
        """Every plugin's object comes back, in order, imported by one helper thread."""
        source = "import threading\nTHREAD = threading.get_ident()\n"
        names = [modules(source) for _ in range(4)]
        results = import_ahead([ahead(n) for n in names], timeout=10)
        assert [r.plugin.name for r in results] == names
        assert all(r.error is None for r in results)
        threads = {getattr(first(r), "THREAD", None) for r in results}
        assert len(threads) == 1
        assert threading.get_ident() not in threads

    def test_failure_reported_as_a_single_import_would_be(
        self, modules: Callable[[str], str]
    ) -> None:
        """A failing import is that plugin's failure, worded as the one-by-one path words it;
        the plugins after it are imported."""
        broken = modules("raise ZeroDivisionError('boom at import')\n")
        fine = modules("VALUE = 1\n")
        results = import_ahead([ahead(broken), ahead(fine)], timeout=10)
        assert results[0].value is None
        assert results[1].error is None
        assert getattr(first(results[1]), "VALUE", None) == 1
        sys.modules.pop(broken, None)
        one = functools.partial(import_entry_point, broken, plugin=broken, top_level=(broken,))
        with pytest.raises(ActivationError, match="failed: ZeroDivisionError: boom") as alone:
            bounded(one, 10, plugin=broken, step="import")
        assert results[0].error == alone.value.reason
        # The host's own error inside the step is told in its words, not nested in a second
        # one ("import failed: ActivationError: plugin 'x': import of 'x' failed: ...").
        assert (
            alone.value.reason == f"import of {broken!r} failed: ZeroDivisionError: boom at import"
        )
        assert broken not in sys.modules

    def test_machinery_changes_put_back_and_fail(self, modules: Callable[[str], str]) -> None:
        """An import that replaces another module in sys.modules fails, and it is put back."""
        json_module = sys.modules["json"]
        patcher = modules("import sys, types\nsys.modules['json'] = types.ModuleType('json')\n")
        fine = modules("VALUE = 2\n")
        results = import_ahead([ahead(patcher), ahead(fine)], timeout=10)
        assert sys.modules["json"] is json_module
        assert results[0].error is not None
        assert "put back: sys.modules['json'] replaced" in results[0].error
        assert results[1].error is None

    def test_overrun_fails_that_plugin_and_stops(
        self, modules: Callable[[str], str], tmp_path: Path
    ) -> None:
        """An import that hangs fails after the timeout (not later), the ones before it
        stand, the ones after it are left to be imported the usual way."""
        release = tmp_path / "release"
        hangs = modules(
            f"import os, time\nwhile not os.path.exists({str(release)!r}):\n    time.sleep(0.01)\n"
        )
        first, last = modules("VALUE = 1\n"), modules("VALUE = 3\n")
        started = time.monotonic()
        try:
            results = import_ahead([ahead(first), ahead(hangs), ahead(last)], timeout=0.5)
            took = time.monotonic() - started
        finally:
            release.touch()
        assert [r.plugin.name for r in results] == [first, hangs]
        assert results[0].error is None
        assert results[1].error is not None
        assert results[1].error.startswith("import did not finish within 0.5s")
        assert f"pluginhost-import-{hangs}" in results[1].error
        assert 0.5 <= took < 5
        assert last not in sys.modules

    def test_slow_imports_each_get_the_whole_timeout(self, modules: Callable[[str], str]) -> None:
        """The timeout bounds each import, not the run: three imports of 0.3 s each pass a
        timeout of 0.5 s."""
        names = [modules("import time\ntime.sleep(0.3)\n") for _ in range(3)]
        results = import_ahead([ahead(n) for n in names], timeout=0.5)
        assert [r.error for r in results] == [None, None, None]


class TestHostImportsAhead:
    """Through the host: a restart restores its plugins by importing them ahead."""

    def build(self, factory: WheelFactory, names: list[str], flag: Path) -> None:
        # Each plugin fails, hangs or patches at import when its flag file says so, so that a
        # first start loads them and the restart (which imports them ahead) meets the trouble.
        for name in names:
            code = (
                "import os, sys, time, types\n"
                f"FLAG = {str(flag)!r} + '-{name}'\n"
                "mode = ''\n"
                "if os.path.exists(FLAG):\n"
                "    with open(FLAG) as f:\n"
                "        mode = f.read()\n"
                "if mode == 'raise':\n"
                "    raise RuntimeError('broken at restart')\n"
                "if mode == 'patch':\n"
                "    sys.modules['json'] = types.ModuleType('json')\n"
                "while mode == 'hang' and os.path.exists(FLAG):\n"
                "    time.sleep(0.01)\n" + greet_code(name)
            )
            factory.build(name, code=code)

    @pytest.mark.parametrize(
        ("mode", "expected"),
        [
            ("raise", "import of 'beta' failed: RuntimeError: broken at restart"),
            ("patch", "put back: sys.modules['json'] replaced"),
            ("hang", "import did not finish within 1s"),
        ],
    )
    def test_one_bad_plugin_at_restart(
        self,
        factory: WheelFactory,
        make_host: MakeHost,
        events: list[Event],
        tmp_path: Path,
        mode: str,
        expected: str,
    ) -> None:
        """The plugin that fails, patches or hangs at the restart's import is the only one
        left out, with the reason a one-by-one import gives; the others serve."""
        flag = tmp_path / "flag"
        names = ["alpha", "beta", "gamma", "delta"]
        self.build(factory, names, flag)
        first = make_host(timeouts=Timeouts(import_=1))
        assert set(first.load_order()) == set(names)
        first.stop()
        Path(f"{flag}-beta").write_text(mode)
        json_module = sys.modules["json"]
        events.clear()
        try:
            started = time.monotonic()
            host = make_host(timeouts=Timeouts(import_=1))
            took = time.monotonic() - started
        finally:
            Path(f"{flag}-beta").unlink()
        assert sys.modules["json"] is json_module
        assert set(host.load_order()) == {"alpha", "gamma", "delta"}
        assert sorted(host.hook.greet(name="x")) == ["alpha", "delta", "gamma"]
        failed = [e for e in events if e.kind is EventKind.LOAD_FAILED]
        assert [(e.plugin, e.step) for e in failed] == [("beta", "import")]
        assert failed[0].error is not None
        assert expected in failed[0].error
        problem = next(p for p in host.problems() if p.plugin == "beta")
        assert problem.kind is ProblemKind.LOAD_FAILED
        # A hung import costs its timeout once, not once ahead and once more one by one.
        assert took < 10

    def test_restart_imports_independent_plugins_in_one_run(
        self, factory: WheelFactory, make_host: MakeHost, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The plugins a restart restores are imported ahead together; the one that needs
        another of them starts the next run."""
        for name in ("one", "two", "three"):
            factory.build(name, code=greet_code(name))
        factory.build("four", code=greet_code("four"), requires={"one": "^1"})
        make_host().stop()
        runs: list[list[str]] = []
        real = _transition.import_ahead

        def spy(plugins: list[Ahead], timeout: float, mark: Any, **options: Any) -> list[Imported]:
            runs.append([p.name for p in plugins])
            return real(plugins, timeout, mark, **options)

        monkeypatch.setattr(_transition, "import_ahead", spy)
        host = make_host()
        assert sorted(host.hook.greet(name="x")) == ["four", "one", "three", "two"]
        assert len(runs) == 1
        assert sorted(runs[0]) == ["one", "three", "two"]

    def test_dependent_waits_for_its_dependency(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A plugin that imports another plugin's module at import time is not imported ahead
        with it: it finds the dependency loaded, at the restart as at the first start."""
        factory.build("base", code=greet_code("base") + "SHARED = 'from base'\n")
        factory.build("other", code=greet_code("other"))
        factory.build(
            "top",
            code="import base\nVALUE = base.SHARED\n" + greet_code("top"),
            requires={"base": "^1"},
        )
        make_host().stop()
        host = make_host()
        assert host.load_order().index("base") < host.load_order().index("top")
        assert sys.modules["top"].VALUE == "from base"
        assert sorted(host.hook.greet(name="x")) == ["base", "other", "top"]
