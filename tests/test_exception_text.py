"""The text of a plugin's exceptions, in the host and in a worker: always had, always writable."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from conftest import greet_code
from procplugins import Workers, workers

from pluginhost import Event, EventKind, PluginHost, RemotePluginError
from pluginhost.model.exception_text import describe_exception, escaped, exception_text
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
