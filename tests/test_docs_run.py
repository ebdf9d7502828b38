"""The README and the tutorials run as written: every code block, in order, in a fresh folder.

What each fenced block is, and what is done with it:

- ``python`` or ``toml`` whose first line is a comment naming a path (``# src/pkg/__init__.py``):
  a file of the reader's project. It is written there (later blocks may rewrite it), and
  compiled (Python) or parsed (TOML).
- another ``python`` block: run, in one interpreter per page whose names carry over from block
  to block, as a reader pasting the blocks into one session would. Its printed output is kept.
- ``console``: each line is run by ``bash`` in the folder, with this Python first on ``PATH``.
- ``toml`` without a path: parsed.
- ``text``: an illustration (a folder tree), not run; unless it is an output block (below).

Two HTML comments, invisible on the rendered page, go on the line before a block:

- ``<!-- docs: output -->``: the block is the output of the block before it, compared line by
  line with what that block printed (stdout), after normalising what differs from run to run:
  the fresh folder's path is removed (``/tmp/xyz/wheels/a.whl`` reads ``wheels/a.whl``),
  durations ``0.52s`` read ``0.00s``, clock times ``14:03:59`` read ``00:00:00``, ``pid 123``
  reads ``pid 0``, and trailing spaces go.
- ``<!-- docs: skip (why) -->``: not run, and the reason is required (the README's quickstart
  installs the package, which the test environment has already done).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import attrs
import pytest

from pluginhost.cli.build import build_wheel

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", "docs/host-tutorial.md", "docs/plugin-tutorial.md"]

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_MARKER = re.compile(r"<!-- docs: (?P<what>skip|output)(?: \((?P<why>[^)]+)\))? -->\s*$")
_FILE = re.compile(r"#\s*(?P<path>[\w./-]+\.(?:py|toml))\s*$")


@attrs.frozen
class Block:
    page: str
    line: int
    lang: str
    body: str
    marker: str | None
    why: str | None

    @property
    def path(self) -> str | None:
        """The project file this block is, when its first line names one."""
        if self.lang not in {"python", "toml"}:
            return None
        match = _FILE.fullmatch(self.body.split("\n", 1)[0])
        return match["path"] if match else None

    def __str__(self) -> str:
        return f"{self.page}:{self.line} ({self.lang})"


def blocks(page: str) -> list[Block]:
    text = (ROOT / page).read_text("utf-8")
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        found.append(
            Block(
                page,
                text.count("\n", 0, match.start()) + 1,
                match["lang"],
                textwrap.dedent(match["body"]),
                marker["what"] if marker else None,
                marker["why"] if marker else None,
            )
        )
    return found


def normalise(text: str, folder: Path) -> list[str]:
    text = text.replace(f"{folder}/", "").replace(str(folder), ".")
    text = re.sub(r"\b\d+\.\d+s\b", "0.00s", text)
    text = re.sub(r"\b\d\d:\d\d:\d\d\b", "00:00:00", text)
    text = re.sub(r"\bpid \d+", "pid 0", text)
    return [line.rstrip() for line in text.strip("\n").splitlines()]


_SESSION = r"""
import contextlib, io, json, sys, traceback
namespace = {"__name__": "__main__"}
for line in sys.stdin:
    out = io.StringIO()
    error = None
    with contextlib.redirect_stdout(out):
        try:
            exec(compile(json.loads(line), "<doc block>", "exec"), namespace)
        except BaseException:
            error = traceback.format_exc()
    print(json.dumps({"out": out.getvalue(), "error": error}), flush=True)
"""


class Session:
    """One interpreter for the Python blocks of a page: names carry over from block to block."""

    def __init__(self, folder: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SESSION],
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=_env(folder),
        )

    def run(self, code: str) -> tuple[str, str | None]:
        stdin: IO[str] | None = self.proc.stdin
        assert stdin is not None
        assert self.proc.stdout is not None
        stdin.write(json.dumps(code) + "\n")
        stdin.flush()
        reply = json.loads(self.proc.stdout.readline() or '{"out": "", "error": "died"}')
        return reply["out"], reply["error"]

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self.proc.wait(timeout=60)


def _env(folder: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    # A pytest run by a page gets a temp root of its own: in the shared one it would clean up,
    # and warn about, the temp folders of the pytest running this test.
    temp_root = folder.parent / "pytest-root"
    temp_root.mkdir(exist_ok=True)
    path = os.pathsep.join([bin_dir, env.get("PATH", "")])
    return dict(env, PATH=path, NO_COLOR="1", PYTEST_DEBUG_TEMPROOT=str(temp_root))


def run_console(body: str, folder: Path) -> tuple[str, str | None]:
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", body],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(folder),
        check=False,
    )
    error = None if proc.returncode == 0 else f"exit {proc.returncode}\n{proc.stderr}"
    return proc.stdout, error


def run_block(block: Block, folder: Path, session: Session) -> tuple[str, str | None]:
    """Do what ``block`` says; returns what it printed and its error, if any."""
    if block.path is not None:
        target = folder / block.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.body, "utf-8")
        return "", _check_file(block)
    if block.lang == "python":
        return session.run(block.body)
    if block.lang == "console":
        return run_console(block.body, folder)
    if block.lang == "toml":
        return "", _check_file(block)
    return "", None  # text: an illustration


def _check_file(block: Block) -> str | None:
    try:
        if block.lang == "toml":
            tomllib.loads(block.body)
        else:
            compile(block.body, block.path or "<doc block>", "exec")
    except (SyntaxError, tomllib.TOMLDecodeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def walk(page: str, folder: Path) -> Iterator[tuple[Block, str, str | None, Block | None]]:
    """Run the page's blocks in order; yield each run block, its output, error, output block."""
    found = blocks(page)
    session = Session(folder)
    try:
        for i, block in enumerate(found):
            if block.marker in {"skip", "output"}:
                continue
            shown = found[i + 1] if i + 1 < len(found) else None
            out, error = run_block(block, folder, session)
            yield block, out, error, shown if shown and shown.marker == "output" else None
    finally:
        session.close()


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_as_written(page: str, tmp_path: Path) -> None:
    """Every block of the page runs without error, and prints what the page shows."""
    folder = tmp_path / "reader"
    folder.mkdir()
    ran = 0
    for block, out, error, shown in walk(page, folder):
        assert error is None, f"{block} failed:\n{error}"
        ran += 1
        if shown is not None:
            assert normalise(out, folder) == normalise(shown.body, folder), f"output of {block}"
    assert ran > 0


def test_the_readme_plugin_builds_and_passes_inspection(tmp_path: Path) -> None:
    """The plugin project the README's files make builds with its own backend (flit_core
    refused it without a description) into a wheel that ships its manifest."""
    folder = tmp_path / "reader"
    folder.mkdir()
    for block in blocks("README.md"):
        if block.path is not None and block.path.startswith(("pyproject", "polite_plugin/")):
            target = folder / block.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.body, "utf-8")
    wheel = build_wheel(folder, tmp_path / "dist")
    assert wheel.name == "polite_plugin-1.1.0-py3-none-any.whl"
    argv = [sys.executable, "-m", "pluginhost", "inspect", str(wheel)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "polite_plugin/plugin.toml" in done.stdout


@pytest.mark.parametrize("page", PAGES)
def test_markers_are_explained(page: str) -> None:
    """A skipped block says why; an output block follows a block that runs."""
    found = blocks(page)
    for i, block in enumerate(found):
        if block.marker == "skip":
            assert block.why, f"{block} is skipped without a reason"
        if block.marker == "output":
            assert i > 0, f"{block} is output of nothing"
            assert found[i - 1].lang in {"python", "console"}, f"{block} follows no run block"


class TestHarness:
    def test_parses_markers_and_files(self, tmp_path: Path) -> None:
        """Markers, file blocks and output blocks are told apart; normalising removes noise."""
        page = tmp_path / "page.md"
        page.write_text(
            "<!-- docs: skip (installs) -->\n```console\npip install x\n```\n\n"
            "```python\n# pkg/mod.py\nX = 1\n```\n\n```python\nprint('hi')\n```\n"
            "<!-- docs: output -->\n```text\nhi\n```\n"
        )
        found = blocks(str(page))
        assert [(b.lang, b.marker, b.why, b.path) for b in found] == [
            ("console", "skip", "installs", None),
            ("python", None, None, "pkg/mod.py"),
            ("python", None, None, None),
            ("text", "output", None, None),
        ]
        assert normalise(f"{tmp_path}/w.whl 12:01:02 pid 42 in 1.25s  \n", tmp_path) == [
            "w.whl 00:00:00 pid 0 in 0.00s"
        ]

    def test_mismatch_is_caught(self, tmp_path: Path) -> None:
        """A block whose output differs from the page's is reported (the test can fail)."""
        page = tmp_path / "page.md"
        page.write_text(
            "```python\nprint('hello')\n```\n<!-- docs: output -->\n```text\nbye\n```\n"
        )
        ((_block, out, error, shown),) = list(walk(str(page), tmp_path))
        assert error is None
        assert shown is not None
        assert normalise(out, tmp_path) != normalise(shown.body, tmp_path)
