"""The README's host-author example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_host_author_example(tmp_path: Path) -> None:
    """The host example starts a host on an empty wheel folder and answers a hook call."""
    example = next(b for b in python_blocks() if "PluginHost(" in b)
    (tmp_path / "wheels").mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", example],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "[]"
    assert (tmp_path / "greeter-home" / "site").is_dir()
