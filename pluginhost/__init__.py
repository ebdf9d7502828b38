"""pluginhost: a pluggy plugin host that discovers, resolves, installs and hot-swaps plugin wheels.

The public surface is what this module exports; every other module is private.
"""

from .discover.archive import WheelLimits
from .discover.environment import EnvironmentSource
from .discover.folder import WheelFolderSource
from .discover.sources import Scan, Source
from .discover.wheel import WheelInfo
from .host.host import PluginHost
from .host.settings import Settings
from .model.candidate import Candidate, InstalledOrigin, WheelOrigin
from .model.errors import (
    ActivationError,
    BuildError,
    DependencyConflictError,
    HostStateError,
    InstallError,
    ManifestError,
    PluginHostError,
    ResolutionError,
    SettingsError,
    StoreError,
    TrustError,
    VersionError,
    WheelError,
)
from .model.events import Event, EventKind
from .model.manifest import Manifest
from .model.policy import VersionPolicy
from .model.problems import Problem, ProblemKind, Requirement
from .model.status import HistoryEntry, PluginInfo, PluginState, PluginStatus
from .model.versions import Constraint, Version
from .swap.transition import Timeouts

__all__ = [
    "ActivationError",
    "BuildError",
    "Candidate",
    "Constraint",
    "DependencyConflictError",
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
    "Requirement",
    "ResolutionError",
    "Scan",
    "Settings",
    "SettingsError",
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

# Errors go by their public name (``pluginhost.WheelError``) in events and the audit log, so the
# type a log names stays importable wherever the private module that defines it lives.
for _error in [globals()[name] for name in __all__]:
    if isinstance(_error, type) and issubclass(_error, PluginHostError):
        _error.__module__ = __name__
del _error
