"""The archive writer of the test kit: members, .dist-info files and a RECORD that hashes them."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile

from pluginhost.testkit.archive import LINK_MODE, Draft, Member, write_archive

ENTRY_POINTS = {"greeter.plugins": {"hello": "hello"}}


def draft(*members: Member, **changes: object) -> Draft:
    made = Draft("Hello.World", "1.0.0", "py3-none-any", "hello", list(members), {})
    for key, value in changes.items():
        setattr(made, key, value)
    return made


def record_of(data: bytes) -> list[list[str]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        text = archive.read("hello_world-1.0.0.dist-info/RECORD").decode()
    return [row.split(",") for row in text.splitlines()]


def digest(algorithm: str, data: bytes) -> str:
    raw = hashlib.new(algorithm, data).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TestWriteArchive:
    def test_layout(self) -> None:
        """Package members first, then METADATA, WHEEL, entry points, and RECORD last."""
        data = write_archive(draft(Member("hello/__init__.py", b"X = 1\n")), ENTRY_POINTS)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            assert archive.read("hello_world-1.0.0.dist-info/entry_points.txt") == (
                b"[greeter.plugins]\nhello = hello\n"
            )
        dist_info = "hello_world-1.0.0.dist-info"
        assert names == [
            "hello/__init__.py",
            f"{dist_info}/METADATA",
            f"{dist_info}/WHEEL",
            f"{dist_info}/entry_points.txt",
            f"{dist_info}/RECORD",
        ]

    def test_record_hashes_and_sizes(self) -> None:
        """Each member has a sha256 row with its size; RECORD's own row has neither."""
        code = b"X = 1\n"
        rows = record_of(write_archive(draft(Member("hello/__init__.py", code)), ENTRY_POINTS))
        assert rows[0] == ["hello/__init__.py", f"sha256={digest('sha256', code)}", str(len(code))]
        assert rows[-1] == ["hello_world-1.0.0.dist-info/RECORD", "", ""]

    def test_weak_and_unlisted(self) -> None:
        """Names in ``weak`` are hashed with md5; members with ``in_record=False`` have no row."""
        members = (Member("hello/__init__.py", b"a"), Member("hello/x.py", b"b", in_record=False))
        weak = frozenset({"hello/__init__.py"})
        rows = record_of(write_archive(draft(*members, weak=weak), ENTRY_POINTS))
        assert rows[0][1] == f"md5={digest('md5', b'a')}"
        assert "hello/x.py" not in [row[0] for row in rows]

    def test_after_record(self) -> None:
        """``after_record`` sees the finished members, RECORD included, and may edit them."""
        seen: list[str] = []
        made = draft(after_record=lambda members: seen.extend(m.name for m in members))
        write_archive(made, ENTRY_POINTS)
        assert seen[-1] == "hello_world-1.0.0.dist-info/RECORD"

    def test_modes_and_dates_fixed(self) -> None:
        """Members carry Unix mode bits and a fixed date, so the bytes never depend on the clock."""
        link = Member("hello/link.py", b"/etc/passwd", LINK_MODE)
        data = write_archive(draft(link), ENTRY_POINTS)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("hello/link.py")
        assert (info.external_attr, info.create_system) == (LINK_MODE, 3)
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert write_archive(draft(link), ENTRY_POINTS) == data
