"""Demo greeter plugin: says hello and counts the greetings it gave."""

import itertools

import pluggy

hookimpl = pluggy.HookimplMarker("greeter")

VERSION = "1.0.0"
_counter = itertools.count(1)
greeted = 0


@hookimpl
def greet(name):
    global greeted
    greeted = next(_counter)
    return f"Hello, {name}! (hello {VERSION}, greeting #{greeted})"


@hookimpl
def pluginhost_export_state():
    return {"greeted": greeted}


@hookimpl
def pluginhost_import_state(state, previous_version):
    global _counter, greeted
    greeted = int(state["greeted"])
    _counter = itertools.count(greeted + 1)
