"""The text of a plugin's exceptions, in the host and in a worker: always had, always writable."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from conftest import greet_code
from procplugins import Workers, workers

from pluginhost import Event, EventKind, PluginHost, RemotePluginError
from pluginhost.model.exception_text import (
    UNNAMED,
    builtin_type,
    describe_exception,
    escaped,
    exception_text,
    safe_repr,
    type_name,
)
from pluginhost.testing import WheelFactory

__all__ = ["workers"]

MakeHost = Callable[..., PluginHost]

#: What ``os.fsdecode`` makes of a file name that is not UTF-8: a str UTF-8 cannot encode.
SURROGATE = os.fsdecode(b"caf\xe9")


class UnprintableError(Exception):
    """An exception whose ``__str__`` raises what it was given."""

    def __init__(self, raised: BaseException) -> None:
        super().__init__()
        self.raised = raised

    def __str__(self) -> str:
        raise self.raised


class Sly(str):
    """A str whose own ``encode`` and ``__format__`` lie."""

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"lie"

    def __format__(self, spec: str) -> str:
        return "lie"


class SlyError(Exception):
    def __str__(self) -> str:
        return Sly(f"sly {SURROGATE}")


class TestDescribeException:
    def test_plain(self) -> None:
        """Type and text; the type alone when there is no text."""
        assert describe_exception(ValueError("bad")) == "ValueError: bad"
        assert describe_exception(KeyboardInterrupt()) == "KeyboardInterrupt"

    @pytest.mark.parametrize("raised", [RuntimeError("no"), SystemExit(3), KeyboardInterrupt()])
    def test_str_raises(self, raised: BaseException) -> None:
        """An exception whose ``__str__`` raises, whatever it raises (SystemExit too), is
        still described, saying what ``str()`` raised."""
        name = type(raised).__name__
        assert exception_text(UnprintableError(raised)) == f"<str() raised {name}>"
        assert describe_exception(UnprintableError(raised)) == (
            f"UnprintableError: <str() raised {name}>"
        )

    def test_what_utf8_cannot_encode_is_escaped(self) -> None:
        """A lone surrogate in the text comes escaped: the text can be written as UTF-8 (a
        log, the codec to a worker's host)."""
        described = describe_exception(OSError(f"no file {SURROGATE}"))
        assert described == "OSError: no file caf\\udce9"
        described.encode("utf-8")
        assert escaped("plain ü") == "plain ü"

    def test_a_str_subclass_is_not_trusted(self) -> None:
        """A ``__str__`` returning a str subclass cannot put its own ``encode`` or
        ``__format__`` in the text: the text is an exact str."""
        text = exception_text(SlyError())
        assert (type(text), text) == (str, "sly caf\\udce9")
        assert describe_exception(SlyError()) == "SlyError: sly caf\\udce9"


class Module(str):
    """A ``__module__`` that refuses to be compared."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    __hash__ = str.__hash__


class Refusing(type):
    """A metaclass that refuses its classes' names."""

    def __getattribute__(cls, name: str) -> Any:
        if name in ("__name__", "__qualname__", "__module__"):
            raise SystemExit(f"no {name}")
        return type.__getattribute__(cls, name)


class OddModuleError(Exception):
    __module__ = Module("plug")


class NamelessError(Exception, metaclass=Refusing):
    pass


class StrRaisesNamelessError(Exception):
    def __str__(self) -> str:
        raise NamelessError()


class Unrepresentable:
    def __repr__(self) -> str:
        raise SystemExit(3)


class TestHostileClasses:
    """A plugin's class runs its code when named or shown; these never raise, and say what
    the class itself holds, not what its metaclass makes up."""

    def test_type_name(self) -> None:
        """``module.Class``, the class alone for builtins, read past a metaclass."""
        assert type_name(ValueError) == "ValueError"
        assert type_name(OddModuleError) == "plug.OddModuleError"
        assert type_name(NamelessError) == f"{__name__}.NamelessError"

    def test_a_name_that_is_not_a_str_is_left_out(self) -> None:
        """A ``__module__`` that is not a str is left out; an unreadable type is unnamed."""
        odd = type("Odd", (), {"__module__": 5})
        assert type_name(odd) == "Odd"
        assert type_name(5) == UNNAMED  # type: ignore[arg-type]

    def test_builtin_type(self) -> None:
        """A ``__module__`` that reads ``builtins`` is builtin, compared as a plain str: the
        plugin's ``__eq__`` is never asked."""
        assert builtin_type(KeyError)
        assert builtin_type(type("Fake", (), {"__module__": Module("builtins")}))
        assert not builtin_type(OddModuleError)
        assert not builtin_type(NamelessError)

    def test_describe_exception(self) -> None:
        """An exception is described past its class's names and past its ``__str__``'s
        error's class."""
        assert describe_exception(NamelessError("x")) == "NamelessError: x"
        assert describe_exception(OddModuleError("y")) == "OddModuleError: y"
        assert exception_text(StrRaisesNamelessError()) == "<str() raised NamelessError>"

    def test_safe_repr(self) -> None:
        """A ``__repr__`` that raises, whatever it raises, is said; a text is escaped."""
        assert safe_repr(Unrepresentable()) == "<repr() raised SystemExit: 3>"
        assert safe_repr(SURROGATE) == repr(SURROGATE)
        assert safe_repr(type("R", (), {"__repr__": lambda self: SURROGATE})()) == "caf\\udce9"


#: An in-process plugin whose activation raises the error ``RAISE`` stands for.
ACTIVATE = """
import os

class Unprintable(Exception):
    def __str__(self):
        raise SystemExit(7)

@hookimpl
def pluginhost_activate(host):
    RAISE
"""


class TestInTheHost:
    @pytest.mark.parametrize(
        ("raised", "said"),
        [
            ("Unprintable()", "activate failed: Unprintable: <str() raised SystemExit>"),
            (
                "RuntimeError(os.fsdecode(b'caf\\xe9'))",
                "activate failed: RuntimeError: caf\\udce9",
            ),
        ],
    )
    def test_a_failed_activation_is_told_whatever_its_text(
        self,
        factory: WheelFactory,
        make_host: MakeHost,
        events: list[Event],
        raised: str,
        said: str,
    ) -> None:
        """An in-process plugin's activation raising an error whose ``__str__`` raises
        SystemExit fails that plugin alone, saying so (the SystemExit left the host's start),
        and one whose text holds a surrogate is told with it escaped."""
        factory.build("hello", code=greet_code("hi"))
        factory.build(
            "broken", code=greet_code("no") + ACTIVATE.replace("RAISE", f"raise {raised}")
        )
        host = make_host()
        assert host.hook.greet(name="x") == ["hi"]
        failed = next(e for e in events if e.kind is EventKind.LOAD_FAILED)
        assert (failed.plugin, failed.step) == ("broken", "activate")
        assert said in (failed.error or ""), failed.error
        assert said in (host.status("broken").info.error or "")


class TestInTheWorker:
    def test_the_worker_says_the_same(self, workers: Workers) -> None:
        """A process plugin's error reaches the host described as the host describes one."""
        source = """
        class Unprintable(Exception):
            def __str__(self):
                raise SystemExit(7)

        class Plugin:
            @hookimpl
            def fail(self):
                raise Unprintable()

            @hookimpl
            def echo(self, value):
                return value

        plugin = Plugin()
        """
        worker = workers.start(source)
        with pytest.raises(RemotePluginError) as caught:
            worker.call("fail", {})
        assert caught.value.message == exception_text(UnprintableError(SystemExit(7)))
        assert worker.call("echo", {"value": 1}) == 1
