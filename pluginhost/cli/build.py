"""A minimal PEP 517 frontend: build a plugin's wheel with its own backend, offline.

No build isolation and no network: the backend named in ``[build-system]`` must already be
importable by the interpreter that runs the build. The backend runs in a subprocess, as PEP 517
frontends do, so it cannot disturb the host process.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

from ..model.errors import BuildError

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

__all__ = ["build_wheel", "cached_wheel", "source_digest"]

_HOOK_SCRIPT: Final = """
import importlib, json, sys
backend_name, out_dir = sys.argv[1], sys.argv[2]
module_name, _, obj_path = backend_name.partition(":")
backend = importlib.import_module(module_name)
for part in filter(None, obj_path.split(".")):
    backend = getattr(backend, part)
print(json.dumps(backend.build_wheel(out_dir)))
"""


def build_wheel(project: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Build ``project``'s wheel into ``out_dir`` by calling its backend's ``build_wheel`` hook.

    :raises BuildError: naming the project and the backend's own error output.
    """
    project = Path(project).resolve()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    backend, backend_path = _backend(project)
    env = dict(os.environ)
    if backend_path:
        extra = os.pathsep.join(str(project / p) for p in backend_path)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [extra, env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", _HOOK_SCRIPT, backend, str(out)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BuildError(f"backend {backend!r} failed: {detail}", path=project)
    name = proc.stdout.strip().splitlines()[-1].strip('"')
    return out / name


def _backend(project: Path) -> tuple[str, list[str]]:
    try:
        data: dict[str, Any] = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BuildError(f"cannot read pyproject.toml: {exc}", path=project) from exc
    system = data.get("build-system", {})
    # PEP 517's fallback for projects that name no backend.
    backend = system.get("build-backend", "setuptools.build_meta:__legacy__")
    return str(backend), list(system.get("backend-path", []))


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
