"""EventBus and Event: order, re-entrancy, failure isolation, and text-only errors."""

from __future__ import annotations

import logging
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import greet_code

from pluginhost import Event, EventKind, PluginHost
from pluginhost.model.events import EventBus
from pluginhost.testing import WheelFactory


class TestEventBus:
    def test_delivers_in_order(self) -> None:
        """Every subscriber sees every event, in emit order."""
        bus = EventBus()
        a: list[str] = []
        b: list[str] = []
        bus.subscribe(lambda e: a.append(e.plugin or ""))
        bus.subscribe(lambda e: b.append(e.plugin or ""))
        for name in "xyz":
            bus.emit(Event(EventKind.LOADED, name))
        assert a == b == ["x", "y", "z"]

    def test_nested_emit_queued_after_current(self) -> None:
        """An event emitted by a subscriber is delivered after the one being delivered."""
        bus = EventBus()
        seen: list[tuple[str, str]] = []

        def first(event: Event) -> None:
            seen.append(("first", event.plugin or ""))
            if event.plugin == "outer":
                bus.emit(Event(EventKind.LOADED, "inner"))

        bus.subscribe(first)
        bus.subscribe(lambda e: seen.append(("second", e.plugin or "")))
        bus.emit(Event(EventKind.LOADED, "outer"))
        assert seen == [
            ("first", "outer"),
            ("second", "outer"),
            ("first", "inner"),
            ("second", "inner"),
        ]

    def test_unsubscribe(self) -> None:
        """After unsubscribing, a callback gets nothing more."""
        bus = EventBus()
        seen: list[Event] = []
        unsubscribe = bus.subscribe(seen.append)
        bus.emit(Event(EventKind.LOADED, "a"))
        unsubscribe()
        bus.emit(Event(EventKind.LOADED, "b"))
        assert [e.plugin for e in seen] == ["a"]

    def test_raising_subscriber_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        """A subscriber's exception is logged with a traceback; later subscribers still run."""
        bus = EventBus()
        seen: list[Event] = []

        def bad(event: Event) -> None:
            raise KeyError("oops")

        bus.subscribe(bad)
        bus.subscribe(seen.append)
        with caplog.at_level(logging.ERROR, logger="pluginhost"):
            bus.emit(Event(EventKind.LOADED, "a"))
        assert len(seen) == 1
        assert "raised on loaded" in caplog.text
        assert "KeyError" in caplog.text

    @pytest.mark.parametrize("raised", [SystemExit(3), GeneratorExit()], ids=["exit", "genexit"])
    def test_a_subscriber_raising_a_base_exception_is_contained(
        self, caplog: pytest.LogCaptureFixture, raised: BaseException
    ) -> None:
        """A plugin's subscriber raising SystemExit reached the thread applying the change
        (the worker's every later change failed); it is logged like any other, its repr
        guarded too."""
        bus = EventBus()
        seen: list[Event] = []

        class Hostile:
            def __call__(self, event: Event) -> None:
                raise raised

            def __repr__(self) -> str:
                raise SystemExit(4)

        bus.subscribe(Hostile())
        bus.subscribe(seen.append)
        with caplog.at_level(logging.ERROR, logger="pluginhost"):
            bus.emit(Event(EventKind.LOADED, "a"))
            bus.emit(Event(EventKind.LOADED, "b"))
        assert [e.plugin for e in seen] == ["a", "b"]
        assert "<repr() raised SystemExit: 4> raised on loaded" in caplog.text
        assert type(raised).__name__ in caplog.text

    def test_keyboard_interrupt_contained_off_the_main_thread(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Raised by a subscriber on a host's thread, where no Ctrl-C is ever delivered, it is
        the plugin's: logged, and the others still called. On the main thread it goes on."""
        bus = EventBus()
        seen: list[Event] = []

        def interrupting(event: Event) -> None:
            raise KeyboardInterrupt

        bus.subscribe(interrupting)
        bus.subscribe(seen.append)
        with caplog.at_level(logging.ERROR, logger="pluginhost"):
            worker = threading.Thread(target=bus.emit, args=(Event(EventKind.LOADED, "a"),))
            worker.start()
            worker.join(10)
        assert [e.plugin for e in seen] == ["a"]
        assert "raised on loaded" in caplog.text
        with pytest.raises(KeyboardInterrupt):
            bus.emit(Event(EventKind.LOADED, "b"))

    def test_a_subscriber_whose_module_is_unloaded_is_dropped(
        self, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A plugin's subscriber outlived the plugin (a swap or a removal purges its
        modules): it is dropped at the next event, with a warning; others stay."""
        plugin = types.ModuleType("subscribing_plugin")
        exec("SEEN = []\ndef on_event(event):\n    SEEN.append(event.plugin)\n", vars(plugin))
        monkeypatch.setitem(sys.modules, "subscribing_plugin", plugin)
        bus = EventBus()
        seen: list[Event] = []
        bus.subscribe(plugin.on_event)
        bus.subscribe(seen.append)
        bus.emit(Event(EventKind.LOADED, "a"))
        del sys.modules["subscribing_plugin"]  # what an unload does
        with caplog.at_level(logging.WARNING, logger="pluginhost"):
            bus.emit(Event(EventKind.LOADED, "b"))
            bus.emit(Event(EventKind.LOADED, "c"))
        assert plugin.SEEN == ["a"]
        assert [e.plugin for e in seen] == ["a", "b", "c"]
        assert caplog.text.count("its module subscribing_plugin was unloaded") == 1

    def test_events_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        """Each event is logged; failures at WARNING."""
        bus = EventBus()
        with caplog.at_level(logging.INFO, logger="pluginhost"):
            bus.emit(Event(EventKind.LOADED, "a", version="1.0.0"))
            bus.emit(Event(EventKind.LOAD_FAILED, "b", error="bad"))
        levels = [(r.levelno, r.getMessage()) for r in caplog.records]
        assert levels == [
            (logging.INFO, "loaded a 1.0.0"),
            (logging.WARNING, "load_failed b (bad)"),
        ]

    def test_threads_see_one_order(self) -> None:
        """Events emitted from several threads reach all subscribers in one common order."""
        bus = EventBus()
        a: list[str] = []
        b: list[str] = []
        bus.subscribe(lambda e: a.append(e.plugin or ""))
        bus.subscribe(lambda e: b.append(e.plugin or ""))

        def emit_many(prefix: str) -> None:
            for i in range(200):
                bus.emit(Event(EventKind.LOADED, f"{prefix}{i}"))

        threads = [threading.Thread(target=emit_many, args=(p,)) for p in "abcd"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(a) == 800
        assert a == b


class TestEvent:
    def test_failure_keeps_text_only(self) -> None:
        """Event.failure stores the message and type name, not the exception."""
        try:
            raise ValueError("bad value")
        except ValueError as exc:
            event = Event.failure(EventKind.LOAD_FAILED, "p", exc, version="1.0.0")
        assert event.error == "bad value"
        assert event.error_type == "builtins.ValueError"
        assert event.version == "1.0.0"

    def test_failure_of_an_exception_that_runs_code_when_described(self) -> None:
        """An exception whose ``__str__``, ``__module__`` formatting and ``step`` raise is
        described without them: each raised out of Event.failure."""

        class Module(str):
            def __format__(self, spec: str) -> str:
                raise RuntimeError("no format")

            __hash__ = str.__hash__

        class WeirdError(Exception):
            __module__ = Module("plugin")

            def __str__(self) -> str:
                raise SystemExit("no str")

            @property
            def step(self) -> str:
                raise RuntimeError("no step")

        event = Event.failure(EventKind.LOAD_FAILED, "p", WeirdError())
        assert event.error_type.endswith(".WeirdError")
        assert event.error_type.startswith("plugin.")
        assert event.error == "<str() raised SystemExit>"
        assert event.step is None

    def test_describe(self) -> None:
        """describe() is one readable line."""
        event = Event(EventKind.UPDATED, "hello", version="1.1.0", previous_version="1.0.0")
        assert event.describe() == "updated hello 1.0.0 -> 1.1.0"

    def test_describe_names_a_step_other_than_the_kind(self) -> None:
        """The step is told when it adds something: not ``manifest_invalid at
        manifest_invalid``."""
        kind = EventKind.MANIFEST_INVALID
        assert Event(kind, "p", step=str(kind)).describe() == "manifest_invalid p"
        failed = Event(EventKind.LOAD_FAILED, "p", step="health")
        assert failed.describe() == "load_failed p at health"

    def test_describe_reimport(self) -> None:
        """A dependent re-imported at its version names the change, never ``1.0.0 -> 1.0.0``."""
        event = Event(
            EventKind.UPDATED,
            "polite",
            version="1.0.0",
            previous_version="1.0.0",
            reimported_for="hello 1.1.0",
        )
        assert event.describe() == "updated polite 1.0.0 (re-imported for hello 1.1.0)"

    def test_frozen(self) -> None:
        """Events are immutable."""
        event = Event(EventKind.LOADED, "a")
        with pytest.raises(AttributeError):
            event.plugin = "b"  # type: ignore[misc]


class TestPluginSubscribers:
    def test_a_removed_plugins_subscriber_hears_no_more(
        self,
        factory: WheelFactory,
        make_host: Callable[..., PluginHost],
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A plugin that subscribes from its activate and never unsubscribes: once it is
        removed, its subscriber is dropped (it was called for every later event, its code
        kept alive)."""
        heard = tmp_path / "heard.txt"
        code = greet_code("hi") + (
            "\ndef _heard(event):\n"
            f"    with open({str(heard)!r}, 'a') as file:\n"
            "        file.write(event.kind.value + '\\n')\n"
            "\n@hookimpl\ndef pluginhost_activate(host):\n"
            "    host.subscribe(_heard)\n"
        )
        factory.build("hello", code=code)
        host = make_host(settle=0.05)
        assert host.hook.greet(name="x") == ["hi"]
        with caplog.at_level(logging.WARNING, logger="pluginhost"):
            host.remove("hello")
            factory.build("other", code=greet_code("other"))
            assert host.wait_idle(20)
        assert host.hook.greet(name="x") == ["other"]
        assert "discovered" not in heard.read_text().split()  # other's: heard by no one
        assert "its module hello was unloaded" in caplog.text
