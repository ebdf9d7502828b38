"""The audit log: ``home/audit.log``, one JSON object per line, only ever appended to.

Every install, swap, rollback, unload, removal and refusal is written as the host's events
report it, with time, plugin, version, sha256, origin and outcome, and the host's own start
and stop (with the plugins it restores at start and unloads at stop).

Each entry carries the sha256 of the line before it (``prev``), so that a line edited, removed
or reordered later breaks the chain where it happened (``pluginhost audit --verify``). The
chain's head, the number of lines and the sha256 of the last, is kept beside the log in
``audit.head``, replaced atomically after every line, so that lines removed from the end are
seen too. The chain shows accidents and clumsy edits; it cannot stop someone who may write the
home and recomputes it, which is why the home itself must be private (see strict modes).

Every field of a line is bounded (:data:`~pluginhost.state.bounds.FIELD_LIMIT` characters): a
longer one keeps its beginning, the number of characters cut and the sha256 of the whole.

Lines are written with one ``write`` on a file opened for appending and are not fsynced: a killed
host loses no line it wrote, a power cut may lose the last ones (and leave the head ahead of the
log). A line cut short by a crash while it was written is closed at the next start, which
records a ``recover`` entry after it: ``--verify`` reports it as a crash, not as tampering. A
start that finds the head unable to vouch for the log (missing, unusable, or anchored on a line
the log does not have where it says) records a ``recover`` entry with outcome ``warning`` before
it anchors a new head, which ``--verify`` reports from then on: the cut is never laundered.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import attrs

from ..model.errors import StoreError
from ..model.events import Event, EventKind
from ..model.frozen import frozen
from .audit_lines import GENESIS as _GENESIS
from .audit_lines import MAX_LINE, Overlong, last_link, line_digest, raw_lines
from .bounds import bound_text
from .fs import FILE_MODE, describe
from .store import AtomicJsonFile

logger = logging.getLogger("pluginhost")

__all__ = [
    "AUDIT_HEAD",
    "AUDIT_NAME",
    "AuditEntry",
    "AuditFault",
    "AuditLog",
    "read_audit",
    "record_for",
    "verify_audit",
]

AUDIT_NAME: Final = "audit.log"
#: The chain's head, beside the log: ``{"count": <lines>, "last": <sha256 of the last line>}``.
AUDIT_HEAD: Final = "audit.head"
#: The most bytes ``audit.head`` may hold: it holds a count and a sha256.
HEAD_LIMIT: Final = 64 * 1024

# Each audited event kind: the action it records and its outcome. Events that only announce
# (discovered, loading, unloading) are not audited: the outcome that follows them is.
_ACTIONS: Final = {
    EventKind.LOADED: ("install", "ok"),
    EventKind.UPDATED: ("swap", "ok"),
    EventKind.ROLLED_BACK: ("rollback", "ok"),
    EventKind.UNLOADED: ("unload", "ok"),
    EventKind.REMOVED: ("removal", "ok"),
    EventKind.UNLOAD_FAILED: ("removal", "failed"),
    EventKind.REFUSED: ("refusal", "refused"),
    EventKind.MANIFEST_INVALID: ("refusal", "refused"),
    EventKind.DRAIN_TIMEOUT: ("drain", "timeout"),
    EventKind.LEAKED: ("release", "leaked"),
    EventKind.DISABLED: ("disable", "ok"),
    EventKind.ENABLED: ("enable", "ok"),
    EventKind.UNKNOWN_HOOKS: ("unknown_hooks", "warning"),
    EventKind.CRASHED: ("crash", "failed"),
    EventKind.RESTARTED: ("restart", "ok"),
    EventKind.QUARANTINED: ("quarantine", "failed"),
}
_TOO_LONG: Final = f"longer than any entry ({MAX_LINE} bytes at most), not an entry; not read whole"
#: The outcome of a ``recover`` entry saying the head could not vouch for the log.
_DISTRUST: Final = "warning"


@frozen
class AuditEntry:
    """One line of the audit log, and one event as ``pluginhost run --json`` prints it.

    :param time: when, ISO 8601 in UTC with milliseconds.
    :param action: what was done (``install``, ``swap``, ``refusal``...; for an event that
        only announces, its kind).
    :param outcome: ``ok``, ``failed``, ``refused``, ``timeout``; ``info`` for an event that
        only announces.
    :param kind: the kind of the event that made it; ``None`` for the host's own entries
        (``start``, ``stop``, ``recover``) and lines written before it was recorded.
    :param reason: the error, for failures and refusals.
    :param prev: the sha256 of the line before it in the log (the chain).
    """

    time: str
    action: str
    outcome: str
    kind: str | None = None
    plugin: str | None = None
    version: str | None = None
    previous_version: str | None = None
    sha256: str | None = None
    origin: str | None = None
    reason: str | None = None
    prev: str = _GENESIS

    def to_json(self) -> dict[str, str | None]:
        """The entry as the log stores it, each field bounded."""
        # By name, not attrs.asdict(), which recurses and copies: one line per audited event.
        data: dict[str, str | None] = {}
        for name in _ENTRY_FIELDS:
            value = getattr(self, name)
            data[name] = value if value is None else bound_text(value)
        return data

    def describe(self) -> str:
        """One line for people."""
        version = self.version or ""
        if self.previous_version and self.version:
            version = f"{self.previous_version} -> {self.version}"
        parts = [self.time, self.action, self.outcome, self.plugin or "-", version]
        if self.sha256:
            parts.append(f"sha256:{self.sha256[:12]}")
        if self.origin:
            parts.append(f"from {self.origin}")
        if self.reason:
            parts.append(f"({self.reason})")
        return " ".join(p for p in parts if p)


_ENTRY_FIELDS: Final = tuple(field.name for field in attrs.fields(AuditEntry))
#: One encoder for every line: ``json.dumps`` with options makes a new one at each call.
_LINE_ENCODER: Final = json.JSONEncoder(sort_keys=True, ensure_ascii=False)


def entry_for(event: Event) -> AuditEntry | None:
    """The audit entry an event makes, or ``None`` for events that are not audited."""
    if event.kind is EventKind.LOAD_FAILED:
        action, outcome = ("swap" if event.previous_version else "install"), "failed"
    elif event.kind is EventKind.LOADED and event.step == "restore":
        action, outcome = "restore", "ok"
    elif event.kind in _ACTIONS:
        action, outcome = _ACTIONS[event.kind]
    else:
        return None
    return _entry(event, action, outcome)


def record_for(event: Event) -> AuditEntry:
    """The record of any event: its audit entry, or, for an event that only announces
    (``discovered``, ``loading``...), an entry whose action is its kind and outcome ``info``."""
    return entry_for(event) or _entry(event, str(event.kind), "info")


def _entry(event: Event, action: str, outcome: str) -> AuditEntry:
    return AuditEntry(
        time=_iso(event.time),
        action=action,
        outcome=outcome,
        kind=str(event.kind),
        plugin=event.plugin,
        version=event.version,
        previous_version=event.previous_version,
        sha256=event.sha256,
        origin=event.origin,
        reason=event.error,
    )


def _iso(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds")


@frozen
class AuditFault:
    """What ``--verify`` finds wrong with one line, or with the log as a whole.

    :param line: the line's number (from 1), ``None`` for the log as a whole.
    :param reason: what is wrong, for people.
    :param crash: the line was cut short by a crash while it was written: damage, not
        tampering.
    """

    line: int | None
    reason: str
    crash: bool = False

    def __str__(self) -> str:
        return self.reason if self.line is None else f"line {self.line}: {self.reason}"


class AuditLog:
    """Appends entries to ``home/audit.log``, and keeps its head; an event subscriber."""

    def __init__(self, home: Path) -> None:
        self.path = home / AUDIT_NAME
        self._head = _head_file(home / AUDIT_HEAD)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._prev = _GENESIS
        self._count = 0
        self._unanchored = False

    def open(self) -> None:
        """Open for appending (creating it private), find the chain's last link and anchor it.

        A line cut short by a crash is closed, and a ``recover`` entry says so. So does one
        (outcome ``warning``, and a logged warning) when the head cannot vouch for the log: it
        is missing while the log has lines, unusable, or anchored on a line the log does not
        have where it says. Anchoring the head again in silence made ``--verify`` call a log
        whose last lines were removed intact after one start.

        :raises StoreError: when the file cannot be opened or the head cannot be written.
        """
        try:
            self._prev, torn = last_link(self.path)
            self._count, distrust = self._counted()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
            os.fchmod(self._fd, FILE_MODE)
            if torn:
                os.write(self._fd, b"\n")
        except OSError as exc:
            raise StoreError(f"cannot open the audit log: {describe(exc)}", path=self.path) from exc
        if torn:
            reason = f"line {self._count} was cut short by a crash while it was written"
            self.append(
                AuditEntry(time=_iso(_now()), action="recover", outcome="ok", reason=reason)
            )
        if distrust is not None:
            logger.warning("%s: %s; recorded in the log", self.path, distrust)
            reason = f"{distrust}; the head was anchored again on the log as found"
            self.append(
                AuditEntry(time=_iso(_now()), action="recover", outcome=_DISTRUST, reason=reason)
            )
        self._anchor()

    def _counted(self) -> tuple[int, str | None]:
        """The log's number of lines (from the head when it matches the last line), and why
        the head cannot vouch for the log, if it cannot.

        A head behind the log is no fault: lines are written before the head is anchored on
        them, and a host killed meanwhile leaves it so.
        """
        try:
            head, distrust = self._head.peek(), None
        except StoreError as exc:
            head, distrust = None, f"{AUDIT_HEAD} {exc.reason}"
        count, last = _head(head)
        if count is not None and last == self._prev:
            return count, None
        lines, anchored = 0, None
        if self.path.exists():
            for lines, raw in _raw_lines(self.path):
                if lines == count:
                    anchored = line_digest(raw)
        if distrust is not None or (not lines and not count):
            return lines, distrust
        if head is None:
            return lines, f"no {AUDIT_HEAD} beside a log of {lines} line(s)"
        if count is None or last is None:
            return lines, f"{AUDIT_HEAD} was not a head"
        if (count == 0 and last == _GENESIS) or anchored == last:
            return lines, None
        return lines, (
            f"{AUDIT_HEAD} recorded {count} line(s), the last of which the log (of {lines} "
            "lines) does not have there: lines removed from the end, or the head replaced"
        )

    def close(self) -> None:
        """Anchor the head on the last line, and close the log.

        :raises StoreError: when the head cannot be written (the log is closed all the same).
        """
        with self._lock:
            if self._fd is None:
                return
            try:
                if self._unanchored:
                    self._anchor()
            finally:
                os.close(self._fd)
                self._fd = None

    def record(self, event: Event) -> None:
        """Append the entry ``event`` makes, if it makes one."""
        entry = entry_for(event)
        if entry is not None:
            self.append(entry)

    def host(self, action: str, reason: str | None = None) -> None:
        """Record the host's own ``start`` or ``stop``."""
        self.append(AuditEntry(time=_iso(_now()), action=action, outcome="ok", reason=reason))

    def append(self, entry: AuditEntry) -> None:
        """Write one line; the head is anchored on it by the next :meth:`anchor`.

        :raises StoreError: when it cannot be written (the event bus logs it; the change the
            entry describes has happened and stands).
        """
        with self._lock:
            if self._fd is None:
                return
            data = entry.to_json()
            data["prev"] = self._prev
            text = _LINE_ENCODER.encode(data)
            # A path that is not UTF-8 holds lone surrogates: written as JSON's own escapes of
            # them (\udcXX), which read back as the same text; the line is dropped otherwise.
            line = text.encode("utf-8", "backslashreplace") + b"\n"
            try:
                written = os.write(self._fd, line)
            except OSError as exc:
                raise StoreError(
                    f"cannot append to the audit log: {describe(exc)}", path=self.path
                ) from exc
            if written != len(line):
                raise StoreError(f"short write ({written} of {len(line)} bytes)", path=self.path)
            self._prev = hashlib.sha256(line).hexdigest()
            self._count += 1
            self._unanchored = True

    def anchor(self) -> None:
        """Anchor the head on the last line, if lines came since it was last anchored.

        Called once a change is complete, not after every line: a start with hundreds of
        plugins writes hundreds of lines, and rewriting the head for each cost more than the
        start itself. Lines written since the last anchor are still chained; only their
        removal from the end goes unseen until the next anchor.

        :raises StoreError: when the head cannot be written.
        """
        with self._lock:
            if self._fd is not None and self._unanchored:
                self._anchor()

    def _anchor(self) -> None:
        self._head.write({"count": self._count, "last": self._prev})
        self._unanchored = False


def _now() -> float:
    return datetime.datetime.now(tz=datetime.timezone.utc).timestamp()


def read_audit(path: Path) -> Iterator[AuditEntry | str]:
    """The entries of an audit log in order; a line that is not an entry comes as its text.

    :raises StoreError: when the file cannot be read.
    """
    for _number, raw in _raw_lines(path):
        entry = _parse(raw)
        if isinstance(raw, Overlong):
            yield f"(a line of {raw.length} bytes, not shown: {_TOO_LONG})"
        else:
            yield entry if entry is not None else raw.decode("utf-8", "replace").rstrip("\n")


def _head_file(path: Path) -> AtomicJsonFile:
    return AtomicJsonFile(path, durable=False, max_size=HEAD_LIMIT)


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        yield from raw_lines(path)
    except OSError as exc:
        raise StoreError(f"cannot read the audit log: {describe(exc)}", path=path) from exc


def _parse(raw: bytes) -> AuditEntry | None:
    try:
        data: Any = json.loads(raw)
        known = {a.name for a in attrs.fields(AuditEntry)}
        if not isinstance(data, dict) or set(data) - known:
            return None
        return AuditEntry(**data)
    except (ValueError, TypeError, RecursionError):  # nested past the decoder's stack: damage
        return None


def verify_audit(path: Path) -> list[AuditFault]:
    """What is wrong with an audit log's lines, its chain and its head; empty when nothing is.

    :raises StoreError: when the log cannot be read.
    """
    lines = [raw for _number, raw in _raw_lines(path)]
    try:
        head = _head_file(path.with_name(AUDIT_HEAD)).peek()
    except StoreError as exc:
        return [
            *_chain_faults(lines, 0),
            AuditFault(None, f"{AUDIT_HEAD} {exc.reason}: truncation cannot be ruled out"),
        ]
    count, last = _head(head)
    faults = list(_chain_faults(lines, count or 0))
    faults.extend(_distrusted(lines))
    if head is None and lines:
        faults.append(AuditFault(None, f"no {AUDIT_HEAD}: lines removed from the end go unseen"))
    elif head is not None and (count is None or last is None):
        faults.append(AuditFault(None, f"{AUDIT_HEAD} is not a head: truncation goes unseen"))
    elif count is not None and last is not None:
        faults.extend(_head_faults(count, last, lines, {f.line for f in faults}))
    return faults


def _distrusted(lines: list[bytes]) -> Iterator[AuditFault]:
    """The ``recover`` entries of starts that found the head unable to vouch for the log: what
    they found stays a fault, though the head now matches the log."""
    for number, raw in enumerate(lines, start=1):
        entry = _parse(raw) if b'"recover"' in raw else None
        if entry is not None and entry.action == "recover" and entry.outcome == _DISTRUST:
            yield AuditFault(number, f"the start here found: {entry.reason}")


def _head(data: Any) -> tuple[int | None, str | None]:
    if not isinstance(data, dict):
        return None, None
    count, last = data.get("count"), data.get("last")
    return (
        count if isinstance(count, int) and not isinstance(count, bool) else None,
        last if isinstance(last, str) else None,
    )


def _chain_faults(lines: list[bytes], anchored: int) -> Iterator[AuditFault]:
    """Lines that are no entry, and breaks of the chain; ``anchored`` lines were whole when
    the head was last written."""
    prev = _GENESIS
    for index, raw in enumerate(lines):
        number = index + 1
        entry = _parse(raw)
        if isinstance(raw, Overlong):
            yield AuditFault(number, f"is {raw.length} bytes long: {_TOO_LONG}")
        elif entry is None:
            after = lines[index + 1] if index + 1 < len(lines) else None
            yield _unreadable(number, raw, after, anchored=number <= anchored)
        elif entry.prev != prev:
            yield AuditFault(
                number, "chain broken (a line before it was changed, removed or added)"
            )
        prev = line_digest(raw)


def _unreadable(number: int, raw: bytes, after: bytes | None, *, anchored: bool) -> AuditFault:
    """A line that is no entry: a crash's when it is the last, unfinished and not yet
    anchored, or when the next start's ``recover`` entry follows it."""
    if after is None and not raw.endswith(b"\n"):
        if anchored:
            return AuditFault(number, f"cut short after it was written ({AUDIT_HEAD} has it)")
        return AuditFault(number, "cut short by a crash while written (no start since)", True)
    recovered = _parse(after) if after is not None else None
    if recovered is not None and recovered.action == "recover":
        return AuditFault(number, "cut short by a crash while it was written", True)
    return AuditFault(number, "not an audit entry (changed by hand?)")


def _head_faults(
    count: int, last: str, lines: list[bytes], reported: set[int | None]
) -> Iterator[AuditFault]:
    """Lines missing at the end, or a last anchored line that is not the one anchored."""
    if count > len(lines):
        missing = count - len(lines)
        ends_right = bool(lines) and line_digest(lines[-1]) == last
        where = "before the last line" if ends_right else "at the end"
        yield AuditFault(
            None,
            f"{missing} line(s) missing {where}: {AUDIT_HEAD} records {count} lines, the log "
            f"has {len(lines)}" + ("" if ends_right else " (lines removed from the end)"),
        )
    elif count and count not in reported and line_digest(lines[count - 1]) != last:
        yield AuditFault(count, f"is not the line {AUDIT_HEAD} records (cut and written again?)")
