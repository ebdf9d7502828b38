"""``pluginhost doctor``: what is wrong with a home (:class:`~pluginhost.Diagnosis`)."""

from __future__ import annotations

import argparse

from ...host.doctor import Diagnosis
from ..common import EXIT_OK, EXIT_PROBLEMS, home, print_json, say

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Print every finding; exit 3 when one is a problem."""
    report = Diagnosis.read(home(args))
    if args.json:
        print_json(report.to_json())
    else:
        for f in report.findings:
            say(f"{'ok' if f.ok else 'PROBLEM':<8} {f.check:<15} {f.message}")
        problems = len(report.problems)
        say(f"{problems} problem(s) found" if problems else "no problems found")
    return EXIT_OK if report.ok else EXIT_PROBLEMS
