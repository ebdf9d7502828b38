"""Each implementation's answer: host.call_each() and the JSON of the control folder
(pluginhost.host.calls)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import greet_code

from pluginhost import CallError, HookAnswer, PluginHost
from pluginhost.cli.commands.call import answer_text
from pluginhost.cli.main import main
from pluginhost.host.calls import MAX_RESULT, answers_json
from pluginhost.host.control import ControlServer, send_request
from pluginhost.testing import WheelFactory

RAISES = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

@hookimpl
def greet(name):
    raise ValueError(f"no {name}")
"""

ODD = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

class Odd:
    def __repr__(self):
        return "<odd>"

@hookimpl
def greet(name):
    return Odd()
"""

# An exception whose class runs the plugin's code when named: a __module__ of its own str type,
# whose formatting and comparison raise.
HOSTILE_TYPE = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

class Module(str):
    def __format__(self, spec):
        raise RuntimeError("no format")
    def __str__(self):
        raise RuntimeError("no str")
    def __eq__(self, other):
        raise RuntimeError("no eq")
    __hash__ = str.__hash__

class Weird(Exception):
    __module__ = Module("hostile")

@hookimpl
def greet(name):
    raise Weird("weird")
"""

# A result whose own iteration raises, as JSON reads it.
SNEAKY = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

class Sneaky(list):
    def __iter__(self):
        raise SystemExit("plugin __iter__ ran in the host")

@hookimpl
def greet(name):
    return Sneaky([1, 2])
"""

WRAPPER = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

@hookimpl(wrapper=True)
def greet(name):
    return (yield)
"""


SHARED = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

@hookimpl
def greet(name):
    value = []
    for _ in range(40):
        value = [value, value]  # 40 small lists; as JSON, or repr, 2**41 of them
    return value
"""

#: Why an answer like SHARED's is not sent.
NOT_SENT = "its result is not sent: it holds more than 1,000,000 values once written out"


def shared(times: int) -> list[Any]:
    """``times`` lists, each holding the one before twice: 2**times of them written out."""
    value: list[Any] = []
    for _ in range(times):
        value = [value, value]
    return value


@pytest.fixture
def host(make_host: Callable[..., PluginHost], factory: WheelFactory) -> PluginHost:
    """hello 1.2.0 answers, broken raises, odd returns what JSON cannot encode, and a wrapper."""
    factory.build("hello", "1.2.0", code=greet_code("hi"))
    factory.build("broken", "0.3.0", code=RAISES)
    factory.build("odd", "1.0.0", code=ODD)
    factory.build("wrap", "1.0.0", code=WRAPPER)
    return make_host()


BASE = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

class Mine(BaseException):
    pass

@hookimpl
def greet(name):
    raise {kind}
"""


class TestCallEach:
    @pytest.mark.parametrize(
        ("kind", "error"), [("GeneratorExit()", "GeneratorExit"), ("Mine('odd')", "Mine: odd")]
    )
    def test_a_base_exception_is_one_plugins_answer(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, kind: str, error: str
    ) -> None:
        """GeneratorExit or a BaseException of the plugin's own is its answer too: the other
        plugins are still asked."""
        factory.build("hello", "1.2.0", code=greet_code("hi"))
        factory.build("base", "1.0.0", code=BASE.format(kind=kind))
        answers = {a.plugin: a for a in make_host().call_each("greet", name="Ada")}
        assert answers["hello"] == HookAnswer("hello", "1.2.0", "hi")
        assert answers["base"].error == error
        assert not answers["base"].ok

    def test_an_exception_type_that_runs_code_when_named_is_one_plugins_answer(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory
    ) -> None:
        """An exception whose class's ``__module__`` formats itself with the plugin's code is
        named without it: the name's f-string let the plugin's RuntimeError out of call_each,
        and no plugin was answered."""
        factory.build("hello", "1.2.0", code=greet_code("hi"))
        factory.build("hostile", "1.0.0", code=HOSTILE_TYPE)
        answers = {a.plugin: a for a in make_host().call_each("greet", name="Ada")}
        assert answers["hello"] == HookAnswer("hello", "1.2.0", "hi")
        assert answers["hostile"].error_type == "hostile.Weird"
        assert answers["hostile"].error == "Weird: weird"

    def test_a_result_whose_own_code_raises_when_read_is_one_plugins_error(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory
    ) -> None:
        """A result whose ``__iter__`` raises (SystemExit even) as JSON reads it is that
        plugin's error in the answers' JSON: it raised out of answers_json, and the control
        folder's call lost every plugin's answer."""
        factory.build("hello", "1.2.0", code=greet_code("hi"))
        factory.build("sneaky", "1.0.0", code=SNEAKY)
        answers = make_host().call_each("greet", name="Ada")
        data = {a["plugin"]: a for a in answers_json(answers)}
        assert data["hello"]["result"] == "hi"
        assert data["sneaky"]["ok"] is False
        assert "SystemExit: plugin __iter__ ran in the host" in data["sneaky"]["error"]
        assert data["sneaky"]["error_type"] == "builtins.SystemExit"
        json.dumps(data)  # plain values throughout

    def test_every_answer_with_plugin_and_version(self, host: PluginHost) -> None:
        """Each implementation answers on its own, in pluggy's order; an exception is one
        plugin's answer; the wrapper gives none."""
        answers = {a.plugin: a for a in host.call_each("greet", name="Ada")}
        assert set(answers) == {"hello", "broken", "odd"}
        assert answers["hello"] == HookAnswer("hello", "1.2.0", "hi")
        assert answers["broken"].error == "ValueError: no Ada"
        assert answers["broken"].error_type == "builtins.ValueError"
        assert not answers["broken"].ok
        assert repr(answers["odd"].result) == "<odd>"
        order = [a.plugin for a in host.call_each("greet", name="Ada")]
        assert order == [impl.plugin_name for impl in reversed(host.hook.greet.get_hookimpls())
                         if not impl.wrapper]  # fmt: skip

    def test_read_only_and_lock_free(self, host: PluginHost) -> None:
        """The call takes no host lock: it answers while another thread holds it."""
        held, done = threading.Event(), threading.Event()

        def hold() -> None:
            with host._lock:
                held.set()
                done.wait(10)

        thread = threading.Thread(target=hold)
        thread.start()
        try:
            held.wait(10)
            assert len(host.call_each("greet", name="x")) == 3
        finally:
            done.set()
            thread.join()

    @pytest.mark.parametrize(
        ("hook", "kwargs", "message"),
        [
            ("gret", {}, "the host has no hook named 'gret' (its hooks: farewell, greet)"),
            ("pluginhost_health", {}, "pluginhost_health is a lifecycle hook"),
            ("greet", {}, "greet takes name (missing: name)"),
            ("greet", {"name": 1, "age": 2}, "greet takes name (not taken: age)"),
            ("not a name", {}, "the host has no hook named 'not a name'"),
        ],
    )
    def test_refusals(
        self, host: PluginHost, hook: str, kwargs: dict[str, object], message: str
    ) -> None:
        """A hook the host cannot call so is a CallError naming the hook."""
        with pytest.raises(CallError, match=re.escape(message)) as info:
            host.call_each(hook, **kwargs)
        assert info.value.hook == hook


class TestAnswersJson:
    def test_json_repr_and_error(self) -> None:
        """JSON results travel as they are; others as repr and type; errors as text."""
        data = answers_json(
            [
                HookAnswer("a", "1.0.0", {"n": [1, 2]}),
                HookAnswer("b", "1.0.0", {1, 2}),
                HookAnswer("c", "1.0.0", error="ValueError: no", error_type="builtins.ValueError"),
                HookAnswer("d", "1.0.0", float("nan")),
            ]
        )
        json.dumps(data, allow_nan=False)
        assert (data[0]["result"], data[0]["repr"]) == ({"n": [1, 2]}, None)
        assert (data[1]["result"], data[1]["repr"], data[1]["type"]) == (None, "{1, 2}", "set")
        assert (data[2]["ok"], data[2]["error"]) == (False, "ValueError: no")
        assert (data[3]["repr"], data[3]["type"]) == ("nan", "float")

    def test_bounded(self) -> None:
        """A result too large for the control folder is sent as a repr cut short."""
        (data,) = answers_json([HookAnswer("a", "1", "x" * (MAX_RESULT * 2))])
        assert data["result"] is None
        assert len(data["repr"]) < MAX_RESULT + 100
        assert data["repr"].endswith(f"({MAX_RESULT * 2 + 2} characters)")

    def test_repr_that_raises(self) -> None:
        """An object whose repr raises is still an answer."""

        class Bad:
            def __repr__(self) -> str:
                raise RuntimeError("nope")

        (data,) = answers_json([HookAnswer("a", "1", Bad())])
        assert data["repr"] == "<repr() raised RuntimeError: nope>"

    @pytest.mark.parametrize("times", [24, 40])
    def test_too_large_even_for_repr(self, times: int) -> None:
        """A result that JSON and repr would write out past a million values is that answer's
        error, found in a blink; the other answers still come."""
        started = time.monotonic()
        dag, fine = answers_json([HookAnswer("a", "1", shared(times)), HookAnswer("b", "1", "x")])
        assert time.monotonic() - started < 2
        assert dag == {
            "plugin": "a",
            "version": "1",
            "ok": False,
            "result": None,
            "repr": None,
            "type": None,
            "error": NOT_SENT,
            "error_type": None,
        }
        assert (fine["ok"], fine["result"]) == (True, "x")

    def test_too_many_characters_even_for_repr(self) -> None:
        """A result of few values but a repr past 32 MiB is an error too, its repr not made."""
        (data,) = answers_json([HookAnswer("a", "1", ["x" * 1_000_000] * 40)])
        assert not data["ok"]
        assert data["error"] == (
            "its result is not sent: it takes more than 33,554,432 characters once written out"
        )

    def test_cycles_and_shared_parts_in_bounds_as_before(self) -> None:
        """A result that contains itself is shown by its repr, and one sharing its parts within
        the bounds is sent as JSON, as before."""
        loop: list[Any] = []
        loop.append(loop)
        cyclic, small = answers_json([HookAnswer("a", "1", loop), HookAnswer("b", "1", shared(5))])
        assert (cyclic["result"], cyclic["repr"], cyclic["type"]) == (None, "[[...]]", "list")
        assert small["result"] == shared(5)
        assert len(json.dumps(small["result"])) < MAX_RESULT


class TestRemoteCall:
    def test_answer_too_large_over_the_control_folder(
        self,
        make_host: Callable[..., PluginHost],
        factory: WheelFactory,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """pluginhost call of a hook one plugin answers with 2**41 lists once written out: the
        call is answered within seconds, that answer an error, the other one sent; the control
        folder goes on serving."""
        factory.build("dag", "1.0.0", code=SHARED)
        factory.build("hello", "1.2.0", code=greet_code("hi"))
        host = make_host()
        server = ControlServer(host, interval=0.02)
        server.start()
        try:
            started = time.monotonic()
            result = send_request(
                host.home, "call", "greet", timeout=10, hook="greet", kwargs={"name": "x"}
            )
            assert time.monotonic() - started < 5
            assert result["ok"], result
            answers = {a["plugin"]: a for a in result["answers"]}
            assert (answers["dag"]["ok"], answers["dag"]["error"]) == (False, NOT_SENT)
            assert answer_text(answers["dag"]) == NOT_SENT
            assert answers["hello"]["result"] == "hi"
            refused = send_request(host.home, "remove", "ghost", timeout=10)
            assert refused["error"] == "plugin 'ghost' is not active"
            # As the command says it: that plugin's line, and exit 3 as for one that raised.
            assert main(["call", "greet", "name=x", "--home", str(host.home)]) == 3
            assert f"dag 1.0.0: {NOT_SENT}\n" in capsys.readouterr().out
        finally:
            server.stop()
