"""Releases of a followed index that the host refused for their own bytes: remembered, so that
their cached wheels can be deleted without being downloaded again at the next poll.

A poll fetches the newest release down to the first one the host takes, so that a broken
newest release does not leave a host without any. The host's refusal of a wheel is known by
its path in the cache, for as long as the wheel is there; so every refused release stayed
cached, and a project that published a hundred broken releases filled the home with a hundred
wheels (of up to the host's ``max_wheel_size`` each). A release refused for what its file holds
(an invalid wheel, an invalid manifest, hooks the host does not know) stays refused for the
same bytes: it is remembered here by file name and sha256, its wheel is pruned, and its
problem is shown still. It is tried again once the index lists other bytes under its name, or,
for an index that gives no sha256, once the project's page changes; a host started again tries
each once more. A refusal that may pass later (a dependency missing, a trust file that lacks
the hash) is not remembered: its wheel stays cached, as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, KeysView, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import attrs

from ..model.problems import UNREAD, Problem, ProblemKind

if TYPE_CHECKING:
    from .index.pages import IndexFile

__all__ = ["CONTENT_KINDS", "SpoiledReleases"]

#: The refusals that depend on the wheel's bytes alone (the host's hookspecs and limits are
#: fixed for its run).
CONTENT_KINDS: Final = frozenset(
    {ProblemKind.WHEEL_INVALID, ProblemKind.MANIFEST_INVALID, ProblemKind.UNKNOWN_HOOKS}
)

_WHY_GONE: Final = (
    "; its wheel is deleted from the cache, and not downloaded again while the index lists"
    " the same file"
)


def _for_its_bytes(problem: Problem) -> bool:
    """Whether ``problem`` refuses a wheel for what its bytes hold: of a kind that does, and
    not a read that did not go through (an I/O error, the site writer lost), which may pass."""
    return problem.kind in CONTENT_KINDS and not any(m in problem.message for m in UNREAD)


class SpoiledReleases:
    """Per project, the cached wheels the host refused for their content: file name to the
    sha256 of the bytes refused and the refusal (only the offering's poller uses it)."""

    def __init__(self) -> None:
        self._by_project: dict[str, dict[str, tuple[str, Problem]]] = {}

    def note(
        self,
        project: str,
        cached: Mapping[str, Path],
        refused: Mapping[str, Problem],
        sha: Callable[[Path], str],
    ) -> None:
        """Remember the wheels of ``cached`` (by file name) that the host refused for their
        content (``refused``: its problems by absolute path)."""
        for filename, path in cached.items():
            problem = refused.get(os.path.abspath(path))
            if problem is None or not _for_its_bytes(problem):
                continue
            digest = sha(path)
            if digest:  # "" for a file gone meanwhile: nothing known of its bytes
                told = attrs.evolve(problem, message=problem.message + _WHY_GONE)
                self._by_project.setdefault(project, {})[filename] = (digest, told)

    def retain(self, project: str, files: Sequence[IndexFile], *, changed: bool) -> None:
        """Forget the releases of ``project`` whose file the index no longer lists with the
        bytes refused: gone, listed with another sha256, or listed without one on a page that
        ``changed``."""
        spoiled = self._by_project.get(project)
        if not spoiled:
            return
        listed = {f.filename: f.sha256 for f in files}
        for filename, (digest, _) in list(spoiled.items()):
            if filename not in listed:
                del spoiled[filename]
                continue
            now = listed[filename]
            if (now is None and changed) or (now is not None and now != digest):
                del spoiled[filename]
        if not spoiled:
            del self._by_project[project]

    def names(self, project: str) -> KeysView[str]:
        """The file names of ``project`` not to download or keep."""
        return self._by_project.get(project, {}).keys()

    def problems(self, project: str) -> list[Problem]:
        """Why each of them is not served, to be shown while it is remembered."""
        return [problem for _, problem in self._by_project.get(project, {}).values()]
