"""The hand-built floor of a swap: what any hot swap through a watched folder has to do.

Raw inotify on the folder (libc through ctypes: no watchdog, no hand-over between threads), the
one module read out of the renamed wheel, imported, and pluggy's ``unregister`` and
``register`` on a plugin manager holding as many plugins as the host of the same row. The
module is unzipped into a site dir of its own and imported from there; the durable variant also
syncs it with its folders and commits the change as a small file written, synced and renamed,
synced with its folder: what a restart after a power loss needs. Nothing is verified, resolved,
kept for rollback, handed state or reported. Figures 2 and 7 print it beside pluginhost's swap
latency at each size: the ratio is what everything else costs.

Linux only (inotify); elsewhere the floor rows are left out.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import struct
import tempfile
import threading
import types
import zipfile
from pathlib import Path

import pluggy
from _common import Row, answered_after, hook_module, row

from pluginhost.testing import WheelFactory

_IN_MOVED_TO = 0x80
_IN_CLOSE_WRITE = 0x08
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then the name, NUL-padded
_STOP = "stop"


class _Inotify:
    """One inotify descriptor watching one folder for files renamed or written into it."""

    def __init__(self, folder: Path) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        mask = _IN_MOVED_TO | _IN_CLOSE_WRITE
        if libc.inotify_add_watch(self.fd, os.fsencode(folder), mask) < 0:
            os.close(self.fd)
            raise OSError(ctypes.get_errno(), f"inotify_add_watch failed on {folder}")

    def names(self) -> list[str]:
        """Wait for events; the names of the files they concern."""
        data = os.read(self.fd, 65536)
        names, offset = [], 0
        while offset < len(data):
            _, _, _, length = _EVENT.unpack_from(data, offset)
            start = offset + _EVENT.size
            names.append(data[start : start + length].rstrip(b"\0").decode())
            offset = start + length
        return names


class FloorRig:
    """A pluggy plugin manager with ``swapme`` and ``others`` plugins, swapped by one thread
    that reads inotify itself."""

    def __init__(self, tmp: Path, others: int, *, durable: bool, project: str, spec: type) -> None:
        self.project = project
        self.durable = durable
        self.folder, self.site = tmp / "floor-wheels", tmp / "floor-site"
        self.folder.mkdir()
        self.site.mkdir()
        self.factory = WheelFactory(tmp / "floor-staging", group=f"{project}.plugins")
        self.pm = pluggy.PluginManager(project)
        self.pm.add_hookspecs(spec)
        for index in range(others):
            code = hook_module(project, "filler", "0")
            self.pm.register(_module(f"other{index}", code), name=f"other{index}")
        self.serial = 0
        self.pm.register(_module("swapme", self._code("1.0.0")), name="swapme")
        self.errors: list[BaseException] = []
        self._inotify = _Inotify(self.folder)
        self._thread = threading.Thread(target=self._watch, name="floor", daemon=True)
        self._thread.start()

    def _code(self, version: str) -> str:
        return hook_module(self.project, "version", repr(version))

    def build(self) -> tuple[Path, str]:
        """The next version's wheel, in the staging dir, and its version."""
        self.serial += 1
        version = f"1.0.{self.serial}"
        return self.factory.build("swapme", version, code=self._code(version)), version

    def swap(self, wheel: Path, version: str, timeout: float = 30.0) -> float:
        """Seconds from the rename into the folder to the first call the new version answers."""
        return answered_after(
            lambda: os.replace(wheel, self.folder / wheel.name),
            self.pm.hook.version,
            version,
            timeout=timeout,
            failed=lambda: self.errors[0] if self.errors else None,
        )

    def close(self) -> None:
        (self.folder / _STOP).touch()
        self._thread.join(10)
        os.close(self._inotify.fd)

    def _watch(self) -> None:
        while True:
            for name in self._inotify.names():
                if name == _STOP:
                    return
                if name.endswith(".whl"):
                    try:
                        self._apply(self.folder / name)
                    except BaseException as exc:  # reported by swap(), which waits for it
                        self.errors.append(exc)
                        return

    def _apply(self, wheel: Path) -> None:
        version = wheel.name.split("-")[1]
        target = self.site / version / "swapme"
        target.mkdir(parents=True)
        with zipfile.ZipFile(wheel) as archive:
            _write(target / "__init__.py", archive.read("swapme/__init__.py"), self.durable)
        if self.durable:
            self._commit(target, version)
        spec = importlib.util.spec_from_file_location(f"swapme_{version}", target / "__init__.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.pm.unregister(name="swapme")
        self.pm.register(module, name="swapme")

    def _commit(self, target: Path, version: str) -> None:
        for folder in (target, target.parent, self.site):
            _sync_folder(folder)
        commit = self.site / "commit.tmp"
        _write(commit, f'{{"swapme": "{version}"}}'.encode(), True)
        os.replace(commit, self.site / "commit.json")
        _sync_folder(self.site)


def _module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def _write(path: Path, data: bytes, synced: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        if synced:
            os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def floor_latencies(
    others: int, swaps: int, *, durable: bool, project: str, spec: type
) -> list[float]:
    """Seconds of each of ``swaps`` floor swaps with ``others`` more plugins registered."""
    with tempfile.TemporaryDirectory() as tmp:
        rig = FloorRig(Path(tmp), others, durable=durable, project=project, spec=spec)
        try:
            latencies = []
            for _ in range(swaps):
                wheel, version = rig.build()
                latencies.append(rig.swap(wheel, version))
            return latencies
        finally:
            rig.close()


def floor_rows(figure: str, size: int, swaps: int, *, project: str, spec: type) -> list[Row]:
    """The floor at ``size`` plugins, plain and durable, as rows of the table."""
    if not hasattr(os, "O_DIRECTORY") or ctypes.util.find_library("c") is None:
        return []
    rows = []
    for durable in (False, True):
        latencies = floor_latencies(size - 1, swaps, durable=durable, project=project, spec=spec)
        name = f"{figure}, hand-built floor{' (durable)' if durable else ''}"
        rows.append(row(name, size, latencies, unit="ms", target="-", met=None))
    return rows
