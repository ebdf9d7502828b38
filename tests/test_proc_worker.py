"""Worker processes as the host holds them: calls, errors, crashes, deadlines, state."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from procplugins import Workers, alive, wait_gone, workers

from pluginhost.model.errors import (
    CallError,
    CodecError,
    PluginCrashedError,
    PluginLoadError,
    PluginTimeoutError,
    RemotePluginError,
)
from pluginhost.model.limits import ResourceLimits
from pluginhost.proc import cgroup, launcher
from pluginhost.proc.worker import Worker

__all__ = ["workers"]

GREET = """
import os, ctypes

class MyError(Exception):
    pass

class Plugin:
    @hookimpl(tryfirst=True)
    def greet(self, name):
        return f"hello {name}"

    @hookimpl(specname="greet")
    def greet_loudly(self, name):
        return name.upper()

    @hookimpl
    def fail(self, kind):
        if kind == "value":
            raise ValueError("no such value")
        if kind == "key":
            raise KeyError("k")
        raise MyError("custom trouble")

    @hookimpl
    def die(self, how):
        if how == "segfault":
            ctypes.string_at(0)
        os._exit(9)

    @hookimpl
    def leave(self):
        raise SystemExit(2)

    @hookimpl
    def quit(self, code):
        os._exit(code)

    @hookimpl
    def give(self, what):
        if what == "itself":
            looped = []
            looped.append(looped)
            return looped
        return object() if what == "object" else {"nested": [1, {2}]}

    @hookimpl
    def echo(self, value):
        return value

plugin = Plugin()
"""


def fork_a_sleeper(pidfile: Path) -> str:
    """Plugin code (needing ``os``) that forks a child sleeping 60 s, which keeps the worker's
    socket open, and writes its pid to ``pidfile``."""
    return (
        "if (child := os.fork()) == 0:\n    __import__('time').sleep(60)\n    os._exit(0)\n"
        f"open({str(pidfile)!r}, 'w').write(str(child))"
    )


@contextlib.contextmanager
def killing(pidfile: Path) -> Iterator[None]:
    """Kill the process whose pid ``pidfile`` holds (once written) on leaving."""
    try:
        yield
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError):  # gone with the worker's group
                os.kill(int(pidfile.read_text()), signal.SIGKILL)


class TestStart:
    def test_describes_each_hook_implementation(self, workers: Workers) -> None:
        """The worker reports each implementation with its name, specname, argnames, options."""
        worker = workers.start(GREET)
        hooks = {h.name: h for h in worker.hooks}
        assert hooks["greet"].tryfirst
        assert hooks["greet"].argnames == ("name",)
        assert hooks["greet_loudly"].specname == "greet"
        assert hooks["greet_loudly"].hook == "greet"
        assert {h.entry_point for h in worker.hooks} == {"main"}
        assert alive(worker.pid)

    def test_started_from_a_thread_that_ends_the_worker_lives_on(self, workers: Workers) -> None:
        """A worker started from a short-lived thread outlives that thread (the parent-death
        signal follows the launcher thread, not the caller's)."""
        started: list[Worker] = []
        thread = threading.Thread(target=lambda: started.append(workers.start(GREET)))
        thread.start()
        thread.join()
        workers.started.extend(started)
        time.sleep(0.3)
        assert started[0].call("echo", {"value": 1}) == 1

    def test_import_error_is_a_load_error_with_the_remote_traceback(self, workers: Workers) -> None:
        """An error at import is a PluginLoadError carrying the worker's traceback text."""
        with pytest.raises(PluginLoadError) as caught:
            workers.start("import no_such_module_here\nplugin = None\n")
        assert "No module named 'no_such_module_here'" in caught.value.reason
        assert "import no_such_module_here" in caught.value.remote_traceback

    @pytest.mark.parametrize("crash", ["ctypes.string_at(0)", "os._exit(3)"])
    def test_crash_at_import_is_a_crashed_error(self, workers: Workers, crash: str) -> None:
        """A segfault or os._exit while importing the plugin is a PluginCrashedError."""
        with pytest.raises(PluginCrashedError, match="died while starting"):
            workers.start(f"import ctypes, os\n{crash}\nplugin = None\n")

    def test_crash_at_import_is_seen_with_a_forked_child_keeping_the_socket(
        self, workers: Workers, tmp_path: Path
    ) -> None:
        """A worker dying at import while a process it forked lives on (holding its socket
        open) fails the start at once, as a crash, not at the start timeout."""
        pidfile = tmp_path / "child.pid"
        source = f"import os\n{fork_a_sleeper(pidfile)}\nos._exit(3)\n"
        began = time.monotonic()
        with killing(pidfile), pytest.raises(PluginCrashedError, match="died while starting"):
            Worker.start(workers.spec(source), start_timeout=30)
        assert time.monotonic() - began < 5

    def test_a_plugin_that_hangs_at_import_is_killed_at_the_start_timeout(
        self, workers: Workers
    ) -> None:
        """A worker still importing at start_timeout is killed, and the error says so."""
        spec = workers.spec("import time\ntime.sleep(60)\nplugin = None\n")
        began = time.monotonic()
        with pytest.raises(PluginCrashedError, match=r"did not load the plugin within 1\.0 s"):
            Worker.start(spec, start_timeout=1.0)
        assert time.monotonic() - began < 5

    @pytest.mark.parametrize("failure", ["boot", "import", "crash", "timeout"])
    def test_a_failed_start_leaves_no_cgroup(
        self, workers: Workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
    ) -> None:
        """The cgroup made for a worker is removed however its start fails: no interpreter,
        an import error, a crash at import, the start timeout. (This machine's cgroups may not
        be delegated: the cgroup is a folder here, made and removed through proc.cgroup.)"""
        made: list[Path] = []
        removed: list[Path] = []

        def make(limits: ResourceLimits) -> Path:
            made.append(tmp_path / f"group{len(made)}")
            made[-1].mkdir()
            return made[-1]

        monkeypatch.setattr(cgroup, "make", make)
        monkeypatch.setattr(cgroup, "remove", removed.append)
        if failure == "boot":
            monkeypatch.setattr(launcher, "argv", lambda: [str(tmp_path / "no-python")])
        source = {
            "boot": "plugin = None\n",
            "import": "import no_such_module_here\nplugin = None\n",
            "crash": "import os\nos._exit(3)\n",
            "timeout": "import time\ntime.sleep(60)\nplugin = None\n",
        }[failure]
        spec = workers.spec(source, limits=ResourceLimits(memory_mb=500))
        with pytest.raises((PluginCrashedError, PluginLoadError)):
            Worker.start(spec, start_timeout=2)
        assert made
        assert removed == made

    def test_hook_wrappers_are_refused(self, workers: Workers) -> None:
        """A plugin that declares a hook wrapper is refused at load, with that reason."""
        source = """
        class Plugin:
            @hookimpl(wrapper=True)
            def greet(self, name):
                return (yield)

        plugin = Plugin()
        """
        with pytest.raises(PluginLoadError, match="hook wrappers cannot cross"):
            workers.start(source)


class TestCall:
    def test_call_returns_the_result(self, workers: Workers) -> None:
        """A call runs the plugin's implementation in the worker and returns its result."""
        worker = workers.start(GREET)
        assert worker.call("greet", {"name": "ann"}) == "hello ann"

    def test_values_cross_as_msgpack_values(self, workers: Workers) -> None:
        """Nested lists, dicts, bytes, floats and big ints cross; tuples come back as lists."""
        worker = workers.start(GREET)
        value = {"a": [1, 2.5, None, True, b"\x00", {"b": (2**63, -(2**63))}]}
        expected = {"a": [1, 2.5, None, True, b"\x00", {"b": [2**63, -(2**63)]}]}
        assert worker.call("echo", {"value": value}) == expected

    def test_several_threads_call_at_once(self, workers: Workers) -> None:
        """Calls from several threads at once each get their own result."""
        worker = workers.start(GREET)
        results: dict[int, list[object]] = {n: [] for n in range(8)}

        def run(n: int) -> None:
            for i in range(50):
                results[n].append(worker.call("echo", {"value": [n, i]}))

        threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == {n: [[n, i] for i in range(50)] for n in range(8)}

    def test_unknown_hook_is_a_call_error(self, workers: Workers) -> None:
        """A hook the plugin does not implement is a CallError, and the worker keeps serving."""
        worker = workers.start(GREET)
        with pytest.raises(CallError, match="no hook 'nope'"):
            worker.call("nope", {})
        with pytest.raises(CallError, match="needs the argument 'name'"):
            worker.call("greet", {})
        assert worker.call("echo", {"value": 2}) == 2


class TestErrors:
    def test_builtin_error_is_caught_as_that_builtin(self, workers: Workers) -> None:
        """A ValueError raised in the worker is caught by ``except ValueError`` in the host."""
        worker = workers.start(GREET)
        with pytest.raises(ValueError, match="no such value") as caught:
            worker.call("fail", {"kind": "value"})
        assert isinstance(caught.value, RemotePluginError)
        assert caught.value.type_name == "ValueError"
        assert 'raise ValueError("no such value")' in caught.value.remote_traceback
        with pytest.raises(KeyError):
            worker.call("fail", {"kind": "key"})

    def test_custom_error_is_a_remote_plugin_error(self, workers: Workers) -> None:
        """A plugin's own exception type comes back as RemotePluginError with its name,
        message and traceback text."""
        worker = workers.start(GREET)
        with pytest.raises(RemotePluginError) as caught:
            worker.call("fail", {"kind": "mine"})
        error = caught.value
        assert type(error) is RemotePluginError
        assert (error.type_name, error.message) == ("plug.MyError", "custom trouble")
        assert 'raise MyError("custom trouble")' in error.remote_traceback
        assert error.hook == "fail"

    def test_system_exit_in_a_hook_is_an_error_not_an_exit(self, workers: Workers) -> None:
        """SystemExit raised by a hook comes back as a RemotePluginError; the worker serves on."""
        worker = workers.start(GREET)
        with pytest.raises(RemotePluginError) as caught:
            worker.call("leave", {})
        assert caught.value.type_name == "SystemExit"
        assert not isinstance(caught.value, SystemExit)
        assert worker.call("echo", {"value": 1}) == 1

    def test_unencodable_argument_names_hook_argument_and_type(self, workers: Workers) -> None:
        """An argument the codec cannot carry is a CodecError naming the hook, the argument
        (and the place inside it) and the type, before anything is sent."""
        worker = workers.start(GREET)
        with pytest.raises(CodecError) as caught:
            worker.call("echo", {"value": {"a": [1, threading.Lock()]}})
        assert caught.value.hook == "echo"
        assert caught.value.argument == "value['a'][1]"
        assert caught.value.type_name == "_thread.lock"
        # What can cross, as the message says it (tuples were left out, though they cross).
        assert "(None, bool, int of 64 bits, float, str, bytes, and lists, tuples and" in str(
            caught.value
        )
        with pytest.raises(CodecError, match="key 3"):
            worker.call("echo", {"value": {3: "int key"}})
        with pytest.raises(CodecError, match=r"int \(past 64 bits\)"):
            worker.call("echo", {"value": 2**64})
        with pytest.raises(CodecError, match=r"collections\.OrderedDict"):
            worker.call("echo", {"value": collections.OrderedDict(a=1)})
        carried = [None, True, -(2**63), 2**64 - 1, 1.5, "s", b"b", (1, [2]), {"k": (3,)}]
        assert worker.call("echo", {"value": carried}) == [
            None, True, -(2**63), 2**64 - 1, 1.5, "s", b"b", [1, [2]], {"k": [3]}
        ]  # fmt: skip

    def test_unencodable_result_names_hook_and_type(self, workers: Workers) -> None:
        """A result the codec cannot carry is a CodecError naming the hook and the type, and
        the worker keeps serving."""
        worker = workers.start(GREET)
        with pytest.raises(CodecError) as caught:
            worker.call("give", {"what": "object"})
        assert (caught.value.hook, caught.value.argument) == ("give", "result")
        assert caught.value.type_name == "object"
        with pytest.raises(CodecError, match=r"result\['nested'\]\[1\] of type set"):
            worker.call("give", {"what": "set"})
        assert worker.call("echo", {"value": "still here"}) == "still here"

    def test_a_value_holding_itself_is_a_codec_error(self, workers: Workers) -> None:
        """An argument or a result that holds itself (or nests past the recursion limit)
        cannot cross: a CodecError, where a RecursionError reached the caller; the worker
        keeps serving."""
        worker = workers.start(GREET)
        looped: list[object] = []
        looped.append(looped)
        with pytest.raises(CodecError, match="list nested too deeply or holding itself"):
            worker.call("echo", {"value": looped})
        with pytest.raises(CodecError, match="list nested too deeply or holding itself"):
            worker.call("give", {"what": "itself"})
        assert worker.call("echo", {"value": "still here"}) == "still here"

    def test_a_result_that_inflates_is_refused_before_it_is_decoded(self, workers: Workers) -> None:
        """A result small on the wire and huge in memory (``[[]] * N``: N bytes sent, 64N in
        Python) is a CodecError saying so, where the host decoded it (5 MB sent grew the host
        by 354 MB); a large result that is not inflated still crosses, and the worker keeps
        serving."""
        worker = workers.start(
            """
            class Plugin:
                @hookimpl
                def many(self, count, empty):
                    return [[] if empty else b"x" * 1000] * count
            plugin = Plugin()
            """
        )
        with pytest.raises(CodecError, match="too large to take in the host") as caught:
            worker.call("many", {"count": 5_000_000, "empty": True})
        assert (caught.value.hook, caught.value.argument) == ("many", "result")
        assert "5,000,0" in str(caught.value)
        assert "past the limit of 268,435,456" in str(caught.value)
        assert len(worker.call("many", {"count": 5_000, "empty": False})) == 5_000  # 5 MB
        assert worker.call("many", {"count": 3, "empty": True}) == [[], [], []]

    def test_a_raw_reply_of_values_the_encoder_never_sends_is_a_codec_error(
        self, workers: Workers
    ) -> None:
        """A worker writing its own reply on its socket (an extension value, a timestamp, an
        int key: the caller got an ``Ext``, a ``datetime``, ``{1: ...}``) fails the call with
        a CodecError naming the plugin, the hook, the place and the type; it serves on."""
        worker = workers.start(
            """
            import datetime, os, socket, stat, struct, msgspec
            class Plugin:
                @hookimpl
                def forge(self, ident, what):
                    value = {
                        "ext": [msgspec.msgpack.Ext(7, b"evil")],
                        "timestamp": {"at": datetime.datetime.now(datetime.timezone.utc)},
                        "key": [1, {1: "int key"}],
                    }[what]
                    payload = msgspec.msgpack.encode(["result", ident, value])
                    for fd in range(3, 256):
                        try:
                            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                                os.write(fd, struct.pack(">I", len(payload)) + payload)
                        except OSError:
                            pass
                    return "the reply its encoder sends, to a call answered already"

                @hookimpl
                def echo(self, value):
                    return value
            plugin = Plugin()
            """
        )
        said = [
            ("ext", "result[0]", "msgspec.msgpack.Ext"),
            ("timestamp", "result['at']", "datetime.datetime"),
            ("key", "result[1] key 1", "int"),
        ]
        # Ids count from 1, one a call, each ``echo`` taking one too.
        for ident, (what, place, kind) in enumerate(said, start=1):
            with pytest.raises(CodecError) as caught:
                worker.call("forge", {"ident": 2 * ident - 1, "what": what})
            error = caught.value
            assert (error.plugin, error.hook, error.argument, error.type_name) == (
                worker.spec.plugin, "forge", place, kind
            )  # fmt: skip
            assert f"returned {place} of type {kind}" in str(error)
            assert worker.call("echo", {"value": {"still": ["here"]}}) == {"still": ["here"]}
        assert workers.exits == []


class TestCrash:
    @pytest.mark.parametrize(
        ("how", "returncode", "sig"), [("segfault", None, 11), ("exit", 9, None)]
    )
    def test_crash_in_a_call(
        self, workers: Workers, how: str, returncode: int | None, sig: int | None
    ) -> None:
        """A segfault or os._exit in a call is a PluginCrashedError, and on_exit is called
        once with how the worker ended."""
        worker = workers.start(GREET)
        with pytest.raises(PluginCrashedError):
            worker.call("die", {"how": how})
        assert wait_gone(worker.pid, 5)
        deadline = time.monotonic() + 5
        while not workers.exits and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [(w, i.returncode, i.signal) for w, i in workers.exits] == [
            (worker, returncode, sig)
        ]
        assert worker.exit_info is workers.exits[0][1]
        with pytest.raises(PluginCrashedError):
            worker.call("echo", {"value": 1})

    def test_every_crash_is_told_at_once(self, workers: Workers) -> None:
        """A worker exiting in a call fails that call at once, every time: the thread waiting
        for the worker's exit and the caller reading its socket race, and neither waits out
        the other (before the fix, about one crash in five took 2 s)."""
        took = []
        for _ in range(40):
            worker = workers.start(GREET)
            began = time.monotonic()
            with pytest.raises(PluginCrashedError):
                worker.call("die", {"how": "exit"})
            took.append(time.monotonic() - began)
        assert max(took) < 1.0, sorted(took)[-3:]

    @pytest.mark.parametrize("code", [3, 4])
    def test_plugin_exit_code_is_the_plugins(self, workers: Workers, code: int) -> None:
        """Once the worker serves, an exit code the worker uses while starting (3: refused the
        handshake, 4: a limit hit) is the plugin's own os._exit: said as such, no limit named."""
        worker = workers.start(GREET)
        with pytest.raises(PluginCrashedError):
            worker.call("quit", {"code": code})
        assert wait_gone(worker.pid, 5)
        deadline = time.monotonic() + 5
        while worker.exit_info is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.exit_info is not None
        assert (worker.exit_info.reason, worker.exit_info.limit) == (
            f"exited with code {code}",
            None,
        )

    @pytest.mark.parametrize(
        ("frame", "said"),
        [
            ("struct.pack('>I', 2**31) + b'x' * 16", "a message of 2,147,483,648 bytes, past the"),
            ("struct.pack('>I', 3) + b'\\xc1\\xc1\\xc1'", "a message that does not decode"),
        ],
    )
    def test_a_worker_that_breaks_its_channel_is_told_why(
        self, workers: Workers, frame: str, said: str
    ) -> None:
        """A worker writing a frame past its bound, or one that does not decode, straight to
        its socket is ended, and its end says what it sent, not only the signal."""
        plugin = f"""
import socket, stat, os, struct

class Plugin:
    @hookimpl
    def greet(self, name):
        for fd in range(3, 256):
            try:
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    os.write(fd, {frame})
            except OSError:
                pass
        import time
        time.sleep(60)

plugin = Plugin()
"""
        worker = workers.start(plugin, limits=ResourceLimits(memory_mb=200))
        with pytest.raises(PluginCrashedError) as caught:
            worker.call("greet", {"name": "x"})
        assert said in caught.value.reason, caught.value.reason
        assert wait_gone(worker.pid, 10)
        assert worker.exit_info is not None
        assert said in worker.exit_info.reason

    def test_calls_in_flight_fail_at_once_when_the_worker_is_killed(self, workers: Workers) -> None:
        """Callers waiting on a worker that is killed get PluginCrashedError at once, without
        waiting for any deadline."""
        worker = workers.start(
            "import time\nclass P:\n    @hookimpl\n    def wait(self):\n"
            "        time.sleep(60)\nplugin = P()\n"
        )
        errors: list[BaseException] = []

        def call() -> None:
            try:
                worker.call("wait", {})
            except PluginCrashedError as e:
                errors.append(e)

        threads = [threading.Thread(target=call) for _ in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        began = time.monotonic()
        subprocess.run(["kill", "-9", str(worker.pid)], check=True)
        for thread in threads:
            thread.join(10)
        assert len(errors) == 3
        assert time.monotonic() - began < 3
        assert "SIGKILL" in str(errors[0])

    def test_calls_in_flight_fail_at_once_when_a_forked_child_keeps_the_socket(
        self, workers: Workers, tmp_path: Path
    ) -> None:
        """A worker that dies while a process it forked lives on (holding its end of the
        socket open, so no EOF comes): every caller, the one reading the socket included,
        gets PluginCrashedError at once."""
        pidfile = tmp_path / "child.pid"
        fork = textwrap.indent(fork_a_sleeper(pidfile), " " * 8)
        worker = workers.start(
            "import os, time\nclass P:\n    @hookimpl\n    def wait(self):\n"
            "        time.sleep(60)\n    @hookimpl\n    def die(self):\n"
            f"{fork}\n        time.sleep(0.3)\n        os._exit(3)\nplugin = P()\n"
        )
        took: dict[str, float] = {}

        def call(hook: str) -> None:
            began = time.monotonic()
            with pytest.raises(PluginCrashedError):
                worker.call(hook, {})
            took[f"{hook}{len(took)}"] = time.monotonic() - began

        threads = [threading.Thread(target=call, args=(hook,)) for hook in ("die", "wait", "wait")]
        with killing(pidfile):
            for thread in threads:
                thread.start()
                time.sleep(0.05)
            for thread in threads:
                thread.join(90)
        assert len(took) == 3
        assert max(took.values()) < 1.5, took

    @pytest.mark.parametrize("crash", [True, False])
    def test_what_the_plugin_started_goes_with_its_worker(
        self, workers: Workers, tmp_path: Path, crash: bool
    ) -> None:
        """A program the plugin started (which its parent's end leaves running otherwise) is
        killed with the worker's process group, whether the worker crashed or was stopped."""
        pidfile = tmp_path / "sleeper.pid"
        worker = workers.start(
            "import os, subprocess\nclass P:\n    @hookimpl\n    def start(self, crash):\n"
            "        sleeper = subprocess.Popen(['sleep', '60'])\n"
            f"        open({str(pidfile)!r}, 'w').write(str(sleeper.pid))\n"
            "        if crash:\n            os._exit(3)\nplugin = P()\n"
        )
        with killing(pidfile):
            if crash:
                with pytest.raises(PluginCrashedError):
                    worker.call("start", {"crash": True})
            else:
                worker.call("start", {"crash": False})
                worker.stop(grace=1.0)
            assert wait_gone(int(pidfile.read_text()), 5)

    def test_crash_in_activation(self, workers: Workers) -> None:
        """A segfault in the plugin's activation hook is a PluginCrashedError."""
        source = """
        import ctypes
        class Plugin:
            @hookimpl
            def pluginhost_activate(self, host):
                ctypes.string_at(0)
        plugin = Plugin()
        """
        worker = workers.start(source)
        with pytest.raises(PluginCrashedError, match="SIGSEGV"):
            worker.call("pluginhost_activate", {"host": None})


class TestDeadline:
    def test_spin_past_the_timeout_is_a_timeout_and_kills_the_worker(
        self, workers: Workers
    ) -> None:
        """A call that spins past call_timeout_s raises PluginTimeoutError at the deadline,
        and the hung worker is killed."""
        source = (
            "class P:\n    @hookimpl\n    def spin(self):\n        while True:\n"
            "            pass\nplugin = P()\n"
        )
        worker = workers.start(source, limits=ResourceLimits(call_timeout_s=0.5))
        began = time.monotonic()
        with pytest.raises(PluginTimeoutError) as caught:
            worker.call("spin", {})
        assert time.monotonic() - began < 0.5 + 1.0
        assert caught.value.timeout == 0.5
        assert wait_gone(worker.pid, 5)
        info = worker.stop()
        assert (info.signal, info.limit) == (signal.SIGKILL, "call_timeout_s")

    def test_a_waiting_callers_deadline_holds_while_another_thread_reads(
        self, workers: Workers
    ) -> None:
        """A caller whose deadline passes while another caller reads the socket gets
        PluginTimeoutError in time; the worker is killed and the other caller told."""
        source = (
            "import time\nclass P:\n    @hookimpl\n    def nap(self, s):\n"
            "        time.sleep(s)\nplugin = P()\n"
        )
        worker = workers.start(source)
        errors: list[BaseException] = []

        def long_call() -> None:
            try:
                worker.call("nap", {"s": 30})
            except PluginCrashedError as e:
                errors.append(e)

        reader = threading.Thread(target=long_call)
        reader.start()
        time.sleep(0.3)
        began = time.monotonic()
        with pytest.raises(PluginTimeoutError):
            worker.call("nap", {"s": 0}, timeout=0.5)
        assert time.monotonic() - began < 0.5 + 1.0
        reader.join(10)
        assert len(errors) == 1

    def test_a_ping_past_its_deadline_leaves_the_channel_whole(self, workers: Workers) -> None:
        """A ping that times out behind a long call kills nothing, and the next call works."""
        source = (
            "import time\nclass P:\n    @hookimpl\n    def nap(self, s):\n"
            "        time.sleep(s)\n        return s\nplugin = P()\n"
        )
        worker = workers.start(source)
        thread = threading.Thread(target=worker.call, args=("nap", {"s": 1.0}))
        thread.start()
        time.sleep(0.2)
        with pytest.raises(PluginCrashedError, match="did not answer a ping"):
            worker.ping(timeout=0.2)
        thread.join(10)
        assert worker.call("nap", {"s": 0}) == 0
        assert worker.alive


class TestState:
    def test_export_and_import_state(self, workers: Workers) -> None:
        """State goes out through pluginhost_export_state and in through
        pluginhost_import_state, with the previous version."""
        source = """
        class Plugin:
            seen = None
            @hookimpl
            def pluginhost_export_state(self):
                return {"count": 3}
            @hookimpl
            def pluginhost_import_state(self, state, previous_version):
                Plugin.seen = [state, previous_version]
            @hookimpl
            def seen_state(self):
                return Plugin.seen
        plugin = Plugin()
        """
        old, new = workers.start(source), workers.start(source)
        new.import_state(old.export_state(), "1.0")
        assert new.call("seen_state", {}) == [{"count": 3}, "1.0"]

    def test_no_state_hook_exports_none(self, workers: Workers) -> None:
        """A plugin without pluginhost_export_state exports None, and importing is a no-op."""
        worker = workers.start(GREET)
        assert worker.export_state() is None
        worker.import_state({"x": 1}, None)
        worker.ping()


class TestStop:
    def test_stop_closes_the_channel_and_the_worker_exits(self, workers: Workers) -> None:
        """stop() ends the worker through its channel: exit code 0, on_exit called once."""
        worker = workers.start(GREET)
        info = worker.stop()
        assert (info.returncode, info.signal, info.limit) == (0, None, None)
        assert not alive(worker.pid)
        assert len(workers.exits) == 1

    @pytest.mark.parametrize("busy", [False, True], ids=["idle", "in-a-call"])
    def test_killed_parent_leaves_no_worker(self, tmp_path: Path, busy: bool) -> None:
        """kill -9 of a process that started a worker leaves no worker behind: an idle worker
        reads EOF, one busy in a long call (not reading) gets the parent-death signal."""
        (tmp_path / "plug.py").write_text(
            "import time, pluggy\nclass P:\n    @pluggy.HookimplMarker('demo')\n"
            "    def wait(self):\n        time.sleep(60)\nplugin = P()\n",
            "utf-8",
        )
        script = textwrap.dedent(f"""
            import sys, threading, time
            from pluginhost.proc.worker import Worker, WorkerSpec
            spec = WorkerSpec("p", "demo", "g", (("main", "plug:plugin"),), ({str(tmp_path)!r},))
            worker = Worker.start(spec)
            if {busy!r}:
                threading.Thread(target=worker.call, args=("wait", {{}}), daemon=True).start()
                time.sleep(0.3)
            print(worker.pid, flush=True)
            time.sleep(60)
        """)
        parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert alive(pid)
        parent.kill()
        parent.wait()
        parent.stdout.close()
        assert wait_gone(pid, 5)
