"""Screening under ``trust="hashes"``: a wheel's hash is listed for one name and version, and
those must be the wheel's own (a listed hash cannot vouch for another plugin's bytes)."""

from __future__ import annotations

from pathlib import Path

from ..model.candidate import Candidate, WheelOrigin
from ..model.errors import TrustError
from ..model.problems import Problem, ProblemKind
from .sources import Scan
from .trust import TrustGate
from .wheel import WheelInfo

__all__ = ["check_identity", "screen", "screen_identity", "untrusted"]


def screen_identity(gate: TrustGate, found: Candidate | WheelInfo) -> None:
    """Under ``trust="hashes"``, the name and version a hash is listed for must be the
    wheel's own.

    :raises TrustError: when they are not.
    """
    if not gate.hashes:
        return
    if isinstance(found, WheelInfo):
        check_identity(gate, found.path, found.sha256, (found.distribution,), (found.version,))
        return
    assert isinstance(found.origin, WheelOrigin)
    versions = (str(found.version), *_filename_version(found.origin.path))
    names = (found.name, found.distribution)
    check_identity(gate, found.origin.path, found.origin.sha256, names, versions)


def screen(gate: TrustGate, scan: Scan) -> Scan:
    """Under ``trust="hashes"``, keep only the wheels of other sources listed under their own
    name and version."""
    if not gate.hashes:
        return scan
    candidates, problems = [], list(scan.problems)
    for c in scan.candidates:
        if not isinstance(c.origin, WheelOrigin):
            candidates.append(c)  # installed in the environment: trusted as the host is
            continue
        try:
            screen_identity(gate, c)
        except TrustError as exc:
            problems.append(untrusted(exc, c.origin.path, version=str(c.version)))
        else:
            candidates.append(c)
    support = []
    for info in scan.support:
        try:
            screen_identity(gate, info)
        except TrustError as exc:
            problems.append(untrusted(exc, info.path))
        else:
            support.append(info)
    return Scan(tuple(candidates), tuple(problems), tuple(support))


def check_identity(
    gate: TrustGate, path: Path, sha256: str, names: tuple[str, ...], versions: tuple[str, ...]
) -> None:
    """:raises TrustError: unless one of ``versions`` is the one listed for the hash."""
    failure: TrustError | None = None
    for version in versions:
        try:
            gate.check_identity(path, sha256, names, version)
        except TrustError as exc:
            failure = failure or exc
        else:
            return
    assert failure is not None
    raise failure


def untrusted(exc: TrustError, path: Path, *, version: str | None = None) -> Problem:
    """The problem of a file or folder the trust policy refuses."""
    return Problem(ProblemKind.UNTRUSTED, exc.plugin, str(exc), version=version, path=str(path))


def _filename_version(path: Path) -> tuple[str, ...]:
    # Imported here: packaging.utils loads packaging.tags and subprocess, which a host that
    # reads no wheel never needs.
    from packaging.utils import parse_wheel_filename

    try:
        return (str(parse_wheel_filename(path.name)[1]),)
    except ValueError:  # InvalidWheelFilename, or a version int() refuses
        return ()
