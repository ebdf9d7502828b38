"""This host's id in a fleet: ``home/state/host-id.json``, a random id made at the first start.

The rollout's cohorts hash it (see :mod:`pluginhost.model.rollout`): it must survive restarts
and crashes, or a host would change cohort, and take a release early or late, at each start.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Final

from ..model.errors import StoreError
from .fs import make_dirs
from .store import AtomicJsonFile

__all__ = ["HOST_ID_FILE", "host_id"]

HOST_ID_FILE: Final = "host-id.json"
#: The most bytes the document may hold: it holds 32 hex digits.
HOST_ID_LIMIT: Final = 64 * 1024


def host_id(home: Path) -> str:
    """The id kept in ``home``, made (random, 128 bits) and committed when there is none.

    :raises StoreError: when the document is unusable, or cannot be written.
    """
    make_dirs(home)
    document = AtomicJsonFile(home / HOST_ID_FILE, max_size=HOST_ID_LIMIT)
    data = document.read()
    if data is None:
        data = {"id": secrets.token_hex(16)}
        document.write(data)
    found = data.get("id") if isinstance(data, dict) else None
    if not isinstance(found, str) or not found:
        raise StoreError("holds no host id", path=document.path)
    return found
