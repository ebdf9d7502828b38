"""Test helpers for plugin authors and for pluginhost's own tests: a wheel factory and fixtures.

:class:`WheelFactory` writes real wheels with :mod:`zipfile` and a correct RECORD, in about a
millisecond, without a build backend; with ``broken=`` (one of :data:`BROKEN_KINDS`) it writes a
wheel that validation must refuse. :func:`misbehaving_code` writes plugins that misbehave at one
stage of their life in one of the ways of :data:`MISBEHAVIOURS`.

This module is also a pytest plugin (the ``pytest11`` entry point ``pluginhost``), providing the
``wheel_factory`` fixture. It stays importable without pytest.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import stat
import struct
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
from packaging.utils import canonicalize_name

if TYPE_CHECKING:
    from .host.host import PluginHost

from .testkit.misbehave import (
    MISBEHAVING_STAGES,
    MISBEHAVIOURS,
    misbehaving_code,
    release_misbehaving,
)

__all__ = [
    "BROKEN_KINDS",
    "MISBEHAVING_STAGES",
    "MISBEHAVIOURS",
    "WheelFactory",
    "misbehaving_code",
    "release_misbehaving",
]

#: The kinds of broken wheel :meth:`WheelFactory.build` makes with ``broken=``. Each is refused
#: by validation with the default :class:`~pluginhost.discover.archive.WheelLimits`, except
#: ``too-many-members``, which is refused when ``max_members`` is 50 or lower.
BROKEN_KINDS: Final = (
    "bad-record-hash",  # the package's __init__.py differs from its RECORD hash
    "missing-from-record",  # the package's __init__.py has no RECORD row
    "record-extra-entry",  # RECORD lists <module>/ghost.py, which is not in the archive
    "no-record",  # the .dist-info has no RECORD
    "absolute-path",  # a member named /tmp/pluginhost-evil.py
    "dotdot-path",  # a member named ../pluginhost-evil.py
    "backslash-path",  # a member named <module>\evil.py
    "drive-letter",  # a member named C:/pluginhost-evil.py
    "nul-name",  # a member name with a NUL byte in it
    "symlink",  # <module>/link.py is a symbolic link to /etc/passwd
    "duplicate-member",  # <module>/__init__.py is in the archive twice
    "case-duplicate",  # <module>/__init__.py and <module>/__INIT__.py
    "pth-file",  # a pluginhost-evil.pth at the root, which would run at every interpreter start
    "sitecustomize",  # a sitecustomize.py at the root, same danger
    "pycache-member",  # stale bytecode in <module>/__pycache__/
    "filename-mismatch",  # the .dist-info says version 9.9.9, the file name does not
    "metadata-mismatch",  # METADATA says Version 9.9.9, the file name does not
    "no-metadata",  # the .dist-info has no METADATA
    "two-dist-info",  # a second, empty-but-for-METADATA .dist-info directory
    "wheel-version",  # WHEEL says Wheel-Version 2.0
    "foreign-tag",  # tagged cp27-cp27m-win32, which no modern interpreter accepts
    "requires-python",  # METADATA says Requires-Python >=4
    "weak-hash",  # RECORD hashes the package's __init__.py with md5
    "zip-bomb",  # a 16 MiB member of zeros, deflated to about 16 KiB (ratio about 1000)
    "too-many-members",  # 60 extra small modules: refused with WheelLimits(max_members=50)
    "not-a-zip",  # a text file named like a wheel
    "truncated",  # a valid wheel cut in half, so its central directory is gone
    "bad-filename",  # the file is named not-a-wheel.whl
    "encrypted",  # the package's __init__.py is flagged as encrypted
    "size-lie",  # the central directory declares __init__.py 65535 bytes long
    "header-name-mismatch",  # the local header names __init__.pz, the directory __init__.py
    "prepended-data",  # a shell script before the archive (a self-extracting stub)
    "trailing-data",  # bytes after the archive's end record (a polyglot file)
    "empty-file",  # zero bytes named like a wheel
    "record-size-lie",  # RECORD gives the right hash but a wrong size for __init__.py
    "record-malformed",  # a RECORD row with two columns
    "metadata-name-mismatch",  # METADATA says Name: other-name, the file name does not
    "pypy-tag",  # tagged pp310-pypy310_pp73-any: another interpreter
    "platform-tag",  # tagged py3-none-win_amd64: another platform
    "usercustomize",  # a usercustomize.py at the root
    "data-purelib-escape",  # a member .data/purelib/../../evil.py
)

# Fixed so that identical inputs give identical bytes, whatever the clock or the platform.
_DATE_TIME: Final = (1980, 1, 1, 0, 0, 0)
_FILE_MODE: Final = (stat.S_IFREG | 0o644) << 16
_LINK_MODE: Final = (stat.S_IFLNK | 0o777) << 16
_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")


@attrs.define
class _Member:
    name: str
    data: bytes
    mode: int = _FILE_MODE
    in_record: bool = True


@attrs.define
class _Draft:
    """A wheel being assembled; the broken kinds edit it before it is written."""

    distribution: str
    version: str
    tag: str
    module: str
    members: list[_Member]
    metadata: dict[str, list[str]]
    wheel_version: str = "1.0"
    dist_info_version: str | None = None
    stated_version: str | None = None
    stated_name: str | None = None
    record: bool = True
    weak: frozenset[str] = frozenset()
    after_record: Callable[[list[_Member]], None] | None = None

    @property
    def dist_info(self) -> str:
        version = self.dist_info_version or self.version
        return f"{_escape(self.distribution)}-{version}.dist-info"

    @property
    def filename(self) -> str:
        return f"{_escape(self.distribution)}-{self.version}-{self.tag}.whl"


class WheelFactory:
    """Writes real, valid wheels fast (zipfile + correct RECORD), or deliberately broken ones.

    >>> factory = WheelFactory(tmp_path / "wheels")
    >>> factory.build("hello", code="def greet(name): return 'hi'").name
    'hello-1.0.0-py3-none-any.whl'

    :param directory: where wheels are written (created when needed).
    :param group: the entry point group plugins are declared in.
    """

    def __init__(self, directory: str | os.PathLike[str], group: str = "greeter.plugins") -> None:
        self.directory: Final = Path(directory)
        self.group: Final = group

    def build(
        self,
        name: str,
        version: str = "1.0.0",
        *,
        code: str = "",
        module: str | None = None,
        group: str | None = None,
        entry_point: str | None = None,
        manifest: str | None = None,
        no_manifest: bool = False,
        host: str | None = None,
        requires: Mapping[str, str] | None = None,
        optional: Mapping[str, str] | None = None,
        files: Mapping[str, str | bytes] | None = None,
        requires_dist: Sequence[str] = (),
        requires_python: str | None = None,
        tag: str = "py3-none-any",
        distribution: str | None = None,
        broken: str | None = None,
        filename: str | None = None,
    ) -> Path:
        """Write a wheel for plugin ``name`` and return its path.

        :param name: the plugin (entry point) name; also the distribution name by default.
        :param version: the distribution version, and the manifest's.
        :param code: the text of ``<module>/__init__.py``.
        :param module: the package name; defaults to ``name`` with ``-`` and ``.`` as ``_``.
        :param group: the entry point group; defaults to the factory's.
        :param entry_point: the entry point value; defaults to ``module``.
        :param manifest: the text of ``<module>/plugin.toml``, verbatim.
        :param no_manifest: ship no ``plugin.toml`` at all.
        :param host: the manifest's ``host`` constraint.
        :param requires: the manifest's ``[plugin.requires]`` table.
        :param optional: the manifest's ``[plugin.optional]`` table.
        :param files: more members, by path from the wheel root.
        :param requires_dist: ``Requires-Dist`` lines of METADATA.
        :param requires_python: ``Requires-Python`` of METADATA.
        :param tag: the wheel tag, e.g. ``py3-none-any``.
        :param distribution: the distribution name; defaults to ``name``.
        :param broken: one of :data:`BROKEN_KINDS`, to write a wheel validation must refuse.
        :param filename: the file name in :attr:`directory`; defaults to the standard one.
        :raises ValueError: when ``broken`` is not one of :data:`BROKEN_KINDS`.
        """
        if broken is not None and broken not in BROKEN_KINDS:
            raise ValueError(f"unknown broken kind {broken!r}; choose from {BROKEN_KINDS}")
        package = module or re.sub(r"[-.]", "_", name)
        members = [_Member(f"{package}/__init__.py", code.encode())]
        if manifest is None and not no_manifest:
            manifest = _manifest(name, version, host, requires, optional)
        if manifest is not None:
            members.append(_Member(f"{package}/plugin.toml", manifest.encode()))
        members += [_Member(path, _bytes(data)) for path, data in (files or {}).items()]
        metadata = {"Requires-Dist": list(requires_dist)}
        if requires_python is not None:
            metadata["Requires-Python"] = [requires_python]
        draft = _Draft(distribution or name, version, tag, package, members, metadata)
        entry_points = {group or self.group: {name: entry_point or package}}
        _BREAKERS.get(broken or "", _intact)(draft)
        data = _BYTE_BREAKERS.get(broken or "", _same)(_archive(draft, entry_points))
        target = "not-a-wheel.whl" if broken == "bad-filename" else filename or draft.filename
        return self._write(target, data)

    def _write(self, filename: str, data: bytes) -> Path:
        # Written aside and renamed, so a watcher of the folder never sees half a wheel.
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / filename
        temp = self.directory / f".{filename}.tmp"
        temp.write_bytes(data)
        os.replace(temp, path)
        return path


def _escape(name: str) -> str:
    """A distribution name as wheel file names and .dist-info directories spell it."""
    return canonicalize_name(name).replace("-", "_")


def _bytes(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else data


def _manifest(
    name: str,
    version: str,
    host: str | None,
    requires: Mapping[str, str] | None,
    optional: Mapping[str, str] | None,
) -> str:
    """A ``plugin.toml`` with the given fields, in TOML."""
    lines = ["[plugin]", f"name = {_toml_str(name)}", f"version = {_toml_str(version)}"]
    if host is not None:
        lines.append(f"host = {_toml_str(host)}")
    for table, entries in (("requires", requires), ("optional", optional)):
        if entries is not None:
            lines += ["", f"[plugin.{table}]"]
            lines += [f"{_toml_key(key)} = {_toml_str(value)}" for key, value in entries.items()]
    return "\n".join(lines) + "\n"


def _toml_str(value: str) -> str:
    # JSON's string escapes (\", \\, \n, \uXXXX) are all valid in TOML basic strings.
    return json.dumps(value)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_str(key)


# -- writing ------------------------------------------------------------------------------------


def _archive(draft: _Draft, entry_points: Mapping[str, Mapping[str, str]]) -> bytes:
    """The wheel's bytes: package members, then .dist-info, RECORD last."""
    dist_info = draft.dist_info
    members = [
        *draft.members,
        _Member(f"{dist_info}/METADATA", _metadata(draft).encode()),
        _Member(f"{dist_info}/WHEEL", _wheel_file(draft).encode()),
        _Member(f"{dist_info}/entry_points.txt", _entry_points(entry_points).encode()),
    ]
    if draft.record:
        members.append(_Member(f"{dist_info}/RECORD", _record(members, dist_info, draft.weak)))
    if draft.after_record is not None:
        draft.after_record(members)
    return _zip(members)


def _metadata(draft: _Draft) -> str:
    version = draft.stated_version or draft.version
    name = draft.stated_name or draft.distribution
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"{key}: {value}" for key, values in draft.metadata.items() for value in values]
    return "\n".join(lines) + "\n"


def _wheel_file(draft: _Draft) -> str:
    return (
        f"Wheel-Version: {draft.wheel_version}\n"
        "Generator: pluginhost.testing\n"
        "Root-Is-Purelib: true\n"
        f"Tag: {draft.tag}\n"
    )


def _entry_points(groups: Mapping[str, Mapping[str, str]]) -> str:
    sections = [
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items())
        for group, entries in groups.items()
    ]
    return "\n".join(sections)


def _record(members: Sequence[_Member], dist_info: str, weak: frozenset[str]) -> bytes:
    """RECORD rows with urlsafe base64 sha256 digests (md5 for names in ``weak``)."""
    rows = []
    for member in members:
        if member.in_record:
            algorithm = "md5" if member.name in weak else "sha256"
            digest = hashlib.new(algorithm, member.data).digest()
            encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
            rows.append(f"{member.name},{algorithm}={encoded},{len(member.data)}\n")
    rows.append(f"{dist_info}/RECORD,,\n")
    return "".join(rows).encode()


def _zip(members: Sequence[_Member]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            info = zipfile.ZipInfo(member.name, date_time=_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so that the mode bits mean the same everywhere
            info.external_attr = member.mode
            with warnings.catch_warnings():
                # zipfile warns about duplicate names, which "duplicate-member" wants.
                warnings.simplefilter("ignore", UserWarning)
                archive.writestr(info, member.data)
    return buffer.getvalue()


# -- the broken kinds ---------------------------------------------------------------------------


def _package_init(draft: _Draft) -> _Member:
    return draft.members[0]


def _tamper(members: list[_Member]) -> None:
    members[0].data += b"\n# changed after RECORD was written\n"


def _add(name: str, data: bytes = b"", mode: int = _FILE_MODE) -> Callable[[_Draft], None]:
    def add(draft: _Draft) -> None:
        draft.members.append(_Member(name.format(m=draft.module), data, mode))

    return add


def _unlisted_init(draft: _Draft) -> None:
    _package_init(draft).in_record = False


def _ghost(draft: _Draft) -> None:
    def add_row(members: list[_Member]) -> None:
        ghost = f"{draft.module}/ghost.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n"
        members[-1].data = ghost.encode() + members[-1].data

    draft.after_record = add_row


def _no_record(draft: _Draft) -> None:
    draft.record = False


def _duplicate(draft: _Draft) -> None:
    draft.members.append(_Member(_package_init(draft).name, _package_init(draft).data))


def _no_metadata(draft: _Draft) -> None:
    def drop(members: list[_Member]) -> None:
        members[:] = [m for m in members if not m.name.endswith("/METADATA")]

    draft.after_record = drop


def _set(**changes: object) -> Callable[[_Draft], None]:
    def change(draft: _Draft) -> None:
        for key, value in changes.items():
            setattr(draft, key, value)

    return change


def _requires_python(draft: _Draft) -> None:
    draft.metadata["Requires-Python"] = [">=4"]


def _weak(draft: _Draft) -> None:
    draft.weak = frozenset({_package_init(draft).name})


def _many(draft: _Draft) -> None:
    draft.members += [_Member(f"{draft.module}/m{i}.py", b"") for i in range(60)]


def _record_row(edit: Callable[[bytes], bytes]) -> Callable[[_Draft], None]:
    def change(draft: _Draft) -> None:
        def rewrite(members: list[_Member]) -> None:
            rows = members[-1].data.splitlines(keepends=True)
            members[-1].data = edit(rows[0]) + b"".join(rows[1:])

        draft.after_record = rewrite

    return change


def _data_escape(draft: _Draft) -> None:
    name = f"{_escape(draft.distribution)}-{draft.version}.data/purelib/../../evil.py"
    draft.members.append(_Member(name, b"print('escaped')\n"))


def _patch_first(data: bytes, marker: bytes, offset: int, value: bytes) -> bytes:
    """Overwrite bytes at ``offset`` in the first header starting with ``marker``."""
    at = data.index(marker) + offset
    return data[:at] + value + data[at + len(value) :]


def _encrypted(data: bytes) -> bytes:
    # General-purpose flag bit 0, in the local header and the central directory entry.
    data = _patch_first(data, b"PK\x03\x04", 6, struct.pack("<H", 1))
    return _patch_first(data, b"PK\x01\x02", 8, struct.pack("<H", 1))


def _size_lie(data: bytes) -> bytes:
    return _patch_first(data, b"PK\x01\x02", 24, struct.pack("<I", 65535))


def _header_name(data: bytes) -> bytes:
    at = data.index(b"__init__.py")  # the first one is in the first local header
    return data[:at] + b"__init__.pz" + data[at + 11 :]


_BREAKERS: Final[Mapping[str, Callable[[_Draft], None]]] = {
    "bad-record-hash": _set(after_record=_tamper),
    "missing-from-record": _unlisted_init,
    "record-extra-entry": _ghost,
    "no-record": _no_record,
    "absolute-path": _add("/tmp/pluginhost-evil.py"),
    "dotdot-path": _add("../pluginhost-evil.py"),
    "backslash-path": _add("{m}\\evil.py"),
    "drive-letter": _add("C:/pluginhost-evil.py"),
    "nul-name": _add("{m}/evil_mod.py"),
    "symlink": _add("{m}/link.py", b"/etc/passwd", _LINK_MODE),
    "duplicate-member": _duplicate,
    "case-duplicate": _add("{m}/__INIT__.py"),
    "pth-file": _add("pluginhost-evil.pth", b"import os\n"),
    "sitecustomize": _add("sitecustomize.py", b"print('every start')\n"),
    "pycache-member": _add("{m}/__pycache__/__init__.cpython-311.pyc", b"\0" * 16),
    "filename-mismatch": _set(dist_info_version="9.9.9"),
    "metadata-mismatch": _set(stated_version="9.9.9"),
    "no-metadata": _no_metadata,
    "two-dist-info": _add("other-1.0.dist-info/METADATA", b"Name: other\nVersion: 1.0\n"),
    "wheel-version": _set(wheel_version="2.0"),
    "foreign-tag": _set(tag="cp27-cp27m-win32"),
    "requires-python": _requires_python,
    "weak-hash": _weak,
    "zip-bomb": _add("{m}/bomb.bin", bytes(16 * 1024 * 1024)),
    "too-many-members": _many,
    "record-size-lie": _record_row(lambda row: row.rsplit(b",", 1)[0] + b",999999\n"),
    "record-malformed": _record_row(lambda row: row.rsplit(b",", 1)[0] + b"\n"),
    "metadata-name-mismatch": _set(stated_name="other-name"),
    "pypy-tag": _set(tag="pp310-pypy310_pp73-any"),
    "platform-tag": _set(tag="py3-none-win_amd64"),
    "usercustomize": _add("usercustomize.py", b"print('every start')\n"),
    "data-purelib-escape": _data_escape,
}

# Kinds made by editing the finished bytes (zipfile cannot write a NUL in a name).
_BYTE_BREAKERS: Final[Mapping[str, Callable[[bytes], bytes]]] = {
    "not-a-zip": lambda data: b"this is not a zip archive\n",
    "truncated": lambda data: data[: len(data) // 2],
    "nul-name": lambda data: data.replace(b"evil_mod.py", b"evil\x00mod.py"),
    "encrypted": _encrypted,
    "size-lie": _size_lie,
    "header-name-mismatch": _header_name,
    "prepended-data": lambda data: b"#!/bin/sh\nexec python3 -m zipfile -e $0 .\n" + data,
    "trailing-data": lambda data: data + b"\n# trailing bytes after the end record\n",
    "empty-file": lambda data: b"",
}


def _intact(draft: _Draft) -> None:
    pass


def _same(data: bytes) -> bytes:
    return data


# -- pytest fixtures ----------------------------------------------------------------------------

# Importing pytest costs library users about 100 ms; under pytest it is already imported, since
# pytest loads this module as a plugin.
if "pytest" in sys.modules:
    import pytest

    @pytest.fixture
    def wheel_factory(tmp_path: Path) -> WheelFactory:
        """A :class:`WheelFactory` writing into ``tmp_path / "wheels"``."""
        return WheelFactory(tmp_path / "wheels")

    @pytest.fixture
    def host_factory(tmp_path: Path) -> Iterator[Callable[..., PluginHost]]:
        """Makes started :class:`~pluginhost.PluginHost` objects, stopped at teardown.

        Takes the same arguments as ``PluginHost``; ``home`` defaults to ``tmp_path / "home"``
        and ``environment`` to ``False``, so the host sees only the wheels the test gives it::

            def test_greets(host_factory, wheel_factory):
                wheel_factory.build("hello", code=GREET)
                host = host_factory("greeter", specs=[GreeterSpec], watch=[wheel_factory.directory])
                assert host.hook.greet(name="Ada") == ["Hello, Ada!"]
        """
        from .host.host import PluginHost

        hosts: list[PluginHost] = []

        def make(project: str, *args: Any, **kwargs: Any) -> PluginHost:
            kwargs.setdefault("home", tmp_path / "home")
            kwargs.setdefault("environment", False)
            host = PluginHost(project, *args, **kwargs)
            hosts.append(host)
            return host.start()

        yield make
        for host in reversed(hosts):
            host.stop()
