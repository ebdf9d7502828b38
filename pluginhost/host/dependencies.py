"""The shared dependencies serving the active plugins: chosen, installed once, mapped, retired.

Each dependency serves from one dir under ``home/deps/`` (:mod:`..install.deps`), through the
host's finder, for every plugin whose requirement its version meets (:mod:`..resolve.shared`
chooses). Its top-level names belong to the dependency, not to any plugin: two plugins using it
are not a clash. A dependency no active plugin uses any more is unmapped, purged and deleted.
The registry records which dependencies serve (:class:`~..state.dependencies.DepRecord`), so a
restart maps them again without reinstalling.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import operator
import sys
import types
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ..discover.archive import WheelLimits
from ..discover.sources import Scan
from ..discover.wheel import WheelInfo
from ..install.deps import DepSites, requires_dist_of
from ..install.sites import Handover
from ..load.collisions import DEPENDENCY_OWNER, check_host_clash, check_shared_clash, host_namespace
from ..load.modules import PluginFinder, pop_modules, purge_modules, release
from ..load.reaper import Reaper, Released
from ..model.candidate import Candidate, WheelOrigin
from ..model.errors import PluginHostError, ResolutionError
from ..model.names import PluginName, canonicalize_name
from ..resolve.dependency_wheels import dependency_refusals
from ..resolve.links import Via, third_party
from ..resolve.metas import Meta, Unmet, meta_lines, metas_of, missing_plugins, unmet_requirements
from ..resolve.shared import Choice, Need, Serving, choose_dependencies, requirements_of
from ..state.dependencies import DepRecord, DepUser
from .settings import Settings

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

__all__ = ["SharedDependencies", "environment_version"]

_DIST_KEY = operator.attrgetter("dist_key")

Active = Callable[[], Mapping[PluginName, Candidate]]
"""The candidate of each active plugin, made when asked for."""

logger = logging.getLogger("pluginhost")


def environment_version(name: str) -> str | None:
    """The version of distribution ``name`` on ``sys.path``, the host environment's own.

    Only the entries of ``sys.path`` are searched, not the finders of ``sys.meta_path``: a
    host's finder may answer for the dependencies it serves itself, which are no copy of the
    environment's.
    """
    context = importlib.metadata.DistributionFinder.Context(name=name, path=list(sys.path))
    for dist in importlib.metadata.MetadataPathFinder.find_distributions(context):
        version = dist.metadata["Version"]
        if version:
            return str(version)
    return None


class SharedDependencies:
    """The shared dependencies of one host.

    :param sites: the home's dependency dirs.
    :param finder: the host's import finder, which serves their modules.
    :param reaper: watches the modules of versions let go of (leaks are told by the host).
    :param installed: the version of a distribution in the host environment.
    :param meta_limit: the most requirement lines meta-packages may add to one plugin.
    """

    def __init__(
        self,
        sites: DepSites,
        finder: PluginFinder,
        reaper: Reaper,
        installed: Callable[[str], str | None] = environment_version,
        meta_limit: int = WheelLimits().max_requirements,
    ) -> None:
        self._sites = sites
        self._finder = finder
        self._reaper = reaper
        self._installed = installed
        self._meta_limit = meta_limit
        self._serving: dict[str, DepRecord] = {}
        # The change under way: the plugins changing, and the dependencies swapped for them.
        self._changing: frozenset[str] = frozenset()
        self._swaps: list[_Swap] = []
        self._wheels: tuple[WheelInfo, ...] = ()
        self._requirements: Via = {}
        self._metas: dict[NormalizedName, tuple[Meta, ...]] = {}  # resolve/metas.py
        self._unmet: tuple[Unmet, ...] = ()  # meta-packages perhaps, their plugins not at hand
        self._requires: dict[tuple[str, str], tuple[str, ...]] = {}  # by serving version
        self._plugins: frozenset[NormalizedName] = frozenset()  # their distributions
        self._refused: dict[str, list[tuple[str, str]]] = {}
        # Top-level names of dependencies that are namespace packages of the environment.
        self._host_namespaces: set[str] = set()
        self._restoring = False  # see restoring()
        #: Whether a plugin's dependencies are its own (a process plugin's: :mod:`.private`).
        self.private: Callable[[Candidate], bool] = lambda candidate: False
        self.validated: Handover = lambda path, sha256: None

    @classmethod
    def of_home(
        cls, config: Settings, validated: Handover, finder: PluginFinder, reaper: Reaper
    ) -> SharedDependencies:
        """The shared dependencies of a home, served from its ``deps/`` folder."""
        root = config.site_root.parent / "deps"
        sites = DepSites(root, config.staging_root, config.limits, validated, config.verify_sites)
        shared = cls(sites, finder, reaper, meta_limit=config.limits.max_requirements)
        shared.validated = validated
        return shared

    # -- what is at hand -----------------------------------------------------------------------

    def offer(self, scan: Scan) -> Scan:
        """Take the dependency wheels of a look at the sources, and those refused.

        :returns: ``scan``, the problems of refused dependency wheels naming no plugin (see
            :func:`dependency_refusals`), and those of meta-packages whose plugin is not at
            hand (:func:`~..resolve.metas.missing_plugins`).
        """
        problems, refused = dependency_refusals(scan.problems, scan.candidates)
        if tuple(scan.support) != self._wheels:
            self._wheels = tuple(scan.support)
            self._requirements = requirements_of(self._wheels)
            self._metas = metas_of(self._wheels)
            self._unmet = unmet_requirements(self._wheels, self._installed)
        self._refused = refused
        # Only when a wheel at hand requires something: a set of every plugin's otherwise.
        self._plugins = frozenset(map(_DIST_KEY, scan.candidates)) if self._metas else frozenset()
        problems += missing_plugins(self._unmet, scan.candidates)  # told, refusing nothing
        return attrs.evolve(scan, problems=tuple(problems))

    def requirements(self) -> Via:
        """The ``Requires-Dist`` lines of each dependency at hand, every version's, by
        normalized name: through one, a plugin may need another (:func:`~..resolve.links.link`)."""
        return self._requirements

    def wheels(self) -> tuple[WheelInfo, ...]:
        """The dependency wheels at hand in the watched folders, as the last look found them."""
        return self._wheels

    def serving(self) -> Mapping[str, DepRecord]:
        """The dependencies serving now, by normalized name."""
        return dict(self._serving)

    def dist_info_dirs(self) -> dict[str, Path]:
        """The ``.dist-info`` dir of each dependency serving, by normalized name: what an
        ``importlib.metadata`` lookup should find for it."""
        return {
            name: self._sites.root / record.site_dir / record.dist_info
            for name, record in self._serving.items()
        }

    def owners(self) -> Iterator[tuple[PluginName, Sequence[str]]]:
        """Each dependency serving, as an owner of top-level names for the collision check."""
        for name, record in self._serving.items():
            yield PluginName(f"{name}{DEPENDENCY_OWNER}"), record.top_level

    # -- a plugin's requirements ---------------------------------------------------------------

    def begin(
        self, names: Sequence[PluginName], targets: Mapping[PluginName, Candidate]
    ) -> list[PluginName]:
        """Start a change of ``names``: the active plugins using a dependency that their new
        versions need at another version are returned, to change with them (one transition
        swaps the dependency and re-imports its users, or undoes both)."""
        changing = [
            targets[n] for n in names if n in targets and isinstance(targets[n].origin, WheelOrigin)
        ]
        extra: set[PluginName] = set()
        for candidate in changing:
            try:
                choices = self._choose(candidate, {c.name for c in changing})
            except PluginHostError:
                continue  # its install fails, naming why
            for choice in choices:
                current = self._serving.get(choice.distribution)
                if choice.wheel is not None and current is not None:
                    extra.update(PluginName(u.plugin) for u in current.users)
        extra.difference_update(names)
        self._changing = frozenset([*names, *extra])
        self._swaps = []
        return sorted(extra)

    def attach(self, candidate: Candidate) -> bool:
        """Serve the dependencies ``candidate`` needs, and count it among their users.

        A serving dependency that it needs at another version is swapped, when every plugin
        using it changes in the same transition (see :meth:`begin`).

        :raises DependencyConflictError: when no single version meets every requirement.
        :raises ResolutionError: when a serving dependency would have to change version under
            plugins that do not change with it.
        :raises WheelError, InstallError, TrustError: when a dependency cannot be installed.
        :returns: whether a dependency started serving or was swapped: the top-level names
            that dependencies own may have changed.
        """
        if not isinstance(candidate.origin, WheelOrigin) or self.private(candidate):
            return False  # installed in the environment by its installer, or private to it
        changed = False
        for choice in self._choose(candidate, {candidate.name}):
            self._serve(candidate, choice)
            changed = changed or choice.wheel is not None
        return changed

    def ready(self, candidate: Candidate) -> bool:
        """Whether every dependency ``candidate`` needs serves already, at a version that meets
        it: only then may it be imported ahead of its transition (which attaches it)."""
        if not isinstance(candidate.origin, WheelOrigin) or self.private(candidate):
            return True
        try:
            return all(c.wheel is None for c in self._choose(candidate, {candidate.name}))
        except PluginHostError:
            return False  # its own transition fails, naming why

    def _choose(self, candidate: Candidate, replaced: Collection[str]) -> list[Choice]:
        """The choices for ``candidate``, leaving out the needs of the versions it replaces."""
        serving = {
            n: Serving(
                r.version,
                tuple(Need(u.who, u.requirement) for u in r.users if u.plugin not in replaced),
                self._requires_of(r),
            )
            for n, r in self._serving.items()
        }
        return choose_dependencies(
            candidate.name,
            f"{candidate.display} {candidate.version_text}",
            # Lines naming another plugin are plugin dependencies (resolve/links.py), also
            # when a dependency's line names it.
            third_party(candidate),
            self._wheels,
            serving,
            self._installed,
            self._refused,
            linked={canonicalize_name(s.distribution) for s in candidate.plugin_requires.values()},
            more=self._meta_lines(candidate),
            itself=(candidate.dist_key, candidate.version_text),
        )

    def _meta_lines(self, candidate: Candidate) -> list[tuple[str, str]]:
        if not self._metas:
            return []
        return meta_lines(self._metas, candidate, self._plugins, self._meta_limit)

    def _requires_of(self, record: DepRecord) -> tuple[str, ...]:
        """A serving dependency's ``Requires-Dist`` lines: its wheel's, when at hand, else its
        installed METADATA's (read once per version)."""
        key = (record.distribution, record.version)
        found = self._requires.get(key)
        if found is None:
            wheel = next((w for w in self._wheels if _is_version(w, *key)), None)
            dist_info = self._sites.root / record.site_dir / record.dist_info
            found = wheel.requires_dist if wheel else requires_dist_of(dist_info / "METADATA")
            self._requires[key] = found
        return found

    def _serve(self, candidate: Candidate, choice: Choice) -> None:
        plugin = candidate.name
        user = DepUser(plugin, candidate.version_text, choice.need.who, choice.need.requirement)
        current = self._serving.get(choice.distribution)
        if choice.wheel is None:
            assert current is not None
            if user not in current.users:
                self._serving[choice.distribution] = _with_user(current, user)
            return
        if current is not None:
            staying = sorted({u.plugin for u in current.users} - self._changing - {plugin})
            if staying:
                raise ResolutionError(
                    f"{choice.need.who} needs {choice.need.requirement}, but "
                    f"{choice.distribution} {current.version} serves {', '.join(staying)}, "
                    f"which {'is' if len(staying) == 1 else 'are'} not changing with it",
                    plugin=plugin,
                    missing=(choice.distribution,),
                )
        wheel = choice.wheel
        if current is None:
            served = {
                n: (record.distribution, self._sites.root / record.site_dir)
                for record in self._serving.values()
                for n in record.top_level
            }
            shared = check_shared_clash(choice.distribution, wheel, plugin, served)
            try:
                check_host_clash(choice.distribution, wheel, plugin, shared)
            except ResolutionError as exc:
                raise self._unreplaceable(choice, exc) from None
        site, top_level, fresh = self._sites.install(wheel, plugin)
        others = tuple(u for u in current.users if u.plugin != plugin) if current else ()
        record = DepRecord(
            choice.distribution,
            wheel.version,
            wheel.sha256,
            site.name,
            top_level,
            wheel.dist_info_dir,
            (*others, user),
        )
        if current is not None:
            # Set aside, not dropped: the users' old versions serve calls through them until
            # the switch, and an undo puts them back.
            current_site = self._sites.root / current.site_dir
            stash = pop_modules(current.top_level, current_site, self._host_namespaces)
            self._finder.unmap(current.top_level, current_site)
            self._swaps.append(_Swap(current, stash, record, fresh))
        self._map(record)

    def undo(self, active: Active) -> None:
        """The change failed, and its plugins are back: so are the dependencies it swapped,
        with their modules; the dependencies nobody uses any more go."""
        while self._swaps:
            swap = self._swaps.pop()
            new_site = self._sites.root / swap.new.site_dir
            self._finder.unmap(swap.new.top_level, new_site)
            released = purge_modules(
                swap.new.top_level, [new_site], new_site, self._host_namespaces
            )
            self._watch(released, swap.new)
            sys.modules.update(swap.stash)
            self._map(swap.old)
            if swap.fresh:
                self._sites.delete(swap.new.site_dir, swap.new.version)
        self.retain(active)

    def finish(self, active: Active) -> None:
        """The change is committed and drained: the versions swapped out let go of their
        modules and their dirs; the dependencies nobody uses any more go."""
        while self._swaps:
            swap = self._swaps.pop()
            old_site = self._sites.root / swap.old.site_dir
            self._watch(release(swap.stash, [old_site]), swap.old)
            if swap.old.site_dir != swap.new.site_dir:
                self._sites.delete(swap.old.site_dir, swap.old.version)
        self.retain(active)

    def _map(self, record: DepRecord) -> None:
        site = self._sites.root / record.site_dir
        # A name another dependency serves is a namespace package they share (jaraco.functools
        # and jaraco.context both ship jaraco/): importable from both dirs, as in site-packages.
        others = {
            name
            for serving in self._serving.values()
            if serving.distribution != record.distribution
            for name in serving.top_level
        }
        # One the environment has as a namespace package gets this dir's portion added (as pip
        # installs zope.event beside zope.interface); the environment keeps the name.
        host = [n for n in record.top_level if n in self._host_namespaces or host_namespace(n)]
        self._host_namespaces.update(host)
        self._finder.extend(host, site)
        own = [n for n in record.top_level if n not in host]
        self._finder.map([n for n in own if n not in others], site)
        self._finder.share([n for n in own if n in others], site)
        self._serving[record.distribution] = record

    @contextlib.contextmanager
    def restoring(self) -> Iterator[None]:
        """Retire nothing while a start restores the committed plugins one by one: after the
        first, the dependencies of those still to come had no active user, and went (each of
        their plugins was refused as missing one, then loaded again, reinstalling it)."""
        self._restoring = True
        try:
            yield
        finally:
            self._restoring = False

    def retain(self, active: Active) -> list[str]:
        """Keep as users only the plugins active now; retire the dependencies nobody uses.

        :param active: called only when a dependency serves: a start loading a thousand
            plugins without any made a map of the active plugins after each one.
        :returns: the names of the dependencies retired.
        """
        if not self._serving or self._restoring:
            return []
        plugins = active()
        retired = []
        for name, record in list(self._serving.items()):
            users = tuple(u for u in record.users if _uses(plugins, u))
            if users:
                self._serving[name] = DepRecord(*_fields(record), users)
                continue
            del self._serving[name]
            self._retire(record)
            retired.append(name)
        return retired

    def _retire(self, record: DepRecord) -> None:
        site = self._sites.root / record.site_dir
        self._finder.unmap(record.top_level, site)
        self._watch(self._purge(record, site), record)
        self._sites.delete(record.site_dir, record.version)

    def _purge(self, record: DepRecord, site: Path) -> Released:
        return purge_modules(record.top_level, [site], site, self._host_namespaces)

    def _watch(self, released: Released, record: DepRecord) -> None:
        """Have the reaper tell if the modules of ``record`` let go of outlive a collection."""
        self._reaper.watch(released, record.distribution, record.version, record.top_level)

    # -- crash safety --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop serving every dependency, keeping their dirs: the host halts, and its next
        start serves them again from what the registry recorded."""
        for record in self._serving.values():
            site = self._sites.root / record.site_dir
            self._finder.unmap(record.top_level, site)
            self._watch(self._purge(record, site), record)
        self._serving.clear()

    def records(self) -> tuple[DepRecord, ...]:
        """What the registry records of the dependencies serving."""
        return tuple(self._serving[n] for n in sorted(self._serving))

    def _unreplaceable(self, choice: Choice, clash: ResolutionError) -> ResolutionError:
        """The clash of a dependency wheel with the environment's own copy of it, saying the
        version conflict that brought the wheel in (it said only "already provided")."""
        installed = self._installed(choice.distribution)
        if installed is None:
            return clash
        need = choice.need
        return ResolutionError(
            f"{need.who} needs {need.requirement}, which the host environment's "
            f"{choice.distribution} {installed} does not meet, and the environment's copy cannot "
            f"be replaced while the host runs: {clash.reason}",
            plugin=clash.plugin,
        )

    def restore(self, records: Sequence[DepRecord]) -> None:
        """Serve again the dependencies a registry records, from their dirs, unless changed.

        A dir that changed since it was installed is not served, and its refusal logged: its
        users install it again from its wheel, if one is at hand, or fail naming it.
        """
        for record in records:
            site = self._sites.root / record.site_dir
            if not site.is_dir():
                continue
            try:
                self._sites.check(site, record.distribution)
            except PluginHostError as exc:
                logger.error("shared dependency not served again: %s", exc)
                continue
            self._map(record)

    def in_use(self) -> set[str]:
        """The dirs of the dependencies serving."""
        return {r.site_dir for r in self._serving.values()}

    def prune(self) -> list[str]:
        """Delete the dependency dirs nothing serves from (left by a crash)."""
        return self._sites.prune(self.in_use())


@attrs.define
class _Swap:
    """A dependency swapped by the change under way: the record and the modules it replaced,
    the record now serving, and whether its dir was installed by this change."""

    old: DepRecord
    stash: dict[str, types.ModuleType]
    new: DepRecord
    fresh: bool


def _fields(record: DepRecord) -> tuple[str, str, str, str, tuple[str, ...], str]:
    return (
        record.distribution,
        record.version,
        record.sha256,
        record.site_dir,
        record.top_level,
        record.dist_info,
    )


def _is_version(wheel: WheelInfo, distribution: str, version: str) -> bool:
    return wheel.version == version and canonicalize_name(wheel.distribution) == distribution


def _uses(active: Mapping[PluginName, Candidate], user: DepUser) -> bool:
    serving = active.get(PluginName(user.plugin))
    return serving is not None and serving.version_text == user.version


def _with_user(record: DepRecord, user: DepUser) -> DepRecord:
    return DepRecord(*_fields(record), (*record.users, user))
