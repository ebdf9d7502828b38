"""Events: what happened to which plugin, delivered in order to subscribers and to ``logging``."""

from __future__ import annotations

import enum
import logging
import sys
import threading
import time
import types
from collections import deque
from collections.abc import Callable

import attrs

from .errors import PluginHostError
from .exception_text import exact_str, exception_text, module_name, qualified_name, safe_repr
from .frozen import frozen
from .names import display_name

__all__ = ["Event", "EventBus", "EventKind"]

logger = logging.getLogger("pluginhost")
# Each event as a log line, on a logger of its own: a program that shows the events itself
# (``pluginhost run``) turns these off and keeps the other warnings.
event_logger = logging.getLogger("pluginhost.events")


class EventKind(str, enum.Enum):
    """The kinds of event a host emits."""

    DISCOVERED = "discovered"
    MANIFEST_INVALID = "manifest_invalid"
    REFUSED = "refused"
    LOADING = "loading"
    LOADED = "loaded"
    LOAD_FAILED = "load_failed"
    UNLOADING = "unloading"
    UNLOADED = "unloaded"
    UNLOAD_FAILED = "unload_failed"
    UPDATED = "updated"
    REMOVED = "removed"
    ROLLED_BACK = "rolled_back"
    DRAIN_TIMEOUT = "drain_timeout"
    LEAKED = "leaked"
    """A retired version's modules outlived a full garbage collection: something holds them."""
    FOLDER_POLLED = "folder_polled"
    """A watched folder is polled: the system's inotify instances or watches ran out."""
    DISABLED = "disabled"
    """``host.disable(name)``: kept out (and unloaded) until ``host.enable(name)``."""
    ENABLED = "enabled"
    """``host.enable(name)``: may load again."""
    UNKNOWN_HOOKS = "unknown_hooks"
    """A loaded plugin implements hooks that no spec of the host knows (``error`` names them)."""
    CRASHED = "crashed"
    """A process plugin's worker died (``error``: its exit code or signal, and the limit hit)."""
    RESTARTED = "restarted"
    """A process plugin's worker was started again after a crash, with its last saved state."""
    QUARANTINED = "quarantined"
    """A process plugin crashed too often: no more restarts until an operator brings it back."""
    INDEX_UNAVAILABLE = "index_unavailable"
    """A followed package index cannot be read (told once per outage; ``origin`` is its URL)."""
    INDEX_AVAILABLE = "index_available"
    """A followed package index that could not be read answers again."""
    PROJECT_UNAVAILABLE = "project_unavailable"
    """A project on a followed index cannot be read, while the index answers (told once per
    outage; ``plugin`` is the project, ``origin`` its page's URL)."""
    PROJECT_AVAILABLE = "project_available"
    """A project whose page could not be read is read again."""

    def __str__(self) -> str:
        return self.value


_FAILURES = frozenset(
    {
        EventKind.MANIFEST_INVALID,
        EventKind.REFUSED,
        EventKind.LOAD_FAILED,
        EventKind.UNLOAD_FAILED,
        EventKind.DRAIN_TIMEOUT,
        EventKind.LEAKED,
        EventKind.UNKNOWN_HOOKS,
        EventKind.CRASHED,
        EventKind.QUARANTINED,
        EventKind.INDEX_UNAVAILABLE,
        EventKind.PROJECT_UNAVAILABLE,
    }
)


@frozen
class Event:
    """Something that happened to one plugin.

    Errors travel as text (``error``, ``error_type``), never as live exceptions: a kept traceback
    would pin the frames, and so the modules, of a plugin that has been unloaded.

    :param kind: what happened.
    :param plugin: the plugin concerned.
    :param distribution: its distribution, when known: :meth:`describe` shows both, as
        ``datasette-render-binary (export)``, when the plugin's name is not the distribution's.
    :param version: the version concerned (the new one, for an update).
    :param previous_version: the version it replaced, for updates and rollbacks.
    :param origin: where the plugin comes from (a wheel path or an installed distribution).
    :param sha256: the sha256 of the plugin's wheel, when it comes from one.
    :param error: the error message, for failures.
    :param error_type: the qualified name of the error's type, for failures.
    :param step: the step that failed or was reached (``install``, ``import``, ``activate``...).
    :param time: when it happened (``time.time()``).
    :param drain_seconds: for an update or a rollback, how long the replaced version took to
        drain (calls still running it waited for).
    :param reimported_for: for a plugin re-imported at the same version because a plugin it
        requires changed, that change (``hello 1.1.0``); ``version`` and ``previous_version``
        are then the same.
    """

    kind: EventKind
    plugin: str | None
    version: str | None = None
    previous_version: str | None = None
    distribution: str | None = attrs.field(default=None, kw_only=True)
    origin: str | None = None
    sha256: str | None = None
    error: str | None = None
    error_type: str | None = None
    step: str | None = None
    time: float = attrs.field(factory=time.time, eq=False)
    drain_seconds: float | None = attrs.field(default=None, eq=False)
    reimported_for: str | None = None

    @classmethod
    def failure(
        cls, kind: EventKind, plugin: str | None, exc: BaseException, **fields: str | None
    ) -> Event:
        """An event for ``exc``, carrying its text and type but not the exception itself."""
        error_type = qualified_name(type(exc))
        # Asked only of our own errors: a plugin's exception may answer any attribute with code.
        ours = issubclass(type(exc), PluginHostError)
        step = getattr(exc, "step", None) if ours else None
        fields.setdefault("step", step if isinstance(step, str) else None)
        return cls(kind, plugin, error=_text(exc), error_type=error_type, **fields)  # type: ignore[arg-type]

    def drained_in(self, seconds: float | None) -> Event:
        """This event with ``drain_seconds``, when it tells of a version replaced."""
        return attrs.evolve(self, drain_seconds=seconds) if self.previous_version else self

    def describe(self) -> str:
        """One line for people: ``loaded hello 1.0.0 from /wheels/hello-1.0.0-py3-none-any.whl``."""
        who = display_name(self.plugin, self.distribution) if self.plugin else "-"
        parts = [str(self.kind), who]
        if self.reimported_for and self.version:
            # Not "1.0.0 -> 1.0.0": the version did not change, what it requires did.
            parts.append(f"{self.version} (re-imported for {self.reimported_for})")
        elif self.previous_version and self.version:
            parts.append(f"{self.previous_version} -> {self.version}")
        elif self.version:
            parts.append(self.version)
        if self.step and self.step != str(self.kind):  # "manifest_invalid at manifest_invalid"
            parts.append(f"at {self.step}")
        if self.origin:
            parts.append(f"from {self.origin}")
        if self.error:
            parts.append(f"({self.error})")
        return " ".join(parts)


Subscriber = Callable[[Event], object]
#: A subscriber, the name of the module its code lives in and that module, when one is told.
_Entry = tuple[Subscriber, str | None, types.ModuleType | None]


class EventBus:
    """Delivers events to subscribers one at a time, in the order they were emitted.

    An event emitted while another is being delivered (a subscriber that acts on the host, say) is
    queued and delivered after it, so every subscriber sees one global order.
    """

    def __init__(self) -> None:
        # Each subscriber with the module its code lives in, if one can be told: a subscriber
        # whose module is gone (a plugin's, once unloaded) is dropped.
        self._subscribers: list[_Entry] = []
        self._pending: deque[Event] = deque()
        self._lock = threading.RLock()
        self._delivering = False

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every later event, until unsubscribed or its module
        is unloaded (a plugin's subscriber, once the plugin is unloaded or replaced).

        :returns: a function that unsubscribes the callback.
        """
        name = _module_of(callback)
        entry = (callback, name, sys.modules.get(name) if name is not None else None)
        with self._lock:
            self._subscribers.append(entry)

        def unsubscribe() -> None:
            self._remove(entry)

        return unsubscribe

    def _remove(self, entry: _Entry) -> None:
        with self._lock:
            self._subscribers = [e for e in self._subscribers if e is not entry]

    def emit(self, event: Event) -> None:
        """Log ``event`` and deliver it to every subscriber."""
        with self._lock:
            self._pending.append(event)
            if self._delivering:
                return
            self._delivering = True
            try:
                while self._pending:
                    self._deliver(self._pending.popleft())
            finally:
                self._delivering = False

    def _deliver(self, event: Event) -> None:
        level = logging.WARNING if event.kind in _FAILURES else logging.INFO
        if event_logger.isEnabledFor(level):
            # Only then: describing every event of a start with hundreds of plugins, for a log
            # that drops the line, took a few milliseconds.
            event_logger.log(level, "%s", event.describe())
        for entry in list(self._subscribers):
            callback, name, module = entry
            if module is not None and sys.modules.get(name or "") is not module:
                self._drop(entry)
                continue
            try:
                callback(event)
            except KeyboardInterrupt:
                if threading.current_thread() is threading.main_thread():
                    raise  # the user's Ctrl-C, on the thread that called start() or install()
                self._failed(callback, event)  # elsewhere only plugin code raises it
            except BaseException:
                self._failed(callback, event)

    def _failed(self, callback: Subscriber, event: Event) -> None:
        # A broken subscriber must not break the host or starve the others; it is reported,
        # not hidden. A plugin's (it reaches the host from its activate) that raised
        # SystemExit failed every later change of the worker.
        logger.exception("event subscriber %s raised on %s", safe_repr(callback), event.kind.value)

    def _drop(self, entry: _Entry) -> None:
        self._remove(entry)
        logger.warning(
            "event subscriber %s dropped: its module %s was unloaded (a plugin unsubscribes"
            " in pluginhost_deactivate)",
            safe_repr(entry[0]),
            entry[1],
        )


def _module_of(callback: object) -> str | None:
    """The name of the module a subscriber's code lives in, read without running its code:
    a function's or a method's ``__module__``, else its class's."""
    function = callback.__func__ if type(callback) is types.MethodType else callback
    if type(function) is types.FunctionType:
        return exact_str(function.__module__)
    return module_name(type(callback))


def _text(exc: BaseException) -> str:
    """``str(exc)``: our errors' messages as they are; a plugin exception whose ``__str__``
    raises told so (:func:`~.exception_text.exception_text`), never raising here."""
    try:
        return str(exc)
    except BaseException:  # plugin code, even a SystemExit from its __str__
        return exception_text(exc)
