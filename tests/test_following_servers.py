"""Following real package index servers on loopback: devpi-server (PEP 691 JSON) and
pypiserver (PEP 503 HTML), started by the tests, published to through their upload APIs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import pytest
from conftest import Followed, counter_code, greet_code, wait_for
from test_following import answers

from pluginhost import Event, EventKind, PluginHost, ProblemKind
from pluginhost.testing import WheelFactory
from pluginhost.testkit.indexes import DevpiIndex, PypiServer


class Index(Followed, Protocol):
    def publish(self, wheel: Path) -> None: ...
    def delete(self, project: str, version: str) -> None: ...
    def file_path(self, filename: str) -> Path: ...


@pytest.fixture(params=["devpi", "pypiserver"])
def index(request: pytest.FixtureRequest) -> Index:
    """Each real server in turn: devpi (JSON, serial header), pypiserver (HTML only)."""
    if request.param == "devpi":
        found: DevpiIndex = request.getfixturevalue("devpi_index")
        return found
    server: PypiServer = request.getfixturevalue("pypi_server")
    return server


class TestRealServers:
    def test_publish_then_delete(
        self,
        index: Index,
        built: WheelFactory,
        follow: Callable[..., PluginHost],
        events: list[Event],
    ) -> None:
        """A release published is swapped in; deleted from the index, the host rolls back to
        the earlier release, its state handed back, saying why."""
        index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        host = follow(index, projects=["hello"], timeout=5.0)
        assert answers(host) == ["1.0.0:1"]
        index.publish(built.build("hello", "1.1.0", code=counter_code("1.1.0")))
        wait_for(lambda: host.plugins["hello"].version == "1.1.0", timeout=30)
        assert answers(host) == ["1.1.0:2"]
        index.delete("hello", "1.1.0")
        wait_for(lambda: host.plugins["hello"].version == "1.0.0", timeout=30)
        assert answers(host) == ["1.0.0:3"]
        # The view changes before the event is told (host/changes.py): wait for it.
        wait_for(lambda: any(e.kind is EventKind.ROLLED_BACK for e in events))
        (event,) = [e for e in events if e.kind is EventKind.ROLLED_BACK]
        assert event.error == "deleted from the index"
        audit = [json.loads(line) for line in host.audit_log.read_text().splitlines()]
        rollbacks = [a["reason"] for a in audit if a["action"] == "rollback"]
        assert rollbacks == ["deleted from the index"]

    def test_dependency_from_the_index(
        self, index: Index, built: WheelFactory, follow: Callable[..., PluginHost], tmp_path: Path
    ) -> None:
        """A plugin's Requires-Dist is fetched from the same index into a shared dependency
        dir, though only the plugin is followed."""
        index.publish(
            built.build("sharedlib", "1.2.0", group="other.group", code="VALUE = '1.2.0'\n")
        )
        code = greet_code("x").replace('return "x"', "return sharedlib.VALUE")
        index.publish(
            built.build(
                "hello", "1.0.0", code=code + "\nimport sharedlib\n", requires_dist=["sharedlib>=1"]
            )
        )
        host = follow(index, projects=["hello"], timeout=5.0)
        wait_for(lambda: "hello" in host.load_order(), timeout=30)
        assert host.hook.greet(name="x") == ["1.2.0"]
        assert [p.name.split("-")[0] for p in (tmp_path / "home" / "deps").iterdir()] == [
            "sharedlib"
        ]

    def test_dependency_release_the_plugin_allows(
        self, index: Index, built: WheelFactory, follow: Callable[..., PluginHost]
    ) -> None:
        """The dependency release fetched is the highest the plugin's specifier allows, not the
        highest on the index."""
        for version in ("1.2.0", "2.0.0"):
            code = f"VALUE = {version!r}\n"
            index.publish(built.build("sharedlib", version, group="other.group", code=code))
        code = greet_code("x").replace('return "x"', "return sharedlib.VALUE")
        wheel = built.build(
            "hello", "1.0.0", code=code + "\nimport sharedlib\n", requires_dist=["sharedlib<2"]
        )
        index.publish(wheel)
        host = follow(index, projects=["hello"], timeout=5.0)
        wait_for(lambda: "hello" in host.load_order(), timeout=30)
        assert host.hook.greet(name="x") == ["1.2.0"]

    def test_tampered_file_refused(
        self,
        index: Index,
        built: WheelFactory,
        follow: Callable[..., PluginHost],
        events: list[Event],
    ) -> None:
        """Bytes changed on the server's disk do not match the index's sha256: refused, and the
        serving version serves on."""
        index.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        # Polled only when asked: a poll between the upload and the tampering would take the
        # good bytes (it did, on a loaded machine).
        host = follow(index, projects=["hello"], timeout=5.0, poll_interval=3600)
        wait_for(lambda: "hello" in host.load_order(), timeout=30)
        filed: list[bool] = []  # at each refusal told, whether the host's problems show it

        def told(event: Event) -> None:
            if event.kind is EventKind.REFUSED:
                filed.append(any(p.kind is ProblemKind.WHEEL_INVALID for p in host.problems()))

        host.subscribe(told)
        index.publish(built.build("hello", "1.1.0", code=counter_code("1.1.0")))
        stored = index.file_path("hello-1.1.0-py3-none-any.whl")
        stored.write_bytes(stored.read_bytes() + b"tampered")
        host.refresh()
        wait_for(lambda: any(e.kind is EventKind.REFUSED for e in events), timeout=30)
        assert answers(host) == ["1.0.0:1"]
        assert any(p.kind is ProblemKind.WHEEL_INVALID for p in host.problems())
        assert filed  # told once the refusal is there to read
        assert all(filed)


class TestOutage:
    def test_pypiserver_stopped_then_restarted(
        self,
        pypi_server: PypiServer,
        built: WheelFactory,
        follow: Callable[..., PluginHost],
        events: list[Event],
    ) -> None:
        """The index stopped: nothing unloaded, the outage told once; started again: its end
        told once, and what was published meanwhile arrives."""
        pypi_server.publish(built.build("hello", "1.0.0", code=counter_code("1.0.0")))
        host = follow(pypi_server, projects=["hello"], timeout=5.0)
        pypi_server.stop()
        wait_for(lambda: any(e.kind is EventKind.INDEX_UNAVAILABLE for e in events), timeout=30)
        assert answers(host) == ["1.0.0:1"]
        built.build("hello", "1.1.0", code=counter_code("1.1.0"))
        (pypi_server.packages / "hello-1.1.0-py3-none-any.whl").write_bytes(
            (built.directory / "hello-1.1.0-py3-none-any.whl").read_bytes()
        )
        pypi_server.start()
        wait_for(lambda: host.plugins["hello"].version == "1.1.0", timeout=60)
        kinds = [e.kind for e in events]
        assert (
            kinds.count(EventKind.INDEX_UNAVAILABLE),
            kinds.count(EventKind.INDEX_AVAILABLE),
        ) == (
            1,
            1,
        )
        assert EventKind.REMOVED not in kinds
