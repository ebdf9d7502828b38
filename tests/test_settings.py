"""The one settings type: the constructor, the configuration file and the engine read it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs
import pytest

from pluginhost import (
    PluginHost,
    ResourceLimits,
    Settings,
    SettingsError,
    Timeouts,
    VersionError,
    VersionPolicy,
    WheelLimits,
)
from pluginhost.discover.index_settings import IndexSettings
from pluginhost.host.config_file import FILE_KEYS, ConfigError, HostConfig
from pluginhost.host.settings import NAMES

#: A value other than the default for every setting: (Python value, TOML text or None when a
#: file cannot hold it). Paths are relative to the file's folder, ``tmp_path`` here.
OTHER: dict[str, tuple[Any, str | None]] = {
    "home": (Path("home"), '"home"'),
    "watch": ((Path("a"), Path("b")), '["a", "b"]'),
    "api_version": ("2.3.0", '"2.3.0"'),
    "policy": (VersionPolicy(allow_downgrade=True), "{ allow_downgrade = true }"),
    "group": ("greeter.extras", '"greeter.extras"'),
    "environment": (False, "false"),
    "include": (("*.whl", "*.zip"), '["*.whl", "*.zip"]'),
    "exclude": (("old-*",), '"old-*"'),
    "max_depth": (2, "2"),
    "follow_symlinks": (True, "true"),
    "limits": (WheelLimits(max_members=7), "{ max_members = 7 }"),
    "trust": ("hashes", '"hashes"'),
    "trust_file": (Path("trust.txt"), '"trust.txt"'),
    "strict_modes": (False, "false"),
    "verify_sites": ("hash", '"hash"'),
    "live": (False, None),
    "application_first": (True, None),
    "polling": (True, "true"),
    "rescan_interval": (2.5, "2.5"),
    "settle": (1.0, "1"),
    "timeouts": (Timeouts(import_=4.0, drain=2.0), "{ import = 4, drain = 2 }"),
    "keep_backups": (0, "0"),
    "breaking_change": ("cascade", '"cascade"'),
    "persist_state": (True, "true"),
    # Names are normalized like plugin names, in a file as in the constructor.
    "only": (("hello", "polite"), '["hello", "Polite"]'),
    "block": (("needy-plugin",), '"Needy_Plugin"'),
    "unknown_hooks": ("refuse", '"refuse"'),
    "isolation": ("process", '"process"'),
    "resources": (
        ResourceLimits(memory_mb=256, call_timeout_s=2.5),
        "{ memory_mb = 256, call_timeout_s = 2.5 }",
    ),
    "restart_limit": (5, "5"),
    "restart_window": (60.0, "60"),
    "state_interval": (2.0, "2"),
    "index": (
        (IndexSettings("http://127.0.0.1:1/simple/", poll_interval=5.0),),
        '[{ url = "http://127.0.0.1:1/simple/", poll_interval = 5 }]',
    ),
}


def in_dir(tmp_path: Path, value: object) -> object:
    """``value`` with relative paths made absolute against ``tmp_path``, as a file reads them."""
    if isinstance(value, Path):
        return tmp_path / value
    if isinstance(value, tuple) and value and isinstance(value[0], Path):
        return tuple(tmp_path / v for v in value)
    return value


def write(tmp_path: Path, lines: str) -> Path:
    path = tmp_path / "pluginhost.toml"
    path.write_text(f"[pluginhost]\nproject = 'greeter'\n{lines}\n")
    return path


class TestFields:
    def test_every_setting_has_another_value_here(self) -> None:
        """The table above covers every field, so each one is round-tripped below."""
        assert sorted(OTHER) == sorted(NAMES)
        assert all(OTHER[name][0] != getattr(Settings(), name) for name in NAMES)

    def test_every_setting_is_documented(self) -> None:
        """Each field has its docstring beside it, which the API reference shows."""
        source = Path(__file__).parent.parent / "pluginhost" / "host" / "settings.py"
        text = source.read_text("utf-8")
        for name in NAMES:
            assert re.search(rf'^    {name}: .*?\n    """\S', text, re.MULTILINE | re.DOTALL), name

    def test_file_keys_are_the_fields_a_file_can_hold(self) -> None:
        """The file's keys are project, specs and every field but live and application_first
        (which only a host given an application's plugin manager uses)."""
        unfiled = ("live", "application_first")
        assert ("project", "specs", *(n for n in NAMES if n not in unfiled)) == FILE_KEYS


class TestConstructor:
    @pytest.mark.parametrize("name", NAMES)
    def test_each_option_round_trips(self, tmp_path: Path, name: str) -> None:
        """A keyword argument of PluginHost is the field of the same name in host.settings."""
        value = OTHER[name][0]
        options = {"home": tmp_path / "home", name: in_dir(tmp_path, value)}
        host = PluginHost("greeter", **options)
        assert getattr(host.settings, name) == in_dir(tmp_path, value)

    def test_host_parts_work_from_the_settings(self, tmp_path: Path) -> None:
        """The watched folders, the watcher and the engine use the host's settings."""
        names = ("include", "exclude", "max_depth", "follow_symlinks", "limits")
        options = {name: OTHER[name][0] for name in (*names, "watch")}
        host = PluginHost("greeter", home=tmp_path, **options)
        folder = host.folders[1]
        assert folder.path == Path("b").absolute()  # where the host was made
        assert [getattr(folder, n) for n in names] == [OTHER[n][0] for n in names]
        assert host._engine.config is host.settings

    def test_settings_value_and_overrides(self, tmp_path: Path) -> None:
        """settings= passes a whole value; keyword options beside it win."""
        base = Settings(home=tmp_path, keep_backups=7, polling=True)
        host = PluginHost("greeter", settings=base, polling=False)
        assert (host.settings.keep_backups, host.settings.polling) == (7, False)
        assert host.home == tmp_path

    def test_project_defaults_are_filled_in(self) -> None:
        """group, home and trust_file, whose defaults depend on the project, are set (the home
        made absolute: the working directory's at construction)."""
        settings = PluginHost("greeter").settings
        home = Path.cwd() / ".pluginhost" / "greeter"
        assert settings.group == "greeter.plugins"
        assert settings.home == home
        assert settings.trust_file == home / "trusted.txt"
        assert settings.site_root == home / "site"
        assert settings.staging_root == home / "staging"

    def test_settings_are_read_only(self, tmp_path: Path) -> None:
        """host.settings cannot be replaced, nor its fields assigned."""
        host = PluginHost("greeter", home=tmp_path)
        with pytest.raises(AttributeError):
            host.settings = Settings()  # type: ignore[misc]
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            host.settings.keep_backups = 1  # type: ignore[misc]

    def test_unknown_option_names_it(self) -> None:
        """A keyword that is no setting is a TypeError naming it."""
        with pytest.raises(TypeError, match="'keep_backup'"):
            PluginHost("greeter", keep_backup=2)

    @pytest.mark.parametrize(
        ("options", "error", "message"),
        [
            ({"trust": "all"}, ValueError, "trust must be 'permissions' or 'hashes', not 'all'"),
            ({"breaking_change": "x"}, SettingsError, "breaking_change must be 'reject' or"),
            ({"keep_backups": -1}, SettingsError, "keep_backups must not be negative"),
            ({"max_depth": 1.5}, SettingsError, "max_depth must be an integer"),
            ({"settle": 0}, SettingsError, "settle must be a positive number of seconds"),
            ({"rescan_interval": True}, SettingsError, "rescan_interval must be a positive"),
            ({"api_version": "one"}, VersionError, "one"),
            ({"api_version": "1!2.0"}, VersionError, "has an epoch"),
            ({"policy": {}}, TypeError, "policy"),
            ({"live": "yes"}, SettingsError, "live must be True or False, not 'yes'"),
            ({"application_first": 1}, SettingsError, "application_first must be True or"),
            ({"timeouts": Timeouts(import_=-1)}, SettingsError, "timeouts.import_ must be a po"),
            ({"timeouts": Timeouts(health=0)}, SettingsError, "timeouts.health must be a posi"),
            ({"timeouts": 5}, SettingsError, "timeouts must be a Timeouts, not 5"),
            ({"timeouts": Timeouts(activate=float("inf"))}, SettingsError, "a year at most"),
            ({"settle": 1e300}, SettingsError, "settle must be a positive number of seconds"),
        ],
    )
    def test_bad_values(
        self, options: dict[str, Any], error: type[Exception], message: str
    ) -> None:
        """A bad value raises its typed error naming the key, from PluginHost and Settings."""
        with pytest.raises(error, match=re.escape(message)):
            PluginHost("greeter", **options)
        with pytest.raises(error, match=re.escape(message)):
            Settings(**options)

    def test_settings_error_carries_the_key(self) -> None:
        """SettingsError is a ValueError with the setting's name in .key."""
        with pytest.raises(SettingsError) as info:
            Settings(keep_backups=-2)
        assert isinstance(info.value, ValueError)
        assert (info.value.key, info.value.reason) == ("keep_backups", "must not be negative")

    def test_derived_paths_need_a_home(self) -> None:
        """site_root of settings without a home is an error, not a guess."""
        with pytest.raises(SettingsError, match="home is not set"):
            Settings().site_root  # noqa: B018 - the property is the test

    def test_single_folder_and_pattern(self) -> None:
        """One folder or one pattern given alone is one, not one per character."""
        settings = Settings(watch="wheels", include="*.whl")
        assert (settings.watch, settings.include) == ((Path("wheels"),), ("*.whl",))


class TestFile:
    @pytest.mark.parametrize("name", [n for n in NAMES if OTHER[n][1] is not None])
    def test_each_key_round_trips(self, tmp_path: Path, name: str) -> None:
        """A key of the file is the field of the same name, paths against the file's folder."""
        value, text = OTHER[name]
        config = HostConfig.from_file(write(tmp_path, f"{name} = {text}"))
        assert getattr(config.settings, name) == in_dir(tmp_path, value)
        assert config.settings == Settings().replace(**{name: in_dir(tmp_path, value)})

    def test_live_is_not_a_file_key(self, tmp_path: Path) -> None:
        """A file cannot say live: a run host is always live."""
        with pytest.raises(ConfigError, match=r"pluginhost\.live: unknown key"):
            HostConfig.from_file(write(tmp_path, "live = false"))

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ("group = 3", "pluginhost.group: must be a string, not integer"),
            ("follow_symlinks = 'yes'", "pluginhost.follow_symlinks: must be a boolean"),
            ("max_depth = -1", "pluginhost.max_depth: must not be negative"),
            ("settle = 0", "pluginhost.settle: must be a positive number of seconds"),
            ("settle = inf", "pluginhost.settle: must be a positive number of seconds, a year"),
            ("exclude = 3", "pluginhost.exclude: must be a list of strings"),
            ("trust_file = 1", "pluginhost.trust_file: must be a string"),
            ("timeouts = 3", "pluginhost.timeouts: must be a table"),
        ],
    )
    def test_bad_values_name_the_key(self, tmp_path: Path, line: str, message: str) -> None:
        """Each key's mistakes are ConfigErrors naming the file and the key."""
        path = write(tmp_path, line)
        with pytest.raises(ConfigError, match=re.escape(f"{path}: {message}")):
            HostConfig.from_file(path)

    def test_make_host_passes_every_setting(self, tmp_path: Path) -> None:
        """The host built from a file runs with the file's settings."""
        lines = "\n".join(f"{n} = {t}" for n, (_, t) in OTHER.items() if t is not None)
        config = HostConfig.from_file(write(tmp_path, lines))
        host = config.make_host()
        assert host.settings == config.settings.replace(live=True)
        assert host.settings.home == tmp_path / "home"
