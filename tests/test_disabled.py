"""The disabled plugins of a home (pluginhost.state.disabled)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pluginhost import HostStateError, StoreError
from pluginhost.state.disabled import DISABLED_FILE, DisabledList, record_choice
from pluginhost.state.store import AtomicJsonFile, HomeLock


class TestDisabledList:
    def test_none_when_never_written(self, tmp_path: Path) -> None:
        """A home without the document has nothing disabled."""
        assert DisabledList(tmp_path).read() == frozenset()

    def test_round_trip_normalized(self, tmp_path: Path) -> None:
        """Names are written sorted and normalized, and read back so."""
        listed = DisabledList(tmp_path)
        listed.write(["Hello_World", "polite"])
        assert listed.read() == {"hello-world", "polite"}
        assert listed.path == tmp_path / DISABLED_FILE

    def test_malformed(self, tmp_path: Path) -> None:
        """A document whose list is not names is a StoreError naming the file."""
        AtomicJsonFile(tmp_path / DISABLED_FILE).write({"disabled": [1]})
        with pytest.raises(StoreError, match=r"disabled\.json: malformed"):
            DisabledList(tmp_path).read()


class TestRecordChoice:
    def test_disable_then_enable(self, tmp_path: Path) -> None:
        """Recorded with no host running; a second identical choice changes nothing."""
        assert record_choice(tmp_path, "Hello", disabled=True) is True
        assert record_choice(tmp_path, "hello", disabled=True) is False
        assert DisabledList(tmp_path).read() == {"hello"}
        assert record_choice(tmp_path, "hello", disabled=False) is True
        assert record_choice(tmp_path, "hello", disabled=False) is False
        assert DisabledList(tmp_path).read() == frozenset()

    def test_refused_while_the_home_is_in_use(self, tmp_path: Path) -> None:
        """A home locked by a host is not written behind its back."""
        lock = HomeLock(tmp_path)
        lock.acquire()
        try:
            with pytest.raises(HostStateError):
                record_choice(tmp_path, "hello", disabled=True)
        finally:
            lock.release()
        assert DisabledList(tmp_path).read() == frozenset()
