"""The registry's record of a shared dependency: which version serves, from which dir, for whom."""

from __future__ import annotations

from typing import Any

from ..model.frozen import frozen
from .fields import obj, text, texts

__all__ = ["DepRecord", "DepUser"]


@frozen
class DepUser:
    """A plugin using a shared dependency, and what it needs of it.

    :param plugin: the plugin's name.
    :param version: the plugin's version (a user is the version that needed it).
    :param who: the plugin and its version, or the dependency that needs this one
        (``"anthropic 1.0.0"``).
    :param requirement: the requirement as written (``"opentelemetry-api>=1.20"``).
    """

    plugin: str
    version: str
    who: str
    requirement: str


@frozen
class DepRecord:
    """One shared dependency serving, enough to serve it again after a restart.

    :param distribution: its normalized name.
    :param version: its version.
    :param sha256: the sha256 of its wheel.
    :param site_dir: its dir, relative to the home's ``deps/`` folder.
    :param top_level: the top-level names served from that dir.
    :param dist_info: its ``.dist-info`` dir inside ``site_dir``.
    :param users: the plugins using it.
    """

    distribution: str
    version: str
    sha256: str
    site_dir: str
    top_level: tuple[str, ...]
    dist_info: str
    users: tuple[DepUser, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "distribution": self.distribution,
            "version": self.version,
            "sha256": self.sha256,
            "site_dir": self.site_dir,
            "top_level": list(self.top_level),
            "dist_info": self.dist_info,
            "users": [[u.plugin, u.version, u.who, u.requirement] for u in self.users],
        }

    @classmethod
    def from_json(cls, data: Any) -> DepRecord:
        """:raises TypeError: naming a field of another type than :meth:`to_json` writes;
        KeyError."""
        data = obj(data, "a shared dependency")
        users = data["users"]
        if not isinstance(users, list) or not all(_is_user(u) for u in users):
            raise TypeError("users must be a list of four strings each")
        return cls(
            distribution=text(data, "distribution"),
            version=text(data, "version"),
            sha256=text(data, "sha256"),
            site_dir=text(data, "site_dir"),
            top_level=texts(data, "top_level"),
            dist_info=text(data, "dist_info"),
            users=tuple(DepUser(*u) for u in users),
        )


def _is_user(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 4 and all(isinstance(v, str) for v in value)
