"""What the CLI's commands share: aligned tables, JSON output and the home a command works on."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from pluginhost.cli.common import UsageError, home, print_json, table


def namespace(home: Path | None = None, config: Path | None = None) -> argparse.Namespace:
    return argparse.Namespace(home=home, config=config)


class TestTable:
    def test_columns_aligned(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Every column but the last is padded to its widest cell; no line ends in spaces."""
        table([["NAME", "VERSION", "ORIGIN"], ["hello", "1.0.0", "/w/a.whl"], ["x", "2", ""]])
        assert capsys.readouterr().out.splitlines() == [
            "NAME   VERSION  ORIGIN",
            "hello  1.0.0    /w/a.whl",
            "x      2",
        ]


class TestPrintJson:
    def test_keeps_key_order(self, capsys: pytest.CaptureFixture[str]) -> None:
        """JSON comes out indented, its schema version first, then the keys in the order the
        command built them."""
        print_json({"b": 1, "a": [2]})
        out = capsys.readouterr().out
        assert out == '{\n  "schema": 1,\n  "b": 1,\n  "a": [\n    2\n  ]\n}\n'
        assert json.loads(out) == {"schema": 1, "b": 1, "a": [2]}


class TestHome:
    def test_home_given(self, tmp_path: Path) -> None:
        """--home is taken as it is, without reading any config."""
        assert home(namespace(home=tmp_path / "h")) == tmp_path / "h"

    def test_home_of_config(self, tmp_path: Path) -> None:
        """--config gives the home its file names, relative to the file."""
        config = tmp_path / "pluginhost.toml"
        config.write_text('[pluginhost]\nproject = "greeter"\nhome = "state"\n')
        assert home(namespace(config=config)) == tmp_path / "state"

    def test_default_config(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without --home or --config, ./pluginhost.toml names the home."""
        (tmp_path / "pluginhost.toml").write_text('[pluginhost]\nproject = "greeter"\nhome = "h"\n')
        monkeypatch.chdir(tmp_path)
        assert home(namespace()).resolve() == (tmp_path / "h").resolve()

    def test_no_home(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With no home, no config and no ./pluginhost.toml, it is a usage error."""
        monkeypatch.chdir(tmp_path)
        with pytest.raises(UsageError, match="no home given"):
            home(namespace())
