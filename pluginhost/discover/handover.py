"""The hand-over of validated wheel bytes from discovery to installation.

Discovery reads a wheel file once, hashes those bytes once and validates them in memory; what
gets installed is exactly those bytes, with no second read, hash or validation. Holding every
wheel of every watched folder would cost memory without end, so the bytes are kept only:

- until the install that takes them (:meth:`ValidatedWheels.take`), and
- until the look after the one that read them (the install of a change follows its look), and
- within a total byte cap: a wheel that does not fit is simply not kept.

An install that finds nothing here reads, hashes and validates the file afresh, and refuses it
unless its sha256 is the one discovery saw.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Final, final

import attrs

from ..model.frozen import frozen
from .wheel import WheelInfo

__all__ = ["DEFAULT_CAP", "ValidatedWheel", "ValidatedWheels"]

#: The most bytes of validated wheels kept at once, by default: a few dozen plugin wheels, or
#: a couple of the large support wheels.
DEFAULT_CAP: Final = 64 * 1024 * 1024


@frozen
class ValidatedWheel:
    """A wheel's bytes as validated, and what validation read from them.

    :param info: what the wheel declares; ``info.sha256`` is the digest of ``data`` and
        ``info.path`` the file they were read from.
    :param data: the whole file, as validated.
    """

    info: WheelInfo
    data: bytes = attrs.field(repr=False)


@final
class ValidatedWheels:
    """Validated wheels waiting for their install, by path; see the module docstring.

    >>> kept = ValidatedWheels(cap=1 << 20)
    >>> kept.keep(wheel)
    True
    >>> kept.take(wheel.info.path, wheel.info.sha256) is wheel
    True

    :param cap: the most bytes kept at once.
    """

    def __init__(self, cap: int = DEFAULT_CAP) -> None:
        self._cap: Final = cap
        self._lock: Final = threading.Lock()
        # path -> (the look it is kept for, the wheel)
        self._kept: dict[Path, tuple[int, ValidatedWheel]] = {}
        self._size = 0
        self._look = 0

    @property
    def size(self) -> int:
        """The bytes kept now."""
        return self._size

    def new_look(self) -> None:
        """A look starts: drop what the look before it read and nobody took."""
        with self._lock:
            self._look += 1
            for path, (look, _) in list(self._kept.items()):
                if look < self._look:
                    self._drop(path)

    def keep(self, wheel: ValidatedWheel, *, next_look: bool = False) -> bool:
        """Keep ``wheel`` for its install, in place of any other wheel kept for its path.

        :param next_look: keep it through the next look too: it was read between looks (a wheel
            given to ``install()``), and the install follows that look.
        :returns: ``False`` when it did not fit under the cap and is not kept.
        """
        with self._lock:
            self._drop(wheel.info.path)
            if self._size + len(wheel.data) > self._cap:
                return False
            self._kept[wheel.info.path] = (self._look + next_look, wheel)
            self._size += len(wheel.data)
            return True

    def take(self, path: Path, sha256: str) -> ValidatedWheel | None:
        """The wheel kept for ``path`` if it has this ``sha256``, no longer kept; else ``None``."""
        with self._lock:
            kept = self._kept.get(path)
            if kept is None or kept[1].info.sha256 != sha256:
                return None
            self._drop(path)
            return kept[1]

    def _drop(self, path: Path) -> None:
        kept = self._kept.pop(path, None)
        if kept is not None:
            self._size -= len(kept[1].data)
