"""Resolution: from the candidates at hand to the plugins to load, their versions and their order.

:func:`resolve` is pure (no I/O, no logging) and deterministic: the same candidates in any order
give an equal :class:`Plan`. "``v`` satisfies ``c``" always means
``c.allows(v, prerelease=policy.allow_prerelease)``. The rules, in the order they apply:

1. **Duplicates.** Candidates of one name and version are ordered installed origins first, then
   wheels by path, and the first is kept. Copies with the same bytes (same sha256, or both
   installed) are dropped silently; every other copy is a ``CONFLICT`` naming both origins.
2. **Eligibility.** A version is refused (``REFUSED``) when its host constraint does not allow the
   host's ``api_version`` (asked with ``prerelease=True``: the host's own version is not subject to
   the plugin prerelease policy), when it is lower than the active version and the policy forbids
   downgrades, or when it is a prerelease, the policy forbids prereleases, and no plugin's
   requirement names it (:meth:`Constraint.allows` with ``prerelease=False``). A prerelease admitted
   that way must in the end be required by a loaded plugin, or it is refused in turn. Refusals are
   reported only for versions higher than the chosen one, or for all versions when the plugin does
   not load: an old version lying around is not a problem.
3. **Choice (greedy rounds).** Each plugin starts at its highest eligible version; then each moves
   to the highest version, no higher than its current one, that satisfies every constraint the
   chosen plugins' ``requires`` put on it (``optional`` never constrains). When none satisfies them
   all, the one satisfying the most, ties to the higher. Versions only move down, so this settles.
   Then each chosen version's requirements are checked: a name without candidates is ``MISSING``,
   a skipped plugin is ``DEPENDENCY_FAILED`` (naming the chain down to the root cause), anything
   else is ``UNSATISFIABLE`` (who needs what, what is available). A failing version is excluded
   and the round starts over; a plugin without versions left is skipped, so its dependents fail in
   later rounds. Like refusals, failures are reported for versions above the chosen one only.
4. **Cycles.** Among the chosen plugins, edges are the required dependencies plus optional ones
   that are chosen and satisfied. Every strongly connected component of more than one plugin, or
   a plugin depending on itself, is a ``CYCLE`` for each member, listing the members in cycle order
   (``a -> b -> c -> a``); the members are skipped and the round starts over. Excluded versions and
   skipped plugins only grow, so there are at most (versions + plugins + 1) rounds.
5. **Full-load search.** Greedy rounds can skip more than needed: when two requirers disagree on
   a dependency, the one that loses is dropped even if lowering the other would have pleased both.
   So when the rounds skip anything, a depth-first search (names sorted, versions highest first,
   at most ``_SEARCH_BUDGET`` steps) looks for versions that load *every* plugin under rules 2-4,
   and when it finds them they are the plan. Guarantee: if all plugins can load together and the
   search finds it within its budget (always for a few plugins of a few versions), all load. When
   no full load exists, the greedy result stands: consistent, but not necessarily the largest set.
6. **Order.** :class:`graphlib.TopologicalSorter` over the chosen plugins, each ready batch sorted
   by name: dependencies (and present optional ones) load first.

Problem messages name plugins with versions; ``Problem.plugin`` is the plugin refused or skipped,
``Problem.involved`` the others.
"""

from __future__ import annotations

import graphlib
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Final, final

import attrs

from ..model.candidate import Candidate, WheelOrigin
from ..model.names import PluginName
from ..model.policy import VersionPolicy
from ..model.problems import Problem, ProblemKind
from ..model.versions import Constraint, Version

__all__ = ["Plan", "resolve"]

_SEARCH_BUDGET: Final = 10_000
"""Steps of the full-load search; each step tries one version of one plugin."""

Graph = Mapping[PluginName, tuple[PluginName, ...]]
Pool = Mapping[PluginName, tuple[Candidate, ...]]


@final
@attrs.frozen
class Plan:
    """What to load, in which order, and why the rest is left out.

    :param chosen: the version to load per plugin.
    :param order: load order, dependencies first.
    :param problems: why plugins (or versions of them) are left out.
    :param graph: plugin -> the chosen plugins it depends on (required, plus optional ones that are
        chosen and satisfied), sorted.
    """

    chosen: Mapping[PluginName, Candidate] = attrs.field(hash=False)
    order: tuple[PluginName, ...]
    problems: tuple[Problem, ...]
    graph: Graph = attrs.field(hash=False)


def resolve(
    candidates: Iterable[Candidate],
    *,
    api_version: Version,
    policy: VersionPolicy = VersionPolicy(),
    active: Mapping[PluginName, Version] | None = None,
) -> Plan:
    """Choose a version per plugin and a load order; see the module docstring for the rules.

    >>> resolve([], api_version=Version(1, 0, 0)).order
    ()

    :param candidates: every plugin version at hand, in any order.
    :param api_version: the host's API version, matched against each manifest's ``host``.
    :param policy: the operator's prerelease and downgrade rules.
    :param active: the version of each plugin active now, for the downgrade rule.
    :returns: the plan; it never raises for unresolvable input, it names problems instead.
    """
    allow_pre = policy.allow_prerelease
    # 1. One candidate per name and version; other bytes under the same version are conflicts.
    pool, conflicts = _collapse(candidates)
    # 2. Refuse what the host API, the downgrade rule or the prerelease rule excludes outright.
    refused = _screen(pool, api_version, policy, active or {})
    eligible = {name: tuple(c for c in cands if c not in refused) for name, cands in pool.items()}
    # 3-4. Greedy rounds choose versions and skip what cannot load, cycles included.
    greedy = _Greedy(pool, eligible, refused, allow_pre)
    chosen = greedy.run()
    failures = greedy.failures
    # 5. The rounds may have skipped more than needed: prefer a load of everything if one exists.
    if len(chosen) < len(pool):
        full = _search_full(eligible, allow_pre)
        if full is not None:
            chosen, failures = full, []
    # 6. Load order and the problems worth reporting against what was chosen.
    graph = _graph(chosen, allow_pre)
    problems = [*conflicts, *_above_chosen([*refused.items(), *failures], chosen)]
    return Plan(
        chosen=MappingProxyType(dict(sorted(chosen.items()))),
        order=_order(graph),
        problems=tuple(sorted(problems, key=_problem_key)),
        graph=MappingProxyType(graph),
    )


# -- 1. duplicates ---------------------------------------------------------------------------------


def _collapse(
    candidates: Iterable[Candidate],
) -> tuple[dict[PluginName, tuple[Candidate, ...]], list[Problem]]:
    groups: dict[tuple[PluginName, Version], list[Candidate]] = defaultdict(list)
    for cand in candidates:
        groups[cand.name, cand.version].append(cand)
    pool: dict[PluginName, list[Candidate]] = defaultdict(list)
    conflicts: list[Problem] = []
    for group in groups.values():
        # Sorted only when there is a choice: the key's repr() is most of a start's resolution.
        kept, *others = sorted(group, key=_origin_key) if len(group) > 1 else group
        pool[kept.name].append(kept)
        conflicts.extend(_conflict(kept, other) for other in others if not _same_bytes(kept, other))
    return {name: _descending(cands) for name, cands in sorted(pool.items())}, conflicts


def _origin_key(cand: Candidate) -> tuple[bool, str, str, str]:
    # repr() last: equal origins with different manifests must still sort the same way every time.
    return (isinstance(cand.origin, WheelOrigin), str(cand.origin), cand.sha256 or "", repr(cand))


def _same_bytes(a: Candidate, b: Candidate) -> bool:
    if a.sha256 is None and b.sha256 is None:
        return True  # both installed: the environment holds one copy of a distribution version
    return a.sha256 == b.sha256


def _conflict(kept: Candidate, other: Candidate) -> Problem:
    message = (
        f"{_at(kept)} is offered twice with different contents: {kept.origin} and"
        f" {other.origin}; the first is used"
    )
    return _problem(ProblemKind.CONFLICT, other, message)


def _descending(cands: Iterable[Candidate]) -> tuple[Candidate, ...]:
    return tuple(sorted(cands, key=lambda c: c.version, reverse=True))


# -- 2. eligibility --------------------------------------------------------------------------------


def _screen(
    pool: Pool, api_version: Version, policy: VersionPolicy, active: Mapping[PluginName, Version]
) -> dict[Candidate, Problem]:
    named = _named_prereleases(pool)
    refused = {}
    for name, cands in pool.items():
        for cand in cands:
            reason = _refusal(cand, api_version, policy, active.get(name), named)
            if reason is not None:
                refused[cand] = _problem(ProblemKind.REFUSED, cand, reason)
    return refused


def _refusal(
    cand: Candidate,
    api_version: Version,
    policy: VersionPolicy,
    active: Version | None,
    named: set[Candidate],
) -> str | None:
    if not cand.manifest.host.allows(api_version, prerelease=True):
        return (
            f"{_at(cand)} requires host API {cand.manifest.host}, this host provides {api_version}"
        )
    if active is not None and cand.version < active and not policy.allow_downgrade:
        return (
            f"{_at(cand)} is lower than the active {cand.name} {active},"
            " and the policy does not allow downgrades"
        )
    if cand.version.prerelease and not policy.allow_prerelease and cand not in named:
        return f"{_at(cand)} is a prerelease, and the policy does not allow prereleases"
    return None


def _named_prereleases(pool: Pool) -> set[Candidate]:
    """Prereleases that some plugin's requirement names explicitly, whatever the policy says."""
    constraints = defaultdict(list)
    for cands in pool.values():
        for cand in cands:
            for dep, constraint in cand.manifest.requires.items():
                constraints[dep].append(constraint)
    return {
        cand
        for name, cands in pool.items()
        for cand in cands
        if cand.version.prerelease and any(c.allows(cand.version) for c in constraints[name])
    }


# -- 3-4. greedy rounds ----------------------------------------------------------------------------


@attrs.frozen
class _Skip:
    """Why a plugin is skipped: the chain of plugins down to the root cause, and that cause."""

    chain: tuple[PluginName, ...]
    cause: str


@attrs.frozen
class _Failure:
    candidate: Candidate
    problem: Problem
    skip: _Skip


@final
class _Greedy:
    """The greedy rounds of rules 3 and 4. Excluded versions and skipped plugins only grow."""

    def __init__(
        self, pool: Pool, eligible: Pool, refused: Mapping[Candidate, Problem], allow_pre: bool
    ) -> None:
        self._pool = pool
        self._eligible = eligible
        self._allow_pre = allow_pre
        self._excluded: set[Candidate] = set()
        self._first_failure: dict[Candidate, _Failure] = {}
        self.failures: list[tuple[Candidate, Problem]] = []
        self.skips = {
            name: _Skip((name,), refused[pool[name][0]].message)
            for name, cands in eligible.items()
            if not cands
        }

    def run(self) -> dict[PluginName, Candidate]:
        """Run rounds until one chooses versions without failures or cycles; return them."""
        rounds = sum(map(len, self._eligible.values())) + len(self._eligible) + 1
        for _ in range(rounds):
            chosen = self._choose()
            failures = self._check(chosen)
            if failures:
                self._exclude(failures)
                continue
            cycles = _cycles(_graph(chosen, self._allow_pre))
            if not cycles:
                return chosen
            self._skip_cycles(cycles, chosen)
        raise AssertionError("unreachable: every round excludes a version or skips a plugin")

    def _live(self) -> dict[PluginName, tuple[Candidate, ...]]:
        return {
            name: tuple(c for c in cands if c not in self._excluded)
            for name, cands in self._eligible.items()
            if name not in self.skips
        }

    def _choose(self) -> dict[PluginName, Candidate]:
        live = self._live()
        current = {name: cands[0] for name, cands in live.items()}
        while True:  # versions only move down, so this ends within as many steps as versions
            demands = _demands(current)
            settled = {
                name: _pick(
                    [c for c in live[name] if c.version <= cand.version],
                    demands.get(name, ()),
                    self._allow_pre,
                )
                for name, cand in current.items()
            }
            if settled == current:
                return current
            current = settled

    def _check(self, chosen: Mapping[PluginName, Candidate]) -> list[_Failure]:
        demands = _demands(chosen)
        failures = []
        for name, cand in sorted(chosen.items()):
            for dep, constraint in sorted(cand.manifest.requires.items()):
                failure = self._unmet(cand, dep, constraint, chosen)
                if failure is not None:
                    failures.append(failure)
            if cand.version.prerelease and not self._allow_pre and not demands.get(name):
                failures.append(_root_failure(ProblemKind.REFUSED, cand, _unrequired(cand)))
        return failures

    def _unmet(
        self,
        cand: Candidate,
        dep: PluginName,
        constraint: Constraint,
        chosen: Mapping[PluginName, Candidate],
    ) -> _Failure | None:
        needs = f"{_at(cand)} requires {dep} {constraint}"
        if dep not in self._pool:
            return _root_failure(ProblemKind.MISSING, cand, f"{needs}, which is not available")
        if dep in self.skips:
            return _dependency_failure(cand, needs, self.skips[dep])
        got = chosen.get(dep)
        if got is not None and constraint.allows(got.version, prerelease=self._allow_pre):
            return None
        available = self._eligible[dep]
        message = f"{needs}, available: {dep} {', '.join(str(c.version) for c in available)}"
        if got is not None and any(
            constraint.allows(c.version, prerelease=self._allow_pre) for c in available
        ):
            # A fitting version exists: say why it is not the one chosen.
            message += f"; other plugins' requirements chose {_at(got)}"
        return _root_failure(ProblemKind.UNSATISFIABLE, cand, message)

    def _exclude(self, failures: Iterable[_Failure]) -> None:
        for failure in failures:
            self.failures.append((failure.candidate, failure.problem))
            self._excluded.add(failure.candidate)
            self._first_failure.setdefault(failure.candidate, failure)
        for name, cands in self._live().items():
            if not cands:
                # The highest version's reason stands for the plugin in its dependents' messages.
                self.skips[name] = self._first_failure[self._eligible[name][0]].skip

    def _skip_cycles(
        self, cycles: Iterable[tuple[PluginName, ...]], chosen: Mapping[PluginName, Candidate]
    ) -> None:
        for walk in cycles:
            members = tuple(dict.fromkeys(walk))
            text = " -> ".join(walk)
            for name in members:
                others = tuple(m for m in members if m != name)
                message = f"{_at(chosen[name])} is in a dependency cycle: {text}"
                problem = _problem(ProblemKind.CYCLE, chosen[name], message, others)
                self.failures.append((chosen[name], problem))
                self.skips[name] = _Skip((name,), f"{text} is a dependency cycle")


def _demands(
    chosen: Mapping[PluginName, Candidate],
) -> dict[PluginName, list[tuple[Candidate, Constraint]]]:
    """The constraints that the chosen plugins' requirements put on each plugin."""
    demands = defaultdict(list)
    for cand in chosen.values():
        for dep, constraint in cand.manifest.requires.items():
            demands[dep].append((cand, constraint))
    return demands


def _pick(
    cands: Sequence[Candidate], demands: Sequence[tuple[Candidate, Constraint]], allow_pre: bool
) -> Candidate:
    """The highest candidate satisfying every demand, else the most of them, ties to the higher."""
    best, best_score = cands[0], -1
    for cand in cands:
        score = sum(k.allows(cand.version, prerelease=allow_pre) for _, k in demands)
        if score == len(demands):
            return cand
        if score > best_score:
            best, best_score = cand, score
    return best


def _root_failure(kind: ProblemKind, cand: Candidate, message: str) -> _Failure:
    return _Failure(cand, _problem(kind, cand, message), _Skip((cand.name,), message))


def _dependency_failure(cand: Candidate, needs: str, skip: _Skip) -> _Failure:
    chain = (cand.name, *skip.chain)
    message = f"{needs}, which is skipped: {' -> '.join(chain)} ({skip.cause})"
    problem = _problem(ProblemKind.DEPENDENCY_FAILED, cand, message, skip.chain)
    return _Failure(cand, problem, _Skip(chain, skip.cause))


def _unrequired(cand: Candidate) -> str:
    return (
        f"{_at(cand)} is a prerelease, and the policy allows prereleases only"
        " where a loaded plugin's requirement names them"
    )


# -- 4. cycles -------------------------------------------------------------------------------------


def _graph(
    chosen: Mapping[PluginName, Candidate], allow_pre: bool
) -> dict[PluginName, tuple[PluginName, ...]]:
    return {name: _edges(cand, chosen, allow_pre) for name, cand in sorted(chosen.items())}


def _edges(
    cand: Candidate, chosen: Mapping[PluginName, Candidate], allow_pre: bool
) -> tuple[PluginName, ...]:
    deps = {dep for dep in cand.manifest.requires if dep in chosen}
    deps.update(
        dep
        for dep, constraint in cand.manifest.optional.items()
        if dep in chosen and constraint.allows(chosen[dep].version, prerelease=allow_pre)
    )
    return tuple(sorted(deps))


def _cycles(graph: Graph) -> list[tuple[PluginName, ...]]:
    """A closed walk through each cyclic component, e.g. ``(a, b, c, a)``, sorted."""
    return sorted(
        _walk(graph, set(component))
        for component in _components(graph)
        if len(component) > 1 or component[0] in graph[component[0]]
    )


def _components(graph: Graph) -> list[list[PluginName]]:
    """Strongly connected components: Tarjan's algorithm with an explicit stack, no recursion."""
    index: dict[PluginName, int] = {}
    low: dict[PluginName, int] = {}
    stack: list[PluginName] = []
    found: list[list[PluginName]] = []

    def visit(node: PluginName) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)

    for root in graph:
        if root in index:
            continue
        visit(root)
        work = [(root, iter(graph[root]))]
        while work:
            node, edges = work[-1]
            for dep in edges:
                if dep not in index:
                    visit(dep)
                    work.append((dep, iter(graph[dep])))
                    break
                if dep in stack:
                    low[node] = min(low[node], index[dep])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    cut = stack.index(node)
                    found.append(stack[cut:])
                    del stack[cut:]
    return found


def _walk(graph: Graph, members: set[PluginName]) -> tuple[PluginName, ...]:
    """A closed walk from the smallest member through all members, by shortest hops."""
    start = min(members)
    walk = [start]
    unseen = members - {start}
    while unseen:
        hop = _shortest(graph, walk[-1], unseen.__contains__, members)
        walk.extend(hop)
        unseen.difference_update(hop)
    walk.extend(_shortest(graph, walk[-1], start.__eq__, members))
    return tuple(walk)


def _shortest(
    graph: Graph, source: PluginName, goal: Callable[[str], bool], members: set[PluginName]
) -> list[PluginName]:
    """The nodes after ``source`` on a shortest path to a goal, staying among ``members``."""
    parent: dict[PluginName, PluginName] = {}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for dep in graph[node]:
            if dep not in members:
                continue
            if goal(dep):
                path = [dep]
                while node != source:
                    path.append(node)
                    node = parent[node]
                return path[::-1]
            if dep != source and dep not in parent:
                parent[dep] = node
                queue.append(dep)
    raise AssertionError("unreachable: members are strongly connected")


# -- 5. full-load search ---------------------------------------------------------------------------


def _search_full(eligible: Pool, allow_pre: bool) -> dict[PluginName, Candidate] | None:
    """Versions loading every plugin under rules 2-4, first in (name, version high to low) order.

    :returns: ``None`` when there are none, or when the budget runs out first.
    """
    names = sorted(eligible)
    if not all(map(_could_load, names, [eligible] * len(names))):
        return None
    position = {name: i for i, name in enumerate(names)}
    picked: list[Candidate] = []
    tried = [0] * len(names)
    for _ in range(_SEARCH_BUDGET):
        level = len(picked)
        if level == len(names):
            full = dict(zip(names, picked, strict=True))
            if _loads_together(full, allow_pre):
                return full
        elif tried[level] < len(eligible[names[level]]):
            cand = eligible[names[level]][tried[level]]
            tried[level] += 1
            if _fits(cand, picked, position, allow_pre):
                picked.append(cand)
            continue
        else:
            tried[level] = 0
        # A dead end: go back one level and let it try its next version.
        if not picked:
            return None
        picked.pop()
    return None


def _could_load(name: PluginName, eligible: Pool) -> bool:
    # Spares the search a hopeless walk when some plugin lacks versions or dependencies outright.
    return any(all(eligible.get(dep) for dep in c.manifest.requires) for c in eligible[name])


def _fits(
    cand: Candidate,
    picked: Sequence[Candidate],
    position: Mapping[PluginName, int],
    allow_pre: bool,
) -> bool:
    """Whether ``cand`` agrees with the versions picked so far, both ways."""
    level = len(picked)
    for dep, constraint in cand.manifest.requires.items():
        at = position.get(dep)
        if at is None or at == level:  # missing, or requiring itself: a cycle
            return False
        if at < level and not constraint.allows(picked[at].version, prerelease=allow_pre):
            return False
    return all(
        p.manifest.requires[cand.name].allows(cand.version, prerelease=allow_pre)
        for p in picked
        if cand.name in p.manifest.requires
    )


def _loads_together(full: Mapping[PluginName, Candidate], allow_pre: bool) -> bool:
    demands = _demands(full)
    unrequired = any(
        c.version.prerelease and not allow_pre and not demands.get(name) for name, c in full.items()
    )
    return not unrequired and not _cycles(_graph(full, allow_pre))


# -- 6. order and reports --------------------------------------------------------------------------


def _order(graph: Graph) -> tuple[PluginName, ...]:
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    order: list[PluginName] = []
    while sorter.is_active():
        batch = sorted(sorter.get_ready())
        order.extend(batch)
        sorter.done(*batch)
    return tuple(order)


def _above_chosen(
    found: Iterable[tuple[Candidate, Problem]], chosen: Mapping[PluginName, Candidate]
) -> list[Problem]:
    """The problems of versions above the chosen one, or of every version when none is chosen."""
    return [
        problem
        for cand, problem in found
        if cand.name not in chosen or cand.version > chosen[cand.name].version
    ]


def _problem_key(problem: Problem) -> tuple[str, str, str, str]:
    return (problem.plugin or "", problem.kind.value, problem.version or "", problem.message)


def _problem(
    kind: ProblemKind, cand: Candidate, message: str, involved: tuple[str, ...] = ()
) -> Problem:
    path = str(cand.origin.path) if isinstance(cand.origin, WheelOrigin) else None
    return Problem(kind, cand.name, message, involved, str(cand.version), path)


def _at(cand: Candidate) -> str:
    return f"{cand.name} {cand.version}"
