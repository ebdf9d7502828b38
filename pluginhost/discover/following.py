"""Following a package index: :class:`IndexSource`, a source whose wheels come from an index
that speaks the simple repository API (devpi-server, pypiserver, Artifactory, PyPI).

The source polls the index on a thread of its own (never under the host's lock), and decides
which cached wheels are *offered*: not yanked, not deleted from the index, reached by the
staged rollout. The versions it wants are downloaded on another thread, one at a time, into a
cache folder of the home (``home/index/<key>/``, each file's sha256 checked against the
index's before anything else): a poll publishes what it read at once, yanks and deletions
included, whatever a download is doing, and a download that ends wakes the poller, whose next
poll offers it. The host's discovery reads that folder like a watched one, so a wheel from an
index takes the same strict modes, trust policy, validation and swap as a wheel dropped in a
folder. When a poll changes what is offered, the host's worker is asked to apply it.

What a poll decides is in :mod:`~pluginhost.discover.offering`; this module is the source's
life: its thread, its outages, and what the host reads of it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final, final

import attrs

from ..model.errors import PackageIndexError
from ..model.events import Event, EventKind
from ..model.problems import Problem, ProblemKind
from ..model.rollout import Rollout
from ..state.fs import make_dirs
from ..state.sightings import Sightings
from .downloads import DownloadThreads
from .folder import WheelFolderSource
from .index.backoff import Backoff
from .index_settings import IndexSettings
from .offering import NO_HOST, HostSide, Offer, Offering, PollStoppedError
from .sources import Scan

if TYPE_CHECKING:
    from .index.client import IndexClient

__all__ = ["IndexSource"]

logger = logging.getLogger("pluginhost")

#: Called with the cache folder and the files whose offer changed (maybe none).
Changed = Callable[[Path, set[Path]], None]


@final
class IndexSource:
    """The plugins published on a package index; pass it in ``PluginHost(sources=[...])``.

    >>> source = IndexSource("https://pypi.example.org/team/plugins/+simple/",
    ...                      rollout=Rollout(steps=[(0, 10), (1800, 50), (7200, 100)]))

    :param url: the index's simple root; credentials in it are used, never shown.
    :param projects: the distributions to follow; ``None``: every project of the index (its
        root listing), for an index kept for plugins.
    :param poll_interval: seconds between two polls (an idle poll is one small conditional
        request per project).
    :param rollout: when a new release reaches this host; ``None``: at once.
    :param auth: (user, password); ``None``: from the URL, ``PLUGINHOST_INDEX_USERNAME`` /
        ``PLUGINHOST_INDEX_PASSWORD`` or ``~/.netrc``.
    :param ca: a CA bundle (PEM) to verify the index's certificate with.
    :param follow_offsite_redirects: follow a redirect to another host.
    :param timeout: seconds for each request.
    :raises SettingsError: when a value is wrong, naming it.
    """

    def __init__(
        self,
        url: str,
        *,
        projects: Iterable[str] | None = None,
        poll_interval: float = 30.0,
        rollout: Rollout | None = None,
        auth: tuple[str, str] | None = None,
        ca: str | os.PathLike[str] | None = None,
        follow_offsite_redirects: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.settings: Final = IndexSettings(
            url,
            projects=projects,
            poll_interval=poll_interval,
            rollout=rollout,
            auth=auth,
            ca=ca,
            follow_offsite_redirects=follow_offsite_redirects,
            timeout=timeout,
        )
        self.url: Final = self.settings.shown_url
        self.projects: Final = self.settings.projects
        self.poll_interval: Final = float(poll_interval)
        self.rollout: Final = rollout
        self.cache: Path | None = None
        self._offering: Offering | None = None
        self._offer = Offer()
        self._polled_once = False
        self._reachable: bool | None = None
        self._outage: Problem | None = None
        self._backoff = Backoff(base=self.poll_interval, cap=self.poll_interval * 10)
        self._thread: threading.Thread | None = None
        self._downloads: DownloadThreads | None = None
        self._gave_up = False  # a download failed for the index or the cache, tried again later
        self._wake = threading.Event()
        self._stopping = False
        self._polled = threading.Event()
        self._poll_lock = threading.Lock()  # one poll at a time: the client has one user
        self._changed: Changed = lambda folder, paths: None
        self._emit: Callable[[Event], None] = lambda event: None
        # The events of the poll under way, told once its offer is published (see _poll).
        self._told: list[Event] = []

    @classmethod
    def from_settings(cls, settings: IndexSettings) -> IndexSource:
        """The source for ``settings`` (a ``[[pluginhost.index]]`` table)."""
        return cls(**attrs.asdict(settings, recurse=False))

    def __repr__(self) -> str:
        return f"IndexSource({self.url!r}, projects={self.projects!r})"

    def scan(self, group: str) -> Scan:
        """Nothing: a host reads the index's wheels from its cache folder (:meth:`attach`)."""
        return Scan()

    # -- what the host does with it ---------------------------------------------------------------

    def attach(self, home: Path) -> WheelFolderSource:
        """The cache folder in ``home`` that the host's discovery reads, offering only what this
        source decides (one host per source)."""
        key = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        self.cache = Path(home, "index", key)
        return WheelFolderSource(self.cache, offers=self.offers)

    def start(
        self,
        host_id: str,
        changed: Changed,
        emit: Callable[[Event], None],
        *,
        live: bool = True,
        host: HostSide = NO_HOST,
    ) -> None:
        """Start polling: at once, then every ``poll_interval`` when ``live``.

        :param host_id: this host's id, for the rollout's cohorts.
        :param changed: told the files whose offer changed after a poll.
        :param emit: where the outage events go.
        :param host: what the host tells the polls: the versions it names (their wheels stay
            cached, the rest is pruned), its trust file's hashes, the wheels it did not take.
        """
        assert self.cache is not None, "attach() comes first"
        make_dirs(self.cache)
        sightings = Sightings(self.cache / "sightings.json")
        # A client each: the poller's pages never wait behind a download.
        make_client = functools.partial(self._client, host)
        self._downloads = DownloadThreads(make_client, self.cache, self._download_ended)
        self._offering = Offering(
            self._client(host),
            self.cache,
            self.projects,
            self.rollout,
            host_id,
            sightings,
            self._told.append,
            stopping=lambda: self._stopping,
            host=host,
            downloads=self._downloads,
        )
        self._changed, self._emit = changed, emit
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, args=(live,), name=f"pluginhost-index {self.url}", daemon=True
        )
        self._thread.start()

    def _client(self, host: HostSide) -> IndexClient:
        # Imported here: httpx costs every import of pluginhost otherwise.
        from .index.client import MAX_DOWNLOAD_BYTES, IndexClient

        given = self.settings
        return IndexClient(
            given.url,
            auth=given.auth,
            ca=given.ca,
            timeout=given.timeout,
            follow_offsite_redirects=given.follow_offsite_redirects,
            max_download_bytes=host.max_wheel_size() or MAX_DOWNLOAD_BYTES,
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling (the poll under way ends between two requests, the download under way
        between two chunks, waited for a few seconds at most) and close the connections."""
        self._stopping = True
        self._wake.set()
        if self._downloads is not None:
            self._downloads.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None
        if self._offering is not None:
            self._offering.close()

    def refresh(self) -> None:
        """Poll again now: at once on the source's thread, or here when it polls no more (a
        host that is not live)."""
        if self._thread is not None and self._thread.is_alive():
            self._wake.set()
        elif self._offering is not None:
            self._gave_up = False
            self._run(live=False)

    def wait_polled(self, timeout: float) -> bool:
        """Wait for the first poll to end (answered or not) with the downloads it asked for
        (or one of them failed, tried again later); ``False`` at ``timeout``."""
        return self._polled.wait(timeout)

    # -- what the host reads (under its lock; each a value replaced whole) ------------------------

    def offers(self, path: Path) -> bool:
        """Whether the cached wheel ``path`` is offered now."""
        return path in self._offer.offered

    def withdrawn(self) -> Mapping[str, str]:
        """The sha256 of each wheel the index took back, and why (``yanked: reason``,
        ``deleted from the index``)."""
        return self._offer.withdrawn

    def held(self) -> tuple[Path, ...]:
        """What must keep serving whatever the offer: the whole cache until the index first
        answered, else the cached wheels of projects of which the index offers no version."""
        if not self._polled_once:
            return (self.cache,) if self.cache is not None else ()
        return self._offer.held

    def problems(self) -> tuple[Problem, ...]:
        """The outage, projects whose page (or listing entry) cannot be read, projects the
        index offers nothing of, refused downloads, and newer releases the rollout has not
        brought here yet."""
        outage = (self._outage,) if self._outage is not None else ()
        return (*outage, *self._offer.notes)

    # -- polling ---------------------------------------------------------------------------

    def _run(self, live: bool) -> None:
        """Poll, every ``poll_interval`` when ``live``; else until the downloads end (or one
        failed for the index or the cache: tried again at the next refresh)."""
        while not self._stopping:
            answered = self._poll()
            assert self._offering is not None
            if not answered or not self._offering.downloading():
                self._polled.set()
                if not live:
                    return
            delay = self.poll_interval if answered else self._backoff.next_delay()
            self._wake.wait(delay)
            self._wake.clear()
            if not live and self._gave_up:
                return

    def _download_ended(self, retried: bool) -> None:
        """A download ended (on the downloads' thread): the next poll offers it, at once; one
        tried again later lets the host's start wait no more (the release below serves)."""
        if retried:
            self._gave_up = True
            self._polled.set()
        else:
            self._wake.set()

    def _poll(self) -> bool:
        """One poll; whether the index answered.

        The events of the poll are told once its offer is published: a subscriber that reads
        the host's problems on a refused download finds the refusal there (told before, it was
        read too early).
        """
        assert self._offering is not None
        with self._poll_lock:
            try:
                read = self._read(self._offering)
            finally:
                told, self._told[:] = self._told[:], []
        for event in told:
            self._emit(event)
        if read is None:
            return False
        before, offer, look = read
        if look:
            assert self.cache is not None
            self._changed(self.cache, set(before.offered ^ offer.offered))
        return True

    def _read(self, offering: Offering) -> tuple[Offer, Offer, bool] | None:
        """Poll the index and publish its offer (under the poll lock).

        :returns: the offer before and the offer now, and whether the host is to look again;
            ``None`` when the index did not answer.
        """
        try:
            offer = offering.poll()
        except PackageIndexError as exc:
            self._down(exc)
            return None
        except PollStoppedError:
            return None
        except Exception as exc:
            # A bug here must not end the polling, nor pass unseen: what was offered stays
            # offered, the next poll tries again, and the outage's problem and event say why
            # (logged alone, it left host.problems() empty while a yank went unapplied).
            logger.exception("index %s: the poll failed unexpectedly", self.url)
            why = f"its poll failed unexpectedly, {type(exc).__name__}: {str(exc)[:200]}"
            self._down(PackageIndexError(why, url=self.url))
            return None
        recovered = self._up()
        before, self._offer = self._offer, offer
        first, self._polled_once = not self._polled_once, True
        return before, offer, first or recovered or before != offer

    def _down(self, exc: PackageIndexError) -> None:
        """The index could not be read: what it offered keeps serving; said once."""
        self._outage = Problem(
            ProblemKind.INDEX_UNAVAILABLE,
            None,
            f"index {self.url} cannot be read ({exc.reason}); what it offered keeps serving",
        )
        if self._reachable is not False:
            self._reachable = False
            logger.warning("index %s cannot be read: %s", self.url, exc.reason)
            self._emit(Event.failure(EventKind.INDEX_UNAVAILABLE, None, exc, origin=self.url))
            assert self.cache is not None
            self._changed(self.cache, set())  # the problem is shown at once

    def _up(self) -> bool:
        """The index answered; whether it ends an outage (said once)."""
        self._backoff.reset()
        recovered = self._reachable is False
        if recovered:
            logger.warning("index %s answers again", self.url)
            self._emit(Event(EventKind.INDEX_AVAILABLE, None, origin=self.url))
        self._reachable = True
        self._outage = None
        return recovered
