"""User private groups: a group whose one member is the owner of the file, so that its
write permission gives nobody else a way in.

Debian and Ubuntu give each user a group of their own name, and a login's umask of 002 then
makes every file and folder the user creates writable by that group (``USERGROUPS_ENAB`` in
``login.defs``). Strict modes refused all of them as "writable by group": a newcomer's
``pluginhost demo`` dropped wheels the host refused, and ``pluginhost new``'s project could
not run. The rule here is the one Debian's OpenSSH applies to a user's ``~/.ssh`` files: a
group-writable entry is accepted when its group has exactly one member, the entry's owner,
counting the users whose primary group it is and its listed members. A group without members
(as setgid programs use) is not such a group.

The accounts are read through the system's user and group databases (``pwd``, ``grp``), once
per group and owner for :data:`FOR` seconds: a look checks every wheel, and enumerating every
user costs milliseconds. A directory service that does not enumerate its users may hide a
member from this count, as it does from OpenSSH's. Without those modules (not Unix), no group
counts as private.
"""

from __future__ import annotations

import threading
import time
from typing import Final

__all__ = ["FOR", "private_group"]

#: How long an answer is kept, in seconds: a member added to the group counts after it.
FOR: Final = 10.0

_lock = threading.Lock()
_known: dict[tuple[int, int], tuple[float, bool]] = {}


def private_group(gid: int, owner: int) -> bool:
    """Whether group ``gid`` has exactly one member, the user ``owner``."""
    now = time.monotonic()
    with _lock:
        known = _known.get((gid, owner))
    if known is not None and now - known[0] < FOR:
        return known[1]
    answer = _counted(gid, owner)
    with _lock:
        _known[(gid, owner)] = (now, answer)
    return answer


def _counted(gid: int, owner: int) -> bool:
    try:
        import grp  # noqa: PLC0415  (Unix only; imported on the first group-writable entry)
        import pwd  # noqa: PLC0415
    except ImportError:
        return False
    try:
        group = grp.getgrgid(gid)
        members = {user.pw_uid for user in pwd.getpwall() if user.pw_gid == gid}
        members |= {pwd.getpwnam(name).pw_uid for name in group.gr_mem}
    except (KeyError, OSError):
        return False  # an unknown group, or a member no database knows: not provably private
    return members == {owner}
