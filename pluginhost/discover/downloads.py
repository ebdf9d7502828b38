"""The downloads of a followed index, apart from its polls: on threads of their own, one at a
time per project, each told when it ends.

A poll that wanted a new release downloaded it in the poll, and published its offer (the
yanks and deletions of every project with it) only once the download ended. A download's only
bound is the rate floor (:data:`~pluginhost.discover.index.client.MIN_DOWNLOAD_RATE`) up to
the largest wheel the host takes: an index that sent a 256 MiB wheel just above that rate held
every rollback of the index for four and a half hours. Now a poll asks for the download and
publishes what it read at once; the download, once it ends, wakes the poller, whose next poll
offers the release. The projects do not wait for each other's downloads either: a rollback to
a version no longer cached downloads it beside another project's slow wheel. A stopping source
abandons the downloads between two chunks (their partial files removed, nothing kept) and
waits for them a bounded time::

    downloads = DownloadThreads(make_client, cache, ended=lambda retried: poller.wake())
    downloads.want("hello", release)     # queued; has("hello-2.0-...whl") until it ends
    for done in downloads.finished():    # on the poller's thread
        ...
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final, final

from ..model.errors import PackageIndexError
from ..model.frozen import frozen
from .index.client import DownloadStoppedError

if TYPE_CHECKING:
    from .index.client import IndexClient
    from .releases import Release

__all__ = ["MAX_THREADS", "STOP_WAIT", "Done", "DownloadThreads", "Downloads"]

logger = logging.getLogger("pluginhost")

#: Download threads at most, each with its connection: projects past them wait for a thread in
#: the order asked (an index that trickled a new release of each of 1,000 followed projects
#: held a thread and a file descriptor per project, past the process's usual limit of 1,024).
MAX_THREADS: Final = 8

#: Seconds a stopping source waits for its download to give up (it does between two chunks;
#: a read that gets no byte ends within the index's timeout, on a thread left to end alone).
STOP_WAIT: Final = 2.0


@frozen
class Done:
    """A download that ended.

    :param project: the project it is of.
    :param release: the release downloaded.
    :param path: the cached wheel, its sha256 checked; ``None`` when it failed.
    :param error: why it failed (an error of the index, of the cache, or a bug).
    """

    project: str
    release: Release
    path: Path | None = None
    error: Exception | None = None


class Downloads:
    """Downloads done at once, in the caller's thread (a poll that waits for its downloads: a
    benchmark, a test).

    :param client: the index's client (the poller's).
    :param into: the cache folder.
    """

    def __init__(self, client: IndexClient | None, into: Path) -> None:
        self._client, self._into = client, into
        self._stopping = False
        self._lock = threading.Lock()
        self._done: list[Done] = []

    def want(self, project: str, release: Release) -> None:
        """Download ``release`` (its end is in :meth:`finished`)."""
        assert self._client is not None
        self._record(self._download(self._client, project, release))

    def has(self, filename: str) -> bool:
        """Whether the file is being downloaded, or waits for its turn."""
        return False

    def busy(self) -> bool:
        """Whether a download is under way or waiting."""
        return False

    def finished(self) -> list[Done]:
        """The downloads that ended since the last call, in order."""
        with self._lock:
            done, self._done = self._done, []
        return done

    def stop(self, timeout: float = STOP_WAIT) -> None:
        """Abandon the download under way, waiting at most ``timeout`` seconds."""
        self._stopping = True
        if self._client is not None:
            self._client.abandon()

    def _record(self, done: Done | None) -> None:
        if done is not None:
            with self._lock:
                self._done.append(done)

    def _download(self, client: IndexClient, project: str, release: Release) -> Done | None:
        """One download, what it ended with; ``None`` when it was abandoned."""
        file = release.file
        try:
            path = client.download(file, self._into)
        except DownloadStoppedError:
            return None
        except (PackageIndexError, OSError) as exc:
            return Done(project, release, error=exc)
        except Exception as exc:
            # A bug: logged here, where the traceback is; the release is refused alone.
            logger.exception("index: fetching %s failed unexpectedly", file.url)
            return Done(project, release, error=exc)
        return Done(project, release, path=path)


@final
class DownloadThreads(Downloads):
    """Downloads on threads of their own: one per project with downloads to do, doing them one
    at a time in the order asked, each with a client of its own (a client has one user), and
    :data:`MAX_THREADS` at most: a thread done with its project takes the next one waiting.

    :param make_client: makes a client of the index.
    :param into: the cache folder.
    :param ended: told once each download ended, with whether it is to be tried again at
        the next poll (the index or the cache failed it): the poller polls at once otherwise.
    """

    def __init__(
        self,
        make_client: Callable[[], IndexClient],
        into: Path,
        ended: Callable[[bool], None],
    ) -> None:
        super().__init__(None, into)
        self._make_client, self._ended = make_client, ended
        self._queues: dict[str, collections.deque[Release]] = {}
        self._waiting: collections.deque[str] = collections.deque()
        """Projects with downloads asked for and no thread yet."""
        self._threads: dict[str, threading.Thread] = {}
        """The threads, by the project each works on."""
        self._clients: set[IndexClient] = set()
        self._pending: set[str] = set()

    def want(self, project: str, release: Release) -> None:
        with self._lock:
            if self._stopping or release.file.filename in self._pending:
                return
            self._pending.add(release.file.filename)
            queued = self._queues.get(project)
            if queued is None:
                queued = self._queues[project] = collections.deque()
                if len(self._threads) < MAX_THREADS:
                    thread = threading.Thread(
                        target=self._run,
                        args=(project,),
                        name="pluginhost-index-download",
                        daemon=True,
                    )
                    self._threads[project] = thread
                    thread.start()
                else:
                    self._waiting.append(project)
            queued.append(release)

    def has(self, filename: str) -> bool:
        with self._lock:
            return filename in self._pending

    def busy(self) -> bool:
        with self._lock:
            return bool(self._pending)

    def stop(self, timeout: float = STOP_WAIT) -> None:
        with self._lock:
            self._stopping = True
            while self._waiting:  # never to start: no longer pending
                queued = self._queues.pop(self._waiting.popleft())
                self._pending.difference_update(r.file.filename for r in queued)
            threads = list(self._threads.values())
            for client in self._clients:
                client.abandon()
        deadline = time.monotonic() + timeout
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, project: str) -> None:
        client = self._make_client()
        with self._lock:
            self._clients.add(client)
        try:
            while (found := self._next(project)) is not None:
                project, queued = found
                release = queued[0]
                done = self._download(client, project, release)
                with self._lock:
                    queued.popleft()
                    self._pending.discard(release.file.filename)
                    if done is None or self._stopping:
                        continue
                    self._done.append(done)
                self._ended(_retried(done))
        finally:
            with self._lock:
                self._clients.discard(client)
            client.close()  # here: the client is this thread's alone

    def _next(self, project: str) -> tuple[str, collections.deque[Release]] | None:
        """The project whose download this thread does next: ``project`` while it has one
        waiting, then a project waiting for a thread; ``None`` when the thread ends (under the
        lock: a download asked for meanwhile finds a thread or starts one)."""
        with self._lock:
            thread = self._threads.pop(project)
            queued = self._queues[project]
            if queued and not self._stopping:
                self._threads[project] = thread
                return project, queued
            del self._queues[project]
            self._pending.difference_update(r.file.filename for r in queued)
            if self._stopping:
                return None
            if self._waiting:
                project = self._waiting.popleft()
                self._threads[project] = thread
                return project, self._queues[project]
            return None


def _retried(done: Done) -> bool:
    """Whether the download is tried again at the next poll: it failed for the index or the
    cache, not for its own bytes or name (those are refused until the page changes)."""
    error = done.error
    return isinstance(error, OSError)  # IndexUnavailableError is one, and the cache's errors
