"""Tests for pluginhost/__init__.py: the public surface, imported when first used."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import pluginhost

INIT = Path(pluginhost.__file__)


def imported_by(code: str) -> set[str]:
    """The modules a fresh interpreter imports to run ``code``."""
    probe = (
        "import sys, json; before = set(sys.modules); "
        f"{code}; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


class TestPublicSurface:
    def test_every_name_resolves_to_its_module(self) -> None:
        """Each name of ``__all__`` is the object its private module defines."""
        for name in pluginhost.__all__:
            module = importlib.import_module(pluginhost._EXPORTS[name], "pluginhost")
            assert getattr(pluginhost, name) is getattr(module, name)

    def test_type_checking_imports_match(self) -> None:
        """What type checkers see (the ``TYPE_CHECKING`` imports) is what runs: the same names
        from the same modules, and ``__all__`` lists exactly those."""
        tree = ast.parse(INIT.read_text())
        block = next(n for n in tree.body if isinstance(n, ast.If))
        seen = {
            alias.name: "." * node.level + (node.module or "")
            for node in block.body
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        assert seen == pluginhost._EXPORTS
        assert sorted(pluginhost.__all__) == sorted(seen)

    def test_unknown_name(self) -> None:
        """A name that is not public is an AttributeError, as for any module."""
        with pytest.raises(AttributeError, match="no attribute 'Nope'"):
            pluginhost.Nope  # noqa: B018

    def test_dir_lists_the_public_names(self) -> None:
        """``dir(pluginhost)`` shows every public name, imported yet or not, and none of the
        module's own helpers or subpackages (it showed ``Any``, ``importlib``...)."""
        assert pluginhost.PluginHost is not None  # imports subpackages
        public = {n for n in dir(pluginhost) if not n.startswith("__")}
        assert public == set(pluginhost.__all__)

    def test_errors_go_by_their_public_name(self) -> None:
        """Every error of the tree reports ``pluginhost`` as its module."""
        errors = [getattr(pluginhost, n) for n in pluginhost.__all__ if n.endswith("Error")]
        assert errors
        assert {e.__module__ for e in errors} == {"pluginhost"}
        assert all(issubclass(e, pluginhost.PluginHostError) for e in errors)


class TestLightImport:
    def test_import_loads_next_to_nothing(self) -> None:
        """``import pluginhost`` imports none of its modules and none of the libraries behind
        them (what else the interpreter imports for it depends on what it imported at start)."""
        loaded = imported_by("import pluginhost")
        assert [m for m in loaded if m.startswith("pluginhost.")] == [], loaded
        heavy = {"attr", "attrs", "pluggy", "packaging", "semver", "watchdog", "installer", "httpx"}
        assert not {m.partition(".")[0] for m in loaded} & (heavy | {"email", "zipfile"}), loaded

    def test_a_host_without_folders_needs_no_watchdog_nor_installer(self) -> None:
        """A host class, and its errors, come without watchdog or installer."""
        loaded = {m.partition(".")[0] for m in imported_by("from pluginhost import PluginHost")}
        assert not loaded & {"watchdog", "installer"}, loaded
        assert "pluginhost" in loaded

    def test_a_host_of_installed_plugins_starts_without_wheel_readers(self, tmp_path: Path) -> None:
        """A host whose plugins are installed, with no manifest, requirement nor index, starts
        and serves without what reading a wheel, a requirement or an index needs."""
        site = tmp_path / "site"
        (site / "plain_plugin").mkdir(parents=True)
        (site / "plain_plugin" / "__init__.py").write_text(
            "import pluggy\n\n@pluggy.HookimplMarker('lean')\ndef ping():\n    return 'pong'\n"
        )
        info = site / "plain_plugin-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plain-plugin\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text("[lean.plugins]\nplain = plain_plugin\n")
        code = (
            f"import sys; sys.path.insert(0, {str(site)!r}); import pluggy, pluginhost; "
            "spec = type('Spec', (), {'ping': pluggy.HookspecMarker('lean')(lambda self: None)}); "
            f"host = pluginhost.PluginHost('lean', specs=[spec], home={str(tmp_path / 'home')!r}, "
            "live=False).start(); assert host.hook.ping() == ['pong'], host.problems()"
        )
        loaded = imported_by(code)
        assert "plain_plugin" in loaded
        unneeded = {
            "argparse",  # semver's command line (pluginhost/model/semver_base.py)
            "configparser",
            "email.parser",
            "installer",
            "packaging.requirements",
            "packaging.tags",
            "pluginhost.discover.following",
            "pluginhost.install.installer",
            "semver.cli",
            "subprocess",
            "tomllib",
            "tomli",
            "watchdog",
            "httpx",
            # The backport's import puts its finder on sys.meta_path (discover/environment.py).
            "importlib_metadata",
        }
        if sys.version_info < (3, 11):
            unneeded.remove("subprocess")  # imported by 3.10's platform, which attrs imports
        assert not loaded & unneeded, sorted(loaded & unneeded)

    def test_no_converter_is_a_builtin(self) -> None:
        """attrs reads each converter's signature when it builds a class; a builtin's (``tuple``)
        is parsed from its text by ``inspect``, whose tokenizer compiles its regular expressions
        first: 20 ms of a start on a slow machine. Every converter of the package is a function."""
        import attrs

        builtins = []
        # The package's modules as an installed copy has them: its data (the demo plugins'
        # source trees, shipped under pluginhost/demo_plugins) is no module of it.
        for module_info in pkgutil.walk_packages(pluginhost.__path__, "pluginhost."):
            name = module_info.name
            if name.startswith(("pluginhost.cli", "pluginhost.demo_plugins")):
                continue  # the command line is never imported by a host
            if name == "pluginhost.__main__":
                continue
            module = importlib.import_module(name)
            for value in vars(module).values():
                if not (attrs.has(value) and value.__module__ == name):
                    continue
                for field in attrs.fields(value):
                    converter = getattr(field.converter, "converter", field.converter)
                    if (
                        converter is not None
                        and getattr(converter, "__module__", None) == "builtins"
                    ):
                        builtins.append(f"{name}.{value.__name__}.{field.name}")
        assert not builtins, builtins
