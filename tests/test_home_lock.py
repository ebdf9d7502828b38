"""The home lock's file when it is not a regular file: refused by name, never waited on (the
lock's protocol, with real killed processes, is tested in test_store.py)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pluginhost.model.errors import HostStateError
from pluginhost.state.store import HomeLock


def _fifo(path: Path) -> None:
    os.mkfifo(path, 0o600)


def _directory(path: Path) -> None:
    path.mkdir(mode=0o700)


def _link(path: Path) -> None:
    path.with_name("elsewhere").write_text("")
    path.symlink_to(path.with_name("elsewhere"))


KINDS: dict[str, Callable[[Path], None]] = {
    "a FIFO": _fifo,
    "a directory": _directory,
    "a symbolic link (not followed)": _link,
}


def bounded(call: Callable[[], object], lock: Path) -> object:
    """``call()``'s result or exception, failing the test if it blocks (a FIFO's open waits for
    a writer: one is opened here after the wait, so the call ends either way)."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # the outcome under test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    blocked = thread.is_alive()
    if blocked and lock.is_fifo():
        os.close(os.open(lock, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
    assert not blocked, f"blocked on {lock}"
    return outcome[0]


@pytest.mark.parametrize("kind", list(KINDS))
class TestNotARegularFile:
    def test_holder_refuses_unblocked(self, tmp_path: Path, kind: str) -> None:
        """A reader's probe of a lock file that is no regular file raises a HostStateError
        naming the file and what it is, without waiting (a FIFO blocked the CLI forever)."""
        KINDS[kind](tmp_path / "lock")
        error = bounded(lambda: HomeLock.holder(tmp_path), tmp_path / "lock")
        assert isinstance(error, HostStateError), error
        assert error.path == str(tmp_path / "lock")
        assert f"it is {kind}, not a regular file: no host can lock it" in error.reason

    def test_acquire_refuses(self, tmp_path: Path, kind: str) -> None:
        """A host does not lock its home through a lock file that is no regular file."""
        KINDS[kind](tmp_path / "lock")
        error = bounded(lambda: HomeLock(tmp_path).acquire(), tmp_path / "lock")
        assert isinstance(error, HostStateError), error
        assert error.path == str(tmp_path / "lock")
        assert "cannot open the lock file" in error.reason
        assert kind.partition(" (")[0] in error.reason or "symbolic links" in error.reason


def test_holder_of_a_fifo_swapped_in_under_a_running_host(tmp_path: Path) -> None:
    """A FIFO renamed over the lock of a host that holds it is refused by name too."""
    with HomeLock(tmp_path):
        os.mkfifo(tmp_path / "fifo", 0o600)
        os.replace(tmp_path / "fifo", tmp_path / "lock")
        error = bounded(lambda: HomeLock.holder(tmp_path), tmp_path / "lock")
    assert isinstance(error, HostStateError), error
    assert "it is a FIFO, not a regular file" in error.reason
