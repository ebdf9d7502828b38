"""The host's plugin manager: a new one, or the application's own with its specs."""

from __future__ import annotations

import pluggy
import pytest

from hookspecs import greeter
from hookspecs.lifecycle import lifecycle_specs
from pluginhost import SettingsError
from pluginhost.host.manager import plugin_manager

hookspec = pluggy.HookspecMarker(greeter.PROJECT)


class Rival:
    """Declares ``greet`` a second time, from another object."""

    @hookspec
    def greet(self, name: str) -> str:  # type: ignore[empty-body]
        ...


class TestPluginManager:
    def test_new_manager_has_every_spec(self) -> None:
        """Without a manager, a new one for the project gets the lifecycle and given specs."""
        pm = plugin_manager(greeter.PROJECT, [greeter.GreeterSpec])
        assert pm.project_name == greeter.PROJECT
        assert pm.hook.greet.spec is not None
        assert pm.hook.pluginhost_health.spec is not None

    def test_lifecycle_specs_name_only_their_arguments(self) -> None:
        """The lifecycle specs' arguments are the hooks' own, without ``self``, on every Python:
        on 3.10 a copied function's qualified name has no class unless it is set, and pluggy
        then keeps ``self``, so that a call such as ``hook.pluginhost_export_state()`` warned."""
        pm = plugin_manager(greeter.PROJECT, [])
        assert pm.hook.pluginhost_export_state.spec.argnames == ()
        assert pm.hook.pluginhost_activate.spec.argnames == ("host",)
        assert pm.hook.pluginhost_import_state.spec.argnames == ("state", "previous_version")
        pm.hook.pluginhost_export_state()  # no warning (filterwarnings = error)

    def test_adopted_manager_kept(self) -> None:
        """The application's manager is used itself, its own plugins still registered."""
        own = pluggy.PluginManager(greeter.PROJECT)
        own.add_hookspecs(greeter.GreeterSpec)
        mine = object()
        own.register(mine, "mine")
        assert plugin_manager(greeter.PROJECT, [greeter.GreeterSpec], own) is own
        assert own.get_plugin("mine") is mine
        assert own.hook.pluginhost_activate.spec is not None

    def test_specs_already_added_skipped(self) -> None:
        """A spec object the application added already is not added twice (which pluggy
        refuses), nor are the lifecycle specs of a second host on one manager."""
        own = pluggy.PluginManager(greeter.PROJECT)
        own.add_hookspecs(greeter.GreeterSpec)
        plugin_manager(greeter.PROJECT, [greeter.GreeterSpec], own)
        plugin_manager(greeter.PROJECT, [greeter.GreeterSpec], own)
        assert own.hook.greet.spec.namespace is greeter.GreeterSpec
        assert own.hook.pluginhost_health.spec.namespace is lifecycle_specs(greeter.PROJECT)

    def test_clashing_spec_refused_before_adding(self) -> None:
        """A spec naming a hook the manager has from another object is refused, nothing added."""
        own = pluggy.PluginManager(greeter.PROJECT)
        own.add_hookspecs(greeter.GreeterSpec)
        with pytest.raises(SettingsError, match="'greet'") as caught:
            plugin_manager(greeter.PROJECT, [Rival], own)
        assert caught.value.key == "specs"
        assert not hasattr(own.hook, "pluginhost_health")

    def test_other_project_refused(self) -> None:
        """A manager of another project is refused with a typed error naming both."""
        with pytest.raises(SettingsError, match="'pytest', not of 'greeter'") as caught:
            plugin_manager(greeter.PROJECT, [], pluggy.PluginManager("pytest"))
        assert caught.value.key == "manager"

    def test_not_a_manager_refused(self) -> None:
        """Anything but a pluggy.PluginManager is refused."""
        with pytest.raises(SettingsError, match=r"must be a pluggy\.PluginManager"):
            plugin_manager(greeter.PROJECT, [], object())  # type: ignore[arg-type]
