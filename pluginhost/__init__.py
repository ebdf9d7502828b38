"""pluginhost: a pluggy plugin host that discovers, resolves, installs and hot-swaps plugin wheels.

The public surface is what this module exports; every other module is private.

The names are imported when first used (PEP 562): ``import pluginhost`` costs next to nothing,
and a host pays for what it uses. Errors go by their public name (``pluginhost.WheelError``)
wherever they are raised, so the type an event or the audit log names stays importable.

PYTEST_DONT_REWRITE: pytest marks every module of a distribution declaring a ``pytest11``
plugin (``pluginhost.testing``) for its assertion rewriting, and warns of those imported
before it parses its arguments, as this package is by a host started with pytest
(docs/hosting.md): a warning ``filterwarnings = error`` turned into a failed session.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .discover.archive import WheelLimits
    from .discover.environment import EnvironmentSource
    from .discover.folder import WheelFolderSource
    from .discover.following import IndexSource
    from .discover.index_settings import IndexSettings
    from .discover.report import WheelReport
    from .discover.sources import (
        Scan,
        Source,
    )
    from .discover.wheel import WheelInfo
    from .host.doctor import (
        Diagnosis,
        Finding,
    )
    from .host.host import PluginHost
    from .host.metrics import HostMetrics
    from .host.settings import Settings
    from .host.snapshot import HostSnapshot
    from .model.answers import HookAnswer
    from .model.candidate import (
        Candidate,
        InstalledOrigin,
        WheelOrigin,
    )
    from .model.errors import (
        ActivationError,
        BuildError,
        CallError,
        CodecError,
        DependencyConflictError,
        HostStateError,
        IndexHashError,
        IndexResponseError,
        IndexUnavailableError,
        InstallError,
        ManifestError,
        PackageIndexError,
        PluginCrashedError,
        PluginHostError,
        PluginLoadError,
        PluginTimeoutError,
        RemotePluginError,
        ResolutionError,
        SettingsError,
        StoreError,
        TrustError,
        UnorderableVersionError,
        VersionError,
        WheelError,
    )
    from .model.events import (
        Event,
        EventKind,
    )
    from .model.limits import ResourceLimits
    from .model.manifest import Manifest
    from .model.policy import VersionPolicy
    from .model.problems import (
        Problem,
        ProblemKind,
        Requirement,
    )
    from .model.rollout import Rollout
    from .model.status import (
        HistoryEntry,
        PluginInfo,
        PluginState,
        PluginStatus,
    )
    from .model.versions import (
        Constraint,
        Version,
    )
    from .swap.transition import Timeouts

# Each public name and the private module that defines it.
_EXPORTS: dict[str, str] = {
    "ActivationError": ".model.errors",
    "BuildError": ".model.errors",
    "CallError": ".model.errors",
    "Candidate": ".model.candidate",
    "CodecError": ".model.errors",
    "Constraint": ".model.versions",
    "DependencyConflictError": ".model.errors",
    "Diagnosis": ".host.doctor",
    "EnvironmentSource": ".discover.environment",
    "Event": ".model.events",
    "EventKind": ".model.events",
    "Finding": ".host.doctor",
    "HistoryEntry": ".model.status",
    "HookAnswer": ".model.answers",
    "HostMetrics": ".host.metrics",
    "HostSnapshot": ".host.snapshot",
    "HostStateError": ".model.errors",
    "IndexHashError": ".model.errors",
    "IndexResponseError": ".model.errors",
    "IndexSettings": ".discover.index_settings",
    "IndexSource": ".discover.following",
    "IndexUnavailableError": ".model.errors",
    "InstallError": ".model.errors",
    "InstalledOrigin": ".model.candidate",
    "Manifest": ".model.manifest",
    "ManifestError": ".model.errors",
    "PackageIndexError": ".model.errors",
    "PluginCrashedError": ".model.errors",
    "PluginHost": ".host.host",
    "PluginHostError": ".model.errors",
    "PluginInfo": ".model.status",
    "PluginLoadError": ".model.errors",
    "PluginState": ".model.status",
    "PluginStatus": ".model.status",
    "PluginTimeoutError": ".model.errors",
    "Problem": ".model.problems",
    "ProblemKind": ".model.problems",
    "RemotePluginError": ".model.errors",
    "Requirement": ".model.problems",
    "ResolutionError": ".model.errors",
    "ResourceLimits": ".model.limits",
    "Rollout": ".model.rollout",
    "Scan": ".discover.sources",
    "Settings": ".host.settings",
    "SettingsError": ".model.errors",
    "Source": ".discover.sources",
    "StoreError": ".model.errors",
    "Timeouts": ".swap.transition",
    "TrustError": ".model.errors",
    "UnorderableVersionError": ".model.errors",
    "Version": ".model.versions",
    "VersionError": ".model.errors",
    "VersionPolicy": ".model.policy",
    "WheelError": ".model.errors",
    "WheelFolderSource": ".discover.folder",
    "WheelInfo": ".discover.wheel",
    "WheelLimits": ".discover.archive",
    "WheelOrigin": ".model.candidate",
    "WheelReport": ".discover.report",
}

__all__ = [
    "ActivationError",
    "BuildError",
    "CallError",
    "Candidate",
    "CodecError",
    "Constraint",
    "DependencyConflictError",
    "Diagnosis",
    "EnvironmentSource",
    "Event",
    "EventKind",
    "Finding",
    "HistoryEntry",
    "HookAnswer",
    "HostMetrics",
    "HostSnapshot",
    "HostStateError",
    "IndexHashError",
    "IndexResponseError",
    "IndexSettings",
    "IndexSource",
    "IndexUnavailableError",
    "InstallError",
    "InstalledOrigin",
    "Manifest",
    "ManifestError",
    "PackageIndexError",
    "PluginCrashedError",
    "PluginHost",
    "PluginHostError",
    "PluginInfo",
    "PluginLoadError",
    "PluginState",
    "PluginStatus",
    "PluginTimeoutError",
    "Problem",
    "ProblemKind",
    "RemotePluginError",
    "Requirement",
    "ResolutionError",
    "ResourceLimits",
    "Rollout",
    "Scan",
    "Settings",
    "SettingsError",
    "Source",
    "StoreError",
    "Timeouts",
    "TrustError",
    "UnorderableVersionError",
    "Version",
    "VersionError",
    "VersionPolicy",
    "WheelError",
    "WheelFolderSource",
    "WheelInfo",
    "WheelLimits",
    "WheelOrigin",
    "WheelReport",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return _version()
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # the next access is a plain global
    return value


def __dir__() -> list[str]:
    # The public names and the module's own dunders: not this module's helpers (importlib,
    # Any) nor the subpackages imported as the names were used.
    return sorted({*__all__, "__version__", *(n for n in globals() if n.startswith("__"))})


def _version() -> str:
    # Looked up on first use only: reading the distribution's metadata costs a few
    # milliseconds that ``import pluginhost`` should not pay.
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        found = version(__name__)
    except PackageNotFoundError:  # a checkout on sys.path, never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found
