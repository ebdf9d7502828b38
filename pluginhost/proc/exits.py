"""How a worker process ended: its exit code or signal, and the limit it hit, in one line."""

from __future__ import annotations

import signal
from typing import final

from ..model.frozen import frozen
from .child import EXIT_LIMIT, EXIT_REFUSED

__all__ = ["ExitInfo", "exit_info"]


@final
@frozen
class ExitInfo:
    """How a worker ended.

    :param returncode: its exit code, or None when a signal killed it.
    :param signal: the signal that killed it, if one did.
    :param limit: the limit it hit (``memory_mb``, ``open_files``, ``threads``,
        ``call_timeout_s``), if one.
    :param reason: one line for events and problems.
    """

    returncode: int | None
    signal: int | None
    limit: str | None
    reason: str


def exit_info(code: int, limit: str | None, *, started: bool, cause: str | None = None) -> ExitInfo:
    """How a worker ended; once it serves, an exit code is the plugin's own (``os._exit(3)``),
    not one of the worker's start-up codes.

    :param cause: what the worker did that made the host end it, if it did (a message past
        its bound): said after how it ended.
    """
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        how = f"killed by {name}"
        returncode, sig = None, -code
    else:
        how = f"exited with code {code}"
        if code == EXIT_REFUSED and not started:
            how += " (refused the handshake)"
        returncode, sig = code, None
    if limit is None and code == EXIT_LIMIT and not started:
        limit = "unknown"  # a limit hit while loading is told by its message, or by this code
    reason = f"{how} after hitting its {limit} limit" if limit else how
    if cause:
        reason = f"{reason}: {cause}"
    return ExitInfo(returncode=returncode, signal=sig, limit=limit, reason=reason)
