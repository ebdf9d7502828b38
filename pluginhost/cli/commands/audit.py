"""``pluginhost audit``: a home's audit log, filtered, or its hash chain checked."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...model.errors import PluginHostError
from ...state.audit import AUDIT_NAME, AuditEntry, read_audit, verify_audit
from ..common import EXIT_OK, EXIT_PROBLEMS, home, say

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Print the entries asked for, oldest first; with ``--verify``, the chain's faults.

    :raises PluginHostError: when the home has no audit log.
    """
    path = home(args) / AUDIT_NAME
    if not path.is_file():
        raise PluginHostError("no audit log: no host has started on this home", path=path)
    if args.verify:
        return _verify(path)
    entries = [
        e
        for e in read_audit(path)
        if not isinstance(e, AuditEntry)
        or (args.plugin in (None, e.plugin) and args.action in (None, e.action))
    ]
    if args.tail is not None:
        entries = entries[-args.tail :] if args.tail > 0 else []
    for e in entries:
        if isinstance(e, AuditEntry):
            say(json.dumps(e.to_json(), sort_keys=True) if args.json else e.describe())
        else:
            say(json.dumps({"unreadable": e}) if args.json else f"unreadable line: {e}")
    return EXIT_OK


def _verify(path: Path) -> int:
    faults = verify_audit(path)
    for fault in faults:
        say(f"PROBLEM  {fault}")
    say(f"{len(faults)} problem(s) found" if faults else "audit log intact")
    return EXIT_PROBLEMS if faults else EXIT_OK
