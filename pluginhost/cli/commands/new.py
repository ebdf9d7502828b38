"""``pluginhost new``: a plugin project for a given host, that builds and loads as generated.

The project uses flit_core (pure Python, no dependencies), declares its entry point in the host's
``<project>.plugins`` group, ships a ``plugin.toml``, implements every hook of the host's
hookspecs as a stub, and has a test that loads it in a real host with ``pluginhost.testing``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import re
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from ...model.errors import HostStateError, ManifestError
from ...model.versions import parse_version
from ..common import EXIT_OK, print_json, say

__all__ = ["DEFAULT_HOOKSPEC", "run", "scaffold"]

DEFAULT_HOOKSPEC: Final = "hookspecs.greeter:GreeterSpec"
_HOST_COMMENT: Final = "   # the host API versions it works with\n"
_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")

_PYPROJECT: Final = """\
[build-system]
requires = ["flit_core>=3.9,<5"]
build-backend = "flit_core.buildapi"

[project]
name = {dist}
version = "0.1.0"
description = {description}
requires-python = ">=3.10"
dependencies = ["pluggy"]

[project.entry-points.{group}]
{name} = {module}

[tool.flit.module]
name = {module}
"""

_MANIFEST: Final = """\
[plugin]
name = {name}
# version: the distribution's, from pyproject.toml (state it here only to check they agree)
{host}
[plugin.requires]          # other plugins this one needs, with semver constraints
# hello = "^1.0"
"""

_HOST_CONFIG: Final = """\
# A host to develop the plugin against: `pluginhost run --config pluginhost.toml`.
[pluginhost]
project = {project_q}
specs = [{hookspec_q}]
home = ".pluginhost-home"   # registry, site dirs, audit log (relative to this file)
watch = ["wheels"]          # built wheels go here: `pluginhost dev .` drops one on each save
environment = false         # only the wheels of wheels/, not plugins installed in this Python
{api_line}"""

_INIT: Final = '''\
"""The {name_raw} plugin for the {project} host."""

import pluggy

hookimpl = pluggy.HookimplMarker({project_q})

PLUGIN = {name_q}
{hooks}'''

_TEST: Final = '''\
"""Loads the {name_raw} plugin in a real host, as the host will.

Run with ``pytest`` from the project folder.
"""

import sys
from pathlib import Path

import pytest

from {spec_module} import {spec_attr} as SPEC
from pluginhost.testing import WheelFactory

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / {module_q}
MANIFEST = tomllib.loads((PACKAGE / "plugin.toml").read_text("utf-8"))["plugin"]
# The version lives in pyproject.toml only: the manifest takes the distribution's.
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]


@pytest.fixture(autouse=True)
def _not_on_sys_path(monkeypatch):
    # A host refuses plugin modules the environment already provides, and ``python -m pytest``
    # puts this folder on sys.path: the plugin must come from its wheel only.
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != ROOT])


def test_loads_and_answers(tmp_path, host_factory):
    wheels = WheelFactory(tmp_path / "wheels", group={group_q})
    wheels.build(
        MANIFEST["name"],
        VERSION,
        module=PACKAGE.name,
        distribution={dist_q},
        code=(PACKAGE / "__init__.py").read_text("utf-8"),
        manifest=(PACKAGE / "plugin.toml").read_text("utf-8"),
    )
    host = host_factory({project_q}, specs=[SPEC], watch=[wheels.directory]{api_arg})
    assert host.load_order() == (MANIFEST["name"],), host.problems()
{check}'''


def run(args: argparse.Namespace) -> int:
    """Write the project of :func:`scaffold` and say how to build it."""
    target = args.dir or Path(f"{args.name}-plugin")
    files = scaffold(
        args.name,
        target,
        project=args.project,
        hookspec=args.hookspec or DEFAULT_HOOKSPEC,
        api_version=args.api_version,
        with_host=args.with_host,
    )
    if args.json:
        print_json({"dir": str(target), "files": [str(f) for f in files]})
        return EXIT_OK
    for f in files:
        say(f"wrote {f}{'/' if f.is_dir() else ''}")
    if args.with_host:
        say(f"next: pluginhost run --config {target / 'pluginhost.toml'}   # one shell: the host")
        say(f"      pluginhost dev {target}   # another: rebuild and drop a wheel on each save")
    else:
        # pip reads a bare name as a project to fetch: a path must look like one.
        where = str(target) if target.is_absolute() else f"./{target}"
        say(f"next: python -m pip wheel --no-deps --no-build-isolation -w wheels {where}")
    return EXIT_OK


def scaffold(
    name: str,
    target: Path,
    *,
    project: str = "greeter",
    hookspec: str = DEFAULT_HOOKSPEC,
    api_version: str | None = None,
    with_host: bool = False,
) -> list[Path]:
    """Write a plugin project for ``name`` into ``target``; returns the files written.

    The version is written once, in ``pyproject.toml``: the manifest takes the distribution's.

    :param hookspec: ``module:Class`` or ``module`` holding the host's hookspecs.
    :param api_version: the host API version the ``host`` constraint is made from; by default
        the hookspec module's ``API_VERSION``, if it has one.
    :param with_host: also write a ``pluginhost.toml`` for a host watching ``target/wheels``,
        and that folder (the last path returned).
    :raises ManifestError: when ``name`` is not a valid plugin name.
    :raises HostStateError: when ``target`` exists and is not empty, or the hookspec cannot be
        imported or declares no hooks for ``project``.
    """
    if not _NAME.match(name):
        raise ManifestError(
            "pluginhost new makes a Python package of the name: it starts with a letter, then "
            "letters, digits, '-' or '_' (a plugin's name may be any other, in its plugin.toml)",
            plugin=name,
        )
    if target.exists() and any(target.iterdir()):
        raise HostStateError("exists and is not empty", path=target)
    spec_module, _, spec_attr = hookspec.partition(":")
    module_obj, spec = _import(spec_module, spec_attr)
    hooks = _hooks(spec, project)
    if not hooks:
        raise HostStateError(
            f"{hookspec!r} declares no hookspecs of project {project!r}: name the host's"
            " hookspecs with --hookspec module:Class (or module)"
        )
    api = api_version or getattr(module_obj, "API_VERSION", None)
    fields = _fields(name, project, spec_module, spec_attr or "", api)
    fields["hookspec_q"] = _q(hookspec)
    fields["api_line"] = f"api_version = {_q(api)}\n" if api is not None else ""
    files = {
        "pyproject.toml": _PYPROJECT.format(**fields),
        f"{fields['module_dir']}/plugin.toml": _MANIFEST.format(**fields),
        f"{fields['module_dir']}/__init__.py": _INIT.format(hooks=_stubs(hooks), **fields),
        f"tests/test_{fields['module_dir']}.py": _TEST.format(**fields),
    }
    if with_host:
        files["pluginhost.toml"] = _HOST_CONFIG.format(**fields)
    written = []
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        written.append(path)
    if with_host:
        (target / "wheels").mkdir()
        written.append(target / "wheels")
    return written


def _q(text: str) -> str:
    # JSON strings are valid TOML basic strings and valid Python string literals.
    return json.dumps(text)


def _fields(
    name: str, project: str, spec_module: str, spec_attr: str, api: str | None
) -> dict[str, str]:
    module_dir = re.sub(r"[-.]", "_", name.lower()) + "_plugin"
    dist = f"{name.lower()}-plugin"
    group = f"{project}.plugins"
    if api is not None:
        version = parse_version(api)
        host = f'host = "^{version.major}.{version.minor}"{_HOST_COMMENT}'
    else:
        host = f'# host = "^1.0"{_HOST_COMMENT}'
    greeter = spec_module == "hookspecs.greeter"
    return {
        "name": _q(name),
        "name_q": _q(name),
        "name_raw": name,
        "project": project,
        "project_q": _q(project),
        "dist": _q(dist),
        "dist_q": _q(dist),
        "description": _q(f"A plugin for the {project} host."),
        "group": _q(group),
        "group_q": _q(group),
        "module": _q(module_dir),
        "module_q": _q(module_dir),
        "module_dir": module_dir,
        "host": host,
        "spec_module": spec_module,
        "spec_attr": spec_attr or spec_module.rpartition(".")[2],
        "api_arg": f", api_version={_q(api)}" if api is not None else "",
        "check": (
            f'    assert host.hook.greet(name="Ada") == ["Hello from {name}, Ada!"]\n'
            if greeter
            else ""
        ),
    }


def _import(module_name: str, attr: str) -> tuple[types.ModuleType, object]:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HostStateError(f"cannot import hookspec module {module_name!r}: {exc}") from exc
    if not attr:
        return module, module
    spec = getattr(module, attr, None)
    if spec is None:
        raise HostStateError(f"hookspec module {module_name!r} has no {attr!r}")
    return module, spec


def _hooks(spec: object, project: str) -> list[Callable[..., Any]]:
    """The functions of ``spec`` marked as hookspecs of ``project``, in source order."""
    marker = f"{project}_spec"
    found = [
        getattr(spec, attr) for attr in dir(spec) if hasattr(getattr(spec, attr, None), marker)
    ]
    return sorted(found, key=lambda f: inspect.getsourcelines(f)[1])


def _stubs(hooks: list[Callable[..., Any]]) -> str:
    return "".join(_stub(hook) for hook in hooks)


def _stub(hook: Callable[..., Any]) -> str:
    params = [p for p in inspect.signature(hook).parameters if p != "self"]
    doc = (inspect.getdoc(hook) or "").split("\n")[0]
    if hook.__name__ == "greet" and "name" in params:
        body = '    return f"Hello from {PLUGIN}, {name}!"'
    else:
        body = f"    # TODO: {doc or 'implement'}\n    return None"
    return f"\n\n@hookimpl\ndef {hook.__name__}({', '.join(params)}):\n{body}\n"
