"""The control folder: how ``pluginhost rollback``, ``remove`` and ``unpin`` act on a running
host.

A CLI process never touches a running host's registry or site dirs. It writes a request into
``home/control/`` (a temp file renamed into place, so the host never reads half of one); the
host process, which ``pluginhost run`` started with a :class:`ControlServer`, claims it by
renaming it, performs it through the host's public methods (under the host's lock, like any
other change) and writes ``<id>.result.json`` the same atomic way. The client waits for it.

Files in ``home/control/``:

- ``server.json``: ``{"pid": ...}`` of the process that serves requests (written at start);
- ``<id>.request.json``: ``{"id", "action", "plugin"}``, ``action`` is ``rollback``, ``remove``,
  ``unpin``, ``disable`` or ``enable``; or ``{"id", "action": "call", "hook", "kwargs"}``
  (``kwargs`` a JSON object), answered with ``"answers"`` (see :mod:`pluginhost.host.calls`),
  the call run on a helper thread bounded by the health timeout;
- ``<id>.taken``: a request being performed;
- ``<id>.result.json``: ``{"id", "ok", "action", "plugin", "error", "info"}``.

Only this user can ask for these changes: the host refuses a ``control/`` folder that is a
symbolic link, another user's, or writable by group or others, and reads only requests that are
regular files of its own user (a FIFO, a device, a link or another user's file is answered with
a refusal, unread).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..model.errors import HostStateError, PluginHostError, TrustError
from ..model.status import PluginInfo
from ..state import fs
from ..state.regular import read_regular
from ..state.store import HomeLock
from .calls import remote_call
from .statusdoc import info_json

if TYPE_CHECKING:
    from .host import PluginHost

__all__ = ["ACTIONS", "CONTROL_DIR", "MAX_REQUEST", "ControlServer", "send_request"]

logger = logging.getLogger("pluginhost")

CONTROL_DIR: Final = "control"
ACTIONS: Final = ("rollback", "remove", "unpin", "disable", "enable", "restart", "call")
_SERVER: Final = "server.json"
_ID: Final = re.compile(r"^[0-9a-f]{16}$")
_REQUEST_SUFFIX: Final = ".request.json"
_RESULT_SUFFIX: Final = ".result.json"
#: The largest request read: one is about 100 bytes.
MAX_REQUEST: Final = 64 * 1024
_FOLDER_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _write_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON beside ``path`` and rename it in, so a reader sees all of it or nothing."""
    fd = os.open(path.parent, _FOLDER_FLAGS)
    try:
        _write_at(fd, path.name, data)
    finally:
        os.close(fd)


def _write_at(folder: int, name: str, data: Mapping[str, Any]) -> None:
    """:func:`_write_atomic` into the folder opened as ``folder``, private to this user."""
    temp = f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600, dir_fd=folder)
    try:
        with open(fd, "w", encoding="utf-8") as stream:
            stream.write(json.dumps(data) + "\n")
        os.replace(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
    finally:
        _unlink_at(folder, temp)


def _unlink_at(folder: int, name: str) -> bool:
    try:
        os.unlink(name, dir_fd=folder)
    except FileNotFoundError:
        return False
    return True


def _read_json(path: Path) -> Any:
    return _loads(path.read_text("utf-8"))


def _loads(text: str) -> Any:
    """JSON text as Python values; nesting deeper than the interpreter's recursion limit (a
    request of 64 KiB holds 20,000 levels) is a ``ValueError`` like any other malformed text.
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


# -- the client: the CLI ---------------------------------------------------------------------


def send_request(
    home: Path, action: str, plugin: str, *, timeout: float = 60.0, **fields: Any
) -> dict[str, Any]:
    """Ask the host running on ``home`` to perform ``action`` on ``plugin``; wait for it.

    :param fields: more fields of the request (``hook`` and ``kwargs`` of a ``call``).

    :returns: the result document (``ok`` says whether the host performed it).
    :raises HostStateError: when no host runs on ``home``, the host there serves no control
        requests, or no result came within ``timeout`` seconds.
    :raises TrustError: when the control folder is a link, or not this user's alone.
    """
    folder = _check_server(home)
    request_id = secrets.token_hex(8)
    request = folder / f"{request_id}{_REQUEST_SUFFIX}"
    _write_atomic(request, {"id": request_id, "action": action, "plugin": plugin, **fields})
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
    # Judged as the host judges it, not followed: a link there (another user's home) had this
    # user write its request and read the result wherever the link pointed. None there: no
    # server either, refused below.
    with contextlib.suppress(FileNotFoundError):
        _check_folder(folder, os.lstat(folder))
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


def _check_folder(path: Path, st: os.stat_result) -> None:
    """:raises TrustError: unless ``st`` is a directory of this user that no one else may
    write to."""
    uid = os.geteuid()
    if not stat.S_ISDIR(st.st_mode):
        reason = "it is not a directory"
    elif st.st_uid != uid:
        reason = f"it is owned by uid {st.st_uid}, not by this user (uid {uid})"
    elif st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        mode = oct(stat.S_IMODE(st.st_mode))
        reason = f"it is writable by group or others (mode {mode}; fix with chmod go-w)"
    else:
        return
    raise TrustError(f"control folder refused: {reason}", path=path)


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


# -- the server: inside the host process -------------------------------------------------------


class ControlServer:
    """Polls ``home/control/`` on its own thread and performs requests on ``host``.

    The folder is a way into the host, so it is checked at each look: a real directory (not a
    symbolic link) of this user, writable by no one else. A request is read only when it is a
    regular file of this user, of at most 64 KiB, opened without following a link; anything
    else is answered with a refusal, unread. A directory there is ignored, with a warning.

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
            "disable": host.disable,
            "enable": host.enable,
            "restart": host.restart,
        }
        self._warned: set[str] = set()

    def start(self) -> None:
        """Clear requests left by an earlier process, announce this one, start polling.

        :raises TrustError: when the control folder is a symbolic link, not a directory, not
            this user's, or writable by group or others.
        """
        with contextlib.suppress(FileExistsError):
            fs.make_dirs(self.folder)  # private, whatever the umask
        with self._opened() as folder:
            for entry in os.scandir(folder):
                # Requests nobody waits for any more must not run now, long after they were
                # made. Only names in this very folder go: a link is removed, not followed.
                if entry.name != _SERVER and not self._stray(entry):
                    _unlink_at(folder, entry.name)
            _write_at(folder, _SERVER, {"pid": os.getpid()})
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (a request under way is finished first) and withdraw the announcement."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        with contextlib.suppress(OSError), self._opened() as folder:
            _unlink_at(folder, _SERVER)

    @contextlib.contextmanager
    def _opened(self) -> Iterator[int]:
        """The control folder, opened without following a link and checked; see the class."""
        try:
            fd = os.open(self.folder, _FOLDER_FLAGS | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise TrustError(
                    "control folder refused: it is a symbolic link or not a directory",
                    path=self.folder,
                ) from exc
            raise
        try:
            _check_folder(self.folder, os.fstat(fd))
            yield fd
        finally:
            os.close(fd)

    def _stray(self, entry: os.DirEntry[str]) -> bool:
        """Whether ``entry`` is a directory, to be left alone (and told once)."""
        if not entry.is_dir(follow_symlinks=False):
            return False
        if entry.name not in self._warned:
            self._warned.add(entry.name)
            logger.warning("control folder %s: ignoring the directory %r", self.folder, entry.name)
        return True

    def _loop(self) -> None:
        told = ""
        while not self._stopping.wait(self._interval):
            try:
                self.poll()
                told = ""
            except Exception as exc:
                # The folder may vanish, turn unreadable or unsafe; keep serving once it is
                # back, telling each new trouble once rather than at every look.
                if repr(exc) != told:
                    logger.exception("control folder %s", self.folder)
                told = repr(exc)

    def poll(self) -> int:
        """Perform every pending request, oldest first; returns how many.

        :raises TrustError: when the control folder is refused (see :meth:`start`).
        """
        done = 0
        with self._opened() as folder:
            for request_id in self._pending(folder):
                taken = f"{request_id}.taken"
                try:
                    # Claimed: the client can no longer withdraw it.
                    request = f"{request_id}{_REQUEST_SUFFIX}"
                    os.replace(request, taken, src_dir_fd=folder, dst_dir_fd=folder)
                except FileNotFoundError:
                    continue
                result = self._perform(request_id, folder, taken)
                _write_at(folder, f"{request_id}{_RESULT_SUFFIX}", result)
                _unlink_at(folder, taken)
                done += 1
        return done

    def _pending(self, folder: int) -> list[str]:
        """The ids of the requests in the folder, oldest first; directories are left alone."""
        found = []
        for entry in os.scandir(folder):
            request_id = entry.name.removesuffix(_REQUEST_SUFFIX)
            if request_id == entry.name or not _ID.fullmatch(request_id) or self._stray(entry):
                continue
            try:
                found.append((entry.stat(follow_symlinks=False).st_mtime_ns, request_id))
            except FileNotFoundError:
                continue  # withdrawn meanwhile
        return [request_id for _mtime, request_id in sorted(found)]

    def _perform(self, request_id: str, folder: int, taken: str) -> dict[str, Any]:
        result: dict[str, Any] = {"id": request_id, "ok": False, "info": None, "error": None}
        try:
            data = read_regular(taken, max_size=MAX_REQUEST, dir_fd=folder, owner=os.geteuid())
        except OSError as exc:
            result["error"] = f"request refused unread: {exc}"
            logger.warning("control request %s refused unread: %s", request_id, exc)
            return result
        try:
            perform = self._parse(data, result)
        except PluginHostError as exc:
            result["error"] = str(exc)  # a call the host cannot make (CallError)
            return result
        except (OSError, ValueError, KeyError, TypeError) as exc:
            result["error"] = f"malformed request: {exc!r}"
            return result
        logger.info("control request %s: %s %s", request_id, result["action"], result["plugin"])
        try:
            result.update(ok=True, **perform())
        except PluginHostError as exc:
            # The reason alone when it already names the plugin: one clear line, no echo.
            named = exc.plugin is not None and repr(exc.plugin) in exc.reason
            result.update(ok=False, error=exc.reason if named else str(exc))
        except Exception as exc:
            # Whatever went wrong, the client gets an answer rather than a timeout.
            logger.exception("control request %s failed", request_id)
            result.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        return result

    def _parse(self, data: bytes, result: dict[str, Any]) -> Callable[[], dict[str, Any]]:
        """What a request asks, ready to perform; it returns the fields of the result."""
        request = _loads(data.decode("utf-8"))
        action = request["action"]
        plugin = request["hook"] if action == "call" else request["plugin"]
        if not isinstance(action, str) or not isinstance(plugin, str):
            raise ValueError("action, plugin and hook must be strings")
        result.update(action=action, plugin=plugin)
        if action == "call":
            call = remote_call(self._host, request)
            return lambda: {"answers": call()}
        change = self._actions[action]

        def perform() -> dict[str, Any]:
            info = change(plugin)
            if isinstance(info, bool):  # disable, enable: whether anything changed
                return {"changed": info}
            return {"info": info_json(info) if isinstance(info, PluginInfo) else None}

        return perform
