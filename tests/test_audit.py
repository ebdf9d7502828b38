"""The audit log: what a host writes to ``home/audit.log``, its chain, and ``pluginhost audit``."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import greet_code, traced_peak

from pluginhost import PluginHost, StoreError
from pluginhost.model.events import Event, EventKind
from pluginhost.state.audit import (
    AuditEntry,
    AuditFault,
    AuditLog,
    entry_for,
    read_audit,
    verify_audit,
)
from pluginhost.state.audit_lines import MAX_LINE
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]


def entries(host_or_path: PluginHost | Path) -> list[AuditEntry]:
    path = host_or_path.audit_log if isinstance(host_or_path, PluginHost) else host_or_path
    found = list(read_audit(path))
    assert all(isinstance(e, AuditEntry) for e in found), found
    return found  # type: ignore[return-value]


def actions(host: PluginHost) -> list[tuple[str, str, str | None, str | None]]:
    return [(e.action, e.outcome, e.plugin, e.version) for e in entries(host)]


class TestWhatIsWritten:
    def test_life_of_a_plugin(
        self, factory: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """Install, swap, rollback, refusal, removal and stop, each with its facts, in order."""
        first = factory.build("hello", code=greet_code("1.0"))
        host = make_host()
        second = factory.build("hello", "1.1.0", code=greet_code("1.1"))
        assert host.wait_idle()
        host.rollback("hello")
        bad = factory.build("bad", broken="dotdot-path")
        assert host.wait_idle()
        host.remove("hello")
        host.stop()
        assert actions(host) == [
            ("start", "ok", None, None),
            ("install", "ok", "hello", "1.0.0"),
            ("swap", "ok", "hello", "1.1.0"),
            ("rollback", "ok", "hello", "1.0.0"),
            ("refusal", "refused", "bad", None),
            ("unload", "ok", "hello", "1.0.0"),
            ("stop", "ok", None, None),
        ]
        install, swap, rollback, refusal = entries(host)[1:5]
        assert install.sha256 == hashlib.sha256(first.read_bytes()).hexdigest()
        assert install.origin == str(first)
        assert (swap.previous_version, swap.origin) == ("1.0.0", str(second))
        assert swap.sha256 == hashlib.sha256(second.read_bytes()).hexdigest()
        assert rollback.previous_version == "1.1.0"
        assert refusal.origin == str(bad)
        assert refusal.reason is not None
        assert "'../pluginhost-evil.py'" in refusal.reason
        assert verify_audit(host.audit_log) == []

    def test_failed_swap_and_automatic_rollback(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        factory.build("hello", code=greet_code("1.0"))
        host = make_host()
        factory.build("hello", "1.1.0", code="raise RuntimeError('boom at import')")
        assert host.wait_idle()
        failed, rolled = entries(host)[2:4]
        assert (failed.action, failed.outcome, failed.version) == ("swap", "failed", "1.1.0")
        assert failed.reason is not None
        assert "boom at import" in failed.reason
        assert (rolled.action, rolled.version, rolled.previous_version) == (
            "rollback",
            "1.0.0",
            "1.1.0",
        )

    def test_failed_install(self, factory: WheelFactory, make_host: MakeHost) -> None:
        factory.build("hello", code="raise RuntimeError('boom')")
        host = make_host()
        [failed] = [e for e in entries(host) if e.plugin == "hello"]
        assert (failed.action, failed.outcome) == ("install", "failed")

    def test_appends_across_restarts_and_stays_private(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        factory.build("hello", code=greet_code("1.0"))
        make_host().stop()
        host = make_host()
        assert [a[0] for a in actions(host)] == [
            "start",
            "install",
            "unload",
            "stop",
            "start",
            "restore",
        ]
        assert verify_audit(host.audit_log) == []
        assert stat.S_IMODE(host.audit_log.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("kind", "fields", "expected"),
    [
        (EventKind.LOAD_FAILED, {"previous_version": "1.0.0"}, ("swap", "failed")),
        (EventKind.LOAD_FAILED, {}, ("install", "failed")),
        (EventKind.LOADED, {"step": "restore"}, ("restore", "ok")),
        (EventKind.UNLOAD_FAILED, {}, ("removal", "failed")),
        (EventKind.DRAIN_TIMEOUT, {}, ("drain", "timeout")),
        (EventKind.CRASHED, {}, ("crash", "failed")),
        (EventKind.RESTARTED, {}, ("restart", "ok")),
        (EventKind.QUARANTINED, {}, ("quarantine", "failed")),
        (EventKind.LOADING, {}, None),
        (EventKind.DISCOVERED, {}, None),
    ],
)
def test_entry_for(
    kind: EventKind, fields: dict[str, str], expected: tuple[str, str] | None
) -> None:
    entry = entry_for(Event(kind, "p", version="1.1.0", **fields))  # type: ignore[arg-type]
    got = (entry.action, entry.outcome) if entry is not None else None
    assert got == expected


def _written() -> tuple[set[str], set[str]]:
    """Every action and outcome the log writes: each event's, and the host's own."""
    found = [
        entry_for(event)
        for kind in EventKind
        for event in (
            Event(kind, "p", version="1.1.0"),
            Event(kind, "p", version="1.1.0", previous_version="1.0.0"),
            Event(kind, "p", version="1.1.0", step="restore"),
        )
    ]
    made = [e for e in found if e is not None]
    return {e.action for e in made} | {"start", "stop", "recover"}, {e.outcome for e in made}


def _quoted(page: str, start: str, end: str) -> set[str]:
    """The words in backticks of ``page`` between ``start`` and the next ``end``."""
    text = (Path(__file__).resolve().parent.parent / "docs" / page).read_text("utf-8")
    begin = text.index(start)
    return set(re.findall(r"`([^`]+)`", text[begin : text.index(end, begin)]))


class TestDocs:
    def test_security_page_names_every_action_and_outcome(self) -> None:
        """ "The audit log" of docs/security.md names every action and outcome written (it
        named neither ``disable`` nor ``enable``)."""
        actions, outcomes = _written()
        assert actions <= _quoted("security.md", "Actions: ", "Outcomes: ")
        assert outcomes <= _quoted("security.md", "Outcomes: ", "\n\n")

    def test_json_page_names_every_action_and_outcome(self) -> None:
        """The ``action`` and ``outcome`` rows of docs/json.md name every action and outcome
        written, and no other (but the kinds of events that only announce)."""
        actions, outcomes = _written()
        assert _quoted("json.md", "| `action` |", "\n") - {"action"} == actions
        assert _quoted("json.md", "| `outcome` |", "\n") - {"outcome"} == outcomes | {"info"}


def faults(path: Path) -> list[str]:
    return [str(f) for f in verify_audit(path)]


class TestChain:
    def write(self, path: Path, count: int) -> None:
        log = AuditLog(path)
        log.open()
        for i in range(count):
            log.record(Event(EventKind.LOADED, f"p{i}", version="1.0.0"))
        log.close()

    def test_edit_is_found(self, tmp_path: Path) -> None:
        """A line edited breaks the chain at the line after it."""
        self.write(tmp_path, 3)
        path = tmp_path / "audit.log"
        lines = path.read_bytes().splitlines(keepends=True)
        lines[1] = lines[1].replace(b'"p1"', b'"px"')
        path.write_bytes(b"".join(lines))
        assert faults(path) == [
            "line 3: chain broken (a line before it was changed, removed or added)"
        ]

    def test_deeply_nested_line_is_damage(self, tmp_path: Path) -> None:
        """A line nested past the JSON decoder's stack is reported as one that is no entry (it
        made `audit --verify` and `doctor` end in an internal RecursionError)."""
        self.write(tmp_path, 2)
        path = tmp_path / "audit.log"
        lines = path.read_bytes().splitlines(keepends=True)
        lines[1] = b"[" * 100_000 + b"]" * 100_000 + b"\n"
        path.write_bytes(b"".join(lines))
        found = faults(path)
        assert found[0].startswith("line 2: not an audit entry"), found

    def test_removal_is_found(self, tmp_path: Path) -> None:
        """A line removed in the middle breaks the chain, and the head counts it missing."""
        self.write(tmp_path, 3)
        path = tmp_path / "audit.log"
        lines = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(lines[0] + lines[2])
        assert faults(path) == [
            "line 2: chain broken (a line before it was changed, removed or added)",
            "1 line(s) missing before the last line: audit.head records 3 lines, the log has 2",
        ]

    def test_torn_line_is_closed_and_reported_as_a_crash(self, tmp_path: Path) -> None:
        """A crash mid-write leaves half a line: the next host closes it, records a
        ``recover`` entry, and --verify reports a crash, not tampering."""
        self.write(tmp_path, 2)
        path = tmp_path / "audit.log"
        with path.open("ab") as f:
            f.write(b'{"action": "inst')
        self.write(tmp_path, 1)
        found = verify_audit(path)
        assert [(f.line, f.reason, f.crash) for f in found] == [
            (3, "cut short by a crash while it was written", True)
        ]
        assert [e if isinstance(e, str) else e.action for e in read_audit(path)] == [
            "install",
            "install",
            '{"action": "inst',
            "recover",
            "install",
        ]
        recover = list(read_audit(path))[3]
        assert isinstance(recover, AuditEntry)
        assert recover.reason == "line 3 was cut short by a crash while it was written"

    def test_torn_last_line_before_a_restart_is_a_crash(self, tmp_path: Path) -> None:
        """Half a line the head does not count yet, with no start since: a crash."""
        self.write(tmp_path, 2)
        path = tmp_path / "audit.log"
        with path.open("ab") as f:
            f.write(b'{"action": "inst')
        found = verify_audit(path)
        assert [(f.line, f.crash) for f in found] == [(3, True)]

    def test_a_line_past_the_limit_is_a_fault_never_held(self, tmp_path: Path) -> None:
        """64 MiB of zeros after the last line: --verify reports a line longer than any
        entry, with no more than a MiB of it in memory at once."""
        self.write(tmp_path, 2)
        path = tmp_path / "audit.log"
        size = 64 * 1024 * 1024
        os.truncate(path, path.stat().st_size + size)
        found: list[AuditFault] = []
        assert traced_peak(lambda: found.extend(verify_audit(path))) < 4 * 1024 * 1024
        too_long = f"longer than any entry ({MAX_LINE} bytes at most), not an entry"
        assert [(f.line, f.reason, f.crash) for f in found] == [
            (3, f"is {size} bytes long: {too_long}; not read whole", False)
        ]
        shown = list(read_audit(path))[2]
        assert shown == f"(a line of {size} bytes, not shown: {too_long}; not read whole)"

    def test_a_start_after_a_line_past_the_limit(self, tmp_path: Path) -> None:
        """A start reads the log to find its head without holding the long line, closes it
        as it closes a torn one, and the fault stays for --verify to report."""
        self.write(tmp_path, 2)
        path = tmp_path / "audit.log"
        os.truncate(path, path.stat().st_size + 64 * 1024 * 1024)
        assert traced_peak(lambda: self.write(tmp_path, 1)) < 4 * 1024 * 1024
        found = verify_audit(path)
        assert (found[0].line, found[0].crash) == (3, False)
        assert "bytes long: longer than any entry" in found[0].reason
        assert [e.action for e in read_audit(path) if isinstance(e, AuditEntry)] == [
            "install",
            "install",
            "recover",
            "install",
        ]

    def test_no_entry_reaches_the_limit(self, tmp_path: Path) -> None:
        """The longest line the host can write (every field at its bound, each character
        escaped) stays well under the line limit."""
        log = AuditLog(tmp_path)
        log.open()
        huge = "\x01" * 100_000
        log.record(
            Event(
                EventKind.UPDATED,
                huge,
                version=huge,
                previous_version=huge,
                origin=huge,
                sha256=huge,
                error=huge,
            )
        )
        log.close()
        longest = max(map(len, (tmp_path / "audit.log").read_bytes().splitlines()))
        assert 50_000 < longest < MAX_LINE // 4

    def test_lines_removed_from_the_end(self, tmp_path: Path) -> None:
        """Lines cut off the end leave an intact chain: the head shows them missing."""
        self.write(tmp_path, 3)
        path = tmp_path / "audit.log"
        lines = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(b"".join(lines[:-2]))
        assert faults(path) == [
            "2 line(s) missing at the end: audit.head records 3 lines, the log has 1 "
            "(lines removed from the end)"
        ]

    def test_emptied_log(self, tmp_path: Path) -> None:
        """A log emptied whole is every line missing, not an intact empty log."""
        self.write(tmp_path, 2)
        path = tmp_path / "audit.log"
        path.write_bytes(b"")
        assert faults(path) == [
            "2 line(s) missing at the end: audit.head records 2 lines, the log has 0 "
            "(lines removed from the end)"
        ]

    def test_last_line_cut_short_after_it_was_written(self, tmp_path: Path) -> None:
        """Half of a line the head counts whole is tampering, not a crash."""
        self.write(tmp_path, 2)
        path = tmp_path / "audit.log"
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 20])
        found = verify_audit(path)
        assert [(f.line, f.reason, f.crash) for f in found] == [
            (2, "cut short after it was written (audit.head has it)", False)
        ]

    def test_last_line_replaced(self, tmp_path: Path) -> None:
        """Lines cut and others written in their place, chained right: not the head's line."""
        self.write(tmp_path, 3)
        path = tmp_path / "audit.log"
        lines = path.read_bytes().splitlines(keepends=True)
        forged = json.loads(lines[-1])
        forged["plugin"] = "rogue"
        lines[-1] = json.dumps(forged, sort_keys=True).encode() + b"\n"
        path.write_bytes(b"".join(lines))
        assert faults(path) == [
            "line 3: is not the line audit.head records (cut and written again?)"
        ]

    def test_crash_between_a_line_and_its_head(self, tmp_path: Path) -> None:
        """A line written whose head was not (a kill in between) is no fault; the next start
        counts it."""
        self.write(tmp_path, 1)
        head = (tmp_path / "audit.head").read_bytes()
        self.write(tmp_path, 1)
        path = tmp_path / "audit.log"
        with path.open("ab") as f:  # one more line, as a killed host wrote it
            last = path.read_bytes().splitlines(keepends=True)[-1]
            entry = json.loads(last)
            entry["prev"] = hashlib.sha256(last).hexdigest()
            f.write(json.dumps(entry, sort_keys=True).encode() + b"\n")
        assert faults(path) == []
        (tmp_path / "audit.head").write_bytes(head)  # and an older head still
        assert faults(path) == []
        self.write(tmp_path, 1)
        assert faults(path) == []
        assert json.loads((tmp_path / "audit.head").read_text())["data"]["count"] == 4

    def test_missing_head(self, tmp_path: Path) -> None:
        """A log without its head cannot show truncation, and says so."""
        self.write(tmp_path, 1)
        (tmp_path / "audit.head").unlink()
        assert faults(tmp_path / "audit.log") == [
            "no audit.head: lines removed from the end go unseen"
        ]

    @pytest.mark.parametrize(
        ("damage", "found"),
        [
            ("removed", "no audit.head beside a log of 2 line(s)"),
            (
                "garbled",
                "audit.head unusable: is truncated or not JSON (Expecting value: line 1 column 1 "
                "(char 0)); backup is missing",
            ),
            (
                "kept",
                "audit.head recorded 3 line(s), the last of which the log (of 2 lines) does not "
                "have there: lines removed from the end, or the head replaced",
            ),
        ],
    )
    def test_a_start_does_not_launder_a_cut_log(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str, found: str
    ) -> None:
        """The last line removed, the head removed, garbled or kept: the next start records a
        ``recover`` entry saying what it found and warns, and --verify still reports it (it
        said "intact" once the start had anchored the head again in silence)."""
        self.write(tmp_path, 3)
        path, head = tmp_path / "audit.log", tmp_path / "audit.head"
        path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:-1]))
        if damage == "removed":
            head.unlink()
        elif damage == "garbled":
            head.write_text("garbage")
        assert faults(path)
        with caplog.at_level(logging.WARNING, logger="pluginhost"):
            self.write(tmp_path, 0)
        told = f"{found}; the head was anchored again on the log as found"
        assert f"{path}: {found}; recorded in the log" in [r.getMessage() for r in caplog.records]
        assert faults(path) == [f"line 3: the start here found: {told}"]
        recover = list(read_audit(path))[2]
        assert isinstance(recover, AuditEntry)
        assert (recover.action, recover.outcome, recover.reason) == ("recover", "warning", told)
        self.write(tmp_path, 1)
        assert faults(path) == [f"line 3: the start here found: {told}"]

    def test_a_start_after_a_clean_stop_records_nothing(self, tmp_path: Path) -> None:
        """A head that vouches for the log, or one behind it (a kill before the anchor), is
        trusted: no ``recover`` entry, no fault."""
        self.write(tmp_path, 2)
        self.write(tmp_path, 0)
        assert [e.action for e in entries(tmp_path / "audit.log")] == ["install", "install"]
        assert faults(tmp_path / "audit.log") == []

    def test_head_is_private(self, tmp_path: Path) -> None:
        """The head is written like the log: private."""
        self.write(tmp_path, 1)
        assert stat.S_IMODE((tmp_path / "audit.head").stat().st_mode) == 0o600


class TestBounds:
    def test_huge_reason_is_cut_with_its_digest(self, tmp_path: Path) -> None:
        """A 4 MB refusal reason adds a few KB to the log, keeping the sha256 of the whole."""
        reason = "Requires-Dist: " + "x" * 4_000_000
        log = AuditLog(tmp_path)
        log.open()
        log.record(Event(EventKind.REFUSED, "p", error=reason))
        log.close()
        assert (tmp_path / "audit.log").stat().st_size < 5_000
        (entry,) = [e for e in entries(tmp_path / "audit.log") if e.action == "refusal"]
        assert entry.reason is not None
        assert entry.reason.startswith("Requires-Dist: xxx")
        digest = hashlib.sha256(reason.encode()).hexdigest()
        assert entry.reason.endswith(
            f"… [3997967 more characters cut; sha256 of the whole {digest}]"
        )
        assert faults(tmp_path / "audit.log") == []

    def test_a_path_that_is_not_utf8_is_written_and_read_back(self, tmp_path: Path) -> None:
        """A wheel's path with a byte that is not UTF-8 (a lone surrogate in Python's text):
        its line is written, valid UTF-8, chained, and reads back as the same path."""
        origin = os.fsdecode(b"/srv/wheels-\xff/hello-1.0.0-py3-none-any.whl")
        log = AuditLog(tmp_path)
        log.open()
        log.record(Event(EventKind.LOADED, "hello", version="1.0.0", origin=origin))
        log.close()
        raw = (tmp_path / "audit.log").read_bytes()
        raw.decode("utf-8")  # strict: no raw surrogate on disk
        (entry,) = [e for e in entries(tmp_path / "audit.log") if e.plugin == "hello"]
        assert entry.origin == origin
        assert faults(tmp_path / "audit.log") == []

    def test_every_field_is_bounded(self, tmp_path: Path) -> None:
        """Not only the reason: a huge plugin name, version or origin is cut too."""
        log = AuditLog(tmp_path)
        log.open()
        huge = "v" * 100_000
        log.record(Event(EventKind.LOADED, huge, version=huge, origin=huge))
        log.close()
        assert (tmp_path / "audit.log").stat().st_size < 10_000

    def test_write_failure_is_a_store_error(self, tmp_path: Path) -> None:
        log = AuditLog(tmp_path)
        log.open()
        assert log._fd is not None
        os.close(log._fd)
        log._fd = os.open(os.devnull, os.O_RDONLY)  # a descriptor that refuses writes
        with pytest.raises(OSError, match=r"audit.log: cannot append to the audit log"):
            log.record(Event(EventKind.LOADED, "p", version="1.0.0"))
        log.close()


class TestCommand:
    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pluginhost", "audit", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def test_show_filter_json_verify(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        factory.build("hello", code=greet_code("1.0"))
        factory.build("polite", code=greet_code("polite"))
        make_host().stop()
        home = str(tmp_path / "home")
        shown = self.run("--home", home)
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        assert len(lines) == 6
        assert " install ok hello 1.0.0 sha256:" in lines[1]
        only = self.run("--home", home, "--plugin", "polite", "--action", "install", "--json")
        [entry] = [json.loads(line) for line in only.stdout.splitlines()]
        assert (entry["plugin"], entry["action"], entry["outcome"]) == ("polite", "install", "ok")
        tail = self.run("--home", home, "--tail", "1")
        assert tail.stdout.split()[1:3] == ["stop", "ok"]
        negative = self.run("--home", home, "--tail", "-1")  # it printed nothing, exit 0
        assert negative.returncode == 2
        assert "argument --tail: -1 is negative" in negative.stderr
        assert self.run("--home", home, "--verify").stdout.strip() == "audit log intact"
        log = tmp_path / "home" / "audit.log"
        whole = log.read_bytes()
        log.write_bytes(b"".join(whole.splitlines(keepends=True)[:-1]))
        truncated = self.run("--home", home, "--verify")
        assert truncated.returncode == 3
        assert "1 line(s) missing at the end" in truncated.stdout
        log.write_bytes(whole)
        log = tmp_path / "home" / "audit.log"
        log.write_text(log.read_text().replace("polite", "rogue"))
        tampered = self.run("--home", home, "--verify")
        assert tampered.returncode == 3
        assert "chain broken" in tampered.stdout

    def test_no_log(self, tmp_path: Path) -> None:
        proc = self.run("--home", str(tmp_path))
        assert proc.returncode == 1
        assert "no audit log" in proc.stderr


def test_a_fifo_in_place_of_the_audit_log_is_refused(tmp_path: Path) -> None:
    """A FIFO where the audit log goes makes opening it a StoreError naming the file, not a
    wait for a writer that never comes (the host's start hung there)."""
    path = tmp_path / "audit.log"
    os.mkfifo(path, 0o600)
    with pytest.raises(StoreError, match="not a regular file"):
        AuditLog(tmp_path).open()
    with pytest.raises(StoreError, match="not a regular file"):
        list(read_audit(path))
