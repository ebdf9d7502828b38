"""Demo greeter plugin, version 1.2: imports and greets, but fails its health check.

Dropped into a running host, it is switched in, found unhealthy and rolled back: the version
that was serving goes on, with its counter.
"""

import itertools

import pluggy

hookimpl = pluggy.HookimplMarker("greeter")

VERSION = "1.2.0"
_counter = itertools.count(1)


@hookimpl
def greet(name):
    number = next(_counter)
    return f"Hello, {name}! (hello {VERSION}, greeting #{number})"


@hookimpl
def pluginhost_export_state():
    return {"counter": _counter}


@hookimpl
def pluginhost_import_state(state, previous_version):
    global _counter
    _counter = state["counter"]


@hookimpl
def pluginhost_health():
    raise RuntimeError("cannot reach the greeting service (broken on purpose)")
