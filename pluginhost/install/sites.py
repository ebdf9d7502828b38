"""The home's site dirs: which one a version imports from, installing new ones, deleting old.

A site dir is named by what it holds (``<name>-<version>-<sha8>``) and is only ever a direct
child of ``site_root``; no path from a document or an archive names one. Before a site dir this
process did not install is first imported from, its files are compared with their RECORD (see
:mod:`.site_record`): one that fails is not imported, and the change that needs it fails with a
:class:`~pluginhost.TrustError` naming the file and the reason.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..discover.archive import WheelLimits
from ..discover.handover import ValidatedWheel
from ..discover.wheel import WheelInfo
from ..model.candidate import Candidate, CandidateKey, WheelOrigin
from ..model.errors import TrustError
from ..state import fs
from ..state.faults import crash_point
from ..state.registry import Record
from .compiled import entry_modules
from .site_record import SiteCheck, site_fault

if TYPE_CHECKING:
    from ..discover.reading import WheelRead
    from .compiled import Compiled
    from .site_writer import SiteJob, SiteWrite
    from .writer_process import WriterProcess

__all__ = ["Placed", "SiteDirs", "delete_dir", "prune_dirs"]

logger = logging.getLogger("pluginhost")

Placed = tuple[Path | None, tuple[str, ...]]
"""Where a plugin imports from (``None``: the environment) and the top-level names it serves."""

Handover = Callable[[Path, str], ValidatedWheel | None]
"""Gives the bytes discovery read and validated for a wheel path and sha256, if it kept them."""

Written = Callable[[Path, "tuple[Compiled, ...]", tuple[str, ...]], None]
"""Told what a site dir written just now holds, so that its import need not look (the host's
finder): the bytecode the site writer sent back, and the ``.dist-info`` dirs."""


class SiteDirs:
    """The site dirs under one home.

    :param site_root: the home's ``site/``.
    :param staging_root: the home's ``staging/``, where installs happen before their rename.
    :param limits: bounds on wheel archives.
    :param validated: hands over the bytes discovery validated, so that an install reads
        and hashes nothing again; without them, the file is read and validated anew.
    :param verify: how a site dir is compared with its RECORD before it is first imported
        from (the ``verify_sites`` setting).
    :param offload: write site dirs in a helper process the host keeps
        (:class:`~.writer_process.WriterProcess`), so that a swap's file work does not wait
        for the interpreter lock behind threads that call hooks; :meth:`close` ends it.
    :param written: told what each site dir written from validated wheels holds: the
        bytecode of the plugin's entry modules that the helper process sent back, and the
        ``.dist-info`` dirs, so that the plugin's import reads and lists no file.
    """

    def __init__(
        self,
        site_root: Path,
        staging_root: Path,
        limits: WheelLimits,
        validated: Handover = lambda path, sha256: None,
        verify: SiteCheck = "size",
        *,
        offload: bool = False,
        written: Written = lambda site, modules, dist_infos: None,
    ) -> None:
        self.site_root = site_root
        self.staging_root = staging_root
        self.limits = limits
        self.verify = verify
        self._validated = validated
        self._offload = offload
        self._written = written
        self._writer: WriterProcess | None = None
        self._fresh: set[Path] = set()
        # Site dirs found unchanged, or installed, by this process: not compared again.
        self._verified: set[Path] = set()
        # Why the site dir of a version was refused, until the install that raises it.
        self._refused: dict[CandidateKey, tuple[Path, str]] = {}
        # The site dirs the writer was given ahead of their install (see write_ahead).
        self._ahead: set[Path] = set()

    def placed(self, candidate: Candidate, known: Record | None) -> Placed | None:
        """Where ``candidate`` imports from without installing anything, or ``None`` when its
        wheel must be installed.

        :param known: the record of an installed copy of the same bytes, if any.
        """
        if known is not None and known.site_dir is not None:
            site = self.site_root / Path(known.site_dir).name
            if site.is_dir() and self._unchanged(candidate, site):
                return site, known.top_level
        if isinstance(candidate.origin, WheelOrigin):
            return None
        return None, candidate.top_level

    def _unchanged(self, candidate: Candidate, site: Path) -> bool:
        """Whether ``site`` holds what was installed; else the refusal is kept for
        :meth:`install` to raise (a placement is asked for without raising)."""
        if site in self._verified:
            return True
        fault = site_fault(site, self.verify)
        if fault is not None:
            self._refused[candidate.key] = fault
            return False
        self._refused.pop(candidate.key, None)
        self._verified.add(site)
        return True

    def install(self, candidate: Candidate, support: Sequence[WheelInfo]) -> Placed:
        """Install ``candidate``'s wheel, and the wheels meeting its ``Requires-Dist``.

        :raises WheelError: when a wheel is refused, or changed since it was read.
        :raises InstallError: when the file system refuses the install.
        """
        origin = candidate.origin
        assert isinstance(origin, WheelOrigin)  # anything else is in place
        refused = self._refused.pop(candidate.key, None)
        if refused is not None:
            raise _tampered(candidate, *refused)
        validated = self._validated(origin.path, origin.sha256)
        if support:
            self.end_ahead()  # a site dir written ahead holds the plugin's wheel alone
        elif validated is not None and self._ahead:
            written = self._written_ahead(candidate, validated)
            if written is not None:
                return written
        from .installer import install_wheel

        site = install_wheel(
            origin.path,
            site_root=self.site_root,
            staging_root=self.staging_root,
            name=candidate.name,
            version=candidate.version_text,
            expected_sha256=origin.sha256,
            extra_wheels=[self._validated(w.path, w.sha256) or w.path for w in support],
            limits=self.limits,
            validated=validated,
            write=self._site_writer(),
            preload=entry_modules(candidate.entry_points),
        )
        if not site.reused:
            self._fresh.add(site.path)
            if validated is not None:
                self._tell_written(site.path, (validated.info, *support))
        elif site.path not in self._verified:
            # Installed by an earlier process, and not named by any record this one read.
            fault = site_fault(site.path, self.verify)
            if fault is not None:
                raise _tampered(candidate, *fault)
        self._verified.add(site.path)
        crash_point("after_install", candidate.version_text)
        return site.path, site.top_level

    def write_ahead(self, fresh: Sequence[tuple[Candidate, ValidatedWheel]]) -> None:
        """Have the site writer start on wheels a look just validated, while the host plans:
        the install of one that is chosen then only waits for the writer's answer.

        Only when the writer is ready, for a few wheels at a time, and for site dirs not known
        to be there. A site dir written ahead that no install took is deleted by
        :meth:`end_ahead`; one the writer found there already (a kept version's) is left: its
        answer tells, so the worker asks the disk nothing here (under busy callers, each
        system call is a wait for the interpreter lock).
        """
        writer = self._writer
        if writer is None:
            return
        for candidate, wheel in fresh:
            job = self._ahead_job(candidate, wheel)
            if job is None or job.target in self._verified or job.target in self._ahead:
                continue
            if not writer.send_ahead(job):
                return
            self._ahead.add(job.target)

    def end_ahead(self) -> None:
        """After a change: delete the site dirs the writer wrote ahead, or with a look's
        reads, that no install took (nothing names them; a crash before this, or a writer lost
        before it answered, leaves them to the prune at the next start)."""
        if self._writer is None:
            return
        # Drained every time: an answer read for another install meanwhile is told here too.
        for target in self._writer.settle():
            # One an install found there and took (it was not collected) is verified.
            if target not in self._verified:
                delete_dir(target, "")
        self._ahead.clear()

    def _ahead_job(self, candidate: Candidate, wheel: ValidatedWheel) -> SiteJob | None:
        origin = candidate.origin
        if not isinstance(origin, WheelOrigin) or (wheel.info.path, wheel.info.sha256) != (
            origin.path,
            origin.sha256,
        ):
            return None
        from .installer import candidate_job

        return candidate_job(
            candidate, wheel, site_root=self.site_root, staging_root=self.staging_root
        )

    def _written_ahead(self, candidate: Candidate, validated: ValidatedWheel) -> Placed | None:
        """The site dir of ``candidate`` if the writer wrote it ahead (see :meth:`write_ahead`);
        ``None`` when it is to be installed as usual.

        :raises WheelError, InstallError: as the install would.
        """
        job = self._ahead_job(candidate, validated)
        if job is None or job.target not in self._ahead:
            return None
        self._ahead.discard(job.target)
        assert self._writer is not None
        if self._writer.collect(job) is not False:
            # Lost meanwhile, or found there already: the install settles it, as without.
            return None
        self._fresh.add(job.target)
        self._verified.add(job.target)
        self._tell_written(job.target, (validated.info,))
        crash_point("after_install", candidate.version_text)
        return job.target, tuple(sorted(set(validated.info.top_level)))

    def _tell_written(self, site: Path, wheels: Sequence[WheelInfo]) -> None:
        """Tell ``site``'s contents, written from ``wheels``: installer names each wheel's
        ``.dist-info`` dir as the wheel does."""
        compiled = self._writer.take_compiled(site) if self._writer is not None else ()
        self._written(site, compiled, tuple(w.dist_info_dir for w in wheels))

    def _site_writer(self) -> SiteWrite:
        # The installer and the site writer are imported at the first install: a host whose
        # plugins are all installed in its environment starts without them.
        from .site_writer import write_site

        if not self._offload:
            return write_site
        if self._writer is None:
            # Imported here: msgspec and subprocess are for hosts that install, not for every
            # import of pluginhost.
            from .writer_process import WriterProcess

            self._writer = WriterProcess()
        return self._writer

    @property
    def writer_pid(self) -> int | None:
        """The process id of the site writer, once it is ready."""
        return self._writer.pid if self._writer is not None else None

    def start_writer(self) -> None:
        """Start the helper process that writes site dirs now, ahead of the first install (a
        host that watches folders or follows an index installs sooner or later)."""
        self._site_writer()
        if self._writer is not None:
            self._writer.start()

    def read_wheel(
        self, path: Path, lstat: os.stat_result, limits: WheelLimits, group: str
    ) -> WheelRead | None:
        """Have the site writer read and validate a look's wheel file (a
        :data:`~pluginhost.discover.reading.ReadElsewhere`), and write the site dir of the
        plugin it offers to ``group`` right after its answer, as :meth:`write_ahead` would have
        it write (the worker plans meanwhile, and its install takes the write's answer);
        ``None`` unless the writer is ready.

        :raises WheelError: when the file cannot be read, or the writer was lost meanwhile.
        """
        if self._writer is None:
            return None
        from .site_writer import WriteAhead  # imported with the writer already

        ahead = WriteAhead(group, self.site_root, self.staging_root)
        return self._writer.read_wheel(path, lstat, limits, ahead)

    def close(self) -> None:
        """End the helper process that writes site dirs, if there is one."""
        if self._writer is not None:
            self._writer.close()

    def begin(self) -> None:
        """Start a change: the site dirs it installs are told apart from those it reuses."""
        self._fresh.clear()

    def drop_fresh(self, records: Sequence[Record], in_use: Collection[str]) -> None:
        """Delete the site dirs the change under way installed for ``records``: it failed."""
        for record in records:
            if record.site_dir is not None and self.site_root / record.site_dir in self._fresh:
                self.delete(record, in_use)
        self._fresh.clear()

    def delete(self, record: Record, in_use: Collection[str]) -> None:
        """Delete ``record``'s site dir, unless a name in ``in_use`` still needs it."""
        if record.site_dir is None or record.site_dir in in_use:
            return
        target = self.site_root / Path(record.site_dir).name
        self._verified.discard(target)
        delete_dir(target, record.candidate.version_text)

    def prune(self, keep: Collection[str]) -> list[str]:
        """Delete the site dirs not in ``keep`` (left by a crash between an install and its
        commit, or midway through a deletion), nor written ahead of an install to come: a
        start prunes after its look, whose reads had the writer write the new wheels' dirs,
        and the install that takes one does not write it again.

        :returns: the names of the dirs deleted.
        """
        ahead = self._writer.written_ahead() if self._writer is not None else frozenset()
        return prune_dirs(self.site_root, {*keep, *(path.name for path in ahead)})


def delete_dir(target: Path, version: str) -> None:
    """Delete a site dir (or a shared dependency's dir) of ``version``."""
    # Renamed aside first, so that a crash midway never leaves a partial dir under the name
    # of a version; the next start prunes the dot-dir, which nothing names.
    doomed = target.with_name(f".{target.name}.deleting")
    try:
        target.rename(doomed)
    except OSError:
        doomed = target
    crash_point("while_deleting_site", version)
    left = fs.remove_tree(doomed)
    if left:
        logger.warning(
            "%d entries of %s could not be deleted: the next start prunes them", left, doomed
        )


def prune_dirs(root: Path, keep: Collection[str]) -> list[str]:
    """Delete the dirs of ``root`` not in ``keep``; returns their names."""
    if not root.is_dir():
        return []
    pruned = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and not entry.is_symlink() and entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)
            pruned.append(entry.name)
    return pruned


def _tampered(candidate: Candidate, path: Path, reason: str) -> TrustError:
    """The refusal of a site dir changed since it was installed, naming the file."""
    return TrustError(
        f"{path} {reason}; its site dir is not imported (once that dir is gone, the wheel "
        "is installed again from its bytes)",
        plugin=candidate.name,
        path=path,
    )
