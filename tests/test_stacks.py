"""Every thread's current frame, asked for with the cyclic collector off on Python < 3.12."""

from __future__ import annotations

import gc
import sys
import threading
import types
from collections.abc import Iterator

import pytest

from pluginhost.load.stacks import current_frames


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector as the test found it, whatever the test does to it."""
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_every_threads_frame(collector: None) -> None:
    """A started thread and this one, each with the frame it runs."""
    started, stop = threading.Event(), threading.Event()

    def waits() -> None:
        started.set()
        stop.wait(10)

    thread = threading.Thread(target=waits)
    thread.start()
    try:
        assert started.wait(10)
        frames = current_frames()
        assert thread.ident in frames
        here: types.FrameType | None = frames[threading.get_ident()]
        codes = []
        while here is not None:
            codes.append(here.f_code)
            here = here.f_back
        assert codes[:2] == [current_frames.__code__, test_every_threads_frame.__code__]
    finally:
        stop.set()
        thread.join()


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_off_during_the_call_and_as_it_was_after(
    enabled: bool, collector: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Python 3.10 and 3.11 the collector is off while ``sys._current_frames`` runs (a
    collection inside it may deadlock, CPython gh-106883); 3.12 does that itself. After the
    call it is on or off as it was."""
    real = sys._current_frames
    seen: list[bool] = []

    def recording() -> dict[int, types.FrameType]:
        seen.append(gc.isenabled())
        return real()

    monkeypatch.setattr(sys, "_current_frames", recording)
    if enabled:
        gc.enable()
    else:
        gc.disable()
    assert threading.get_ident() in current_frames()
    assert seen == [enabled and sys.version_info >= (3, 12)]
    assert gc.isenabled() is enabled
