"""``pluginhost dev DIR``: rebuild a plugin on each save and drop it into a running host's folder.

The loop, like ``uvicorn --reload``: watch the source tree (watchdog, as the folder watcher
does), wait for the saves to settle, build the wheel with the project's PEP 517 backend, label
it ``<release>+dev.N`` with ``N`` one more than any dev build the folder or the host has, and
rename it into the watched folder in one step. Then read the host's status document until it
says what became of that version: serving, or refused and why. A build that fails, or a
version the host refuses, leaves the serving version serving; both are shown in one block.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from packaging.utils import canonicalize_name
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from ...host.config_file import HostConfig
from ...host.homeview import read_home
from ...model.errors import BuildError, PluginHostError
from ..build import build_wheel
from ..common import EXIT_ERROR, EXIT_OK, UsageError, say
from ..devwheel import DevWheel, dev_number, dev_wheels, relabel

__all__ = ["DevLoop", "run"]

_IGNORED_DIRS: Final = frozenset({"__pycache__", "build", "dist", "wheels", "node_modules"})
_IGNORED_SUFFIXES: Final = (".pyc", ".swp", ".swx", ".tmp", "~", ".whl")
_OUTCOME_KINDS: Final = frozenset({"loaded", "updated"})


def run(args: argparse.Namespace) -> int:
    """Build once, then (unless ``--once``) again on every save until Ctrl-C."""
    project = Path(args.dir).resolve()
    if not (project / "pyproject.toml").is_file():
        raise UsageError(f"{project}: no pyproject.toml: not a plugin project")
    folder, home = _target(args, project)
    loop = DevLoop(project, folder, home, wait=args.wait)
    ok = loop.rebuild()
    if args.once:
        return EXIT_OK if ok else EXIT_ERROR
    loop.watch(args.debounce)
    return EXIT_OK


def _target(args: argparse.Namespace, project: Path) -> tuple[Path, Path | None]:
    """The folder to drop wheels into, and the home of the host watching it, when known."""
    config = args.config
    if config is None:
        config = next(
            (c for c in (project / "pluginhost.toml", Path("pluginhost.toml")) if c.is_file()),
            None,
        )
    home = None
    watch: tuple[Path, ...] = ()
    if config is not None:
        host_config = HostConfig.from_file(config)
        home, watch = host_config.resolved_home, tuple(host_config.watch)
    folder = args.into if args.into is not None else (watch[0] if watch else None)
    if folder is None:
        raise UsageError("no folder to drop wheels into: use --into FOLDER or --config FILE")
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise UsageError(f"{folder}: the folder to drop wheels into does not exist")
    return folder, home


class DevLoop:
    """Builds ``project`` and drops each build into ``folder``; reports what ``home`` did.

    :param home: the home of the host watching ``folder``, to report the outcome and to remove
        dev builds older than the one it serves; ``None`` skips both.
    :param wait: seconds to wait for the host to take a build.
    """

    def __init__(self, project: Path, folder: Path, home: Path | None, *, wait: float) -> None:
        self.project = project
        self.folder = folder
        self.home = home
        # Never sources: what the host writes must not start a rebuild, let alone a loop.
        self.outputs = tuple(p for p in (folder, home) if p is not None)
        self.wait = wait
        self.digest: str | None = None
        self.last: DevWheel | None = None

    def rebuild(self) -> bool:
        """Build, label and drop one wheel; ``False`` when it failed to build or load."""
        digest = _digest(self.project, self.outputs)
        if digest == self.digest and self.last is not None:
            say(f"no change in the sources since {self.last.version}: nothing rebuilt")
            return True
        started = time.monotonic()
        try:
            _check_syntax(self.project, self.outputs)
            wheel = self._build()
        except BuildError as exc:
            # Only a host that runs serves anything: without one, the words promised a host.
            kept = "; the host keeps serving what it has" if self._host_running() else ""
            _block(f"build failed{kept}", str(exc))
            return False
        self.digest, self.last = digest, DevWheel(wheel)
        took = time.monotonic() - started
        say(f"built {wheel.name} in {took:.2f}s; dropped into {self.folder}")
        return self._outcome(self.last)

    def _build(self) -> Path:
        with tempfile.TemporaryDirectory(prefix="pluginhost-dev-") as tmp:
            built = build_wheel(self.project, Path(tmp) / "built")
            number = self._next_number(DevWheel(built).distribution)
            labelled = relabel(built, number, Path(tmp))
            # Copied into the folder under a name it does not read, then renamed on the same
            # file system: the host never sees half a wheel.
            final = self.folder / labelled.name
            aside = self.folder / f".{labelled.name}.part"
            try:
                aside.write_bytes(labelled.read_bytes())
                os.replace(aside, final)
            finally:
                aside.unlink(missing_ok=True)
            return final

    def _next_number(self, distribution: str) -> int:
        """One more than any dev build in the folder or served by the host, so that it swaps."""
        numbers = [w.number or 0 for w in dev_wheels(self.folder, distribution)]
        serving = self._serving(distribution)
        if serving is not None:
            numbers.append(dev_number(serving) or 0)
        return max(numbers, default=0) + 1

    def _serving(self, distribution: str) -> str | None:
        status = self._status()
        for info in (status or {}).get("plugins", {}).values():
            # A failed load of this build is listed too: it serves nothing.
            if _same_dist(info.get("distribution"), distribution) and info.get("state") in (
                "active",
                "rolled_back",
            ):
                version: str = info["version"]
                return version
        return None

    def _status(self) -> Mapping[str, Any] | None:
        if self.home is None:
            return None
        try:
            return read_home(self.home).status
        except PluginHostError:
            return None

    def _outcome(self, wheel: DevWheel) -> bool:
        """Wait for the host to serve ``wheel`` or say why not; remove older dev builds."""
        if self.home is None:
            say("no host home known (--config): not waiting for a host to take it")
            return True
        if not self._host_running():
            say(
                f"no host is running on {self.home}: the wheel waits in {self.folder} "
                "(start one with `pluginhost run`)"
            )
            return False
        deadline = time.monotonic() + self.wait
        while time.monotonic() < deadline:
            verdict = _verdict(self._status(), wheel)
            if verdict is not None:
                served, text = verdict
                if served:
                    say(text)
                    self._prune(wheel)
                else:
                    serving = self._serving(wheel.distribution) or "nothing"
                    _block(f"the host did not load {wheel.version}; it serves {serving}", text)
                return served
            time.sleep(0.1)
        say(
            f"no word from a host on {self.home} after {self.wait:g}s: is `pluginhost run` "
            f"running? The wheel waits in {self.folder}"
        )
        return False

    def _host_running(self) -> bool:
        if self.home is None:
            return False
        try:
            return read_home(self.home).holder is not None
        except PluginHostError:  # not a home yet: no host ever ran on it
            return False

    def _prune(self, serving: DevWheel) -> None:
        """Delete the dev builds older than the one served: the host never goes back to them."""
        for old in dev_wheels(self.folder, serving.distribution):
            if (old.number or 0) < (serving.number or 0):
                old.path.unlink(missing_ok=True)

    def watch(self, debounce: float) -> None:
        """Rebuild after each burst of saves, until interrupted."""
        changed = threading.Event()
        handler = _Handler(self.project, self.outputs, changed)
        observer = Observer()
        # The top folder alone, then each source folder in depth: a watch on the whole tree
        # would follow the host's home (when it is in the project) through every install.
        observer.schedule(handler, str(self.project), recursive=False)
        for child in sorted(self.project.iterdir()):
            if child.is_dir() and _source_file(child, self.project, self.outputs):
                observer.schedule(handler, str(child), recursive=True)
        observer.start()
        # Said once the watches are in place (watchdog sets them up in start()): a save made
        # after reading this line is never missed.
        say(f"watching {self.project} for changes (Ctrl-C to stop)")
        try:
            for _ in _bursts(changed, debounce):
                self.rebuild()
        except KeyboardInterrupt:
            say("stopped")
        finally:
            observer.stop()
            observer.join()


def _bursts(changed: threading.Event, debounce: float) -> Iterator[None]:
    """Yield once per burst of changes, when none came for ``debounce`` seconds."""
    while True:
        changed.wait()
        while True:
            changed.clear()
            if not changed.wait(debounce):
                break
        yield None


class _Handler(FileSystemEventHandler):
    """Sets ``changed`` for a change to a source file; build output and editors' files aside."""

    def __init__(self, project: Path, outputs: tuple[Path, ...], changed: threading.Event) -> None:
        self.project = project
        self.outputs = outputs
        self.changed = changed

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in {"opened", "closed_no_write"}:
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if any(p and _source_file(Path(os.fsdecode(p)), self.project, self.outputs) for p in paths):
            self.changed.set()


def _source_file(path: Path, project: Path, outputs: tuple[Path, ...]) -> bool:
    if any(path.is_relative_to(out) for out in outputs):
        return False
    try:
        parts = path.relative_to(project).parts
    except ValueError:
        return False
    if any(p.startswith(".") or p in _IGNORED_DIRS or p.endswith(".egg-info") for p in parts):
        return False  # the host's home, VCS folders, build output, the wheels dropped
    return bool(parts) and not parts[-1].endswith(_IGNORED_SUFFIXES)


def _sources(project: Path, outputs: tuple[Path, ...]) -> list[Path]:
    """The files a rebuild depends on: the tree without the host's home and the build output."""
    return sorted(
        p for p in project.rglob("*") if p.is_file() and _source_file(p, project, outputs)
    )


def _digest(project: Path, outputs: tuple[Path, ...]) -> str:
    digest = hashlib.sha256()
    for path in _sources(project, outputs):
        digest.update(path.relative_to(project).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _check_syntax(project: Path, outputs: tuple[Path, ...]) -> None:
    """Compile every Python file first: a syntax error reads better here than from the host."""
    for path in _sources(project, outputs):
        if path.suffix != ".py":
            continue
        try:
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            where = f"{exc.filename}:{exc.lineno}:{exc.offset}"
            raise BuildError(f"{where}: {exc.msg}\n    {(exc.text or '').rstrip()}") from exc


def _verdict(status: Mapping[str, Any] | None, wheel: DevWheel) -> tuple[bool, str] | None:
    """``(True, line)`` once the host serves ``wheel``, ``(False, why)`` once it refused it."""
    if status is None:
        return None
    version = str(wheel.version)
    for info in status.get("plugins", {}).values():
        ours = _same_dist(info.get("distribution"), wheel.distribution)
        if ours and info["version"] == version and info.get("state") == "active":
            return True, f"serving {info['name']} {version}"
    for problem in status.get("problems", []):
        if (problem.get("path") or "").endswith(wheel.path.name) or (
            problem.get("version") == version and _named(status, problem.get("plugin"), wheel)
        ):
            return False, f"{problem['kind']}: {problem['message']}"
    return None


def _named(status: Mapping[str, Any], plugin: object, wheel: DevWheel) -> bool:
    info = status.get("plugins", {}).get(plugin)
    return info is not None and _same_dist(info.get("distribution"), wheel.distribution)


def _same_dist(name: object, distribution: str) -> bool:
    return isinstance(name, str) and canonicalize_name(name) == distribution


def _block(title: str, text: str) -> None:
    """One block: a title line, then the detail indented, so that it stands out in a log."""
    say(f"!! {title}:")
    for line in text.splitlines():
        say(f"   {line}")
