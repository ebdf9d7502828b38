"""Which plugins may load: only, block and disabled (pluginhost.resolve.admission)."""

from __future__ import annotations

from pathlib import Path

from pluginhost.discover.folder import WheelFolderSource
from pluginhost.model.problems import ProblemKind
from pluginhost.resolve.admission import Admission
from pluginhost.testing import WheelFactory


class TestAdmission:
    def test_everything_by_default(self) -> None:
        """No list: every name may load."""
        assert Admission().allows("anything")

    def test_only(self) -> None:
        """An allow-list keeps every other name out, saying which names it allows."""
        admission = Admission(only=["Hello_World"])
        assert admission.allows("hello-world")
        problem = admission.problem("polite", "1.0.0")
        assert problem is not None
        assert problem.kind is ProblemKind.BLOCKED
        assert problem.message == "polite is not in the host's allow-list (only: hello-world)"
        assert problem.version == "1.0.0"

    def test_empty_only_allows_nothing(self) -> None:
        """only=[] is an allow-list of nothing, not no allow-list."""
        problem = Admission(only=[]).problem("hello")
        assert problem is not None
        assert "(only: nothing)" in problem.message

    def test_block(self) -> None:
        """A blocked name is kept out, naming the setting."""
        problem = Admission(block=["Hello"]).problem("hello")
        assert problem is not None
        assert (problem.kind, problem.message) == (
            ProblemKind.BLOCKED,
            "hello is blocked by the host's settings (block)",
        )

    def test_disabled_wins(self) -> None:
        """A disabled name says how to enable it, even when it is also blocked."""
        problem = Admission(block=["hello"], disabled=["hello"]).problem("hello")
        assert problem is not None
        assert problem.kind is ProblemKind.DISABLED
        assert "pluginhost enable hello" in problem.message

    def test_with_disabled(self) -> None:
        """with_disabled replaces the disabled names and keeps the lists."""
        admission = Admission(block=["a"]).with_disabled(["B"])
        assert (admission.block, admission.disabled) == (frozenset({"a"}), frozenset({"b"}))

    def test_screen(self, tmp_path: Path) -> None:
        """screen keeps what may load and names, per plugin, the highest version kept out."""
        factory = WheelFactory(tmp_path)
        for name, version in [("hello", "1.0.0"), ("polite", "1.0.0"), ("polite", "1.2.0")]:
            factory.build(name, version)
        scan = WheelFolderSource(tmp_path).scan("greeter.plugins")
        kept, out = Admission(block=["polite"]).screen(scan.candidates)
        assert [c.name for c in kept] == ["hello"]
        assert list(out) == ["polite"]
        candidate, problem = out["polite"]
        assert (candidate.version_text, problem.version) == ("1.2.0", "1.2.0")
