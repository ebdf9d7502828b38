"""``[[pluginhost.index]]`` tables of a configuration file, read as
:class:`~pluginhost.discover.index_settings.IndexSettings`.

Example::

    [[pluginhost.index]]
    url = "https://pypi.example.org/team/plugins/+simple/"
    projects = ["hello-plugin"]      # default: every project of the index
    poll_interval = 30
    timeout = 10
    ca = "company-ca.pem"            # relative to the file
    follow_offsite_redirects = false
    username = "fleet"               # better: PLUGINHOST_INDEX_USERNAME/_PASSWORD or .netrc
    password = "..."
    rollout = { host_id = "web-1", steps = [[0, 10], [1800, 50], [7200, 100]] }
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from ..discover.index_settings import IndexSettings
from ..model.errors import PluginHostError, SettingsError
from ..model.rollout import Rollout

__all__ = ["INDEX_KEYS", "read_indexes"]

#: The keys of one ``[[pluginhost.index]]`` table.
INDEX_KEYS: Final = (
    "url", "projects", "poll_interval", "timeout", "ca", "follow_offsite_redirects",
    "username", "password", "rollout",
)  # fmt: skip

Fail = Callable[[str, str], PluginHostError]


def read_indexes(
    value: object, fail: Fail, resolve: Callable[[str], Path]
) -> tuple[IndexSettings, ...]:
    """Each table of ``value`` (an array of tables) as an index to follow.

    :param fail: makes the error for a key (``index[0].url``) and a reason.
    :param resolve: a path of the file, made absolute against its folder.
    :raises PluginHostError: what ``fail`` makes, naming the key at fault.
    """
    if isinstance(value, Mapping):
        value = [value]  # [pluginhost.index] written once, as a table
    if not isinstance(value, list):
        raise fail("index", "must be an array of tables ([[pluginhost.index]])")
    return tuple(_one(table, f"index[{n}]", fail, resolve) for n, table in enumerate(value))


def _one(table: object, key: str, fail: Fail, resolve: Callable[[str], Path]) -> IndexSettings:
    if not isinstance(table, Mapping):
        raise fail(key, "must be a table")
    unknown = sorted(set(table) - set(INDEX_KEYS))
    if unknown:
        raise fail(f"{key}.{unknown[0]}", f"unknown key (known: {', '.join(INDEX_KEYS)})")
    if "url" not in table:
        raise fail(f"{key}.url", "is required (the index's simple root)")
    if ("username" in table) != ("password" in table):
        raise fail(key, "username and password go together")
    given: dict[str, Any] = {k: table[k] for k in ("url", "projects") if k in table}
    for name in ("poll_interval", "timeout", "follow_offsite_redirects"):
        if name in table:
            given[name] = table[name]
    if "ca" in table:
        given["ca"] = resolve(_string(table["ca"], f"{key}.ca", fail))
    if "username" in table:
        user = _string(table["username"], f"{key}.username", fail)
        given["auth"] = (user, _string(table["password"], f"{key}.password", fail))
    if "rollout" in table:
        given["rollout"] = _rollout(table["rollout"], f"{key}.rollout", fail)
    try:
        return IndexSettings(**given)
    except SettingsError as exc:
        field = exc.key.removeprefix("index.")
        raise fail(f"{key}.{field}", exc.reason) from exc
    except (TypeError, ValueError) as exc:
        raise fail(key, str(exc)) from exc


def _string(value: object, key: str, fail: Fail) -> str:
    if not isinstance(value, str):
        raise fail(key, "must be a string")
    return value


def _rollout(value: object, key: str, fail: Fail) -> Rollout:
    if not isinstance(value, Mapping):
        raise fail(key, "must be a table ({ steps = [[0, 10], [1800, 50], [7200, 100]] })")
    unknown = sorted(set(value) - {"host_id", "steps"})
    if unknown:
        raise fail(f"{key}.{unknown[0]}", "unknown key (known: host_id, steps)")
    try:
        return Rollout(**value)
    except SettingsError as exc:
        raise fail(key, exc.reason) from exc
