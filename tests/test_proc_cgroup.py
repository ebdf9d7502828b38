"""Where workers get a cgroup of their own, and where they fall back to rlimits."""

from __future__ import annotations

from pathlib import Path

from pluginhost.model.limits import ResourceLimits
from pluginhost.proc import cgroup


class TestCgroup:
    def test_availability_is_detected_honestly(self) -> None:
        """available() gives a directory that delegates the memory controller, or a reason."""
        found, reason = cgroup.available()
        if found is None:
            assert reason
        else:
            assert "memory" in (found / "cgroup.subtree_control").read_text().split()

    def test_make_returns_none_or_a_group_with_the_limits(self) -> None:
        """make() gives a cgroup whose memory.max is set, or None where none can be made."""
        path = cgroup.make(ResourceLimits(memory_mb=64))
        if path is None:
            assert cgroup.available()[0] is None
            return
        try:
            assert (path / "memory.max").read_text().strip() == str(64 * 1024 * 1024)
        finally:
            cgroup.remove(path)

    def test_no_memory_or_threads_limit_needs_no_group(self) -> None:
        """Limits without memory or threads make no cgroup."""
        assert cgroup.make(ResourceLimits(open_files=10)) is None

    def test_oom_kill_is_read_from_memory_events(self, tmp_path: Path) -> None:
        """An oom_kill count above zero in memory.events means the kernel killed for memory."""
        (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
        assert cgroup.oom_killed(tmp_path)
        (tmp_path / "memory.events").write_text("oom_kill 0\n")
        assert not cgroup.oom_killed(tmp_path)
        assert not cgroup.oom_killed(tmp_path / "missing")
