"""Demo greeter plugin that needs a translator plugin nobody has installed."""

import pluggy

hookimpl = pluggy.HookimplMarker("greeter")


@hookimpl
def greet(name):
    return f"Hola, {name}."
