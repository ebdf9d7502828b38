"""Crash points for the kill tests: ``PLUGINHOST_CRASH_AT=<step>@<version>`` makes the process
SIGKILL itself when a change involving that plugin version reaches that step, to prove that a
restart recovers from a crash right there.

Unset (always, outside tests), a crash point costs one comparison with ``None``.
"""

from __future__ import annotations

import os
import signal
from typing import Final

__all__ = ["STEPS", "crash_point"]

STEPS: Final = (
    "after_install",
    "after_import",
    "after_switch",
    "during_drain",
    "while_persisting",
    "after_persisting",
)

_ARMED: Final = os.environ.get("PLUGINHOST_CRASH_AT") or None


def crash_point(step: str, version: str) -> None:
    """Kill this process at once if the environment asks for a crash at ``step@version``."""
    if _ARMED is not None and f"{step}@{version}" == _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
