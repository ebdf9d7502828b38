"""The projects of a followed index that a poll could not read, each a problem of its own.

A project's page that fails (an HTTP error, garbage, a page over the size cap, a timeout) made
the whole index unavailable: the poll ended there, and no other project's new release or yank
was applied. Now that project alone is a ``project_unavailable`` problem, told once as an event
(and its end once), and the poll goes on with the others; what the index offered of the project
stands as it was last read (:class:`~pluginhost.discover.offering.Offering` decides on its last
page, or holds its cached wheels when it has none).

A poll asks the pages the last one could not read after the others, and once
:data:`UNANSWERED` pages in a row went unanswered (a timeout, a refused connection) while the
root answers, it leaves the rest of those for the next poll, as they were: an index whose
pages hang one after another held each poll for as many timeouts as it has such pages.

So is an entry of the root listing that no request can take (a name with a NUL, another control
character or a lone surrogate): refused alone, the rest of the listing counts. It failed the
listing, and so every poll of the index.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Final

from ..model.errors import IndexResponseError, IndexUnavailableError, PackageIndexError
from ..model.events import Event, EventKind
from ..model.problems import Problem, ProblemKind

__all__ = ["UNANSWERED", "UnreadProjects"]

#: Pages in a row that may go unanswered in one poll before the pages the last poll could not
#: read either are left for the next one.
UNANSWERED: Final = 3

logger = logging.getLogger("pluginhost")


class UnreadProjects:
    """The projects whose page the last poll that reached them could not read.

    :param index_url: the index's URL, as shown (no credentials).
    :param emit: where the events go (told once the poll's offer is published).
    """

    def __init__(self, index_url: str, emit: Callable[[Event], None]) -> None:
        self._url = index_url
        self._emit = emit
        self._pages: dict[str, Problem] = {}
        self._tried: set[str] = set()
        self._listed: dict[str, Problem] = {}
        self._failing: frozenset[str] = frozenset()  # unread when this poll began
        self._unanswered = 0  # pages in a row, in this poll
        self._polls = 0
        self._asked: dict[str, int] = {}  # the poll that last asked an unread page

    def begin(self) -> None:
        """A poll that reads pages starts."""
        self._tried.clear()
        self._failing = frozenset(self._pages)
        self._unanswered = 0
        self._polls += 1
        self._asked = {p: n for p, n in self._asked.items() if p in self._failing}

    def ordered(self, projects: Iterable[str]) -> list[str]:
        """``projects`` in the order to ask their pages: those the last poll read first, then
        the others, the longest unasked first (none is left out poll after poll)."""
        projects = list(projects)
        failing = [p for p in projects if p in self._failing]
        failing.sort(key=lambda p: self._asked.get(p, 0))
        return [p for p in projects if p not in self._failing] + failing

    def deferred(self, project: str) -> bool:
        """Whether the page of ``project``, unread by the last poll, is left for the next
        one (:data:`UNANSWERED` pages in a row went unanswered): its problem stands."""
        if self._unanswered < UNANSWERED or project not in self._failing:
            return False
        self._tried.add(project)
        return True

    def failed(self, project: str, error: PackageIndexError) -> None:
        """The page of ``project`` could not be read: its problem (told once an outage)."""
        self._tried.add(project)
        self._asked[project] = self._polls
        unanswered = isinstance(error, IndexUnavailableError)
        self._unanswered = self._unanswered + 1 if unanswered else 0
        if project not in self._pages:
            logger.warning("index %s: the page of %s cannot be read: %s", self._url, project, error)
            self._emit(
                Event.failure(EventKind.PROJECT_UNAVAILABLE, project, error, origin=error.url)
            )
        self._pages[project] = Problem(
            ProblemKind.PROJECT_UNAVAILABLE,
            project,
            f"index {self._url}: the page of {project} cannot be read ({error.reason}); what "
            f"the index offered of {project} stands, and what serves of it keeps serving",
            path=error.url,
        )

    def read(self, project: str) -> None:
        """The page of ``project`` was read (or is unchanged): the end of its outage, if any."""
        self._tried.add(project)
        self._unanswered = 0
        if self._pages.pop(project, None) is not None:
            logger.warning("index %s: the page of %s is read again", self._url, project)
            self._emit(Event(EventKind.PROJECT_AVAILABLE, project, origin=self._url))

    def end(self) -> None:
        """The poll read every page it wanted: a project it did not ask for is no longer
        followed (its problem goes, with no event: it did not come back)."""
        for project in self._pages.keys() - self._tried:
            del self._pages[project]

    def listed(self, refused: Iterable[IndexResponseError]) -> None:
        """The entries of the root listing refused (:attr:`ProjectList.refused`), each a
        problem while the listing names it, told once."""
        now: dict[str, Problem] = {}
        for error in refused:
            key = error.reason
            if key not in self._listed:
                logger.warning("index %s: %s", self._url, error.reason)
                kind = EventKind.PROJECT_UNAVAILABLE
                self._emit(Event.failure(kind, error.plugin, error, origin=error.url))
            now[key] = Problem(
                ProblemKind.PROJECT_UNAVAILABLE,
                error.plugin,
                f"index {self._url}: {error.reason}; the rest of the listing is followed",
                path=error.url,
            )
        self._listed = now

    def pages(self) -> frozenset[str]:
        """The projects whose page could not be read."""
        return frozenset(self._pages)

    def problems(self) -> list[Problem]:
        return [*self._pages.values(), *self._listed.values()]
