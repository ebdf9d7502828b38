"""``pluginhost release NAME``: let a plugin's quarantined versions load again.

A version whose load crashed the host process is quarantined at the next start (see
:mod:`pluginhost.state.quarantine`). Releasing removes its verdict from ``HOME/quarantine/``:
one file per version, removed in one step, so it works with or without a host running on the
home. A running host sees it at its next look at the home (within its rescan interval) and tries
the version again; so does the next start.
"""

from __future__ import annotations

import argparse

from ...state.quarantine import release
from ..common import EXIT_ERROR, EXIT_OK, failed, home, plugin_argument, print_json, say

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Release ``args.name``; exit 1 when none of its versions was quarantined."""
    name = plugin_argument(args.name)
    lifted = release(home(args), name)
    if not lifted:
        text = f"error: no quarantined version of {name}"
        return failed(args, text, EXIT_ERROR, {"released": []})
    if args.json:
        released = [
            {"plugin": v.key.name, "version": v.key.version, "origin": v.loading.origin}
            for v in lifted
        ]
        print_json({"ok": True, "released": released})
    for verdict in lifted if not args.json else ():
        say(f"released {name} {verdict.key.version} ({verdict.loading.origin})")
    return EXIT_OK
