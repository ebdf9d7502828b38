"""The header reader of installed core metadata (``discover/core_headers.py``) and its users."""

from __future__ import annotations

import email.parser
import email.policy
from pathlib import Path

import pytest

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


# Texts the email parser (compat32, as a wheel's METADATA is validated) and the header reader
# must read alike: a requirement list that differs between the two made a serving plugin's
# shared dependency look unused, and deleted it (attack probe 12, F2).
_TRICKY = {
    "folded GPL licence with a form feed": (
        "Name: lib1\nVersion: 1.0\nLicense: GNU GENERAL PUBLIC LICENSE\n"
        "        \x0c\n        END OF TERMS\nRequires-Dist: sublib\n\nbody\n"
    ),
    "form feeds in a summary": (
        "Name: lib1\nVersion: 1.0\nSummary: a\x0c\x0cb\nRequires-Dist: sublib\n"
    ),
    "a line separator in a summary": (
        "Name: lib1\nVersion: 1.0\nSummary: lib\u2028Requires-Dist: ghostpkg\n"
        "Requires-Dist: sublib\n"
    ),
    "other separators": "Name: x\nSummary: a\x1cb\x1dc\x1ed\x85e\u2029f\x0bg\nRequires-Dist: y\n",
    "a line without a colon": "Name: lib1\nnot a header\nRequires-Dist: ghostpkg\n",
    "a space before the colon": "Name: lib1\nRequires-Dist : ghostpkg\nRequires-Dist: later\n",
    "CR line ends": "Name: lib1\rRequires-Dist: sublib\r\rRequires-Dist: body\r",
    "CRLF line ends": "Name: lib1\r\nRequires-Dist: sublib\r\n\r\nRequires-Dist: body\r\n",
    "an mbox From line": "From someone\nName: lib1\nRequires-Dist: sublib\n",
    "tabs around a value": "Name:\tlib1\t\nRequires-Dist:\t sublib ; python_version > '3'\n",
    "a colon in a value": "Name: lib1\nRequires-Dist: a; extra == 'b:c'\n",
    "an empty name": "Name: lib1\n: odd\nRequires-Dist: sublib\n",
}


@pytest.mark.parametrize("text", _TRICKY.values(), ids=list(_TRICKY))
def test_read_as_the_email_parser_reads(text: str) -> None:
    parsed = email.parser.Parser(policy=email.policy.compat32).parsestr(text, headersonly=True)
    fields = core_headers(text)
    for key in ("name", "version", "summary", "requires-dist"):
        theirs = [v.strip(" \t") for v in parsed.get_all(key) or ()]
        assert fields.get(key, []) == theirs, key
