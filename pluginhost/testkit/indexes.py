"""Real package indexes on loopback for tests: devpi-server (PEP 691 JSON), pypiserver (PEP 503
HTML), and a static index (:mod:`.static_index`) for what neither serves (yanks, upload times,
faults).

Each server runs as a child process on ``127.0.0.1`` with a free port, from the packages of the
``test`` extra; publishing goes through the server's own upload API (the legacy form upload that
twine sends), deleting through its own delete, and :meth:`file_path` gives the stored file so
that a test can tamper with its bytes as a broken disk or an attacker would::

    with PypiServer(tmp_path / "pypi") as server:
        server.publish(wheel)
        IndexClient(server.url).project("hello")

A devpi-server takes seconds to start: start one per test session (per xdist worker) and give
each test its own index with :meth:`DevpiServer.new_index`.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from pathlib import Path
from typing import Final

from .static_index import Fault, Serving, StaticIndex, free_port

__all__ = [
    "DevpiIndex",
    "DevpiServer",
    "Fault",
    "PypiServer",
    "ServerError",
    "StaticIndex",
    "free_port",
]

#: How long a server may take to answer its first request.
START_TIMEOUT: Final = 60.0


#: devpi-server derives its login secret with argon2 at 512 MiB and 16 passes: seconds of a
#: test's start and half a gigabyte per server. Its own tests lower these hidden options; so do
#: we (the secret signs login tokens, which no test here uses).
_CHEAP_SECRET: Final = (
    "--argon2-memory-cost=8",
    "--argon2-parallelism=1",
    "--argon2-time-cost=1",
)


class ServerError(RuntimeError):
    """A test index server did not start, or refused an upload or a delete."""


class _Process:
    """A server child process on a port: started, waited for, stopped."""

    def __init__(self, name: str, log: Path) -> None:
        self.name: Final = name
        self.log: Final = log
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, argv: list[str], port: int) -> None:
        self.port = port
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text("utf-8", "replace")[-2000:]
                raise ServerError(f"{self.name} did not start on port {port}:\n{tail}")
            time.sleep(0.05)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _script(name: str) -> str:
    """The console script ``name`` of this interpreter's environment."""
    path = Path(sysconfig.get_path("scripts")) / name
    return str(path) if path.exists() else str(Path(sys.executable).parent / name)


def _upload(url: str, wheel: Path, auth: tuple[str, str] | None) -> None:
    """Upload ``wheel`` with the legacy upload API (what twine sends)."""
    import httpx  # noqa: PLC0415  (httpx only when a test publishes)

    name, version = wheel.name.split("-")[:2]
    data = wheel.read_bytes()
    form = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": name,
        "version": version,
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
    }
    files = {"content": (wheel.name, data, "application/octet-stream")}
    answer = httpx.post(url, data=form, files=files, auth=auth, timeout=30)
    if answer.status_code >= 300:
        raise ServerError(f"upload of {wheel.name} to {url}: {answer.status_code} {answer.text}")


class _Server(Serving):
    """A server in a child process: stopped by stopping the process."""

    _process: _Process

    def stop(self) -> None:
        """Stop the server (a test of an index that went down); :meth:`start` brings it back."""
        self._process.stop()


class PypiServer(_Server):
    """pypiserver serving a folder of packages: PEP 503 HTML only (no JSON, no ETag).

    :param root: a folder for its packages, its password file and its log.
    :param auth: a user and password required for every read and upload; without, anyone may
        read and upload.
    """

    def __init__(self, root: Path, *, auth: tuple[str, str] | None = None) -> None:
        self.root: Final = Path(root)
        self.packages: Final = self.root / "packages"
        self.auth: Final = auth
        self.packages.mkdir(parents=True, exist_ok=True)
        self._process = _Process("pypiserver", self.root / "server.log")
        self._port = free_port()

    @property
    def url(self) -> str:
        """The simple API's root (``http://127.0.0.1:<port>/simple/``)."""
        return f"http://127.0.0.1:{self._port}/simple/"

    def start(self) -> None:
        """Start (or restart, on the same port) the server."""
        argv = [_script("pypi-server"), "run", "-i", "127.0.0.1", "-p", str(self._port)]
        if self.auth is None:
            argv += ["-P", ".", "-a", "."]
        else:
            argv += ["-P", str(self._htpasswd(*self.auth)), "-a", "update,download,list"]
        self._process.start([*argv, "--disable-fallback", str(self.packages)], self._port)

    def _htpasswd(self, user: str, password: str) -> Path:
        # The {SHA} scheme of Apache's htpasswd, which pypiserver reads through passlib.
        digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
        path = self.root / "htpasswd"
        path.write_text(f"{user}:{{SHA}}{digest}\n", "utf-8")
        return path

    def publish(self, wheel: Path) -> None:
        """Upload ``wheel`` through the server's upload API."""
        _upload(f"http://127.0.0.1:{self._port}/", wheel, self.auth)

    def delete(self, project: str, version: str) -> None:
        """Remove a release with pypiserver's remove action (``:action=remove_pkg``)."""
        import httpx  # noqa: PLC0415

        form = {":action": "remove_pkg", "name": project, "version": version}
        answer = httpx.post(f"http://127.0.0.1:{self._port}/", data=form, auth=self.auth)
        if answer.status_code >= 300:
            raise ServerError(f"remove {project} {version}: {answer.status_code} {answer.text}")

    def file_path(self, filename: str) -> Path:
        """Where the server keeps ``filename`` on disk."""
        return self.packages / filename


class DevpiServer(_Server):
    """devpi-server, offline (it mirrors nothing), serving PEP 691 JSON and ``X-Devpi-Serial``.

    :param root: a folder for its server dir and log; initialised (``devpi-init``) on first start.
    :param password: root's password, which uploads and deletes use.
    """

    def __init__(self, root: Path, *, password: str = "root-secret") -> None:
        self.root: Final = Path(root)
        self.serverdir: Final = self.root / "serverdir"
        self.password: Final = password
        self.root.mkdir(parents=True, exist_ok=True)
        self._process = _Process("devpi-server", self.root / "server.log")
        self._port = free_port()

    @property
    def base(self) -> str:
        """The server's URL (``http://127.0.0.1:<port>``)."""
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        """Initialise the server dir when new, then start (or restart) the server."""
        if not self.serverdir.exists():
            init = [_script("devpi-init"), "--serverdir", str(self.serverdir)]
            with self._process.log.open("ab") as out:
                subprocess.run(
                    [*init, "--root-passwd", self.password], stdout=out, stderr=out, check=True
                )
        argv = [_script("devpi-server"), "--serverdir", str(self.serverdir), "--offline-mode"]
        argv += ["--host", "127.0.0.1", "--port", str(self._port)]
        try:
            self._process.start([*argv, *_CHEAP_SECRET], self._port)
        except ServerError as e:
            if "unrecognized arguments" not in str(e):
                raise
            self._process.start(argv, self._port)  # a devpi-server without the test knobs

    def new_index(self, name: str | None = None) -> DevpiIndex:
        """A fresh, empty, volatile index of root's (a test's own), which inherits nothing."""
        index = DevpiIndex(self, f"root/{name or uuid.uuid4().hex[:12]}")
        index.create()
        return index


class DevpiIndex:
    """One index of a :class:`DevpiServer`: publish, delete, the stored files."""

    def __init__(self, server: DevpiServer, name: str) -> None:
        self.server: Final = server
        self.name: Final = name

    @property
    def url(self) -> str:
        """The index's simple API root (``.../root/<name>/+simple/``)."""
        return f"{self.server.base}/{self.name}/+simple/"

    @property
    def _auth(self) -> tuple[str, str]:
        return ("root", self.server.password)

    def create(self) -> None:
        import httpx  # noqa: PLC0415

        config = {"type": "stage", "bases": "", "volatile": True}
        answer = httpx.put(f"{self.server.base}/{self.name}", json=config, auth=self._auth)
        if answer.status_code >= 300:
            raise ServerError(f"create index {self.name}: {answer.status_code} {answer.text}")

    def publish(self, wheel: Path) -> None:
        """Upload ``wheel`` through devpi's upload API."""
        _upload(f"{self.server.base}/{self.name}/", wheel, self._auth)

    def delete(self, project: str, version: str) -> None:
        """Delete a release (``DELETE /<index>/<project>/<version>``), as ``devpi remove`` does."""
        import httpx  # noqa: PLC0415

        url = f"{self.server.base}/{self.name}/{project}/{version}"
        answer = httpx.delete(url, auth=self._auth)
        if answer.status_code >= 300:
            raise ServerError(f"delete {project} {version}: {answer.status_code} {answer.text}")

    def file_path(self, filename: str) -> Path:
        """Where the server keeps ``filename`` on disk."""
        found = sorted((self.server.serverdir / "+files" / self.name).rglob(filename))
        if not found:
            raise ServerError(f"{filename} is not stored in {self.name}")
        return found[0]
