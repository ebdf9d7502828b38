"""The header reader of installed core metadata (``discover/core_headers.py``) and its users."""

from __future__ import annotations

from pathlib import Path

from pluginhost.discover.core_headers import core_headers
from pluginhost.install.deps import requires_dist_of

_METADATA = (
    "Metadata-Version: 2.1\n"
    "Name: Demo-Plugin\n"
    "Version: 1.2.0\n"
    "License: line one\n"
    "        Requires-Dist: folded-into-the-license\n"
    "Requires-Dist: attrs>=22\n"
    "requires-dist: tomli; python_version < '3.11'\n"
    "no colon here\n"
    "\n"
    "Requires-Dist: in-the-description\n"
)


def test_fields_by_lowercased_name_in_order() -> None:
    fields = core_headers(_METADATA)
    assert fields["name"] == ["Demo-Plugin"]
    assert fields["version"] == ["1.2.0"]
    assert fields["requires-dist"] == ["attrs>=22", "tomli; python_version < '3.11'"]


def test_the_body_and_continuation_lines_are_not_headers() -> None:
    values = [v for vs in core_headers(_METADATA).values() for v in vs]
    assert "in-the-description" not in values
    assert not any("folded" in v for v in values)


def test_crlf_line_ends_end_the_headers_too() -> None:
    fields = core_headers(_METADATA.replace("\n", "\r\n"))
    assert fields["requires-dist"] == ["attrs>=22", "tomli; python_version < '3.11'"]


def test_empty_text_has_no_fields() -> None:
    assert core_headers("") == {}


def test_requires_dist_of_an_installed_metadata_file(tmp_path: Path) -> None:
    # A METADATA written with CRLF line ends: its description's line that looks like a header
    # is not a requirement.
    metadata = tmp_path / "METADATA"
    metadata.write_bytes(_METADATA.replace("\n", "\r\n").encode())
    assert requires_dist_of(metadata) == ("attrs>=22", "tomli; python_version < '3.11'")


def test_requires_dist_of_an_unreadable_file_is_none(tmp_path: Path) -> None:
    assert requires_dist_of(tmp_path / "missing" / "METADATA") == ()
