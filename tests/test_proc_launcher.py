"""Workers are forked by one long-lived launcher thread, also in a forked host."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


class TestLauncher:
    def test_a_forked_host_starts_workers_from_a_launcher_of_its_own(self, tmp_path: Path) -> None:
        """After os.fork, the child starts workers (its parent's launcher thread is not in it)."""
        (tmp_path / "plug.py").write_text(
            "import pluggy\nclass P:\n    @pluggy.HookimplMarker('demo')\n"
            "    def ping(self):\n        return 'pong'\nplugin = P()\n",
            "utf-8",
        )
        script = textwrap.dedent(f"""
            import os, sys, warnings
            warnings.simplefilter("ignore")  # 3.12+ warns about forking a threaded process
            from pluginhost.proc.worker import Worker, WorkerSpec
            spec = WorkerSpec("p", "demo", "g", (("main", "plug:plugin"),), ({str(tmp_path)!r},))
            Worker.start(spec).stop()
            pid = os.fork()
            if pid == 0:
                worker = Worker.start(spec, start_timeout=20)
                answer = worker.call("ping", {{}})
                worker.stop()
                os._exit(0 if answer == "pong" else 1)
            _, status = os.waitpid(pid, 0)
            sys.exit(os.waitstatus_to_exitcode(status))
        """)
        done = subprocess.run([sys.executable, "-c", script], timeout=60, check=False)
        assert done.returncode == 0
