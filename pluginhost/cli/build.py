"""A minimal PEP 517 frontend: build a plugin's wheel with its own backend, offline.

No build isolation and no network: the backend named in ``[build-system]`` must already be
importable by the interpreter that runs the build. The backend runs in a subprocess, as PEP 517
frontends do, so it cannot disturb the host process.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Final, TypeGuard

from ..model.errors import BuildError
from .common import printable

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

__all__ = ["backend_of", "build_wheel", "cached_wheel", "source_digest"]

# Run in the interpreter that runs pluginhost (packaging is one of its dependencies). The last
# line it prints says what happened: {"wheel": name}, or {"missing": [[requirement, version
# found or null, what to ask pip for], ...]} when what the backend asks for
# (get_requires_for_build_wheel: setuptools 65 asks for wheel) is not installed here, or when
# the backend cannot be imported or fails and a [build-system] requirement is not installed
# (where its ImportError was all that was told). The [build-system] list alone refuses
# nothing: it often names what the backend no longer needs ("wheel", with setuptools 70.1 and
# later).
#: Seconds a backend may take to build a wheel (a compiled extension's build takes minutes).
BUILD_SECONDS: Final = 1800.0
#: How much of the backend's output is read back: its last lines say what it built or why not.
_TAIL: Final = 64 * 1024
#: How many of the last lines of a failed backend's output its BuildError quotes, and how long
#: each may be: bounded, as the message goes to a terminal and into the status of ``dev``.
_DETAIL_LINES: Final = 6
_DETAIL_WIDTH: Final = 300
#: A line that says what went wrong: setuptools' ``error: ...``, a traceback's last line.
_ERROR_LINE: Final = re.compile(r"\s*(error\b|[\w.]*(Error|Exception)\b)", re.IGNORECASE)

_HOOK_SCRIPT: Final = """
import importlib, json, sys
from importlib.metadata import PackageNotFoundError, version
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion
backend_name, out_dir, requires = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

def missing_of(texts):
    missing = []
    for text in texts:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue  # the backend says what is wrong with it
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            found = version(req.name)
        except PackageNotFoundError:
            missing.append([text, None, install_form(req)])
            continue
        try:
            if not req.specifier.contains(found, prereleases=True):
                missing.append([text, found, install_form(req)])
        except InvalidVersion:
            continue  # installed under a version PEP 440 cannot read: taken as there
    return missing

def install_form(req):
    req.marker = None  # true here: what pip is asked for needs none
    return str(req)

def stop(missing):
    if missing:
        print(json.dumps({"missing": missing}))
        sys.exit(3)

listed = missing_of(requires)
module_name, _, obj_path = backend_name.partition(":")
try:
    backend = importlib.import_module(module_name)
except ImportError:
    stop(listed)
    raise
for part in filter(None, obj_path.split(".")):
    backend = getattr(backend, part)
asks = getattr(backend, "get_requires_for_build_wheel", None)
try:
    needed = asks() if asks is not None else []
except Exception:
    stop(listed)
    raise
stop(missing_of(needed))
try:
    built = backend.build_wheel(out_dir)
except Exception:
    stop(listed)
    raise
print(json.dumps({"wheel": built}))
"""


def build_wheel(
    project: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    timeout: float = BUILD_SECONDS,
) -> Path:
    """Build ``project``'s wheel into ``out_dir`` by calling its backend's ``build_wheel`` hook.

    :param timeout: seconds the backend may take; it is killed then.
    :raises BuildError: naming the project and the backend's own error output, or the
        timeout; or what in its ``pyproject.toml`` cannot be read.
    """
    project = Path(project).resolve()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    backend, backend_path, requires = _build_system(project)
    env = dict(os.environ)
    if backend_path:
        extra = os.pathsep.join(str(project / p) for p in backend_path)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [extra, env.get("PYTHONPATH")]))
    command = [sys.executable, "-c", _HOOK_SCRIPT, backend, str(out), json.dumps(requires)]
    # Into files, of which only the ends are read: a backend printing gigabytes was held in
    # memory whole.
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        try:
            returncode = subprocess.run(
                command,
                cwd=project,
                env=env,
                stdout=stdout,
                stderr=stderr,
                timeout=timeout,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            reason = f"backend {backend!r} did not finish within {timeout:g} s"
            raise BuildError(reason, path=project) from None
        said, errors = _tail(stdout), _tail(stderr)
    told = _told(said)
    missing = _missing(told)
    if missing:
        needs = ", ".join(
            text if found is None else f"{text} (found {found})" for text, found, _ in missing
        )
        install = shlex.join([sys.executable, "-m", "pip", "install", *(m[2] for m in missing)])
        them = "it" if len(missing) == 1 else "them"
        raise BuildError(
            f"the build needs {needs}, not installed where pluginhost runs ({sys.executable}):"
            f" it builds without isolation, offline; install {them} there: {install}",
            path=project,
        )
    if returncode != 0 or not isinstance(told.get("wheel"), str):
        # The end of what the backend said, where its reason is (setuptools' last line only
        # pointed at its documentation), else of what it printed on stdout.
        detail = _detail(errors) or _detail(said) or ["no output"]
        text = "\n".join(f"    {line}" for line in detail)
        raise BuildError(f"backend {backend!r} failed; its output ends:\n{text}", path=project)
    return out / str(told["wheel"])


def backend_of(project: str | os.PathLike[str]) -> str:
    """The PEP 517 backend ``project`` names (PEP 517's fallback when it names none).

    :raises BuildError: when its ``pyproject.toml`` cannot be read.
    """
    return _build_system(Path(project))[0]


def _tail(stream: IO[bytes]) -> str:
    """The last :data:`_TAIL` bytes written to ``stream``, as text."""
    size = stream.seek(0, os.SEEK_END)
    stream.seek(max(0, size - _TAIL))
    return stream.read().decode("utf-8", "replace")


def _missing(told: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """The requirements the hook script found missing: each as listed, the version found (or
    ``None``) and what to ask pip for."""
    entries = told.get("missing")
    if not isinstance(entries, list):
        return []
    return [
        (text, found, install)
        for text, found, install in (e for e in entries if isinstance(e, list) and len(e) == 3)
        if isinstance(text, str)
        and isinstance(found, (str, type(None)))
        and isinstance(install, str)
    ]


def _detail(output: str) -> list[str]:
    """The meaningful end of a failed backend's output: its last :data:`_DETAIL_LINES` lines
    that are not blank, led by its last error line when that came before them, each cut to
    :data:`_DETAIL_WIDTH` characters and with its control characters escaped."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    start = max(0, len(lines) - _DETAIL_LINES)
    shown = lines[start:]
    errors = [i for i in range(start) if _ERROR_LINE.match(lines[i])]
    if errors:
        skipped = ["..."] if errors[-1] < start - 1 else []
        shown = [lines[errors[-1]], *skipped, *shown]
    return [printable(_cut(line)) for line in shown]


def _cut(line: str) -> str:
    if len(line) <= _DETAIL_WIDTH:
        return line
    return f"{line[:_DETAIL_WIDTH]}... [{len(line) - _DETAIL_WIDTH} more characters]"


def _told(stdout: str) -> dict[str, Any]:
    """What the hook script's last line says (after whatever the backend printed)."""
    lines = stdout.strip().splitlines()
    try:
        told = json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}
    return told if isinstance(told, dict) else {}


def _build_system(project: Path) -> tuple[str, list[str], list[str]]:
    """The project's backend, its backend path and its build requirements."""
    try:
        data: dict[str, Any] = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))
    # ValueError: also an integer of more digits than int() takes; RecursionError: nesting.
    except (OSError, ValueError, RecursionError) as exc:
        raise BuildError(f"cannot read pyproject.toml: {exc}", path=project) from None
    system = data.get("build-system", {})
    system = system if isinstance(system, dict) else None
    # PEP 517's fallback for projects that name no backend.
    fallback = "setuptools.build_meta:__legacy__"
    backend = system.get("build-backend", fallback) if system is not None else None
    path = system.get("backend-path", []) if system is not None else None
    requires = system.get("requires", []) if system is not None else None
    if not isinstance(backend, str) or not _strings(path) or not _strings(requires):
        reason = "pyproject.toml: [build-system] must give build-backend as a string, and "
        raise BuildError(reason + "backend-path and requires as lists of strings", path=project)
    return backend, path, requires


def _strings(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def source_digest(project: str | os.PathLike[str]) -> str:
    """A hash of every file of a source tree (names and bytes), to key a build cache."""
    root = Path(project)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not _ignored(p, root)):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _ignored(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return any(p in {"__pycache__", "dist", "build"} or p.endswith(".egg-info") for p in parts)


def cached_wheel(project: str | os.PathLike[str], cache_dir: str | os.PathLike[str]) -> Path:
    """Build ``project`` once per content: later calls return the wheel built before."""
    key = source_digest(project)[:16]
    slot = Path(cache_dir) / f"{Path(project).name}-{key}"
    existing = sorted(slot.glob("*.whl")) if slot.is_dir() else []
    if existing:
        return existing[0]
    slot.parent.mkdir(parents=True, exist_ok=True)
    # Build into a temporary sibling and rename it into place, so that an interrupted build
    # never leaves a slot that looks complete.
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=slot.parent))
    try:
        wheel = build_wheel(project, tmp)
        try:
            os.rename(tmp, slot)
        except OSError:
            if not any(slot.glob("*.whl")):
                raise
            return sorted(slot.glob("*.whl"))[0]
        return slot / wheel.name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
