"""What a host is told of a package index it follows: one frozen value, given to
:class:`~pluginhost.IndexSource` or read from a ``[[pluginhost.index]]`` table of
``pluginhost.toml`` (``Settings.index``)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import attrs

from ..model.errors import SettingsError
from ..model.frozen import frozen
from ..model.names import canonicalize_name
from ..model.rollout import Rollout

__all__ = ["IndexSettings", "display_url"]


def display_url(url: str) -> str:
    """``url`` without credentials: what logs, events and problems may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))


def _url(settings: object, attribute: object, value: str) -> None:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        shown = display_url(value) if isinstance(value, str) else repr(value)
        raise SettingsError(f"must be an http(s) URL, not {shown!r}", key="index.url")


def _projects(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(n, str) and n for n in names):
        raise SettingsError("must be project names", key="index.projects")
    return tuple(sorted({canonicalize_name(n) for n in names}))


def _seconds(settings: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise SettingsError("must be a positive number of seconds", key=f"index.{attribute.name}")


def _auth(settings: object, attribute: object, value: tuple[str, str] | None) -> None:
    ok = value is None or (
        isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)
    )
    if not ok:
        raise SettingsError("must be (user, password)", key="index.auth")  # never the value


def _optional_path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None else Path(value)


def _auth_pair(value: Iterable[str] | None) -> tuple[str, str] | None:
    return None if value is None else tuple(value)  # type: ignore[return-value]  # checked


@frozen
class IndexSettings:
    """A package index to follow; see :class:`~pluginhost.IndexSource` for each field.

    :raises SettingsError: naming the field whose value is wrong (never a credential).
    """

    url: str = attrs.field(validator=_url, repr=display_url)
    projects: tuple[str, ...] | None = attrs.field(default=None, converter=_projects)
    poll_interval: float = attrs.field(default=30.0, validator=_seconds)
    rollout: Rollout | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Rollout))
    )
    # Never shown: not in the repr, nor in any error.
    auth: tuple[str, str] | None = attrs.field(
        default=None, converter=_auth_pair, validator=_auth, repr=False
    )
    ca: Path | None = attrs.field(default=None, converter=_optional_path)
    follow_offsite_redirects: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    timeout: float = attrs.field(default=10.0, validator=_seconds)

    @property
    def shown_url(self) -> str:
        """The URL without credentials."""
        return display_url(self.url)
