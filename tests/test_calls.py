"""Each implementation's answer: host.call_each() and the JSON of the control folder
(pluginhost.host.calls)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable

import pytest
from conftest import greet_code

from pluginhost import CallError, HookAnswer, PluginHost
from pluginhost.host.calls import MAX_RESULT, answers_json
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

WRAPPER = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

@hookimpl(wrapper=True)
def greet(name):
    return (yield)
"""


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
