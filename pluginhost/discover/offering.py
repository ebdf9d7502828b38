"""What one poll of an index decides: which cached wheels are offered, which were taken back
(yanked, or deleted from the index), and what is held.

For each followed project:

- its page is read (conditionally: an unchanged page costs a 304, or the same serial);
- a yanked wheel is never offered; a cached wheel no longer on the page was deleted from the
  index. Both are *withdrawn*: a host serving one rolls back, saying why;
- each version not yanked is offered once the rollout has reached this host for it (upload
  time from the index, PEP 700, else the first sighting); the highest is downloaded when the
  cache lacks it, apart from the poll (:mod:`~pluginhost.discover.downloads`): the poll
  decides on what the cache holds, so a yank applies whatever a download is doing, and the
  release is offered by the poll after its download. The cache keeps it, the versions the
  host serves or keeps as backups (so that a rollback downloads nothing) and what the
  plugins' dependencies need, and prunes the rest once the poll has settled (a long-running
  host does not grow without bound);
- a project whose page cannot be read (an HTTP error, garbage, a page over the size cap, a
  timeout) is a problem of its own, and the poll goes on with the others: what was last read
  of it stands (its cached wheels are held when nothing was), and nothing of it is taken back;
  the index is down as a whole only when its root cannot be read either;
- when the index offers no version of the project at all (every release deleted, or the
  project gone), nothing is taken back: its cached wheels are *held*, the serving version
  serves on, and a problem says so;
- an index that sends an index-wide serial (PyPI, devpi) is asked for it first: while it stays
  the same, a poll is that one small request, whatever the number of projects;
- before a download, the release's core metadata file (PEP 658/714), when the index offers
  one, is read (its sha256 checked): a release this Python cannot install is not downloaded,
  and its ``Requires-Dist`` is taken from it;
- a download (or metadata file) whose bytes do not match the index's sha256 is refused, and not
  tried again until the project's page changes; a release the poll or the host refused sends
  the poll to the one below, so that a new host serves the newest release it can take;
- the distributions a plugin's ``Requires-Dist`` names are followed too (the highest release
  every offered plugin's specifiers allow, no rollout), so that its dependencies come from the
  same index, hashes checked.
"""

from __future__ import annotations

import datetime
import functools
import logging
import operator
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ..model.errors import (
    IndexUnavailableError,
    PackageIndexError,
)
from ..model.events import Event
from ..model.frozen import frozen
from ..model.names import canonicalize_name
from ..model.problems import Problem, ProblemKind
from ..model.rollout import Rollout, cohort
from ..state.sightings import Sightings
from .downloads import Done, Downloads
from .host_side import NO_HOST, HostSide, Told
from .index.pages import NOT_MODIFIED, ProjectPage
from .index_cache import IndexCache
from .passed_over import PassedOver
from .releases import (
    Release,
    down_to_taken,
    metadata_verdict,
    releases,
    requires_of,
    trusted_only,
    withdrawal_reason,
)
from .spoiled import SpoiledReleases
from .unread import UnreadProjects

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

    from .index.client import IndexClient

__all__ = ["NO_HOST", "HostSide", "Offer", "Offering", "PollStoppedError"]

logger = logging.getLogger("pluginhost")

_NONE: Mapping[str, str] = MappingProxyType({})


class PollStoppedError(Exception):
    """The source is stopping: the poll under way ends between two requests, deciding nothing."""


@frozen
class Offer:
    """What a poll decided.

    :param offered: the cached wheels offered to the host's discovery.
    :param withdrawn: the sha256 of each wheel taken back, and why.
    :param held: cached wheels of projects the index offers no version of: what was loaded
        from them keeps serving.
    :param notes: problems to show (nothing offered, refused downloads, rollout waits).
    """

    offered: frozenset[Path] = frozenset()
    withdrawn: Mapping[str, str] = _NONE
    held: tuple[Path, ...] = ()
    notes: tuple[Problem, ...] = ()


@attrs.define
class _Decision:
    offered: set[Path] = attrs.Factory(set)
    withdrawn: dict[str, str] = attrs.Factory(dict)
    held: list[Path] = attrs.Factory(list)
    notes: list[Problem] = attrs.Factory(list)

    def offer(self) -> Offer:
        return Offer(
            frozenset(self.offered),
            MappingProxyType(dict(self.withdrawn)),
            tuple(self.held),
            tuple(self.notes),
        )


class Offering:
    """The polls of one index, from the source's thread only; see the module docstring.

    :param client: the index's client.
    :param cache: the cache folder (made private by the source).
    :param projects: the projects followed; ``None``: every one of the index.
    :param rollout: when a release reaches this host; ``None``: at once.
    :param host_id: this host's id, for the cohorts.
    :param sightings: first sightings, for releases without an upload time.
    :param emit: where a refused download's event goes.
    :param now: the clock, for the rollout.
    :param stopping: whether the source is stopping.
    :param host: what the host tells the polls (:class:`HostSide`).
    :param downloads: where the downloads go; ``None``: done in the poll (:class:`Downloads`).
    """

    def __init__(
        self,
        client: IndexClient,
        cache: Path,
        projects: tuple[str, ...] | None,
        rollout: Rollout | None,
        host_id: str,
        sightings: Sightings,
        emit: Callable[[Event], None],
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.timezone.utc),
        stopping: Callable[[], bool] = lambda: False,
        host: HostSide = NO_HOST,
        downloads: Downloads | None = None,
    ) -> None:
        self._client, self._host, self._cache, self._files = client, host, cache, IndexCache(cache)
        self._downloads = downloads if downloads is not None else Downloads(client, cache)
        self._projects, self._rollout, self._host_id = projects, rollout, host_id
        self._sightings, self._emit, self._now, self._stopping = sightings, emit, now, stopping
        # Refused files, and files waiting for the next poll: the release below serves.
        self._passed = PassedOver(cache, emit)
        self._pages: dict[str, ProjectPage | None] = {}
        self._deps: set[NormalizedName] = set()
        # Per project: the cached wheels the host refused for their bytes, pruned all the same.
        self._spoiled = SpoiledReleases()
        # Each offered wheel's Requires-Dist, by its sha256.
        self._requires: dict[str, dict[NormalizedName, SpecifierSet]] = {}
        # What the offered wheels' Requires-Dist allow of each dependency (one specifier set
        # per wheel that names it), as last decided.
        self._needs: dict[NormalizedName, frozenset[SpecifierSet]] = {}
        # The index-wide serial at the last complete poll; whether the index sends one.
        self._serial: int | None = None
        self._serials: bool | None = None
        # The projects whose page the poll could not read; whether this poll read the root.
        self._unread = UnreadProjects(client.url, emit)
        self._root_read = False

    def close(self) -> None:
        self._client.close()

    def downloading(self) -> bool:
        """Whether a download the polls asked for is under way or waiting."""
        return self._downloads.busy()

    def poll(self) -> Offer:
        """Read the index and decide.

        :raises PackageIndexError: when the index cannot be read; nothing changed then.
        """
        for done in self._downloads.finished():
            self._passed.took(done, None)
        serial = self._index_serial()
        if serial is not None and serial == self._serial:
            return self._decide(prune=True).offer()  # nothing changed: no page read
        self._unread.begin()
        names = self._projects if self._projects is not None else self._listing()
        # Following every project, the listing tells which dependencies the index has.
        listed = None if self._projects is not None else frozenset(names)
        self._read(dict.fromkeys([*names, *sorted(self._deps & self._needs.keys())]), listed)
        if listed is not None:
            for gone in set(self._pages) - listed - self._deps:
                self._pages[gone] = None  # no longer listed: every release deleted
        decision = self._decide()
        # A plugin's dependencies are followed too, from the same index (a few rounds at most:
        # a dependency's own dependencies are found in the next).
        for _ in range(3):
            allowed = self._needs
            wanted = self._dependencies(decision) - set(self._pages) - self._unread.pages()
            if wanted:
                self._deps |= wanted
                self._read(sorted(wanted), listed)
            elif self._needs == allowed:
                break  # no dependency to read, and each one's constraints as decided
            decision = self._decide()
        self._unread.end()
        # Only once every page was read and every download taken: an unread one is asked for
        # again at the next poll, and a downloaded wheel's dependencies are read then.
        pending = self._unread.pages() or self._downloads.busy()
        self._serial = None if pending else serial
        # Pruned once the dependencies are settled (a wheel pruned for lack of them would be
        # downloaded again in the next round).
        return self._decide(prune=True).offer()

    def _index_serial(self) -> int | None:
        """The index-wide serial (one small request), while the index sends one."""
        self._root_read = False
        if self._serials is False:
            return None
        serial = self._client.serial()
        self._serials, self._root_read = serial is not None, True
        return serial

    def _listing(self) -> tuple[str, ...]:
        """The root listing's projects; an entry it names no request can take is a problem."""
        listing = self._client.projects()
        self._root_read = True
        self._unread.listed(listing.refused)
        return listing.names

    def _read(self, names: Iterable[str], listed: frozenset[str] | None) -> None:
        """Read the pages of ``names`` (conditionally); a name the index's listing lacks is
        taken as gone without a request; the pages the last poll could not read last, and
        maybe not at all (:meth:`UnreadProjects.deferred`)."""
        for name in self._unread.ordered(names):
            if self._stopping():
                raise PollStoppedError  # a poll of many projects must not hold up the host's stop
            if self._unread.deferred(name):
                continue
            try:
                page = self._client.project(name) if listed is None or name in listed else None
            except PackageIndexError as exc:
                self._unreadable(name, exc)
                continue
            self._unread.read(name)
            if page is NOT_MODIFIED:
                continue
            last = self._pages.get(name)
            changed = page is None or last is None or page.files != last.files
            if changed:
                self._passed.page_changed(name)
            self._spoiled.retain(name, page.files if page is not None else (), changed=changed)
            self._pages[name] = page

    def _unreadable(self, name: str, error: PackageIndexError) -> None:
        """The page of ``name`` could not be read: its own problem, and the poll goes on.

        :raises IndexUnavailableError: the index's root cannot be read either (asked once a
            poll, when the poll did not read it yet): the index is down as a whole.
        """
        if isinstance(error, IndexUnavailableError) and not self._root_read:
            self._client.serial()
            self._root_read = True
        self._unread.failed(name, error)

    # -- deciding --------------------------------------------------------------------------

    def _decide(self, *, prune: bool = False) -> _Decision:
        """Decide on every project read; with ``prune``, delete the cached wheels nothing
        needs (:meth:`IndexCache.prune`)."""
        now = self._now()
        cached = self._files.wheels()
        keep = self._host.kept() if prune else None
        refused = {os.path.abspath(p): problem for p, problem in self._host.refused().items()}
        named = self._host.kept() if self._rollout is not None else ()
        told = Told(self._host.trusted(), refused, None if named is None else frozenset(named))
        decision = _Decision()
        for project, page in sorted(self._pages.items()):
            mine = cached.get(project, {})
            self._decide_project(project, page, mine, now, decision, keep, told)
        for project in cached.keys() - self._pages.keys():
            if project in self._unread.pages():  # no page read yet: what it offered serves on
                decision.held += cached[project].values()
            elif keep is not None:  # no longer followed
                self._files.prune(cached[project], (), keep)
        if keep is not None and not self._downloads.busy():
            self._files.prune_partials()  # never the file of a download under way
        decision.notes += self._unread.problems()
        return decision

    def _decide_project(
        self,
        project: str,
        page: ProjectPage | None,
        mine: dict[str, Path],
        now: datetime.datetime,
        decision: _Decision,
        keep: Collection[str] | None,
        told: Told,
    ) -> None:
        files = page.files if page is not None else ()
        listed = {f.filename for f in files}
        for filename, path in mine.items():
            if filename not in listed:
                decision.withdrawn[self._files.sha(path)] = "deleted from the index"
        found = releases(project, files)
        if page is not None and self._rollout is not None:
            self._sightings.retain(project, {str(r.version) for r in found})
        for r in found:
            if r.yanked and r.file.sha256:
                decision.withdrawn[r.file.sha256] = withdrawal_reason(r.file)
        live = [r for r in found if not r.yanked]
        followed = project not in self._deps
        notes = decision.notes if followed else []
        eligible = trusted_only(project, live, told.trusted, notes)
        admitted = self._admitted(project, eligible, now, decision, told) if followed else []
        wants = not followed or project in self._needs
        needed = self._fitting(project, eligible) if wants else []
        # The newest release the rollout brought (and the next ones down, while the host did
        # not take them), and each release a plugin's Requires-Dist needs (older ones too):
        # downloaded when missing.
        self._spoiled.note(project, mine, told.refused, self._files.sha)
        spoiled = self._spoiled.names(project)
        skipped = self._passed.skipped(project) | spoiled
        top = down_to_taken(admitted, mine, told.refused, skipped)
        wanted = [r for r in dict.fromkeys([*top, *needed]) if r.file.filename not in spoiled]
        for release in wanted:
            self._fetch(project, release, mine, decision)
        if keep is not None:
            self._files.prune(mine, {r.file.filename for r in wanted}, keep)
        offered = [
            mine[r.file.filename]
            for r in dict.fromkeys([*admitted, *needed])
            if r.file.filename in mine
            and r.file.filename not in spoiled
            and self._intact(mine[r.file.filename], r)
        ]
        decision.offered.update(offered)
        decision.notes += [
            *self._passed.problems(project),
            *self._spoiled.problems(project),
        ]
        if not offered:
            decision.held += mine.values()
        if not live and followed:  # a dependency may well come from the environment
            decision.notes.append(
                Problem(
                    ProblemKind.NOT_ON_INDEX,
                    project,
                    f"the index offers no version of {project}"
                    + ("; the version serving keeps serving" if mine else ""),
                )
            )

    def _fitting(self, project: str, live: list[Release]) -> list[Release]:
        """The releases of a dependency its users need, highest first: the highest that every
        offered wheel's ``Requires-Dist`` allows (one version serves every plugin in the
        host's interpreter), and the highest each one allows alone (a plugin's new release
        that needs a newer major, a process plugin's private copy); the resolver of shared
        dependencies chooses among them. Prereleases as pip takes them: where a specifier
        names one, or where no final release fits.
        """
        specifiers = self._needs.get(canonicalize_name(project))
        if not specifiers:
            return live[:1]
        wanted: set[Version] = set()
        for allowed in (functools.reduce(operator.and_, specifiers), *specifiers):
            fitting = list(allowed.filter(r.version for r in live))
            if fitting:
                wanted.add(max(fitting))
        return [r for r in live if r.version in wanted]

    def _admitted(
        self,
        project: str,
        live: list[Release],
        now: datetime.datetime,
        decision: _Decision,
        told: Told,
    ) -> list[Release]:
        """The releases the rollout has brought to this host, highest first; a note for each
        newer one it has not brought yet. A version the host serves or keeps is brought: a
        rollout brings new versions, it takes none back (one served before the rollout was
        set was said to be "not serving here yet")."""
        if self._rollout is None:
            return live
        admitted = []
        for release in live:
            version = str(release.version)
            uploaded = release.file.upload_time or self._sightings.first_seen(project, version, now)
            age = (now - uploaded).total_seconds()
            group = cohort(self._host_id, project, version)
            if self._rollout.admits(group, age) or release.file.sha256 in (told.kept or ()):
                admitted.append(release)
            elif not admitted and told.kept is not None:
                # Not news for an older release, nor before the host can tell what it keeps
                # (a poll during its start): the version it was about to restore was told
                # "not serving here yet" until the next poll.
                wait = self._rollout.wait_text(group, age, uploaded=uploaded)
                decision.notes.append(
                    Problem(
                        ProblemKind.ROLLOUT,
                        project,
                        f"{project} {version} is not serving here yet: {wait}",
                        version=version,
                    )
                )
        return admitted

    def _fetch(
        self, project: str, release: Release, mine: dict[str, Path], decision: _Decision
    ) -> None:
        """Ask for ``release``'s download when the cache lacks its bytes, unless its metadata
        refuses it; a download that ended meanwhile is taken (in ``mine`` when done in the
        poll)."""
        file = release.file
        if self._downloads.has(file.filename):
            return
        # Then the downloads that ended, this one's among them if it ended since: asked after
        # it, the refused check missed a refusal not yet taken, and the file was fetched twice.
        for done in self._downloads.finished():
            self._passed.took(done, mine if done.project == project else None)
        if self._passed.refused(project, file.filename):
            return
        path = mine.get(file.filename)
        if path is not None and self._intact(path, release):
            return
        try:
            installable = self._installable(project, release)
        except IndexUnavailableError:
            raise  # the index's: the poll fails, and the next one tries again
        except Exception as exc:
            if not isinstance(exc, PackageIndexError):
                logger.exception("index: fetching %s failed unexpectedly", file.metadata_url)
            self._passed.took(Done(project, release, error=exc), mine)  # refused alone
            return
        if installable:
            self._downloads.want(project, release)
        for done in self._downloads.finished():
            self._passed.took(done, mine if done.project == project else None)

    def _installable(self, project: str, release: Release) -> bool:
        """Whether the release's core metadata (PEP 658/714, when the index offers it: one
        small request, its sha256 checked) lets this interpreter install it; decided before
        the download, and its ``Requires-Dist`` kept for the dependencies.

        :raises IndexHashError: the metadata does not match the index's sha256.
        """
        file = release.file
        body = self._client.metadata(file) if file.sha256 is not None else None
        if body is None:
            return True
        assert file.sha256 is not None
        requires, why = metadata_verdict(body.decode("utf-8", "replace"), file.filename)
        self._requires[file.sha256] = requires
        if why is None:
            return True
        self._passed.refuse(project, release, why)
        return False

    def _intact(self, path: Path, release: Release) -> bool:
        """Whether the cached wheel is the file the index lists now (a release replaced under
        the same name is downloaded again)."""
        expected = release.file.sha256
        return expected is None or self._files.sha(path) == expected

    def _dependencies(self, decision: _Decision) -> set[NormalizedName]:
        """The distributions the offered wheels require (their own names aside); what each
        wheel allows of each is kept for :meth:`_fitting`."""
        needs: dict[NormalizedName, set[SpecifierSet]] = {}
        for path in decision.offered:
            sha = self._files.sha(path)
            if sha not in self._requires:
                self._requires[sha] = requires_of(path)
            for name, allowed in self._requires[sha].items():
                needs.setdefault(name, set()).add(allowed)
        self._needs = {name: frozenset(allowed) for name, allowed in needs.items()}
        return set(needs)
