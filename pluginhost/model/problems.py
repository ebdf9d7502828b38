"""Problems: why a plugin was skipped, in a form both people and programs can read."""

from __future__ import annotations

import enum

import attrs


class ProblemKind(str, enum.Enum):
    """What kind of reason kept a plugin (or one version of it) out."""

    MANIFEST_INVALID = "manifest_invalid"
    """Its plugin.toml or metadata could not be used."""
    WHEEL_INVALID = "wheel_invalid"
    """Its wheel was refused by validation."""
    REFUSED = "refused"
    """A version was refused by the host constraint or the version policy."""
    CONFLICT = "conflict"
    """Two sources offer the same name and version with different contents, or two plugins
    claim the same top-level module."""
    MISSING = "missing"
    """A required plugin is not available at all."""
    UNSATISFIABLE = "unsatisfiable"
    """A required plugin is available, but no available version meets the constraint."""
    CYCLE = "cycle"
    """Plugins require each other in a cycle."""
    DEPENDENCY_FAILED = "dependency_failed"
    """A plugin it requires was itself skipped or failed to load."""
    REQUIREMENT_FAILED = "requirement_failed"
    """A Requires-Dist requirement is met neither by the environment nor by a wheel at hand."""
    LOAD_FAILED = "load_failed"
    """Installing, importing, registering or activating it failed."""
    UNTRUSTED = "untrusted"
    """A wheel or a watched folder fails the trust policy (strict modes, trusted hashes): it
    is refused unread."""
    FOLDER_UNAVAILABLE = "folder_unavailable"
    """A watched folder is missing or unreadable; its plugins keep serving meanwhile."""

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class Problem:
    """One reason why a plugin (or one of its versions) is not loaded.

    :param kind: the kind of problem.
    :param plugin: the plugin concerned.
    :param message: a complete sentence for people, naming everything involved.
    :param involved: the other plugins involved (the cycle's members, the missing dependency).
    :param version: the version concerned, when the problem is about one version.
    :param path: the file concerned, when there is one.
    """

    kind: ProblemKind
    plugin: str | None
    message: str
    involved: tuple[str, ...] = ()
    version: str | None = None
    path: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"
