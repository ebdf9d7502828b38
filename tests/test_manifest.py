"""plugin.toml: what a manifest declares, its defaults, and every way one is refused."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import pytest
import tomli as tomllib  # the manifest parser (model/manifest.py: load_toml_parser)
from hypothesis import given
from hypothesis import strategies as st

from pluginhost.model.errors import ManifestError, VersionError
from pluginhost.model.limits import ResourceLimits
from pluginhost.model.manifest import MANIFEST_NAME, MAX_MANIFEST_SIZE, Manifest
from pluginhost.model.names import PluginName, plugin_name
from pluginhost.model.versions import ANY, Constraint, Version

PATH = "polite-1.1.0-py3-none-any.whl!polite/plugin.toml"

FULL = b"""
[plugin]
name = "polite"
version = "1.1.0"
host = "^1.2"

[plugin.requires]
hello = "^1.0"
Base_Lib = ">=2, <3"

[plugin.optional]
metrics = ">=0.3"
"""


def parse(data: str | bytes, *, name: str = "polite", dist: str = "1.1.0") -> Manifest:
    """Read ``data`` as the manifest at ``PATH`` of entry point ``name``, distribution ``dist``."""
    raw = data.encode() if isinstance(data, str) else data
    return Manifest.from_toml(raw, path=PATH, default_name=name, dist_version=dist)


def refused(data: str | bytes, **kwargs: str) -> ManifestError:
    """The error that reading ``data`` raises; it always names ``PATH``."""
    with pytest.raises(ManifestError) as info:
        parse(data, **kwargs)
    assert info.value.path == PATH
    assert PATH in str(info.value)
    return info.value


class TestManifestParse:
    def test_full(self) -> None:
        """Every field is read; requirement names are normalized."""
        manifest = parse(FULL)
        assert manifest == Manifest(
            name=plugin_name("polite"),
            version=Version(1, 1, 0),
            host=Constraint.parse("^1.2"),
            requires={
                plugin_name("hello"): Constraint.parse("^1.0"),
                plugin_name("base-lib"): Constraint.parse(">=2, <3"),
            },
            optional={plugin_name("metrics"): Constraint.parse(">=0.3")},
            path=PATH,
        )
        assert manifest.requires == {
            "hello": Constraint.parse("^1.0"),
            "base-lib": Constraint.parse(">=2, <3"),
        }

    def test_defaults(self) -> None:
        """An empty [plugin] takes the entry-point name, the dist version and no constraints."""
        manifest = parse("[plugin]\n", name="Hello_World", dist="2.3rc1")
        assert manifest.name == "hello-world"
        assert manifest.version == Version(2, 3, 0, prerelease="rc.1")
        assert manifest.host is ANY
        assert manifest.requires == {}
        assert manifest.optional == {}
        assert manifest.path == PATH

    def test_name_normalized(self) -> None:
        """The manifest's name wins over the entry point's and is normalized."""
        assert parse('[plugin]\nname = "My.Plugin"\n', name="other").name == "my-plugin"

    @pytest.mark.parametrize(
        ("version", "dist"),
        [("1.2", "1.2.0"), ("1.2.0", "1.2"), ("1.2.0-rc.1", "1.2.0rc1"), ("1.2.0+build.1", "1.2")],
    )
    def test_versions_agree_as_semver(self, version: str, dist: str) -> None:
        """Manifest and distribution versions are compared as semver, not as text."""
        manifest = parse(f'[plugin]\nversion = "{version}"\n', dist=dist)
        assert manifest.version == Version.parse("1.2.0-rc.1" if "rc" in dist else "1.2.0")

    def test_version_omitted_is_the_distribution_version(self) -> None:
        """Without a version key, the distribution's version is the plugin's: stated once."""
        assert str(parse('[plugin]\nhost = "^1.0"\n', dist="2.1").version) == "2.1.0"

    def test_local_build_agrees_and_is_kept(self) -> None:
        """A dev build of the stated release agrees, and keeps its label to order rebuilds."""
        manifest = parse('[plugin]\nversion = "1.2.0"\n', dist="1.2.0+dev.4")
        assert str(manifest.version) == "1.2.0+dev.4"

    def test_other_release_still_disagrees(self) -> None:
        """A stated version of another release is refused, as before."""
        error = refused('[plugin]\nversion = "1.3.0"\n', dist="1.2.0+dev.4")
        assert "disagrees with the distribution version" in str(error)

    def test_dotted_requirement(self) -> None:
        """A requirement whose name has a dot is a quoted key, normalized like any other."""
        manifest = parse('[plugin.requires]\n"my.dep" = "1"\n[plugin]\nhost = "*"\n')
        assert manifest.requires == {"my-dep": Constraint.parse("1")}

    def test_inline_table(self) -> None:
        """[plugin] may be written as an inline table."""
        manifest = parse('plugin = { name = "x", requires = { y = "1" } }')
        assert manifest.requires == {"y": Constraint.parse("1")}

    def test_size_limit_inclusive(self) -> None:
        """A manifest of exactly ``max_size`` bytes is read."""
        data = b"[plugin]\n" + b"#" * (MAX_MANIFEST_SIZE - 10) + b"\n"
        assert len(data) == MAX_MANIFEST_SIZE
        assert parse(data).name == "polite"

    def test_constants(self) -> None:
        """The manifest file name and default size limit are what wheels and sources expect."""
        assert MANIFEST_NAME == "plugin.toml"
        assert MAX_MANIFEST_SIZE == 64 * 1024


class TestManifestDefault:
    def test_default(self) -> None:
        """A plugin without plugin.toml gets its entry-point name and distribution version."""
        manifest = Manifest.default(name="Plain_Thing", dist_version="2.3")
        assert manifest == Manifest(name=plugin_name("plain-thing"), version=Version(2, 3, 0))
        assert manifest.host is ANY
        assert manifest.path is None

    def test_default_path(self) -> None:
        """The path, when given, is kept."""
        assert Manifest.default(name="p", dist_version="1", path="x.whl").path == "x.whl"

    def test_default_post_release(self) -> None:
        """A dist version without semver equivalent is kept as its PEP 440 version."""
        manifest = Manifest.default(name="Plain", dist_version="1.0.post2", path="x.whl")
        assert str(manifest.version) == "1.0.post2"
        assert manifest.version > Version(1, 0, 0)

    def test_default_unreadable_version(self) -> None:
        """A dist version that is no version is a VersionError on key ``version``."""
        with pytest.raises(VersionError) as info:
            Manifest.default(name="Plain", dist_version="1.0.poast2", path="x.whl")
        err = info.value
        assert (err.key, err.plugin, err.path) == ("version", "plain", "x.whl")
        assert "distribution version" in err.reason

    def test_default_invalid_name(self) -> None:
        """An entry-point name that is no valid plugin name is refused on key ``name``."""
        with pytest.raises(ManifestError) as info:
            Manifest.default(name="no spaces", dist_version="1.0")
        assert info.value.key == "name"
        assert "not a valid plugin name" in info.value.reason


# (manifest, key, what the reason says, error type); entry point "polite", dist version 1.1.0.
ERRORS: list[tuple[str | bytes, str | None, str, type[ManifestError]]] = [
    (b"[plugin]\n\xff\n", None, "not UTF-8", ManifestError),
    ('[plugin]\nname = "x"\nversion = 1.1.0\n', None, "line 3", ManifestError),
    ("[plugin", None, "invalid TOML", ManifestError),
    ("", "plugin", "no [plugin] table", ManifestError),
    ("[other]\n", "other", "only allowed key is 'plugin'", ManifestError),
    ('"odd key" = 1\n[plugin]\n', '"odd key"', "unknown key", ManifestError),
    ('plugin = "x"\n', "plugin", "must be a table, not a string", ManifestError),
    (
        '[plugin]\nnmae = "x"\n',
        "plugin.nmae",
        "host, isolation, name, optional, requires, resources, version",
        ManifestError,
    ),
    (
        '[plugin]\nisolation = "thread"\n',
        "plugin.isolation",
        "'in-process' or 'process'",
        ManifestError,
    ),
    ("[plugin]\nisolation = 1\n", "plugin.isolation", "must be a string", ManifestError),
    ('[plugin]\nresources = "x"\n', "plugin.resources", "must be a table", ManifestError),
    (
        "[plugin.resources]\nram = 1\n",
        "plugin.resources.ram",
        "memory_mb, cpu_cores",
        ManifestError,
    ),
    (
        "[plugin.resources]\nmemory_mb = 1.5\n",
        "plugin.resources.memory_mb",
        "an integer, not a float",
        ManifestError,
    ),
    (
        "[plugin.resources]\nmemory_mb = 99999999999999\n",
        "plugin.resources",
        "memory_mb must be at most",
        ManifestError,
    ),
    (
        "[plugin.resources]\nthreads = true\n",
        "plugin.resources.threads",
        "not a boolean",
        ManifestError,
    ),
    (
        "[plugin.resources]\nopen_files = 0\n",
        "plugin.resources.open_files",
        "positive",
        ManifestError,
    ),
    (
        "[plugin.resources]\ncall_timeout_s = -1\n",
        "plugin.resources.call_timeout_s",
        "positive",
        ManifestError,
    ),
    (
        "[plugin.resources]\ncall_timeout_s = nan\n",
        "plugin.resources.call_timeout_s",
        "positive",
        ManifestError,
    ),
    (
        "[plugin.resources]\ncall_timeout_s = inf\n",
        "plugin.resources.call_timeout_s",
        "finite",
        ManifestError,
    ),
    (
        "[plugin.resources]\ncall_timeout_s = '1'\n",
        "plugin.resources.call_timeout_s",
        "seconds, not a string",
        ManifestError,
    ),
    ("[plugin.requires.hello]\n", "plugin.requires.hello", "not a table", ManifestError),
    ("[plugin]\nname = 3\n", "plugin.name", "must be a string, not an integer", ManifestError),
    ("[plugin]\nversion = 1.5\n", "plugin.version", "not a float", ManifestError),
    ('[plugin]\nhost = ["^1"]\n', "plugin.host", "not an array", ManifestError),
    ('[plugin]\nrequires = "hello"\n', "plugin.requires", "must be a table", ManifestError),
    ("[plugin.optional]\nm = true\n", "plugin.optional.m", "not a boolean", ManifestError),
    ("[plugin]\nhost = 1979-05-27\n", "plugin.host", "not date", ManifestError),
    ('[plugin]\nversion = "one"\n', "plugin.version", "neither a semantic", VersionError),
    ('[plugin]\nversion = "1.1.0.post1"\n', "plugin.version", "disagrees", ManifestError),
    ('[plugin]\nhost = "^^1"\n', "plugin.host", "cannot read '^^1'", VersionError),
    ("[plugin.requires]\nhello = 'nope'\n", "plugin.requires.hello", "'nope'", VersionError),
    ("[plugin.optional]\nm = ''\n", "plugin.optional.m", "empty alternative", VersionError),
    ('[plugin]\nversion = "1.2.0"\n', "plugin.version", "'1.2.0' disagrees", ManifestError),
    ("[plugin.requires]\npolite = '*'\n", "plugin.requires.polite", "itself", ManifestError),
    ("[plugin.optional]\nPOLITE = '*'\n", "plugin.optional.POLITE", "itself", ManifestError),
    (
        "[plugin.requires]\nhello = '*'\n[plugin.optional]\nHello = '*'\n",
        "plugin.optional.Hello",
        "both required and optional",
        ManifestError,
    ),
    ("[plugin.requires]\na_b = '*'\nA-B = '1'\n", "plugin.requires.A-B", "twice", ManifestError),
    ('[plugin]\nname = "-dash"\n', "plugin.name", "not a valid plugin name", ManifestError),
    (f'[plugin]\nname = "{"n" * 101}"\n', "plugin.name", "at most 100", ManifestError),
    ('[plugin]\nname = "caf\u00e9"\n', "plugin.name", "not a valid plugin name", ManifestError),
    ('[plugin.requires]\n"a b" = "1"\n', 'plugin.requires."a b"', "requires entry", ManifestError),
    ('[plugin.optional]\n"" = "1"\n', 'plugin.optional.""', "not a valid", ManifestError),
]


class TestIsolation:
    def test_in_process_by_default(self) -> None:
        """A manifest that says nothing runs in process, with no limits of its own."""
        m = Manifest.from_toml(b"[plugin]\n", path="p", default_name="p", dist_version="1.0")
        assert (m.isolation, m.resources) == ("in-process", ResourceLimits())

    def test_process_and_resources(self) -> None:
        """isolation and [plugin.resources] are read, seconds as a float or an integer."""
        data = (
            b'[plugin]\nisolation = "process"\n[plugin.resources]\n'
            b"memory_mb = 256\nthreads = 8\ncall_timeout_s = 2\n"
        )
        m = Manifest.from_toml(data, path="p", default_name="p", dist_version="1.0")
        assert m.isolation == "process"
        assert m.resources == ResourceLimits(memory_mb=256, threads=8, call_timeout_s=2)


class TestManifestErrors:
    @pytest.mark.parametrize(("data", "key", "reason", "kind"), ERRORS)
    def test_refused(
        self, data: str | bytes, key: str | None, reason: str, kind: type[ManifestError]
    ) -> None:
        """Each unusable manifest raises the right error naming file, plugin and key."""
        err = refused(data)
        assert type(err) is kind
        assert err.key == key
        assert reason in err.reason
        assert err.plugin == "polite"
        if key is not None:
            assert repr(key) in str(err)

    @pytest.mark.skipif(not hasattr(sys, "get_int_max_str_digits"), reason="no digit limit")
    @pytest.mark.parametrize(
        "line", ["x = " + "1" * 5000, "[plugin.requires]\nhello = 1" + "0" * 5000]
    )
    def test_integer_over_int_digit_limit(self, line: str) -> None:
        """An integer of 5,000 digits (which int() refuses on its own) is invalid TOML."""
        err = refused(f"[plugin]\n{line}\n")
        # The interpreter's words follow, and differ between versions (3.10: "(4300) for").
        assert err.reason.startswith("invalid TOML: Exceeds the limit (4300")

    def test_version_disagreement_shows_both(self) -> None:
        """A manifest version differing from the distribution's names both."""
        err = refused('[plugin]\nversion = "1.2.0"\n', dist="1.1")
        assert "'1.2.0'" in err.reason
        assert "'1.1'" in err.reason

    def test_plugin_is_the_declared_name(self) -> None:
        """Once the manifest names the plugin, errors carry that normalized name."""
        err = refused('[plugin]\nname = "Other_One"\nhost = "?"\n')
        assert err.plugin == "other-one"

    def test_too_large(self) -> None:
        """Data beyond ``max_size`` is refused before it is parsed."""
        with pytest.raises(ManifestError, match="larger than the limit of 10 bytes") as info:
            Manifest.from_toml(
                b"[plugin]\n# comment\n", path=PATH, default_name="p", dist_version="1", max_size=10
            )
        assert (info.value.path, info.value.plugin, info.value.key) == (PATH, "p", None)

    def test_dev_release_dist_version(self) -> None:
        """A dev release is not its release: a manifest naming the release disagrees."""
        err = refused('[plugin]\nversion = "1.0.0"\n', dist="1.0.0.dev1")
        assert err.key == "plugin.version"
        assert "disagrees" in err.reason

    def test_invalid_entry_point_name(self) -> None:
        """Without a manifest name, an invalid entry-point name is refused on key ``name``."""
        err = refused("[plugin]\n", name="x/y")
        assert err.key == "name"
        assert "entry-point name 'x/y'" in err.reason

    def test_message_names_file_and_key(self) -> None:
        """The message reads ``path: plugin 'p': reason (key 'k')``."""
        err = refused("[plugin.requires]\nhello = 3\n")
        assert str(err) == (
            f"{PATH}: plugin 'polite': must be a string, not an integer "
            "(key 'plugin.requires.hello')"
        )

    def test_cause_kept(self) -> None:
        """Translated errors keep the original as their cause."""
        assert isinstance(refused(b"\xfe").__cause__, UnicodeDecodeError)
        assert isinstance(refused("[").__cause__, tomllib.TOMLDecodeError)
        assert isinstance(refused("[plugin]\nhost = '?'").__cause__, VersionError)

    @pytest.mark.parametrize(
        "data",
        [
            "a = " + "[" * 25_000 + "]" * 25_000,
            "a = " + "{b=" * 10_000 + "1" + "}" * 10_000,
            "[plugin]\nversion = " + "[" * 50_000,
        ],
    )
    def test_deep_nesting(self, data: str) -> None:
        """TOML nested deeper than the parser can recurse is a ManifestError, not a crash."""
        err = refused(data)
        assert err.reason == "invalid TOML: nested too deeply"
        assert err.key is None
        assert isinstance(err.__cause__, RecursionError)

    def test_nested_value_not_printed(self) -> None:
        """A deeply nested value at a string key is described by type, never printed."""
        err = refused("[plugin]\nversion = " + "[" * 300 + "]" * 300)
        assert err.reason == "must be a string, not an array"

    def test_long_value_shortened(self) -> None:
        """Huge strings are cut short in messages."""
        err = refused(f'[plugin]\nname = "{"x" * 5000}!"\n')
        assert len(str(err)) < 400


# -- fuzzing ---------------------------------------------------------------------------------------

KEYS = ("plugin", "name", "version", "host", "requires", "optional", "hello", "polite", "Polite")
VALUES = ("polite", "hello", "1.1.0", "1.1", "^1.0", ">=0.3 || 2", "*", "", "bad name", "1!0")

keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=10))


def toml_values(*, allow_nan: bool = True) -> st.SearchStrategy[Any]:
    """Strings, numbers, booleans, arrays and tables, nested a few levels."""
    scalars = st.one_of(
        st.sampled_from(VALUES),
        st.text(max_size=20),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=allow_nan),
        st.booleans(),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)
        ),
        max_leaves=12,
    )


values = toml_values()
scalars = values.filter(lambda v: not isinstance(v, (list, dict)))
documents = st.dictionaries(keys, values, max_size=3)
plugin_tables = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.sampled_from(VALUES), scalars),
        "version": st.one_of(st.sampled_from(VALUES), scalars),
        "host": st.one_of(st.sampled_from(VALUES), scalars),
        "requires": st.dictionaries(keys, st.one_of(st.sampled_from(VALUES), values), max_size=3),
        "optional": st.dictionaries(keys, st.one_of(st.sampled_from(VALUES), values), max_size=3),
    },
)
plugin_documents = plugin_tables.map(lambda table: {"plugin": table})

valid_names = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True)
valid_constraints = st.sampled_from(["*", "^1.0", "~0.3", ">=1, <2", "1.x || >=3.0.0-rc.1"])


def toml_key(key: str) -> str:
    """A TOML key, bare where it can be."""
    bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
    return key if bare else toml_string(key)


def toml_string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, but DEL must be escaped too."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    """A TOML value; tables nested in values are inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(table: dict[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """A TOML document: plain entries first, then each sub-table as a ``[section]``."""
    lines = [
        f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)
    ]
    for key, value in table.items():
        if isinstance(value, dict):
            path = (*prefix, key)
            lines += [f"[{'.'.join(map(toml_key, path))}]", toml_document(value, path)]
    return "\n".join(lines) + "\n"


def distinct(entries: dict[str, str], taken: set[PluginName]) -> dict[str, str]:
    """The entries whose normalized names are not ``taken``, adding them to it."""
    kept = {}
    for key, value in entries.items():
        if plugin_name(key) not in taken:
            taken.add(plugin_name(key))
            kept[key] = value
    return kept


def parse_or_refuse(data: bytes) -> Manifest | None:
    """The manifest, or None when refused with a ManifestError naming ``PATH``; nothing else."""
    error = None
    try:
        return Manifest.from_toml(data, path=PATH, default_name="polite", dist_version="1.1")
    except ManifestError as err:
        error = err
    assert error.path == PATH
    assert PATH in str(error)
    return None


class TestTomlWriter:
    @given(st.dictionaries(keys, toml_values(allow_nan=False), max_size=4))
    def test_round_trip(self, table: dict[str, Any]) -> None:
        """The tests' tiny TOML writer produces what tomllib reads back (NaN aside)."""
        assert tomllib.loads(toml_document(table)) == table


class TestManifestFuzz:
    @given(st.binary(max_size=300))
    def test_arbitrary_bytes(self, data: bytes) -> None:
        """Arbitrary bytes give a Manifest or a ManifestError, nothing else."""
        parse_or_refuse(data)

    @given(st.lists(st.sampled_from(["[plugin]", "[plugin.requires]", "\n", "=", '"', "[", "]",
                                     "{", "}", ",", "name", "version", "host", "1.0", "^1",
                                     "'", "\\", "#", " ", "\xe9", "\x00"])))  # fmt: skip
    def test_toml_ish_text(self, pieces: list[str]) -> None:
        """Text made of manifest fragments gives a Manifest or a ManifestError, nothing else."""
        parse_or_refuse("".join(pieces).encode())

    @given(st.one_of(documents, plugin_documents))
    def test_arbitrary_documents(self, document: dict[str, Any]) -> None:
        """Any well-formed TOML document gives a Manifest or a ManifestError, nothing else."""
        manifest = parse_or_refuse(toml_document(document).encode())
        if manifest is not None:
            assert set(document) == {"plugin"}
            assert manifest.name not in {**manifest.requires, **manifest.optional}
            assert not manifest.requires.keys() & manifest.optional.keys()

    @given(
        valid_names,
        st.dictionaries(valid_names, valid_constraints, max_size=3),
        st.dictionaries(valid_names, valid_constraints, max_size=3),
    )
    def test_valid_documents(
        self, name: str, requires: dict[str, str], optional: dict[str, str]
    ) -> None:
        """A valid generated manifest is read back with its normalized names and constraints."""
        taken = {plugin_name(name)}
        requires, optional = distinct(requires, taken), distinct(optional, taken)
        table = {"name": name, "version": "1.1.0", "requires": requires, "optional": optional}
        manifest = parse(toml_document({"plugin": table}))
        assert manifest.name == plugin_name(name)
        assert manifest.requires == {
            plugin_name(k): Constraint.parse(v) for k, v in requires.items()
        }
        assert manifest.optional == {
            plugin_name(k): Constraint.parse(v) for k, v in optional.items()
        }
