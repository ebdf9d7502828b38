"""The host's watching: a folder watcher that notices changes, and the one worker that applies
them, with what each watched folder's trouble is now."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..discover.folder import WheelFolderSource
from ..model.events import Event, EventKind
from ..model.problems import Problem, ProblemKind
from .settings import Settings
from .worker import Worker

if TYPE_CHECKING:
    from ..discover.watch import FolderChange, FolderWatcher

__all__ = ["Watching"]

logger = logging.getLogger("pluginhost")


class Watching:
    """Watches the folders of a started host and runs ``apply`` on its worker for each change.

    :param folders: the watched folders.
    :param settings: the host's settings (``live``, ``polling``, ``rescan_interval``,
        ``settle``).
    :param apply: brings the active set in line with the folders (takes the host's lock).
    :param poll: asked every rescan interval; ``apply`` runs when it answers ``True``.
    :param emit: where the ``folder_polled`` event goes.
    """

    def __init__(
        self,
        folders: Sequence[WheelFolderSource],
        settings: Settings,
        apply: Callable[[], None],
        poll: Callable[[], bool],
        emit: Callable[[Event], None],
        *,
        told: bool = False,
    ) -> None:
        """:param told: whether sources tell their changes (:meth:`changed`) besides the
        folders: the worker runs then, watched folders or not."""
        self._told = told
        self._folders = tuple(folders)
        self._settings = settings
        self._apply = apply
        self._poll = poll
        self._emit = emit
        self._problems: dict[Path, str] = {}
        # The files the watcher reported since the last look took them, by folder.
        self._changed: dict[Path, set[Path]] = {}
        self._changed_lock = threading.Lock()
        self._full_at = time.monotonic()
        self._worker: Worker | None = None
        self._watcher: FolderWatcher | None = None

    def start(self) -> None:
        """Start the worker and the watcher (nothing when the host is not live)."""
        given = self._settings
        if not given.live or not (self._folders or self._told):
            return
        self._worker = Worker(self._apply, poll=self._poll, interval=given.rescan_interval)
        self._worker.start()
        if not self._folders:
            return
        # Imported here: watchdog costs every import of pluginhost otherwise, watching or not.
        from ..discover.watch import FolderWatcher

        self._watcher = FolderWatcher(
            list({f.path: f for f in self._folders}),
            self._on_change,
            wanted=lambda name: any(f.wanted(name) for f in self._folders),
            on_problem=self._on_problem,
            on_polled=self._on_polled,
            polling=given.polling,
            rescan_interval=given.rescan_interval,
            settle=given.settle,
        )
        self._watcher.start()

    def stop(self) -> None:
        """Stop the watcher, then the worker once the run under way (if any) ends."""
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every noticed change has been applied; ``False`` at ``timeout``.

        :param timeout: seconds; ``math.inf`` waits as long as it takes.
        :raises ValueError: when ``timeout`` is NaN (it waited for ever, spinning).
        """
        if math.isnan(timeout):
            raise ValueError("wait_idle() timeout must be a number of seconds, not NaN")
        # Lock waits take no more than TIMEOUT_MAX: an infinite one raised OverflowError.
        deadline = time.monotonic() + min(timeout, threading.TIMEOUT_MAX)
        while True:
            watcher, worker = self._watcher, self._worker
            quiet = watcher is None or watcher.wait_quiet(max(0.0, deadline - time.monotonic()))
            idle = worker is None or worker.wait_idle(max(0.0, deadline - time.monotonic()))
            # The worker may have run while the watcher saw more, or the other way round.
            if quiet and idle and (watcher is None or not watcher.busy()):
                return True
            if time.monotonic() >= deadline:
                return False

    def take_changes(self) -> dict[Path, set[Path]] | None:
        """The files reported changed since the last call, for a look that reads only those;
        ``None`` when a full look is due: nothing was reported (a run asked for by a poll or a
        failure), or the last full one is a rescan interval old."""
        now = time.monotonic()
        with self._changed_lock:
            changed, self._changed = self._changed, {}
        if not changed or self.full_look_due():
            self._full_at = now
            return None
        return changed

    def full_look_due(self) -> bool:
        """Whether the last full look is a rescan interval old."""
        return time.monotonic() - self._full_at >= self._settings.rescan_interval

    def problems(self) -> list[Problem]:
        """Each watched folder that cannot be watched now, and why."""
        return [
            Problem(ProblemKind.FOLDER_UNAVAILABLE, None, f"{path}: {reason}", path=str(path))
            for path, reason in sorted(dict(self._problems).items())
        ]

    def _on_change(self, change: FolderChange) -> None:
        self._problems.pop(change.folder, None)
        self.changed(change.folder, change.paths, here=True)

    def changed(self, folder: Path, paths: Iterable[Path], *, here: bool = False) -> None:
        """Files of ``folder`` that changed (none: something else did), for the worker to
        apply; told by the watcher, and by the sources that follow an index.

        :param here: apply them on the calling thread when the worker is idle (the watcher's:
            :meth:`Worker.run_here`), not on the worker's.
        """
        with self._changed_lock:
            self._changed.setdefault(folder, set()).update(paths)
        if self._worker is None:
            return
        if here:
            self._worker.run_here()
        else:
            self._worker.request()

    def once(self, task: Callable[[], None]) -> None:
        """Run ``task`` once on the worker, before its next run (nothing when not live)."""
        if self._worker is not None:
            self._worker.once(task)

    def refresh(self) -> None:
        """Ask the worker for a full look now."""
        self._full_at = float("-inf")
        if self._worker is not None:
            self._worker.request()

    def _on_polled(self, folder: Path, reason: str) -> None:
        # Changes are still seen, later: said once as an event, not filed as a problem.
        self._emit(Event(EventKind.FOLDER_POLLED, None, origin=str(folder), error=reason))

    def _on_problem(self, folder: Path, reason: str) -> None:
        logger.warning("watched folder %s: %s", folder, reason)
        if "watching again" in reason:
            self._problems.pop(folder, None)
        else:
            self._problems[folder] = reason
