"""Shared dependency sites: a third-party dependency wheel installed once, for every plugin.

A dependency wheel (one that offers no plugin) found in the watched folders is installed into a
dir of its own under the home's ``deps/`` folder, named by what it holds
(``<distribution>-<version>-<sha8>``) like a plugin's site dir, with the same validation, the
same staging and rename, and the same comparison with its RECORD before a dir this process did
not install is first imported from.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path
from typing import Final

from ..discover.archive import WheelLimits
from ..discover.core_headers import core_headers
from ..discover.wheel import WheelInfo
from ..model.errors import TrustError
from ..state.regular import read_small
from .site_record import SiteCheck, site_fault
from .sites import Handover, delete_dir, prune_dirs

__all__ = ["DepSites", "requires_dist_of"]

logger = logging.getLogger(__name__)
#: The most of an installed dependency's METADATA read for its requirements.
_METADATA_SIZE: Final = 16 * 1024 * 1024


class DepSites:
    """The shared dependency sites under one home.

    :param root: the home's ``deps/``.
    :param staging_root: the home's ``staging/``.
    :param limits: bounds on wheel archives.
    :param validated: hands over the bytes discovery validated.
    :param verify: how a dir is compared with its RECORD before it is first used.
    """

    def __init__(
        self,
        root: Path,
        staging_root: Path,
        limits: WheelLimits,
        validated: Handover = lambda path, sha256: None,
        verify: SiteCheck = "size",
    ) -> None:
        self.root = root
        self.staging_root = staging_root
        self.limits = limits
        self.verify = verify
        self._validated = validated
        self._verified: set[Path] = set()

    def install(self, wheel: WheelInfo, plugin: str) -> tuple[Path, tuple[str, ...], bool]:
        """Install ``wheel`` (or reuse its dir, when these bytes are installed already).

        :param plugin: the plugin that needs it, named by errors.
        :returns: its dir, its top-level names, and whether the dir was installed anew.
        :raises WheelError: when the wheel is refused or changed since it was read.
        :raises InstallError: when the file system refuses the install.
        :raises TrustError: when an existing dir differs from its RECORD.
        """
        from .installer import install_wheel  # imported at the first install, as in .sites

        site = install_wheel(
            wheel.path,
            site_root=self.root,
            staging_root=self.staging_root,
            name=wheel.distribution,
            version=wheel.version,
            expected_sha256=wheel.sha256,
            limits=self.limits,
            validated=self._validated(wheel.path, wheel.sha256),
        )
        if site.reused:
            self.check(site.path, plugin)
        self._verified.add(site.path)
        return site.path, site.top_level, not site.reused

    def check(self, site: Path, plugin: str) -> None:
        """Refuse a dir that changed since it was installed, before anything imports from it.

        :raises TrustError: naming the file and the reason.
        """
        if site in self._verified:
            return
        fault = site_fault(site, self.verify)
        if fault is not None:
            path, reason = fault
            raise TrustError(
                f"{path} {reason}; this shared dependency is not imported (once its dir is "
                "gone, it is installed again from its wheel)",
                plugin=plugin,
                path=path,
            )
        self._verified.add(site)

    def delete(self, name: str, version: str) -> None:
        """Delete the dir ``name`` (renamed aside first, so a crash leaves only a dot-dir)."""
        target = self.root / Path(name).name
        self._verified.discard(target)
        delete_dir(target, version)

    def prune(self, keep: Collection[str]) -> list[str]:
        """Delete the dirs not in ``keep`` (left by a crash); returns their names."""
        return prune_dirs(self.root, keep)


def requires_dist_of(metadata: Path) -> tuple[str, ...]:
    """The ``Requires-Dist`` header lines of an installed ``METADATA`` (validated when its
    wheel was installed); none when it cannot be read (logged: its users' imports say more)."""
    try:
        text = read_small(str(metadata), max_size=_METADATA_SIZE).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        logger.warning("cannot read %s: %s", metadata, exc)
        return ()
    return tuple(core_headers(text).get("requires-dist", ()))
