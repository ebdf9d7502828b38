"""``pluginhost call HOOK [key=value ...]``: each implementation's answer, from a running host.

The call goes through ``HOME/control/`` to the host started with ``pluginhost run``
(:mod:`pluginhost.host.control`), which calls each implementation on its own, outside its lock,
bounded by its health timeout (:mod:`pluginhost.host.calls`).

Arguments are ``key=value``: the value is read as a JSON literal when it is one (``n=3``,
``flag=true``, ``names='["a","b"]'``, ``name='"42"'`` for the string 42), and as the plain
string otherwise (``name=Ada``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from ...host.control import send_request
from ...model.errors import PluginHostError
from ..common import EXIT_OK, EXIT_PROBLEMS, UsageError, home, print_json, say

__all__ = ["parse_arguments", "run"]


def parse_arguments(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` arguments as keyword arguments (see the module docstring for values).

    :raises UsageError: for an item without ``=``, a key that is not a Python name, a key
        given twice, or a JSON value nested deeper than the interpreter's recursion limit.
    """
    kwargs: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"argument {item!r} is not key=value (key a Python name)")
        if key in kwargs:
            raise UsageError(f"argument {key!r} given twice")
        kwargs[key] = _value(key, text)
    return kwargs


def _value(key: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
    except RecursionError:
        raise UsageError(f"argument {key!r}: its JSON value is nested too deeply") from None


def run(args: argparse.Namespace) -> int:
    """Ask the running host for every answer to ``args.hook`` and print them.

    Exit 0 when every implementation answered, 3 when one raised.

    :raises PluginHostError: when no host answers, or it cannot make the call.
    """
    kwargs = parse_arguments(args.arguments)
    result = send_request(
        home(args), "call", args.hook, timeout=args.timeout, hook=args.hook, kwargs=kwargs
    )
    if args.json:
        print_json(result)
    if not result["ok"]:
        raise PluginHostError(result["error"] or "the host refused the call")
    answers = result["answers"]
    if not args.json:
        if not answers:
            say(f"{args.hook}: no plugin implements it")
        for answer in answers:
            say(f"{answer['plugin']} {answer['version'] or '-'}: {answer_text(answer)}")
    return EXIT_OK if all(a["ok"] for a in answers) else EXIT_PROBLEMS


def answer_text(answer: dict[str, Any]) -> str:
    """One answer for people: its JSON, its repr and type, or what it raised."""
    if not answer["ok"]:
        # No type: the host's own reason (a result too large to send), not the plugin's error.
        return f"raised {answer['error']}" if answer["error_type"] else str(answer["error"])
    if answer["repr"] is not None:
        return f"{answer['repr']} (a {answer['type']}, not JSON)"
    return json.dumps(answer["result"])
