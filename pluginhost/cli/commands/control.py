"""``pluginhost rollback|remove|unpin|disable|enable|restart NAME``: requests to the running
host.

The request goes through ``HOME/control/`` to the host started with ``pluginhost run``, which
performs it under its lock (:mod:`pluginhost.host.control`). ``disable`` and ``enable`` also
work with no host running: the choice is recorded in the home, for the next start.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Final

from ...host.control import send_request
from ...host.homeview import require_home
from ...model.errors import PluginHostError
from ...state.disabled import record_choice
from ...state.store import HomeLock
from ..common import EXIT_OK, home, plugin_argument, print_json, say

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Send ``args.command`` for ``args.name`` and print the host's answer.

    :raises PluginHostError: when no host answers, or it refuses the request.
    :raises UsageError: when ``args.name`` cannot name a plugin (checked first).
    """
    plugin_argument(args.name)
    where = home(args)
    if args.command in _CHOICES and HomeLock.holder(where) is None:
        return _record(args, where)
    result = send_request(where, args.command, args.name, timeout=args.timeout)
    if not result["ok"]:
        # With --json, main() prints the error document.
        raise PluginHostError(result["error"] or "the host refused the request")
    if args.json:
        print_json(result)
    else:
        info = result["info"]
        if args.command in _CHOICES:
            say(f"{args.name}: {_CHOICES[args.command][result['changed']]}")
            return EXIT_OK
        done = {
            "rollback": "rolled back to",
            "remove": "removed",
            "unpin": "unpinned",
            "restart": "restarted",
        }[args.command]
        version = f" {info['version']}" if info else ""
        say(f"{args.name}: {done}{version}")
    return EXIT_OK


_CHOICES: Final = {
    "disable": {True: "disabled", False: "already disabled"},
    "enable": {True: "enabled", False: "was not disabled"},
}


def _record(args: argparse.Namespace, where: Path) -> int:
    """Disable or enable on a home no host runs on: recorded for its next start.

    :raises HostStateError: when ``where`` is no host's home (a mistyped ``--home`` would
        otherwise become a new home holding the choice, which no host reads).
    """
    require_home(where)
    changed = record_choice(where, args.name, disabled=args.command == "disable")
    if args.json:
        print_json({"ok": True, "action": args.command, "plugin": args.name, "changed": changed,
                    "running": False})  # fmt: skip
    else:
        say(f"{args.name}: {_CHOICES[args.command][changed]} (no host running: recorded in "
            f"{where}, for its next start)")  # fmt: skip
    return EXIT_OK
