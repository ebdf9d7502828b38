"""A greeter host in its own process, for the crash tests of ``test_crash.py``.

Run as ``python tests/crash_host.py --home HOME [--watch DIR] [options]`` with the repository on
``PYTHONPATH``. It starts a host, optionally calls ``greet`` a few times, prints one JSON object
per line on stdout (``{"event": "ready", ...}`` and so on), optionally updates ``hello`` (with
``PLUGINHOST_CRASH_AT`` set, the process dies by SIGKILL during that update), or rolls it back,
removes it, or deletes its wheel from the watched folder, and stops cleanly.

If the home is locked by another process, it prints ``{"event": "refused", ...}`` and exits 3.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from hookspecs import greeter
from pluginhost import HostStateError, PluginHost

REFUSED = 3


def say(event: str, **fields: Any) -> None:
    """One JSON line on stdout, flushed at once: the parent reads it after a SIGKILL too."""
    print(json.dumps({"event": event, **fields}), flush=True)


def report(host: PluginHost) -> dict[str, Any]:
    """What the host serves: load order, hello's version, its state, a hook call's answer."""
    hello = host.plugins.get("hello")
    # The lifecycle hooks are switched in with the others, so the relay reaches the one plugin.
    exported = host.hook.pluginhost_export_state()
    return {
        "load_order": list(host.load_order()),
        "version": hello.version if hello is not None else None,
        "state": hello.state.value if hello is not None else None,
        "site_dir": str(hello.site_dir) if hello is not None and hello.site_dir else None,
        "exported": exported,
        "greet": host.hook.greet(name="x"),
        "problems": [p.message for p in host.problems()],
    }


def drop(wheel: Path, folder: Path) -> None:
    """Put ``wheel`` into ``folder`` in one rename, under a name the watcher reads."""
    temp = folder / f".{wheel.name}.part"
    shutil.copyfile(wheel, temp)
    os.replace(temp, folder / wheel.name)


def change(host: PluginHost, args: argparse.Namespace) -> bool:
    """Make the change the options ask for; ``False`` if a folder change was not applied."""
    if args.install is not None:
        host.install(args.install)
    if args.rollback is not None:
        host.rollback(args.rollback)
    if args.remove is not None:
        host.remove(args.remove)
    if args.drop is not None:
        drop(args.drop, args.watch[0])
    if args.delete is not None:
        args.delete.unlink()
    if (args.drop is not None or args.delete is not None) and not host.wait_idle(30):
        return False
    if any(x is not None for x in (args.install, args.drop, args.rollback, args.remove)):
        hello = host.plugins.get("hello")
        say("done", version=hello.version if hello is not None else None)
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--watch", type=Path, action="append", default=[])
    parser.add_argument("--persist", action="store_true", help="persist_state=True")
    parser.add_argument("--calls", type=int, default=0, help="greet calls after start")
    parser.add_argument("--report", action="store_true", help="print a report after start")
    parser.add_argument("--install", type=Path, help="host.install() this wheel")
    parser.add_argument("--drop", type=Path, help="drop this wheel into the watched folder")
    parser.add_argument("--rollback", help="host.rollback() this plugin")
    parser.add_argument("--remove", help="host.remove() this plugin")
    parser.add_argument("--delete", type=Path, help="delete this wheel from the watched folder")
    parser.add_argument("--keep-backups", type=int, default=3, help="keep_backups")
    parser.add_argument("--hold", action="store_true", help="wait for stdin to close, then stop")
    args = parser.parse_args(argv)

    host = PluginHost(
        greeter.PROJECT,
        specs=[greeter.GreeterSpec],
        home=args.home,
        watch=args.watch,
        api_version=greeter.API_VERSION,
        environment=False,
        persist_state=args.persist,
        keep_backups=args.keep_backups,
    )
    try:
        host.start()
    except HostStateError as exc:
        say("refused", type=type(exc).__name__, error=str(exc))
        return REFUSED
    try:
        for _ in range(args.calls):
            host.hook.greet(name="x")
        if args.report:
            say("report", **report(host))
        say("ready", pid=os.getpid(), exported=host.hook.pluginhost_export_state())
        if not change(host, args):
            say("timeout")
            return 1
        if args.hold:
            sys.stdin.read()
    finally:
        host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
