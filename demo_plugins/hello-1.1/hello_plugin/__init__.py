"""Demo greeter plugin, version 1.1: a new greeting; the numbering goes on from 1.0."""

import itertools

import pluggy

hookimpl = pluggy.HookimplMarker("greeter")

VERSION = "1.1.0"
# Replaced by the previous version's counter when this one is hot-swapped in; a fresh start
# (no earlier version running) counts from 1.
_counter = itertools.count(1)


@hookimpl
def greet(name):
    number = next(_counter)
    return f"Hello again, {name}! (hello {VERSION}, greeting #{number})"


@hookimpl
def pluginhost_export_state():
    # The live counter (atomic ``next()`` in CPython), so that calls finishing on this
    # version during a swap never reuse a number the next version gives.
    return {"counter": _counter}


@hookimpl
def pluginhost_import_state(state, previous_version):
    global _counter
    _counter = state["counter"]


@hookimpl
def pluginhost_health():
    return True
