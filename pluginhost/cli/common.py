"""What the commands share: exit codes, output (lines, tables, JSON) and ``--home`` resolution."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from ..model.names import PluginName, name_fault, plugin_name

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PIPE",
    "EXIT_PROBLEMS",
    "EXIT_USAGE",
    "SCHEMA",
    "UsageError",
    "document",
    "error_document",
    "failed",
    "home",
    "note",
    "plugin_argument",
    "print_json",
    "say",
    "table",
]

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_PROBLEMS: Final = 3
EXIT_INTERRUPTED: Final = 128 + 2  # SIGINT, as a shell reports a process it ended
EXIT_PIPE: Final = 128 + 13  # SIGPIPE, as git ends when its reader goes away

#: The version of every JSON document the commands print (docs/json.md describes them); it
#: grows when a field changes meaning or goes away, not when one is added.
SCHEMA: Final = 1


class UsageError(Exception):
    """Bad arguments found after parsing (exit 2)."""


def document(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as a JSON document: its schema version first."""
    return {"schema": SCHEMA, **data}


def error_document(command: str, message: str, code: int) -> dict[str, Any]:
    """The document a command asked for JSON prints when it fails."""
    return document({"ok": False, "command": command, "error": message, "exit": code})


def failed(
    args: argparse.Namespace, text: str, code: int, more: Mapping[str, Any] | None = None
) -> int:
    """Tell a failure as every command does: one line on stderr and, for a command asked for
    JSON, its error document on stdout (with ``more`` fields); returns ``code``.

    :param text: the line, ``error: <reason>``; the document's ``error`` is the reason.
    """
    note(text)
    if getattr(args, "json", False) and not getattr(args, "json_done", False):
        # One line: also the last line of a command that prints JSON lines (run, audit).
        document = error_document(args.command, text.partition(": ")[2], code)
        say(json.dumps({**document, **(more or {})}))
    return code


def print_json(data: Mapping[str, Any]) -> None:
    """``data`` as an indented JSON :func:`document` on stdout."""
    print(json.dumps(document(data), indent=2, sort_keys=False), flush=True)


#: Control characters, as escapes: a name or a yank reason from a wheel, a folder or an index
#: must not drive the operator's terminal (clear it, retitle it, forge a line in colour, write
#: its clipboard) nor, with a newline, print a line of its own making.
_ESCAPES: Final = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
#: The same but newlines and tabs, for text of several lines (a traceback).
_ESCAPES_IN_LINES: Final = {code: e for code, e in _ESCAPES.items() if chr(code) not in "\n\t"}


def printable(text: str) -> str:
    """``text`` as one line: its control characters, newlines included, escaped (``\\xNN``)."""
    return text.translate(_ESCAPES)


class PrintableFormatter(logging.Formatter):
    """A log formatter whose message is one line of no control characters (:func:`printable`);
    a traceback after it keeps its lines."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.msg, record.args
        record.msg, record.args = printable(record.getMessage()), None
        try:
            return super().format(record).translate(_ESCAPES_IN_LINES)
        finally:
            record.msg, record.args = saved


def say(text: str) -> None:
    """One line on stdout (see :func:`printable`), flushed so that a reader of a pipe sees it
    at once."""
    print(printable(text), flush=True)


def note(text: str) -> None:
    """One line about the command itself on stderr, prefixed ``pluginhost:``."""
    print(f"pluginhost: {printable(text)}", file=sys.stderr, flush=True)


def table(rows: Sequence[Sequence[str]]) -> None:
    """``rows`` in aligned columns; the last column is not padded."""
    rows = [[printable(cell) for cell in row] for row in rows]  # padded as printed
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        say("  ".join([*cells, row[-1]]).rstrip())


def home(args: argparse.Namespace) -> Path:
    """The home a command works on: ``--home``, else the home of ``--config`` or ./pluginhost.toml.

    :raises UsageError: when none of the three is there.
    :raises PluginHostError: when the config file cannot be read.
    """
    if args.home is not None:
        return Path(args.home)
    # Only the commands that take a home read a config: the others start without the settings.
    from ..host.config_file import HostConfig

    config = args.config
    if config is None:
        default = Path("pluginhost.toml")
        if not default.is_file():
            raise UsageError("no home given: use --home DIR or --config FILE")
        config = default
    return HostConfig.from_file(config).resolved_home


def plugin_argument(text: str) -> PluginName:
    """A plugin's name given on the command line, normalized.

    :raises UsageError: when no plugin can have it (empty, a path, a newline, too long, not
        UTF-8), saying why: ``disable`` recorded such names in the home as they came.
    """
    fault = name_fault(text)
    if fault is not None:
        raise UsageError(fault)
    return plugin_name(text)
