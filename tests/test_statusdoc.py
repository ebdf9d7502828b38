"""Tests for the status document: how problems are written as JSON."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path

from conftest import greet_code

from pluginhost import Event, PluginHost
from pluginhost.host.statusdoc import document, event_json, problem_json
from pluginhost.model.problems import Problem, ProblemKind, Requirement
from pluginhost.state.bounds import bound_strings, bound_text
from pluginhost.state.store import canonical
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]


class TestProblemJson:
    def test_requirement_as_fields(self) -> None:
        """A problem's requirement is written field by field, as plain JSON."""
        requirement = Requirement("polite", "1.1.0", "hello", "^2.0", ("1.2.0",), "1.2.0")
        problem = Problem(
            ProblemKind.UNSATISFIABLE,
            "polite",
            "polite 1.1.0 requires hello ^2.0, available: hello 1.2.0",
            involved=("hello",),
            version="1.1.0",
            requirement=requirement,
        )
        written = json.loads(json.dumps(problem_json(problem)))
        assert written["involved"] == ["hello"]
        assert written["requirement"] == {
            "plugin": "polite",
            "version": "1.1.0",
            "requires": "hello",
            "constraint": "^2.0",
            "available": ["1.2.0"],
            "chosen": "1.2.0",
        }

    def test_no_requirement(self) -> None:
        """A problem without a requirement writes null for it."""
        problem = Problem(ProblemKind.CYCLE, "a", "a 1.0.0 is in a dependency cycle: a -> a")
        assert problem_json(problem)["requirement"] is None


class TestBounds:
    def test_huge_requires_dist_keeps_the_documents_small(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A wheel with a ``Requires-Dist`` of 800 kB quoted by its refusal adds kilobytes, not
        hundreds, to status.json and to the audit log (its METADATA is under the 1 MiB
        ``WheelLimits.max_metadata_size``, so it is parsed and the line is quoted)."""
        factory.build("hello", code=greet_code("hi"))
        factory.build("huge", requires_dist=["huge-dep-" + secrets.token_hex(400_000)])
        host = make_host()
        assert host.hook.greet(name="x") == ["hi"]
        home = tmp_path / "home"
        assert (home / "status.json").stat().st_size < 200_000
        assert (home / "audit.log").stat().st_size < 50_000
        status = json.loads((home / "status.json").read_text())["data"]
        assert any(
            "more characters cut; sha256 of the whole" in json.dumps(p) for p in status["problems"]
        )


class TestBoundStrings:
    def test_every_string_at_any_depth(self) -> None:
        """Strings in lists and dicts, keys included, are bounded; other values are kept."""
        data = {"k" * 10: ["v" * 10, {"n": 5, "s": "s" * 10}], "b": None}
        bounded = bound_strings(data, 4)
        (key,) = [k for k in bounded if k != "b"]
        assert key.startswith("kkkk… [6 more characters cut")
        assert bounded[key][0].startswith("vvvv… [6 more")
        assert bounded[key][1]["n"] == 5
        assert bounded["b"] is None

    def test_short_strings_unchanged(self) -> None:
        """Text within the bound is kept as it is."""
        assert bound_text("x" * 2048) == "x" * 2048


class TestEvents:
    def test_the_recent_events_as_emitted(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path, events: list[Event]
    ) -> None:
        """The document ends with the host's latest events, each described once."""
        factory.build("p0", code=greet_code("0"))
        host = make_host()
        outside = WheelFactory(tmp_path / "outside", group="greeter.plugins")
        host.install(outside.build("p0", "1.1.0", code=greet_code("new")))
        shown = json.loads((tmp_path / "home" / "status.json").read_text())["data"]["events"]
        assert shown == [event_json(e) for e in events][-len(shown) :]
        assert shown[-1]["text"] == events[-1].describe()
        assert "1.1.0" in " ".join(e["text"] for e in shown)


class TestIncrementalText:
    def test_long_field_of_an_entry_is_bounded(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """An entry with a field longer than the bound (a failed plugin's error quoting 5,000
        characters) is written bounded, byte for byte as bounding the whole document would
        write the plugins."""
        factory.build("p0", code=greet_code("0"))
        factory.build("loud", code=f"raise RuntimeError({'x' * 5000!r})\n")
        host = make_host()
        written = (tmp_path / "home" / "status.json").read_text()
        entry = json.loads(written)["data"]["plugins"]["loud"]
        assert len(entry["error"]) < 2500
        assert "more characters cut; sha256 of the whole" in entry["error"]
        plugins = bound_strings(document(host, [], plugins=True))["plugins"]
        assert f'"plugins":{canonical(plugins)}' in written

    def test_same_document_as_encoding_it_whole(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """Change after change (loads, an update, a removal, a failure), status.json holds byte
        for byte the canonical JSON of the whole document, though unchanged plugins' entries
        are reused."""
        for index in range(4):
            factory.build(f"p{index}", code=greet_code(str(index)))
        host = make_host()
        outside = WheelFactory(tmp_path / "outside", group="greeter.plugins")
        doc = tmp_path / "home" / "status.json"

        def whole() -> None:
            written = doc.read_text()
            data = json.loads(written)["data"]
            expected = document(host, [], plugins=True)
            # The time and the recent events are the writer's own, not the document's.
            expected["updated"], expected["events"] = data["updated"], data["events"]
            assert f'"data": {canonical(bound_strings(expected))}}}' in written

        whole()
        host.install(outside.build("p1", "1.1.0", code=greet_code("new")))
        whole()
        host.remove("p2")
        whole()
        factory.build("needy", requires={"absent": "^1.0"})
        host.install(outside.build("p3", "1.2.0", code=greet_code("newer")))
        whole()
        payload = json.loads(doc.read_text())["data"]
        assert set(payload["plugins"]) == {"p0", "p1", "p3", "needy"}
        assert payload["plugins"]["needy"]["state"] == "failed"
        assert payload["plugins"]["p1"]["version"] == "1.1.0"
        assert [h["version"] for h in payload["plugins"]["p1"]["history"]] == ["1.0.0", "1.1.0"]
