"""Site dirs against their RECORD: a changed, planted, missing or linked file is found, and a
host does not import such a site dir at start; with real installs and real hosts."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import greet_code

from pluginhost import Event, EventKind, PluginHost, ProblemKind, TrustError
from pluginhost.discover.archive import WheelLimits
from pluginhost.discover.candidates import candidate_from_wheel, inspect_plugin_wheel
from pluginhost.install.installer import install_wheel
from pluginhost.install.site_record import site_fault
from pluginhost.install.sites import SiteDirs
from pluginhost.state.registry import Record
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]


@pytest.fixture
def site(tmp_path: Path, wheel_factory: WheelFactory) -> Path:
    """An installed site dir holding a package ``hello`` and a data file."""
    wheel = wheel_factory.build("hello", files={"hello/data.txt": "0123456789"})
    return install_wheel(
        wheel,
        site_root=tmp_path / "site",
        staging_root=tmp_path / "staging",
        name="hello",
        version="1.0.0",
    ).path


class TestSiteFault:
    @pytest.mark.parametrize("check", ["size", "hash"])
    def test_as_installed(self, site: Path, check: str) -> None:
        """A site dir as the installer left it passes, by size and by hash."""
        assert site_fault(site, check) is None  # type: ignore[arg-type]

    def test_bytecode_caches_are_not_compared(self, site: Path) -> None:
        """``__pycache__`` folders Python writes when importing are not in RECORD, and fine."""
        (site / "hello" / "__pycache__").mkdir()
        (site / "hello" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"x")
        assert site_fault(site) is None

    def test_grown_file(self, site: Path) -> None:
        """A file longer than installed is named, with both sizes."""
        with (site / "hello" / "data.txt").open("a") as f:
            f.write("import os")
        assert site_fault(site) == (
            site / "hello" / "data.txt",
            "changed since it was installed (size 19, RECORD says 10)",
        )

    def test_same_size_edit_found_by_hash_only(self, site: Path) -> None:
        """An edit that keeps the size passes ``"size"`` and is found by ``"hash"``."""
        (site / "hello" / "data.txt").write_text("9876543210")
        assert site_fault(site, "size") is None
        assert site_fault(site, "hash") == (
            site / "hello" / "data.txt",
            "changed since it was installed (sha256 differs from RECORD's)",
        )

    def test_planted_file(self, site: Path) -> None:
        """A file no RECORD lists is named: it was not installed from the wheel."""
        (site / "sitecustomize.py").write_text("import evil\n")
        assert site_fault(site) == (
            site / "sitecustomize.py",
            "is in no RECORD: it was not installed from the wheel",
        )

    def test_missing_file(self, site: Path) -> None:
        """A file RECORD lists that is gone is named."""
        (site / "hello" / "data.txt").unlink()
        assert site_fault(site) == (site / "hello" / "data.txt", "is missing (listed in RECORD)")

    def test_file_replaced_by_a_symlink(self, site: Path, tmp_path: Path) -> None:
        """A listed file that became a symbolic link is refused, even pointing at equal bytes."""
        (tmp_path / "same").write_text("0123456789")
        (site / "hello" / "data.txt").unlink()
        (site / "hello" / "data.txt").symlink_to(tmp_path / "same")
        path, reason = site_fault(site) or (None, "")
        assert path == site / "hello" / "data.txt"
        assert reason.startswith("is not a regular file")

    def test_record_naming_a_file_outside(self, site: Path) -> None:
        """A RECORD row leading out of the site dir refuses the dir, naming the RECORD."""
        (record,) = site.glob("*.dist-info/RECORD")
        with record.open("a") as f:
            f.write("../../etc/passwd,,\n")
        assert site_fault(site) == (
            record,
            "names a file outside the site dir: '../../etc/passwd'",
        )

    def test_unreadable_record(self, site: Path) -> None:
        """A RECORD that is not CSV rows of three is named."""
        (record,) = site.glob("*.dist-info/RECORD")
        record.write_text("just,two\n")
        assert site_fault(site) == (record, "has a row that is not path,hash,size")

    def test_no_record(self, tmp_path: Path) -> None:
        """A folder without any RECORD is not a site dir the host installed."""
        (tmp_path / "x").mkdir()
        (tmp_path / "x" / "mod.py").write_text("")
        assert site_fault(tmp_path / "x") == (
            tmp_path / "x",
            "no RECORD: not a site dir the host installed",
        )


class TestStartVerifiesSiteDirs:
    def test_changed_site_dir_not_imported(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path, events: list[Event]
    ) -> None:
        """At the next start, a site dir whose code changed is not imported: the plugin is
        reported naming the file and the reason, and the other plugins load."""
        factory.build("hello", code=greet_code("hello"))
        factory.build("other", code=greet_code("other"))
        make_host().stop()
        (site,) = (tmp_path / "home" / "site").glob("hello-*")
        marker = tmp_path / "ran"
        (site / "hello" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
        host = make_host()
        assert host.hook.greet(name="x") == ["other"]
        assert not marker.exists()
        (problem,) = [p for p in host.problems() if p.plugin == "hello"]
        assert problem.kind is ProblemKind.LOAD_FAILED
        assert f"{site / 'hello' / '__init__.py'} changed since it was installed" in (
            problem.message
        )
        refused = [e for e in events if e.plugin == "hello" and e.kind is EventKind.LOAD_FAILED]
        assert refused
        audit = (tmp_path / "home" / "audit.log").read_text()
        assert "changed since it was installed" in audit

    def test_removing_the_site_dir_installs_the_wheel_again(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A refused site dir is no longer in use, and goes with the start's pruning; the
        next start installs the wheel again from its bytes."""
        factory.build("hello", code=greet_code("hello"))
        make_host().stop()
        (site,) = (tmp_path / "home" / "site").glob("hello-*")
        (site / "hello" / "extra.py").write_text("")
        refused = make_host()
        assert refused.hook.greet(name="x") == []
        refused.stop()
        assert not site.exists()
        assert make_host().hook.greet(name="x") == ["hello"]
        assert not (site / "hello" / "extra.py").exists()

    def test_size_check_by_default(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """By default sizes are compared, not bytes: an edit of the same size goes unseen
        (``verify_sites="hash"`` is for that; the modes keep other users from making it)."""
        factory.build("hello", code=greet_code("hello"))
        make_host().stop()
        (site,) = (tmp_path / "home" / "site").glob("hello-*")
        module = site / "hello" / "__init__.py"
        text = module.read_text()
        mtime = module.stat().st_mtime
        module.write_text(text.replace('"hello"', '"HELLO"'))
        # A later mtime, or the bytecode cached at the first start (same size, same second)
        # would be imported instead of the edit.
        os.utime(module, (mtime + 10, mtime + 10))
        assert os.path.getsize(module) == len(text)
        assert make_host().hook.greet(name="x") == ["HELLO"]

    def test_hash_check_when_asked(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """With ``verify_sites="hash"`` a host compares the bytes: a same-size edit of an
        installed file keeps that version out at the next start."""
        factory.build("hello", code=greet_code("hello"))
        make_host(verify_sites="hash").stop()
        (site,) = (tmp_path / "home" / "site").glob("hello-*")
        module = site / "hello" / "__init__.py"
        module.write_text(module.read_text().replace('"hello"', '"HELLO"'))
        host = make_host(verify_sites="hash")
        assert host.hook.greet(name="x") == []
        assert "changed since it was installed" in (host.plugins["hello"].error or "")


class TestSiteDirs:
    def test_placed_refuses_and_install_raises(
        self, site: Path, wheel_factory: WheelFactory
    ) -> None:
        """``placed()`` does not place a changed site dir, and the install it leads to raises a
        TrustError naming the file; with ``verify="hash"`` a same-size edit counts."""
        record = _record(site)
        candidate = record.candidate
        (site / "hello" / "data.txt").write_text("9876543210")
        by_size = SiteDirs(site.parent, site.parent.parent / "staging", WheelLimits())
        assert by_size.placed(candidate, record) == (site, ("hello",))
        by_hash = SiteDirs(
            site.parent, site.parent.parent / "staging", WheelLimits(), verify="hash"
        )
        assert by_hash.placed(candidate, record) is None
        with pytest.raises(TrustError, match=r"data.txt changed since it was installed") as caught:
            by_hash.install(candidate, ())
        assert caught.value.path == str(site / "hello" / "data.txt")
        assert caught.value.plugin == "hello"

    def test_verified_once(self, site: Path) -> None:
        """A site dir found unchanged is not compared again by the same SiteDirs."""
        record = _record(site)
        sites = SiteDirs(site.parent, site.parent.parent / "staging", WheelLimits())
        assert sites.placed(record.candidate, record) is not None
        (site / "planted.py").write_text("")
        assert sites.placed(record.candidate, record) is not None
        fresh = SiteDirs(site.parent, site.parent.parent / "staging", WheelLimits())
        assert fresh.placed(record.candidate, record) is None


def _record(site: Path) -> Record:
    """A registry record of the wheel installed in ``site``."""
    wheel = next(site.parent.parent.glob("wheels/*.whl"))
    candidate = candidate_from_wheel(inspect_plugin_wheel(wheel), "greeter.plugins")
    assert candidate is not None
    return Record(candidate, site.name, ("hello",))
