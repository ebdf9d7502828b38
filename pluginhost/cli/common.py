"""What the commands share: exit codes, output (lines, tables, JSON) and ``--home`` resolution."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_USAGE",
    "UsageError",
    "home",
    "note",
    "print_json",
    "say",
    "table",
]

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_PROBLEMS: Final = 3


class UsageError(Exception):
    """Bad arguments found after parsing (exit 2)."""


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout."""
    print(json.dumps(data, indent=2, sort_keys=False))


def say(text: str) -> None:
    """One line on stdout, flushed so that a reader of a pipe sees it at once."""
    print(text, flush=True)


def note(text: str) -> None:
    """One line about the command itself on stderr, prefixed ``pluginhost:``."""
    print(f"pluginhost: {text}", file=sys.stderr, flush=True)


def table(rows: Sequence[Sequence[str]]) -> None:
    """``rows`` in aligned columns; the last column is not padded."""
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
