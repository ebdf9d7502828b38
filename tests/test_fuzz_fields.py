"""Validation never lets an untyped exception out: every text field of a valid wheel and of
its manifest, replaced by hostile text, is accepted or refused with a WheelError or a
ManifestError, nothing else.

The fields are the values of METADATA's and WHEEL's headers, the cells of RECORD, the names and
values of ``entry_points.txt``, every value of ``plugin.toml`` (quoted or raw), the versions of
the file name and of the ``.dist-info`` name. RECORD is written again after each change (unless
RECORD itself is the field changed), so that validation goes on past its hash check and the
manifest is parsed too. The wheel is validated in memory: the file name may be longer than a
file system allows.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pluginhost.discover.archive import WheelBytes, WheelLimits
from pluginhost.discover.candidates import candidate_from_wheel, inspect_plugin_wheel
from pluginhost.model.errors import ManifestError, WheelError
from pluginhost.testing import WheelFactory

GROUP = "greeter.plugins"
NAME = "hello-1.0.0-py3-none-any.whl"
DIST_INFO = "hello-1.0.0.dist-info"
MANIFEST = """[plugin]
name = "hello"
version = "1.0.0"
host = "^1.0"

[plugin.requires]
base = "^1.2"

[plugin.optional]
metrics = ">=0.3"
"""
HUGE = "1" * 5000  # over int()'s default limit of 4,300 digits
CSV_LIMIT = "A" * 140_000  # over the csv module's field limit of 131,072 characters

# Text that broke, or could break, a parser: digits int() refuses, numbers over its digit
# limit, a field over csv's limit, separators of each format, control characters.
HOSTILE = [
    'a; "y" < "z"',  # a marker packaging 26 answers with a KeyError
    "\u00b9",
    "\u00b9.0",
    "\u0663",
    "\uff11.0",
    HUGE,
    f"{HUGE}.0",
    f"1.{HUGE}",
    f">={HUGE}",
    f"^{HUGE}",
    f'attrs; python_version < "{HUGE}"',
    f"attrs>={HUGE}",
    CSV_LIMIT,
    "sha256=" + CSV_LIMIT,
    "",
    " ",
    "\x00",
    "\n",
    "\r",
    '"',
    ",",
    "=",
    ":",
    "[",
    "]",
    "[x",
    "%(x)s",
    "1.0",
    "2.0",
    "-1",
    "1e999",
    "nan",
    "0x1F",
    "1_000",
    "1979-05-27T07:32:00Z",
    "[1, 2]",
    "{a = 1}",
    "true",
    "\udcff",
    "\u200b",
    "*",
    "||",
]
text_values = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=30),
    st.builds(lambda a, b: a + b, st.sampled_from(HOSTILE), st.text(max_size=5)),
)

# Where a field's value lies in each kind of member.
_HEADER_VALUE = re.compile(r"(?m)(?<=: )[^\n]*$")
_INI_PART = re.compile(r"(?m)^[^\[\n=]+(?= = )|(?<= = )[^\n]*$|(?<=^\[)[^\]\n]+(?=\]$)")
_TOML_VALUE = re.compile(r"(?m)(?<= = )[^\n]*$|^[^\[\n=]+(?= = )")
_RECORD_CELL = re.compile(r"[^,\n]+")
_FIELDS = {
    "METADATA": _HEADER_VALUE,
    "WHEEL": _HEADER_VALUE,
    "entry_points.txt": _INI_PART,
    "plugin.toml": _TOML_VALUE,
    "RECORD": _RECORD_CELL,
}


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The members of a valid plugin wheel with every kind of field, RECORD left out."""
    factory = WheelFactory(tmp_path_factory.mktemp("fuzz"), group=GROUP)
    wheel = factory.build(
        "hello",
        code="X = 1\n",
        manifest=MANIFEST,
        requires_dist=["attrs>=20", 'pluggy; python_version >= "3.8"'],
        requires_python=">=3.8",
    )
    with zipfile.ZipFile(wheel) as archive:
        return {
            info.filename: archive.read(info)
            for info in archive.infolist()
            if not info.filename.endswith("/RECORD")
        }


def with_record(members: dict[str, bytes], dist_info: str) -> dict[str, bytes]:
    rows = []
    for name, data in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{name},sha256={digest},{len(data)}\n")
    rows.append(f"{dist_info}/RECORD,,\n")
    return {**members, f"{dist_info}/RECORD": "".join(rows).encode()}


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive, warnings.catch_warnings():
        # A NUL ends a member's name for zipfile: two names may become one, which it warns of.
        warnings.simplefilter("ignore", UserWarning)
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def validate(filename: str, data: bytes) -> None:
    """Validate the wheel and read its plugin; a typed refusal is an answer too."""
    limits = WheelLimits()
    try:
        inspection = inspect_plugin_wheel(Path("/fuzz", filename), limits, WheelBytes.of(data))
        candidate_from_wheel(inspection, GROUP, limits)
    except (WheelError, ManifestError):
        pass


def replaced(text: str, pattern: re.Pattern[str], index: int, value: str) -> str:
    spans = [m.span() for m in pattern.finditer(text)]
    start, end = spans[index % len(spans)]
    return text[:start] + value + text[end:]


def toml_text(value: str, raw: bool) -> str:
    """``value`` as a TOML value: raw (an integer, a date, broken TOML) or a quoted string."""
    if raw:
        return value
    return json.dumps(value, ensure_ascii=False)


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, bytes]) -> tuple[str, bytes]:
    """A wheel's file name and bytes with one text field replaced."""
    member = draw(st.sampled_from(sorted(_FIELDS)))
    value = draw(text_values)
    index = draw(st.integers(0, 50))
    members = dict(valid)
    if member == "RECORD":
        members = with_record(members, DIST_INFO)
    [path] = [name for name in members if name.endswith("/" + member)]
    text = members[path].decode()
    if member == "plugin.toml":
        value = toml_text(value, draw(st.booleans()))
    new = replaced(text, _FIELDS[member], index, value)
    members[path] = new.encode("utf-8", "surrogateescape")
    if member != "RECORD":
        members = with_record(members, DIST_INFO)
    return NAME, zipped(members)


@st.composite
def renamed(draw: st.DrawFn, valid: dict[str, bytes]) -> tuple[str, bytes]:
    """A wheel whose file name or ``.dist-info`` name carries another version."""
    version = draw(text_values).replace("/", "_")
    if draw(st.booleans()):
        return f"hello-{version}-py3-none-any.whl", zipped(with_record(valid, DIST_INFO))
    # A zip member's name holds at most 65,535 bytes of UTF-8.
    version = version.encode("utf-8", "replace").decode("utf-8")[:10_000]
    dist_info = f"hello-{version}.dist-info"
    members = {name.replace(DIST_INFO, dist_info): data for name, data in valid.items()}
    return NAME, zipped(with_record(members, dist_info))


SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class TestEveryTextField:
    def test_intact_is_accepted(self, valid: dict[str, bytes]) -> None:
        """The wheel the fields are taken from is valid: the mutations start from a yes."""
        data = zipped(with_record(valid, DIST_INFO))
        limits = WheelLimits()
        inspection = inspect_plugin_wheel(Path("/fuzz", NAME), limits, WheelBytes.of(data))
        candidate = candidate_from_wheel(inspection, GROUP, limits)
        assert candidate is not None
        assert str(candidate.manifest.host) == "^1.0"

    def test_each_kind_of_field_is_found(self, valid: dict[str, bytes]) -> None:
        """Each member's field pattern finds the fields it is meant to change."""
        texts = {name.rsplit("/", 1)[-1]: data.decode() for name, data in valid.items()}
        texts["RECORD"] = with_record(valid, DIST_INFO)[f"{DIST_INFO}/RECORD"].decode()
        found = {member: len(pattern.findall(texts[member])) for member, pattern in _FIELDS.items()}
        assert found == {
            "METADATA": 6,
            "WHEEL": 4,
            "entry_points.txt": 3,
            "plugin.toml": 10,
            "RECORD": 16,  # the RECORD row has no hash nor size
        }

    def test_the_issues_case(self, valid: dict[str, bytes]) -> None:
        """``Wheel-Version: ¹.0`` is refused with a WheelError, not a bare ValueError."""
        members = dict(valid)
        path = f"{DIST_INFO}/WHEEL"
        members[path] = members[path].replace(b": 1.0", ": \u00b9.0".encode())
        data = zipped(with_record(members, DIST_INFO))
        with pytest.raises(WheelError, match="Wheel-Version"):
            inspect_plugin_wheel(Path("/fuzz", NAME), WheelLimits(), WheelBytes.of(data))

    @SETTINGS
    @given(data=st.data())
    def test_a_field_replaced(self, valid: dict[str, bytes], data: st.DataObject) -> None:
        """Any one field of any member replaced: accepted, or a WheelError or ManifestError."""
        validate(*data.draw(mutated(valid)))

    @SETTINGS
    @given(data=st.data())
    def test_a_name_carries_another_version(
        self, valid: dict[str, bytes], data: st.DataObject
    ) -> None:
        """The file name's or the .dist-info name's version replaced: the same two answers."""
        validate(*data.draw(renamed(valid)))
