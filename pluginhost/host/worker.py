"""The host's single worker: folder changes are applied one at a time, in order (by its thread,
or by the thread that saw the change when the worker is idle: :meth:`Worker.run_here`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..model.pacing import paced_thread

__all__ = ["Worker"]

logger = logging.getLogger("pluginhost")


class Worker:
    """Runs ``job`` whenever asked, on its own thread; requests made while it runs coalesce.

    A request while the job runs makes it run once more afterwards, so a change noticed during a
    run is never lost, and a storm of requests costs one extra run, not one run each.
    """

    def __init__(
        self,
        job: Callable[[], None],
        name: str = "pluginhost-worker",
        *,
        poll: Callable[[], bool] | None = None,
        interval: float = 30.0,
    ) -> None:
        """:param poll: asked every ``interval`` seconds while idle; the job runs when it
        answers ``True`` (a change that no event announces)."""
        self._job = job
        self._poll = poll
        self._interval = interval
        self._cond = threading.Condition()
        self._pending = False
        self._tasks: list[Callable[[], None]] = []
        self._running = False
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def request(self) -> None:
        """Ask for one more run of the job."""
        with self._cond:
            self._pending = True
            self._cond.notify_all()

    def run_here(self) -> None:
        """Ask for one more run of the job, made on the calling thread when the worker is idle.

        A thread that hands a run to the worker's thread makes the worker wait for the
        interpreter lock as it wakes: a switch interval or more per thread calling hooks
        without pause. The thread that read a wheel's arrival runs the swap itself (busy
        callers). When a run or a task is under way or pending, this is :meth:`request`.
        """
        with self._cond:
            if self._stopping or self._running or self._pending or self._tasks:
                self._pending = True
                self._cond.notify_all()
                return
            self._running = True
        paced_thread()  # as the worker's own thread: the swap runs while callers call
        try:
            self._step(self._job, "applying folder changes failed")
        finally:
            with self._cond:
                self._running = False
                self._cond.notify_all()

    def once(self, task: Callable[[], None]) -> None:
        """Run ``task`` once on the worker's thread, before the job's next run."""
        with self._cond:
            self._tasks.append(task)
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no run or task is pending or under way; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._tasks or self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the run under way (if any), then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _loop(self) -> None:
        paced_thread()  # its swaps run while the application calls hooks
        while True:
            with self._cond:
                timeout = self._interval if self._poll is not None else None
                # Not while a run made elsewhere (run_here) is under way: one run at a time.
                self._cond.wait_for(self._due, timeout)
                if self._stopping:
                    self._pending = False
                    self._tasks.clear()
                    self._cond.notify_all()
                    return
                if self._running:
                    continue  # the poll's time came during a run made elsewhere (run_here)
                tasks, self._tasks = self._tasks, []
                asked, self._pending = self._pending, False
                # Running from the moment the request is taken: wait_idle() never sees a
                # request taken and its run not yet begun as idle.
                self._running = bool(tasks or asked)
            if not (tasks or asked):
                if not self._polled():
                    continue
                asked = True
                with self._cond:
                    self._running = True
            try:
                for task in tasks:
                    self._step(task, "a task of the host failed")
                if asked:
                    self._step(self._job, "applying folder changes failed")
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()

    def _due(self) -> bool:
        return self._stopping or (bool(self._pending or self._tasks) and not self._running)

    @staticmethod
    def _step(step: Callable[[], None], failed: str) -> None:
        try:
            step()
        except BaseException:
            # One bad run must not end the worker, whatever it raised (a SystemExit would
            # end the thread silently): the next change gets its own chance. The steps
            # turn what one file causes into a problem naming it; this is the last resort.
            logger.exception("pluginhost worker: %s", failed)

    def _polled(self) -> bool:
        assert self._poll is not None
        try:
            return self._poll()
        except BaseException:
            logger.exception("pluginhost worker: checking for changes failed")
            return False
