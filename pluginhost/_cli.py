"""The ``pluginhost`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ._errors import PluginHostError

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pluginhost",
        description="Discover, resolve, install and hot-swap pluggy plugin wheels.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="build the demo plugins and show the whole pipeline")
    demo.add_argument("--keep", type=Path, metavar="DIR", help="leave the home and wheels in DIR")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR)
    try:
        if args.command == "demo":
            from ._demo import run_demo

            return run_demo(keep=args.keep)
    except PluginHostError as exc:
        if args.debug:
            raise
        print(f"pluginhost: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_USAGE
