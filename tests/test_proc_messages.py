"""The messages between host and worker, and what can cross."""

from __future__ import annotations

import os
import pickle

import msgspec
import pytest
from procplugins import Workers, workers

from pluginhost.model.errors import CodecError
from pluginhost.proc.messages import (
    HEADER,
    Call,
    Result,
    UnencodableError,
    decoder,
    encoded,
    encoder,
    frame,
    uncarried,
)

__all__ = ["workers"]

LOOPED: list[object] = []
LOOPED.append(LOOPED)  # it raised RecursionError out of uncarried


class TestCodec:
    def test_a_call_round_trips(self) -> None:
        """A call encodes and decodes to an equal message."""
        call = Call(7, "hook", "greet", None, {"name": "ann", "n": [1, 2.0]})
        assert decoder().decode(encoder().encode(call)) == call

    def test_a_frame_is_the_length_then_the_payload(self) -> None:
        """A frame starts with the payload's length, big-endian."""
        payload = encoder().encode(Result(1, None))
        assert frame(payload) == HEADER.pack(len(payload)) + payload

    def test_pickle_is_not_a_message(self) -> None:
        """A pickled value is refused by the decoder: nothing is ever unpickled."""
        with pytest.raises(msgspec.DecodeError):
            decoder().decode(pickle.dumps(Result(1, 2)))

    @pytest.mark.parametrize(
        ("value", "raised"),
        [
            (object(), TypeError),
            (os.fsdecode(b"caf\xe9"), UnicodeEncodeError),
            (2**64, OverflowError),
            (LOOPED, RecursionError),
        ],
    )
    def test_what_the_encoder_refuses_is_one_error(
        self, value: object, raised: type[Exception]
    ) -> None:
        """Whatever the encoder raises for a value comes as an UnencodableError holding it, so
        that each side can turn it into a failure of the call alone."""
        with pytest.raises(UnencodableError) as caught:
            encoded(encoder().encode, Result(1, value))
        assert isinstance(caught.value.error, raised)
        assert caught.value.__cause__ is caught.value.error
        assert str(caught.value).startswith(f"the encoder refused it: {raised.__name__}")


class TestUncarried:
    @pytest.mark.parametrize(
        "value", [None, True, 1, -(2**63), 2**64 - 1, 1.5, "s", b"b", [1, (2, 3)], {"a": {"b": []}}]
    )
    def test_plain_values_cross(self, value: object) -> None:
        """None, booleans, 64-bit ints, floats, strings, bytes, lists, tuples and dicts cross."""
        assert uncarried(value, "x") is None

    @pytest.mark.parametrize(
        "value", ["caf\u00e9", "\u65e5\u672c", "\U0001f600", {"\u00e9": ["\u00fc"]}]
    )
    def test_any_text_utf8_encodes_crosses(self, value: object) -> None:
        """Strings (values and keys) of any width cross, as long as UTF-8 encodes them."""
        assert uncarried(value, "x") is None

    @pytest.mark.parametrize(
        ("value", "found"),
        [
            (object(), ("x", "object")),
            ([1, {2}], ("x[1]", "set")),
            ({"a": {1: 2}}, ("x['a'] key 1", "int")),
            (2**64, ("x", "int (past 64 bits)")),
            (pytest, ("x", "module")),
            (LOOPED, ("x", "list nested too deeply or holding itself")),
            ("caf\udce9", ("x", "str (not UTF-8: surrogate '\\udce9' at index 3)")),
            (
                {"k\udcff": 1},
                ("x key 'k\\udcff'", "str (not UTF-8: surrogate '\\udcff' at index 1)"),
            ),
            (
                ["\u00e9", {"a": "\ud83d\ude00"}],
                ("x[1]['a']", "str (not UTF-8: surrogate '\\ud83d' at index 0)"),
            ),
        ],
    )
    def test_the_first_part_that_cannot_cross_is_named(
        self, value: object, found: tuple[str, str]
    ) -> None:
        """The place and the type of the first part that cannot cross are named."""
        assert uncarried(value, "x") == found


class Unrepresentable:
    """A key whose ``__repr__`` raises, and whose class hides its names behind a metaclass."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class Refusing(type):
    def __getattribute__(cls, name: str) -> object:
        if name in ("__name__", "__qualname__", "__module__"):
            raise RuntimeError(f"no {name}")
        return type.__getattribute__(cls, name)


class Hidden(metaclass=Refusing):
    pass


class TestHostileParts:
    """Naming a part that cannot cross runs no code of its own: a key's ``__repr__`` that
    raised, or a metaclass's, left uncarried (and ended a worker)."""

    def test_a_key_whose_repr_raises_is_named(self) -> None:
        """The place says the key's repr raised; the type is the key's class."""
        found = uncarried({"a": [{Unrepresentable(): 1}]}, "x")
        assert found == (
            "x['a'][0] key <repr() raised RuntimeError: no repr>",
            f"{__name__}.Unrepresentable",
        )

    def test_a_class_whose_metaclass_refuses_its_names(self) -> None:
        """A value or a key of such a class is named by the class's own names."""
        name = f"{__name__}.Hidden"
        assert uncarried([Hidden()], "x") == ("x[0]", name)
        assert uncarried({Hidden: 1}, "x")[1] == f"{__name__}.Refusing"  # type: ignore[index]


class TestSurrogates:
    """A string holding a surrogate (``os.fsdecode`` of a name that is not UTF-8) cannot be
    encoded: it is refused like any value that cannot cross, in either direction."""

    SOURCE = """
    import os
    class Plugin:
        @hookimpl
        def give(self, what):
            name = os.fsdecode(b"caf\\xe9")
            return {"value": name, "key": {name: 1}, "deep": [1, {"a": name}]}[what]

        @hookimpl
        def echo(self, value):
            return value
    plugin = Plugin()
    """

    def test_an_argument_is_a_codec_error(self, workers: Workers) -> None:
        """The host passing one gets a CodecError naming the plugin, the hook, the place and
        the surrogate, not a bare UnicodeEncodeError; the worker serves on."""
        worker = workers.start(self.SOURCE)
        with pytest.raises(CodecError) as caught:
            worker.call("echo", {"value": ["ok", {"n": os.fsdecode(b"caf\xe9")}]})
        error = caught.value
        assert (error.plugin, error.hook, error.argument) == (
            worker.spec.plugin,
            "echo",
            "value[1]['n']",
        )
        assert error.type_name == "str (not UTF-8: surrogate '\\udce9' at index 3)"
        with pytest.raises(CodecError, match=r"value key 'caf\\udce9'"):
            worker.call("echo", {"value": {os.fsdecode(b"caf\xe9"): 1}})
        assert worker.call("echo", {"value": "caf\u00e9"}) == "caf\u00e9"

    @pytest.mark.parametrize(
        ("what", "place"),
        [("value", "result"), ("key", "result key 'caf\\udce9'"), ("deep", "result[1]['a']")],
    )
    def test_a_result_is_a_codec_error(self, workers: Workers, what: str, place: str) -> None:
        """A hook returning one (or a dict keyed by one) is a CodecError naming the place, and
        the worker serves on (it exited, and the host quarantined the plugin after three)."""
        worker = workers.start(self.SOURCE)
        with pytest.raises(CodecError) as caught:
            worker.call("give", {"what": what})
        assert (caught.value.hook, caught.value.argument) == ("give", place)
        assert "surrogate '\\udce9'" in caught.value.type_name
        assert worker.call("echo", {"value": "still here"}) == "still here"
        assert workers.exits == []
