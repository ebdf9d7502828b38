"""Figure 13: following a package index. A static index (``pluginhost.testkit.static_index``)
on loopback, real wheels, a real host and its poller thread.

- upload to serving: a new version published at a random moment of the poll cycle, until a
  call answers it, with a 1 s poll; expected near half the poll interval plus the swap;
- an idle poll's cost for 1, 100 and 1,000 followed projects: the bytes on the wire (both
  ways, counted by a relay between the client and the index) and the wall time of one poll
  (loopback, so it bounds the index's time per poll).
"""

from __future__ import annotations

import random
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pluggy
from _common import Row, row

from pluginhost import IndexSource, PluginHost
from pluginhost.discover.index.client import IndexClient
from pluginhost.discover.offering import Offering
from pluginhost.state.sightings import Sightings
from pluginhost.testing import WheelFactory
from pluginhost.testkit.static_index import StaticIndex

PROJECT = "bench"
GROUP = f"{PROJECT}.plugins"
POLL = 1.0
PROJECT_SIZES = (1, 100, 1000)
QUICK_SIZES = (1, 3)


hookspec = pluggy.HookspecMarker(PROJECT)


class Spec:
    @hookspec
    def version(self) -> str:  # type: ignore[empty-body]
        """The version of the plugin answering."""


def _plugin(factory: WheelFactory, name: str, version: str) -> Path:
    code = (
        "import pluggy\n"
        f"hookimpl = pluggy.HookimplMarker({PROJECT!r})\n"
        f"@hookimpl\ndef version():\n    return {version!r}\n"
    )
    return factory.build(name, version, code=code, group=GROUP)


def upload_to_serving(swaps: int) -> Row:
    """Seconds from a publication to the first call the new version answers."""
    latencies = []
    # Moments spread evenly over the poll cycle, in a random order (stratified, not drawn):
    # with 20 drawn at random, the p50 of the wait for the next poll alone varied by about
    # 65 ms from run to run (0.29 s / sqrt(20)), more than the swap it is meant to show.
    moments = [(k + 0.5) * POLL / swaps for k in range(swaps)]
    random.shuffle(moments)
    with tempfile.TemporaryDirectory() as tmp, StaticIndex(Path(tmp, "index")) as index:
        factory = WheelFactory(Path(tmp, "built"), group=GROUP)
        index.publish(_plugin(factory, "follow", "1.0.0"))
        source = IndexSource(index.url, projects=["follow"], poll_interval=POLL)
        host = PluginHost(
            PROJECT, [Spec], home=Path(tmp, "home"), environment=False, sources=[source]
        )
        with host:
            for n in range(1, swaps + 1):
                version = f"1.0.{n}"
                wheel = _plugin(factory, "follow", version)
                time.sleep(moments[n - 1])  # a moment of the poll cycle
                started = time.perf_counter()
                index.publish(wheel)
                while host.hook.version() != [version]:
                    time.sleep(0.001)
                latencies.append(time.perf_counter() - started)
    p50 = statistics.median(latencies)
    limit = POLL / 2 + 0.1
    return row(
        "13 upload to serving, 1 s poll",
        1,
        latencies,
        unit="ms",
        target=f"p50 <= {limit * 1000:.0f} ms (poll/2 + swap)",
        met=p50 <= limit,
    )


class _Relay:
    """A TCP relay on loopback that counts the bytes it carries, both ways."""

    def __init__(self, port: int) -> None:
        self.bytes = 0
        self._lock = threading.Lock()
        self._upstream = port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                with self._lock:
                    self.bytes += len(data)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._server.close()


@contextmanager
def _index_of(projects: int, tmp: Path) -> Iterator[StaticIndex]:
    factory = WheelFactory(tmp / "built", group=GROUP)
    with StaticIndex(tmp / "index") as index:
        for n in range(projects):
            index.publish(_plugin(factory, f"p{n}", "1.0.0"), metadata=False)
        yield index


def idle_poll(projects: int, polls: int) -> list[Row]:
    """The bytes and the wall time of one poll that finds nothing new: asking the index-wide
    serial first (one request), and asking each project's page (a conditional request each, as
    with an index that sends no serial)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp, _index_of(projects, Path(tmp)) as index:
        port = int(index.base.rsplit(":", 1)[1])
        relay = _Relay(port)
        for way in ("serial", "per project"):
            client = IndexClient(f"http://127.0.0.1:{relay.port}/simple/")
            cache = Path(tmp, way)
            cache.mkdir()
            names = tuple(f"p{n}" for n in range(projects))
            offering = Offering(
                client, cache, names, None, "bench", Sightings(cache / "s.json"), print
            )
            if way == "per project":
                offering._serials = False  # as for an index that sends no serial
            offering.poll()  # the first poll reads every page and downloads every wheel
            seconds, sizes = [], []
            for _ in range(polls):
                before, started = relay.bytes, time.perf_counter()
                offering.poll()
                seconds.append(time.perf_counter() - started)
                time.sleep(0.05)  # the relay's last bytes counted
                sizes.append(float(relay.bytes - before))
            offering.close()
            rows += [
                row(f"13 idle poll ({way}), wall time", projects, seconds, unit="ms", target="-",
                    met=None),
                row(f"13 idle poll ({way}), bytes", projects, sizes, unit="B", target="-",
                    met=None),
            ]  # fmt: skip
        relay.close()
    return rows


def figures(quick: bool) -> list[Row]:
    rows = [upload_to_serving(3 if quick else 20)]
    for size in QUICK_SIZES if quick else PROJECT_SIZES:
        rows += idle_poll(size, 3 if quick else 10)
    return rows
