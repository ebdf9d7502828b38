"""What the CLI's commands share: aligned tables, JSON output, the home a command works on, and
text made safe for a terminal."""

from __future__ import annotations

import argparse
import json
import logging
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from pluginhost.cli.common import (
    PrintableFormatter,
    UsageError,
    home,
    print_json,
    printable,
    table,
)


def namespace(home: Path | None = None, config: Path | None = None) -> argparse.Namespace:
    return argparse.Namespace(home=home, config=config)


class TestTable:
    def test_columns_aligned(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Every column but the last is padded to its widest cell; no line ends in spaces."""
        table([["NAME", "VERSION", "ORIGIN"], ["hello", "1.0.0", "/w/a.whl"], ["x", "2", ""]])
        assert capsys.readouterr().out.splitlines() == [
            "NAME   VERSION  ORIGIN",
            "hello  1.0.0    /w/a.whl",
            "x      2",
        ]


class TestPrintJson:
    def test_keeps_key_order(self, capsys: pytest.CaptureFixture[str]) -> None:
        """JSON comes out indented, its schema version first, then the keys in the order the
        command built them."""
        print_json({"b": 1, "a": [2]})
        out = capsys.readouterr().out
        assert out == '{\n  "schema": 1,\n  "b": 1,\n  "a": [\n    2\n  ]\n}\n'
        assert json.loads(out) == {"schema": 1, "b": 1, "a": [2]}


class TestHome:
    def test_home_given(self, tmp_path: Path) -> None:
        """--home is taken as it is, without reading any config."""
        assert home(namespace(home=tmp_path / "h")) == tmp_path / "h"

    def test_home_of_config(self, tmp_path: Path) -> None:
        """--config gives the home its file names, relative to the file."""
        config = tmp_path / "pluginhost.toml"
        config.write_text('[pluginhost]\nproject = "greeter"\nhome = "state"\n')
        assert home(namespace(config=config)) == tmp_path / "state"

    def test_default_config(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without --home or --config, ./pluginhost.toml names the home."""
        (tmp_path / "pluginhost.toml").write_text('[pluginhost]\nproject = "greeter"\nhome = "h"\n')
        monkeypatch.chdir(tmp_path)
        assert home(namespace()).resolve() == (tmp_path / "h").resolve()

    def test_default_config_of_another_user_is_refused(self, tmp_path: Path) -> None:
        """A ./pluginhost.toml that another user owns, or that others may write, is refused by
        the read-only commands too, naming the file (attack probe 12's F5): it names the home
        whose documents they read and trust."""
        if os.geteuid() != 0:
            pytest.skip("needs root, to give a file to another user")
        try:
            mallory = pwd.getpwnam("mallory").pw_uid
        except KeyError:
            mallory = 54321  # no account needed: a file can belong to any uid
        config = tmp_path / "pluginhost.toml"
        config.write_text('[pluginhost]\nproject = "greeter"\nhome = "h"\n')
        for owner, mode, reason in (
            (mallory, 0o644, f"is owned by uid {mallory}"),
            (0, 0o666, "is writable by group and others"),
        ):
            os.chown(config, owner, -1)
            config.chmod(mode)
            argv = [sys.executable, "-m", "pluginhost", "list"]
            done = subprocess.run(
                argv, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
            )
            assert done.returncode != 0
            expected = f"{config}: config file refused by strict_modes: {config} {reason}"
            assert expected in done.stderr, done.stderr

    def test_no_home(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With no home, no config and no ./pluginhost.toml, it is a usage error."""
        monkeypatch.chdir(tmp_path)
        with pytest.raises(UsageError, match="no home given"):
            home(namespace())


def test_printable_escapes_control_characters() -> None:
    """Newlines too: a wheel's file name may hold one (Linux allows it), and printed as it is
    it made a line of its own (``pluginhost: all plugins verified OK``)."""
    text = "a\x1b]0;title\x07\x1b[2J\x9b31m\x7f\x00\tb\nc é ✓"
    expected = "a\\x1b]0;title\\x07\\x1b[2J\\x9b31m\\x7f\\x00\\x09b\\x0ac é ✓"
    assert printable(text) == expected


def test_log_lines_are_printable() -> None:
    """The message is one line; a traceback after it keeps its lines."""
    record = logging.LogRecord(
        "pluginhost", logging.WARNING, "f", 1, "yanked: %s", ("\x1b[2J\nforged",), None
    )
    line = PrintableFormatter("%(levelname)s: %(message)s").format(record)
    assert line == "WARNING: yanked: \\x1b[2J\\x0aforged"
    try:
        raise ValueError("\x1b[31m")
    except ValueError:
        record.exc_info = sys.exc_info()
    text = PrintableFormatter("%(message)s").format(record)
    assert "\x1b" not in text
    assert text.count("\n") >= 2  # the traceback's lines


def test_table_pads_what_it_prints(capsys: pytest.CaptureFixture[str]) -> None:
    table([["NAME", "STATE"], ["a\x1b[2Jb", "active"], ["c", "failed"]])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["NAME       STATE", "a\\x1b[2Jb  active", "c          failed"]


def test_a_hostile_file_name_does_not_reach_the_terminal(tmp_path: Path) -> None:
    """A refused wheel's name, printed by ``inspect``, with escape sequences that would clear
    the screen and print a forged line in colour: shown escaped."""
    name = "x\x1b]0;PWNED\x07\x1b[2J\x1b[31mFAKE: all plugins verified OK\x1b[0m.whl"
    (tmp_path / name).write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    argv = [sys.executable, "-m", "pluginhost", "inspect", str(tmp_path / name)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert "\x1b" not in done.stdout + done.stderr
    assert "\x07" not in done.stdout + done.stderr
    assert "x\\x1b]0;PWNED\\x07\\x1b[2J" in done.stdout + done.stderr
