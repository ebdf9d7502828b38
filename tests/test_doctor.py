"""``pluginhost doctor`` on homes damaged the ways strict modes, site-dir RECORDs and the audit
head guard against (its lock probe is tested with HomeLock, in test_store.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import greet_code

from pluginhost import Diagnosis, Finding, HostStateError, PluginHost, StoreError
from pluginhost.host.doctor import diagnose
from pluginhost.host.homeview import read_home
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]


def problems(home: Path) -> list[str]:
    return [f.message for f in diagnose(read_home(home)) if not f.ok]


def stopped_home(make_host: MakeHost, factory: WheelFactory, tmp_path: Path) -> Path:
    factory.build("hello", code=greet_code("hi"))
    make_host().stop()
    return tmp_path / "home"


class TestDoctor:
    def test_writable_entry_deep_in_the_home(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A file others may write inside a site dir is named, not only the home's own mode."""
        home = stopped_home(make_host, factory, tmp_path)
        for folder in [home, *(p for p in home.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)
        (module,) = home.glob("site/hello-*/hello/__init__.py")
        module.chmod(0o646)
        assert problems(home) == [
            f"home refused by strict_modes: {module} is writable by others (mode 0o646; fix "
            "with chmod go-w)"
        ]

    def test_changed_site_dir(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A site dir that differs from its RECORD is named with the file and the reason."""
        home = stopped_home(make_host, factory, tmp_path)
        (module,) = home.glob("site/hello-*/hello/__init__.py")
        module.write_text("import os\n" + module.read_text())
        (message,) = problems(home)
        assert message.startswith(f"{module} changed since it was installed (size ")
        assert message.endswith("(its site dir is not imported)")

    def test_truncated_audit_log(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """Lines cut off the end of the audit log are a problem; a crash's torn line is not."""
        home = stopped_home(make_host, factory, tmp_path)
        log = home / "audit.log"
        whole = log.read_bytes()
        log.write_bytes(b"".join(whole.splitlines(keepends=True)[:-1]))
        assert problems(home) == [
            f"{log}: 1 line(s) missing at the end: audit.head records 4 lines, the log has 3 "
            "(lines removed from the end)"
        ]
        log.write_bytes(whole + b'{"action": "ins')
        assert problems(home) == []
        crash = [f for f in diagnose(read_home(home)) if "crash" in f.message]
        assert [f.ok for f in crash] == [True]


class TestRegistryCopies:
    def test_a_registry_read_from_its_backup_is_a_problem(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A damaged registry.json is named, and the host's next start repairs it: doctor said
        nothing of it, and the home had one good copy left."""
        home = stopped_home(make_host, factory, tmp_path)
        make_host().stop()  # a second commit: registry.json.bak exists
        (home / "registry.json").write_bytes((home / "registry.json").read_bytes()[:40])
        (message,) = problems(home)
        assert message.startswith("registry.json is truncated or not JSON (")
        assert message.endswith(
            f"; used {home / 'registry.json.bak'}; the next start repairs registry.json from it"
        )
        make_host().stop()
        assert problems(home) == []


class TestDiagnosis:
    def test_running_and_stopped(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """Diagnosis.read gives doctor's findings as values, on a running host's home and on a
        stopped one's."""
        factory.build("needy", "0.1.0", requires={"translator": "^2.0"})
        host = make_host()
        running = Diagnosis.read(host.home)
        assert not running.ok
        assert [f.message for f in running.problems] == [
            "needy 0.1.0 requires translator ^2.0, which is not available"
        ]
        assert any(f.check == "lock" and "pid" in f.message for f in running.findings)
        host.stop()
        stopped = Diagnosis.read(host.home)
        assert stopped.problems == running.problems
        assert Finding("lock", True, f"no host is running on {host.home}") in stopped.findings
        assert stopped.to_json()["ok"] is False


class TestLockFile:
    def test_a_lock_that_is_no_regular_file(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A directory at home/lock, which start() refuses, is a problem doctor names (it was
        taken for a home no host runs on)."""
        home = stopped_home(make_host, factory, tmp_path)
        (home / "lock").unlink()
        (home / "lock").mkdir(mode=0o700)
        report = Diagnosis.read(home)
        assert (
            Finding(
                "lock",
                False,
                f"{home / 'lock'}: cannot open the lock file: it is a directory, not a regular "
                "file: no host can lock it (remove it; a start makes a new one)",
            )
            in report.problems
        )
        with pytest.raises(HostStateError, match="it is a directory, not a regular file"):
            make_host()


class TestQuarantine:
    def test_damaged_quarantine_entries(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """An unreadable verdict and a loading marker that is a directory are named (doctor
        found no problem in either)."""
        home = stopped_home(make_host, factory, tmp_path)
        (home / "quarantine" / "bad.json").write_text("{")
        (home / "quarantine" / "loading" / "99999").mkdir()
        assert [f.message for f in Diagnosis.read(home).problems if f.check == "quarantine"] == [
            f"{home}/quarantine/bad.json: unreadable, not honoured: Expecting property name "
            "enclosed in double quotes: line 1 column 2 (char 1)",
            f"{home}/quarantine/loading/99999: loading marker is a directory, not a regular file",
        ]


class TestHomeDocuments:
    def test_a_directory_at_disabled_json(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A directory at home/disabled.json, on which start() raises, is a problem doctor
        names (it said "no problems found")."""
        home = stopped_home(make_host, factory, tmp_path)
        (home / "disabled.json").mkdir()
        assert [f.message for f in Diagnosis.read(home).problems] == [
            f"{home}/disabled.json: unusable: is unreadable (is a directory, not a regular "
            "file); backup is missing (start() refuses it)"
        ]
        with pytest.raises(StoreError, match="is a directory, not a regular file"):
            make_host()

    def test_a_site_dir_replaced_by_a_file(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A site dir of the registry with a file in its place is said to be one, not missing."""
        home = stopped_home(make_host, factory, tmp_path)
        (site,) = home.glob("site/hello-*")
        shutil.rmtree(site)
        site.write_text("")
        assert problems(home) == [
            f"site dir {site} is in the registry, but it is a regular file, not a directory "
            "(its plugin is not imported)"
        ]
