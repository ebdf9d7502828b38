"""pluginhost: a pluggy plugin host that discovers, resolves, installs and hot-swaps plugin wheels.

The public surface is what this module exports; every other module is private.
"""

from ._candidate import Candidate, InstalledOrigin, WheelOrigin
from ._errors import (
    ActivationError,
    BuildError,
    HostStateError,
    InstallError,
    ManifestError,
    PluginHostError,
    ResolutionError,
    StoreError,
    TrustError,
    VersionError,
    WheelError,
)
from ._events import Event, EventKind
from ._host import PluginHost
from ._manifest import Manifest
from ._policy import VersionPolicy
from ._problems import Problem, ProblemKind
from ._sources import EnvironmentSource, Scan, Source, WheelFolderSource
from ._status import HistoryEntry, PluginInfo, PluginState, PluginStatus
from ._transition import Timeouts
from ._versions import Constraint, Version
from ._wheel import WheelInfo, WheelLimits

__all__ = [
    "ActivationError",
    "BuildError",
    "Candidate",
    "Constraint",
    "EnvironmentSource",
    "Event",
    "EventKind",
    "HistoryEntry",
    "HostStateError",
    "InstallError",
    "InstalledOrigin",
    "Manifest",
    "ManifestError",
    "PluginHost",
    "PluginHostError",
    "PluginInfo",
    "PluginState",
    "PluginStatus",
    "Problem",
    "ProblemKind",
    "ResolutionError",
    "Scan",
    "Source",
    "StoreError",
    "Timeouts",
    "TrustError",
    "Version",
    "VersionError",
    "VersionPolicy",
    "WheelError",
    "WheelFolderSource",
    "WheelInfo",
    "WheelLimits",
    "WheelOrigin",
]
