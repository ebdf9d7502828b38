"""Process plugins in transitions: loaded into a worker, swapped, rolled back, unloaded."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pluggy
import pytest
from conftest import greet_code, wait_for
from processhost import build, counter, kinds, process_manifest
from procplugins import alive

from hookspecs import greeter
from pluginhost import (
    ActivationError,
    CodecError,
    Event,
    EventKind,
    HostSnapshot,
    PluginCrashedError,
    PluginHost,
    PluginState,
    RemotePluginError,
    ResourceLimits,
)
from pluginhost.cli.commands.status import plugin_status, status_lines
from pluginhost.model.candidate import Candidate, InstalledOrigin, WheelOrigin
from pluginhost.model.manifest import Manifest
from pluginhost.swap.process import Processes
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]


class TestLoad:
    def test_called_through_host_hook(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A plugin.toml asking for a worker: its hooks answer host.hook from another process,
        and none of its modules is imported into the host."""
        build(factory, "counter", code=counter())
        host = make_host()
        (answer,) = host.hook.greet(name="Ada")
        assert answer.startswith("hi Ada #1 from ")
        pid = int(answer.rpartition(" ")[2])
        assert pid != os.getpid()
        assert "counter" not in sys.modules
        info = host.plugins["counter"]
        assert (info.isolation, info.pid, info.restarts) == ("process", pid, 0)

    def test_a_hook_named_as_the_proxy_link_fails_that_plugin_only(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """A process plugin implementing a hook named ``_pluginhost_link`` replaced the host's
        link to its worker: the start raised AssertionError, the other plugins never loaded
        and the stop raised too. It fails its own register step now."""
        code = (
            greet_code("hi") + "\n@hookimpl(optionalhook=True)\ndef _pluginhost_link():\n    pass\n"
        )
        build(factory, "clobber", code=code)
        factory.build("hello", code=greet_code("hello"))
        host = make_host()
        assert host.hook.greet(name="x") == ["hello"]
        failed = next(e for e in events if e.kind is EventKind.LOAD_FAILED)
        assert (failed.plugin, failed.step) == ("clobber", "register")
        assert "_pluginhost_link" in (failed.error or "")
        host.stop()

    def test_worker_writes_nothing_open_to_others(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """Under a umask of 0, what the worker writes in the home (its imports' bytecode) is
        private like the rest: it wrote __pycache__ 0o777."""
        build(factory, "counter", code=counter())
        before = os.umask(0)
        try:
            host = make_host()
            assert host.hook.greet(name="Ada")
        finally:
            os.umask(before)
        site = host.plugins["counter"].site_dir
        assert site is not None
        opened = [
            (oct(os.lstat(p).st_mode), str(p))
            for p in [site, *site.rglob("*")]
            if os.lstat(p).st_mode & 0o077
        ]
        assert opened == []

    def test_a_home_whose_path_is_not_utf8(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event], tmp_path: Path
    ) -> None:
        """A home whose path holds a byte that is not UTF-8 (``os.fsdecode`` makes a lone
        surrogate of it) serves process plugins, and again after a restart: the handshake
        carries paths as bytes. The worker's start failed as a crash (quarantined after
        three)."""
        home = Path(os.fsdecode(os.fsencode(tmp_path) + b"/home\xff"))
        build(factory, "counter", code=counter())
        for _ in range(2):
            host = make_host(home=home)
            (answer,) = host.hook.greet(name="Ada")
            assert answer.startswith("hi Ada #1 from ")
            assert host.plugins["counter"].pid == int(answer.rpartition(" ")[2])
            host.stop()
        assert kinds(events, "counter").count(EventKind.LOADED) == 2
        assert EventKind.LOAD_FAILED not in kinds(events, "counter")

    def test_beside_in_process_plugins(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """Process and in-process plugins answer the same hook, each in its own place."""
        build(factory, "counter", code=counter())
        factory.build("hello", code=greet_code("Hello"))
        host = make_host()
        answers = sorted(host.hook.greet(name="Ada"))
        assert answers[0] == "Hello"
        assert answers[1].startswith("hi Ada #1")
        assert host.plugins["hello"].isolation == "in-process"
        assert host.plugins["hello"].pid is None

    def test_host_forces_isolation(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """isolation="process" runs a plugin whose manifest says nothing in a worker."""
        factory.build("plain", code=counter("plain"))
        host = make_host(isolation="process")
        assert host.hook.greet(name="x")[0].startswith("plain x #1")
        assert host.plugins["plain"].isolation == "process"
        assert "plain" not in sys.modules

    def test_manifest_lowers_the_host_limits(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """The limits in force: the host's ceilings, lowered by the manifest, never raised."""
        build(factory, "counter", code=counter(), resources="open_files = 512\nthreads = 64")
        host = make_host(resources=ResourceLimits(open_files=256, threads=100, memory_mb=2048))
        limits = host.plugins["counter"].limits
        assert limits == ResourceLimits(open_files=256, threads=64, memory_mb=2048)

    def test_no_module_clash_between_process_plugins(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """Two process plugins with one top-level module name both serve (no clash rule)."""
        build(factory, "one", code=counter("one"))
        factory.build(
            "two",
            code=counter("two"),
            module="one",
            manifest='[plugin]\nname = "two"\nisolation = "process"\n',
        )
        host = make_host()
        answers = sorted(a.split(" #")[0] for a in host.hook.greet(name="x"))
        assert answers == ["one x", "two x"]

    def test_hook_wrapper_refused(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """A process plugin declaring a hook wrapper is refused at load, with that reason."""
        wrapper = "@hookimpl(wrapper=True)\ndef farewell(name):\n    return (yield)\n"
        build(factory, "wrapped", code=counter(more=wrapper))
        host = make_host()
        info = host.plugins["wrapped"]
        assert info.state is PluginState.FAILED
        assert "wrapper" in str(info.error)
        assert host.hook.greet(name="x") == []

    @pytest.mark.parametrize(
        ("code", "step"),
        [
            ("import os\nos._exit(7)\n", "import"),
            ("import ctypes\nctypes.string_at(0)\n", "import"),
            (counter(more="@hookimpl\ndef pluginhost_activate(host):\n    os._exit(5)\n"), None),
            (
                counter(
                    more="@hookimpl\ndef pluginhost_activate(host):\n    ctypes.string_at(0)\n"
                ),
                None,
            ),
        ],
        ids=["exit-at-import", "segfault-at-import", "exit-at-activate", "segfault-at-activate"],
    )
    def test_crash_while_loading(
        self,
        factory: WheelFactory,
        make_host: MakeHost,
        events: list[Event],
        code: str,
        step: str | None,
    ) -> None:
        """A worker dying at import or activation fails the load; the host serves on."""
        factory.build("hello", code=greet_code("Hello"))
        build(factory, "doomed", code=code)
        host = make_host()
        assert host.plugins["doomed"].state is PluginState.FAILED
        assert host.hook.greet(name="x") == ["Hello"]
        failed = [e for e in events if e.kind is EventKind.LOAD_FAILED]
        assert [e.plugin for e in failed] == ["doomed"]
        if step is not None:
            assert failed[0].step == step

    def test_application_manager(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """An adopted plugin manager registers the proxies through its own hook parsing."""
        pm = pluggy.PluginManager(greeter.PROJECT)
        pm.add_hookspecs(greeter.GreeterSpec)
        build(factory, "counter", code=counter())
        host = make_host(manager=pm)
        assert pm.hook.greet(name="x")[0].startswith("hi x #1")
        assert host.plugins["counter"].isolation == "process"

    def test_status_for_people_and_scripts(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """status.json, HostSnapshot and pluginhost status show the worker and its limits."""
        build(factory, "counter", code=counter(), resources="open_files = 64")
        host = make_host()
        pid = host.plugins["counter"].pid
        entry = plugin_status(HostSnapshot.read(host.home), "counter")
        assert (entry["isolation"], entry["pid"], entry["restarts"]) == ("process", pid, 0)
        assert entry["limits"]["open_files"] == 64
        lines = status_lines(entry)
        assert "  isolation    process" in lines
        assert f"  worker       pid {pid}, 0 restart(s)" in lines
        assert "  limits       open_files=64" in lines


class TestSwap:
    def test_hot_swap_under_four_threads(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """A new version of a process plugin swaps in while 4 threads call: its state is
        carried, the old worker is stopped, and no call fails."""
        build(factory, "counter", code=counter("v1"))
        host = make_host()
        old_pid = host.plugins["counter"].pid
        assert old_pid is not None
        stop = threading.Event()
        answers: list[str] = []
        failures: list[BaseException] = []

        def call() -> None:
            while not stop.is_set():
                try:
                    answers.extend(host.hook.greet(name="t"))
                except BaseException as exc:
                    failures.append(exc)

        threads = [threading.Thread(target=call) for _ in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: len(answers) > 50)
        build(factory, "counter", "1.1.0", code=counter("v2"))
        wait_for(lambda: host.plugins["counter"].version == "1.1.0")
        wait_for(lambda: any(a.startswith("v2") for a in answers[-10:]))
        stop.set()
        for t in threads:
            t.join()
        assert failures == []
        # The count goes on from the state exported before the switch (calls the old worker
        # served between that export and the switch are not in it, as in process).
        first_v2 = min(int(a.split("#")[1].split()[0]) for a in answers if a.startswith("v2"))
        assert first_v2 > 50
        wait_for(lambda: not alive(old_pid))
        wait_for(lambda: EventKind.UPDATED in kinds(events, "counter"))

    def test_several_entry_points(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """A process plugin of two entry points: each one's state goes across a swap and a
        restart after a crash."""
        extra = (
            "class Extra:\n"
            "    count = 0\n"
            "    @staticmethod\n    @hookimpl\n    def farewell(name):\n"
            "        Extra.count += 1\n        return f'bye #{Extra.count}'\n"
            "    @staticmethod\n    @hookimpl\n    def pluginhost_export_state():\n"
            "        return Extra.count\n"
            "    @staticmethod\n    @hookimpl\n"
            "    def pluginhost_import_state(state, previous_version):\n"
            "        Extra.count = state or 0\n"
        )
        for version, prefix in (("1.0.0", "v1"), ("1.1.0", "v2")):
            factory.build(
                "counter",
                version,
                code=counter(prefix, more=extra),
                more_entry_points={"extra": "counter:Extra"},
                manifest=process_manifest("counter", version),
            )
            if version == "1.0.0":
                host = make_host(state_interval=0.05)
                host.hook.greet(name="a")
                assert host.hook.farewell(name="a") == "bye #1"
        wait_for(lambda: host.plugins["counter"].version == "1.1.0")
        assert host.hook.greet(name="b")[0].startswith("v2 b #2")
        assert host.hook.farewell(name="b") == "bye #2"
        time.sleep(0.3)  # exported meanwhile
        with pytest.raises(PluginCrashedError):
            host.hook.greet(name="exit")
        wait_for(lambda: host.plugins["counter"].restarts == 1)
        assert host.hook.greet(name="c")[0].startswith("v2 c #3")
        assert host.hook.farewell(name="c") == "bye #3"

    def test_failed_swap_keeps_the_old_worker(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A new version whose health check fails is undone: the old worker serves on, and the
        new one is stopped."""
        build(factory, "counter", code=counter("v1"))
        host = make_host()
        pid = host.plugins["counter"].pid
        sick = "@hookimpl\ndef pluginhost_health():\n    return os.getpid() < 0\n"
        build(factory, "counter", "1.1.0", code=counter("v2", more=sick))
        host.wait_idle()
        assert host.plugins["counter"].version == "1.0.0"
        assert host.plugins["counter"].pid == pid
        assert host.hook.greet(name="x")[0].startswith("v1 x #1")
        assert _workers_of(host) == {pid}

    @pytest.mark.parametrize(
        ("hooks", "arguments", "said"),
        [
            (40, 10_000, "its worker described its hooks in 2,"),
            (2, 300, "takes 300 arguments, more than 256"),
        ],
        ids=["past-the-bytes", "past-the-arguments"],
    )
    def test_a_description_past_the_caps_is_refused_at_once(
        self,
        factory: WheelFactory,
        make_host: MakeHost,
        events: list[Event],
        hooks: int,
        arguments: int,
        said: str,
    ) -> None:
        """A new version whose worker describes hooks of thousands of arguments is refused at
        register, naming the plugin and the cap, in well under a second of the host's time
        (40 of 10,000 arguments each were decoded and compiled under its lock); the version
        serving serves on, and a normal new version loads after it."""
        build(factory, "counter", code=counter("v1"))
        host = make_host()
        pid = host.plugins["counter"].pid
        wide = (
            "import types\n"
            f"exec('def _wide(' + ', '.join(f'a{{i}}' for i in range({arguments})) + '): pass')\n"
            f"for _n in range({hooks}):\n"
            "    _f = types.FunctionType(_wide.__code__, globals(), f'wide_{_n}')\n"
            "    globals()[f'wide_{_n}'] = hookimpl(optionalhook=True)(_f)\n"
        )
        began = time.process_time()
        build(factory, "counter", "1.1.0", code=counter("v2", more=wide))
        host.wait_idle()
        assert time.process_time() - began < 0.5
        failed = next(e for e in events if e.kind is EventKind.LOAD_FAILED)
        assert (failed.plugin, failed.version, failed.step) == ("counter", "1.1.0", "register")
        assert said in (failed.error or ""), failed.error
        assert (host.plugins["counter"].version, host.plugins["counter"].pid) == ("1.0.0", pid)
        assert host.hook.greet(name="x")[0].startswith("v1 x #1")
        assert _workers_of(host) == {pid}
        build(factory, "counter", "1.2.0", code=counter("v3"))
        host.wait_idle()
        assert host.hook.greet(name="x")[0].startswith("v3 x #2")

    def test_rollback(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """host.rollback() goes back to the earlier version in a new worker, with the state."""
        build(factory, "counter", code=counter("v1"))
        host = make_host()
        host.hook.greet(name="a")
        build(factory, "counter", "1.1.0", code=counter("v2"))
        wait_for(lambda: host.plugins["counter"].version == "1.1.0")
        host.hook.greet(name="b")
        info = host.rollback("counter")
        assert (info.version, info.state) == ("1.0.0", PluginState.ROLLED_BACK)
        assert host.hook.greet(name="c")[0].startswith("v1 c #3")

    def test_unload_and_stop_leave_no_worker(
        self, factory: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """A removed plugin's worker is stopped, and so is every worker at host.stop()."""
        before = _child_workers()
        build(factory, "one", code=counter("one"))
        build(factory, "two", code=counter("two"))
        host = make_host()
        pids = _workers_of(host)
        assert len(pids) == 2
        # Beside them, one worker booted ahead for the next start (swap/process.py).
        wait_for(lambda: len(_child_workers() - before) == 3)
        (wheels / "one-1.0.0-py3-none-any.whl").unlink()
        wait_for(lambda: "one" not in host.plugins)
        assert len(_workers_of(host)) == 1
        wait_for(lambda: sum(alive(p) for p in pids) == 1)
        host.stop()
        wait_for(lambda: not any(alive(p) for p in pids))
        wait_for(lambda: not _child_workers() - before)


class TestIsolation:
    def candidate(self, isolation: str, origin: WheelOrigin | InstalledOrigin) -> Candidate:
        manifest = Manifest.default(name="p", dist_version="1.0")
        if isolation == "process":
            manifest = Manifest(manifest.name, manifest.version, isolation="process")
        return Candidate(manifest=manifest, origin=origin, distribution="p", entry_points=())

    @pytest.mark.parametrize(
        ("host", "manifest", "installed", "expected"),
        [
            ("manifest", "in-process", False, False),
            ("manifest", "process", False, True),
            ("manifest", "process", True, True),
            ("process", "in-process", False, True),
            ("process", "in-process", True, False),
        ],
    )
    def test_who_runs_in_a_worker(
        self, host: str, manifest: str, installed: bool, expected: bool
    ) -> None:
        """The manifest asks; the host forces it on wheels, not on installed distributions."""
        origin: WheelOrigin | InstalledOrigin = (
            InstalledOrigin("p", "/site-packages") if installed else WheelOrigin(Path("p.whl"), "0")
        )
        processes = Processes(isolation=host)  # type: ignore[arg-type]
        assert processes.isolated(self.candidate(manifest, origin)) is expected


#: A plugin whose values and errors run its own code when described: a result key whose
#: ``__repr__`` raises, an exception whose ``__module__`` is a str whose ``__eq__`` raises, and
#: one whose metaclass refuses its names and whose ``__class__`` raises (``isinstance``).
HOSTILE = """
import os, pluggy
hookimpl = pluggy.HookimplMarker("greeter")

class Key:
    def __hash__(self):
        return 1
    def __repr__(self):
        raise RuntimeError("no repr")

class Module(str):
    def __eq__(self, other):
        raise RuntimeError("no eq")
    __hash__ = str.__hash__

class Weird(Exception):
    __module__ = Module("hostile")

class Meta(type):
    def __getattribute__(cls, name):
        if name in ("__name__", "__qualname__", "__module__"):
            raise RuntimeError("no " + name)
        return type.__getattribute__(cls, name)

class Nameless(Exception, metaclass=Meta):
    @property
    def __class__(self):
        raise RuntimeError("no class")

@hookimpl
def greet(name):
    if name == "key":
        return {"fine": [{Key(): 1}]}
    if name == "module":
        raise Weird("weird")
    if name == "nameless":
        raise Nameless("nameless")
    return f"hi {name} from {os.getpid()}"
"""


class Unrepresentable:
    """An argument's dict key whose ``__repr__`` raises."""

    def __hash__(self) -> int:
        return 1

    def __repr__(self) -> str:
        raise RuntimeError("no repr here")


class TestHostileValues:
    """Describing what a plugin returned or raised runs its code; the worker used to die of
    it (a crash, the third a quarantine). It is the call's error now, and the worker serves on."""

    @pytest.fixture
    def host(self, factory: WheelFactory, make_host: MakeHost) -> PluginHost:
        build(factory, "hostile", code=HOSTILE)
        return make_host()

    def serves_on(self, host: PluginHost, events: list[Event], pid: int | None) -> None:
        assert host.hook.greet(name="Ada") == [f"hi Ada from {pid}"]
        info = host.plugins["hostile"]
        assert (info.pid, info.restarts, info.quarantined) == (pid, 0, False)
        assert EventKind.CRASHED not in kinds(events, "hostile")

    def test_a_result_key_whose_repr_raises(self, host: PluginHost, events: list[Event]) -> None:
        """A result dict with a key that is not a str and whose ``__repr__`` raises is a
        CodecError naming the hook, the place (the repr's failure told) and the key's type."""
        pid = host.plugins["hostile"].pid
        for _ in range(4):  # past restart_limit: the third crash quarantined it
            with pytest.raises(CodecError) as caught:
                host.hook.greet(name="key")
            error = caught.value
            assert (error.hook, error.type_name) == ("greet", "hostile.Key")
            assert error.argument == "result['fine'][0] key <repr() raised RuntimeError: no repr>"
        self.serves_on(host, events, pid)

    @pytest.mark.parametrize(
        ("name", "type_name", "message"),
        [("module", "hostile.Weird", "weird"), ("nameless", "hostile.Nameless", "nameless")],
    )
    def test_an_exception_whose_class_raises(
        self, host: PluginHost, events: list[Event], name: str, type_name: str, message: str
    ) -> None:
        """An exception whose class runs the plugin's code when named (``__module__``'s
        ``__eq__``, a metaclass's ``__getattribute__``, ``__class__``) reaches the caller as a
        RemotePluginError with the class's own name."""
        pid = host.plugins["hostile"].pid
        for _ in range(4):
            with pytest.raises(RemotePluginError) as caught:
                host.hook.greet(name=name)
            assert (caught.value.type_name, caught.value.message) == (type_name, message)
        self.serves_on(host, events, pid)

    def test_an_argument_key_whose_repr_raises(self, host: PluginHost, events: list[Event]) -> None:
        """The host's check of the arguments names such a key too: a CodecError, where the
        key's own RuntimeError reached the caller; the call is not sent."""
        pid = host.plugins["hostile"].pid
        with pytest.raises(CodecError) as caught:
            host.hook.greet(name={Unrepresentable(): 1})
        error = caught.value
        assert (error.hook, error.type_name) == ("greet", f"{__name__}.Unrepresentable")
        assert error.argument == "name key <repr() raised RuntimeError: no repr here>"
        self.serves_on(host, events, pid)


def _child_workers() -> set[int]:
    """The pids of this process's children that run a worker (serving or booted ahead)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rpartition(")")[2].split()
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except OSError:
            continue  # gone meanwhile
        if fields[0] != "Z" and int(fields[1]) == os.getpid() and b"proc.child" in command:
            found.add(int(entry))
    return found


def _workers_of(host: PluginHost) -> set[int]:
    """The pids of the host's live workers."""
    return {link.pid for link in host._engine.processes.live() if link.pid is not None}


def test_activation_error_is_public() -> None:
    """A failed worker start is an ActivationError (PluginLoadError) like a failed import."""
    from pluginhost import PluginLoadError

    assert issubclass(PluginLoadError, ActivationError)
