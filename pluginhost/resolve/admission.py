"""Which plugins may load at all: the host's allow-list (``only``), its block list (``block``)
and the plugins disabled by an operator (``host.disable``).

A pure decision on names, taken before resolution: a plugin kept out is never chosen, and its
dependents are reported as missing it, as they would be if it were not there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from ..model.candidate import Candidate
from ..model.frozen import frozen
from ..model.names import PluginName, plugin_name
from ..model.problems import Problem, ProblemKind

__all__ = ["Admission"]


def _names(value: Iterable[str]) -> frozenset[PluginName]:
    return frozenset(plugin_name(v) for v in value)


def _optional_names(value: Iterable[str] | None) -> frozenset[PluginName] | None:
    return None if value is None else _names(value)


@frozen
class Admission:
    """The names that may load.

    >>> Admission(only=["hello"]).problem("polite").message
    "polite is not in the host's allow-list (only: hello)"

    :param only: when not ``None``, the only names that may load.
    :param block: names that may not load.
    :param disabled: names disabled by an operator, until enabled again.
    """

    only: frozenset[PluginName] | None = attrs.field(default=None, converter=_optional_names)
    block: frozenset[PluginName] = attrs.field(default=frozenset(), converter=_names)
    disabled: frozenset[PluginName] = attrs.field(default=frozenset(), converter=_names)

    def allows(self, name: str) -> bool:
        """Whether a plugin of this name may load."""
        return self.problem(name) is None

    def problem(self, name: str, version: str | None = None) -> Problem | None:
        """Why a plugin of this name may not load, or ``None`` when it may."""
        name = plugin_name(name)
        if name in self.disabled:
            reason = f"{name} is disabled (`pluginhost enable {name}` brings it back)"
            return Problem(ProblemKind.DISABLED, name, reason, version=version)
        if name in self.block:
            reason = f"{name} is blocked by the host's settings (block)"
            return Problem(ProblemKind.BLOCKED, name, reason, version=version)
        if self.only is not None and name not in self.only:
            allowed = ", ".join(sorted(self.only)) or "nothing"
            reason = f"{name} is not in the host's allow-list (only: {allowed})"
            return Problem(ProblemKind.BLOCKED, name, reason, version=version)
        return None

    def screen(
        self, candidates: Sequence[Candidate]
    ) -> tuple[list[Candidate], dict[PluginName, tuple[Candidate, Problem]]]:
        """The candidates that may load, and for each plugin kept out its highest version
        offered and the reason."""
        kept: list[Candidate] = []
        out: dict[PluginName, tuple[Candidate, Problem]] = {}
        if self.only is None and not self.block and not self.disabled:
            return list(candidates), out  # what most hosts run with, at every swap
        for c in candidates:
            problem = self.problem(c.name, c.version_text)
            if problem is None:
                kept.append(c)
            elif c.name not in out or out[c.name][0].version < c.version:
                out[c.name] = (c, problem)
        return kept, out

    def with_disabled(self, names: Iterable[str]) -> Admission:
        """This admission with ``names`` as the disabled plugins."""
        return attrs.evolve(self, disabled=names)
