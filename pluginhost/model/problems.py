"""Problems: why a plugin was skipped, in a form both people and programs can read."""

from __future__ import annotations

import enum
from typing import Final

from .frozen import frozen

#: How a wheel's refusal reads when its bytes could not be read through (an I/O error, the
#: site writer lost, an error no check expected): unlike a refusal for what the bytes hold,
#: it may pass at the next read.
CANNOT_READ: Final = "cannot read the file"
WRITER_LOST: Final = "the site writer was lost"
READ_FAILED: Final = "reading it failed unexpectedly"
UNREAD: Final = (CANNOT_READ, WRITER_LOST, READ_FAILED)


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
    SOURCE_DISTRIBUTION = "source_distribution"
    """A source distribution (``.tar.gz``, ``.zip``) lies in a watched folder: it is not built,
    and nothing in it is read."""
    FOLDER_UNAVAILABLE = "folder_unavailable"
    """A watched folder is missing or unreadable; its plugins keep serving meanwhile."""
    DISABLED = "disabled"
    """Disabled with ``host.disable()`` or ``pluginhost disable``, until enabled again."""
    BLOCKED = "blocked"
    """Kept out by the host's ``only`` or ``block`` settings."""
    UNKNOWN_HOOKS = "unknown_hooks"
    """It implements hooks that no spec of the host knows (a warning while it serves, or the
    reason it was refused with ``unknown_hooks="refuse"``)."""
    QUARANTINED = "quarantined"
    """A process plugin whose worker crashed too often: it gets no more restarts until an
    operator brings it back (``host.rollback()``, a new version, ``pluginhost restart``)."""
    INDEX_UNAVAILABLE = "index_unavailable"
    """A followed package index cannot be read now (down, slow, failing, garbage); what it
    offered keeps serving."""
    PROJECT_UNAVAILABLE = "project_unavailable"
    """A project on a followed package index cannot be read now (its page failed: an HTTP
    error, garbage, a page over the size cap, a timeout), or the index's root listing names it
    in a way no request can take; the other projects are followed, and what the index offered
    of this one stands (it keeps serving, nothing of it is taken back)."""
    NOT_ON_INDEX = "not_on_index"
    """A followed package index offers no version of a project; the version serving keeps
    serving."""
    ROLLOUT = "rollout"
    """A newer release on a followed index has not reached this host yet (staged rollout)."""

    def __str__(self) -> str:
        return self.value


@frozen
class Requirement:
    """One plugin's requirement on another, as a problem reports it: who requires what, and
    what was at hand.

    >>> needs = Requirement("polite", "1.1.0", "hello", "^2.0", available=("1.2.0", "1.0.0"))
    >>> f"{needs.plugin} {needs.version} requires {needs.requires} {needs.constraint}"
    'polite 1.1.0 requires hello ^2.0'

    :param plugin: the plugin that requires.
    :param version: its version.
    :param requires: the plugin it requires.
    :param constraint: the constraint it puts on that plugin, as written (``^2.0``).
    :param available: the versions of the required plugin that the host could load, highest
        first; empty when there are none (``missing``).
    :param chosen: the version of the required plugin chosen in its place (by other plugins'
        requirements, or as the highest at hand), when one was.
    """

    plugin: str
    version: str
    requires: str
    constraint: str
    available: tuple[str, ...] = ()
    chosen: str | None = None


@frozen
class Problem:
    """One reason why a plugin (or one of its versions) is not loaded.

    :param kind: the kind of problem.
    :param plugin: the plugin concerned.
    :param message: a complete sentence for people, naming everything involved.
    :param involved: the other plugins involved: the required plugin of a ``missing`` or
        ``unsatisfiable`` requirement, the chain down to the root cause of a
        ``dependency_failed``, the other members of a ``cycle``.
    :param version: the version concerned, when the problem is about one version.
    :param path: the file concerned, when there is one.
    :param requirement: the requirement that is not met, as fields: set on ``missing`` and
        ``unsatisfiable`` problems, and on ``dependency_failed`` ones that resolution found.
    """

    kind: ProblemKind
    plugin: str | None
    message: str
    involved: tuple[str, ...] = ()
    version: str | None = None
    path: str | None = None
    requirement: Requirement | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"
