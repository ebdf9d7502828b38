"""The scripts a wheel installs (pluginhost.discover.scripts): read as installer reads
``entry_points.txt``, and refused at validation when installer could not write them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import greet_code
from hypothesis import given, settings
from hypothesis import strategies as st
from installer.utils import parse_entrypoints

from pluginhost import Event, EventKind, PluginHost
from pluginhost.discover.archive import RefusedError
from pluginhost.discover.scripts import check_scripts, read_scripts
from pluginhost.discover.wheel import inspect_wheel
from pluginhost.model.errors import WheelError
from pluginhost.model.problems import ProblemKind
from pluginhost.state.audit import AuditEntry, read_audit
from pluginhost.testing import WheelFactory
from pluginhost.testkit.archive import Draft, Member, write_archive

# Texts whose reading is easy to get wrong: installer's verdict (and scripts) is the reference.
TRICKY = {
    "plain": "[console_scripts]\nt = s1:main\n",
    "bad reference": "[console_scripts]\nt = not a ref!!\n",
    "empty name": "[console_scripts]\n = s1:main\n",
    "equals alone": "[console_scripts]\n=\n",
    "no equals": "[console_scripts]\njust words\n",
    "group twice": "[greeter.plugins]\ns1 = s1\n[greeter.plugins]\nx = y\n",
    "name twice": "[console_scripts]\nt = a:b\nt = a:c\n",
    "names differing in case": "[console_scripts]\nT = a:b\nt = a:c\n",
    "defaults join": "[DEFAULT]\nd = m:f\n[console_scripts]\nt = a:b\n",
    "defaults after": "[console_scripts]\nt = a:b\n[DEFAULT]\nd = x:y\n",
    "defaults in both": "[DEFAULT]\nd = m:f\n[console_scripts]\nt = a:b\n[gui_scripts]\ng = a:b\n",
    "defaults twice": "[DEFAULT]\nd = m:f\n[DEFAULT]\ne = m:f\n[console_scripts]\n",
    "default overridden": "[DEFAULT]\nt = a:b\n[console_scripts]\nt = c:d\n",
    "gui first": "[gui_scripts]\ng = a:b\n[console_scripts]\nc = a:b\n",
    "continued": "[console_scripts]\nt = a:b\n  c\n",
    "continued after blank": "[console_scripts]\nt = a:b\n\n  more\n",
    "indented entry": "[console_scripts]\nt = a:b\n   u = c:d\n",
    "indented header": "  [console_scripts]\nt = a:b\n",
    "indented first entry": "[console_scripts]\n  t = a:b\n",
    "comments": "[console_scripts]\n# c\n; c\n\nt = a:b\n    ; comment\n\n",
    "inline comment": "[console_scripts]\nt = a:b # comment\n",
    "crlf": "[console_scripts]\r\nt = a:b\r\n",
    "form feed": "[console_scripts]\nt = a:b\x0cu = c:d\n",
    "line separator": "[console_scripts]\nt = a:b\u2028u = c:d\n",
    "outside a group": "x = y\n[console_scripts]\n",
    "extras": "[console_scripts]\nt = a.b:c.d [extra1, extra2]\n",
    "spaced colon": "[console_scripts]\nt = a : b\n",
    "double percent": "[console_scripts]\nt = %%\n",
    "lone percent": "[console_scripts]\nt = a:b%\n",
    "percent elsewhere": "[other]\nt = a:b  # 100%\n[console_scripts]\nu = a:b\n",
    "header with tail": "[console_scripts]x\nt = a:b\n",
    "empty header": "[]\n",
    "two equals": "[console_scripts]\nt=a:b=c\n",
    "tab": "[console_scripts]\nt\t= a:b\n",
    "unicode": "[console_scripts]\nt = \u00fcn\u00ef:m\u00e4in\n",
    "empty value": "[console_scripts]\nt = \n",
    "colon in name": "[console_scripts]\nt:x = a:b\n",
    "byte order mark": "\ufeff[console_scripts]\nt = a:b\n",
    "no scripts": "[greeter.plugins]\nhello = hello\n",
}

# Texts installer takes that are refused all the same: a value it joins or interpolates.
STRICTER = {
    "extras on the next line": "[console_scripts]\nt = a:b\n  [x]\n",
    "interpolated": "[console_scripts]\na = s1:main\nb = %(a)s\n",
}


# What installer's reading of entry_points.txt turns on: groups, names, '=', indents, comments,
# line ends of every kind, '%', references and what breaks them.
PIECES = (
    "[console_scripts]",
    "[gui_scripts]",
    "[DEFAULT]",
    "[other]",
    "[",
    "]",
    "\n",
    "\r\n",
    "\x0c",
    "\u2028",
    " ",
    "\t",
    "=",
    " = ",
    ":",
    "t",
    "T",
    "a.b",
    "a:b",
    "[x]",
    "%",
    "%(t)s",
    "#",
    ";",
    "/",
    ".",
)
# Why a text installer takes may be refused all the same.
ON_PURPOSE = ("over several lines", "holds '%'", "is no file name")


def _ours_or_raise(text: str) -> list[tuple[str, str]]:
    return [(s.name, s.group) for s in read_scripts(text, "entry_points.txt")]


def _installer(text: str) -> list[tuple[str, str]] | None:
    """The scripts installer writes for ``text`` (name, group); ``None`` when it raises."""
    try:
        return [(name, f"{kind}_scripts") for name, _m, _a, kind in parse_entrypoints(text)]
    except Exception:
        return None


def _ours(text: str) -> list[tuple[str, str]] | None:
    try:
        return [(s.name, s.group) for s in read_scripts(text, "entry_points.txt")]
    except RefusedError:
        return None


class TestReadScripts:
    @pytest.mark.parametrize("text", TRICKY.values(), ids=list(TRICKY))
    def test_as_installer_reads(self, text: str) -> None:
        """Refused exactly when installer raises on the text; else the same scripts, in the
        same order."""
        assert _ours(text) == _installer(text)

    @pytest.mark.parametrize("text", STRICTER.values(), ids=list(STRICTER))
    def test_stricter_than_installer(self, text: str) -> None:
        """A script's value over several lines or holding ``%`` is refused."""
        assert _installer(text)
        assert _ours(text) is None

    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.sampled_from(PIECES), max_size=24).map("".join))
    def test_as_installer_reads_any_text(self, text: str) -> None:
        """On texts made of the pieces that matter to either reader: refused whenever
        installer raises; else the same scripts, or refused on purpose (a value over several
        lines or with '%', a name that is no file name)."""
        theirs = _installer(text)
        try:
            ours: list[tuple[str, str]] | str = _ours_or_raise(text)
        except RefusedError as exc:
            ours = str(exc)
        if theirs is None or isinstance(ours, list):
            assert ours == theirs or (theirs is None and isinstance(ours, str))
        else:
            assert any(why in ours for why in ON_PURPOSE), ours

    def test_refusal_names_line_group_and_entry(self) -> None:
        """The reason names the file, the line, the group, the name and the value."""
        text = "[greeter.plugins]\nhello = hello\n\n[console_scripts]\nt = not a ref!!\n"
        with pytest.raises(RefusedError) as caught:
            read_scripts(text, "hello-1.0.dist-info/entry_points.txt")
        assert str(caught.value) == (
            "hello-1.0.dist-info/entry_points.txt line 5: [console_scripts] 't' = "
            "'not a ref!!' is no 'module:attr' reference (installer cannot write a script for it)"
        )

    @pytest.mark.parametrize("name", ["../../escape", "a/b", "/abs", ".", "..", "x" * 300])
    def test_name_is_one_file_name(self, name: str) -> None:
        """A script's name is one file name of bin/: no path, no dot entry, not too long."""
        with pytest.raises(RefusedError, match=r"is no file name"):
            read_scripts(f"[console_scripts]\n{name} = a:b\n", "entry_points.txt")


def _refusal(factory: WheelFactory, **build: object) -> str:
    wheel = factory.build("s1", code="def main(): pass\n", **build)  # type: ignore[arg-type]
    with pytest.raises(WheelError) as caught:
        inspect_wheel(wheel)
    assert caught.value.path == str(wheel)
    assert caught.value.plugin == "s1"
    return caught.value.reason


class TestCheckScripts:
    def test_bad_reference_refused_at_validation(self, factory: WheelFactory) -> None:
        """A console script installer cannot parse refuses the wheel when it is validated."""
        reason = _refusal(factory, other_groups={"console_scripts": {"t": "not a ref!!"}})
        assert "entry_points.txt line" in reason
        assert "[console_scripts] 't' = 'not a ref!!' is no 'module:attr' reference" in reason

    def test_empty_name_refused(self, factory: WheelFactory) -> None:
        reason = _refusal(factory, other_groups={"console_scripts": {"": "s1:main"}})
        assert "in [console_scripts] has an empty name" in reason

    def test_script_and_data_script_collide(self, factory: WheelFactory) -> None:
        """A console script named as a file of ``.data/scripts/`` refuses the wheel."""
        reason = _refusal(
            factory,
            other_groups={"console_scripts": {"tool": "s1:main"}},
            files={"s1-1.0.0.data/scripts/tool": "#!python\n"},
        )
        assert "[console_scripts] 'tool' and member 's1-1.0.0.data/scripts/tool'" in reason
        assert "both install 'bin/tool'" in reason

    def test_script_and_purelib_bin_collide(self, factory: WheelFactory) -> None:
        reason = _refusal(
            factory, other_groups={"console_scripts": {"tool": "s1:main"}}, files={"bin/tool": "x"}
        )
        assert "[console_scripts] 'tool' and member 'bin/tool' both install 'bin/tool'" in reason

    def test_gui_and_console_collide(self, factory: WheelFactory) -> None:
        """One name in ``gui_scripts`` and ``console_scripts`` (or differing in case only)."""
        groups = {"console_scripts": {"t": "s1:main"}, "gui_scripts": {"T": "s1:main"}}
        reason = _refusal(factory, other_groups=groups)
        assert "[gui_scripts] 'T' and line 2: [console_scripts] 't' both install" in reason

    def test_script_where_a_member_needs_a_directory(self, factory: WheelFactory) -> None:
        reason = _refusal(
            factory,
            other_groups={"console_scripts": {"tool": "s1:main"}},
            files={"bin/tool/x.txt": "x"},
        )
        assert "installs the file 'bin/tool', a directory for member 'bin/tool/x.txt'" in reason

    def test_a_group_declared_twice(self, tmp_path: Path) -> None:
        """installer reads the whole file strictly: a group twice refuses the wheel."""
        members = [Member("s1/__init__.py", b"")]
        draft = Draft("s1", "1.0.0", "py3-none-any", "s1", members, {}, entry_points_tail="[a]\n")
        wheel = tmp_path / draft.filename
        wheel.write_bytes(write_archive(draft, {"a": {"x": "y"}, "greeter.plugins": {"s1": "s1"}}))
        with pytest.raises(WheelError, match=r"line \d+ declares the group \[a\] again"):
            inspect_wheel(wheel)

    def test_good_scripts_accepted(self, factory: WheelFactory) -> None:
        """Scripts with distinct names beside ``.data/scripts`` files pass."""
        wheel = factory.build(
            "s1",
            code="def main(): pass\n",
            other_groups={"console_scripts": {"tool": "s1:main"}, "gui_scripts": {"g": "s1:main"}},
            files={"s1-1.0.0.data/scripts/other": "#!python\n"},
        )
        assert inspect_wheel(wheel).distribution == "s1"


class TestDeepMembers:
    def test_checked_in_time_linear_in_their_length(self) -> None:
        """9,990 members of .data/scripts 500 components deep are checked against the scripts
        in well under a second (11 s before: every prefix of every name was joined, though a
        script is bin/<name>), and a member needing bin/<script> as a directory is named."""
        deep = "/".join(["d"] * 500)
        names = [f"s1-1.0.0.data/scripts/{deep}/m{i}" for i in range(9_990)]
        text = "[console_scripts]\ntool = s1:main\n"
        member = "s1-1.0.0.dist-info/entry_points.txt"
        started = time.monotonic()
        check_scripts(text, member, names)
        with pytest.raises(RefusedError) as caught:
            check_scripts(text, member, [*names, f"s1-1.0.0.data/scripts/tool/{deep}/x"])
        assert time.monotonic() - started < 2
        assert "installs the file 'bin/tool', a directory for member" in str(caught.value)


class TestInAHost:
    def test_a_colliding_script_is_refused_once(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """A wheel whose console script collides with one of its files is a wheel_invalid
        problem from the first look, never loaded, and one refusal in the audit log while
        other plugins are dropped beside it (it was an install tried again at each)."""
        wheel = factory.build(
            "s1",
            code=greet_code("s1") + "def main(): pass\n",
            other_groups={"console_scripts": {"tool": "s1:main"}},
            files={"s1-1.0.0.data/scripts/tool": "#!python\n"},
        )
        host = make_host()
        for i in range(3):
            factory.build(f"other{i}", code=greet_code(f"other{i}"))
            assert host.wait_idle(30)
        assert sorted(host.hook.greet(name="x")) == ["other0", "other1", "other2"]
        [problem] = [p for p in host.problems() if p.plugin == "s1"]
        assert problem.kind is ProblemKind.WHEEL_INVALID
        assert "'tool' and member 's1-1.0.0.data/scripts/tool' both install" in problem.message
        mine = [e for e in events if e.plugin == "s1"]
        assert [e.kind for e in mine] == [EventKind.REFUSED]
        audit = [e for e in read_audit(host.audit_log) if isinstance(e, AuditEntry)]
        assert [e.outcome for e in audit if e.origin == str(wheel)] == ["refused"]
