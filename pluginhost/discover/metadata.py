"""What a wheel declares: its file name, ``.dist-info`` layout, METADATA and WHEEL headers, tags,
``Requires-Python``, ``Requires-Dist``, entry points and importable top-level names.

Each check refuses with a :class:`~pluginhost.discover.archive.RefusedError` saying why: the
name and version must agree between the file name, the ``.dist-info`` directory and METADATA,
and the wheel must fit this interpreter.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from ..model.frozen import frozen
from ..model.names import canonicalize_name
from ..model.specifiers import checked_applies
from .archive import MemberReader, RefusedError
from .scripts import check_scripts

if TYPE_CHECKING:
    import email.message
    import zipfile

    from packaging.tags import Tag
    from packaging.utils import NormalizedName

# email, packaging.requirements and packaging.tags (with subprocess) are imported
# where a wheel is read, not with this module: a host that reads no wheel (its plugins all
# installed) starts without them.

logger = logging.getLogger("pluginhost")

__all__ = [
    "DATA_SCHEMES",
    "EntryPointSpec",
    "FileName",
    "check_metadata",
    "check_requires_python",
    "check_tags",
    "check_wheel_version",
    "find_dist_info",
    "find_top_level",
    "load_parsers",
    "read_entry_points",
    "read_headers",
    "read_requires_dist",
    "read_text",
]

#: The ``.data`` subdirectories a wheel may use (the installation schemes).
DATA_SCHEMES: Final = frozenset({"purelib", "platlib", "headers", "scripts", "data"})
_MODULE_SUFFIXES: Final = (".py", ".pyc", ".so", ".pyd")
# ASCII digits, and few: int() refuses "¹" (which str.isdigit() accepts) and 5,000 digits. A
# minor version, and no leading zero: installer installs a value starting with "1." only.
_WHEEL_VERSION: Final = re.compile(r"1(?:\.[0-9]{1,9})+", re.ASCII)


@frozen
class EntryPointSpec:
    """One entry point declared in a wheel's ``entry_points.txt``."""

    name: str
    group: str
    value: str

    @classmethod
    def parse_all(cls, text: str, limit: int | None = None) -> tuple[EntryPointSpec, ...]:
        """Parse an ``entry_points.txt``, keeping the case of names and the text of values.

        Read line by line as ``importlib.metadata`` reads it (not with ``configparser``, which
        took seconds for a MiB of blank lines or section headers): blank lines and lines that
        start with ``#`` or ``;`` are skipped, ``[group]`` starts a group (a group may appear
        twice), and every other line is ``name = value``, split at the first ``=``.

        >>> EntryPointSpec.parse_all("[greeter.plugins]\\nHello = hello_plugin\\n")
        (EntryPointSpec(name='Hello', group='greeter.plugins', value='hello_plugin'),)

        :param limit: the most entry points it may declare.
        :raises ValueError: a line outside a group or without ``=``, an empty group name, a
            name declared twice in one group, or more than ``limit`` entry points.
        """
        found: list[EntryPointSpec] = []
        seen: set[tuple[str, str]] = set()
        group: str | None = None
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                group = _group_name(line, number)
                continue
            entry = _entry(line, group, number)
            if (entry.group, entry.name) in seen:
                raise ValueError(f"line {number} declares {entry.name!r} in [{group}] again")
            seen.add((entry.group, entry.name))
            found.append(entry)
            if limit is not None and len(found) > limit:
                raise ValueError(
                    f"it declares more than {limit} entry points (WheelLimits.max_entry_points)"
                )
        return tuple(found)


def _group_name(line: str, number: int) -> str:
    """The group a ``[group]`` line names."""
    name = line[1:-1]
    if not name.strip():
        raise ValueError(f"line {number} names an empty group")
    return name


def _entry(line: str, group: str | None, number: int) -> EntryPointSpec:
    """The entry point a ``name = value`` line declares in ``group``."""
    if group is None:
        raise ValueError(f"line {number} is outside a [group]: {_cut(line)!r}")
    name, equals, value = line.partition("=")
    if not equals:
        raise ValueError(f"line {number} has no '=': {_cut(line)!r}")
    return EntryPointSpec(name.strip(), group, value.strip())


@frozen
class FileName:
    distribution: NormalizedName
    version: Version
    tags: frozenset[Tag]
    data_dir: str  # spelled as in the file name, which is where installer looks for it

    @classmethod
    def parse(cls, filename: str) -> FileName:
        from packaging.utils import parse_wheel_filename

        try:
            name, version, _build, tags = parse_wheel_filename(filename)
        except ValueError as exc:
            # InvalidWheelFilename and InvalidVersion, and int()'s own refusal of a version
            # with thousands of digits.
            raise RefusedError(f"not a valid wheel file name: {_cut(str(exc))}") from exc
        raw_name, raw_version = filename.split("-")[:2]
        return cls(name, version, tags, f"{raw_name}-{raw_version}.data")


def find_dist_info(infos: Mapping[str, zipfile.ZipInfo], filename: FileName) -> str:
    """The one ``.dist-info`` directory, agreeing with the file name; checks ``.data`` too."""
    roots = {name.split("/", 1)[0] for name in infos if "/" in name}
    found = sorted(root for root in roots if root.endswith(".dist-info"))
    if len(found) != 1:
        listed = ", ".join(found) or "none"
        raise RefusedError(f"must contain exactly one .dist-info directory, found {listed}")
    dist_info = found[0]
    stem = dist_info.removesuffix(".dist-info")
    name, _, version = stem.partition("-")
    if canonicalize_name(name) != filename.distribution or _version(version) != filename.version:
        raise RefusedError(
            f"{dist_info} disagrees with the file name ({filename.distribution} {filename.version})"
        )
    _check_data_dir(infos, roots, filename.data_dir)
    return dist_info


def _check_data_dir(infos: Mapping[str, zipfile.ZipInfo], roots: set[str], data_dir: str) -> None:
    strays = sorted(root for root in roots if root.endswith(".data") and root != data_dir)
    if strays:
        raise RefusedError(f"has the .data directory {strays[0]!r}, expected only {data_dir!r}")
    for name in infos:
        if not _in_data_scheme(name, data_dir):
            raise RefusedError(f"member {name!r} is not in a valid {data_dir} subdirectory")


def _in_data_scheme(name: str, data_dir: str) -> bool:
    """Whether ``name`` is outside ``data_dir`` or inside one of its scheme directories."""
    parts = name.removesuffix("/").split("/")
    if parts[0] != data_dir:
        return True
    if name.endswith("/"):
        return len(parts) == 1 or parts[1] in DATA_SCHEMES
    return len(parts) > 2 and parts[1] in DATA_SCHEMES


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except ValueError:  # InvalidVersion, or int() refusing thousands of digits
        return None


def read_headers(
    reader: MemberReader, infos: Mapping[str, zipfile.ZipInfo], member: str
) -> email.message.Message:
    """Parse an RFC 822 style metadata file (METADATA, WHEEL)."""
    import email.parser
    import email.policy

    text = read_text(reader, infos, member)
    return email.parser.Parser(policy=email.policy.compat32).parsestr(text)


def read_text(reader: MemberReader, infos: Mapping[str, zipfile.ZipInfo], member: str) -> str:
    """A text file of the ``.dist-info``, refused over ``max_metadata_size`` before a byte is
    decompressed (zipfile reads no more than the size declared)."""
    if member not in infos:
        raise RefusedError(f"has no {member}")
    size, limit = infos[member].file_size, reader.limits.max_metadata_size
    if size > limit:
        raise RefusedError(f"{member} is {size} bytes, over the limit of {limit}")
    try:
        return reader.read(infos[member]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RefusedError(f"{member} is not valid UTF-8: {exc}") from exc


def _header(headers: email.message.Message, key: str) -> str:
    value = headers.get(key)
    if value is None or not str(value).strip():
        raise RefusedError(f"METADATA has no {key}")
    return str(value).strip()


def check_metadata(metadata: email.message.Message, filename: FileName) -> tuple[str, str]:
    """METADATA's Name and Version, which must agree with the file name (and so the dist-info)."""
    name, version = _header(metadata, "Name"), _header(metadata, "Version")
    if canonicalize_name(name) != filename.distribution:
        raise RefusedError(f"METADATA Name {name!r} disagrees with the file name")
    if _version(version) != filename.version:
        raise RefusedError(f"METADATA Version {version!r} disagrees with the file name")
    return name, version


def check_wheel_version(wheel_meta: email.message.Message) -> None:
    # Kept as the parser gave it but for trailing space: a leading form feed fails installer.
    text = str(wheel_meta.get("Wheel-Version", "")).rstrip()
    if not _WHEEL_VERSION.fullmatch(text):
        raise RefusedError(f"WHEEL has Wheel-Version {_cut(text)!r}; only 1.x is supported")


@functools.lru_cache(maxsize=1)
def _supported_tags() -> frozenset[Tag]:
    from packaging.tags import sys_tags

    # sys_tags() yields hundreds of tags and costs about a millisecond: compute it once.
    return frozenset(sys_tags())


def load_parsers() -> None:
    """Import the parsers that reading a wheel's metadata imports when first needed, and
    compute the interpreter's tags: for a process whose first wheel must not wait for them
    (the site writer, whose first read a swap waits for: 20-30 ms of imports here)."""
    import email.parser
    import email.policy  # noqa: F401

    import packaging.requirements
    import packaging.utils  # noqa: F401

    _supported_tags()


def check_tags(tags: frozenset[Tag]) -> None:
    if tags.isdisjoint(_supported_tags()):
        listed = ", ".join(sorted(str(tag) for tag in tags))
        raise RefusedError(f"none of its tags ({listed}) is supported by this interpreter")


def check_requires_python(metadata: email.message.Message, wheel: str) -> str | None:
    """The wheel's ``Requires-Python``, refused when this interpreter does not meet it.

    One that is not a specifier (``>=3.6.*``, which packaging accepted before version 22 and
    wheels of that time carry) is ignored with a warning, as pip ignores it ("has an invalid
    Requires-Python"): refusing it refused published plugins that pip installs. One that
    parses but cannot be compared (a version of thousands of digits) is refused.
    """
    text = metadata.get("Requires-Python")
    if text is None:
        return None
    running = ".".join(str(part) for part in sys.version_info[:3])
    try:
        specifier = SpecifierSet(str(text))
    except InvalidSpecifier as exc:
        logger.warning("%s: Requires-Python is ignored, as pip ignores it: %s", wheel, exc)
        return str(text)
    try:
        # Specifiers parse their versions only when compared.
        fits = specifier.contains(running, prereleases=True)
    except ValueError as exc:  # InvalidVersion, or int()'s digit limit
        raise RefusedError(f"METADATA has an invalid Requires-Python {_cut(str(text))!r}") from exc
    if not fits:
        raise RefusedError(f"requires Python {_cut(str(text))}, this is Python {running}")
    return str(text)


def read_requires_dist(metadata: email.message.Message, limit: int) -> tuple[str, ...]:
    """The ``Requires-Dist`` lines, each checked as resolution will use it.

    A specifier's version is parsed only when it is compared, and a marker only when evaluated:
    both are done here once, so that resolving the requirement later cannot fail untyped.
    More than ``limit`` lines are refused before any is parsed.
    """
    from packaging.requirements import Requirement

    lines = tuple(str(line).strip() for line in metadata.get_all("Requires-Dist") or ())
    if len(lines) > limit:
        raise RefusedError(
            f"METADATA has {len(lines)} Requires-Dist lines, over the limit of {limit}"
            " (WheelLimits.max_requirements)"
        )
    for line in lines:
        try:
            checked_applies(Requirement(line))
        except ValueError as exc:  # InvalidRequirement, InvalidVersion, a marker
            raise RefusedError(f"METADATA has an invalid Requires-Dist {_cut(line)!r}") from exc
    return lines


def _cut(text: str, limit: int = 80) -> str:
    """``text`` for a message, cut short: a field may be megabytes long."""
    return text if len(text) <= limit else text[:limit] + "..."


def read_entry_points(
    reader: MemberReader, infos: Mapping[str, zipfile.ZipInfo], member: str
) -> tuple[EntryPointSpec, ...]:
    """The entry points of ``member``, at most ``max_entry_points`` of them; the file is
    refused when installer cannot read it, or cannot write its scripts
    (:func:`~.scripts.check_scripts`)."""
    if member not in infos:
        return ()
    text = read_text(reader, infos, member)
    try:
        found = EntryPointSpec.parse_all(text, reader.limits.max_entry_points)
    except ValueError as exc:
        raise RefusedError(f"{member} is not valid: {exc}") from exc
    check_scripts(text, member, infos)
    return found


def find_top_level(
    infos: Mapping[str, zipfile.ZipInfo], dist_info: str, data_dir: str
) -> tuple[str, ...]:
    """Importable names at the root of purelib/platlib, including ``<name>.data/purelib``."""
    names = set()
    for member in infos:
        parts = member.split("/")
        if parts[0] == data_dir and len(parts) > 2 and parts[1] in ("purelib", "platlib"):
            parts = parts[2:]
        elif parts[0] in (dist_info, data_dir):
            continue
        name = _importable(parts)
        if name is not None:
            names.add(name)
    return tuple(sorted(names))


def _importable(parts: list[str]) -> str | None:
    """The top-level name a member makes importable: its package, or itself as a module."""
    if len(parts) > 1:
        return parts[0] if parts[0].isidentifier() else None
    stem = parts[0].split(".", 1)[0]
    if parts[0].endswith(_MODULE_SUFFIXES) and stem.isidentifier():
        return stem
    return None
