"""A catalogue of misbehaving plugin code, for tests of hosts (ours and yours).

:func:`misbehaving_code` writes the ``__init__.py`` of a plugin whose lifecycle hooks all behave
except at one stage, where it does one of :data:`MISBEHAVIOURS`. Threads it starts and steps that
hang wait for :func:`release_misbehaving` (or their ``hang`` time), so a test can end them.
Re-exported by :mod:`pluginhost.testing`.
"""

from __future__ import annotations

import builtins
import textwrap
import threading
from typing import Final

__all__ = ["MISBEHAVING_STAGES", "MISBEHAVIOURS", "misbehaving_code", "release_misbehaving"]

#: Where a plugin can misbehave: at import, or in one of its lifecycle hooks. With
#: ``stage="call"`` no hook misbehaves: call ``misbehave()`` from one of your own hooks.
MISBEHAVING_STAGES: Final = (
    "import",
    "activate",
    "export_state",
    "import_state",
    "health",
    "deactivate",
    "call",
)

_RELEASE_KEY: Final = "_pluginhost_misbehave_release"

# The body of ``misbehave()`` for each behaviour; ``return`` gives the hook's return value.
_BODIES: Final = {
    # Raising, of every kind.
    "raise": "raise RuntimeError('misbehaving on purpose')",
    "exit": "raise SystemExit(3)",
    "interrupt": "raise KeyboardInterrupt",
    "unprintable": "raise Unprintable()",
    # Never returning (until released).
    "hang": "_release().wait(HANG)",
    # Returning what no caller can use: an object whose comparisons, repr and truth raise, and
    # a generator; at import, a module whose dir() raises, so its hooks cannot be collected.
    "garbage": "return Garbage()",
    "generator": "return (n for n in range(3))",
    # Side effects that outlive the step.
    # Explicitly non-daemon: a thread inherits daemon=True from the host's helper threads.
    "thread": "threading.Thread(target=_linger, name='misbehave-worker', daemon=False).start()",
    "daemon-thread": (
        "threading.Thread(target=_linger, name='misbehave-daemon', daemon=True).start()"
    ),
    "atexit": "atexit.register(_at_exit)",
    "patch-modules": "sys.modules['json'] = types.ModuleType('json')",
    "fake-module": (
        "sys.modules['misbehave_fake'] = types.ModuleType('misbehave_fake')\n"
        "sys.modules['misbehave_alias'] = sys.modules[__name__]"
    ),
    "meta-path": "sys.meta_path.insert(0, Finder())",
    "path-hook": "sys.path_hooks.insert(0, path_hook)",
    # The standard library's folder: cached already, its finder replaced by the plugin's.
    "path-cache": "sys.path_importer_cache[os.path.dirname(json.__path__[0])] = Finder()",
    # The same with the standard library's own finder, pointed at the plugin's folder.
    "path-cache-elsewhere": (
        "sys.path_importer_cache[os.path.dirname(json.__path__[0])] = "
        "importlib.machinery.FileFinder(os.path.dirname(__file__))"
    ),
    "sys-path": "sys.path.insert(0, os.path.dirname(__file__))",
    "stash-builtins": "builtins._misbehave_stash = misbehave",
    "stash-stdlib": "json._misbehave_stash = misbehave",
}

#: The behaviours :func:`misbehaving_code` knows, by name.
MISBEHAVIOURS: Final = tuple(_BODIES)

_TEMPLATE: Final = """\
import atexit, builtins, importlib.abc, json, os, sys, threading, types
import pluggy

hookimpl = pluggy.HookimplMarker({project!r})
VERSION = {version!r}
HANG = {hang!r}
STATE = {{"count": 0}}


def _release():
    return builtins.__dict__.setdefault({release_key!r}, threading.Event())


def _linger():
    _release().wait(HANG)


def _at_exit():
    pass


class Unprintable(Exception):
    def __str__(self):
        raise ValueError("no text for you")


class Garbage:
    def __eq__(self, other):
        raise RuntimeError("garbage compared")

    __hash__ = None

    def __repr__(self):
        raise RuntimeError("garbage printed")

    def __bool__(self):
        raise RuntimeError("garbage tested")


class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        return None


def path_hook(path):
    raise ImportError("not mine")


def misbehave():
{body}


{at_import}
@hookimpl
def pluginhost_activate(host):
    {activate}


@hookimpl
def pluginhost_export_state():
    {export_state}
    return dict(STATE)


@hookimpl
def pluginhost_import_state(state, previous_version):
    {import_state}
    STATE["count"] = state["count"]


@hookimpl
def pluginhost_health():
    {health}
    return True


@hookimpl
def pluginhost_deactivate(host):
    {deactivate}
"""


def misbehaving_code(
    stage: str,
    behaviour: str,
    *,
    project: str = "greeter",
    version: str = "1.0.0",
    hang: float = 30.0,
    body: str = "",
) -> str:
    """The ``__init__.py`` of a plugin that misbehaves at one stage.

    Its hooks keep a counter in ``STATE["count"]`` and hand it over on updates; add your own
    hook implementations with ``body`` (``hookimpl`` and ``STATE`` are defined)::

        code = misbehaving_code("activate", "thread", body=GREET)
        wheel_factory.build("hello", code=code)

    :param stage: one of :data:`MISBEHAVING_STAGES`.
    :param behaviour: one of :data:`MISBEHAVIOURS`.
    :param project: the pluggy project of the hook marker.
    :param version: ``VERSION`` in the module.
    :param hang: how long hanging steps and started threads wait at most for
        :func:`release_misbehaving` (seconds).
    :param body: more module code, appended.
    :raises ValueError: for an unknown stage or behaviour.
    """
    if stage not in MISBEHAVING_STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose from {MISBEHAVING_STAGES}")
    if behaviour not in _BODIES:
        raise ValueError(f"unknown behaviour {behaviour!r}; choose from {MISBEHAVIOURS}")
    body_text = _BODIES[behaviour]
    if stage == "import" and behaviour == "garbage":
        body_text = "pass"
    # Only the returning behaviours cut the hook short: the others misbehave, then do its job.
    call = "return misbehave()" if behaviour in ("garbage", "generator") else "misbehave()"
    hooks = {s: call if s == stage else "pass" for s in MISBEHAVING_STAGES}
    at_import = "misbehave()\n" if stage == "import" else ""
    if stage == "import" and behaviour == "garbage":
        at_import = "def __dir__():\n    raise RuntimeError('no attributes for you')\n"
    code = _TEMPLATE.format(
        project=project,
        version=version,
        hang=hang,
        release_key=_RELEASE_KEY,
        body=textwrap.indent(body_text, "    "),
        at_import=at_import,
        activate=hooks["activate"],
        export_state=hooks["export_state"],
        import_state=hooks["import_state"],
        health=hooks["health"],
        deactivate=hooks["deactivate"],
    )
    return code + "\n" + textwrap.dedent(body)


def release_misbehaving() -> None:
    """Let every hanging step and started thread of the plugins of :func:`misbehaving_code`
    return; plugins loaded later hang again."""
    event = builtins.__dict__.pop(_RELEASE_KEY, None)
    if isinstance(event, threading.Event):
        event.set()
