"""Tests for pluginhost.state.registry: the registry document and its incremental encoding."""

from __future__ import annotations

import copy
import functools
import json
import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from strategies import candidate, candidate_sets

from pluginhost import PluginHostError
from pluginhost.model.candidate import Candidate, CandidateKey
from pluginhost.model.limits import LIMIT_NAMES, ResourceLimits
from pluginhost.model.names import plugin_name
from pluginhost.model.specifiers import DistSpecifier
from pluginhost.state.dependencies import DepRecord, DepUser
from pluginhost.state.registry import Record, Registry, RegistryEncoder, RegistryFile
from pluginhost.state.store import canonical


def record(c: Candidate, *, manual: bool = False, pinned: bool = False) -> Record:
    return Record(c, f"{c.name}-{c.version}-0000", (f"{c.name}_plugin",), manual, pinned)


def registry(cands: list[Candidate], state: dict[str, object] | None = None) -> Registry:
    """The first version of each name active, the others its backups."""
    active: dict[str, Record] = {}
    history: dict[str, list[Record]] = {}
    for c in cands:
        if c.name not in active:
            active[c.name] = record(c)
        else:
            history.setdefault(c.name, []).append(record(c, manual=True))
    return Registry(
        active=tuple(active.values()),
        history={plugin_name(k): tuple(v) for k, v in history.items()},
        state={plugin_name(k): v for k, v in (state or {}).items()},
        removed=(plugin_name("gone"),),
        rejected=(CandidateKey(plugin_name("bad"), "1.0.0", "ab" * 32),),
    )


class TestRegistryEncoder:
    @settings(max_examples=60, deadline=None)
    @given(cands=candidate_sets(max_versions=3), changes=st.lists(st.integers(0, 20), max_size=4))
    def test_same_text_as_encoding_it_whole(
        self, cands: list[Candidate], changes: list[int]
    ) -> None:
        """Commit after commit, with records changing, coming and going, the text is byte for
        byte the canonical JSON of the whole document."""
        encoder = RegistryEncoder()
        current = list(cands)
        for change in [0, *changes]:
            if current and change % 3 == 1:
                current.pop(change % len(current))  # a plugin goes
            elif current and change % 3 == 2:
                current.reverse()  # the load order and the backups change
            reg = registry(current, state={"n": {"count": change}})
            assert encoder.canonical(reg) == canonical(reg.to_json())

    def test_unchanged_records_are_not_encoded_again(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A second commit encodes only the record that changed."""
        cands = [candidate(f"p{i}", "1.0.0") for i in range(5)]
        encoder = RegistryEncoder()
        first = Registry(active=tuple(record(c) for c in cands))
        encoder.canonical(first)
        second = Registry(active=(*first.active[:4], record(cands[4], manual=True, pinned=True)))
        expected = canonical(second.to_json())
        encoded: list[str] = []
        real = Record.to_json

        def counting(self: Record) -> dict[str, object]:
            encoded.append(self.candidate.name)
            return real(self)

        monkeypatch.setattr(Record, "to_json", counting)
        assert encoder.canonical(second) == expected
        assert encoded == ["p4"]

    def test_unchanged_backups_are_not_encoded_again(self) -> None:
        """The backups of a plugin, handed over as the same tuple, keep their text; a plugin
        whose backups changed is encoded again, with the one active record that changed."""
        cands = [candidate("a", "1.0.0"), candidate("b", "1.0.0")]
        encoder = RegistryEncoder()
        a_backups = (record(candidate("a", "0.9.0")),)
        first = Registry(
            active=tuple(record(c) for c in cands),
            history={plugin_name("a"): a_backups, plugin_name("b"): ()},
        )
        encoder.canonical(first)
        assert encoder.encoded == 4
        second = Registry(
            active=(first.active[0], record(candidate("b", "1.1.0"))),
            history={plugin_name("a"): a_backups, plugin_name("b"): (first.active[1],)},
        )
        assert encoder.canonical(second) == canonical(second.to_json())
        assert encoder.encoded == 2

    def test_round_trip(self, tmp_path: Path) -> None:
        """What the encoder writes reads back as the same registry."""
        reg = registry([candidate("a", "1.0.0"), candidate("a", "0.9.0"), candidate("b", "2.0.0")])
        data = json.loads(RegistryEncoder().canonical(reg))
        assert Registry.from_json(data, tmp_path) == reg

    def test_a_site_dir_of_the_wrong_type_is_unreadable(self, tmp_path: Path) -> None:
        """A record whose site dir is a number (a hand edit with its checksum made again) is an
        unreadable registry, as other wrong types are: a TypeError left the host's start."""
        data = json.loads(RegistryEncoder().canonical(registry([candidate("a", "1.0.0")])))
        data["active"][0]["site_dir"] = 5
        with pytest.raises(PluginHostError, match="registry is not readable: site_dir must be"):
            Registry.from_json(data, tmp_path)

    def test_shared_dependencies_encoded(self, tmp_path: Path) -> None:
        """The shared dependencies serving are in the text, as in the whole document's
        encoding, and read back."""
        dep = DepRecord(
            "sharedlib",
            "1.0.0",
            "ab" * 32,
            "sharedlib-1.0.0-abababab",
            ("sharedlib",),
            "sharedlib-1.0.0.dist-info",
            (DepUser("a", "1.0.0", "a 1.0.0", "sharedlib>=1"),),
        )
        reg = Registry(active=(record(candidate("a", "1.0.0")),), deps=(dep,))
        text = RegistryEncoder().canonical(reg)
        assert text == canonical(reg.to_json())
        assert Registry.from_json(json.loads(text), tmp_path) == reg
        older = reg.to_json()
        del older["deps"]  # written before shared dependencies existed: none
        assert Registry.from_json(older, tmp_path).deps == ()

    def test_held_installs_encoded_only_when_there_are_some(self, tmp_path: Path) -> None:
        """Explicit installs of plugins kept out are in the text when there are any, as in
        the whole document's encoding, and read back; a document without them reads none."""
        held = (Record(candidate("b", "1.0.0"), None, (), manual=True, pinned=True),)
        reg = Registry(active=(record(candidate("a", "1.0.0")),), held=held)
        text = RegistryEncoder().canonical(reg)
        assert text == canonical(reg.to_json())
        assert Registry.from_json(json.loads(text), tmp_path) == reg
        plain = attrs.evolve(reg, held=())
        assert "held" not in RegistryEncoder().canonical(plain)
        assert Registry.from_json(plain.to_json(), tmp_path).held == ()


class TestRegistryFile:
    def test_written_then_read_back(self, tmp_path: Path) -> None:
        """What is committed is what a restart reads; no file reads as an empty registry."""
        file = RegistryFile(tmp_path / "registry.json")
        assert file.read() == Registry()
        reg = registry([candidate("a", "1.0.0"), candidate("a", "0.9.0"), candidate("b", "2.0.0")])
        file.write(reg)
        assert RegistryFile(tmp_path / "registry.json").read() == reg

    def test_torn_file_recovered_from_backup(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A registry torn by a crash is read from the copy kept by the commit before, and the
        recovery is logged."""
        file = RegistryFile(tmp_path / "registry.json")
        first = registry([candidate("a", "1.0.0")])
        file.write(first)
        file.write(registry([candidate("a", "1.1.0")]))
        (tmp_path / "registry.json").write_text('{"format": 1, "sha')
        assert RegistryFile(tmp_path / "registry.json").read() == first
        assert "registry:" in caplog.text
        assert "and repaired registry.json from it" in caplog.text

    def test_the_next_read_finds_the_main_copy_repaired(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Once read from its backup, the registry is whole again: the next start reads the
        main copy and warns of nothing (it stayed damaged until a commit, and every start
        warned again)."""
        file = RegistryFile(tmp_path / "registry.json")
        first = registry([candidate("a", "1.0.0")])
        file.write(first)
        file.write(registry([candidate("a", "1.1.0")]))
        (tmp_path / "registry.json").write_text('{"format": 1, "sha')
        RegistryFile(tmp_path / "registry.json").read()
        caplog.clear()
        assert RegistryFile(tmp_path / "registry.json").read() == first
        assert caplog.text == ""


def _full_document() -> dict[str, Any]:
    """A registry using every field a record can have, as the encoder writes it."""
    process = candidate("a", "1.0.0", requires={"b": "^2.0"}, requires_dist=["sharedlib>=1"])
    manifest = attrs.evolve(
        process.manifest, isolation="process", resources=ResourceLimits(memory_mb=256)
    )
    needs = {plugin_name("b"): DistSpecifier("b", SpecifierSet(">=2"))}
    process = attrs.evolve(process, manifest=manifest, plugin_requires=needs)
    dep = DepRecord("sharedlib", "1.0.0", "ab" * 32, "s-1", ("sharedlib",), "s.dist-info")
    dep = attrs.evolve(dep, users=(DepUser("a", "1.0.0", "a 1.0.0", "sharedlib>=1"),))
    reg = registry([process, candidate("b", "2.0.0", installed=True), candidate("a", "0.9.0")])
    reg = attrs.evolve(reg, deps=(dep,), held=(record(candidate("c", "1.0.0")),))
    data: dict[str, Any] = json.loads(RegistryEncoder().canonical(reg))
    return data


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value under ``value``, containers included."""
    if isinstance(value, dict | list):
        for key, inner in value.items() if isinstance(value, dict) else enumerate(value):
            yield (*path, key)
            yield from _paths(inner, (*path, key))


def _same_type(written: Any, value: Any) -> bool:
    # The manifest path is null in the document, a string from a wheel.
    return type(written) is type(value) or (written is None and isinstance(value, str))


def _refusal(data: Any, path: Path) -> str | None:
    """Why the registry ``data`` is not readable; ``None`` when it is read."""
    try:
        Registry.from_json(data, path)
    except PluginHostError as exc:
        return exc.reason
    return None


#: Values of every JSON type, and of the wrong shape inside a list or an object.
WRONG: Final = [None, 7, "zz", [], {}, 1e300, -1, True, ["a", 1], {"a": None}]
#: Where null is a value as good as the type the encoder wrote (for a limit: no limit).
NULLABLE: Final = {"site_dir", "manifest_path", *LIMIT_NAMES}


class TestFieldTypes:
    def test_every_field_of_another_type_is_unreadable(self, tmp_path: Path) -> None:
        """Each field of a record (the candidate's, its origin's, a shared dependency's...)
        given a value of another type makes the registry unreadable, a PluginHostError naming
        the field: a sha256 that was a list, a Requires-Dist that was a number were taken in
        and failed the host's start with a TypeError (unhashable, or packaging's)."""
        document = _full_document()
        Registry.from_json(document, tmp_path)
        accepted = []
        for path in _paths(document):
            if path[0] == "state":
                continue  # a plugin's exported state: any JSON
            for value in WRONG:
                data = copy.deepcopy(document)
                *parents, last = path
                container = functools.reduce(operator.getitem, parents, data)
                if _same_type(container[last], value) or (value is None and last in NULLABLE):
                    continue
                container[last] = value
                refusal = _refusal(data, tmp_path)
                if refusal is None or not refusal.startswith("registry is not readable"):
                    accepted.append((path, value, refusal))
        assert accepted == [], "\n".join(map(repr, accepted))
