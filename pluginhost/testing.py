"""Test helpers for plugin authors and for pluginhost's own tests: a wheel factory and fixtures.

:class:`WheelFactory` writes real wheels with :mod:`zipfile` and a correct RECORD, in about a
millisecond, without a build backend; with ``broken=`` (one of :data:`BROKEN_KINDS`) it writes a
wheel that validation must refuse. :func:`misbehaving_code` writes plugins that misbehave at one
stage of their life in one of the ways of :data:`MISBEHAVIOURS`.

This module is also a pytest plugin (the ``pytest11`` entry point ``pluginhost``), providing the
``wheel_factory`` and ``host_factory`` fixtures. It stays importable without pytest. The helpers
live in :mod:`pluginhost.testkit`; this module is their public face.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .testkit.hostile import BROKEN_KINDS
from .testkit.misbehave import (
    MISBEHAVING_STAGES,
    MISBEHAVIOURS,
    misbehaving_code,
    release_misbehaving,
)
from .testkit.wheels import WheelFactory

if TYPE_CHECKING:
    from .host.host import PluginHost

__all__ = [
    "BROKEN_KINDS",
    "MISBEHAVING_STAGES",
    "MISBEHAVIOURS",
    "WheelFactory",
    "misbehaving_code",
    "release_misbehaving",
]

# Importing pytest costs library users about 100 ms; under pytest it is already imported, since
# pytest loads this module as a plugin.
if "pytest" in sys.modules:
    import pytest

    @pytest.fixture
    def wheel_factory(tmp_path: Path) -> WheelFactory:
        """A :class:`WheelFactory` writing into ``tmp_path / "wheels"``."""
        return WheelFactory(tmp_path / "wheels")

    @pytest.fixture
    def host_factory(tmp_path: Path) -> Iterator[Callable[..., PluginHost]]:
        """Makes started :class:`~pluginhost.PluginHost` objects, stopped at teardown.

        Takes the same arguments as ``PluginHost``; ``home`` defaults to ``tmp_path / "home"``
        and ``environment`` to ``False``, so the host sees only the wheels the test gives it::

            def test_greets(host_factory, wheel_factory):
                wheel_factory.build("hello", code=GREET)
                host = host_factory("greeter", specs=[GreeterSpec], watch=[wheel_factory.directory])
                assert host.hook.greet(name="Ada") == ["Hello, Ada!"]
        """
        from .host.host import PluginHost

        hosts: list[PluginHost] = []

        def make(project: str, *args: Any, **kwargs: Any) -> PluginHost:
            kwargs.setdefault("home", tmp_path / "home")
            kwargs.setdefault("environment", False)
            host = PluginHost(project, *args, **kwargs)
            hosts.append(host)
            return host.start()

        yield make
        for host in reversed(hosts):
            host.stop()
