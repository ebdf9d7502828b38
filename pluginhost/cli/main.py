"""The ``pluginhost`` command: the argument parser, and ``main()``, which runs one command.

Each command lives in its own module of :mod:`pluginhost.cli.commands`, imported only when the
command runs, so that ``pluginhost --help`` starts fast; this module turns the command line into
a call of that module's ``run(args)``, and errors into one line on stderr and an exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, NoReturn

from ..model.errors import PluginHostError
from .common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    PrintableFormatter,
    UsageError,
    error_document,
    failed,
    note,
    say,
)
from .interrupts import Interrupts
from .pipe import ClosedPipeGuard, silence
from .run_options import add_run_options
from .streams import escaped_output

__all__ = ["main"]

_EXIT_CODES: Final = f"""\
exit codes:
  {EXIT_OK}  success
  {EXIT_ERROR}  error: one line on stderr says what (a traceback too with --debug)
  {EXIT_USAGE}  usage error: bad arguments
  {EXIT_PROBLEMS}  problems found (inspect: a wheel would be refused; doctor: the home has
     problems; audit --verify: the log was damaged; call: an implementation raised)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C; run and dev stop cleanly instead: 0)
  {EXIT_PIPE}  stdout closed early (`pluginhost list | head -2`), silently, as git does"""

_HOME_HELP: Final = (
    "the host's home; default: the home of --config, or of ./pluginhost.toml if it exists"
)
_RUNNING: Final = (
    "It only reads the home, and is safe while a host runs on it: every answer comes from one "
    "document that the host replaces atomically after each change."
)


def _epilog(extra: str = "") -> str:
    return f"{extra}\n\n{_EXIT_CODES}" if extra else _EXIT_CODES


def _parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="pluginhost",
        description="Discover, resolve, install and hot-swap pluggy plugin wheels.",
        epilog=_epilog(),
        formatter_class=raw,
    )
    _add_globals(parser)
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
    demo.add_argument(
        "--keep", type=Path, metavar="DIR", help="leave the home and wheels in DIR (new or empty)"
    )

    inspect = command(
        "inspect",
        "validate wheels without importing them; show what they declare and what would refuse them",
        "Exit 3 when any wheel would be refused.",
    )
    inspect.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL")
    inspect.add_argument(
        "--group",
        help="the host's entry-point group (default: the wheel's one *.plugins group, else its "
        "one group but scripts, such as pytest11)",
    )
    inspect.add_argument("--project", help="the host's pluggy project (group PROJECT.plugins)")
    inspect.add_argument("--api-version", help="also check the host constraint against this API")
    _add_json(inspect)

    run = command(
        "run",
        "run a host from a config file, logging events until SIGINT or SIGTERM",
        "The config is a pluginhost.toml ([pluginhost] table) or a pyproject.toml\n"
        "([tool.pluginhost]). The host serves `pluginhost rollback`, `remove`, `unpin`,\n"
        "`disable`, `enable`, `restart` and `call` through HOME/control/. Exit 0 after\n"
        "a clean stop on SIGINT/SIGTERM.",
    )
    run.add_argument(
        "--config",
        type=Path,
        required=True,
        metavar="FILE",
        help="the host's pluginhost.toml: project, specs, home, folders and every setting",
    )
    run.add_argument("--json", action="store_true", help="print events as JSON lines")
    _add_loudness(run)
    add_run_options(run)

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

    _add_audit(command)

    verbs = {
        "rollback": "roll back a plugin",
        "remove": "remove a plugin",
        "unpin": "unpin a plugin that install() of an older wheel pinned",
        "disable": "disable a plugin (unloaded, its wheel kept, until enabled; persists)",
        "enable": "enable a plugin disabled before",
        "restart": "restart a process plugin's worker (one quarantined after crashes, too)",
    }
    for action, verb in verbs.items():
        cmd = command(
            action,
            f"{verb} on the host running on a home"
            + (" (or for its next start)" if action in ("disable", "enable") else ""),
            "The request goes through HOME/control/ to the host started with `pluginhost run`,\n"
            "which performs it under its lock. When no host runs on HOME, nothing is done\n"
            "(exit 1): start one with `pluginhost run`"
            + (
                "; except for disable and enable,\nwhich are then recorded in HOME for its "
                "next start."
                if action in ("disable", "enable")
                else "."
            ),
        )
        _add_name_and_home(cmd)
        cmd.add_argument("--timeout", type=_seconds, default=60.0, help="seconds to wait (60)")

    _add_call(command("call", _CALL_HELP, _CALL_EPILOG))

    _add_name_and_home(
        command(
            "release",
            "let the versions of a plugin quarantined for crashing the host while loading be"
            " tried again",
            "Removes their entries from HOME/quarantine/; works with or without a host running\n"
            "(a running host tries them again within its rescan interval). Removing the wheel\n"
            "lifts the quarantine too. Exit 1 when no version of NAME is quarantined.",
        )
    )

    _add_new(command)
    _add_dev(command("dev", _DEV_HELP, _DEV_EPILOG))

    _add_completion(command)
    return parser


def _add_audit(command: Callable[..., argparse.ArgumentParser]) -> None:
    audit = command(
        "audit",
        "show a home's audit log: every install, swap, rollback, unload, removal and refusal",
        "Lines come oldest first. --verify checks that no line was changed, removed or\n"
        "reordered since it was written (exit 3 when one was).",
    )
    _add_home(audit)
    audit.add_argument("--plugin", metavar="NAME", help="only the entries of this plugin")
    audit.add_argument("--action", help="only this action (install, swap, refusal, ...)")
    audit.add_argument("--tail", type=_count, metavar="N", help="only the last N entries")
    audit.add_argument("--verify", action="store_true", help="check the log's hash chain")


def _add_new(command: Callable[..., argparse.ArgumentParser]) -> None:
    new = command(
        "new",
        "scaffold a plugin project (pyproject, plugin.toml, hookimpl stubs, a test)",
        "Build it with `python -m pip wheel --no-deps --no-build-isolation DIR` and drop\n"
        "the wheel into a folder a host watches; with --with-host, `pluginhost run\n"
        "--config DIR/pluginhost.toml` and `pluginhost dev DIR` do both on each save.",
    )
    new.add_argument("name", metavar="NAME")
    new.add_argument("--dir", type=Path, help="where to write it (default: ./NAME-plugin)")
    new.add_argument("--project", default="greeter", help="the host's pluggy project (greeter)")
    new.add_argument(
        "--hookspec",
        help="the host's hookspecs, module:Class or module (default: the demo greeter's)",
    )
    new.add_argument("--api-version", help="host API version (default: the hookspec module's)")
    new.add_argument("--with-host", action="store_true", help=_WITH_HOST_HELP)
    _add_json(new)


def _add_completion(command: Callable[..., argparse.ArgumentParser]) -> None:
    completion = command(
        "completion",
        "print a shell completion script for bash, zsh or fish",
        'bash: eval "$(pluginhost completion bash)" in ~/.bashrc\n'
        'zsh:  eval "$(pluginhost completion zsh)" in ~/.zshrc (after compinit)\n'
        "fish: pluginhost completion fish > ~/.config/fish/completions/pluginhost.fish",
    )
    completion.add_argument("shell", choices=["bash", "zsh", "fish"])


class _ArgumentsError(Exception):
    """Bad arguments, found by argparse in the parser ``parser``."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors come back to :func:`main` rather than exiting, so that
    a command asked for ``--json`` answers bad arguments in JSON too."""

    def error(self, message: str) -> NoReturn:
        raise _ArgumentsError(self, message)


def _add_globals(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument(
        "--version", action=_Version, nargs=0, help="print the version of pluginhost and exit"
    )


class _Version(argparse.Action):
    """``--version``: the installed distribution's version, read only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        version = importlib.import_module("pluginhost").__version__
        print(f"pluginhost {version}")
        parser.exit()


def _add_loudness(cmd: argparse.ArgumentParser) -> None:
    loud = cmd.add_mutually_exclusive_group()
    loud.add_argument(
        "-v", "--verbose", action="count", default=0, help="also info (-v) and debug (-vv) logs"
    )
    loud.add_argument("-q", "--quiet", action="store_true", help="only errors, no warnings")


_CALL_HELP: Final = (
    "call a hook on the host running on a home: each plugin's answer, with its version"
)
_CALL_EPILOG: Final = (
    "Arguments are key=value; a value is read as a JSON literal when it is one (n=3,\n"
    "flag=true, items='[1,2]', name='\"42\"'), else as a string (name=Ada).\n"
    "The call goes through HOME/control/ to the host started with `pluginhost run`.\n"
    "Exit 3 when an implementation raised."
)


def _add_call(call: argparse.ArgumentParser) -> None:
    call.add_argument("hook", metavar="HOOK")
    call.add_argument("arguments", nargs="*", metavar="KEY=VALUE")
    _add_home(call)
    call.add_argument("--timeout", type=_seconds, default=60.0, help="seconds to wait (60)")


_WITH_HOST_HELP: Final = (
    "also write a pluginhost.toml for a host watching DIR/wheels/, and that folder"
)
_DEV_HELP: Final = "rebuild a plugin on each save and drop it into a running host's watched folder"
_DEV_EPILOG: Final = (
    "Each build is labelled RELEASE+dev.N (N one more each time), so that the host swaps to\n"
    "it; the wheel is renamed into the folder in one step, and the command waits until the\n"
    "host serves it or says why not. A failed build or load leaves the serving version\n"
    "serving. The folder and home come from --config, else DIR/pluginhost.toml or\n"
    "./pluginhost.toml (as written by `pluginhost new --with-host`). Exit 1 when --once\n"
    "fails."
)


def _add_dev(dev: argparse.ArgumentParser) -> None:
    dev.add_argument("dir", type=Path, metavar="DIR", help="the plugin project (pyproject.toml)")
    dev.add_argument("--config", type=Path, metavar="FILE", help="the host's pluginhost.toml")
    dev.add_argument("--into", type=Path, metavar="FOLDER", help="drop wheels here instead")
    dev.add_argument("--once", action="store_true", help="build and drop once, then exit")
    dev.add_argument(
        "--debounce", type=_quiet, default=0.3, help="seconds of quiet before a rebuild (0.3)"
    )
    dev.add_argument(
        "--wait", type=_seconds, default=15.0, help="seconds to wait for the host to take it (15)"
    )


def _add_name_and_home(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("name", metavar="NAME")
    _add_home(cmd)


def _add_json(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--json", action="store_true", help="print JSON")


def _add_home(cmd: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    where = cmd.add_mutually_exclusive_group()
    where.add_argument("--home", type=Path, help=_HOME_HELP)
    where.add_argument("--config", type=Path, metavar="FILE", help="take the home from FILE")
    if json_flag:
        _add_json(cmd)


# The module of pluginhost.cli.commands that runs each command.
_MODULES: Final = {
    "demo": "demo",
    "inspect": "inspect",
    "run": "run",
    "list": "list",
    "status": "status",
    "graph": "graph",
    "doctor": "doctor",
    "audit": "audit",
    "rollback": "control",
    "remove": "control",
    "unpin": "control",
    "disable": "control",
    "enable": "control",
    "restart": "control",
    "call": "call",
    "release": "release",
    "new": "new",
    "completion": "completion",
    "dev": "dev",
}


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    """The ``run`` function of the command's module, imported now and only now."""
    module = importlib.import_module(f"{__package__}.commands.{_MODULES[name]}")
    run: Callable[[argparse.Namespace], int] = module.run
    return run


def _count(text: str) -> int:
    """A number of entries, 0 or more (``--tail -1`` printed nothing and exited 0)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _seconds(text: str) -> float:
    """A time to wait, more than 0 (``nan`` and ``-1`` wrote a request and withdrew it at once,
    as if the host had not answered)."""
    value = _quiet(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text} is not more than 0 seconds")
    return value


def _quiet(text: str) -> float:
    """A number of seconds, 0 or more, and finite."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a finite number of seconds, 0 or more")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Ctrl-C ends it with exit 130 and no traceback; a reader that closes stdout early ends it
    silently with exit 141, as git (killed by SIGPIPE) does (:mod:`.pipe`).
    """
    guard = ClosedPipeGuard(sys.stdout)
    sys.stdout = guard
    try:
        with escaped_output(guard.inner, sys.stderr):
            with Interrupts() as interrupts:
                code = _main(argv, guard)
            # What stdout still buffers goes out here, through the guard (before the streams'
            # settings are put back, which flushes too), where a reader gone is caught and
            # said by the exit code, not at the interpreter's exit ("Exception ignored ...
            # BrokenPipeError").
            with contextlib.suppress(BrokenPipeError):  # the guard has recorded it: exit 141
                guard.flush()
    finally:
        sys.stdout = guard.inner
    if guard.reader_gone:
        return EXIT_PIPE
    # A Ctrl-C whose KeyboardInterrupt Python dropped (see .interrupts) still ends with 130.
    return EXIT_INTERRUPTED if interrupts.lost and code == 0 else code


def _main(argv: Sequence[str] | None, guard: ClosedPipeGuard) -> int:
    debug = False
    try:
        parser = _parser()
        args = _parse(parser, argv)
        debug = args.debug
        logging.basicConfig(
            level=logging.DEBUG if debug else logging.ERROR,
            format="pluginhost: %(levelname)s: %(message)s",
        )
        for handler in logging.getLogger().handlers:
            handler.addFilter(guard.quiet_log)
            handler.setFormatter(PrintableFormatter("pluginhost: %(levelname)s: %(message)s"))
        args.parser = parser
        return _run(args)
    except KeyboardInterrupt:
        if debug:
            raise
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        if not guard.reader_gone:  # written past the guard
            silence(guard.inner)
        return EXIT_PIPE
    finally:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(guard.quiet_log)


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The parsed arguments; bad ones exit 2 as argparse exits, with a JSON error document on
    stdout too when ``--json`` is among them."""
    try:
        return parser.parse_args(argv)
    except _ArgumentsError as exc:
        exc.parser.print_usage(sys.stderr)
        note(f"error: {exc}")
        words = sys.argv[1:] if argv is None else list(argv)
        if "--json" in words:
            command = next((w for w in words if w in _MODULES), "pluginhost")
            say(json.dumps(error_document(command, str(exc), EXIT_USAGE)))
        raise SystemExit(EXIT_USAGE) from None


def _run(args: argparse.Namespace) -> int:
    try:
        return _command(args.command)(args)
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except UsageError as exc:
        return failed(args, f"error: {exc}", EXIT_USAGE)
    except PluginHostError as exc:
        if args.debug:
            raise
        return failed(args, f"error: {exc}", EXIT_ERROR)
    except OSError as exc:
        # A file the command was pointed at, or one it writes: the system's words, one line.
        if args.debug:
            raise
        return failed(args, f"error: {_os_error(exc)}", EXIT_ERROR)
    except Exception as exc:
        if args.debug:
            raise
        text = f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)"
        return failed(args, text, EXIT_ERROR)


def _os_error(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename is not None else ""
    return f"{where}{exc.strerror or exc}"
