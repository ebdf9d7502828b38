"""Values that cannot cross to a worker, however they got past the check: a CodecError naming
the plugin and the hook, and a worker that serves on."""

from __future__ import annotations

import os
import sys
import threading
import types
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import pytest
from procplugins import Workers, alive, workers

from pluginhost.model.errors import CodecError, PluginLoadError
from pluginhost.proc import messages
from pluginhost.proc.crossing import unsent
from pluginhost.proc.messages import UnencodableError
from pluginhost.proc.worker import Worker

__all__ = ["workers"]

ECHO = """
class Plugin:
    @hookimpl
    def echo(self, value):
        return value

    @hookimpl
    def pluginhost_import_state(self, state, previous_version):
        pass

plugin = Plugin()
"""


class Flipping(Mapping[str, Any]):
    """Arguments that show a value the codec carries when first read, and a lock after."""

    def __init__(self) -> None:
        self.reads = 0

    def __getitem__(self, key: str) -> Any:
        if key != "value":
            raise KeyError(key)
        self.reads += 1
        return "checked" if self.reads == 1 else threading.Lock()

    def __iter__(self) -> Iterator[str]:
        return iter(["value"])

    def __len__(self) -> int:
        return 1


class Racer:
    """A thread that changes ``value`` (appends a lock to it) right after the check passed it,
    while the caller waits: the caller's thread is stopped where the check of the argument
    returns (a trace function), the racer runs, then the caller goes on to send."""

    def __init__(self, value: list[object]) -> None:
        self.value = value
        self.go = threading.Event()
        self.thread = threading.Thread(target=self._race, name="test-racer")
        self.raced = False

    def _race(self) -> None:
        self.go.wait(10)
        self.value.append(threading.Lock())

    def _trace(self, frame: types.FrameType, event: str, arg: object) -> Any:
        code = frame.f_code
        if self.raced or code is not messages.uncarried.__code__:
            return None
        return self._on_return

    def _on_return(self, frame: types.FrameType, event: str, arg: object) -> Any:
        if event == "return" and arg is None and not self.raced:  # the check passed it
            self.raced = True
            self.go.set()
            self.thread.join(10)
        return None

    def __enter__(self) -> Racer:
        self.thread.start()
        self.previous = sys.gettrace()
        sys.settrace(self._trace)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(self.previous)
        self.go.set()
        self.thread.join(10)


class TestChangedAfterTheCheck:
    def test_what_is_sent_is_what_was_checked(self, workers: Workers) -> None:
        """Arguments read once: a mapping that shows the check one value and then another
        sends the one checked (the second, read for the send, reached the encoder, whose bare
        TypeError reached the caller)."""
        worker = workers.start(ECHO)
        arguments = Flipping()
        assert worker.call("echo", arguments) == "checked"
        assert arguments.reads == 1

    def test_a_value_changed_by_another_thread_is_a_codec_error(self, workers: Workers) -> None:
        """A thread that changes an argument after the check passed it, before the send,
        makes a CodecError naming the plugin, the hook, the place and the type; the call is
        not sent and the worker serves on (the encoder's TypeError reached the caller bare)."""
        worker = workers.start(ECHO)
        value: list[object] = [1]
        with Racer(value) as racer, pytest.raises(CodecError) as caught:
            worker.call("echo", {"value": value})
        assert racer.raced
        error = caught.value
        assert (error.plugin, error.hook) == (worker.spec.plugin, "echo")
        assert (error.argument, error.type_name) == ("value[1]", "_thread.lock")
        assert "changed after it was checked" in str(error)
        assert "the encoder refused it: TypeError: " in str(error)
        assert isinstance(error.__cause__, TypeError)
        assert worker.call("echo", {"value": "still here"}) == "still here"
        assert alive(worker.pid)
        assert workers.exits == []

    def test_a_state_changed_by_another_thread_is_a_codec_error(self, workers: Workers) -> None:
        """The same holds for the state handed to a new version."""
        worker = workers.start(ECHO)
        state: list[object] = ["a"]
        with Racer(state), pytest.raises(CodecError) as caught:
            worker.import_state(state, "1.0.0")
        assert (caught.value.hook, caught.value.argument) == ("pluginhost_import_state", "state[1]")
        assert worker.call("echo", {"value": 1}) == 1


def our_workers() -> set[int]:
    """The pids of this process's children that run a worker, zombies included."""
    found = set()
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                ppid = int(stat.read().rpartition(b")")[2].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except (OSError, ValueError):
            continue
        if ppid == os.getpid() and b"pluginhost.proc.child" in command:
            found.add(int(entry))
    return found


class TestSpec:
    def test_a_spec_the_codec_cannot_carry_is_a_load_error(self, workers: Workers) -> None:
        """A spec holding a string UTF-8 cannot encode (a lone surrogate) fails the start with
        a PluginLoadError naming the plugin and saying why, and leaves no worker behind (it
        was told as the worker's death: 'the worker died while starting')."""
        spec = workers.spec(ECHO)
        bad = attrs.evolve(spec, group=os.fsdecode(b"group\xff"))
        before = our_workers()
        with pytest.raises(PluginLoadError) as caught:
            Worker.start(bad)
        error = caught.value
        assert error.plugin == spec.plugin
        assert "cannot be told what to load" in error.reason
        assert "UnicodeEncodeError" in error.reason
        assert our_workers() <= before


class TestUnsent:
    def test_a_value_changed_back_is_still_told(self) -> None:
        """When the second look finds nothing (the value changed back), the error still
        names the plugin and the hook, and says the place is not known."""
        refused = UnencodableError(TypeError("Encoding objects of type set is unsupported"))
        error = unsent("plug", "echo", {"value": [1]}, refused)
        assert (error.plugin, error.hook, error.argument, error.type_name) == (
            "plug",
            "echo",
            "the arguments",
            "",
        )
        assert str(error) == (
            "plugin 'plug': hook 'echo' was passed an argument, which changed after it was"
            " checked (another thread's doing) and cannot cross to a worker process: the"
            " encoder refused it: TypeError: Encoding objects of type set is unsupported; the"
            " call was not sent"
        )
