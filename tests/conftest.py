"""Shared fixtures: a wheel factory writing into a watched folder, and hosts in temp homes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from hypothesis import HealthCheck, settings

from hookspecs import greeter
from pluginhost import Event, IndexSource, PluginHost
from pluginhost.discover.private_group import private_group
from pluginhost.install import writer_process
from pluginhost.install.installer import install_wheel
from pluginhost.install.writer_process import WriterProcess
from pluginhost.load.modules import PluginFinder
from pluginhost.testing import WheelFactory
from pluginhost.testkit.indexes import DevpiIndex, DevpiServer, PypiServer, StaticIndex

# Strict modes refuse group-writable folders: with a umask of 002 (common for users with a
# private group) every folder a test makes would be refused. The tests that need a writable
# folder chmod it themselves.
os.umask(0o022)

# A shell that starts the tests in the background (`cmd &`, as a CI script may) makes them ignore
# SIGINT, and every child inherits an ignored signal: a `pluginhost` started by a test would then
# install no KeyboardInterrupt handler, and the tests of Ctrl-C could not be right. A handler (not
# an ignore) is reset to the default at exec, so the children get Python's usual Ctrl-C.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# The tests run one worker per core beside other work (pytest-xdist, CI on shared machines): a
# property test's example taking longer than hypothesis's 200 ms deadline, or its inputs slow to
# draw, says the machine is busy, not that the code is wrong. What they check stays the same.
settings.register_profile("pluginhost", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("pluginhost")


@pytest.fixture
def writer() -> Iterator[WriterProcess]:
    """A site writer, ended after the test."""
    made = WriterProcess()
    yield made
    made.close()


def writers() -> set[int]:
    """The site writers this process started and that still run."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = next(line for line in status.splitlines() if line.startswith("PPid:"))
        ours = int(parent.split()[1]) == os.getpid() and b"writer_child" in cmdline
        if ours and "State:\tZ" not in status:  # a zombie has ended
            found.add(int(entry.name))
    return found


@pytest.fixture
def garbage_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Site writers started from now on greet with garbage (and then say nothing)."""
    garbage = "import os, time; os.write(1, b'\\x00\\x00\\x00\\x03abc'); time.sleep(30)"
    monkeypatch.setattr(writer_process, "_BOOT", [sys.executable, "-I", "-c", garbage])


def ready(writer: WriterProcess, tmp_path: Path, factory: WheelFactory) -> int:
    """Start ``writer`` (its first install is written here) and wait until it is ready."""
    deadline = time.monotonic() + 30
    serial = 0
    while writer.pid is None:
        assert time.monotonic() < deadline, "the site writer never said it is ready"
        serial += 1  # other bytes each time: the same ones would reuse their site dir
        wheel = factory.build("warm", f"1.0.{serial}", code=greet_code("warm"))
        home = tmp_path / "warm"
        install_wheel(
            wheel,
            site_root=home / "site",
            staging_root=home / "staging",
            name="warm",
            version=f"1.0.{serial}",
            write=writer,
        )
        time.sleep(0.05)
    return writer.pid


@pytest.fixture
def finder() -> Iterator[PluginFinder]:
    """A plugin finder, first on ``sys.meta_path`` for the test."""
    f = PluginFinder()
    sys.meta_path.insert(0, f)
    yield f
    sys.meta_path.remove(f)


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    """An empty folder for wheels, watched by the ``make_host`` hosts."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    return folder


@pytest.fixture
def factory(wheels: Path) -> WheelFactory:
    """Writes plugin wheels for the greeter host into ``wheels``."""
    return WheelFactory(wheels, group="greeter.plugins")


@pytest.fixture
def events() -> list[Event]:
    """Events recorded by hosts made with ``make_host``."""
    return []


@pytest.fixture
def make_host(
    tmp_path: Path, wheels: Path, events: list[Event]
) -> Iterator[Callable[..., PluginHost]]:
    """Make (and later stop) greeter hosts on ``wheels`` in a temp home, recording events."""
    hosts: list[PluginHost] = []

    def make(*, start: bool = True, **kwargs: Any) -> PluginHost:
        kwargs.setdefault("home", tmp_path / "home")
        kwargs.setdefault("watch", [wheels])
        kwargs.setdefault("api_version", greeter.API_VERSION)
        kwargs.setdefault("environment", False)
        host = PluginHost(greeter.PROJECT, specs=[greeter.GreeterSpec], **kwargs)
        host.subscribe(events.append)
        hosts.append(host)
        if start:
            host.start()
        return host

    yield make
    for host in hosts:
        host.stop()


@pytest.fixture
def stopped_home(make_host: Callable[..., PluginHost], factory: WheelFactory) -> Path:
    """The home of a stopped host that served ``hello`` 1.0.0, its documents as it wrote them."""
    factory.build("hello", "1.0.0", code=greet_code("hi"))
    host = make_host()
    host.stop()
    return host.home


GREET = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

@hookimpl
def greet(name):
    return "{text}"
"""


def greet_code(text: str) -> str:
    """Plugin code whose ``greet`` answers ``text``."""
    return GREET.format(text=text)


def traced_peak(action: Callable[[], object]) -> int:
    """The most bytes Python held at once while ``action`` ran (``tracemalloc``)."""
    tracemalloc.start()
    try:
        action()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


COUNTER = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")
count = 0

@hookimpl
def greet(name):
    global count
    count += 1
    return f"{version}:{{count}}"

@hookimpl
def pluginhost_export_state():
    return {{"count": count}}

@hookimpl
def pluginhost_import_state(state, previous_version):
    global count
    count = state["count"]
"""


def counter_code(version: str) -> str:
    """Plugin code whose ``greet`` answers ``<version>:<calls so far>``, the count handed over
    from version to version as the plugin's state."""
    return COUNTER.format(version=version)


def cli_row(home: Path, plugin: str, *command: str) -> str:
    """The first line of ``pluginhost COMMAND --home HOME`` that begins with ``plugin``, run as an
    operator runs it (``""`` when there is none)."""
    argv = [sys.executable, "-m", "pluginhost", *command, "--home", str(home)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return next((line for line in out.splitlines() if line.startswith(plugin)), "")


#: A gid no account has: a group that is not provably its file's owner's alone.
OTHERS_GID = 54321


def others_group(*paths: Path) -> None:
    """Give ``paths`` a group that is not their owner's alone, so that its write permission is
    others' for strict modes (the owner's private group passes: discover/private_group.py);
    the test is skipped where this user cannot, its own group being private."""
    for path in paths:
        if os.geteuid() == 0:
            os.chown(path, -1, OTHERS_GID, follow_symlinks=False)
        elif private_group(path.lstat().st_gid, os.geteuid()):
            pytest.skip("this user's group is theirs alone, and it cannot give a file another")


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture(scope="session")
def devpi_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevpiServer]:
    """One devpi-server per test session (per xdist worker): it takes seconds to start."""
    with DevpiServer(tmp_path_factory.mktemp("devpi")) as server:
        yield server


@pytest.fixture
def devpi_index(devpi_server: DevpiServer) -> DevpiIndex:
    """A fresh, empty index of the session's devpi-server (PEP 691 JSON)."""
    return devpi_server.new_index()


@pytest.fixture
def pypi_server(tmp_path: Path) -> Iterator[PypiServer]:
    """A pypiserver of the test's own (PEP 503 HTML), anyone may read and upload."""
    with PypiServer(tmp_path / "pypiserver") as server:
        yield server


@pytest.fixture
def static_index(tmp_path: Path) -> Iterator[StaticIndex]:
    """A static index of the test's own: yanks, upload times, ETags and faults."""
    with StaticIndex(tmp_path / "static-index") as index:
        yield index


# -- following an index (test_following.py, test_following_servers.py) -------------------------

POLL = 0.2
"""How often the test hosts poll the indexes they follow."""


class Followed(Protocol):
    """An index a test host follows: the static one, or a real server."""

    @property
    def url(self) -> str: ...


@pytest.fixture
def built(tmp_path: Path) -> WheelFactory:
    """Builds wheels to publish, outside any index or watched folder."""
    return WheelFactory(tmp_path / "built")


@pytest.fixture
def follow(tmp_path: Path, events: list[Event]) -> Iterator[Callable[..., PluginHost]]:
    hosts: list[PluginHost] = []

    def make(
        index: Followed | str, *, home: str = "home", timeout: float = 2.0, **options: Any
    ) -> PluginHost:
        url = index if isinstance(index, str) else index.url
        source_keys = ("projects", "rollout", "auth", "ca", "poll_interval")
        source_options = {"poll_interval": POLL}
        source_options.update({k: options.pop(k) for k in source_keys if k in options})
        source = IndexSource(url, timeout=timeout, **source_options)
        host = PluginHost(
            greeter.PROJECT,
            specs=[greeter.GreeterSpec],
            home=tmp_path / home,
            api_version=greeter.API_VERSION,
            environment=False,
            sources=[source],
            **options,
        )
        host.subscribe(events.append)
        hosts.append(host)
        host.start()
        return host

    yield make
    for host in hosts:
        host.stop()
