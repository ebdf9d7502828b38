"""Discovery: one look at every source a host reads, through the trust policy.

Every wheel file, whether in a watched folder or given to ``install()``, takes one path
(:meth:`Discovery.admit` and the look both go through ``Discovery._admit``):

1. the folder and the file pass strict modes (owners, modes, symlinks), before a byte is read;
2. the file is read once and those bytes hashed once; under ``trust="hashes"`` the hash must be
   listed in the trust file before the archive is parsed;
3. the bytes are validated in memory and read as a candidate (or a dependency wheel);
4. under ``trust="hashes"``, the name and version the hash is listed for must be the wheel's;
5. the validated bytes are kept for their install (:mod:`~pluginhost.discover.handover`).

Reading a wheel hashes and checks every member, so what a file yields is cached by its
identity (size, mtime, inode) and a rescan pays only for files that changed; trust decisions
are taken again at every full look, since the trust file or a folder's mode may change
meanwhile.

A look told which files of a folder changed (the watcher's events name them) reads only those
and keeps what the last look found for the others, and for the other sources (the environment's
installed distributions): with a thousand wheels in a folder, listing, checking and joining them
all again made a swap cost what the host holds, not what changed. The folders themselves are
checked at every look, once (up to the root at a full look, the folder alone otherwise: see
``TrustGate.check_folder``); a full look (at start, for ``install()``, after a trust change,
and at least once per rescan interval) remains the safety net.
"""

from __future__ import annotations

import bisect
import operator
import os
import stat
from collections.abc import Callable, Collection, Mapping, Sequence
from itertools import compress
from pathlib import Path

from ..model.candidate import Candidate
from ..model.errors import ManifestError, PluginHostError, TrustError, WheelError
from ..model.frozen import frozen
from ..model.pacing import pace, paced
from ..model.problems import CANNOT_READ, Problem
from .archive import WheelBytes, WheelLimits
from .candidates import candidate_from_wheel
from .folder import (
    WheelFolderSource,
    is_sdist,
    problem_from,
    sdist_problem,
    unexpected,
    unlisted_problem,
)
from .handover import DEFAULT_CAP, ValidatedWheel, ValidatedWheels
from .reading import ReadElsewhere, WheelRead, elsewhere_allowed, inspected, read_here
from .reads import Outcome, Read, StatKey, identity, stat_key
from .screening import screen, screen_identity, untrusted
from .sources import Scan, Source
from .trust import TrustGate
from .wheel import WheelInfo

__all__ = ["Discovery", "Look"]

# A folder's last look holds (scan, held) per wheel.
_SCAN = operator.itemgetter(0)
_HELD = operator.itemgetter(1)


@frozen
class Look:
    """What one look found.

    :param scan: candidates, problems and dependency wheels.
    :param held: folders that cannot be read now (gone, unreadable, untrusted): the plugins
        loaded from them keep serving until they can be read again.
    :param fresh: the candidates of the folders' wheels this look read and validated, each
        with the bytes it validated (kept for the install too): the host's site writer may
        start on them while the host plans.
    """

    scan: Scan
    held: tuple[Path, ...] = ()
    fresh: tuple[tuple[Candidate, ValidatedWheel], ...] = ()


class Discovery:
    """Reads the sources and watched folders of one host; see the module docstring."""

    def __init__(
        self,
        group: str,
        folders: Sequence[WheelFolderSource],
        sources: Sequence[Source],
        limits: WheelLimits,
        gate: TrustGate,
        *,
        keep_bytes: int = DEFAULT_CAP,
    ) -> None:
        self.group = group
        self.folders = tuple(folders)
        self.sources = tuple(sources)
        self.limits = limits
        self.gate = gate
        # Keyed by the path's text: a str keeps its hash, a Path computes it in Python, and a
        # look goes through a thousand of them at each swap.
        self._reads: dict[str, Read] = {}
        # What the last look found in each folder, per wheel: its scan and whether it was held.
        self._found: dict[Path, dict[str, tuple[Scan, bool]]] = {}
        self._handover = ValidatedWheels(keep_bytes)
        # This look's validated bytes by path, and the candidates read from them.
        self._validated_now: dict[Path, ValidatedWheel] = {}
        self._fresh: list[tuple[Candidate, ValidatedWheel]] = []
        self._trust_seen: object = None
        self._sources_scan: Scan | None = None
        self._elsewhere: ReadElsewhere | None = None

    def read_elsewhere(self, reader: ReadElsewhere) -> None:
        """Have ``reader`` (the site writer's process) read and validate the small wheels of
        the looks that it can take (see :mod:`~.reading`)."""
        self._elsewhere = reader

    def look(self, changed: Mapping[Path, Collection[Path]] | None = None) -> Look:
        """Read every source now; one bad wheel or folder never hides the others.

        :param changed: by watched folder (as the folder source names it), the files that
            appeared, changed or went away since the last look; the other files of those
            folders, and every file of the other folders, are taken from the last look. ``None``
            for a full look, which is also what a look is when what trust depends on (a
            folder's owner or mode, the trust file) changed since the last one.
        """
        pace()  # the worker's first step of a change: the one before may have held the lock
        inputs = self._trust_inputs(again=changed is None)
        pace()
        if inputs != self._trust_seen:
            changed = None
        self._trust_seen = inputs
        self._handover.new_look()
        self._validated_now.clear()
        self._fresh.clear()
        with self.gate.pinned():
            return self._look(changed, inputs[0])

    def _look(
        self,
        changed: Mapping[Path, Collection[Path]] | None,
        refusals: Sequence[Problem | None],
    ) -> Look:
        if changed is None or self._sources_scan is None:
            # The other sources (the environment's installed distributions) are read again at
            # every full look; a look told what changed in a folder reuses what they offered.
            self._sources_scan = Scan.joined(
                screen(self.gate, source.scan(self.group)) for source in self.sources
            )
        scans = [self._sources_scan]
        held: list[Path] = []
        seen: set[str] = set()
        for folder, refusal in zip(self.folders, refusals, strict=True):
            found = self._look_in(folder, changed, held) if refusal is None else None
            if found is None:  # refused, or the host may not read it: what it offered holds
                held.append(folder.path)
                scans.append(Scan(problems=(refusal,) if refusal else ()))
                self._found.pop(folder.path, None)
                continue
            seen.update(found)
            scans += map(_SCAN, found.values())  # in C: a thousand wheels, at each swap
        for stale in set(self._reads) - seen:
            del self._reads[stale]
        pace()
        return Look(Scan.joined(scans), tuple(held), tuple(self._fresh))

    def _look_in(
        self,
        folder: WheelFolderSource,
        changed: Mapping[Path, Collection[Path]] | None,
        held: list[Path],
    ) -> dict[str, tuple[Scan, bool]] | None:
        """One folder's wheels, in name order: those ``changed`` names (all, for a full look,
        or for a folder with subfolders, which are not watched) read again, the others as last
        time (with whether they were held); ``None`` when the host may not read the folder."""
        last = self._found.get(folder.path)
        if changed is None or last is None or folder.max_depth > 0:
            if not _readable(folder.path):
                return None
            unlisted: list[tuple[str, OSError]] = []
            paths = paced(folder.each_wheel_path(_collect(unlisted)), every=8)  # an lstat or two
            found: dict[str, tuple[Scan, bool]] | None = {
                **{str(path): self._read_held(path, folder, held) for path in paths},
                **_unlisted(unlisted, held),
            }
        else:
            found = self._look_again(folder, last, changed.get(folder.path, ()), held)
        if found is not None:
            self._found[folder.path] = found
        return found

    def _look_again(
        self,
        folder: WheelFolderSource,
        last: dict[str, tuple[Scan, bool]],
        touched: Collection[Path],
        held: list[Path],
    ) -> dict[str, tuple[Scan, bool]] | None:
        """The last look of ``folder`` with the files ``touched`` read again, and added or
        taken out as the folder lists them now; ``None`` when a file it no longer lists may
        only be hidden by the folder's permissions.

        The folder's own permissions are asked only then: a look that lists nothing needs
        none but search, which each ``lstat`` proves (one system call less at each swap,
        and under busy callers each one is a wait for the interpreter lock).
        """
        # Copied at C speed, with the paths' hashes: going through a thousand paths in Python
        # at each swap cost more than reading the one that changed.
        found = dict(last)
        read: set[str] = set()
        searchable = False  # asked once a look, at the first file named that is not listed
        for path in touched:
            key = str(path)
            st = folder.listed(path)
            if st is not None:
                read.add(key)
                entry = self._read_held(path, folder, held, st)
                if key in found:
                    found[key] = entry
                else:
                    found = _inserted(found, key, entry)
            elif searchable or (searchable := _readable(folder.path)):
                found.pop(key, None)
            else:
                return None
        was_held = compress(found.keys(), map(_HELD, found.values()))  # in C, as above
        held.extend(Path(p) for p in was_held if p not in read)
        return found

    def _read_held(
        self,
        path: Path,
        folder: WheelFolderSource,
        held: list[Path],
        st: os.stat_result | None = None,
    ) -> tuple[Scan, bool]:
        """:meth:`_read` of ``path``, and whether it was held."""
        before = len(held)
        pace()  # each wheel read is a step of its own
        return self._read(path, folder, held, st), len(held) > before

    def trust_changed(self) -> bool:
        """Whether what trust decisions depend on (the folders' owners and modes, the trust
        file) changed since the last look: no folder event announces such a change."""
        return self._trust_inputs() != self._trust_seen

    def _trust_inputs(self, *, again: bool = True) -> tuple[tuple[Problem | None, ...], object]:
        folders = tuple(self._folder_refusal(f, again) for f in self.folders)
        return folders, self.gate.fingerprint()

    def _folder_refusal(self, folder: WheelFolderSource, again: bool) -> Problem | None:
        try:
            self.gate.check_folder(folder.path, "watched folder", again=again)
        except TrustError as exc:
            return untrusted(exc, folder.path)
        return None

    def _read(
        self, path: Path, folder: WheelFolderSource, held: list[Path], st: os.stat_result | None
    ) -> Scan:
        """One wheel of a watched folder, through :meth:`_admit`; refusals become problems.

        So does any error no step expected: it names the file, and the other files of the
        look are read and applied all the same.
        """
        try:
            if is_sdist(path.name):
                return Scan(problems=(sdist_problem(path),))  # reported unopened
            return self._read_one(path, folder, held, st)
        except Exception as exc:
            return Scan(problems=(problem_from(unexpected(exc, path), path),))

    def _read_one(
        self, path: Path, folder: WheelFolderSource, held: list[Path], listed: os.stat_result | None
    ) -> Scan:
        # One lstat (the listing's, if any) serves the key, the trust check and the read.
        try:
            st, key = identity(path, listed)
        except OSError:
            return Scan()  # gone since the folder was listed: the next look settles it
        try:
            self._check_file(path, folder, st)
        except TrustError as exc:
            held.append(path)
            return Scan(problems=(untrusted(exc, path),))
        try:
            found = self._admit(path, key, next_look=False, st=st)
        except TrustError as exc:
            # Listed under another name or version: the version read is part of the refusal.
            version = self._version_read(path) if exc.plugin else None
            return Scan(problems=(untrusted(exc, path, version=version),))
        except (WheelError, ManifestError) as exc:
            return Scan(problems=(problem_from(exc, path),))
        if isinstance(found, WheelInfo):
            return Scan(support=(found,))
        wheel = self._validated_now.pop(path, None)
        if wheel is not None:
            self._fresh.append((found, wheel))
        return Scan(candidates=(found,))

    def _version_read(self, path: Path) -> str | None:
        """The version of the plugin read from ``path``, if one was."""
        read = self._reads.get(str(path))
        found = read.outcome if read is not None else None
        return str(found.version) if isinstance(found, Candidate) else None

    def _check_file(self, path: Path, folder: WheelFolderSource, st: os.stat_result) -> None:
        """Refuse a wheel file of a folder under the trust policy before a byte is read.

        A wheel refused here, because it or the trust file cannot be trusted *now*, is held:
        what was loaded from it keeps serving. A hash taken out of a readable trust file is
        not (see :meth:`_admit`): that is how an operator revokes a plugin.

        :raises TrustError: when the file or the trust file cannot be trusted.
        """
        # A symlinked wheel is read only when the folder's options say so; its target is
        # what must be safe then.
        real = Path(os.path.realpath(path)) if folder.follow_symlinks else path
        # The folder itself was checked by this look: a wheel in it costs one lstat.
        if real == path:
            checked = Path(os.path.abspath(folder.path))
            self.gate.check_path(real, "wheel", checked=checked, leaf=st)
        else:
            self.gate.check_path(real, "wheel")
        if self.gate.hashes:
            self.gate.trusted()

    def admit(self, path: Path) -> Candidate:
        """The plugin a wheel file given to ``install()`` offers, once trust and validation pass.

        The same path as a wheel in a watched folder takes (:meth:`_admit`); its validated
        bytes are kept for its install, through the look that precedes the install.

        :param path: the wheel file, absolute; symlinks are resolved once it is found safe.
        :raises TrustError: when the trust policy refuses it, naming the file (and the plugin
            when its hash is listed under another name or version).
        :raises WheelError: when validation refuses it, or it is no plugin of this host.
        :raises ManifestError: when its manifest is unusable.
        """
        try:
            found = self._admit_given(path)
        except PluginHostError:
            raise
        except Exception as exc:
            raise unexpected(exc, path) from None
        if isinstance(found, WheelInfo):
            raise WheelError(
                f"declares no entry point in group {self.group!r}: not a plugin of this host",
                plugin=found.distribution,
                path=path,
            )
        return found

    def _admit_given(self, path: Path) -> Candidate | WheelInfo:
        self.gate.check_path(path, "wheel")
        path = path.resolve()
        try:
            key = stat_key(path)
        except OSError as exc:
            raise WheelError(f"{CANNOT_READ}: {exc}", path=path) from exc
        with self.gate.pinned():
            return self._admit(path, key, next_look=True)

    def validated(self, path: Path, sha256: str) -> ValidatedWheel | None:
        """The bytes of the wheel at ``path`` as discovery validated them, for installing them
        without reading, hashing or validating the file again; ``None`` when they were not kept
        (then the installer reads the file afresh).

        :param sha256: the digest the caller expects: other bytes are not handed over.
        """
        return self._handover.take(path, sha256)

    def _admit(
        self, path: Path, key: StatKey, *, next_look: bool, st: os.stat_result | None = None
    ) -> Candidate | WheelInfo:
        """The one path of a wheel file: read once, hashed once, screened, validated.

        Under ``trust="hashes"`` the file's hash must be listed before its archive is parsed,
        and the name and version it is listed for must be the ones the wheel declares. What a
        file yields is kept by its identity (size, mtime, inode) so a rescan reads only the
        files that changed; the trust decisions are taken again each time.

        :returns: the plugin it offers, or what it declares when it is no plugin (a support
            wheel).
        :raises TrustError: when its hash is not listed, or listed for another name or version.
        :raises WheelError: when validation refuses it.
        :raises ManifestError: when its manifest is unusable.
        """
        read = self._reads.get(str(path))
        fresh: WheelRead | WheelBytes | None = None
        if read is None or read.key != key:
            read, fresh = self._read_file(path, key, st)
            self._reads[str(path)] = read
        if self.gate.hashes:
            self.gate.check_sha256(path, read.sha256)  # refused unread
        outcome = read.outcome
        if outcome is None:
            outcome = self._validate(path, fresh, next_look)
            # A wheel too large to hold was read again: what was validated is what is screened.
            validated = outcome.sha256 if isinstance(outcome, Candidate | WheelInfo) else None
            self._reads[str(path)] = Read(key, validated or read.sha256, outcome)
        if isinstance(outcome, WheelError | ManifestError):
            raise outcome.with_traceback(None)
        screen_identity(self.gate, outcome)
        return outcome

    def _read_file(
        self, path: Path, key: StatKey, st: os.stat_result | None
    ) -> tuple[Read, WheelRead | WheelBytes | None]:
        """The file's bytes, read once and hashed once (a file too large to hold: its hash);
        read and validated by the site writer when it can (see :mod:`~.reading`).

        :param st: the ``lstat`` of ``path`` made by this look, if it made one.
        :raises WheelError: when the file cannot be read.
        """
        if self._elsewhere is not None and elsewhere_allowed(st, self.gate.hashes):
            assert st is not None
            done = self._elsewhere(path, st, self.limits, self.group)
            if done is not None:
                return Read(key, done.data.sha256), done
        symlink = path.is_symlink() if st is None else stat.S_ISLNK(st.st_mode)
        source, before = path, None if symlink else st
        if symlink:
            # Listed only by a folder that follows symlinks. The bytes are read from the
            # target (the read itself follows no link), checked here, where it is read.
            source = Path(os.path.realpath(path))
            self.gate.check_path(source, "wheel")
        data = read_here(source, before, self.limits.max_wheel_size, named=path)
        if isinstance(data, str):
            return Read(key, data), None
        return Read(key, data.sha256), data

    def _validate(
        self, path: Path, fresh: WheelRead | WheelBytes | None, next_look: bool
    ) -> Outcome:
        """What the bytes read make of the wheel; the bytes are kept for its install.

        Without bytes (the wheel is too large to hold, or was refused unread at an earlier
        look) the file is read again.
        """
        data = fresh.data if isinstance(fresh, WheelRead) else fresh
        inspection = (
            fresh.inspected if isinstance(fresh, WheelRead) else inspected(path, fresh, self.limits)
        )
        if isinstance(inspection, WheelError):
            return inspection
        try:
            candidate = candidate_from_wheel(inspection, self.group, self.limits)
        except (WheelError, ManifestError) as exc:
            return exc
        except Exception as exc:
            # Kept like any refusal: the same bytes are not read, nor logged, at each look.
            return unexpected(exc, path)
        if data is not None:
            wheel = ValidatedWheel(inspection.info, data.data)
            if self._handover.keep(wheel, next_look=next_look) and not next_look:
                self._validated_now[path] = wheel
        return candidate or inspection.info


def _collect(into: list[tuple[str, OSError]]) -> Callable[[str, OSError], None]:
    return lambda folder, exc: into.append((folder, exc))


def _unlisted(
    unlisted: list[tuple[str, OSError]], held: list[Path]
) -> dict[str, tuple[Scan, bool]]:
    """The problems of the subfolders a walk could not list, each held like a folder the host
    may not read: what its wheels offered keeps serving until it can be listed again."""
    held += (Path(folder) for folder, _ in unlisted)
    return {f: (Scan(problems=(unlisted_problem(f, exc),)), True) for f, exc in unlisted}


def _readable(folder: Path) -> bool:
    """Whether this process may list ``folder`` and reach its files: when it may not (its
    owner took the permissions back), what its wheels offered is held, not unloaded."""
    return os.access(folder, os.R_OK | os.X_OK)


def _inserted(
    found: dict[str, tuple[Scan, bool]], path: str, entry: tuple[Scan, bool]
) -> dict[str, tuple[Scan, bool]]:
    """``found`` with ``path`` added in name order, as a full look lists a folder (in one
    folder, the name order is the order of the paths' texts); a bisection, not a sort."""
    items = list(found.items())
    items.insert(bisect.bisect(list(found), path), (path, entry))
    return dict(items)  # the keys' hashes are kept by their str objects
