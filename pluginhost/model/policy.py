"""What versions a host accepts, beyond what the plugins' constraints say."""

from __future__ import annotations

from typing import Literal

from .frozen import frozen

#: What to do with an update that an active dependent's constraint excludes: ``"reject"`` it,
#: or ``"cascade"``: unload that dependent and update.
BreakingChange = Literal["reject", "cascade"]


@frozen
class VersionPolicy:
    """The host operator's rules for choosing plugin versions.

    :param allow_prerelease: let prerelease versions (``1.2.0-rc.1``) be chosen even when no
        constraint names a prerelease.
    :param allow_downgrade: let a lower version replace the one that is active.
    """

    allow_prerelease: bool = False
    allow_downgrade: bool = False
