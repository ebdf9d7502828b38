"""The scripts a wheel installs into its site dir's ``bin/``: its ``console_scripts`` and
``gui_scripts`` entry points, read as installer reads ``entry_points.txt`` when it installs.

installer reads the whole file with the standard library's ``configparser`` (``=`` the only
delimiter, names kept as written, strict, ``%`` interpolated), then matches each value of the
two groups against ``module:attr [extras]``: a file it cannot read so raises from the middle
of an install (an ``AssertionError``, a ``configparser`` error), once validation has passed.
:func:`check_scripts` applies those rules at validation, in one pass over the lines (the
parser itself took seconds for a MiB of blank lines or of group headers):

- every line is a comment (``#``, ``;``), blank, a ``[group]`` header, an indented line that
  continues the value above, or ``name = value`` with a name; a group is declared once, a name
  once in its group; ``[DEFAULT]``'s names join every group;
- each script's value is one ``module:attr`` reference, optionally with ``[extras]`` (a value
  over several lines, or holding ``%``, is refused: installer would join or interpolate it);
- each script's name is one file name, and its file, ``bin/<name>``, is no other script's and
  no member's (a ``<name>.data/scripts/`` file, a ``bin/`` file of purelib), compared without
  case as :func:`~.names.tree_refusal` compares the members.

Lines are counted as installer's parser counts them: at ``\\n`` only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final, NamedTuple

from .archive import RefusedError
from .names import installed_parts, name_refusal

__all__ = ["SCRIPT_GROUPS", "Script", "check_scripts", "read_scripts"]

#: The groups whose entry points installer turns into files of the site dir's ``bin/``.
SCRIPT_GROUPS: Final = ("console_scripts", "gui_scripts")
_DEFAULTS: Final = "DEFAULT"
# A header as configparser takes one: a stripped line from '[' to its last ']'.
_HEADER: Final = re.compile(r"\[(.+)\]")
_NON_SPACE: Final = re.compile(r"\S")
_REFERENCE: Final = re.compile(r"[\w.]+\s*:\s*[\w.]+\s*(?:\[.*\])?\s*")


class _Entry(NamedTuple):
    """One ``name = value`` line and the lines that continue it."""

    name: str
    line: int
    lines: list[str]


class Script(NamedTuple):
    """One script installer writes: ``bin/<name>`` runs ``value``.

    :param group: ``console_scripts`` or ``gui_scripts``.
    :param line: the line declaring it (in ``[DEFAULT]`` for a name that group does not
        declare).
    """

    group: str
    name: str
    value: str
    line: int


def check_scripts(text: str, member: str, names: Iterable[str]) -> None:
    """Refuse an ``entry_points.txt`` that installer cannot read, or whose scripts it cannot
    write; see the module docstring.

    :param text: the file, decoded as installer decodes it (UTF-8).
    :param member: the file's member name, named in the reason.
    :param names: every member name of the wheel.
    :raises RefusedError: naming the line, the group, the entry and why.
    """
    scripts = read_scripts(text, member)
    if scripts:
        _check_files(scripts, member, names)


def read_scripts(text: str, member: str) -> tuple[Script, ...]:
    """The scripts of an ``entry_points.txt``, in the order installer writes them (the groups
    in the file's order, ``[DEFAULT]``'s names first in each).

    >>> read_scripts("[console_scripts]\\ntool = hello.cli:main\\n", "entry_points.txt")
    (Script(group='console_scripts', name='tool', value='hello.cli:main', line=2),)

    :raises RefusedError: as :func:`check_scripts`, but for the files the scripts install.
    """
    groups = _read_groups(text, member)
    defaults = groups.pop(_DEFAULTS, {})
    found = []
    for group, entries in groups.items():
        if group in SCRIPT_GROUPS:
            for entry in {**defaults, **entries}.values():
                found.append(_script(group, entry, member))
    return tuple(found)


def _read_groups(text: str, member: str) -> dict[str, dict[str, _Entry]]:
    """The entries of each group, by name, as configparser reads the file."""
    groups: dict[str, dict[str, _Entry]] = {}
    group: str | None = None
    entry: _Entry | None = None
    indent = 0
    for number, line in enumerate(text.split("\n"), 1):
        value = line.strip()
        if value.startswith(("#", ";")):
            continue  # a comment: it neither ends nor adds to a value
        if not value:
            if entry is not None:
                entry.lines.append("")
            continue
        start = _NON_SPACE.search(line)
        here = start.start() if start else 0
        if entry is not None and here > indent:
            entry.lines.append(value)  # an indented line continues the value above
            continue
        indent, entry = here, None
        header = _HEADER.match(value)
        if header is not None:
            group = header.group(1)
            if group in groups and group != _DEFAULTS:
                raise RefusedError(f"{member} line {number} declares the group [{group}] again")
            groups.setdefault(group, {})
        elif group is None:
            raise RefusedError(f"{member} line {number} is outside a [group]: {_cut(value)!r}")
        else:
            entry = _entry(groups[group], group, value, number, member)
    return groups


def _entry(entries: dict[str, _Entry], group: str, text: str, number: int, member: str) -> _Entry:
    """The entry a ``name = value`` line adds to ``group``."""
    name, equals, value = text.partition("=")
    name = name.rstrip()
    if not equals:
        raise RefusedError(f"{member} line {number} in [{group}] has no '=': {_cut(text)!r}")
    if not name:
        raise RefusedError(f"{member} line {number} in [{group}] has an empty name")
    if name in entries:
        raise RefusedError(f"{member} line {number} declares {name!r} in [{group}] again")
    entries[name] = entry = _Entry(name, number, [value.strip()])
    return entry


def _script(group: str, entry: _Entry, member: str) -> Script:
    """The script an entry declares; refused when installer cannot write it, or its name is
    not one file name."""
    where = f"{member} line {entry.line}: [{group}] {_cut(entry.name)!r}"
    value = "\n".join(entry.lines).rstrip()
    if "\n" in value:
        raise RefusedError(f"{where} has a value over several lines")
    if "%" in value:
        raise RefusedError(f"{where} = {_cut(value)!r} holds '%' (installer interpolates it)")
    if not _REFERENCE.fullmatch(value):
        raise RefusedError(
            f"{where} = {_cut(value)!r} is no 'module:attr' reference (installer cannot "
            "write a script for it)"
        )
    if "/" in entry.name:
        raise RefusedError(f"{where} is no file name: it holds '/'")
    reason = name_refusal(f"bin/{entry.name}")
    if reason is not None:
        raise RefusedError(f"{where} is no file name for bin/: {reason}")
    return Script(group, entry.name, value, entry.line)


def _check_files(scripts: Iterable[Script], member: str, names: Iterable[str]) -> None:
    """Refuse two scripts, or a script and a member, installed to one file."""
    files: dict[str, str] = {}
    folders: dict[str, str] = {}
    for name in names:
        parts = installed_parts(name)
        if parts[0].casefold() != "bin":
            continue
        path = "/".join(parts).casefold()
        (folders if name.endswith("/") else files)[path] = name
        # A script is bin/<name>: only the first two levels can hold one. Every prefix of a
        # name 500 components deep made this quadratic in its depth (attack probe 07).
        for depth in range(1, min(len(parts), 3)):
            folders.setdefault("/".join(parts[:depth]).casefold(), name)
    if "bin" in files:
        raise RefusedError(f"member {files['bin']!r} is a file where its scripts need bin/")
    taken: dict[str, str] = {}
    for entry in scripts:
        shown = f"bin/{entry.name}"
        path = shown.casefold()
        script = f"line {entry.line}: [{entry.group}] {entry.name!r}"
        where = f"{member} {script}"
        if path in taken:
            raise RefusedError(f"{where} and {taken[path]} both install {shown!r}")
        if path in files:
            raise RefusedError(f"{where} and member {files[path]!r} both install {shown!r}")
        if path in folders:
            raise RefusedError(
                f"{where} installs the file {shown!r}, a directory for member {folders[path]!r}"
            )
        taken[path] = script


def _cut(text: str, limit: int = 80) -> str:
    """``text`` for a message, cut short: a line may be megabytes long."""
    return text if len(text) <= limit else text[:limit] + "..."
