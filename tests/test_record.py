"""RECORD against the archive (pluginhost.discover.record): what published wheels really hold."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hookspecs.greeter import GreeterSpec
from pluginhost import PluginHost, WheelError
from pluginhost.discover.candidates import candidate_from_wheel, inspect_plugin_wheel
from pluginhost.discover.wheel import inspect_wheel
from pluginhost.testing import WheelFactory

GREET = "import pluggy\n\n@pluggy.HookimplMarker('greeter')\ndef greet(name):\n    return 'hi'\n"
# ddtrace 2.21.0's manylinux wheels list C sources their build removed after RECORD was written.
GHOST = "hello/_stacktrace.c,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n"


def with_record_rows(wheel: Path, rows: str) -> Path:
    """``wheel`` rewritten with ``rows`` added at the end of its RECORD, nothing else changed."""
    with zipfile.ZipFile(wheel) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in members:
            extra = rows.encode() if info.filename.endswith(".dist-info/RECORD") else b""
            target.writestr(info, data + extra)
    return wheel


class TestRowsNamingNoMember:
    def test_accepted(self, factory: WheelFactory) -> None:
        """A row naming a file the archive lacks installs nothing: accepted, as pip and
        installer accept ddtrace 2.21.0, and the member is not made up."""
        wheel = with_record_rows(factory.build("hello", code=GREET), GHOST)
        inspection = inspect_plugin_wheel(wheel)
        assert "hello/_stacktrace.c" not in inspection.info.members
        assert candidate_from_wheel(inspection, "greeter.plugins") is not None

    def test_still_parsed(self, factory: WheelFactory) -> None:
        """Such a row is still a RECORD row: a weak hash in it refuses the wheel."""
        row = "hello/_stacktrace.c,md5=1B2M2Y8AsgTpgAmY7PhCfg,0\n"
        wheel = with_record_rows(factory.build("hello", code=GREET), row)
        with pytest.raises(WheelError, match="weak or unknown hash algorithm"):
            inspect_wheel(wheel)

    def test_loads_and_restarts(
        self, factory: WheelFactory, host_factory: Callable[..., PluginHost]
    ) -> None:
        """The host serves it, and its site dir passes the hash comparison of a restart: the
        site's RECORD lists what was installed, not the wheel's ghost."""
        with_record_rows(factory.build("hello", code=GREET), GHOST)
        options = {"watch": [factory.directory], "verify_sites": "hash", "live": False}
        host = host_factory("greeter", [GreeterSpec], **options)
        assert host.hook.greet(name="Ada") == ["hi"]
        host.stop()
        host.start()
        assert host.hook.greet(name="Ada") == ["hi"]
        assert not host.problems()
