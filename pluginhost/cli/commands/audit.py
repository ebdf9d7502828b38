"""``pluginhost audit``: a home's audit log, filtered, or its hash chain checked."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ...model.errors import PluginHostError
from ...state.audit import AUDIT_NAME, AuditEntry, read_audit, verify_audit
from ..common import EXIT_OK, EXIT_PROBLEMS, document, home, print_json, say

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Print the entries asked for, oldest first; with ``--verify``, the chain's and the
    head's faults.

    :raises PluginHostError: when the home has no audit log.
    """
    path = home(args) / AUDIT_NAME
    if not os.path.lexists(path):
        raise PluginHostError("no audit log: no host has started on this home", path=path)
    if args.verify:
        return _verify(path, as_json=args.json)
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
            say(json.dumps(document(e.to_json())) if args.json else e.describe())
        else:
            say(json.dumps(document({"unreadable": e})) if args.json else f"unreadable line: {e}")
    return EXIT_OK


def _verify(path: Path, *, as_json: bool) -> int:
    """Print each fault; exit 3 on damage or tampering. A crash's torn line is told, and is
    not a problem: the host closed it and recorded the recovery."""
    faults = verify_audit(path)
    problems = [f for f in faults if not f.crash]
    if as_json:
        found = [{"line": f.line, "reason": f.reason, "crash": f.crash} for f in faults]
        print_json({"ok": not problems, "path": str(path), "faults": found})
        return EXIT_PROBLEMS if problems else EXIT_OK
    for fault in faults:
        say(f"{'CRASH' if fault.crash else 'PROBLEM':<8} {fault}")
    if problems:
        say(f"{len(problems)} problem(s) found")
    else:
        crashes = f" ({len(faults)} line(s) cut short by a crash)" if faults else ""
        say(f"audit log intact{crashes}")
    return EXIT_PROBLEMS if problems else EXIT_OK
