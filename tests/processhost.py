"""Process plugins for the host's tests: their code, their manifests, and waiting for workers."""

from __future__ import annotations

from pluginhost import Event, EventKind, PluginHost
from pluginhost.testing import WheelFactory

#: A greeter plugin that counts its calls (its state), and dies on request: ``greet("exit")``
#: calls ``os._exit(3)``, ``greet("segv")`` reads address 0 through ctypes.
COUNTER = """
import ctypes, os, pluggy
hookimpl = pluggy.HookimplMarker("greeter")
count = 0

@hookimpl
def greet(name):
    global count
    if name == "exit":
        os._exit(3)
    if name == "segv":
        ctypes.string_at(0)
    count += 1
    return f"{PREFIX} {name} #{count} from {os.getpid()}"

@hookimpl
def pluginhost_export_state():
    return {"count": count}

@hookimpl
def pluginhost_import_state(state, previous_version):
    global count
    count = state["count"] if state else 0
"""


def counter(prefix: str = "hi", *, more: str = "") -> str:
    """The code of :data:`COUNTER`, answering with ``prefix``, plus ``more``."""
    return f"PREFIX = {prefix!r}\n{COUNTER}\n{more}"


def process_manifest(name: str, version: str = "1.0.0", resources: str = "") -> str:
    """A ``plugin.toml`` asking for a worker process, with ``[plugin.resources]`` lines."""
    text = f'[plugin]\nname = "{name}"\nversion = "{version}"\nisolation = "process"\n'
    return text + (f"[plugin.resources]\n{resources}\n" if resources else "")


def build(
    factory: WheelFactory, name: str, version: str = "1.0.0", *, code: str, resources: str = ""
) -> None:
    """A process plugin's wheel in ``factory``'s folder."""
    manifest = process_manifest(name, version, resources)
    factory.build(name, version, code=code, manifest=manifest)


def kinds(events: list[Event], plugin: str) -> list[EventKind]:
    """The kinds of ``plugin``'s events, in order."""
    return [e.kind for e in events if e.plugin == plugin]


def serving(host: PluginHost, name: str, restarts: int = 0) -> bool:
    """Whether ``name``'s worker serves (it has a pid) after ``restarts`` restarts."""
    info = host.plugins.get(name)
    return info is not None and info.pid is not None and info.restarts == restarts
