"""Sources: where candidates come from. Reading a candidate never imports plugin code.

Two sources ship with pluginhost, both following the small :class:`Source` protocol:

- :class:`~pluginhost.discover.environment.EnvironmentSource`: distributions installed in the
  host's environment that declare an entry point in the host's group;
- :class:`~pluginhost.discover.folder.WheelFolderSource`: ``*.whl`` files in a folder. Wheels
  there that are not plugins are kept as *dependency wheels*, which can satisfy a plugin's
  ``Requires-Dist``.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from itertools import chain
from typing import Protocol

from ..model.candidate import Candidate
from ..model.frozen import frozen
from ..model.problems import Problem
from .wheel import WheelInfo

__all__ = ["Scan", "Source"]


@frozen
class Scan:
    """What one look at a source found.

    :param candidates: the plugins offered.
    :param problems: wheels or manifests that could not be used, each naming its file.
    :param support: wheels that are not plugins, available to satisfy ``Requires-Dist``.
    """

    candidates: tuple[Candidate, ...] = ()
    problems: tuple[Problem, ...] = ()
    support: tuple[WheelInfo, ...] = ()

    def __add__(self, other: Scan) -> Scan:
        return Scan(
            self.candidates + other.candidates,
            self.problems + other.problems,
            self.support + other.support,
        )

    @classmethod
    def joined(cls, scans: Iterable[Scan]) -> Scan:
        """All of ``scans`` as one, in order: linear, where adding them one by one copies the
        growing tuples again for each (quadratic in the wheels of a folder)."""
        parts = list(scans)
        # Chained in C: a look joins a scan per wheel, a thousand at each swap.
        return cls(
            tuple(chain.from_iterable(map(_CANDIDATES, parts))),
            tuple(chain.from_iterable(map(_PROBLEMS, parts))),
            tuple(chain.from_iterable(map(_SUPPORT, parts))),
        )


_CANDIDATES = operator.attrgetter("candidates")
_PROBLEMS = operator.attrgetter("problems")
_SUPPORT = operator.attrgetter("support")


class Source(Protocol):
    """Anything that can offer plugin candidates for an entry-point group.

    >>> scan = WheelFolderSource("./wheels").scan("greeter.plugins")
    >>> [str(c.name) for c in scan.candidates]
    ['hello', 'polite']
    """

    def scan(self, group: str) -> Scan:
        """Look for candidates of ``group`` now; never raises for one bad plugin."""
        ...
