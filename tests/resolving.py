"""Helpers for the resolver's tests: resolve candidates written as strings, read the plan."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from strategies import API_VERSION

from pluginhost.model.candidate import Candidate
from pluginhost.model.names import PluginName, plugin_name
from pluginhost.model.policy import VersionPolicy
from pluginhost.model.problems import Problem, ProblemKind
from pluginhost.model.versions import Version
from pluginhost.resolve.resolution import Plan, resolve

N = plugin_name
PRE = VersionPolicy(allow_prerelease=True)


def run(
    cands: Iterable[Candidate],
    *,
    policy: VersionPolicy = VersionPolicy(),
    active: Mapping[str, str] | None = None,
    api: Version = API_VERSION,
) -> Plan:
    """Resolve with versions written as strings."""
    act = {N(k): Version.parse(v) for k, v in (active or {}).items()}
    return resolve(cands, api_version=api, policy=policy, active=act)


def versions_of(plan: Plan) -> dict[str, str]:
    """The chosen version of each plugin, as text."""
    return {name: str(cand.version) for name, cand in plan.chosen.items()}


def only(plan: Plan, kind: ProblemKind, plugin: str | None = None) -> Problem:
    """The one problem of ``kind`` (about ``plugin``, when given); fails unless exactly one."""
    found = [p for p in plan.problems if p.kind is kind and plugin in (None, p.plugin)]
    assert len(found) == 1, plan.problems
    return found[0]


def satisfied(constraint_holder: Candidate, dep: PluginName, chosen: Candidate, pre: bool) -> bool:
    """Whether ``chosen`` meets the requirement ``constraint_holder`` puts on ``dep``."""
    return constraint_holder.requires[dep].allows(chosen.version, prerelease=pre)


def requirers(name: PluginName, chosen: Mapping[PluginName, Candidate]) -> list[Candidate]:
    """The chosen candidates that require ``name``."""
    return [c for c in chosen.values() if name in c.requires]
