"""Demo greeter plugin run in a worker process: says goodbye, and crashes on request."""

import os

import pluggy

hookimpl = pluggy.HookimplMarker("greeter")

_farewells = 0


@hookimpl
def farewell(name):
    global _farewells
    if name == "crash":
        os._exit(1)  # what a segfault or a fatal bug in a native library looks like
    _farewells += 1
    return f"Farewell, {name} (sturdy, worker pid {os.getpid()}, farewell #{_farewells})"


@hookimpl
def pluginhost_export_state():
    return {"farewells": _farewells}


@hookimpl
def pluginhost_import_state(state, previous_version):
    global _farewells
    _farewells = state["farewells"] if state else 0
