"""Installation: validated wheels into their own site dirs, staged, renamed, nothing left over."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

import pluginhost.discover.archive
import pluginhost.install.installer
from hookspecs.greeter import GreeterSpec
from pluginhost import PluginHost, ProblemKind
from pluginhost.discover.archive import WheelLimits
from pluginhost.discover.wheel import WheelInfo, inspect_wheel
from pluginhost.install.installer import InstalledSite, install_wheel, site_dir_name
from pluginhost.install.site_writer import SiteJob, write_site
from pluginhost.model.errors import InstallError, WheelError
from pluginhost.state.audit import AuditEntry, read_audit
from pluginhost.testing import BROKEN_KINDS, WheelFactory

GREET = "def greet(name):\n    return f'hello, {name}'\n"
GREETER = "from hookspecs.greeter import hookimpl\n\n@hookimpl\ndef greet(name):\n    return 'hi'\n"


@attrs.frozen
class Roots:
    site: Path
    staging: Path

    def install(self, wheel: Path, name: str = "hello", **kwargs: Any) -> InstalledSite:
        kwargs.setdefault("version", "1.0.0")
        return install_wheel(
            wheel, site_root=self.site, staging_root=self.staging, name=name, **kwargs
        )

    def files(self) -> dict[str, tuple[int, int]]:
        """Every path under both roots, with size and mtime."""
        found = {}
        for top in (self.site, self.staging):
            for root, dirs, names in os.walk(top):
                for name in dirs + names:
                    st = os.stat(os.path.join(root, name))
                    found[os.path.join(root, name)] = (st.st_size, st.st_mtime_ns)
        return found

    def staging_is_empty(self) -> bool:
        # An install that reuses a site dir, or writes it elsewhere, never makes it.
        return not self.staging.exists() or not any(self.staging.iterdir())


@pytest.fixture
def roots(tmp_path: Path) -> Roots:
    """A site root and a staging root in a temp home."""
    return Roots(tmp_path / "home" / "site", tmp_path / "home" / "staging")


def load(site: Path, module: str) -> types.ModuleType:
    """Import ``module`` from ``site`` only, without touching sys.path or sys.modules."""
    spec = importlib.machinery.PathFinder.find_spec(module, [str(site)])
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class TestSiteDirName:
    def test_name(self) -> None:
        """The dir is named by plugin, version and the first 8 hex digits of the sha256."""
        assert site_dir_name("hello", "1.0.0", "0123456789abcdef") == "hello-1.0.0-01234567"

    @pytest.mark.parametrize("name", ["../evil", ".hidden", "a/b", "a\\b", ""])
    def test_unsafe_name(self, name: str) -> None:
        """A name that is not one visible directory name is refused."""
        with pytest.raises(ValueError, match="cannot be part of a directory name"):
            site_dir_name(name, "1.0.0", "0123456789abcdef")


class TestInstallWheel:
    def test_installs_and_imports(self, factory: WheelFactory, roots: Roots) -> None:
        """The plugin lands in its own site dir and imports from there."""
        wheel = factory.build("hello", code=GREET)
        site = roots.install(wheel)
        assert site.path == roots.site / f"hello-1.0.0-{site.sha256[:8]}"
        assert site.top_level == ("hello",)
        assert not site.reused
        assert load(site.path, "hello").greet("you") == "hello, you"
        assert roots.staging_is_empty()

    def test_layout(self, factory: WheelFactory, roots: Roots) -> None:
        """Scripts go to ``bin/`` (as with ``pip install --target``), data under the
        unimportable ``.pluginhost``; no bytecode is compiled."""
        wheel = factory.build(
            "hello",
            files={
                "hello-1.0.0.data/scripts/tool": "#!python\nprint('tool')\n",
                "hello-1.0.0.data/data/share/hello.txt": "data",
                "hello-1.0.0.data/purelib/extra_mod.py": "X = 2\n",
            },
        )
        info = roots.install(wheel)
        site = info.path
        # No bytecode is compiled at install (checked before anything imports from the dir).
        assert not list(site.rglob("__pycache__"))
        assert (site / "bin" / "tool").is_file()
        assert (site / ".pluginhost" / "data" / "share" / "hello.txt").read_text() == "data"
        assert load(site, "extra_mod").X == 2
        assert (site / "hello-1.0.0.dist-info" / "INSTALLER").read_text() == "pluginhost\n"
        assert (site / ".pluginhost" / "wheel.sha256").read_text().strip() == info.sha256

    def test_same_bytes_reused(self, factory: WheelFactory, roots: Roots) -> None:
        """Installing the same bytes again returns the existing dir and writes nothing."""
        wheel = factory.build("hello", code=GREET)
        first = roots.install(wheel)
        before = roots.files()
        again = roots.install(wheel)
        assert again == attrs.evolve(first, reused=True)
        assert roots.files() == before

    def test_reuse_checks_full_digest(self, factory: WheelFactory, roots: Roots) -> None:
        """A dir with the right name but another wheel's digest inside is not reused."""
        wheel = factory.build("hello")
        sha = inspect_wheel(wheel).sha256
        stamp = roots.site / site_dir_name("hello", "1.0.0", sha) / ".pluginhost" / "wheel.sha256"
        stamp.parent.mkdir(parents=True)
        stamp.write_text(sha[:8] + "0" * 56)
        with pytest.raises(InstallError, match="holds another wheel"):
            roots.install(wheel)
        assert roots.staging_is_empty()

    def test_expected_sha256_matches(self, factory: WheelFactory, roots: Roots) -> None:
        """The digest the caller read is accepted when the bytes are unchanged."""
        wheel = factory.build("hello")
        sha = inspect_wheel(wheel).sha256
        assert roots.install(wheel, expected_sha256=sha).sha256 == sha

    def test_expected_sha256_mismatch(self, factory: WheelFactory, roots: Roots) -> None:
        """Bytes other than the ones the caller read are refused, and nothing is left."""
        wheel = factory.build("hello")
        with pytest.raises(WheelError, match="changed since it was read") as caught:
            roots.install(wheel, expected_sha256="0" * 64)
        assert caught.value.path == str(wheel)
        assert not roots.site.exists()
        assert roots.staging_is_empty()

    @pytest.mark.parametrize("kind", BROKEN_KINDS)
    def test_broken_leaves_nothing(self, kind: str, factory: WheelFactory, roots: Roots) -> None:
        """A broken wheel is refused before anything exists in the site root or staging."""
        wheel = factory.build("evil", broken=kind)
        with pytest.raises(WheelError) as caught:
            roots.install(wheel, name="evil", limits=WheelLimits(max_members=50))
        assert caught.value.path == str(wheel)
        assert not roots.site.exists()
        assert roots.staging_is_empty()

    def test_pth_member_installed_as_a_plain_file(
        self, factory: WheelFactory, roots: Roots
    ) -> None:
        """A .pth member is installed as an ordinary file at the root of its dir, where nothing
        processes it."""
        wheel = factory.build("lib", group="other.group", files={"lib-hook.pth": "import os\n"})
        site = roots.install(wheel, name="lib")
        assert (site.path / "lib-hook.pth").read_text() == "import os\n"
        assert site.top_level == ("lib",)

    def test_plugin_with_pth_member_served(
        self, factory: WheelFactory, host_factory: Callable[..., PluginHost], tmp_path: Path
    ) -> None:
        """A plugin wheel shipping a .pth (pytest-cov 2.0 to 6.x) is served, and its .pth
        never runs: nothing processes a site dir."""
        marker = tmp_path / "pth-ran"
        pth = f"import pathlib; pathlib.Path({str(marker)!r}).touch()\n"
        factory.build("cov", code=GREETER, files={"pytest-cov.pth": pth})
        host = host_factory("greeter", [GreeterSpec], watch=[factory.directory], live=False)
        assert host.hook.greet(name="Ada") == ["hi"]
        assert not host.problems()
        assert not marker.exists()

    def test_broken_extra_wheel(self, factory: WheelFactory, roots: Roots) -> None:
        """A broken extra wheel is refused like the plugin's own, and nothing is installed."""
        wheel = factory.build("hello")
        extra = factory.build("lib", broken="bad-record-hash")
        with pytest.raises(WheelError, match="does not match its RECORD") as caught:
            roots.install(wheel, extra_wheels=[extra])
        assert caught.value.path == str(extra)
        assert not roots.site.exists()
        assert roots.staging_is_empty()

    def test_extra_wheels_same_dir(self, factory: WheelFactory, roots: Roots) -> None:
        """Extra wheels are installed into the plugin's dir, their names in ``top_level``."""
        wheel = factory.build("hello", code="import helper_lib\nX = helper_lib.Y\n")
        extra = factory.build("helper-lib", code="Y = 3\n", no_manifest=True)
        site = roots.install(wheel, extra_wheels=[extra])
        assert site.top_level == ("hello", "helper_lib")
        assert (site.path / "helper_lib-1.0.0.dist-info" / "RECORD").is_file()
        assert load(site.path, "helper_lib").Y == 3

    def test_extra_wheel_conflicting_file(self, factory: WheelFactory, roots: Roots) -> None:
        """Two wheels shipping the same file fail the install, naming the second wheel."""
        wheel = factory.build("hello", files={"common.py": "A = 1\n"})
        extra = factory.build("lib", files={"common.py": "A = 2\n"})
        with pytest.raises(InstallError, match="already exists") as caught:
            roots.install(wheel, extra_wheels=[extra])
        assert caught.value.path == str(extra)
        assert not roots.site.exists()
        assert roots.staging_is_empty()

    def test_unsafe_name_refused(self, factory: WheelFactory, roots: Roots) -> None:
        """A plugin name that would escape the site root is refused before any work."""
        wheel = factory.build("hello")
        with pytest.raises(WheelError, match="cannot name a site dir"):
            roots.install(wheel, name="../evil")
        assert not roots.site.exists()
        assert not roots.staging.exists()

    @pytest.mark.parametrize("change", ["delete", "replace"])
    def test_original_changed_after_copy(
        self, change: str, factory: WheelFactory, roots: Roots, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Deleting or replacing the original once it is read does not affect the install."""
        wheel = factory.build("hello", code=GREET)
        real_inspect = inspect_wheel

        def inspect_after_change(path: Path, **kwargs: Any) -> WheelInfo:
            if change == "delete":
                wheel.unlink()
            else:
                factory.build("hello", code="raise SystemExit('the replacement')")
            return real_inspect(path, **kwargs)

        monkeypatch.setattr(pluginhost.install.installer, "inspect_wheel", inspect_after_change)
        site = roots.install(wheel)
        assert load(site.path, "hello").greet("you") == "hello, you"

    def test_concurrent_install_wins(self, factory: WheelFactory, roots: Roots) -> None:
        """When the same site dir appears during our install, it is kept and ours dropped."""
        wheel = factory.build("hello", code=GREET)
        raced: list[InstalledSite] = []

        def race_then_write(job: SiteJob) -> bool:
            # Another install of the same bytes publishes while ours is being written.
            raced.append(roots.install(wheel))
            return write_site(job)

        site = roots.install(wheel, write=race_then_write)
        assert site.reused
        assert site.path == raced[0].path
        assert not raced[0].reused
        assert roots.staging_is_empty()

    def test_nothing_written_before_validation(
        self, factory: WheelFactory, roots: Roots, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The wheel is validated from the bytes read: no copy of it exists, even in staging."""
        wheel = factory.build("hello", code=GREET)
        real_inspect = inspect_wheel
        seen: list[list[Path]] = []

        def inspect_and_look(path: Path, **kwargs: Any) -> WheelInfo:
            seen.append([p for p in roots.staging.rglob("*") if not p.is_dir()])
            return real_inspect(path, **kwargs)

        monkeypatch.setattr(pluginhost.install.installer, "inspect_wheel", inspect_and_look)
        roots.install(wheel)
        assert seen == [[]]

    def test_installer_refusal_names_the_wheel(self, factory: WheelFactory, roots: Roots) -> None:
        """installer's own RECORD checks still run, and its refusal names the caller's file."""
        wheel = factory.build("hello", files={"hello-1.0.0.dist-info/RECORD.jws": "signature"})
        with pytest.raises(WheelError, match="refused by installer") as caught:
            roots.install(wheel)
        assert caught.value.path == str(wheel)
        assert f"In {wheel}, digital signature file" in caught.value.reason
        assert not roots.site.exists()
        assert roots.staging_is_empty()


class TestLargeWheel:
    """A wheel too large to hold in memory is copied into staging, hashed while copied, and
    validated and installed from that private copy."""

    @pytest.fixture(autouse=True)
    def streamed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(pluginhost.discover.archive, "_IN_MEMORY", 0)

    def test_installs_and_imports(self, factory: WheelFactory, roots: Roots) -> None:
        """The plugin lands in its site dir as it would from memory, and staging is emptied."""
        wheel = factory.build("hello", code=GREET)
        site = roots.install(wheel, expected_sha256=inspect_wheel(wheel).sha256)
        assert load(site.path, "hello").greet("you") == "hello, you"
        assert roots.staging_is_empty()

    def test_expected_sha256_mismatch(self, factory: WheelFactory, roots: Roots) -> None:
        """Bytes other than the ones the caller read are refused, naming the caller's file."""
        wheel = factory.build("hello")
        with pytest.raises(WheelError, match="changed since it was read") as caught:
            roots.install(wheel, expected_sha256="0" * 64)
        assert caught.value.path == str(wheel)
        assert roots.staging_is_empty()

    @pytest.mark.parametrize("kind", ["bad-record-hash", "dotdot-path", "trailing-data"])
    def test_broken_names_the_wheel(self, kind: str, factory: WheelFactory, roots: Roots) -> None:
        """A refusal names the caller's file, not the private copy."""
        wheel = factory.build("evil", broken=kind)
        with pytest.raises(WheelError) as caught:
            roots.install(wheel, name="evil")
        assert caught.value.path == str(wheel)
        assert not roots.site.exists()
        assert roots.staging_is_empty()

    def test_original_changed_after_copy(
        self, factory: WheelFactory, roots: Roots, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Replacing the original once it is copied does not affect the install."""
        wheel = factory.build("hello", code=GREET)
        real_inspect = inspect_wheel

        def inspect_after_change(path: Path, **kwargs: Any) -> WheelInfo:
            factory.build("hello", code="raise SystemExit('the replacement')")
            return real_inspect(path, **kwargs)

        monkeypatch.setattr(pluginhost.install.installer, "inspect_wheel", inspect_after_change)
        site = roots.install(wheel)
        assert load(site.path, "hello").greet("you") == "hello, you"


class TestNamesTheFileSystemCannotHold:
    def test_path_too_long_under_a_deep_home_is_a_wheel_error(
        self, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A member that validation accepts but that outgrows PATH_MAX under this home is
        refused as the wheel's fault (WheelError, remembered), not as a disk fault retried."""
        deep = tmp_path.joinpath(*["d" * 200] * 17)
        deep.mkdir(parents=True)
        roots = Roots(deep / "site", deep / "staging")
        member = "hello/" + "/".join(["p" * 150] * 6) + "/x.py"
        wheel = factory.build("hello", files={member: "X = 1\n"})
        with pytest.raises(WheelError, match=r"the file system cannot hold a member here: .*"):
            roots.install(wheel)
        assert not roots.site.exists()
        assert roots.staging_is_empty()

    @pytest.mark.parametrize("kind", ["long-component", "file-and-directory"])
    def test_refused_once_and_remembered(
        self, kind: str, factory: WheelFactory, make_host: Callable[..., PluginHost]
    ) -> None:
        """Such a wheel in a watched folder is refused at validation with one audit entry;
        later looks do not try it again."""
        host = make_host()
        wheel = factory.build("hello", broken=kind)
        assert host.wait_idle()
        for i in range(3):
            factory.build(f"other{i}", code="")  # a change in the folder: one more look
            assert host.wait_idle()
        entries = [
            e
            for e in read_audit(host.audit_log)
            if isinstance(e, AuditEntry) and e.origin == str(wheel)
        ]
        assert [(e.action, e.outcome) for e in entries] == [("refusal", "refused")]
        [problem] = [p for p in host.problems() if p.path == str(wheel)]
        assert problem.kind is ProblemKind.WHEEL_INVALID
