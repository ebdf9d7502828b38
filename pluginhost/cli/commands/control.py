"""``pluginhost rollback|remove|unpin NAME``: requests to the running host.

The request goes through ``HOME/control/`` to the host started with ``pluginhost run``, which
performs it under its lock (:mod:`pluginhost.host.control`).
"""

from __future__ import annotations

import argparse

from ...host.control import send_request
from ...model.errors import PluginHostError
from ..common import EXIT_OK, home, print_json, say

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Send ``args.command`` for ``args.name`` and print the host's answer.

    :raises PluginHostError: when no host answers, or it refuses the request.
    """
    result = send_request(home(args), args.command, args.name, timeout=args.timeout)
    if not result["ok"]:
        # With --json, main() prints the error document.
        raise PluginHostError(result["error"] or "the host refused the request")
    if args.json:
        print_json(result)
    else:
        info = result["info"]
        done = {"rollback": "rolled back to", "remove": "removed", "unpin": "unpinned"}[
            args.command
        ]
        version = f" {info['version']}" if info else ""
        say(f"{args.name}: {done}{version}")
    return EXIT_OK
