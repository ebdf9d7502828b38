"""The audit log: ``home/audit.log``, one JSON object per line, only ever appended to.

Every install, swap, rollback, unload, removal and refusal is written as the host's events
report it, with time, plugin, version, sha256, origin and outcome, and the host's own start
and stop (with the plugins it restores at start and unloads at stop).

Each entry carries the sha256 of the line before it (``prev``), so that a line edited, removed
or reordered later breaks the chain where it happened (``pluginhost audit --verify``). The
chain shows accidents and clumsy edits; it cannot stop someone who may write the home and
recomputes it, which is why the home itself must be private (see strict modes).

Lines are written with one ``write`` on a file opened for appending and are not fsynced: a killed
host loses no line it wrote, a power cut may lose the last ones.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import attrs

from ..model.errors import StoreError
from ..model.events import Event, EventKind
from .fs import describe

__all__ = ["AUDIT_NAME", "AuditEntry", "AuditLog", "read_audit", "verify_audit"]

AUDIT_NAME: Final = "audit.log"

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
}
_GENESIS: Final = "0" * 64
_TAIL: Final = 64 * 1024


@attrs.frozen
class AuditEntry:
    """One line of the audit log."""

    time: str
    action: str
    outcome: str
    plugin: str | None = None
    version: str | None = None
    previous_version: str | None = None
    sha256: str | None = None
    origin: str | None = None
    reason: str | None = None
    prev: str = _GENESIS

    def to_json(self) -> dict[str, str | None]:
        """The entry as the log stores it."""
        return attrs.asdict(self)

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
    return AuditEntry(
        time=_iso(event.time),
        action=action,
        outcome=outcome,
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


class AuditLog:
    """Appends entries to ``home/audit.log``; an event subscriber of the host."""

    def __init__(self, home: Path) -> None:
        self.path = home / AUDIT_NAME
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._prev = _GENESIS

    def open(self) -> None:
        """Open for appending (creating it private), and find the chain's last link.

        :raises StoreError: when the file cannot be opened.
        """
        try:
            self._prev, torn = _last_link(self.path)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if torn:
                os.write(self._fd, b"\n")
        except OSError as exc:
            raise StoreError(f"cannot open the audit log: {describe(exc)}", path=self.path) from exc

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
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
        """Write one line.

        :raises StoreError: when it cannot be written (the event bus logs it; the change the
            entry describes has happened and stands).
        """
        with self._lock:
            if self._fd is None:
                return
            data = entry.to_json()
            data["prev"] = self._prev
            line = json.dumps(data, sort_keys=True, ensure_ascii=False).encode() + b"\n"
            try:
                written = os.write(self._fd, line)
            except OSError as exc:
                raise StoreError(
                    f"cannot append to the audit log: {describe(exc)}", path=self.path
                ) from exc
            if written != len(line):
                raise StoreError(f"short write ({written} of {len(line)} bytes)", path=self.path)
            self._prev = hashlib.sha256(line).hexdigest()


def _now() -> float:
    return datetime.datetime.now(tz=datetime.timezone.utc).timestamp()


def _last_link(path: Path) -> tuple[str, bool]:
    """The sha256 of the file's last line (the next entry's ``prev``), and whether that line
    is torn (a crash mid-write) and needs its newline before anything is appended."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _TAIL))
            tail = f.read()
    except FileNotFoundError:
        return _GENESIS, False
    lines = tail.splitlines(keepends=True)
    if not lines:
        return _GENESIS, False
    last = lines[-1]
    torn = not last.endswith(b"\n")
    # The torn line, once closed, is a link like any other: --verify reports the line itself.
    return hashlib.sha256(last + b"\n" if torn else last).hexdigest(), torn


def read_audit(path: Path) -> Iterator[AuditEntry | str]:
    """The entries of an audit log in order; a line that is not an entry comes as its text.

    :raises StoreError: when the file cannot be read.
    """
    for _number, raw in _raw_lines(path):
        entry = _parse(raw)
        yield entry if entry is not None else raw.decode("utf-8", "replace").rstrip("\n")


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        with open(path, "rb") as f:
            yield from enumerate(f, start=1)
    except OSError as exc:
        raise StoreError(f"cannot read the audit log: {describe(exc)}", path=path) from exc


def _parse(raw: bytes) -> AuditEntry | None:
    try:
        data: Any = json.loads(raw)
        known = {a.name for a in attrs.fields(AuditEntry)}
        if not isinstance(data, dict) or set(data) - known:
            return None
        return AuditEntry(**data)
    except (ValueError, TypeError):
        return None


def verify_audit(path: Path) -> list[str]:
    """What is wrong with an audit log's lines and chain; empty when nothing is.

    :raises StoreError: when the file cannot be read.
    """
    faults = []
    prev = _GENESIS
    for number, raw in _raw_lines(path):
        entry = _parse(raw)
        if entry is None:
            faults.append(f"line {number}: not an audit entry (torn by a crash while writing?)")
        elif entry.prev != prev:
            faults.append(
                f"line {number}: chain broken (a line before it was changed, removed or added)"
            )
        prev = hashlib.sha256(raw).hexdigest()
    return faults
