"""Revocation: under ``trust="hashes"``, a version whose hash left the trust file stops serving.

Wheels in watched folders are screened at every look; this is the same question for what
serves or was committed without a look: versions given to ``install()``, versions in a folder
that cannot be read now, and versions a start would restore from the registry.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from ..model.candidate import Candidate, WheelOrigin
from ..model.errors import TrustError
from ..model.problems import Problem, ProblemKind
from .trust import TrustGate

__all__ = ["revocation", "revoker"]


def revoker(gate: TrustGate) -> Callable[[Candidate], Problem | None] | None:
    """:func:`revocation` under ``gate``, or ``None`` when no version can be revoked (trust is
    not by hashes): the engine then spares a look at every version at each change."""
    return functools.partial(revocation, gate) if gate.hashes else None


def revocation(gate: TrustGate, candidate: Candidate) -> Problem | None:
    """Why ``candidate``, admitted before, is no longer trusted; ``None`` while it is.

    A distribution installed in the environment is trusted as the environment is. A trust
    file that cannot be read revokes nothing: like a folder that cannot be read, it leaves
    what serves serving until it can be read again.
    """
    origin = candidate.origin
    if not gate.hashes or not isinstance(origin, WheelOrigin):
        return None
    try:
        listed = gate.trusted()
    except TrustError:
        return None
    if origin.sha256 in listed:
        return None
    return Problem(
        ProblemKind.UNTRUSTED,
        candidate.name,
        f"{candidate.name} {candidate.version}: sha256 {origin.sha256} is no longer listed "
        f"in the trust file {gate.trust_file}; revoked",
        version=candidate.version_text,
        path=str(origin.path),
    )
