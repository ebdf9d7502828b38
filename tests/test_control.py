"""The control folder and the status document, in one process (the CLI tests cross processes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import greet_code

from pluginhost import HostStateError, PluginHost
from pluginhost.cli.commands.doctor import diagnose
from pluginhost.cli.commands.graph import graph_dot, graph_report
from pluginhost.cli.commands.list import plugin_rows
from pluginhost.cli.commands.status import plugin_status
from pluginhost.cli.home import read_home
from pluginhost.host.control import ControlServer, send_request
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
    view = read_home(host.home)
    assert view.holder is not None
    assert [r["name"] for r in plugin_rows(view)] == ["hello", "polite", "needy"]
    hello = plugin_status(view, "Hello")
    assert (hello["version"], hello["state"], hello["backups"]) == ("1.1.0", "active", ["1.0.0"])
    assert [h["outcome"] for h in hello["history"]] == ["loaded", "updated"]
    assert plugin_status(view, "needy")["state"] == "failed"
    with pytest.raises(HostStateError, match="no plugin named 'ghost'"):
        plugin_status(view, "ghost")


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
    assert plugin_rows(read_home(host.home))[0]["state"] == "failed"  # needy only
    assert sorted(p.name for p in (host.home / "control").iterdir()) == ["server.json"]


def test_refused_without_server(make_host: Callable[..., PluginHost], tmp_path: Path) -> None:
    """No host on the home, or a host that serves no control folder: refused at once."""
    with pytest.raises(HostStateError, match="no host is running on"):
        send_request(tmp_path / "home", "remove", "hello", timeout=1)
    host = make_host()
    with pytest.raises(HostStateError, match="does not accept control requests"):
        send_request(host.home, "remove", "hello", timeout=1)


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
