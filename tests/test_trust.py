"""The trust policy: strict modes on folders, wheels, the home and the trust file, and
``trust="hashes"``; on real files, real modes and real hosts."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import greet_code, others_group

from pluginhost import Event, EventKind, PluginHost, ProblemKind, TrustError
from pluginhost.discover.trust import TrustGate, parse_trust_file, unsafe_path
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]
ROOT = os.geteuid() == 0
OTHER_UID = 65534  # nobody


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def untrusted(host: PluginHost) -> list[str]:
    return [p.message for p in host.problems() if p.kind is ProblemKind.UNTRUSTED]


def greetings(host: PluginHost) -> list[str]:
    return sorted(host.hook.greet(name="x"))


class TestParseTrustFile:
    def test_pip_format(self, tmp_path: Path) -> None:
        a, b, c = "a" * 64, "B" * 64, "c" * 64
        text = (
            "# trusted plugins\n"
            f"hello==1.0.0 --hash=sha256:{a}  # the first\n"
            "\n"
            f"polite_plugin==2.0.0 \\\n    --hash=sha256:{b} \\\n    --hash sha256:{c}\n"
        )
        hashes = parse_trust_file(text, tmp_path / "trusted.txt")
        assert set(hashes) == {a, b.lower(), c}
        assert (hashes[a].name, hashes[a].version, hashes[a].line) == ("hello", "1.0.0", 2)
        assert (hashes[c].name, hashes[c].line) == ("polite_plugin", 4)

    @pytest.mark.parametrize(
        ("line", "reason"),
        [
            ("hello>=1.0 --hash=sha256:" + "a" * 64, "is not 'name==version'"),
            ("hello==1.0", "lists no --hash"),
            ("hello==1.0 --hash=md5:" + "a" * 32, "only sha256 hashes are accepted"),
            ("hello==1.0 --hash=sha256:abc", "is not a sha256 hex digest"),
            ("hello==1.0 -e .", "unexpected '-e'"),
            # Past int()'s digit limit: the good wheel was refused instead (attack probe 11).
            ("hello==" + "9" * 5000 + " --hash=sha256:" + "a" * 64, "the version cannot be read"),
        ],
    )
    def test_errors_name_file_and_line(self, tmp_path: Path, line: str, reason: str) -> None:
        path = tmp_path / "trusted.txt"
        with pytest.raises(TrustError) as info:
            parse_trust_file(f"# header\n{line}\n", path)
        assert str(path) in str(info.value)
        assert "line 2" in str(info.value)
        assert reason in str(info.value)


class TestUnsafePath:
    def test_private_folder_is_safe(self, tmp_path: Path) -> None:
        # /tmp is world-writable with the sticky bit: accepted as a parent.
        folder = tmp_path / "wheels"
        folder.mkdir(mode=0o755)
        assert unsafe_path(folder) is None

    def test_missing_path_is_not_unsafe(self, tmp_path: Path) -> None:
        assert unsafe_path(tmp_path / "nothing" / "here") is None

    @pytest.mark.parametrize(("mode", "who"), [(0o775, "group"), (0o757, "others")])
    def test_writable_folder(self, tmp_path: Path, mode: int, who: str) -> None:
        folder = tmp_path / "wheels"
        folder.mkdir()
        others_group(folder)
        folder.chmod(mode)
        reason = unsafe_path(folder)
        assert reason is not None
        assert f"{folder} is writable by {who}" in reason
        assert oct(mode) in reason

    def test_sticky_leaf_is_still_refused(self, tmp_path: Path) -> None:
        """The sticky bit protects entries of a parent, not the folder the host reads."""
        folder = tmp_path / "wheels"
        folder.mkdir()
        folder.chmod(0o1777)
        assert "writable by group and others" in (unsafe_path(folder) or "")

    def test_writable_parent(self, tmp_path: Path) -> None:
        parent = tmp_path / "shared"
        (parent / "wheels").mkdir(parents=True)
        others_group(parent)
        parent.chmod(0o775)
        assert f"{parent} is writable by group" in (unsafe_path(parent / "wheels") or "")

    def test_walk_stops_at_a_checked_folder(self, tmp_path: Path) -> None:
        parent = tmp_path / "shared"
        (parent / "wheels").mkdir(parents=True)
        parent.chmod(0o777)
        wheel = parent / "wheels" / "x.whl"
        wheel.write_bytes(b"")
        assert unsafe_path(wheel, checked=parent / "wheels") is None
        assert f"{parent} is writable" in (unsafe_path(wheel) or "")

    def test_symlink_component(self, tmp_path: Path) -> None:
        (tmp_path / "real").mkdir()
        (tmp_path / "link").symlink_to(tmp_path / "real")
        assert "is a symbolic link" in (unsafe_path(tmp_path / "link" / "x.whl") or "")

    @pytest.mark.skipif(not ROOT, reason="only root can give a file to another user")
    def test_owned_by_another_user(self, tmp_path: Path) -> None:
        folder = tmp_path / "wheels"
        folder.mkdir()
        os.chown(folder, OTHER_UID, -1)
        reason = unsafe_path(folder) or ""
        assert f"owned by uid {OTHER_UID}" in reason

    @pytest.mark.skipif(ROOT, reason="root-owned files are accepted; see the chown test")
    def test_owned_by_someone_else_than_the_checking_user(self, tmp_path: Path) -> None:
        """The owner check, for a user who cannot chown: as seen by another uid."""
        folder = tmp_path / "wheels"
        folder.mkdir()
        me = os.geteuid()
        other = OTHER_UID if me != OTHER_UID else OTHER_UID - 1
        assert f"owned by uid {me}" in (unsafe_path(folder, uid=other) or "")


class TestCheckFolder:
    def test_folder_itself_checked_each_time(self, tmp_path: Path) -> None:
        """A look told what changed still sees the folder itself turn unsafe."""
        folder = tmp_path / "parent" / "wheels"
        folder.mkdir(parents=True)
        gate = TrustGate()
        gate.check_folder(folder, "watched folder")
        folder.chmod(0o777)
        with pytest.raises(TrustError, match="watched folder refused by strict_modes"):
            gate.check_folder(folder, "watched folder", again=False)

    def test_parents_checked_again_only_when_asked(self, tmp_path: Path) -> None:
        """A parent turned unsafe is seen by the next full check, not by a look told what
        changed (no event announces it), while the folder itself is unchanged."""
        parent = tmp_path / "parent"
        folder = parent / "wheels"
        folder.mkdir(parents=True)
        gate = TrustGate()
        gate.check_folder(folder, "watched folder")
        parent.chmod(0o777)
        gate.check_folder(folder, "watched folder", again=False)
        with pytest.raises(TrustError, match=f"{parent} is writable by group and others"):
            gate.check_folder(folder, "watched folder")
        with pytest.raises(TrustError):  # and the refusal is kept for the looks after
            gate.check_folder(folder, "watched folder", again=False)
        parent.chmod(0o755)


class TestStrictModesInHost:
    def test_writable_folder_refused_then_trusted(
        self, factory: WheelFactory, make_host: MakeHost, wheels: Path, events: list[Event]
    ) -> None:
        factory.build("hello", code=greet_code("hi"))
        wheels.chmod(0o777)
        host = make_host(rescan_interval=0.1)
        assert host.load_order() == ()
        [reason] = untrusted(host)
        assert f"watched folder refused by strict_modes: {wheels} is writable" in reason
        refused = [e for e in events if e.kind is EventKind.REFUSED]
        assert [e.origin for e in refused] == [str(wheels)]
        wheels.chmod(0o755)
        assert _eventually(lambda: host.load_order() == ("hello",))
        assert untrusted(host) == []

    def test_active_plugins_keep_serving_when_folder_turns_unsafe(
        self, factory: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        factory.build("hello", code=greet_code("hi"))
        host = make_host(rescan_interval=0.1)
        assert greetings(host) == ["hi"]
        others_group(wheels)
        wheels.chmod(0o775)
        factory.build("hello", "1.1.0", code=greet_code("new"))
        assert _eventually(lambda: untrusted(host) != [])
        assert host.wait_idle()
        # The refused folder's new wheel is not read; what it served keeps serving.
        assert greetings(host) == ["hi"]
        assert host.plugins["hello"].version == "1.0.0"

    def test_writable_wheel_refused_alone(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        bad = factory.build("bad", code=greet_code("bad"))
        factory.build("good", code=greet_code("good"))
        bad.chmod(0o666)
        host = make_host()
        assert host.load_order() == ("good",)
        [reason] = untrusted(host)
        assert f"wheel refused by strict_modes: {bad} is writable by group and others" in reason
        event = next(e for e in events if e.kind is EventKind.REFUSED)
        assert event.origin == str(bad)
        assert event.step == "untrusted"

    def test_symlinked_wheel_checked_at_its_target(
        self, factory: WheelFactory, make_host: MakeHost, wheels: Path, tmp_path: Path
    ) -> None:
        outside = tmp_path / "elsewhere"
        outside.mkdir()
        real = WheelFactory(outside, group="greeter.plugins").build("linked", code="")
        (wheels / real.name).symlink_to(real)
        outside.chmod(0o777)
        host = make_host(follow_symlinks=True)
        assert host.load_order() == ()
        assert f"{outside} is writable" in untrusted(host)[0]

    def test_symlinked_wheel_with_a_safe_target_loads(
        self, make_host: MakeHost, wheels: Path, tmp_path: Path
    ) -> None:
        """In a folder that follows symlinks, a link to a wheel in a safe place loads; the
        bytes are read from the target, never through the link."""
        outside = tmp_path / "elsewhere"
        outside.mkdir()
        real = WheelFactory(outside, group="greeter.plugins").build("linked", code=greet_code("hi"))
        (wheels / real.name).symlink_to(real)
        host = make_host(follow_symlinks=True)
        assert greetings(host) == ["hi"]
        assert host.plugins["linked"].origin == str(wheels / real.name)

    def test_relaxed(self, factory: WheelFactory, make_host: MakeHost, wheels: Path) -> None:
        factory.build("hello", code=greet_code("hi")).chmod(0o666)
        wheels.chmod(0o777)
        host = make_host(strict_modes=False)
        assert greetings(host) == ["hi"]

    def test_unsafe_home_refuses_to_start(self, make_host: MakeHost, tmp_path: Path) -> None:
        home = tmp_path / "home"
        home.mkdir()
        others_group(home)
        home.chmod(0o770)
        with pytest.raises(TrustError, match=r"home refused by strict_modes: .* writable"):
            make_host(home=home)

    def test_active_wheel_turning_writable_keeps_serving(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        wheel = factory.build("hello", code=greet_code("hi"))
        host = make_host(rescan_interval=0.1)
        others_group(wheel)
        wheel.chmod(0o664)
        factory.build("polite", code=greet_code("polite"))  # an event, so a look happens
        assert _eventually(lambda: untrusted(host) != [])
        assert host.wait_idle()
        assert greetings(host) == ["hi", "polite"]

    def test_install_checks_the_wheel(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        host = make_host(watch=[])
        wheel = factory.build("hello", code=greet_code("hi"))
        wheel.chmod(0o646)
        with pytest.raises(TrustError, match="writable by others"):
            host.install(wheel)
        assert [e.origin for e in events if e.kind is EventKind.REFUSED] == [str(wheel)]
        wheel.chmod(0o644)
        assert host.install(wheel).version == "1.0.0"


class TestHashes:
    def trust(self, path: Path, *lines: str) -> Path:
        path.write_text("".join(f"{line}\n" for line in lines))
        return path

    def test_only_listed_wheels_load(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path, events: list[Event]
    ) -> None:
        listed = factory.build("hello", code=greet_code("hi"))
        other = factory.build("other", code="raise SystemExit('imported!')")
        trusted = self.trust(
            tmp_path / "trusted.txt", f"hello==1.0.0 --hash=sha256:{sha256(listed)}"
        )
        host = make_host(trust="hashes", trust_file=trusted)
        assert greetings(host) == ["hi"]
        [reason] = untrusted(host)
        assert str(other) in reason
        assert f"sha256 {sha256(other)} is not listed in the trust file {trusted}" in reason
        assert "other" not in sys.modules
        refused = next(e for e in events if e.kind is EventKind.REFUSED)
        assert refused.origin == str(other)

    def test_unlisted_wheel_is_not_parsed(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """Refused on its hash alone: a broken archive is not even looked at."""
        broken = factory.build("junk", broken="not-a-zip")
        host = make_host(trust="hashes", trust_file=self.trust(tmp_path / "t.txt"))
        problems = [p for p in host.problems() if p.path == str(broken)]
        assert [p.kind for p in problems] == [ProblemKind.UNTRUSTED]

    def test_listed_under_another_name_is_refused(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        wheel = factory.build("hello", code=greet_code("hi"))
        trusted = self.trust(
            tmp_path / "t.txt", "# pinned", f"polite==1.0.0 --hash=sha256:{sha256(wheel)}"
        )
        host = make_host(trust="hashes", trust_file=trusted)
        assert host.load_order() == ()
        [reason] = untrusted(host)
        assert "lists this sha256 as polite==1.0.0 (line 2), but the wheel is hello 1.0.0" in reason

    def test_distribution_name_and_version_spelling(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """The distribution's name and a PEP 440 spelling of the version are accepted too."""
        wheel = factory.build("hello", "1.0", distribution="Hello.Plugin", code=greet_code("hi"))
        trusted = self.trust(tmp_path / "t.txt", f"hello-plugin==1.0 --hash=sha256:{sha256(wheel)}")
        host = make_host(trust="hashes", trust_file=trusted)
        assert greetings(host) == ["hi"]

    def test_hash_added_later_takes_effect(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        trusted = self.trust(tmp_path / "t.txt")
        wheel = factory.build("hello", code=greet_code("hi"))
        host = make_host(trust="hashes", trust_file=trusted, rescan_interval=0.1)
        assert host.load_order() == ()
        self.trust(trusted, f"hello==1.0.0 --hash=sha256:{sha256(wheel)}")
        assert _eventually(lambda: host.load_order() == ("hello",))

    def test_default_trust_file_in_home(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        wheel = factory.build("hello", code=greet_code("hi"))
        home = tmp_path / "home"
        home.mkdir()
        self.trust(home / "trusted.txt", f"hello==1.0.0 --hash=sha256:{sha256(wheel)}")
        host = make_host(trust="hashes", home=home)
        assert host.trust_file == home / "trusted.txt"
        assert greetings(host) == ["hi"]

    def test_missing_trust_file_refuses_to_start(self, make_host: MakeHost, tmp_path: Path) -> None:
        with pytest.raises(TrustError, match="cannot read the trust file"):
            make_host(trust="hashes", trust_file=tmp_path / "nope.txt")

    def test_malformed_trust_file_refuses_to_start(
        self, make_host: MakeHost, tmp_path: Path
    ) -> None:
        trusted = self.trust(tmp_path / "t.txt", "hello==1.0.0 --hash=sha1:abc")
        with pytest.raises(TrustError, match=r"t.txt: line 1: only sha256"):
            make_host(trust="hashes", trust_file=trusted)

    def test_writable_trust_file_refuses_to_start(
        self, make_host: MakeHost, tmp_path: Path
    ) -> None:
        trusted = self.trust(tmp_path / "t.txt")
        trusted.chmod(0o666)
        with pytest.raises(TrustError, match="trust file refused by strict_modes"):
            make_host(trust="hashes", trust_file=trusted)

    def test_trust_file_broken_later_refuses_everything_new(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        first = factory.build("hello", code=greet_code("hi"))
        trusted = self.trust(tmp_path / "t.txt", f"hello==1.0.0 --hash=sha256:{sha256(first)}")
        host = make_host(trust="hashes", trust_file=trusted, rescan_interval=0.1)
        self.trust(trusted, "garbage")
        factory.build("polite", code=greet_code("polite"))
        assert _eventually(lambda: any("'garbage'" in m for m in untrusted(host)))
        assert host.wait_idle()
        # Fails closed for new wheels; what serves keeps serving.
        assert greetings(host) == ["hi"]

    def test_install_refuses_unlisted(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path, events: list[Event]
    ) -> None:
        host = make_host(watch=[], trust="hashes", trust_file=self.trust(tmp_path / "t.txt"))
        wheel = factory.build("hello", code=greet_code("hi"))
        with pytest.raises(TrustError, match="is not listed in the trust file"):
            host.install(wheel)
        assert host.load_order() == ()
        assert any(e.kind is EventKind.REFUSED and e.origin == str(wheel) for e in events)

    def test_support_wheels_must_be_listed(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """A wheel that only satisfies a Requires-Dist is code too."""
        plugin = factory.build(
            "hello", code="import helperlib\n" + greet_code("hi"), requires_dist=["helperlib"]
        )
        helper = factory.build("helperlib", group="other.group", code="", module="helperlib")
        trusted = self.trust(tmp_path / "t.txt", f"hello==1.0.0 --hash=sha256:{sha256(plugin)}")
        host = make_host(trust="hashes", trust_file=trusted)
        assert host.load_order() == ()
        assert any(str(helper) in m for m in untrusted(host))
        with trusted.open("a") as f:
            f.write(f"helperlib==1.0.0 --hash=sha256:{sha256(helper)}\n")
        host.stop()
        again = make_host(trust="hashes", trust_file=trusted)
        assert greetings(again) == ["hi"]


def test_gate_rejects_unknown_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="trust must be 'permissions' or 'hashes'"):
        PluginHost("greeter", home=tmp_path / "home", trust="everything")  # type: ignore[arg-type]


def test_gate_caches_until_the_file_changes(tmp_path: Path) -> None:
    trusted = tmp_path / "t.txt"
    trusted.write_text(f"a==1 --hash=sha256:{'a' * 64}\n")
    gate = TrustGate("hashes", True, trusted)
    first = gate.trusted()
    assert gate.trusted() is first
    trusted.write_text(f"b==2 --hash=sha256:{'b' * 64}\n")
    assert set(gate.trusted()) == {"b" * 64}


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()
