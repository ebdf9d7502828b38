"""The control folder: how ``pluginhost rollback``, ``remove`` and ``unpin`` act on a running
host.

A CLI process never touches a running host's registry or site dirs. It writes a request into
``home/control/`` (a temp file renamed into place, so the host never reads half of one); the
host process, which ``pluginhost run`` started with a :class:`ControlServer`, claims it by
renaming it, performs it through the host's public methods (under the host's lock, like any
other change) and writes ``<id>.result.json`` the same atomic way. The client waits for it.

Files in ``home/control/``:

- ``server.json``: ``{"pid": ...}`` of the process that serves requests (written at start);
- ``<id>.request.json``: ``{"id", "action", "plugin"}``, ``action`` is ``rollback``, ``remove``
  or ``unpin``;
- ``<id>.taken``: a request being performed;
- ``<id>.result.json``: ``{"id", "ok", "action", "plugin", "error", "info"}``.

Anyone who can write to the home can ask for these changes: the home's permissions are the
access control, as they are for the registry itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..model.errors import HostStateError, PluginHostError
from ..state.store import HomeLock
from .statusdoc import info_json

if TYPE_CHECKING:
    from .host import PluginHost

__all__ = ["ACTIONS", "CONTROL_DIR", "ControlServer", "send_request"]

logger = logging.getLogger("pluginhost")

CONTROL_DIR: Final = "control"
ACTIONS: Final = ("rollback", "remove", "unpin")
_SERVER: Final = "server.json"
_ID: Final = re.compile(r"^[0-9a-f]{16}$")
_REQUEST_SUFFIX: Final = ".request.json"
_RESULT_SUFFIX: Final = ".result.json"


def _write_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON beside ``path`` and rename it in, so a reader sees all of it or nothing."""
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        temp.write_text(json.dumps(data) + "\n", "utf-8")
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


# -- the client: the CLI ---------------------------------------------------------------------


def send_request(home: Path, action: str, plugin: str, *, timeout: float = 60.0) -> dict[str, Any]:
    """Ask the host running on ``home`` to perform ``action`` on ``plugin``; wait for it.

    :returns: the result document (``ok`` says whether the host performed it).
    :raises HostStateError: when no host runs on ``home``, the host there serves no control
        requests, or no result came within ``timeout`` seconds.
    """
    folder = _check_server(home)
    request_id = secrets.token_hex(8)
    request = folder / f"{request_id}{_REQUEST_SUFFIX}"
    _write_atomic(request, {"id": request_id, "action": action, "plugin": plugin})
    result = folder / f"{request_id}{_RESULT_SUFFIX}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result.exists():
            data: dict[str, Any] = _read_json(result)
            result.unlink()
            return data
        time.sleep(0.05)
    # Withdrawn if the host has not claimed it yet, so it does not happen later by surprise.
    withdrawn = _unlink(request)
    state = "withdrawn" if withdrawn else "already taken by the host; it may still happen"
    raise HostStateError(f"no answer from the host within {timeout:g}s (request {state})")


def _check_server(home: Path) -> Path:
    """The control folder of the host running on ``home``; refuses when none serves it."""
    holder = HomeLock.holder(home)
    if holder is None:
        raise HostStateError(f"no host is running on {home}")
    folder = home / CONTROL_DIR
    try:
        server = _read_json(folder / _SERVER)
    except (OSError, ValueError):
        server = {}
    if server.get("pid") != holder:
        raise HostStateError(
            f"the host running on {home} (pid {holder}) does not accept control requests; "
            "only hosts started with `pluginhost run` do"
        )
    return folder


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


# -- the server: inside the host process -------------------------------------------------------


class ControlServer:
    """Polls ``home/control/`` on its own thread and performs requests on ``host``.

    :param host: a started host.
    :param interval: seconds between looks at the folder.
    """

    def __init__(self, host: PluginHost, *, interval: float = 0.1) -> None:
        self.folder: Final = host.home / CONTROL_DIR
        self._host = host
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pluginhost-control", daemon=True)
        self._actions: Mapping[str, Callable[[str], Any]] = {
            "rollback": host.rollback,
            "remove": host.remove,
            "unpin": host.unpin,
        }

    def start(self) -> None:
        """Clear requests left by an earlier process, announce this one, start polling."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.folder.iterdir():
            # Requests nobody waits for any more must not run now, long after they were made.
            if leftover.name != _SERVER:
                _unlink(leftover)
        _write_atomic(self.folder / _SERVER, {"pid": os.getpid()})
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (a request under way is finished first) and withdraw the announcement."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        _unlink(self.folder / _SERVER)

    def _loop(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.poll()
            except Exception:
                # The folder may vanish or turn unreadable; keep serving once it is back.
                logger.exception("control folder %s", self.folder)

    def poll(self) -> int:
        """Perform every pending request, oldest first; returns how many."""
        pending = sorted(
            (p for p in self.folder.iterdir() if p.name.endswith(_REQUEST_SUFFIX)),
            key=lambda p: p.stat().st_mtime_ns,
        )
        done = 0
        for request in pending:
            request_id = request.name[: -len(_REQUEST_SUFFIX)]
            if not _ID.match(request_id):
                continue
            taken = request.with_name(f"{request_id}.taken")
            try:
                os.replace(request, taken)  # claimed: the client can no longer withdraw it
            except FileNotFoundError:
                continue
            result = self._perform(request_id, taken)
            _write_atomic(self.folder / f"{request_id}{_RESULT_SUFFIX}", result)
            _unlink(taken)
            done += 1
        return done

    def _perform(self, request_id: str, taken: Path) -> dict[str, Any]:
        result: dict[str, Any] = {"id": request_id, "ok": False, "info": None, "error": None}
        try:
            request = _read_json(taken)
            action, plugin = request["action"], request["plugin"]
            result.update(action=action, plugin=plugin)
            perform = self._actions[action]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            result["error"] = f"malformed request: {exc!r}"
            return result
        logger.info("control request %s: %s %s", request_id, action, plugin)
        try:
            info = perform(plugin)
        except PluginHostError as exc:
            # The reason alone when it already names the plugin: one clear line, no echo.
            named = exc.plugin is not None and repr(exc.plugin) in exc.reason
            result["error"] = exc.reason if named else str(exc)
            return result
        except Exception as exc:
            # Whatever went wrong, the client gets an answer rather than a timeout.
            logger.exception("control request %s failed", request_id)
            result["error"] = f"{type(exc).__name__}: {exc}"
            return result
        result.update(ok=True, info=info_json(info) if info is not None else None)
        return result
