"""The home's site dirs on real files: real wheels installed, reused, handed over, deleted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from strategies import candidate

from pluginhost.discover.archive import WheelLimits, read_wheel_bytes
from pluginhost.discover.candidates import candidate_from_wheel, inspect_plugin_wheel
from pluginhost.discover.handover import ValidatedWheel
from pluginhost.discover.wheel import inspect_wheel
from pluginhost.install.sites import SiteDirs
from pluginhost.model.candidate import Candidate
from pluginhost.model.errors import WheelError
from pluginhost.state.registry import Record
from pluginhost.testing import WheelFactory

GROUP = "greeter.plugins"


@pytest.fixture
def factory(tmp_path: Path) -> WheelFactory:
    return WheelFactory(tmp_path / "wheels", group=GROUP)


@pytest.fixture
def sites(tmp_path: Path) -> SiteDirs:
    """Site dirs under a fresh home, with no hand-over from discovery."""
    (tmp_path / "home" / "site").mkdir(parents=True)
    return SiteDirs(tmp_path / "home" / "site", tmp_path / "home" / "staging", WheelLimits())


def plugin(factory: WheelFactory, version: str = "1.0.0", code: str = "") -> Candidate:
    """The candidate of a real ``hello`` wheel."""
    wheel = factory.build("hello", version, code=code or f"VERSION = {version!r}\n")
    found = candidate_from_wheel(inspect_plugin_wheel(wheel), GROUP)
    assert found is not None
    return found


def record_of(c: Candidate, site: Path | None) -> Record:
    return Record(c, site.name if site is not None else None, c.top_level)


class TestPlaced:
    def test_wheel_never_installed_must_be_installed(
        self, sites: SiteDirs, factory: WheelFactory
    ) -> None:
        """A wheel with no installed copy has no place yet."""
        assert sites.placed(plugin(factory), None) is None

    def test_installed_copy_is_reused(self, sites: SiteDirs, factory: WheelFactory) -> None:
        """Bytes installed already import from their site dir, with its recorded names."""
        c = plugin(factory)
        site, _ = sites.install(c, ())
        assert sites.placed(c, record_of(c, site)) == (site, ("hello",))

    def test_copy_whose_dir_is_gone_must_be_installed(
        self, sites: SiteDirs, factory: WheelFactory
    ) -> None:
        """A record naming a site dir that no longer exists does not count."""
        c = plugin(factory)
        assert sites.placed(c, Record(c, "hello-1.0.0-gone", ("hello",))) is None

    def test_record_cannot_point_outside_site_root(
        self, sites: SiteDirs, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """Only the last part of a recorded site dir counts: no record names a dir elsewhere."""
        c = plugin(factory)
        outside = tmp_path / "elsewhere"
        outside.mkdir()
        assert sites.placed(c, Record(c, str(outside), ("hello",))) is None

    def test_installed_distribution_is_in_place(self, sites: SiteDirs) -> None:
        """A plugin installed in the environment imports from there, with its own names."""
        env = candidate("hello", "1.0.0", installed=True)
        assert sites.placed(env, None) == (None, env.top_level)


class TestInstall:
    def test_install_into_a_named_site_dir(self, sites: SiteDirs, factory: WheelFactory) -> None:
        """A wheel is installed into ``<name>-<version>-<sha8>`` under ``site/``."""
        c = plugin(factory)
        site, top = sites.install(c, ())
        assert site is not None
        assert site.parent == sites.site_root
        assert site.name == f"hello-1.0.0-{(c.sha256 or '')[:8]}"
        assert top == ("hello",)
        assert (site / "hello" / "__init__.py").read_text() == "VERSION = '1.0.0'\n"
        assert not list(sites.staging_root.iterdir())

    def test_support_wheels_beside_the_plugin(self, sites: SiteDirs, factory: WheelFactory) -> None:
        """The wheels meeting its Requires-Dist are installed into the same site dir."""
        helper = factory.build("helperlib", "2.0.0", group="not.a.plugin", code="X = 1\n")
        site, top = sites.install(plugin(factory), [inspect_wheel(helper)])
        assert site is not None
        assert top == ("hello", "helperlib")
        assert (site / "helperlib" / "__init__.py").is_file()

    def test_changed_wheel_refused_without_a_hand_over(
        self, sites: SiteDirs, factory: WheelFactory
    ) -> None:
        """A wheel rewritten after discovery read it is refused: its bytes are not those seen."""
        c = plugin(factory)
        plugin(factory, code="VERSION = 'other bytes'\n")  # the same file name, rewritten
        with pytest.raises(WheelError, match="changed since"):
            sites.install(c, ())
        assert not list(sites.site_root.iterdir())

    def test_hand_over_installs_the_bytes_discovery_validated(
        self, tmp_path: Path, factory: WheelFactory, kept: tuple[Candidate, ValidatedWheel]
    ) -> None:
        """With the hand-over, the bytes validated at discovery are installed, not the file
        (which may have changed since), and each wheel is asked for by its path and hash."""
        c, validated = kept
        wheel = validated.info.path
        asked: list[tuple[Path, str]] = []

        def handover(path: Path, sha256: str) -> ValidatedWheel | None:
            asked.append((path, sha256))
            return validated if (path, sha256) == (wheel, validated.info.sha256) else None

        sites = SiteDirs(tmp_path / "site", tmp_path / "staging", WheelLimits(), handover)
        factory.build("hello", "1.0.0", code="VERSION = 'swapped'\n")
        site, _ = sites.install(c, ())
        assert site is not None
        assert (site / "hello" / "__init__.py").read_text() == "VERSION = 'seen'\n"
        assert asked == [(wheel, c.sha256)]


class TestFresh:
    def test_drop_fresh_deletes_what_the_change_installed(
        self, sites: SiteDirs, factory: WheelFactory
    ) -> None:
        """A failed change deletes the site dirs it installed, and keeps those it reused."""
        old = plugin(factory, "1.0.0")
        old_site, _ = sites.install(old, ())
        sites.begin()
        new = plugin(factory, "1.1.0")
        new_site, _ = sites.install(new, ())
        again, _ = sites.install(old, ())  # reused: not this change's
        assert again == old_site
        sites.drop_fresh([record_of(new, new_site), record_of(old, old_site)], in_use=())
        assert new_site is not None
        assert old_site is not None
        assert not new_site.exists()
        assert old_site.is_dir()

    def test_begin_forgets_the_last_change(self, sites: SiteDirs, factory: WheelFactory) -> None:
        """A site dir installed by an earlier change is not this change's to drop."""
        c = plugin(factory)
        site, _ = sites.install(c, ())
        sites.begin()
        sites.drop_fresh([record_of(c, site)], in_use=())
        assert site is not None
        assert site.is_dir()

    def test_fresh_dir_in_use_is_kept(self, sites: SiteDirs, factory: WheelFactory) -> None:
        """A fresh site dir that something still names is not deleted."""
        c = plugin(factory)
        sites.begin()
        site, _ = sites.install(c, ())
        assert site is not None
        sites.drop_fresh([record_of(c, site)], in_use={site.name})
        assert site.is_dir()


class TestDelete:
    def test_delete_removes_the_dir(self, sites: SiteDirs, factory: WheelFactory) -> None:
        """A site dir no longer needed is deleted, and nothing is left beside it."""
        c = plugin(factory)
        site, _ = sites.install(c, ())
        sites.delete(record_of(c, site), in_use=())
        assert not list(sites.site_root.iterdir())

    def test_dir_in_use_is_kept(self, sites: SiteDirs, factory: WheelFactory) -> None:
        """A site dir that an active plugin or a backup names is kept."""
        c = plugin(factory)
        site, _ = sites.install(c, ())
        assert site is not None
        sites.delete(record_of(c, site), in_use={site.name})
        assert site.is_dir()

    def test_environment_plugin_and_missing_dir(
        self, sites: SiteDirs, factory: WheelFactory
    ) -> None:
        """Deleting a record without a site dir, or whose dir is gone, does nothing."""
        c = plugin(factory)
        sites.delete(Record(c, None, ()), in_use=())
        sites.delete(Record(c, "hello-1.0.0-gone", ()), in_use=())
        assert not list(sites.site_root.iterdir())

    @pytest.mark.slow
    def test_renamed_aside_before_removal(self, sites: SiteDirs, factory: WheelFactory) -> None:
        """Killed midway through a deletion, no dir is left under the version's name: it was
        renamed aside first, and the next prune removes it."""
        c = plugin(factory)
        site, _ = sites.install(c, ())
        assert site is not None
        env = {**os.environ, "PLUGINHOST_CRASH_AT": "while_deleting_site@1.0.0"}
        args = [str(sites.site_root), str(sites.staging_root), str(c.origin), site.name]
        done = subprocess.run(
            [sys.executable, "-c", CHILD, *args],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == -signal.SIGKILL, done.stderr.decode()
        assert not site.exists()
        assert [p.name for p in sites.site_root.iterdir()] == [f".{site.name}.deleting"]
        assert sites.prune(keep=()) == [f".{site.name}.deleting"]
        assert not list(sites.site_root.iterdir())


CHILD = """
import sys
from pathlib import Path
from pluginhost.discover.archive import WheelLimits
from pluginhost.discover.candidates import candidate_from_wheel, inspect_plugin_wheel
from pluginhost.install.sites import SiteDirs
from pluginhost.state.registry import Record

site_root, staging, wheel, name = sys.argv[1:5]
c = candidate_from_wheel(inspect_plugin_wheel(Path(wheel)), "greeter.plugins")
SiteDirs(Path(site_root), Path(staging), WheelLimits()).delete(Record(c, name, ()), in_use=())
print("not killed")
"""


class TestPrune:
    def test_prune_keeps_only_what_is_named(self, sites: SiteDirs, factory: WheelFactory) -> None:
        """Site dirs nothing names (left by a crash) are deleted; the named ones stay."""
        kept_site, _ = sites.install(plugin(factory, "1.0.0"), ())
        stray_site, _ = sites.install(plugin(factory, "1.1.0"), ())
        assert kept_site is not None
        assert stray_site is not None
        (sites.site_root / ".old.deleting").mkdir()
        pruned = sites.prune(keep={kept_site.name})
        assert pruned == sorted([stray_site.name, ".old.deleting"])
        assert [p.name for p in sites.site_root.iterdir()] == [kept_site.name]

    def test_prune_leaves_files_and_links(self, sites: SiteDirs, tmp_path: Path) -> None:
        """Only real dirs are pruned: a file or a symlink (to a dir elsewhere) is left alone."""
        elsewhere = tmp_path / "precious"
        elsewhere.mkdir()
        (elsewhere / "data").write_text("keep me")
        (sites.site_root / "link").symlink_to(elsewhere)
        (sites.site_root / "note.txt").write_text("x")
        assert sites.prune(keep=()) == []
        assert (elsewhere / "data").read_text() == "keep me"


@pytest.fixture
def kept(factory: WheelFactory) -> tuple[Candidate, ValidatedWheel]:
    """A ``hello`` wheel as discovery reads it: its candidate and its validated bytes."""
    wheel = factory.build("hello", "1.0.0", code="VERSION = 'seen'\n")
    data = read_wheel_bytes(wheel)
    assert data is not None
    inspection = inspect_plugin_wheel(wheel, data=data)
    c = candidate_from_wheel(inspection, GROUP)
    assert c is not None
    return c, ValidatedWheel(inspection.info, data.data)


@pytest.fixture
def offloading(tmp_path: Path, kept: tuple[Candidate, ValidatedWheel]) -> Iterator[SiteDirs]:
    """Site dirs written by a ready site writer, handed ``kept`` over by its path and hash."""
    c, wheel = kept

    def handover(path: Path, sha256: str) -> ValidatedWheel | None:
        return wheel if (path, sha256) == (wheel.info.path, c.sha256) else None

    home = tmp_path / "home"
    made = SiteDirs(home / "site", home / "staging", WheelLimits(), handover, offload=True)
    made.start_writer()
    deadline = time.monotonic() + 30
    serial = 0
    while made.writer_pid is None:  # installs are written here until the writer greeted
        assert time.monotonic() < deadline, "the site writer never said it is ready"
        serial += 1
        made.install(plugin(WheelFactory(tmp_path / "warm", group=GROUP), f"0.0.{serial}"), ())
        time.sleep(0.05)
    yield made
    made.close()


def appears(path: Path) -> bool:
    deadline = time.monotonic() + 20
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class TestWriteAhead:
    def test_chosen_wheel_is_installed_from_its_write_ahead(
        self, offloading: SiteDirs, kept: tuple[Candidate, ValidatedWheel]
    ) -> None:
        """The writer writes a fresh wheel's site dir before any install asks for it; the
        install then takes that dir, and the end of the change keeps it."""
        c, wheel = kept
        offloading.write_ahead([(c, wheel)])
        target = offloading.site_root / f"hello-1.0.0-{c.sha256[:8]}"
        assert appears(target)
        site, top_level = offloading.install(c, ())
        assert site == target
        assert top_level == ("hello",)
        assert (site / "hello" / "__init__.py").read_text() == "VERSION = 'seen'\n"
        offloading.end_ahead()
        assert target.is_dir()
        offloading.drop_fresh([record_of(c, site)], ())  # it counts as installed by the change
        assert not target.exists()

    def test_write_ahead_nobody_installs_is_deleted(
        self, offloading: SiteDirs, kept: tuple[Candidate, ValidatedWheel]
    ) -> None:
        c, wheel = kept
        before = set(offloading.site_root.iterdir())
        offloading.write_ahead([(c, wheel)])
        target = offloading.site_root / f"hello-1.0.0-{c.sha256[:8]}"
        assert appears(target)
        offloading.end_ahead()
        assert set(offloading.site_root.iterdir()) == before

    def test_a_prune_leaves_a_write_ahead_for_its_install(
        self, offloading: SiteDirs, kept: tuple[Candidate, ValidatedWheel]
    ) -> None:
        """A start prunes the site dirs no record names after its look, which had the writer
        write the new wheels' dirs: the install then took a dir the prune had deleted (the
        plugin failed its import, or served from a dir that was gone)."""
        c, wheel = kept
        warmed = [p.name for p in offloading.site_root.iterdir()]  # the fixture's installs
        offloading.write_ahead([(c, wheel)])
        target = offloading.site_root / f"hello-1.0.0-{c.sha256[:8]}"
        assert appears(target)
        stray = offloading.site_root / "hello-0.9.0-0badc0de"
        stray.mkdir()
        assert offloading.prune(keep=warmed) == [stray.name]
        site, _ = offloading.install(c, ())
        assert site == target
        assert (site / "hello" / "__init__.py").read_text() == "VERSION = 'seen'\n"

    def test_a_prune_takes_a_dir_the_writer_found_there_already(
        self, offloading: SiteDirs, kept: tuple[Candidate, ValidatedWheel]
    ) -> None:
        """A look's read of a wheel whose site dir is there already (a plugin removed, its
        dir left by a crash after the removal's commit) writes nothing: the start's prune
        takes that dir, which nothing names (it was left on disk when the read's answer had
        come before the prune)."""
        c, wheel = kept
        site, _ = offloading.install(c, ())
        warmed = [p.name for p in offloading.site_root.iterdir() if p != site]
        read = offloading.read_wheel(
            wheel.info.path, os.lstat(wheel.info.path), WheelLimits(), GROUP
        )
        assert read is not None
        assert offloading.prune(keep=warmed) == [site.name]
        assert not site.exists()

    def test_install_with_support_wheels_does_not_take_a_write_ahead(
        self, offloading: SiteDirs, kept: tuple[Candidate, ValidatedWheel], factory: WheelFactory
    ) -> None:
        """A dir written ahead holds the plugin's wheel alone: an install that also needs
        support wheels writes its own, with them."""
        c, wheel = kept
        offloading.write_ahead([(c, wheel)])
        target = offloading.site_root / f"hello-1.0.0-{c.sha256[:8]}"
        assert appears(target)
        base = inspect_wheel(factory.build("base", group="other.group"))
        site, top_level = offloading.install(c, [base])
        assert site == target
        assert top_level == ("base", "hello")
        assert (site / "base" / "__init__.py").is_file()

    def test_installed_dir_is_not_written_again(
        self, offloading: SiteDirs, kept: tuple[Candidate, ValidatedWheel]
    ) -> None:
        """A site dir that is there already is not written ahead, and survives the end of the
        change."""
        c, wheel = kept
        site, _ = offloading.install(c, ())
        assert site is not None
        offloading.write_ahead([(c, wheel)])
        offloading.end_ahead()
        assert (site / "hello" / "__init__.py").is_file()
