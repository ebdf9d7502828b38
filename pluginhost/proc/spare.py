"""Worker processes booted ahead, each waiting for the plugin it will run.

Starting an interpreter and importing what a worker needs takes 50 to 100 ms. A host starts a
process plugin's worker inside a transition, which holds the host's lock, so that wait was
spent under the lock. A booted worker only waits for its hello (the plugin's spec): taking one
leaves the handshake and the plugin's own import, which an in-process plugin pays under the
lock too. :class:`Spares` keeps one ready and boots the next one in the background after each
take.

A spare is a worker like any other until its hello: it asks for SIGKILL when the host dies, and
it exits when its channel closes, so one never outlives its host.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import threading
from typing import Final

import attrs

from ..model.frozen import frozen
from . import launcher
from .messages import PROTOCOL_VERSION

__all__ = ["Booted", "Spares", "boot"]


@frozen
class Booted:
    """A worker process started and waiting for its hello.

    :param process: the process.
    :param sock: the host's end of its channel.
    :param secret: the secret it was given, which its hello must carry.
    """

    process: subprocess.Popen[bytes]
    sock: socket.socket
    secret: bytes = attrs.field(repr=False)

    def discard(self) -> None:
        """Close its channel (it exits at once) and reap it."""
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def boot() -> Booted:
    """Start a worker process with a fresh secret, from the launcher thread.

    :raises OSError: the interpreter could not be started.
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    secret = secrets.token_bytes(32)
    line = f"{PROTOCOL_VERSION} {theirs.fileno()} {os.getpid()} {secret.hex()}\n"
    try:
        process = launcher.spawn(theirs.fileno(), line.encode("ascii"))
    except OSError:
        ours.close()
        raise
    finally:
        theirs.close()
    return Booted(process, ours, secret)


class Spares:
    """One booted worker kept ready for the next start; owned by one host's process plugins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: Booted | None = None
        self._booting = False
        self._closed = False

    @property
    def ready_pid(self) -> int | None:
        """The pid of the worker waiting now, if one is."""
        with self._lock:
            return self._ready.process.pid if self._ready is not None else None

    def take(self) -> Booted:
        """A booted worker: the one kept ready when it is alive, else one booted now; the next
        one is booted in the background.

        :raises OSError: no worker was ready and none could be started.
        """
        with self._lock:
            got, self._ready = self._ready, None
        if got is not None and got.process.poll() is not None:
            got.discard()  # died while waiting (killed by someone): not worth a failed start
            got = None
        self._refill()
        return got if got is not None else boot()

    def close(self) -> None:
        """Stop the worker kept ready, and boot no more."""
        with self._lock:
            self._closed = True
            got, self._ready = self._ready, None
        if got is not None:
            got.discard()

    def _refill(self) -> None:
        with self._lock:
            if self._closed or self._booting or self._ready is not None:
                return
            self._booting = True
        threading.Thread(target=self._boot_one, name=_THREAD, daemon=True).start()

    def _boot_one(self) -> None:
        try:
            booted: Booted | None = boot()
        except OSError:
            booted = None  # the next take boots in its own time, and reports why
        with self._lock:
            self._booting = False
            if not self._closed and booted is not None:
                self._ready, booted = booted, None
        if booted is not None:
            booted.discard()  # closed meanwhile


_THREAD: Final = "pluginhost-spare"
