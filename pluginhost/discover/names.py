"""Member names a wheel may hold: where each lands in a site dir, and whether a file system can
hold it there.

Each rule returns the reason a name is refused, or ``None``; :mod:`~pluginhost.discover.archive`
raises it. A name the file system cannot hold (too long, or a file where another member needs a
directory) is refused here, when the wheel is validated, once and for good: at install time it
would be a file-system failure, tried again at each look.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from typing import Final

__all__ = [
    "MEMBER_PATH_MAX",
    "NAME_MAX",
    "PRIVATE",
    "STARTUP_MODULES",
    "installed_parts",
    "installed_path",
    "name_refusal",
    "tree_refusal",
]

#: Modules that ``site`` imports at every interpreter start: a plugin must not ship one.
STARTUP_MODULES: Final = frozenset({"sitecustomize", "usercustomize"})

# What the file system holds, portably: NAME_MAX bytes for one component (Linux, macOS, NTFS);
# for a whole member name, PATH_MAX (4096 on Linux) less room for the home and the site dir.
NAME_MAX: Final = 255
MEMBER_PATH_MAX: Final = 1024
_DRIVE: Final = re.compile(r"^[A-Za-z]:")
# An empty, ``.`` or ``..`` component, in a name between slashes.
_ODD: Final = re.compile(r"/(?:\.{0,2})/")
# A component over NAME_MAX bytes, found without making an object of each component.
_LONG_PART: Final = re.compile(rb"[^/]{%d,}" % (NAME_MAX + 1))
#: The site dir's own folder: its stamp, and the ``.data`` schemes nothing imports.
PRIVATE: Final = ".pluginhost"
# The installer's scheme puts these at the root of the site dir, like the root's own members.
_DATA_SCHEMES: Final = frozenset({"purelib", "platlib"})
# And these under PRIVATE (install/site_writer.py: the scheme dict).
_PRIVATE_SCHEMES: Final = frozenset({"data", "headers"})


def name_refusal(name: str) -> str | None:
    """Why a member name could land outside the target, run at interpreter start or not fit
    on a file system; ``None`` when it is safe.

    Each check goes over the name at once (in C), not over its components one by one: a wheel
    of 10,000 names of 500 components each took 1.6 s (attack probe 07).

    :param name: the name as stored in the archive.
    """
    if "\x00" in name:
        return f"member name {name!r} contains a NUL byte"
    if "\\" in name:
        return f"member name {name!r} contains a backslash"
    if name.startswith("/"):
        return f"member name {name!r} is an absolute path"
    if _DRIVE.match(name):
        return f"member name {name!r} starts with a drive letter"
    body = name.removesuffix("/")
    if _ODD.search(f"/{body}/"):
        odd = [part for part in body.split("/") if part in ("", ".", "..")]
        return f"member name {name!r} has a {odd[0]!r} component"
    return _length_refusal(name) or _parts_refusal(name, body.casefold())


def _length_refusal(name: str) -> str | None:
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) > MEMBER_PATH_MAX:
        return (
            f"member name {name[:64]!r}... is {len(encoded)} bytes long, over the limit of "
            f"{MEMBER_PATH_MAX} (a path the file system cannot hold)"
        )
    if _LONG_PART.search(encoded):
        longest = max(map(len, encoded.split(b"/")))
        return (
            f"member name {name[:64]!r}... has a component of {longest} bytes, over "
            f"the limit of {NAME_MAX} (a name the file system cannot hold)"
        )
    return None


def _parts_refusal(name: str, folded: str) -> str | None:
    """The rules on the components of ``name`` (``folded``: without its trailing slash,
    casefolded)."""
    if "/__pycache__/" in f"/{folded}/":
        return f"member {name!r} is in a __pycache__ directory (stale bytecode)"
    top = installed_path(name).split("/", 1)[0].casefold()
    # Only at the root of the site dir is it ``site``'s: deeper, it is a module of the plugin's
    # own packages (pytest-salt-factories ships saltfactories/utils/coverage/sitecustomize.py,
    # ddtrace ddtrace/bootstrap/sitecustomize.py), imported by nothing at interpreter start.
    if top.split(".", 1)[0] in STARTUP_MODULES:
        return f"member {name!r} is a startup module (sitecustomize/usercustomize)"
    # The first three components tell a scheme (and whether there are more than two).
    head = folded.split("/", 2)
    if top == PRIVATE and not _data_scheme(head) and not _scheme_folder(name, head):
        return (
            f"member {name!r} installs under {PRIVATE}/, the site dir's own folder (its stamp, "
            "the data and headers schemes)"
        )
    return None


def _data_scheme(parts: list[str]) -> bool:
    """Whether a member is one of ``.data``'s schemes that the site dir keeps under
    :data:`PRIVATE` (data, headers): the installer puts it there, not the member's name."""
    return len(parts) > 2 and parts[0].endswith(".data") and parts[1] in _PRIVATE_SCHEMES


def _scheme_folder(name: str, parts: list[str]) -> bool:
    """Whether a member is the directory entry of one of ``.data``'s schemes
    (``ninja-1.13.2.data/scripts/``, as ninja's wheel holds): nothing installs from it."""
    return name.endswith("/") and len(parts) == 2 and parts[0].endswith(".data")


def tree_refusal(names: Iterable[str]) -> str | None:
    """Why members cannot be installed together: one path installed as a file twice, or as a
    file and as a directory (``a/b`` and ``a/b/c``), compared without case as some file
    systems do; ``None`` when they can.

    :param names: every member name of the archive, each one safe by :func:`name_refusal`.
    """
    files: dict[str, str] = {}
    # Every path, a directory's ending in "/"; sorted, the paths under a directory follow it.
    # Joining each prefix of each name made this quadratic in a name's depth: 20 s for 10,000
    # names of 500 components (attack probe 07).
    paths: list[str] = []
    members = list(names)
    for name in members:
        key = installed_path(name).casefold()
        if name.endswith("/"):
            paths.append(key + "/")
        elif key in files:
            return f"members {files[key]!r} and {name!r} install to the same file"
        else:
            files[key] = name
            paths.append(key)
    paths.sort()
    clash = min((key for key in files if _holds_below(paths, key + "/")), default=None)
    if clash is None:
        return None
    folder = next(n for n in members if _below(n, clash + "/"))
    return (
        f"member {files[clash]!r} is a file where member {folder!r} needs a "
        "directory of the same name (no file system holds both)"
    )


def _holds_below(paths: list[str], folder: str) -> bool:
    """Whether sorted ``paths`` hold one in ``folder`` (or ``folder`` itself)."""
    at = bisect.bisect_left(paths, folder)
    return at < len(paths) and paths[at].startswith(folder)


def _below(name: str, folder: str) -> bool:
    """Whether member ``name`` installs in ``folder`` (casefolded, ending in "/"), or is that
    folder's own entry."""
    path = installed_path(name).casefold()
    return (path + "/" if name.endswith("/") else path).startswith(folder)


def installed_parts(name: str) -> list[str]:
    """Where a member lands in its site dir, as path components.

    >>> installed_parts("hello-1.0.data/purelib/hello/a.py"), installed_parts("hello/a.py")
    (['hello', 'a.py'], ['hello', 'a.py'])

    Scripts land in ``bin/`` (as with ``pip install --target``), the other ``.data`` schemes
    (headers, data) under ``.pluginhost/``.
    """
    parts = name.removesuffix("/").split("/")
    if len(parts) < 2 or not parts[0].endswith(".data"):
        return parts
    if parts[1] in _DATA_SCHEMES and len(parts) > 2:
        return parts[2:]
    if parts[1] == "scripts" and len(parts) > 2:
        return ["bin", *parts[2:]]
    return [PRIVATE, *parts[1:]]


def installed_path(name: str) -> str:
    """:func:`installed_parts` joined by "/", made without splitting the whole name: a name
    can have hundreds of components, and each check of each member would make an object of
    each one.

    >>> installed_path("hello-1.0.data/scripts/hello"), installed_path("hello/a/")
    ('bin/hello', 'hello/a')
    """
    path = name.removesuffix("/")
    parts = path.split("/", 2)
    if len(parts) < 2 or not parts[0].endswith(".data"):
        return path
    if parts[1] in _DATA_SCHEMES and len(parts) > 2:
        return parts[2]
    if parts[1] == "scripts" and len(parts) > 2:
        return f"bin/{parts[2]}"
    return "/".join([PRIVATE, *parts[1:]])
