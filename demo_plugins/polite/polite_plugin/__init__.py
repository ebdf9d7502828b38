"""Demo greeter plugin: polite greetings, loaded after hello, which it requires."""

import pluggy

hookimpl = pluggy.HookimplMarker("greeter")


@hookimpl
def greet(name):
    return f"Pleased to meet you, {name}."


@hookimpl
def farewell(name):
    return f"Goodbye, {name}, and thank you."


@hookimpl
def pluginhost_activate(host):
    # A dependency is active before its dependents are activated.
    assert "hello" in host.load_order()
