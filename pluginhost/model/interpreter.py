"""The command line of a fresh interpreter that runs one of pluginhost's modules: how the host
starts its helper processes (process plugins' workers, the site writer).

``-I``: no user site, no ``PYTHON*`` variables, no current directory on ``sys.path``. The child
finds this very pluginhost (installed, or an editable checkout) through its root, put first on
``sys.path``; the interpreter's own site-packages give it the dependencies. The command line
carries no secret: what a child must not show in ``ps`` goes over its stdin.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

__all__ = ["fresh_interpreter"]

_ROOT: Final = str(Path(__file__).resolve().parent.parent.parent)


def fresh_interpreter(module: str) -> list[str]:
    """``python -I -c ...`` running ``main()`` of ``module`` (a ``pluginhost.`` module)."""
    boot = f"import sys; sys.path.insert(0, {_ROOT!r}); from {module} import main; main()"
    return [sys.executable, "-I", "-c", boot]
