"""The command line of the host's helper processes: a fresh, isolated interpreter that finds
this very pluginhost whatever the environment and the current folder say."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import msgspec

from pluginhost.install.writer_messages import PROTOCOL, WriterReady
from pluginhost.model.interpreter import fresh_interpreter
from pluginhost.state.frames import read_frame


def test_isolated_and_finds_this_pluginhost(tmp_path: Path) -> None:
    """Run from another folder, with PYTHONPATH naming a decoy ``pluginhost`` (ignored under
    -I, and behind the root put first anyway): the site writer started this way is this
    pluginhost's, and greets with its protocol."""
    decoy = tmp_path / "decoy" / "pluginhost"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise SystemExit('the decoy was imported')\n")
    command = fresh_interpreter("pluginhost.install.writer_child")
    assert command[1] == "-I"
    env = {**os.environ, "PYTHONPATH": str(decoy.parent)}
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=tmp_path, env=env
    ) as process:
        assert process.stdout is not None
        assert process.stdin is not None
        greeting = read_frame(process.stdout.fileno())
        process.stdin.close()
        assert process.wait(timeout=10) == 0
    assert greeting is not None
    ready = msgspec.msgpack.decode(greeting, type=WriterReady)
    assert (ready.protocol, ready.pid) == (PROTOCOL, process.pid)
