"""The hostile corpus of the test kit: each broken kind changes the wheel it is asked to break.

Whether validation refuses each kind is tests/test_hostile.py's job; this checks the corpus.
"""

from __future__ import annotations

import pytest

from pluginhost.testkit.hostile import BROKEN_KINDS, break_filename, check_kind
from pluginhost.testkit.wheels import WheelFactory


class TestBrokenKinds:
    def test_unique(self) -> None:
        """No kind is listed twice."""
        assert len(set(BROKEN_KINDS)) == len(BROKEN_KINDS)

    @pytest.mark.parametrize("kind", BROKEN_KINDS)
    def test_each_kind_breaks(self, kind: str, factory: WheelFactory) -> None:
        """Every kind gives other bytes or another file name than the intact wheel."""
        intact = factory.build("hello", filename="intact.whl")
        broken = factory.build("hello", broken=kind)
        assert (broken.name, broken.read_bytes()) != (
            "hello-1.0.0-py3-none-any.whl",
            intact.read_bytes(),
        )

    def test_check_kind(self) -> None:
        """An unknown kind is a ValueError listing the known ones; a known one passes."""
        check_kind("zip-bomb")
        with pytest.raises(ValueError, match="unknown broken kind 'slightly-off'; choose from"):
            check_kind("slightly-off")

    def test_filename(self) -> None:
        """Only ``bad-filename`` changes the file's name; ``None`` keeps it."""
        assert break_filename("a-1.0-py3-none-any.whl", "bad-filename") == "not-a-wheel.whl"
        assert break_filename("a-1.0-py3-none-any.whl", "zip-bomb") == "a-1.0-py3-none-any.whl"
        assert break_filename("a-1.0-py3-none-any.whl", None) == "a-1.0-py3-none-any.whl"
