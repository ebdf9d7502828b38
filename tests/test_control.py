"""The control folder and the status document, in one process (the CLI tests cross processes)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import greet_code, others_group

from pluginhost import HostSnapshot, HostStateError, PluginHost, Timeouts, TrustError
from pluginhost.cli.commands.graph import graph_dot, graph_report
from pluginhost.cli.commands.list import plugin_rows
from pluginhost.cli.commands.status import plugin_status, status_lines
from pluginhost.host.control import CONTROL_DIR, MAX_REQUEST, ControlServer, send_request
from pluginhost.host.doctor import diagnose
from pluginhost.host.homeview import read_home
from pluginhost.state.store import AtomicJsonFile
from pluginhost.testing import WheelFactory


@pytest.fixture
def served(
    make_host: Callable[..., PluginHost], factory: WheelFactory
) -> Iterator[tuple[PluginHost, ControlServer]]:
    """A host with hello 1.0.0 updated to 1.1.0 and polite on top, serving control requests."""
    factory.build("hello", "1.0.0", code=greet_code("hello 1.0"))
    factory.build("polite", "1.0.0", code=greet_code("polite"), requires={"hello": "^1.0"})
    factory.build("needy", "0.1.0", requires={"translator": "^2.0"})
    host = make_host()
    host.install(factory.build("hello", "1.1.0", code=greet_code("hello 1.1")))
    server = ControlServer(host, interval=0.02)
    server.start()
    yield host, server
    server.stop()


def test_status_document_follows_changes(served: tuple[PluginHost, ControlServer]) -> None:
    """status.json names the active set, the failed plugin and the history after each change."""
    host, _ = served
    view = HostSnapshot.read(host.home)
    assert view.running
    assert [r["name"] for r in plugin_rows(view)] == ["hello", "polite", "needy"]
    hello = plugin_status(view, "Hello")
    assert (hello["version"], hello["state"], hello["backups"]) == ("1.1.0", "active", ["1.0.0"])
    assert [h["outcome"] for h in hello["history"]] == ["loaded", "updated"]
    assert plugin_status(view, "needy")["state"] == "failed"
    with pytest.raises(HostStateError, match="no plugin named 'ghost'"):
        plugin_status(view, "ghost")


def test_status_marks_a_quarantined_plugin_as_list_does(
    served: tuple[PluginHost, ControlServer],
) -> None:
    """`pluginhost status NAME` says `active (quarantined)` on its first line, as `list` does
    (it said `active`, the quarantine only on the worker's line)."""
    host, _ = served
    hello = plugin_status(HostSnapshot.read(host.home), "hello")
    assert status_lines(hello)[0] == "hello 1.1.0: active"
    quarantined = {**hello, "isolation": "process", "quarantined": True, "pid": None}
    lines = status_lines(quarantined)
    assert lines[0] == "hello 1.1.0: active (quarantined)"
    assert "  worker       none (quarantined after repeated crashes), 0 restart(s)" in lines


def test_graph(served: tuple[PluginHost, ControlServer]) -> None:
    """The graph says who requires what, with the constraint and the version active."""
    graph = graph_report(read_home(served[0].home))
    assert graph["load_order"] == ["hello", "polite"]
    assert graph["plugins"]["polite"]["requires"] == [
        {"name": "hello", "constraint": "^1.0", "active_version": "1.1.0"}
    ]
    assert graph["plugins"]["hello"]["required_by"] == ["polite"]
    assert '"polite" -> "hello" [label="^1.0", style=solid];' in graph_dot(graph)


def test_doctor(served: tuple[PluginHost, ControlServer]) -> None:
    """Doctor reports the lock holder and the unresolved requirement; damage to the home too."""
    host, _ = served
    findings = diagnose(read_home(host.home))
    checks = {(f.check, f.ok) for f in findings}
    assert ("lock", True) in checks
    assert ("unresolved", False) in checks
    registry = AtomicJsonFile(host.home / "registry.json").read()
    assert registry is not None
    site = host.home / "site" / registry["active"][0]["site_dir"]
    site.rename(site.with_name("moved"))
    try:
        messages = [f.message for f in diagnose(read_home(host.home)) if not f.ok]
        assert f"site dir {site.name} is in the registry but missing" in messages
    finally:
        site.with_name("moved").rename(site)


def test_doctor_checks_audit_log_and_home_modes(
    served: tuple[PluginHost, ControlServer],
) -> None:
    host, _ = served
    assert ("audit", True) in {(f.check, f.ok) for f in diagnose(read_home(host.home))}
    log = host.audit_log
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[1:]))
    others_group(host.home)
    host.home.chmod(0o775)
    try:
        problems = [f.message for f in diagnose(read_home(host.home)) if not f.ok]
    finally:
        host.home.chmod(0o755)
    assert f"{log}: line 1: chain broken (a line before it was changed, removed or added)" in (
        problems
    )
    assert any(
        m.startswith(f"home refused by strict_modes: {host.home} is writable") for m in problems
    )


def test_rollback_and_remove(served: tuple[PluginHost, ControlServer]) -> None:
    """Requests are performed by the host, and the result comes back to the sender."""
    host, _ = served
    result = send_request(host.home, "rollback", "hello", timeout=10)
    assert result["ok"], result
    assert result["info"]["version"] == "1.0.0"
    assert host.hook.greet(name="x") == ["polite", "hello 1.0"]
    again = send_request(host.home, "rollback", "hello", timeout=10)
    assert not again["ok"]
    assert again["error"] == "plugin 'hello' has no earlier version to roll back to"
    assert send_request(host.home, "remove", "hello", timeout=10)["ok"]
    assert host.load_order() == ()
    assert plugin_rows(HostSnapshot.read(host.home))[0]["state"] == "failed"  # needy only
    assert sorted(p.name for p in (host.home / "control").iterdir()) == ["server.json"]


def test_refused_without_server(make_host: Callable[..., PluginHost], tmp_path: Path) -> None:
    """No host on the home, or a host that serves no control folder: refused at once."""
    with pytest.raises(HostStateError, match="no host is running on"):
        send_request(tmp_path / "home", "remove", "hello", timeout=1)
    host = make_host()
    with pytest.raises(HostStateError, match="does not accept control requests"):
        send_request(host.home, "remove", "hello", timeout=1)


def test_a_control_folder_that_is_a_link_is_refused_by_the_sender(
    served: tuple[PluginHost, ControlServer], tmp_path: Path
) -> None:
    """The sender judges the control folder as the host does: a link put there (another
    user's home) had root write its request, and read the result, wherever it pointed."""
    host, server = served
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(server.folder / "server.json", elsewhere / "server.json")
    server.folder.rename(tmp_path / "aside")
    (host.home / CONTROL_DIR).symlink_to(elsewhere)
    try:
        with pytest.raises(TrustError, match="control folder refused: it is not a directory"):
            send_request(host.home, "remove", "hello", timeout=1)
        assert sorted(p.name for p in elsewhere.iterdir()) == ["server.json"]
    finally:
        (host.home / CONTROL_DIR).unlink()
        (tmp_path / "aside").rename(server.folder)


def test_timeout_withdraws_request(make_host: Callable[..., PluginHost]) -> None:
    """A server that does not answer in time: the request is withdrawn, not left to run later."""
    host = make_host()
    server = ControlServer(host, interval=60)
    server.start()
    try:
        with pytest.raises(HostStateError, match=r"no answer .* \(request withdrawn\)"):
            send_request(host.home, "remove", "hello", timeout=0.2)
        assert sorted(p.name for p in server.folder.iterdir()) == ["server.json"]
    finally:
        server.stop()


def test_unpin_request(served: tuple[PluginHost, ControlServer]) -> None:
    """An unpin request is performed by the host; one for a plugin that is not pinned is
    refused with the host's reason."""
    host, _ = served
    refused = send_request(host.home, "unpin", "hello", timeout=10)
    assert not refused["ok"]
    assert refused["error"] == "plugin 'hello' is not pinned"


@pytest.fixture
def idle(make_host: Callable[..., PluginHost], factory: WheelFactory) -> Iterator[ControlServer]:
    """A host serving hello, with a control server that polls only when a test asks."""
    factory.build("hello", "1.0.0", code=greet_code("hello"))
    server = ControlServer(make_host(), interval=3600)
    server.start()
    yield server
    server.stop()


def plant(server: ControlServer, make: Callable[[Path], object]) -> str:
    """Make a request file with ``make``; returns its id."""
    request_id = secrets.token_hex(8)
    make(server.folder / f"{request_id}.request.json")
    return request_id


def answer(server: ControlServer, request_id: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        (server.folder / f"{request_id}.result.json").read_text("utf-8")
    )
    return result


def remove_request(path: Path) -> None:
    path.write_text(json.dumps({"id": "x", "action": "remove", "plugin": "hello"}))


class TestControlFolder:
    def test_symlinked_folder_refused_and_nothing_deleted(
        self, make_host: Callable[..., PluginHost], tmp_path: Path
    ) -> None:
        """A control/ that is a link is refused at start; the files it leads to stay."""
        host = make_host()
        outside = tmp_path / "precious"
        outside.mkdir()
        (outside / "data.txt").write_text("keep me")
        (host.home / CONTROL_DIR).symlink_to(outside)
        with pytest.raises(TrustError, match="control folder refused: it is a symbolic link"):
            ControlServer(host).start()
        assert (outside / "data.txt").read_text() == "keep me"

    @pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
    def test_folder_writable_by_others_refused(
        self, make_host: Callable[..., PluginHost], mode: int
    ) -> None:
        """A control/ that group or others may write to is refused at start."""
        host = make_host()
        folder = host.home / CONTROL_DIR
        folder.mkdir()
        folder.chmod(mode)
        with pytest.raises(TrustError, match=r"writable by group or others .*chmod go-w"):
            ControlServer(host).start()

    def test_folder_made_private(self, idle: ControlServer) -> None:
        """The folder the server makes is private, whatever the umask."""
        assert stat.S_IMODE(idle.folder.stat().st_mode) == 0o700

    def test_folder_turned_into_a_link_later(self, idle: ControlServer, tmp_path: Path) -> None:
        """A control/ swapped for a link while serving: polls are refused, nothing is read
        or deleted through it."""
        outside = tmp_path / "precious"
        outside.mkdir()
        plant_id = secrets.token_hex(8)
        remove_request(outside / f"{plant_id}.request.json")
        idle.folder.rename(tmp_path / "old-control")
        idle.folder.symlink_to(outside)
        with pytest.raises(TrustError, match="symbolic link"):
            idle.poll()
        assert [p.name for p in outside.iterdir()] == [f"{plant_id}.request.json"]
        idle.folder.unlink()
        (tmp_path / "old-control").rename(idle.folder)

    def test_stray_directory_ignored_with_a_warning(
        self, make_host: Callable[..., PluginHost], caplog: pytest.LogCaptureFixture
    ) -> None:
        """A directory in control/ (even one named like a request) does not stop start() or
        a poll: it is left alone, with one warning."""
        host = make_host()
        folder = host.home / CONTROL_DIR
        folder.mkdir(mode=0o700)
        stray = folder / f"{secrets.token_hex(8)}.request.json"
        stray.mkdir()
        (stray / "inside").write_text("x")
        server = ControlServer(host, interval=3600)
        server.start()
        try:
            assert server.poll() == 0
            assert server.poll() == 0
        finally:
            server.stop()
        assert (stray / "inside").exists()
        warnings = [r for r in caplog.records if "ignoring the directory" in r.getMessage()]
        assert len(warnings) == 1


class TestRequestFiles:
    def test_fifo_answered_unread(self, idle: ControlServer) -> None:
        """A FIFO request does not hang the poll (nor stop()): it is refused unread."""
        request_id = plant(idle, lambda p: os.mkfifo(p, 0o600))
        assert idle.poll() == 1
        result = answer(idle, request_id)
        assert not result["ok"]
        assert result["error"] == "request refused unread: is a FIFO, not a regular file"

    def test_link_to_a_device_answered_unread(self, idle: ControlServer) -> None:
        """A link to /dev/zero is not followed: refused unread, not read for ever."""
        request_id = plant(idle, lambda p: p.symlink_to("/dev/zero"))
        assert idle.poll() == 1
        assert "is a symbolic link" in answer(idle, request_id)["error"]

    def test_oversized_request_refused(self, idle: ControlServer) -> None:
        """A request over 64 KiB is refused, not parsed."""
        request_id = plant(idle, lambda p: p.write_bytes(b" " * (64 * 1024 + 1)))
        idle.poll()
        assert answer(idle, request_id)["error"] == (
            "request refused unread: is 65537 bytes, over the limit of 65536"
        )

    def test_request_nested_too_deeply_answered(self, idle: ControlServer) -> None:
        """JSON nested 20,000 deep (under 64 KiB) is a malformed request, answered: it raised
        RecursionError out of the poll, the client waited its whole timeout, and the taken
        request file stayed in the folder."""
        request_id = plant(idle, lambda p: p.write_text("[" * 20_000 + "]" * 20_000))
        assert idle.poll() == 1
        assert answer(idle, request_id)["error"] == (
            "malformed request: ValueError('JSON nested too deeply')"
        )
        assert [p.name for p in idle.folder.iterdir() if p.name.endswith(".taken")] == []

    def test_request_naming_no_string_answered(self, idle: ControlServer) -> None:
        """A plugin named by a list is a malformed request: it was answered with an
        AttributeError, logged as an unexpected failure."""
        request = '{"id": "x", "action": "remove", "plugin": ["hello"]}'
        request_id = plant(idle, lambda p: p.write_text(request))
        assert idle.poll() == 1
        assert answer(idle, request_id)["error"] == (
            "malformed request: ValueError('action, plugin and hook must be strings')"
        )
        assert idle._host.load_order() == ("hello",)

    def test_another_users_request_refused(self, idle: ControlServer, tmp_path: Path) -> None:
        """A request owned by another user is not performed: hello stays."""
        if os.geteuid() != 0:
            pytest.skip("giving a file to another user needs root")
        request_id = plant(idle, remove_request)
        os.chown(idle.folder / f"{request_id}.request.json", 54321, 54321)
        idle.poll()
        assert answer(idle, request_id)["error"] == (
            "request refused unread: is owned by uid 54321, not by uid 0"
        )
        assert idle._host.load_order() == ("hello",)

    def test_own_request_performed(self, idle: ControlServer) -> None:
        """The control case: the same request, this user's regular file, is performed."""
        request_id = plant(idle, remove_request)
        idle.poll()
        assert answer(idle, request_id)["ok"]
        assert idle._host.load_order() == ()


HANGS = """
import threading, pluggy
hookimpl = pluggy.HookimplMarker("greeter")
release = threading.Event()

@hookimpl
def greet(name):
    release.wait(30)
    return "late"
"""


#: A plugin whose answer hangs when it is written out: its repr() waits.
HANGING_REPR = """
import threading
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")
release = threading.Event()

class Stubborn:
    def __repr__(self):
        release.wait(30)
        return "Stubborn()"

@hookimpl
def greet(name):
    return Stubborn()
"""


class TestCallAndChoices:
    def test_call(self, served: tuple[PluginHost, ControlServer]) -> None:
        """A call request is answered with each implementation's answer as JSON."""
        host, _ = served
        result = send_request(
            host.home, "call", "greet", timeout=10, hook="greet", kwargs={"name": "Ada"}
        )
        assert result["ok"], result
        answers = {a["plugin"]: (a["version"], a["result"]) for a in result["answers"]}
        assert answers == {"hello": ("1.1.0", "hello 1.1"), "polite": ("1.0.0", "polite")}

    @pytest.mark.parametrize(
        ("fields", "error"),
        [
            ({"hook": "gret", "kwargs": {}}, "the host has no hook named 'gret'"),
            ({"hook": "greet", "kwargs": {"nom": 1}}, "greet takes name (missing: name;"),
            ({"hook": "greet", "kwargs": [1]}, "malformed request: ValueError"),
            ({"hook": 3, "kwargs": {}}, "malformed request: ValueError"),
            ({}, "malformed request: KeyError('hook')"),
        ],
    )
    def test_call_refused(
        self, served: tuple[PluginHost, ControlServer], fields: dict[str, Any], error: str
    ) -> None:
        """A call the host cannot make is refused with the reason, nothing called."""
        host, _ = served
        result = send_request(host.home, "call", "greet", timeout=10, **fields)
        assert not result["ok"]
        assert error in result["error"]

    def test_oversized_call_refused_unread(self, served: tuple[PluginHost, ControlServer]) -> None:
        """A request over 64 KiB is refused unread, however it is spelled."""
        host, _ = served
        big = {"name": "x" * (MAX_REQUEST + 1)}
        result = send_request(host.home, "call", "greet", timeout=10, hook="greet", kwargs=big)
        assert not result["ok"]
        assert result["error"].startswith("request refused unread")

    @pytest.mark.parametrize(
        ("name", "code"), [("slow", HANGS), ("stubborn", HANGING_REPR)], ids=["call", "repr"]
    )
    def test_hanging_call_is_bounded(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, name: str, code: str
    ) -> None:
        """An implementation that hangs, or an answer whose repr() hangs as it is written out
        (that held the control folder for good), makes the call an error after the health
        timeout, and the control folder serves the next request."""
        factory.build(name, code=code)
        host = make_host(timeouts=Timeouts(health=0.3))
        (impl,) = host.hook.greet.get_hookimpls()
        release = impl.function.__globals__["release"]
        server = ControlServer(host, interval=0.02)
        server.start()
        try:
            result = send_request(
                host.home, "call", "greet", timeout=10, hook="greet", kwargs={"name": "x"}
            )
            assert not result["ok"]
            assert result["error"].startswith("call of greet did not finish within 0.3s")
            # The control folder is not held up: the next request is answered.
            refused = send_request(host.home, "remove", "ghost", timeout=10)
            assert refused["error"] == "plugin 'ghost' is not active"
        finally:
            release.set()
            server.stop()

    def test_disable_and_enable(self, served: tuple[PluginHost, ControlServer]) -> None:
        """disable and enable requests act on the host and say whether anything changed."""
        host, _ = served
        assert send_request(host.home, "disable", "polite", timeout=10)["changed"] is True
        assert host.load_order() == ("hello",)
        assert send_request(host.home, "disable", "polite", timeout=10)["changed"] is False
        assert send_request(host.home, "enable", "polite", timeout=10)["changed"] is True
        assert host.load_order() == ("hello", "polite")
