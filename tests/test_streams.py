"""The command line's output escapes what its encoding cannot write (cli/streams.py)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from pluginhost.cli.streams import escaped_output
from pluginhost.testing import WheelFactory


def test_a_lone_surrogate_is_escaped_within_the_block() -> None:
    """A strict UTF-8 stream writes a lone surrogate as its escape inside the block, and is
    strict again after it."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    with escaped_output(stream):
        stream.write("hello-1.0.0-1\udcff.whl\n")
    assert raw.getvalue() == b"hello-1.0.0-1\\udcff.whl\n"
    assert stream.errors == "strict"


def test_a_wheel_named_with_a_byte_that_is_not_utf8(tmp_path: Path) -> None:
    """``pluginhost inspect`` of a wheel whose name holds a byte that is not UTF-8, under a
    UTF-8 stdout: the name is printed escaped; it ended in an internal error
    (UnicodeEncodeError: surrogates not allowed), as list, status and audit of a home
    serving it did."""
    built = WheelFactory(tmp_path / "w", group="greeter.plugins").build("hello", filename="t.whl")
    name = os.fsencode(tmp_path / "w") + b"/hello-1.0.0-1\xff-py3-none-any.whl"
    os.rename(built, name)
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pluginhost", "inspect", os.fsdecode(name)],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert b"internal error" not in proc.stderr
    assert b"hello-1.0.0-1\\udcff-py3-none-any.whl: ok" in proc.stdout
