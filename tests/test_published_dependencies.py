"""Shared dependencies from published wheels (coverage with its .pth, tabulate shared by two
plugins), fetched with ``pip download --no-deps`` into a cache outside the repository.

Skipped, with the reason, when the package registry cannot be reached. The cache is
``$PLUGINHOST_WHEEL_CACHE`` or ``~/.cache/pluginhost-tests/wheels``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.tags import sys_tags
from packaging.utils import parse_wheel_filename

from pluginhost import PluginHost
from pluginhost.host.dependencies import environment_version
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]

PINNED = {
    "coverage": "7.13.5",
    "tabulate": "0.9.0",
    "zope.deprecation": "6.0",
    "zope.event": "6.2",
}
"""The published versions these tests use (coverage 7.13.5 ships ``a1_coverage.pth``, and wheels
for Python 3.10 to 3.13)."""


def _cache() -> Path:
    default = Path.home() / ".cache" / "pluginhost-tests" / "wheels"
    return Path(os.environ.get("PLUGINHOST_WHEEL_CACHE", default))


def _published(name: str, version: str | None = None) -> Path:
    """The wheel of ``name`` at ``version`` (its pinned one by default) for this interpreter,
    downloaded once."""
    version = version or PINNED[name]
    cache = _cache()
    # Wheel file names spell the name with underscores (zope_event for zope.event).
    stem = name.replace("-", "_").replace(".", "_")
    found = sorted(cache.glob(f"{stem}-{version}-*.whl"))
    fitting = [w for w in found if _fits(w)]
    if fitting:
        return fitting[0]
    cache.mkdir(parents=True, exist_ok=True)
    # No retries and a short timeout: without a registry the tests are skipped, not stalled.
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--retries", "0", "--timeout", "20", "--disable-pip-version-check"]
    command += ["--dest", str(cache), f"{name}=={version}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot run pip download for {name}=={version}: {exc}")
    if done.returncode != 0:
        pytest.skip(
            f"pip download {name}=={version} failed (no registry, or no wheel for this Python):"
            f" {done.stderr[-300:]}"
        )
    fitting = [w for w in sorted(cache.glob(f"{stem}-{version}-*.whl")) if _fits(w)]
    if not fitting:
        pytest.skip(f"no wheel of {name}=={version} for this interpreter")
    return fitting[0]


def _fits(wheel: Path) -> bool:
    supported = set(sys_tags())
    return not supported.isdisjoint(parse_wheel_filename(wheel.name)[3])


def _not_in_environment(name: str) -> None:
    if environment_version(name) is not None:
        pytest.skip(f"the environment has {name}: its copy is preferred, nothing is shared")


def _drop(wheel: Path, folder: Path) -> None:
    shutil.copy2(wheel, folder / wheel.name)


class TestPublished:
    def test_coverage_with_pth_served_inertly(
        self, factory: WheelFactory, make_host: MakeHost, wheels: Path, tmp_path: Path
    ) -> None:
        """coverage's wheel, with its a1_coverage.pth, is a dependency: accepted, installed
        with the .pth in its dir (inert), and its plugin imports it."""
        _not_in_environment("coverage")
        _drop(_published("coverage"), wheels)
        code = "import pluggy\nimport coverage\nhookimpl = pluggy.HookimplMarker('greeter')\n"
        code += "\n@hookimpl\ndef greet(name):\n    return coverage.__version__\n"
        factory.build("measured", code=code, requires_dist=["coverage==7.13.5"])
        host = make_host()
        assert host.hook.greet(name="x") == ["7.13.5"]
        (site,) = (tmp_path / "home" / "deps").iterdir()
        assert (site / "a1_coverage.pth").is_file()
        assert "coverage" not in host.plugins

    def test_tabulate_shared_by_two_plugins(
        self, factory: WheelFactory, make_host: MakeHost, wheels: Path, tmp_path: Path
    ) -> None:
        """One published library needed by two plugins is installed once and serves both."""
        _not_in_environment("tabulate")
        _drop(_published("tabulate"), wheels)
        code = "import pluggy\nfrom tabulate import tabulate\n"
        code += "hookimpl = pluggy.HookimplMarker('greeter')\n"
        code += "\n@hookimpl\ndef greet(name):\n    return tabulate([[name]], tablefmt='plain')\n"
        factory.build("one", code=code, requires_dist=["tabulate>=0.9"])
        factory.build("two", code=code, requires_dist=["tabulate"])
        host = make_host()
        assert sorted(host.load_order()) == ["one", "two"]
        assert host.hook.greet(name="Ada") == ["Ada", "Ada"]
        (site,) = (tmp_path / "home" / "deps").iterdir()
        assert site.name.startswith("tabulate-0.9.0-")

    def test_zope_event_beside_the_environments_zope_namespace(
        self,
        factory: WheelFactory,
        make_host: MakeHost,
        wheels: Path,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """zope.event ships a portion of the namespace package ``zope``; with the environment
        holding another (zope.deprecation's, unpacked onto ``sys.path``), it serves beside it,
        as pip installs them side by side: it was refused as a clash with the host."""
        _not_in_environment("zope.event")
        environment = tmp_path / "environment"
        with zipfile.ZipFile(_published("zope.deprecation")) as archive:
            archive.extractall(environment)
        monkeypatch.syspath_prepend(str(environment))
        _drop(_published("zope.event"), wheels)
        code = "import pluggy\nimport zope.deprecation, zope.event\n"
        code += "hookimpl = pluggy.HookimplMarker('greeter')\n"
        code += "\n@hookimpl\ndef greet(name):\n"
        code += "    return zope.event.notify.__module__ + ' ' + zope.deprecation.__name__\n"
        factory.build("zopish", code=code, requires_dist=["zope.event"])
        try:
            host = make_host()
            assert host.hook.greet(name="x") == ["zope.event zope.deprecation"]
            (site,) = (tmp_path / "home" / "deps").iterdir()
            assert site.name.startswith("zope.event-6.2-")
        finally:
            for name in [n for n in sys.modules if n.partition(".")[0] == "zope"]:
                if str(environment) in str(getattr(sys.modules[name], "__file__", "") or ""):
                    del sys.modules[name]
