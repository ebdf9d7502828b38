"""Quarantined process plugins kept in the home: recorded, found by their very version,
lifted, and a malformed record dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from pluginhost.model.candidate import CandidateKey
from pluginhost.model.names import PluginName
from pluginhost.state.crash_loops import CRASH_LOOPS_FILE, CrashLoops
from pluginhost.state.store import AtomicJsonFile

HOOK = {
    "name": "greet",
    "specname": None,
    "argnames": ["name"],
    "tryfirst": False,
    "trylast": True,
    "optionalhook": False,
    "entry_point": "counter",
}


def key(version: str = "1.0.0", content: str = "ab" * 32) -> CandidateKey:
    return CandidateKey(PluginName("counter"), version, content)


class TestCrashLoops:
    def test_recorded_version_is_found_across_instances(self, tmp_path: Path) -> None:
        """A record written by one host is read by the next, hooks and count included."""
        CrashLoops(tmp_path).record(key(), 3, [HOOK])
        found = CrashLoops(tmp_path).get(key())
        assert found is not None
        assert (found.key, found.crashes, found.hooks) == (key(), 3, (HOOK,))

    def test_another_version_is_not_quarantined(self, tmp_path: Path) -> None:
        """Only the very version recorded is: another version, or the same version from
        other bytes, is not."""
        loops = CrashLoops(tmp_path)
        loops.record(key(), 3, [HOOK])
        assert loops.get(key("1.1.0")) is None
        assert loops.get(key(content="cd" * 32)) is None

    def test_forget_lifts_only_that_version(self, tmp_path: Path) -> None:
        """forget(key) lifts that version's record, not another's; forget_plugin lifts any."""
        loops = CrashLoops(tmp_path)
        loops.record(key(), 3, [HOOK])
        loops.forget(key("1.1.0"))
        assert loops.get(key()) is not None
        loops.forget(key())
        assert loops.get(key()) is None
        loops.record(key(), 3, [HOOK])
        loops.forget_plugin("counter")
        assert loops.get(key()) is None

    @pytest.mark.parametrize(
        "entry",
        [{"crashes": "3"}, {"hooks": [{**HOOK, "argnames": "name"}]}, {"hooks": [{"name": 1}]}],
        ids=["crashes", "argnames", "hook"],
    )
    def test_malformed_record_is_dropped(
        self, tmp_path: Path, entry: dict[str, object], caplog: pytest.LogCaptureFixture
    ) -> None:
        """A record that does not parse is dropped with a warning: the plugin starts."""
        loops = CrashLoops(tmp_path)
        loops.record(key(), 3, [HOOK])
        document = AtomicJsonFile(tmp_path / CRASH_LOOPS_FILE)  # checksummed, but wrong
        data = document.read()
        data["plugins"]["counter"].update(entry)
        document.write(data)
        assert CrashLoops(tmp_path).get(key()) is None
        assert "quarantine record of counter" in caplog.text
