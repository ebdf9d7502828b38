"""Ctrl-C that is never lost.

Python raises :class:`KeyboardInterrupt` in whatever Python code runs when the signal is
handled. In a garbage collector's callback, a finalizer or a weak reference's callback, it is
dropped and reported through :func:`sys.unraisablehook` ("Exception ignored in ..."): a command
interrupted there ran on, printed that report and exited 0. While :class:`Interrupts` is
entered, such an interrupt is not reported, and the command line ends with exit 130 once the
command is over (:func:`~pluginhost.cli.main.main`). A command that catches the interrupt
itself (``dev`` and ``run`` stop cleanly, with 0) is not concerned: nothing was dropped.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Interrupts"]


class Interrupts:
    """While entered, ``lost`` tells whether a Ctrl-C was dropped where Python drops it."""

    def __init__(self) -> None:
        self.lost = False
        self._before: Any = None

    def __enter__(self) -> Interrupts:
        self._before = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        return self

    def __exit__(self, *exc_info: object) -> None:
        if sys.unraisablehook == self._unraisable:  # not replaced since by someone else
            sys.unraisablehook = self._before

    def _unraisable(self, unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            self.lost = True
            return
        self._before(unraisable)
