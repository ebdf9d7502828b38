"""The releases the polls of an index pass over: refused for their own fault until the
project's page changes, or waiting for the next poll because the index or the cache failed
their download; and what a download ended with (:mod:`~pluginhost.discover.downloads`).

Either way the release below serves meanwhile (a yank rolls back to it), and the polls go on
with the other projects' news: raised, such a failure failed every poll, and no yank was
applied.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, final

from ..model.errors import IndexHashError, IndexResponseError, IndexUnavailableError, StoreError
from ..model.events import Event, EventKind
from ..model.problems import Problem, ProblemKind
from ..state.fs import describe

if TYPE_CHECKING:
    from .downloads import Done
    from .releases import Release

__all__ = ["PassedOver"]


@final
class PassedOver:
    """The releases of an index passed over, from the poller's thread only.

    :param cache: the cache folder, named when it cannot keep a file.
    :param emit: where the ``refused`` events go.
    """

    def __init__(self, cache: Path, emit: Callable[[Event], None]) -> None:
        self._cache, self._emit = cache, emit
        # The files the cache could not keep (a full disk), or whose download the index failed
        # (down, too slow): tried again at each poll.
        self._waiting: set[str] = set()
        # Per project: the files whose download or metadata was refused (a sha256 that does not
        # match, a file over the size the host validates), until the project's page changes.
        self._refused: dict[str, dict[str, Problem]] = {}
        # What was told of each waiting file: told once while its failure stays the same (an
        # index down for an hour made a ``refused`` event at every poll).
        self._told: dict[str, str] = {}

    def page_changed(self, project: str) -> None:
        """The project's page changed: a refused file may be fixed."""
        self._refused.pop(project, None)

    def refused(self, project: str, filename: str) -> bool:
        """Whether the file is refused until the project's page changes."""
        return filename in self._refused.get(project, {})

    def skipped(self, project: str) -> Collection[str]:
        """The file names the poll passes over, refused or waiting."""
        return self._refused.get(project, {}).keys() | self._waiting

    def problems(self, project: str) -> Iterable[Problem]:
        """The refusals of the project's files."""
        return self._refused.get(project, {}).values()

    def refuse(self, project: str, release: Release, reason: str) -> None:
        """Say why ``release`` is not downloaded; not tried again until its page changes."""
        self._refused.setdefault(project, {})[release.file.filename] = Problem(
            ProblemKind.WHEEL_INVALID,
            project,
            f"{reason}; not tried again until the index's page for {project} changes",
            version=str(release.version),
            path=release.file.url,
        )

    def took(self, done: Done, mine: dict[str, Path] | None) -> None:
        """What a download ended with: the file cached (put in ``mine`` when given), refused
        for its bytes or its name, waiting for the next poll, or refused for a bug."""
        project, release, exc = done.project, done.release, done.error
        file = release.file
        if exc is None:
            assert done.path is not None
            self._waiting.discard(file.filename)
            self._told.pop(file.filename, None)
            if mine is not None:
                mine[file.filename] = done.path
            return
        if isinstance(exc, (IndexHashError, IndexResponseError)):
            self.refuse(project, release, exc.reason)
        elif isinstance(exc, OSError):
            # The index's (down, too slow: IndexUnavailableError) or the cache's (a full disk).
            self._waiting.add(file.filename)
            if not isinstance(exc, IndexUnavailableError):
                why = f"cannot keep {file.filename}: {describe(exc)}"
                exc = StoreError(why, path=self._cache)
            if self._told.get(file.filename) == str(exc):
                return  # told at an earlier poll, and tried again at each
            self._told[file.filename] = str(exc)
        else:
            # A bug (an error no check expected, like the NUL in a name that once reached the
            # rename; logged where it was raised): this release is refused alone.
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
            self.refuse(project, release, f"fetching {file.filename} failed unexpectedly ({error})")
        self._emit(Event.failure(EventKind.REFUSED, project, exc, origin=file.url))
