"""Crash points for the kill tests: ``PLUGINHOST_CRASH_AT=<step>@<version>`` makes the process
SIGKILL itself when a change involving that plugin version reaches that step, to prove that a
restart recovers from a crash right there.

Unset (always, outside tests), a crash point costs one comparison with ``None``.

The steps, by the change they belong to (``version`` is the version being installed or switched
to; for a removal, the version removed):

- an install or update: ``before_publish`` (the site dir is complete in staging, not yet renamed
  into ``site/``), ``after_install`` (renamed into place), then the swap's steps
  ``after_import``, ``after_switch``, ``while_persisting``, ``after_persisting`` and
  ``during_drain``; a rollback to a backup goes through the swap's steps too, from
  ``after_import`` on;
- a change undone because it failed (a health check, say): ``while_undoing`` (the old version is
  switched back in, the new one not yet purged) and ``after_undoing``;
- a removal: ``removal_before_persisting``, ``removal_after_persisting`` (committed, still
  registered), ``removal_after_unregister`` (switched out, calls draining) and
  ``removal_after_drain`` (drained, not yet deactivated and purged);
- deleting a site dir no longer needed (a backup beyond ``keep_backups``): ``while_deleting_site``
  (named by the deleted version), midway through the deletion.
"""

from __future__ import annotations

import os
import signal
from typing import Final

__all__ = [
    "INSTALL_STEPS",
    "REMOVAL_STEPS",
    "STEPS",
    "SWAP_STEPS",
    "UNDO_STEPS",
    "any_armed",
    "armed",
    "crash_point",
]

INSTALL_STEPS: Final = ("before_publish", "after_install")
SWAP_STEPS: Final = (
    "after_import",
    "after_switch",
    "while_persisting",
    "after_persisting",
    "during_drain",
)
UNDO_STEPS: Final = ("while_undoing", "after_undoing")
REMOVAL_STEPS: Final = (
    "removal_before_persisting",
    "removal_after_persisting",
    "removal_after_unregister",
    "removal_after_drain",
)
STEPS: Final = (*INSTALL_STEPS, *SWAP_STEPS, *UNDO_STEPS, *REMOVAL_STEPS, "while_deleting_site")

_ARMED: Final = os.environ.get("PLUGINHOST_CRASH_AT") or None


def any_armed() -> bool:
    """Whether a crash point is armed at all: a step named by many versions (a commit's) need
    not work out their text otherwise."""
    return _ARMED is not None


def armed(step: str, version: str) -> bool:
    """Whether this process is to crash at ``step@version`` (work that would reach the step in
    a helper process is then done in this one, so that the host is the process that dies)."""
    return _ARMED is not None and f"{step}@{version}" == _ARMED


def crash_point(step: str, version: str) -> None:
    """Kill this process at once if the environment asks for a crash at ``step@version``."""
    if armed(step, version):
        os.kill(os.getpid(), signal.SIGKILL)
