"""The ``pluginhost`` command: parsing, dispatch, output and exit codes.

Each command's work lives in its own module, imported only when the command runs, so that
``pluginhost --help`` starts fast; this module only turns arguments into calls and results into
lines (or JSON) and exit codes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Final

from ..model.errors import PluginHostError

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_PROBLEMS: Final = 3

_EXIT_CODES: Final = f"""\
exit codes:
  {EXIT_OK}  success
  {EXIT_ERROR}  error: one line on stderr says what (a traceback too with --debug)
  {EXIT_USAGE}  usage error: bad arguments
  {EXIT_PROBLEMS}  problems found (inspect: a wheel would be refused; doctor: the home has
     problems)"""

_HOME_HELP: Final = (
    "the host's home; default: the home of --config, or of ./pluginhost.toml if it exists"
)
_RUNNING: Final = (
    "It only reads the home, and is safe while a host runs on it: every answer comes from one "
    "document that the host replaces atomically after each change."
)


class _UsageError(Exception):
    """Bad arguments found after parsing (exit 2)."""


def _epilog(extra: str = "") -> str:
    return f"{extra}\n\n{_EXIT_CODES}" if extra else _EXIT_CODES


def _parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="pluginhost",
        description="Discover, resolve, install and hot-swap pluggy plugin wheels.",
        epilog=_epilog(),
        formatter_class=raw,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_: str, extra: str = "") -> argparse.ArgumentParser:
        cmd = sub.add_parser(
            name, help=help_, description=help_, epilog=_epilog(extra), formatter_class=raw
        )
        # Also accepted after the command; SUPPRESS keeps it from resetting a --debug before it.
        cmd.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        return cmd

    demo = command("demo", "build the demo plugins and show the whole pipeline")
    demo.add_argument("--keep", type=Path, metavar="DIR", help="leave the home and wheels in DIR")

    inspect = command(
        "inspect",
        "validate wheels without importing them; show what they declare and what would refuse them",
        "Exit 3 when any wheel would be refused.",
    )
    inspect.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL")
    inspect.add_argument("--group", help="the host's entry-point group (default: the wheel's)")
    inspect.add_argument("--project", help="the host's pluggy project (group PROJECT.plugins)")
    inspect.add_argument("--api-version", help="also check the host constraint against this API")
    _add_json(inspect)

    run = command(
        "run",
        "run a host from a config file, logging events until SIGINT or SIGTERM",
        "The config is a pluginhost.toml ([pluginhost] table) or a pyproject.toml\n"
        "([tool.pluginhost]). The host serves `pluginhost rollback` and `remove` through\n"
        "HOME/control/. Exit 0 after a clean stop on SIGINT/SIGTERM.",
    )
    run.add_argument("--config", type=Path, required=True, metavar="FILE")
    run.add_argument("--json", action="store_true", help="print events as JSON lines")

    listing = command("list", "list the plugins of a host's home", _RUNNING)
    _add_home(listing)
    status = command("status", "show one plugin: state, history, backups", _RUNNING)
    status.add_argument("name", metavar="NAME")
    _add_home(status)
    graph = command("graph", "show the load order and who requires what", _RUNNING)
    _add_home(graph, json_flag=False)
    output = graph.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON")
    output.add_argument("--dot", action="store_true", help="print Graphviz DOT")
    doctor = command(
        "doctor",
        "check a home: unresolved plugins, conflicts, cycles, refusals, leaks, files, rights,"
        " trust, audit",
        f"{_RUNNING}\nExit 3 when a problem is found.",
    )
    _add_home(doctor)

    audit = command(
        "audit",
        "show a home's audit log: every install, swap, rollback, unload, removal and refusal",
        "Lines come oldest first. --verify checks that no line was changed, removed or\n"
        "reordered since it was written (exit 3 when one was).",
    )
    _add_home(audit)
    audit.add_argument("--plugin", metavar="NAME", help="only the entries of this plugin")
    audit.add_argument("--action", help="only this action (install, swap, refusal, ...)")
    audit.add_argument("--tail", type=int, metavar="N", help="only the last N entries")
    audit.add_argument("--verify", action="store_true", help="check the log's hash chain")

    for action in ("rollback", "remove"):
        verb = "roll back" if action == "rollback" else "remove"
        cmd = command(
            action,
            f"{verb} a plugin on the host running on a home",
            "The request goes through HOME/control/ to the host started with `pluginhost run`,\n"
            "which performs it under its lock. When no host runs on HOME, nothing is done\n"
            "(exit 1): start one with `pluginhost run`.",
        )
        cmd.add_argument("name", metavar="NAME")
        _add_home(cmd)
        cmd.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (60)")

    new = command(
        "new",
        "scaffold a plugin project (pyproject, plugin.toml, hookimpl stubs, a test)",
        "Build it with `pip wheel --no-deps --no-build-isolation DIR` and drop the wheel\n"
        "into a folder a host watches.",
    )
    new.add_argument("name", metavar="NAME")
    new.add_argument("--dir", type=Path, help="where to write it (default: ./NAME-plugin)")
    new.add_argument("--project", default="greeter", help="the host's pluggy project (greeter)")
    new.add_argument(
        "--hookspec",
        help="the host's hookspecs, module:Class or module (default: the demo greeter's)",
    )
    new.add_argument("--api-version", help="host API version (default: the hookspec module's)")
    _add_json(new)
    return parser


def _add_json(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--json", action="store_true", help="print JSON")


def _add_home(cmd: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    where = cmd.add_mutually_exclusive_group()
    where.add_argument("--home", type=Path, help=_HOME_HELP)
    where.add_argument("--config", type=Path, metavar="FILE", help="take the home from FILE")
    if json_flag:
        _add_json(cmd)


# -- output ------------------------------------------------------------------------------------


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def _say(text: str) -> None:
    print(text, flush=True)


def _note(text: str) -> None:
    print(f"pluginhost: {text}", file=sys.stderr, flush=True)


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        _say("  ".join([*cells, row[-1]]).rstrip())


# -- commands ----------------------------------------------------------------------------------


def _home(args: argparse.Namespace) -> Path:
    if args.home is not None:
        return Path(args.home)
    from ..host.config_file import HostConfig

    config = args.config
    if config is None:
        default = Path("pluginhost.toml")
        if not default.is_file():
            raise _UsageError("no home given: use --home DIR or --config FILE")
        config = default
    return HostConfig.from_file(config).resolved_home


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(keep=args.keep)


def _cmd_inspect(args: argparse.Namespace) -> int:
    from ..model.errors import VersionError
    from .inspect import describe, inspect_file

    group = args.group or (f"{args.project}.plugins" if args.project else None)
    try:
        reports = [inspect_file(p, group=group, api_version=args.api_version) for p in args.wheels]
    except VersionError as exc:
        raise _UsageError(f"--api-version: {exc.reason}") from exc
    if args.json:
        _print_json(reports)
    for report in [] if args.json else reports:
        for line in describe(report):
            _say(line)
    return EXIT_OK if all(r["ok"] for r in reports) else EXIT_PROBLEMS


def _cmd_run(args: argparse.Namespace) -> int:
    from ..host.config_file import HostConfig
    from ..host.control import ControlServer
    from ..model.events import Event

    config = HostConfig.from_file(args.config)
    host = config.make_host()

    def show(event: Event) -> None:
        if args.json:
            print(json.dumps({"kind": str(event.kind), "text": event.describe()}), flush=True)
        else:
            _say(f"{time.strftime('%H:%M:%S')}  {event.describe()}")

    host.subscribe(show)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, _setter(stop)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        host.start()
        server = ControlServer(host)
        server.start()
        watched = ", ".join(str(f.path) for f in host.folders) or "no folder"
        _note(f"serving {host.project} from {host.home} (pid {os.getpid()}), watching {watched}")
        while not stop.wait(0.2):
            pass
        _note("stopping")
        server.stop()
    finally:
        host.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _note("stopped")
    return EXIT_OK


def _setter(stop: threading.Event) -> Callable[[int, FrameType | None], None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return handle


def _cmd_list(args: argparse.Namespace) -> int:
    from .report import plugin_rows, read_home

    rows = plugin_rows(read_home(_home(args)))
    if args.json:
        _print_json(rows)
    elif not rows:
        _say("no plugins")
    else:
        header = [["NAME", "VERSION", "STATE", "ORIGIN / ERROR"]]
        body = [[r["name"], r["version"], r["state"], r["error"] or r["origin"]] for r in rows]
        _table(header + body)
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    from .report import plugin_status, read_home, status_lines

    entry = plugin_status(read_home(_home(args)), args.name)
    if args.json:
        _print_json(entry)
        return EXIT_OK
    for line in status_lines(entry):
        _say(line)
    return EXIT_OK


def _cmd_graph(args: argparse.Namespace) -> int:
    from .report import graph_dot, graph_report, read_home

    graph = graph_report(read_home(_home(args)))
    if args.json:
        _print_json(graph)
    elif args.dot:
        sys.stdout.write(graph_dot(graph))
    else:
        _say("load order (dependencies first): " + (" -> ".join(graph["load_order"]) or "-"))
        for name, node in graph["plugins"].items():
            needs = [_edge_text(e) for e in node["requires"]]
            needs += [_edge_text(e) + " (optional)" for e in node["optional"]]
            _say(f"  {name} {node['version']} requires {', '.join(needs) or 'nothing'}")
    return EXIT_OK


def _edge_text(edge: dict[str, Any]) -> str:
    have = edge["active_version"]
    return f"{edge['name']} {edge['constraint']} [{have or 'not active'}]"


def _cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import diagnose
    from .report import read_home

    findings = diagnose(read_home(_home(args)))
    problems = [f for f in findings if not f.ok]
    if args.json:
        _print_json({"ok": not problems, "findings": [f.to_json() for f in findings]})
    else:
        for f in findings:
            _say(f"{'ok' if f.ok else 'PROBLEM':<8} {f.check:<15} {f.message}")
        _say(f"{len(problems)} problem(s) found" if problems else "no problems found")
    return EXIT_PROBLEMS if problems else EXIT_OK


def _cmd_audit(args: argparse.Namespace) -> int:
    from ..state.audit import AUDIT_NAME, AuditEntry, read_audit, verify_audit

    path = _home(args) / AUDIT_NAME
    if not path.is_file():
        raise PluginHostError("no audit log: no host has started on this home", path=path)
    if args.verify:
        faults = verify_audit(path)
        for fault in faults:
            _say(f"PROBLEM  {fault}")
        _say(f"{len(faults)} problem(s) found" if faults else "audit log intact")
        return EXIT_PROBLEMS if faults else EXIT_OK
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
            _say(json.dumps(e.to_json(), sort_keys=True) if args.json else e.describe())
        else:
            _say(json.dumps({"unreadable": e}) if args.json else f"unreadable line: {e}")
    return EXIT_OK


def _cmd_control(args: argparse.Namespace) -> int:
    from ..host.control import send_request

    home = _home(args)
    result = send_request(home, args.command, args.name, timeout=args.timeout)
    if args.json:
        _print_json(result)
    if not result["ok"]:
        raise PluginHostError(result["error"] or "the host refused the request")
    if not args.json:
        info = result["info"]
        done = "rolled back to" if args.command == "rollback" else "removed"
        version = f" {info['version']}" if info else ""
        _say(f"{args.name}: {done}{version}")
    return EXIT_OK


def _cmd_new(args: argparse.Namespace) -> int:
    from .scaffold import DEFAULT_HOOKSPEC, scaffold

    target = args.dir or Path(f"{args.name}-plugin")
    files = scaffold(
        args.name,
        target,
        project=args.project,
        hookspec=args.hookspec or DEFAULT_HOOKSPEC,
        api_version=args.api_version,
    )
    if args.json:
        _print_json({"dir": str(target), "files": [str(f) for f in files]})
    else:
        for f in files:
            _say(f"wrote {f}")
        # pip reads a bare name as a project to fetch: a path must look like one.
        where = str(target) if target.is_absolute() else f"./{target}"
        _say(f"next: pip wheel --no-deps --no-build-isolation -w wheels {where}")
    return EXIT_OK


_COMMANDS: Final[dict[str, Callable[[argparse.Namespace], int]]] = {
    "demo": _cmd_demo,
    "inspect": _cmd_inspect,
    "run": _cmd_run,
    "list": _cmd_list,
    "status": _cmd_status,
    "graph": _cmd_graph,
    "doctor": _cmd_doctor,
    "audit": _cmd_audit,
    "rollback": _cmd_control,
    "remove": _cmd_control,
    "new": _cmd_new,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.ERROR,
        format="pluginhost: %(levelname)s: %(message)s",
    )
    try:
        return _COMMANDS[args.command](args)
    except _UsageError as exc:
        _note(f"error: {exc}")
        return EXIT_USAGE
    except PluginHostError as exc:
        if args.debug:
            raise
        _note(f"error: {exc}")
        return EXIT_ERROR
    except Exception as exc:
        if args.debug:
            raise
        _note(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        return EXIT_ERROR
