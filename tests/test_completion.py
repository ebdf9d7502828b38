"""Shell completion scripts, generated from the parser; bash's run by a real bash."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pluginhost.cli.completion import commands, script
from pluginhost.cli.main import _parser


def complete_bash(tmp_path: Path, *words: str) -> list[str]:
    """What bash offers after ``pluginhost WORDS...`` (the last word is the one completed)."""
    source = tmp_path / "pluginhost.bash"
    source.write_text(script(_parser(), "bash"))
    quoted = " ".join(f"'{w}'" for w in ("pluginhost", *words))
    line = (
        f"source {source}; COMP_WORDS=({quoted}); COMP_CWORD={len(words)}; "
        'cd "$1"; _pluginhost; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    proc = subprocess.run(
        ["bash", "-c", line, "bash", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return proc.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")
class TestBash:
    def test_commands(self, tmp_path: Path) -> None:
        """A command's first letters complete to the command."""
        assert complete_bash(tmp_path, "ins") == ["inspect"]
        assert "completion" in complete_bash(tmp_path, "")

    def test_options(self, tmp_path: Path) -> None:
        """After a command, its own options complete, and only its."""
        offered = complete_bash(tmp_path, "run", "--")
        assert {"--config", "--json", "--verbose", "--quiet"} <= set(offered)
        assert "--home" not in offered

    def test_choices_and_files(self, tmp_path: Path) -> None:
        """Fixed choices complete from the list; other values complete as files."""
        assert complete_bash(tmp_path, "completion", "f") == ["fish"]
        (tmp_path / "hello-1.0.0-py3-none-any.whl").write_bytes(b"")
        assert complete_bash(tmp_path, "inspect", "hel") == ["hello-1.0.0-py3-none-any.whl"]


class TestScripts:
    def test_every_command_in_every_shell(self) -> None:
        """Each shell's script names every command the parser has."""
        parser = _parser()
        _, found = commands(parser)
        for shell in ("bash", "zsh", "fish"):
            text = script(parser, shell)
            assert all(c.name in text for c in found), shell
        assert len(found) >= 14

    @pytest.mark.parametrize("shell", ["zsh", "fish"])
    def test_syntax(self, shell: str) -> None:
        """The zsh and fish scripts parse in their shell, where it is installed."""
        if shutil.which(shell) is None:
            pytest.skip(f"no {shell} here")
        flag = ["-n"] if shell == "zsh" else ["--no-execute"]
        text = script(_parser(), shell)
        proc = subprocess.run(
            [shell, *flag], input=text, text=True, capture_output=True, check=False
        )
        assert proc.returncode == 0, proc.stderr

    def test_command_prints_it(self) -> None:
        """`pluginhost completion bash` prints the script, which bash accepts."""
        proc = subprocess.run(
            [sys.executable, "-m", "pluginhost", "completion", "bash"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert proc.stdout == script(_parser(), "bash")
        if shutil.which("bash"):
            subprocess.run(["bash", "-n"], input=proc.stdout, text=True, check=True)
