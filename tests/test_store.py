"""Crash-safe JSON documents and the home lock, on real files and with real, killed processes."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import traced_peak
from hypothesis import given, settings
from hypothesis import strategies as st

import pluginhost.state.store
from pluginhost.model.errors import HostStateError, PluginHostError
from pluginhost.state.store import DOCUMENT_LIMIT, AtomicJsonFile, HomeLock, StoreError

# The children import the module under test from this checkout, not from an installed copy.
SOURCE_ROOT = Path(pluginhost.state.store.__file__).resolve().parents[1]

WRITER = """
import random, sys
from pathlib import Path
from pluginhost.state.store import AtomicJsonFile

doc = AtomicJsonFile(Path(sys.argv[1]))
n = int(sys.argv[2])
sizes = random.Random(n)
while True:
    doc.write({"n": n, "pad": "x" * sizes.randrange(100_000)})
    print(n, flush=True)
    n += 1
"""

LOCKER = """
import os, subprocess, sys, threading, time
from pathlib import Path
from pluginhost.state.store import HomeLock

HomeLock(Path(sys.argv[1])).acquire()
helper = None
if sys.argv[2:] == ["--spawn"]:
    # close_fds=False: only the lock's own close-on-exec flag keeps it out of the helper.
    helper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], close_fds=False
    )
elif sys.argv[2:] == ["--fork"]:
    # What plugin code may do (multiprocessing's fork start method): a bare fork, no exec.
    # The child's at-fork handlers have run once fork() returns in it: it says so through a
    # pipe, so the test never kills the holder while the child has not yet dropped its copy.
    ready, done = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(done, b"x")
        time.sleep(60)
        os._exit(0)
    os.read(ready, 1)
    helper = type("Forked", (), {"pid": pid})()
print(helper.pid if helper else 0, flush=True)
time.sleep(60)
"""

PROBER = """
import sys
from pathlib import Path
from pluginhost.state.store import HomeLock

HomeLock.holder(Path(sys.argv[1]))
print("probing", flush=True)
while True:
    HomeLock.holder(Path(sys.argv[1]))
"""

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=25,
)


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SOURCE_ROOT)}


def dead_pid() -> int:
    """A pid whose process has exited and been reaped."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def document(data: Any) -> bytes:
    """The bytes of a valid stored document holding ``data``."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return json.dumps({"format": 1, "sha256": digest, "data": data}).encode()


def temps(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.tmp-"))


@pytest.fixture
def doc(tmp_path: Path) -> AtomicJsonFile:
    return AtomicJsonFile(tmp_path / "registry.json")


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start children running a script with this checkout importable; kill them all at the end."""
    children: list[subprocess.Popen[str]] = []

    def start(script: str, *args: str) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        children.append(child)
        return child

    yield start
    for child in children:
        child.kill()
        child.wait()
        if child.stdout:
            child.stdout.close()


class TestAtomicJsonFile:
    def test_round_trip(self, doc: AtomicJsonFile) -> None:
        """What is written reads back equal, from the main copy."""
        doc.write({"active": ["hello", "world"], "n": 1.5})
        assert doc.read() == {"active": ["hello", "world"], "n": 1.5}
        assert doc.recovered is None

    def test_file_format(self, doc: AtomicJsonFile) -> None:
        """The file holds format 1, the sha256 of the canonical JSON, and the data."""
        doc.write({"b": [1, 2], "a": "é"})
        stored = json.loads(doc.path.read_bytes())
        canonical = '{"a":"\\u00e9","b":[1,2]}'
        assert stored == {
            "format": 1,
            "sha256": hashlib.sha256(canonical.encode()).hexdigest(),
            "data": {"b": [1, 2], "a": "é"},
        }

    def test_data_written_as_its_canonical_json(self, doc: AtomicJsonFile) -> None:
        """The data is stored as the canonical JSON its checksum is taken over, in one line."""
        doc.write({"b": [1, 2], "a": "é"})
        text = doc.path.read_text()
        assert text.count("\n") == 1
        assert '"data": {"a":"\\u00e9","b":[1,2]}}' in text

    def test_missing_both_reads_none(self, doc: AtomicJsonFile) -> None:
        """With neither copy on disk there is no document, and nothing was recovered."""
        assert doc.read() is None
        assert doc.recovered is None

    def test_overwrite_keeps_previous_as_backup(self, doc: AtomicJsonFile) -> None:
        """Each write moves the document it replaces to ``.bak``, as a file of its own."""
        doc.write({"n": 1})
        assert not doc.backup.exists()
        doc.write({"n": 2})
        doc.write({"n": 3})
        assert doc.read() == {"n": 3}
        assert AtomicJsonFile(doc.backup).read() == {"n": 2}
        assert not doc.path.samefile(doc.backup)

    def test_view_keeps_no_backup(self, tmp_path: Path) -> None:
        """A document that is only a view (``durable=False``) is replaced whole, checksummed,
        and keeps no backup copy."""
        view = AtomicJsonFile(tmp_path / "status.json", durable=False)
        view.write({"n": 1})
        view.write({"n": 2})
        assert view.read() == {"n": 2}
        assert not view.backup.exists()
        assert [p.name for p in tmp_path.iterdir()] == ["status.json"]

    def test_status_document_is_a_view(self, tmp_path: Path) -> None:
        """The host's status document is written as a view: no backup of it piles up."""
        from pluginhost import PluginHost

        with PluginHost("greeter", home=tmp_path / "home", environment=False, live=False):
            pass
        with PluginHost("greeter", home=tmp_path / "home", environment=False, live=False):
            pass
        assert (tmp_path / "home" / "status.json").exists()
        assert not (tmp_path / "home" / "status.json.bak").exists()

    @pytest.mark.parametrize(
        ("damage", "reason"),
        [
            (lambda good: good[: len(good) // 2], "truncated or not JSON"),
            (lambda good: b"\x00\xffgarbage", "truncated or not JSON"),
            (lambda good: b"", "is empty"),
            (lambda good: good.replace(b'"n":2', b'"n":7'), "fails its checksum"),
            (lambda good: good.replace(b'"format": 1', b'"format": 2'), "unknown format 2"),
            (lambda good: b'{"n": 2}', "is not a stored document"),
        ],
        ids=["truncated", "garbage", "empty", "wrong-checksum", "wrong-format", "bare-json"],
    )
    def test_corrupt_main_falls_back_to_backup(
        self, doc: AtomicJsonFile, damage: Callable[[bytes], bytes], reason: str
    ) -> None:
        """A damaged main copy is not used: the backup is, and ``recovered`` says why."""
        doc.write({"n": 1})
        doc.write({"n": 2})
        doc.path.write_bytes(damage(doc.path.read_bytes()))
        assert doc.read() == {"n": 1}
        assert doc.recovered is not None
        assert reason in doc.recovered
        assert "registry.json.bak" in doc.recovered

    def test_the_main_copy_is_repaired_from_the_backup(self, doc: AtomicJsonFile) -> None:
        """The writer's read puts the backup's document back as the main copy, the backup
        kept: two good copies again."""
        doc.write({"n": 1})
        doc.write({"n": 2})
        backup = doc.backup.read_bytes()
        doc.path.write_bytes(b"{")
        assert doc.read() == {"n": 1}
        assert doc.recovered is not None
        assert doc.recovered.endswith("and repaired registry.json from it")
        assert doc.path.read_bytes() == backup
        assert doc.backup.read_bytes() == backup
        again = AtomicJsonFile(doc.path)
        assert again.read() == {"n": 1}
        assert again.recovered is None

    def test_a_repair_that_fails_is_told(self, doc: AtomicJsonFile) -> None:
        """A main copy that cannot be replaced (a directory in its place) leaves the read as
        good, and says so."""
        doc.write({"n": 1})
        doc.write({"n": 2})
        doc.path.unlink()
        doc.path.mkdir()
        (doc.path / "inside").write_text("x")
        assert doc.read() == {"n": 1}
        assert doc.recovered is not None
        assert "(the main copy could not be repaired: " in doc.recovered
        assert not [p for p in doc.path.parent.iterdir() if p.name.startswith(".registry")]

    def test_peek_tells_the_recovery_and_repairs_nothing(self, doc: AtomicJsonFile) -> None:
        """A reader that is not the writer learns the main copy is damaged, and leaves it."""
        doc.write({"n": 1})
        doc.write({"n": 2})
        doc.path.write_bytes(b"{")
        assert doc.peek() == {"n": 1}
        assert doc.recovered is not None
        assert doc.recovered.startswith("registry.json is truncated or not JSON")
        assert "repaired" not in doc.recovered
        assert doc.path.read_bytes() == b"{"

    def test_a_fifo_in_place_of_the_main_copy_is_not_read(self, doc: AtomicJsonFile) -> None:
        """A FIFO put where the document was is refused unread, and the backup is used: it
        hung the host's start, and the CLI that read the home."""
        doc.write({"n": 1})
        doc.write({"n": 2})
        doc.path.unlink()
        os.mkfifo(doc.path, 0o600)
        assert doc.read() == {"n": 1}
        assert doc.recovered is not None
        assert "is a FIFO, not a regular file" in doc.recovered

    def test_missing_main_falls_back_to_backup(self, doc: AtomicJsonFile) -> None:
        """A deleted main copy is recovered from the backup."""
        doc.write({"n": 1})
        doc.write({"n": 2})
        doc.path.unlink()
        assert doc.read() == {"n": 1}
        assert doc.recovered is not None
        assert "missing" in doc.recovered

    def test_recovered_cleared_by_next_good_read(self, doc: AtomicJsonFile) -> None:
        """``recovered`` describes the last read only."""
        doc.write({"n": 1})
        doc.write({"n": 2})
        doc.path.write_bytes(b"{")
        doc.read()
        doc.write({"n": 3})
        assert doc.read() == {"n": 3}
        assert doc.recovered is None

    def test_both_corrupt_raises_naming_both(self, doc: AtomicJsonFile) -> None:
        """With no usable copy, read raises a StoreError naming each file and its fault."""
        doc.write({"n": 1})
        doc.write({"n": 2})
        doc.path.write_bytes(b"garbage")
        doc.backup.write_bytes(document({"n": 1}).replace(b'"n": 1', b'"n": 5'))
        with pytest.raises(StoreError) as info:
            doc.read()
        message = str(info.value)
        assert "registry.json is truncated or not JSON" in message
        assert "registry.json.bak fails its checksum" in message
        assert isinstance(info.value, PluginHostError)
        assert isinstance(info.value, OSError)
        assert info.value.path == str(doc.path)

    def test_corrupt_main_without_backup_raises(self, doc: AtomicJsonFile) -> None:
        """A damaged first document is an error, not an empty store."""
        doc.write({"n": 1})
        doc.path.write_bytes(b'{"format": 1')
        with pytest.raises(StoreError, match=r"registry.json.bak is missing"):
            doc.read()

    def test_write_keeps_good_backup_over_corrupt_main(self, doc: AtomicJsonFile) -> None:
        """A damaged main copy is never rotated into the backup."""
        doc.write({"n": 1})
        doc.write({"n": 2})
        doc.path.write_bytes(b"garbage")
        doc.write({"n": 3})
        doc.path.write_bytes(b"garbage")
        assert doc.read() == {"n": 1}

    def test_same_size_damage_in_place_is_not_rotated(self, doc: AtomicJsonFile) -> None:
        """A main copy changed in place after this object wrote it, even to the same size, is
        checked again before rotation: the damage never reaches the backup."""
        doc.write({"n": 1})
        doc.write({"n": 2})
        good = doc.path.read_bytes()
        doc.path.write_bytes(good.replace(b'"n":2', b'"n":7'))
        doc.write({"n": 3})
        doc.path.write_bytes(b"garbage")
        assert doc.read() == {"n": 1}

    def test_own_copy_rotated_without_reading_it(self, doc: AtomicJsonFile) -> None:
        """The copy this object wrote is rotated by a hard link, not read and decoded again."""
        doc.write({"n": 1})
        opened: list[str] = []

        def hook(event: str, args: tuple[object, ...]) -> None:
            if event == "open" and str(args[0]) == str(doc.path):
                opened.append(str(args[1]))

        sys.addaudithook(hook)
        doc.write({"n": 2})
        count = len(opened)
        del opened[:]  # the hook stays installed (audit hooks cannot be removed)
        assert count == 0
        assert AtomicJsonFile(doc.backup).read() == {"n": 1}
        assert doc.read() == {"n": 2}

    def test_write_after_crash_between_link_and_rename(self, doc: AtomicJsonFile) -> None:
        """When both copies link one inode, as a crash can leave them, writing leaves no temp."""
        doc.write({"n": 1})
        os.link(doc.path, doc.backup)
        doc.write({"n": 2})
        assert temps(doc.path) == []
        assert doc.read() == {"n": 2}
        assert AtomicJsonFile(doc.backup).read() == {"n": 1}

    def test_backup_copied_without_hard_links(
        self, doc: AtomicJsonFile, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """On a file system refusing hard links the backup is a verified copy."""

        def refuse(*args: object, **kwargs: object) -> None:
            raise PermissionError(errno.EPERM, "Operation not permitted")

        doc.write({"n": 1})
        monkeypatch.setattr(os, "link", refuse)
        doc.write({"n": 2})
        assert AtomicJsonFile(doc.backup).read() == {"n": 1}
        assert doc.read() == {"n": 2}
        assert temps(doc.path) == []

    def test_failed_write_keeps_document(
        self, doc: AtomicJsonFile, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A write the file system refuses raises StoreError and leaves the old document."""
        doc.write({"n": 1})

        def full(*args: object, **kwargs: object) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "replace", full)
        with pytest.raises(StoreError, match=r"cannot write: disk full \(ENOSPC\)") as info:
            doc.write({"n": 2})
        assert isinstance(info.value.__cause__, OSError)
        monkeypatch.undo()
        assert temps(doc.path) == []
        assert doc.read() == {"n": 1}

    @pytest.mark.parametrize(
        "bad", [float("nan"), float("inf"), object()], ids=["nan", "inf", "object"]
    )
    def test_unserializable_data_writes_nothing(self, doc: AtomicJsonFile, bad: object) -> None:
        """Data that is not JSON is refused before any file is touched."""
        with pytest.raises((TypeError, ValueError)):
            doc.write({"bad": bad})
        assert list(doc.path.parent.iterdir()) == []

    def test_stale_temps_removed_on_read(self, doc: AtomicJsonFile) -> None:
        """Read removes temps of dead writers, keeps live writers' and other documents' temps."""
        doc.write({"n": 1})
        folder = doc.path.parent
        stale = folder / f".registry.json.tmp-{dead_pid()}-0badcafe"
        unparsable = folder / ".registry.json.tmp-junk"
        ours = folder / f".registry.json.tmp-{os.getpid()}-00000000"
        other = folder / f".other.json.tmp-{dead_pid()}-00000000"
        for temp in (stale, unparsable, ours, other):
            temp.write_bytes(b'{"form')
        assert doc.read() == {"n": 1}
        assert not stale.exists()
        assert not unparsable.exists()
        assert ours.exists()
        assert other.exists()

    @settings(max_examples=60, deadline=None)
    @given(data=JSON_VALUES)
    def test_round_trip_any_json(self, tmp_path_factory: pytest.TempPathFactory, data: Any) -> None:
        """Any JSON value reads back equal after being written over an older one."""
        doc = AtomicJsonFile(tmp_path_factory.getbasetemp() / "hypothesis.json")
        doc.write(["older"])
        doc.write(data)
        assert doc.read() == data
        assert doc.recovered is None


class TestSizeLimit:
    """A copy larger than its document's limit is unusable, refused before it is read."""

    def test_an_oversized_main_copy_is_passed_over_for_the_backup(
        self, doc: AtomicJsonFile
    ) -> None:
        """A main copy grown past the limit (a sparse file of zeros after the document) is
        refused unread: the backup is used, and the main copy repaired from it."""
        doc.write({"n": 1})
        doc.write({"n": 2})
        backup = doc.backup.read_bytes()
        size = DOCUMENT_LIMIT + 1
        os.truncate(doc.path, size)
        assert traced_peak(lambda: doc.read() == {"n": 1}) < 1024 * 1024
        assert doc.recovered == (
            f"registry.json is {size} bytes, over the limit of {DOCUMENT_LIMIT}; used "
            f"{doc.backup}, and repaired registry.json from it"
        )
        assert doc.path.read_bytes() == backup
        assert AtomicJsonFile(doc.path).read() == {"n": 1}

    def test_an_oversized_copy_without_backup_is_refused_at_once(self, doc: AtomicJsonFile) -> None:
        """No backup: a StoreError naming the file and its size, with nothing of it read."""
        doc.write({"n": 1})
        size = 4 * 1024**3
        os.truncate(doc.path, size)

        def refused() -> None:
            with pytest.raises(StoreError) as caught:
                doc.read()
            assert str(caught.value) == (
                f"{doc.path}: no usable copy: registry.json is {size} bytes, over the limit "
                f"of {DOCUMENT_LIMIT}; registry.json.bak is missing"
            )

        assert traced_peak(refused) < 1024 * 1024

    def test_the_owner_sets_the_limit(self, tmp_path: Path) -> None:
        """A document's own limit is kept to, by a reader who peeks too."""
        small = AtomicJsonFile(tmp_path / "small.json", max_size=200)
        small.write({"n": 1})
        os.truncate(small.path, 201)
        with pytest.raises(
            StoreError, match=r"small\.json: unusable: is 201 bytes, over the limit of 200"
        ):
            small.peek()

    def test_a_write_past_the_limit_is_refused(self, tmp_path: Path) -> None:
        """The host never commits a document it could not read back: the old one stays."""
        small = AtomicJsonFile(tmp_path / "small.json", max_size=200)
        small.write({"n": 1})
        with pytest.raises(StoreError, match=r"would be 2\d\d bytes, over the limit of 200"):
            small.write({"n": "x" * 150})
        assert small.read() == {"n": 1}
        assert temps(small.path) == []


@pytest.mark.slow
class TestCrashSafety:
    ROUNDS = 60

    def test_sigkill_during_writes_never_loses_a_commit(self, tmp_path: Path) -> None:
        """Killed at random moments, a writer always leaves its last or in-flight document."""
        seed = random.randrange(2**32)
        delays = random.Random(seed)
        doc = AtomicJsonFile(tmp_path / "doc.json")
        committed, mid_write = -1, 0
        for round_ in range(self.ROUNDS):
            printed = self._run_and_kill(
                doc.path, committed + 1, delays, tmp_path / f"{round_}.out"
            )
            last = max(printed, default=committed)
            mid_write += bool(temps(doc.path))
            data = doc.read()
            n = -1 if data is None else data["n"]
            context = f"seed {seed}, round {round_}: committed {last}, read {n}"
            assert n in (last, last + 1), context
            assert doc.recovered is None, context
            assert temps(doc.path) == [], context
            self._check_backup(doc, n, context)
            committed = n
        assert committed > self.ROUNDS
        # Most of a write is spent filling the temp file: some kills must have landed there.
        assert mid_write > 0

    @staticmethod
    def _run_and_kill(path: Path, start: int, delays: random.Random, out: Path) -> list[int]:
        """Run a writer from ``start``, SIGKILL it after a random delay, return what it printed."""
        with out.open("wb") as sink:
            child = subprocess.Popen(
                [sys.executable, "-c", WRITER, str(path), str(start)],
                stdout=sink,
                env=child_env(),
            )
        try:
            if delays.random() < 0.75:
                # Usually inside the loop; else anywhere, start-up and the first write included.
                deadline = time.monotonic() + 10
                while out.stat().st_size == 0 and child.poll() is None:
                    assert time.monotonic() < deadline, "writer never committed"
                    time.sleep(0.001)
            time.sleep(delays.uniform(0, 0.06))
            assert child.poll() is None, "writer exited by itself"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        # Only whole lines: a print cut by the kill is not a report.
        return [
            int(line) for line in out.read_bytes().splitlines(keepends=True) if line.endswith(b"\n")
        ]

    @staticmethod
    def _check_backup(doc: AtomicJsonFile, n: int, context: str) -> None:
        if n <= 0:
            return
        backup = AtomicJsonFile(doc.backup).read()
        assert backup is not None, context
        assert backup["n"] in (n - 1, n), context


class TestHomeLock:
    def test_second_lock_in_same_process_refused(self, tmp_path: Path) -> None:
        """Two HomeLocks of one process conflict, and the refusal names this process."""
        refusal = rf"in use by process {os.getpid()} \(started"
        with HomeLock(tmp_path), pytest.raises(HostStateError, match=refusal):
            HomeLock(tmp_path).acquire()

    def test_same_lock_twice_refused(self, tmp_path: Path) -> None:
        """Acquiring a lock already held by the same object is an error, not a no-op."""
        lock = HomeLock(tmp_path)
        lock.acquire()
        with pytest.raises(HostStateError, match="already locked by this HomeLock"):
            lock.acquire()
        lock.release()

    def test_lock_file_records_pid_and_start(self, tmp_path: Path) -> None:
        """The holder's pid is the first line of ``home/lock``, its start time the second."""
        home = tmp_path / "home"
        with HomeLock(home):
            pid, started = (home / "lock").read_text().splitlines()
        assert pid == str(os.getpid())
        assert started.startswith(time.strftime("%Y-"))

    def test_holder(self, tmp_path: Path) -> None:
        """``holder`` names the pid while the lock is held, and ``None`` before and after."""
        assert HomeLock.holder(tmp_path) is None
        with HomeLock(tmp_path):
            assert HomeLock.holder(tmp_path) == os.getpid()
        assert HomeLock.holder(tmp_path) is None
        assert (tmp_path / "lock").read_text() == ""

    def test_release_idempotent(self, tmp_path: Path) -> None:
        """Releasing twice, or never having acquired, is harmless; the home can be locked again."""
        lock = HomeLock(tmp_path)
        lock.release()
        lock.acquire()
        lock.release()
        lock.release()
        with HomeLock(tmp_path):
            pass

    def test_unopenable_lock_file(self, tmp_path: Path) -> None:
        """A home that cannot hold a lock file is reported as a HostStateError."""
        (tmp_path / "home").write_text("a file, not a folder")
        with pytest.raises(HostStateError, match="cannot open the lock file"):
            HomeLock(tmp_path / "home").acquire()

    @pytest.mark.slow
    def test_other_process_holds_until_killed(
        self, tmp_path: Path, spawn: Callable[..., subprocess.Popen[str]]
    ) -> None:
        """A child holding the home is named in the refusal; once SIGKILLed the home is free."""
        child = spawn(LOCKER, str(tmp_path))
        assert child.stdout is not None
        assert child.stdout.readline() == "0\n"
        with pytest.raises(HostStateError, match=rf"in use by process {child.pid} \(started"):
            HomeLock(tmp_path).acquire()
        assert HomeLock.holder(tmp_path) == child.pid
        child.kill()
        child.wait()
        assert HomeLock.holder(tmp_path) is None
        with HomeLock(tmp_path):
            assert HomeLock.holder(tmp_path) == os.getpid()

    @pytest.mark.slow
    def test_subprocess_of_killed_holder_does_not_keep_lock(
        self, tmp_path: Path, spawn: Callable[..., subprocess.Popen[str]]
    ) -> None:
        """A process the holder started, still running after the holder is killed, holds nothing."""
        child = spawn(LOCKER, str(tmp_path), "--spawn")
        assert child.stdout is not None
        helper = int(child.stdout.readline())
        try:
            child.kill()
            child.wait()
            os.kill(helper, 0)  # still alive
            with HomeLock(tmp_path):
                pass
        finally:
            os.kill(helper, signal.SIGKILL)

    @pytest.mark.slow
    def test_forked_child_of_killed_holder_does_not_keep_lock(
        self, tmp_path: Path, spawn: Callable[..., subprocess.Popen[str]]
    ) -> None:
        """A child made by a bare fork in the holder holds nothing once the holder is killed."""
        child = spawn(LOCKER, str(tmp_path), "--fork")
        assert child.stdout is not None
        forked = int(child.stdout.readline())
        try:
            child.kill()
            child.wait()
            os.kill(forked, 0)  # still alive
            with HomeLock(tmp_path):
                pass
        finally:
            os.kill(forked, signal.SIGKILL)

    @pytest.mark.slow
    def test_probes_never_refuse_an_acquire(
        self, tmp_path: Path, spawn: Callable[..., subprocess.Popen[str]]
    ) -> None:
        """Other processes probing ``holder()`` in a loop (the CLI's list, status, doctor)
        never make an acquire fail with "in use"."""
        with HomeLock(tmp_path):
            pass
        probers = [spawn(PROBER, str(tmp_path)) for _ in range(2)]
        for prober in probers:
            assert prober.stdout is not None
            assert prober.stdout.readline() == "probing\n"
        for _ in range(2000):
            with HomeLock(tmp_path):
                pass
