"""Discovery: one look at every source a host reads, through the trust policy.

Wheels in watched folders pass the trust gate before their archive is parsed: the folder and
the file under strict modes, then their sha256 against the trust file under ``trust="hashes"``.
Reading a wheel hashes and checks every member, so results are cached per file and a rescan
pays only for files that changed; trust decisions are taken again at every look, since the
trust file or a folder's mode may change meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import attrs
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from ..model.candidate import WheelOrigin
from ..model.errors import TrustError
from ..model.problems import Problem, ProblemKind
from .sources import Scan, Source, WheelFolderSource, read_wheel
from .trust import TrustGate, file_sha256
from .wheel import WheelInfo, WheelLimits

__all__ = ["Discovery", "Look"]

_StatKey = tuple[int, int, int]


@attrs.frozen
class Look:
    """What one look found.

    :param scan: candidates, problems and support wheels.
    :param held: folders that cannot be read now (gone, unreadable, untrusted): the plugins
        loaded from them keep serving until they can be read again.
    """

    scan: Scan
    held: tuple[Path, ...] = ()


class Discovery:
    """Reads the sources and watched folders of one host; see the module docstring."""

    def __init__(
        self,
        group: str,
        folders: Sequence[WheelFolderSource],
        sources: Sequence[Source],
        limits: WheelLimits,
        gate: TrustGate,
    ) -> None:
        self.group = group
        self.folders = tuple(folders)
        self.sources = tuple(sources)
        self.limits = limits
        self.gate = gate
        self._scans: dict[Path, tuple[_StatKey, Scan]] = {}
        self._hashes: dict[Path, tuple[_StatKey, str]] = {}
        self._trust_seen: object = None

    def look(self) -> Look:
        """Read every source now; one bad wheel or folder never hides the others."""
        self._trust_seen = self._trust_inputs()
        with self.gate.pinned():
            return self._look()

    def _look(self) -> Look:
        total = Scan()
        for source in self.sources:
            total = total + self._screen(source.scan(self.group))
        held = []
        seen: set[Path] = set()
        for folder in self.folders:
            refusal = self._folder_refusal(folder)
            if refusal is not None or not os.access(folder.path, os.R_OK | os.X_OK):
                held.append(folder.path)
                total = total + Scan(problems=(refusal,) if refusal else ())
                continue
            for path in folder.wheel_paths():
                seen.add(path)
                total = total + self._read(path, folder, held)
        for stale in set(self._scans) - seen:
            del self._scans[stale]
        for stale in set(self._hashes) - seen:
            del self._hashes[stale]
        return Look(total, tuple(held))

    def trust_changed(self) -> bool:
        """Whether what trust decisions depend on (the folders' owners and modes, the trust
        file) changed since the last look: no folder event announces such a change."""
        return self._trust_inputs() != self._trust_seen

    def _trust_inputs(self) -> object:
        folders = tuple(self._folder_refusal(f) for f in self.folders)
        return folders, self.gate.fingerprint()

    def _folder_refusal(self, folder: WheelFolderSource) -> Problem | None:
        try:
            self.gate.check_path(folder.path, "watched folder")
        except TrustError as exc:
            return _untrusted(exc, folder.path)
        return None

    def _read(self, path: Path, folder: WheelFolderSource, held: list[Path]) -> Scan:
        try:
            key = _stat_key(path)
        except OSError:
            return Scan()  # gone since the folder was listed: the next look settles it
        try:
            self._admit(path, folder, key, held)
        except TrustError as exc:
            return Scan(problems=(_untrusted(exc, path),))
        cached = self._scans.get(path)
        if cached is None or cached[0] != key:
            cached = (key, read_wheel(path, self.group, self.limits))
            self._scans[path] = cached
        return self._screen(cached[1])

    def _admit(
        self, path: Path, folder: WheelFolderSource, key: _StatKey, held: list[Path]
    ) -> None:
        """Refuse a wheel file under the trust policy before its archive is parsed.

        A wheel refused because it, or the trust file, cannot be trusted *now* is held: what
        was loaded from it keeps serving. A hash taken out of a readable trust file is not:
        that is how an operator revokes a plugin.
        """
        # A symlinked wheel is read only when the folder's options say so; its target is
        # what must be safe then.
        real = Path(os.path.realpath(path)) if folder.follow_symlinks else path
        # The folder itself was checked by this look: a wheel in it costs one lstat.
        checked = Path(os.path.abspath(folder.path)) if real == path else None
        try:
            self.gate.check_path(real, "wheel", checked=checked)
            if self.gate.hashes:
                self.gate.trusted()
        except TrustError:
            held.append(path)
            raise
        if self.gate.hashes:
            self.gate.check_sha256(path, self._sha256(path, key))

    def _sha256(self, path: Path, key: _StatKey) -> str:
        cached = self._hashes.get(path)
        if cached is None or cached[0] != key:
            cached = (key, file_sha256(path))
            self._hashes[path] = cached
        return cached[1]

    def _screen(self, scan: Scan) -> Scan:
        """Under ``trust="hashes"``, keep only wheels listed under their own name and version."""
        if not self.gate.hashes:
            return scan
        candidates, problems = [], list(scan.problems)
        for c in scan.candidates:
            if not isinstance(c.origin, WheelOrigin):
                candidates.append(c)  # installed in the environment: trusted as the host is
                continue
            try:
                origin = c.origin
                versions = (str(c.version), *_filename_version(origin.path))
                for_names = (c.name, c.distribution)
                self.check_identity(origin.path, origin.sha256, for_names, versions)
            except TrustError as exc:
                problems.append(_untrusted(exc, c.origin.path, version=str(c.version)))
            else:
                candidates.append(c)
        support = []
        for info in scan.support:
            try:
                self.check_identity(info.path, info.sha256, (info.distribution,), (info.version,))
            except TrustError as exc:
                problems.append(_untrusted(exc, info.path))
            else:
                support.append(info)
        return Scan(tuple(candidates), tuple(problems), tuple(support))

    def check_identity(
        self, path: Path, sha256: str, names: tuple[str, ...], versions: tuple[str, ...]
    ) -> None:
        """:raises TrustError: unless one of ``versions`` is the one listed for the hash."""
        failure: TrustError | None = None
        for version in versions:
            try:
                self.gate.check_identity(path, sha256, names, version)
            except TrustError as exc:
                failure = failure or exc
            else:
                return
        assert failure is not None
        raise failure

    def admit_wheel(self, path: Path) -> None:
        """The checks of a watched wheel, for a wheel given to ``install()``.

        :raises TrustError: when the trust policy refuses it.
        """
        self.gate.check_path(path, "wheel")
        if self.gate.hashes:
            self.gate.check_sha256(path, file_sha256(path))

    def screen_info(self, info: WheelInfo, names: tuple[str, ...], version: str) -> None:
        """:raises TrustError: when ``trust="hashes"`` refuses a validated wheel."""
        if self.gate.hashes:
            versions = (version, info.version)
            self.check_identity(info.path, info.sha256, names, versions)


def _stat_key(path: Path) -> _StatKey:
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _filename_version(path: Path) -> tuple[str, ...]:
    try:
        return (str(parse_wheel_filename(path.name)[1]),)
    except InvalidWheelFilename:
        return ()


def _untrusted(exc: TrustError, path: Path, *, version: str | None = None) -> Problem:
    return Problem(ProblemKind.UNTRUSTED, exc.plugin, str(exc), version=version, path=str(path))
