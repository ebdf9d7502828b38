"""Credentials for a package index: from the caller, the environment, or ``.netrc``.

A password is never printed: :class:`Credentials` hides it in its repr, and the client strips
userinfo from every URL it prints (errors name URLs without ``user:password@``).
"""

from __future__ import annotations

import netrc
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from ...model.errors import SettingsError
from ...model.frozen import frozen

#: The environment variables that give the index's credentials when the settings do not.
USERNAME_VAR = "PLUGINHOST_INDEX_USERNAME"
PASSWORD_VAR = "PLUGINHOST_INDEX_PASSWORD"


@frozen(repr=False)
class Credentials:
    """A user name and password for HTTP basic auth; the repr shows the user, never the password."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password='***')"


def split_userinfo(url: str) -> tuple[str, Credentials | None]:
    """``url`` without ``user:password@``, and the credentials it carried (pip's way of giving
    them), percent-decoded.
    """
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    bare = urlunsplit(parts._replace(netloc=host))
    return bare, Credentials(unquote(parts.username), unquote(parts.password or ""))


def find_credentials(
    url: str,
    given: tuple[str, str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Credentials | None:
    """The credentials to send to the index at ``url``, the first found of: ``given``, userinfo in
    ``url``, the environment (:data:`USERNAME_VAR`, :data:`PASSWORD_VAR`), the ``.netrc`` file
    (``$NETRC``, else ``~/.netrc``) entry for the URL's host.

    :raises SettingsError: the ``.netrc`` file exists but cannot be parsed (its line is named,
        never its content).
    """
    env = os.environ if environ is None else environ
    if given is not None:
        return Credentials(*given)
    _, inline = split_userinfo(url)
    if inline is not None:
        return inline
    if env.get(USERNAME_VAR):
        return Credentials(env[USERNAME_VAR], env.get(PASSWORD_VAR, ""))
    return _from_netrc(urlsplit(url).hostname or "", env)


def _from_netrc(host: str, env: Mapping[str, str]) -> Credentials | None:
    given = env.get("NETRC")
    path = Path(given) if given else Path.home() / ".netrc"
    if not path.is_file():
        return None
    try:
        # Given no file, netrc reads ~/.netrc and refuses it when others may read its passwords.
        entry = netrc.netrc(given or None).authenticators(host)
    except netrc.NetrcParseError as e:
        # The parser's message quotes the token it choked on, which may be a password.
        raise SettingsError(f"cannot be parsed: {path} line {e.lineno}", key="auth") from None
    except OSError as e:
        raise SettingsError(f"cannot be read: {path}: {e.strerror}", key="auth") from None
    if entry is None:
        return None
    login, _, password = entry
    return Credentials(login, password or "")
