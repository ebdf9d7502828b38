"""Private dependencies: a process plugin's third-party requirements, installed for it alone.

A process plugin imports nothing into the host, so it needs no shared dependency
(:mod:`.dependencies`) and no clash check. Each requirement of its ``Requires-Dist`` that names
no other plugin is met, in order:

1. by the best dependency wheel in the watched folders that meets it (and the wheels that one
   requires), installed into ``home/private/<plugin>/<distribution>-<version>-<sha8>/`` with the
   validation, staging and RECORD checks of every site dir (:class:`~..install.deps.DepSites`);
2. otherwise by the host environment's copy, when it meets the requirement.

The dirs go first on the worker's ``sys.path`` (after the plugin's own site dir), so two process
plugins needing conflicting versions of one library both serve, and either may differ from the
host's own version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

from ..discover.wheel import WheelInfo
from ..install.deps import DepSites
from ..install.sites import Handover
from ..model.candidate import Candidate, WheelOrigin
from ..resolve.links import third_party
from ..resolve.shared import choose_dependencies
from .dependencies import environment_version
from .settings import Settings

__all__ = ["PrivateDependencies"]


class PrivateDependencies:
    """The private dependency dirs of the process plugins of one home.

    :param config: the host's settings (home, staging, limits, how site dirs are checked).
    :param validated: hands over the bytes discovery validated.
    :param wheels: the dependency wheels at hand in the watched folders now.
    :param installed: the version of a distribution in the host environment.
    """

    def __init__(
        self,
        config: Settings,
        validated: Handover,
        wheels: Callable[[], Sequence[WheelInfo]],
        installed: Callable[[str], str | None] = environment_version,
    ) -> None:
        self._root = config.site_root.parent / "private"
        self._config = config
        self._validated = validated
        self._wheels = wheels
        self._installed = installed

    def paths(self, candidate: Candidate) -> tuple[str, ...]:
        """Install what ``candidate`` needs for itself; its dirs, first wins.

        :raises DependencyConflictError: when a requirement is met by neither a wheel at hand
            nor the environment.
        :raises WheelError, InstallError, TrustError: when a dependency cannot be installed.
        """
        if not isinstance(candidate.origin, WheelOrigin):
            return ()  # installed in the environment, with what it requires, by its installer
        wheels = self._wheels()
        offered = {canonicalize_name(w.distribution) for w in wheels}

        def installed(name: str) -> str | None:
            # A wheel at hand is the plugin's own choice over the host's copy.
            return None if name in offered else self._installed(name)

        choices = choose_dependencies(
            candidate.name,
            f"{candidate.name} {candidate.version_text}",
            third_party(candidate),
            wheels,
            {},
            installed,
        )
        sites = self._sites(candidate)
        return tuple(
            str(sites.install(c.wheel, candidate.name)[0]) for c in choices if c.wheel is not None
        )

    def _sites(self, candidate: Candidate) -> DepSites:
        config = self._config
        root: Path = self._root / candidate.name
        return DepSites(
            root, config.staging_root, config.limits, self._validated, config.verify_sites
        )
