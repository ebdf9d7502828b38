"""Collecting hook implementations on the import's helper (swap/collect.py): plugin code that
runs while the hooks are collected is bounded and contained like the import's."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import greet_code

from pluginhost import ActivationError, PluginHost, PluginState, Timeouts
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]

#: A module whose ``dir()`` runs the plugin's own code (PEP 562).
DIR_EXITS = greet_code("evil") + "\ndef __dir__():\n    raise SystemExit(7)\n"
DIR_INTERRUPTS = greet_code("evil") + "\ndef __dir__():\n    raise KeyboardInterrupt\n"
DIR_HANGS = greet_code("evil") + "\nimport time\ndef __dir__():\n    time.sleep(5)\n    return []\n"


@pytest.mark.parametrize(
    ("code", "told"), [(DIR_EXITS, "SystemExit: 7"), (DIR_INTERRUPTS, "KeyboardInterrupt")]
)
def test_an_exit_while_hooks_are_collected_refuses_the_version(
    factory: WheelFactory, make_host: MakeHost, code: str, told: str
) -> None:
    """The new version is refused at its register step; the serving one serves on, with its
    own modules. A ``SystemExit`` raised there left the host's ``install()``, and the refused
    version's module in ``sys.modules``."""
    factory.build("hello", "1.0.0", code=greet_code("one"))
    host = make_host()
    wheel = WheelFactory(factory.directory.parent / "staged").build(
        "hello", "1.1.0", code=code.replace("evil", "two")
    )
    with pytest.raises(ActivationError) as caught:
        host.install(wheel)
    assert caught.value.step == "register"
    assert f"collecting hook implementations failed: {told}" in str(caught.value)
    assert host.plugins["hello"].version == "1.0.0"
    assert host.hook.greet(name="x") == ["one"]
    assert "def __dir__" not in Path(sys.modules["hello"].__file__ or "").read_text()


def test_a_hang_while_hooks_are_collected_is_the_import_timeout(
    factory: WheelFactory, make_host: MakeHost
) -> None:
    """Collecting is bounded by the import's timeout: it held ``install()`` for as long as the
    plugin liked."""
    host = make_host(timeouts=Timeouts(import_=0.5))
    wheel = WheelFactory(factory.directory.parent / "staged").build("evil", code=DIR_HANGS)
    started = time.monotonic()
    with pytest.raises(ActivationError, match="import"):
        host.install(wheel)
    assert time.monotonic() - started < 4
    assert "evil" not in host.plugins or host.plugins["evil"].state is not PluginState.ACTIVE


def test_a_plugin_that_exits_while_collected_does_not_stop_the_start(
    factory: WheelFactory, tmp_path: Path
) -> None:
    """``pluginhost run`` starts and serves the other plugins: it exited with the plugin's code
    at every start, saying nothing."""
    factory.build("hello", code=greet_code("hello"))
    factory.build("evil", code=DIR_EXITS)
    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from hookspecs import greeter
from pluginhost import PluginHost
host = PluginHost(greeter.PROJECT, specs=[greeter.GreeterSpec], home={str(tmp_path / "home")!r},
                  watch=[{str(factory.directory)!r}], environment=False,
                  api_version=greeter.API_VERSION)
with host:
    print(host.hook.greet(name="x"), host.plugins["evil"].state.value)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['hello']", "failed"]


def test_an_entry_point_naming_none_is_refused(factory: WheelFactory, make_host: MakeHost) -> None:
    """An entry point whose object is None is refused: pluggy takes a name registered as None
    as blocked, so it blocked another plugin's name, or the plugin's own next versions."""
    host = make_host()
    staged = WheelFactory(factory.directory.parent / "staged")
    evil = staged.build(
        "evil",
        code=greet_code("evil") + "NONE = None\n",
        more_entry_points={"polite": "evil:NONE"},
    )
    with pytest.raises(ActivationError, match=r"entry point 'polite' \(evil:NONE\) is None"):
        host.install(evil)
    host.install(staged.build("polite", code=greet_code("polite")))
    assert host.hook.greet(name="x") == ["polite"]
