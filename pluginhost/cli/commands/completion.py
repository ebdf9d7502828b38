"""``pluginhost completion bash|zsh|fish``: a shell completion script, on stdout."""

from __future__ import annotations

import argparse
import sys

from ..common import EXIT_OK
from ..completion import script

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Print the completion script for ``args.shell``, generated from the running parser."""
    sys.stdout.write(script(args.parser, args.shell))
    return EXIT_OK
