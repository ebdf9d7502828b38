"""The hostile corpus: every way a wheel can lie, as edits to a wheel being written.

:data:`BROKEN_KINDS` names them; :class:`~pluginhost.testkit.wheels.WheelFactory` applies one
with ``build(broken=...)``: :func:`break_draft` edits the members before the archive is written,
:func:`break_bytes` edits the finished bytes, :func:`break_filename` the file's name.
"""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from typing import Final

from .archive import FILE_MODE, LINK_MODE, Draft, Member, escape

__all__ = ["BROKEN_KINDS", "break_bytes", "break_draft", "break_filename", "check_kind"]

BROKEN_KINDS: Final = (
    "bad-record-hash",  # the package's __init__.py differs from its RECORD hash
    "missing-from-record",  # the package's __init__.py has no RECORD row
    "no-record",  # the .dist-info has no RECORD
    "absolute-path",  # a member named /tmp/pluginhost-evil.py
    "dotdot-path",  # a member named ../pluginhost-evil.py
    "backslash-path",  # a member named <module>\evil.py
    "drive-letter",  # a member named C:/pluginhost-evil.py
    "nul-name",  # a member name with a NUL byte in it
    "symlink",  # <module>/link.py is a symbolic link to /etc/passwd
    "duplicate-member",  # <module>/__init__.py is in the archive twice
    "case-duplicate",  # <module>/__init__.py and <module>/__INIT__.py
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
    "wheel-version-superscript",  # WHEEL says Wheel-Version ¹.0 (a digit to str.isdigit())
    "wheel-version-huge",  # WHEEL's Wheel-Version is a number of 5,000 digits
    "record-size-superscript",  # RECORD gives __init__.py the size ¹
    "record-size-huge",  # RECORD gives __init__.py a size of 5,000 digits
    "record-field-over-csv-limit",  # a RECORD field longer than the csv module's field limit
    "requires-python-huge",  # METADATA's Requires-Python names a 5,000-digit version
    "metadata-version-huge",  # METADATA's Version is a number of 5,000 digits
    "dist-info-version-huge",  # the .dist-info name's version is a number of 5,000 digits
    "requires-dist-huge",  # a Requires-Dist specifier names a 5,000-digit version
    "requires-dist-marker-huge",  # a Requires-Dist marker compares with a 5,000-digit version
    "record-size-arabic-digits",  # RECORD gives __init__.py the size U+0660 (an Arabic-Indic zero)
    "overlapping-entries",  # <module>/overlap.bin holds __init__.py's header and bytes (zip bomb)
    "same-offset",  # a second directory entry, <module>/alias.py, at __init__.py's header
    "into-central-directory",  # RECORD's compressed size runs into the central directory
    "archive-ratio",  # 12 members of 1 MiB of zeros: each under the member floor, 1000x in all
    "long-component",  # a member name with a component of 300 bytes (over NAME_MAX)
    "long-path",  # a member name of over 1,200 bytes (no file system path holds it)
    "file-and-directory",  # <module>/sub is a file, and <module>/sub/x.py needs it a directory
    "data-same-file",  # .data/purelib/<module>/__init__.py installs over <module>/__init__.py
    "metadata-over-limit",  # a METADATA of over 1 MiB: a minute of parsing in a few kilobytes
    "requires-dist-marker-undefined",  # a Requires-Dist marker comparing two strings, "y" < "z"
    "too-many-requirements",  # 5,001 Requires-Dist lines, over WheelLimits.max_requirements
    "too-many-entry-points",  # 10,001 entry points, over WheelLimits.max_entry_points
    "directory-only",  # 400 directory entries more, all at __init__.py's header: over max_members
    "directory-only-zip64",  # the same, its sizes in a zip64 end record
    "long-extra-field",  # every directory entry has 1 KiB of empty extra records (quadratic)
    "console-script-no-reference",  # a console script "t = not a ref!!": installer asserts
    "console-script-empty-name",  # a console_scripts line " = evil:main": configparser refuses
    "console-script-collision",  # a console script "tool" and a .data/scripts/tool file
    "stamp-member",  # .pluginhost/wheel.sha256, where the site dir's stamp goes
    "wheel-version-no-minor",  # Wheel-Version: 1 (installer installs "1." versions only)
)

_HUGE: Final = "1" * 5000  # over int()'s default limit of 4,300 digits


def check_kind(kind: str) -> None:
    """:raises ValueError: when ``kind`` is not one of :data:`BROKEN_KINDS`."""
    if kind not in BROKEN_KINDS:
        raise ValueError(f"unknown broken kind {kind!r}; choose from {BROKEN_KINDS}")


def break_draft(draft: Draft, kind: str | None) -> None:
    """Edit ``draft`` the way ``kind`` needs before it is written (``None``: leave it intact)."""
    _BREAKERS.get(kind or "", _intact)(draft)


def break_bytes(data: bytes, kind: str | None) -> bytes:
    """The finished wheel ``data`` edited the way ``kind`` needs (``None``: unchanged)."""
    return _BYTE_BREAKERS.get(kind or "", _same)(data)


def break_filename(filename: str, kind: str | None) -> str:
    """The file name to write the wheel under: ``filename``, unless ``kind`` is about the name."""
    return "not-a-wheel.whl" if kind == "bad-filename" else filename


def _package_init(draft: Draft) -> Member:
    return draft.members[0]


def _tamper(members: list[Member]) -> None:
    members[0].data += b"\n# changed after RECORD was written\n"


def _add(name: str, data: bytes = b"", mode: int = FILE_MODE) -> Callable[[Draft], None]:
    def add(draft: Draft) -> None:
        draft.members.append(Member(name.format(m=draft.module), data, mode))

    return add


def _unlisted_init(draft: Draft) -> None:
    _package_init(draft).in_record = False


def _no_record(draft: Draft) -> None:
    draft.record = False


def _duplicate(draft: Draft) -> None:
    draft.members.append(Member(_package_init(draft).name, _package_init(draft).data))


def _no_metadata(draft: Draft) -> None:
    def drop(members: list[Member]) -> None:
        members[:] = [m for m in members if not m.name.endswith("/METADATA")]

    draft.after_record = drop


def _set(**changes: object) -> Callable[[Draft], None]:
    def change(draft: Draft) -> None:
        for key, value in changes.items():
            setattr(draft, key, value)

    return change


def _requires_python(draft: Draft) -> None:
    draft.metadata["Requires-Python"] = [">=4"]


def _weak(draft: Draft) -> None:
    draft.weak = frozenset({_package_init(draft).name})


def _many(draft: Draft) -> None:
    draft.members += [Member(f"{draft.module}/m{i}.py", b"") for i in range(60)]


def _record_row(edit: Callable[[bytes], bytes]) -> Callable[[Draft], None]:
    def change(draft: Draft) -> None:
        def rewrite(members: list[Member]) -> None:
            rows = members[-1].data.splitlines(keepends=True)
            members[-1].data = edit(rows[0]) + b"".join(rows[1:])

        draft.after_record = rewrite

    return change


def _record_size(size: str) -> Callable[[Draft], None]:
    return _record_row(lambda row: row.rsplit(b",", 1)[0] + b"," + size.encode() + b"\n")


def _long_record_field(row: bytes) -> bytes:
    # The csv module refuses a field over 131,072 characters (csv.field_size_limit()).
    path, rest = row.split(b",", 1)
    return path + b",sha256=" + b"A" * 140_000 + b"," + rest.rsplit(b",", 1)[1]


def _metadata_line(key: str, value: str) -> Callable[[Draft], None]:
    def change(draft: Draft) -> None:
        draft.metadata[key] = [value]

    return change


def _many_requirements(draft: Draft) -> None:
    # Varied enough to deflate under the member ratio limit (a rare line is a digest), so
    # that only the size of METADATA refuses it: parsed, it takes seconds.
    draft.metadata["Requires-Dist"] = [
        f"p{hashlib.sha256(bytes(i)).hexdigest()[:16]}" if i % 150 == 0 else "a"
        for i in range(70_000)
    ]


def _requirement_lines(draft: Draft) -> None:
    draft.metadata["Requires-Dist"] = [f"r{i}" for i in range(5_001)]


def _entry_point_lines(draft: Draft) -> None:
    draft.entry_points_tail = "[other.group]\n" + "".join(f"e{i} = m\n" for i in range(10_001))


def _script_over_data(draft: Draft) -> None:
    draft.entry_points_tail = "\n[console_scripts]\ntool = evil:main\n"
    name = f"{escape(draft.distribution)}-{draft.version}.data/scripts/tool"
    draft.members.append(Member(name, b"#!python\n"))


def _data_escape(draft: Draft) -> None:
    name = f"{escape(draft.distribution)}-{draft.version}.data/purelib/../../evil.py"
    draft.members.append(Member(name, b"print('escaped')\n"))


def _zeros(draft: Draft) -> None:
    draft.members += [Member(f"{draft.module}/zeros{i}.bin", bytes(1 << 20)) for i in range(12)]


def _both(*breakers: Callable[[Draft], None]) -> Callable[[Draft], None]:
    def change(draft: Draft) -> None:
        for breaker in breakers:
            breaker(draft)

    return change


def _data_twice(draft: Draft) -> None:
    name = f"{escape(draft.distribution)}-{draft.version}.data/purelib/{draft.module}/__init__.py"
    draft.members.append(Member(name, b"X = 'installed over the package'\n"))


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


# -- zips laid out by hand (stored members), for the kinds zipfile cannot write -------------

_LOCAL: Final = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL: Final = struct.Struct("<4sHHHHHHIIIHHHHHII")
_END: Final = struct.Struct("<4sHHHHIIH")
_ZIP64_END: Final = struct.Struct("<4sQHHIIQQQQ")
_ZIP64_LOCATOR: Final = struct.Struct("<4sIQI")
_DOS_DATE: Final = 0x21  # 1980-01-01


def _members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def _local(name: str, body: bytes) -> bytes:
    raw, crc = name.encode(), zlib.crc32(body)
    header = _LOCAL.pack(
        b"PK\x03\x04", 20, 0, 0, 0, _DOS_DATE, crc, len(body), len(body), len(raw), 0
    )
    return header + raw + body


def _central(name: str, body: bytes, offset: int, overrun: int = 0, extra: bytes = b"") -> bytes:
    raw, crc, size = name.encode(), zlib.crc32(body), len(body)
    fields = (0x314, 20, 0, 0, 0, _DOS_DATE, crc, size + overrun, size, len(raw), len(extra), 0)
    return _CENTRAL.pack(b"PK\x01\x02", *fields, 0, 0, FILE_MODE, offset) + raw + extra


def _laid_out(members: list[tuple[str, bytes]]) -> tuple[bytes, list[tuple[str, bytes, int]]]:
    """Members stored one after the other: the bytes, and each one's name, body and offset."""
    out, placed = b"", []
    for name, body in members:
        placed.append((name, body, len(out)))
        out += _local(name, body)
    return out, placed


def _finish(local: bytes, central: list[bytes], *, zip64: bool = False) -> bytes:
    directory = b"".join(central)
    count, size, offset = len(central), len(directory), len(local)
    if not zip64:
        return local + directory + _END.pack(b"PK\x05\x06", 0, 0, count, count, size, offset, 0)
    record = _ZIP64_END.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, offset)
    locator = _ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, offset + size, 1)
    end = _END.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return local + directory + record + locator + end


def _directory_only(zip64: bool) -> Callable[[bytes], bytes]:
    """A central directory of hundreds of entries, each a name and 46 bytes, all at one
    member's header: a file of nothing else makes zipfile build an object per entry, millions
    in 80 MB, before any count is checked; refused by its count as the directory is walked."""

    def make(data: bytes) -> bytes:
        local, placed = _laid_out(_members(data))
        name, body, offset = placed[0]
        aliases = [(f"{name.rsplit('/', 1)[0]}/a{i}.py", body, offset) for i in range(400)]
        entries = [_central(*entry) for entry in [*placed, *aliases]]
        return _finish(local, entries, zip64=zip64)

    return make


def _long_extra(data: bytes) -> bytes:
    """Every directory entry with 1 KiB of empty extra records (a private id, no data): legal,
    and zipfile slices the rest of the field once per record, so 64 KiB cost it 16 ms an entry
    at every opening; refused by the field's length as the directory is walked."""
    local, placed = _laid_out(_members(data))
    extra = struct.pack("<HH", 0x9900, 0) * 256
    return _finish(local, [_central(*entry, extra=extra) for entry in placed])


def _row_for(name: str, body: bytes) -> bytes:
    digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=")
    return f"{name},sha256={digest.decode()},{len(body)}\n".encode()


def _overlapping(data: bytes) -> bytes:
    """The "better zip bomb" in small: one stored member spans another's header and bytes.

    Otherwise valid (RECORD lists both), so only a check of overlaps refuses it.
    """
    (init, body), *rest = _members(data)
    inner = _local(init, body)
    outer = init.rsplit("/", 1)[0] + "/overlap.bin"
    record, rows = rest[-1]
    rest[-1] = (record, _row_for(outer, inner) + rows)
    local, placed = _laid_out([(outer, inner), *rest])
    entries = [(outer, inner, 0), (init, body, _LOCAL.size + len(outer.encode())), *placed[1:]]
    return _finish(local, [_central(*entry) for entry in entries])


def _same_offset(data: bytes) -> bytes:
    local, placed = _laid_out(_members(data))
    name, body, offset = placed[0]
    alias = (name.rsplit("/", 1)[0] + "/alias.py", body, offset)
    return _finish(local, [_central(*entry) for entry in [*placed, alias]])


def _into_central(data: bytes) -> bytes:
    local, placed = _laid_out(_members(data))
    *head, last = placed
    return _finish(local, [*(_central(*entry) for entry in head), _central(*last, overrun=64)])


_BREAKERS: Final[Mapping[str, Callable[[Draft], None]]] = {
    "bad-record-hash": _set(after_record=_tamper),
    "missing-from-record": _unlisted_init,
    "no-record": _no_record,
    "absolute-path": _add("/tmp/pluginhost-evil.py"),
    "dotdot-path": _add("../pluginhost-evil.py"),
    "backslash-path": _add("{m}\\evil.py"),
    "drive-letter": _add("C:/pluginhost-evil.py"),
    "nul-name": _add("{m}/evil_mod.py"),
    "symlink": _add("{m}/link.py", b"/etc/passwd", LINK_MODE),
    "duplicate-member": _duplicate,
    "case-duplicate": _add("{m}/__INIT__.py"),
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
    "wheel-version-superscript": _set(wheel_version="\u00b9.0"),
    "wheel-version-huge": _set(wheel_version=f"{_HUGE}.0"),
    "record-size-superscript": _record_size("\u00b9"),
    "record-size-huge": _record_size(_HUGE),
    "record-field-over-csv-limit": _record_row(_long_record_field),
    "requires-python-huge": _metadata_line("Requires-Python", f">=3.{_HUGE}"),
    "metadata-version-huge": _set(stated_version=f"1.{_HUGE}"),
    "dist-info-version-huge": _set(dist_info_version=f"1.{_HUGE}"),
    "requires-dist-huge": _metadata_line("Requires-Dist", f"attrs>={_HUGE}"),
    "requires-dist-marker-huge": _metadata_line(
        "Requires-Dist", f'attrs; python_version < "{_HUGE}"'
    ),
    "record-size-arabic-digits": _record_size("\u0660"),
    "archive-ratio": _zeros,
    "long-component": _add("{m}/" + "x" * 300 + ".py"),
    "long-path": _add("{m}/" + "/".join(["d" * 200] * 6) + "/x.py"),
    "file-and-directory": _both(_add("{m}/sub", b"a file\n"), _add("{m}/sub/x.py")),
    "data-same-file": _data_twice,
    "metadata-over-limit": _many_requirements,
    "requires-dist-marker-undefined": _metadata_line("Requires-Dist", 'attrs; "y" < "z"'),
    "too-many-requirements": _requirement_lines,
    "too-many-entry-points": _entry_point_lines,
    "console-script-no-reference": _set(entry_points_tail="\n[console_scripts]\nt = not a ref!!\n"),
    "console-script-empty-name": _set(entry_points_tail="\n[console_scripts]\n = evil:main\n"),
    "console-script-collision": _script_over_data,
    "wheel-version-no-minor": _set(wheel_version="1"),
    "stamp-member": _add(".pluginhost/wheel.sha256", b"0" * 64 + b"\n"),
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
    "overlapping-entries": _overlapping,
    "same-offset": _same_offset,
    "into-central-directory": _into_central,
    "directory-only": _directory_only(zip64=False),
    "directory-only-zip64": _directory_only(zip64=True),
    "long-extra-field": _long_extra,
}


def _intact(draft: Draft) -> None:
    pass


def _same(data: bytes) -> bytes:
    return data
