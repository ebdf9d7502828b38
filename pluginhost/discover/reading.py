"""Reading one wheel file of a look, and validating its bytes: here, or in the site writer.

Under threads that call hooks without pause, every call of the worker that lets the
interpreter lock go (``open``, ``fstat``, ``read``, ``close``, each member's decompressing)
costs it about a switch interval to take the lock back. A look may therefore have the site
writer's process (:mod:`~pluginhost.install.writer_process`) read and validate a small wheel:
the worker then waits once, for the answer, which carries the bytes, their sha256 and what
validation read (:class:`WheelRead`). The same functions run there as here, on the same bytes.

The writer is asked only when it can be, and only when nothing must come between the read and
the validation: not under ``trust="hashes"`` (the hash is checked before the archive is parsed),
not for a symlinked wheel (its target is checked first), not for a file over
:data:`ELSEWHERE_MAX`. Otherwise, or when the writer is not ready, the file is read here.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Final

from ..model.errors import WheelError
from ..model.frozen import frozen
from ..model.manifest import load_toml_parser
from ..model.problems import CANNOT_READ
from .archive import RefusedError, WheelBytes, WheelLimits, hash_wheel_file, read_wheel_bytes
from .candidates import inspect_plugin_wheel
from .folder import unexpected
from .metadata import FileName, load_parsers
from .wheel import Inspection

__all__ = [
    "ELSEWHERE_MAX",
    "ReadElsewhere",
    "WheelRead",
    "elsewhere_allowed",
    "inspected",
    "prepare_reading",
    "read_and_inspect",
    "read_here",
]

#: The largest wheel the writer is asked to read: its bytes come back through a pipe.
ELSEWHERE_MAX: Final = 1024 * 1024


@frozen
class WheelRead:
    """A wheel file's bytes, and what validating them made of the wheel.

    :param data: the whole file and its sha256.
    :param inspected: the validated wheel, or why it is refused.
    """

    data: WheelBytes
    inspected: Inspection | WheelError


ReadElsewhere = Callable[[Path, os.stat_result, WheelLimits, str], "WheelRead | None"]
"""Reads and validates a wheel file in another process (its ``lstat``, the limits and the
host's entry-point group given: that process may install the plugin the wheel offers meanwhile);
``None`` when that process cannot take it now.

:raises WheelError: when the file cannot be read (nothing is known of its bytes).
"""


def read_here(
    path: Path, before: os.stat_result | None, max_size: int, *, named: Path | None = None
) -> WheelBytes | str:
    """The file's bytes, read once and hashed once, or only their sha256 when the file is too
    large to hold (it is then validated from the file).

    :param before: its ``lstat``, made just now, if made: the file opened must be that file.
    :param max_size: the largest file read or hashed (``WheelLimits.max_wheel_size``).
    :param named: the path errors name, if not ``path`` (a symlink's, read at its target).
    :raises WheelError: when the file cannot be read, or is larger than ``max_size``.
    """
    shown = named or path
    try:
        data = read_wheel_bytes(path, before, max_size)
        return data if data is not None else hash_wheel_file(path, max_size)
    except OSError as exc:
        reason = f"{CANNOT_READ}: {exc}"
        raise WheelError(reason, plugin=_plugin_named(shown), path=shown) from exc
    except RefusedError as exc:
        raise WheelError(str(exc), plugin=_plugin_named(shown), path=shown) from None


def _plugin_named(path: Path) -> str | None:
    """The distribution a wheel's file name names, if it is a wheel's name: errors name it."""
    try:
        return FileName.parse(path.name).distribution
    except RefusedError:
        return None


def read_and_inspect(path: Path, before: os.stat_result, limits: WheelLimits) -> WheelRead | None:
    """Read a small wheel file and validate its bytes (what the site writer runs for a look).

    :returns: ``None`` when the file grew past :data:`ELSEWHERE_MAX` since its ``lstat``: the
        host reads it then, as it reads any larger file (not a refusal: the same file read
        there might be valid).
    :raises WheelError: when the file cannot be read.
    """
    data = read_here(path, before, limits.max_wheel_size)
    if isinstance(data, str) or len(data.data) > ELSEWHERE_MAX:
        return None
    return WheelRead(data, inspected(path, data, limits))


def prepare_reading() -> None:
    """Import now what reading and validating a wheel imports when first needed (the
    metadata parsers, the TOML parser, the codec of zip member names that are not UTF-8) and
    compute the interpreter's tags. The site writer runs this before it says it is ready, so
    that the first swap after a start does not wait for it."""
    load_parsers()
    load_toml_parser()
    codecs.lookup("cp437")  # zipfile's codec for names without the UTF-8 flag


def inspected(path: Path, data: WheelBytes | None, limits: WheelLimits) -> Inspection | WheelError:
    """What validating a wheel's bytes (the file's, without ``data``) makes of it.

    An error no check expected refuses the wheel too, logged (see
    :func:`~.folder.unexpected`): one file must never stop a look at the others.
    """
    try:
        return inspect_plugin_wheel(path, limits, data)
    except WheelError as exc:
        return exc
    except Exception as exc:
        return unexpected(exc, path)


def elsewhere_allowed(st: os.stat_result | None, hashes: bool) -> bool:
    """Whether a wheel of this ``lstat`` may be read and validated in another process."""
    return (
        st is not None
        and not hashes
        and stat.S_ISREG(st.st_mode)
        and 0 < st.st_size <= ELSEWHERE_MAX
    )
