"""Demo greeter plugin: says hello and numbers the greetings it gives."""

import itertools

import pluggy

hookimpl = pluggy.HookimplMarker("greeter")

VERSION = "1.0.0"
# ``next()`` on an ``itertools.count`` is atomic in CPython, so threads calling ``greet`` at
# once never get the same number and never skip one.
_counter = itertools.count(1)


@hookimpl
def greet(name):
    number = next(_counter)
    return f"Hello, {name}! (hello {VERSION}, greeting #{number})"


@hookimpl
def pluginhost_export_state():
    # The live counter, not its current value: calls still running on this version between
    # the export and the switch draw from the same counter as the next version, so no number
    # is given twice. (Not JSON: a host with ``persist_state`` would need a number here.)
    return {"counter": _counter}


@hookimpl
def pluginhost_import_state(state, previous_version):
    global _counter
    _counter = state["counter"]
