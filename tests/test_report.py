"""WheelReport: a wheel checked as a host would check it, without importing it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pluginhost import Version, VersionError, WheelReport
from pluginhost.testing import WheelFactory


class TestWheelReport:
    def test_plugin(self, wheel_factory: WheelFactory) -> None:
        """A valid plugin: its wheel, group, manifest and entry point, no refusal."""
        path = wheel_factory.build("polite", "1.2.0", host="^1.2", requires={"hello": "^1.0"})
        report = WheelReport.read(path)
        assert report.ok
        assert report.refused == ()
        assert report.group == "greeter.plugins"
        assert report.wheel is not None
        assert report.wheel.distribution == "polite"
        assert report.manifest is not None
        assert (report.manifest.name, str(report.manifest.version)) == ("polite", "1.2.0")
        assert report.to_json()["plugin"]["requires"] == {"hello": "^1.0"}

    def test_host_constraint(self, wheel_factory: WheelFactory) -> None:
        """Given the host's API version, a plugin that does not allow it is refused."""
        path = wheel_factory.build("polite", "1.2.0", host="^1.2")
        assert WheelReport.read(path, api_version="1.3.0").ok
        report = WheelReport.read(path, api_version=Version.parse("2.0.0"))
        assert report.refused == ("polite 1.2.0 requires host API ^1.2, the host provides 2.0.0",)
        with pytest.raises(VersionError):
            WheelReport.read(path, api_version="one")
        # A host refuses an api_version with an epoch: inspect took it and answered exit 0.
        with pytest.raises(VersionError, match="has an epoch"):
            WheelReport.read(path, api_version="1!2.0.0")

    def test_bad_wheel(self, wheel_factory: WheelFactory) -> None:
        """A wheel that fails validation is a report with the reason, never an exception."""
        report = WheelReport.read(wheel_factory.build("evil", broken="bad-record-hash"))
        assert not report.ok
        assert report.wheel is None
        assert "does not match its RECORD hash" in report.refused[0]

    def test_other_group(self, wheel_factory: WheelFactory) -> None:
        """A plugin of another host is refused as not a plugin of this one."""
        report = WheelReport.read(wheel_factory.build("hello"), group="other.plugins")
        assert report.refused == (
            "declares no entry point in group 'other.plugins': not a plugin of this host",
        )
        assert report.wheel is not None

    @pytest.mark.parametrize("group", ["pytest11", "datasette", "llm", "tox"])
    def test_an_application_group_is_the_default(
        self, wheel_factory: WheelFactory, group: str
    ) -> None:
        """A wheel whose only group (scripts aside) is an application's own, as published
        pytest, datasette, llm and tox plugins declare, is read in it: such wheels were
        refused as support wheels unless --group was given."""
        path = wheel_factory.build(
            "timer",
            group=group,
            no_manifest=True,
            other_groups={"console_scripts": {"timer-cli": "timer:main"}},
        )
        report = WheelReport.read(path)
        assert report.ok, report.refused
        assert report.group == group

    def test_several_application_groups_ask_for_one(self, wheel_factory: WheelFactory) -> None:
        """Two groups and no ``*.plugins`` one: which host is meant is asked."""
        path = wheel_factory.build(
            "both", group="pytest11", no_manifest=True, other_groups={"tox": {"both": "both"}}
        )
        assert WheelReport.read(path).refused == (
            "declares plugins for several hosts (pytest11, tox); choose with --group",
        )

    def test_scripts_alone_are_no_plugin(self, wheel_factory: WheelFactory) -> None:
        """A wheel with commands and no other entry point is a support wheel."""
        path = wheel_factory.build(
            "tool", group="console_scripts", entry_point="tool:main", no_manifest=True
        )
        assert WheelReport.read(path).refused == (
            "declares no entry point but scripts: not a plugin (a support wheel)",
        )

    def test_json_path(self, tmp_path: Path, wheel_factory: WheelFactory) -> None:
        """The JSON names the path as given, also for a link to the wheel."""
        link = tmp_path / "link.whl"
        link.symlink_to(wheel_factory.build("hello"))
        assert WheelReport.read(link).to_json()["path"] == str(link)

    def test_a_link_to_a_device_is_refused_for_what_it_leads_to(self, tmp_path: Path) -> None:
        """A link named like a wheel that leads to /dev/zero: refused as a device, unread
        (it was refused for the target's name, ``zero``)."""
        link = tmp_path / "evil-1.0-py3-none-any.whl"
        link.symlink_to("/dev/zero")
        report = WheelReport.read(link)
        assert report.refused == (
            "leads to /dev/zero, which is a character device, not a regular file",
        )

    def test_a_link_to_a_fifo_is_refused_unread(self, tmp_path: Path) -> None:
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        link = tmp_path / "fifo-1.0-py3-none-any.whl"
        link.symlink_to(fifo)
        assert WheelReport.read(link).refused == (
            f"leads to {fifo}, which is a FIFO, not a regular file",
        )
