"""Revocation under ``trust="hashes"``: a version whose hash leaves the trust file stops serving,
whatever its origin, and a start never imports it again."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from conftest import greet_code

from pluginhost import PluginHost, PluginState, ProblemKind
from pluginhost.discover.revocation import revocation
from pluginhost.discover.trust import TrustGate
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]


def listing(*wheels: Path) -> str:
    """Trust file lines for ``wheels`` (named ``<name>-<version>-...whl``)."""
    lines = []
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{name}=={version} --hash=sha256:{digest}\n")
    return "".join(lines)


def marking(marker: Path, text: str) -> str:
    """Plugin code that greets with ``text`` and leaves ``marker`` behind when imported."""
    return f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n" + greet_code(text)


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def revoked(host: PluginHost) -> list[str]:
    return [
        p.message
        for p in host.problems()
        if p.kind is ProblemKind.UNTRUSTED and "revoked" in p.message
    ]


class TestRevocation:
    def test_installed_version_stops_serving(self, make_host: MakeHost, tmp_path: Path) -> None:
        """A version given to install() stops serving once its hash leaves the trust file."""
        wheel = WheelFactory(tmp_path / "outside").build("hello", code=greet_code("hi"))
        trusted = tmp_path / "trusted.txt"
        trusted.write_text(listing(wheel))
        host = make_host(trust="hashes", trust_file=trusted, rescan_interval=0.1)
        host.install(wheel)
        assert host.hook.greet(name="x") == ["hi"]
        trusted.write_text("")
        assert eventually(lambda: host.load_order() == ())
        assert host.hook.greet(name="x") == []
        [reason] = revoked(host)
        assert f"sha256 {hashlib.sha256(wheel.read_bytes()).hexdigest()}" in reason

    def test_revoked_version_is_never_imported_at_start(
        self, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """A start skips a committed version whose hash was revoked meanwhile, unimported."""
        marker = tmp_path / "imported"
        wheel = WheelFactory(tmp_path / "outside").build("hello", code=marking(marker, "hi"))
        trusted = tmp_path / "trusted.txt"
        trusted.write_text(listing(wheel))
        host = make_host(trust="hashes", trust_file=trusted)
        host.install(wheel)
        host.stop()
        marker.unlink()
        trusted.write_text("")
        again = make_host(trust="hashes", trust_file=trusted)
        assert not marker.exists()
        assert again.load_order() == ()
        assert again.plugins["hello"].state is PluginState.FAILED
        assert "revoked" in (again.plugins["hello"].error or "")

    def test_revoked_newer_version_falls_back(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """When the serving version is revoked, the newest version still trusted serves."""
        old = factory.build("hello", "1.0.0", code=greet_code("1.0.0"))
        new = factory.build("hello", "1.1.0", code=greet_code("1.1.0"))
        trusted = tmp_path / "trusted.txt"
        trusted.write_text(listing(old, new))
        host = make_host(trust="hashes", trust_file=trusted, rescan_interval=0.1)
        assert host.hook.greet(name="x") == ["1.1.0"]
        trusted.write_text(listing(old))
        assert eventually(lambda: host.hook.greet(name="x") == ["1.0.0"])
        # The view is published just after the hooks switch: wait for it too.
        assert eventually(lambda: "hello" in host.plugins)
        assert host.plugins["hello"].version == "1.0.0"

    def test_unreadable_trust_file_revokes_nothing(self, tmp_path: Path) -> None:
        """A trust file that cannot be read leaves what serves serving (as a folder that
        cannot be read does); a readable one without the hash revokes it."""
        from pluginhost.discover.candidates import candidate_from_wheel, inspect_plugin_wheel

        wheel = WheelFactory(tmp_path / "w").build("hello", code=greet_code("hi"))
        candidate = candidate_from_wheel(inspect_plugin_wheel(wheel), "greeter.plugins")
        assert candidate is not None
        trusted = tmp_path / "trusted.txt"
        gate = TrustGate("hashes", False, trusted)
        assert revocation(gate, candidate) is None  # missing file: nothing decided
        trusted.write_text(listing(wheel))
        assert revocation(gate, candidate) is None
        trusted.write_text("")
        problem = revocation(gate, candidate)
        assert problem is not None
        assert (problem.kind, problem.plugin, problem.path) == (
            ProblemKind.UNTRUSTED,
            "hello",
            str(wheel),
        )
        assert revocation(TrustGate("permissions", False, None), candidate) is None
