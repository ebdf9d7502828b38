"""Proxy hook implementations: what a plugin manager registers for a process plugin."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import pluggy
import pytest

from hookspecs import greeter
from pluginhost import ActivationError
from pluginhost.proc.worker import HookDescription
from pluginhost.swap.proxies import MOST_HOOKS, ProcessProxy, build_proxies


def hook(
    name: str,
    argnames: tuple[str, ...] = ("name",),
    *,
    entry_point: str = "main",
    specname: str | None = None,
    tryfirst: bool = False,
    trylast: bool = False,
) -> HookDescription:
    return HookDescription(name, specname, argnames, tryfirst, trylast, False, entry_point)


class Recorder:
    """A forward that answers with what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, entry_point: str, name: str, kwargs: Mapping[str, Any]) -> Any:
        self.calls.append((entry_point, name, dict(kwargs)))
        return f"{entry_point}.{name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"


def manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(greeter.PROJECT)
    pm.add_hookspecs(greeter.GreeterSpec)
    return pm


class TestProxies:
    def test_registered_and_called_as_a_plugin(self) -> None:
        """The manager registers a proxy like any plugin; a call forwards its arguments."""
        forward = Recorder()
        (proxy,) = build_proxies("p", greeter.PROJECT, ["main"], [hook("greet")], forward, None)
        pm = manager()
        pm.register(proxy, name="p")
        assert pm.hook.greet(name="Ada") == ["main.greet(name=Ada)"]
        assert forward.calls == [("main", "greet", {"name": "Ada"})]

    def test_real_signature(self) -> None:
        """Each function takes the plugin's own argument names (pluggy reads them)."""
        (proxy,) = build_proxies(
            "p", greeter.PROJECT, ["main"], [hook("greet", ())], Recorder(), None
        )
        assert list(inspect.signature(proxy.greet).parameters) == []  # type: ignore[attr-defined]
        assert proxy.greet.__name__ == "greet"  # type: ignore[attr-defined]

    def test_hookimpl_options_carried(self) -> None:
        """tryfirst, trylast and specname reach the manager's hook implementations."""
        hooks = [
            hook("greet", tryfirst=True),
            hook("other_name", specname="farewell", trylast=True),
        ]
        (proxy,) = build_proxies("p", greeter.PROJECT, ["main"], hooks, Recorder(), None)
        pm = manager()
        pm.register(proxy, name="p")
        (greet,) = pm.hook.greet.get_hookimpls()
        (farewell,) = pm.hook.farewell.get_hookimpls()
        assert (greet.tryfirst, farewell.trylast) == (True, True)
        assert pm.hook.farewell(name="x") == "main.farewell(name=x)"

    def test_one_proxy_per_entry_point(self) -> None:
        """Each entry point's hooks go on its own proxy, in the distribution's order."""
        hooks = [hook("greet", entry_point="b"), hook("farewell", entry_point="a")]
        a, b = build_proxies("p", greeter.PROJECT, ["a", "b"], hooks, Recorder(), None)
        assert isinstance(a, ProcessProxy)
        assert hasattr(a, "farewell")
        assert not hasattr(a, "greet")
        assert hasattr(b, "greet")

    def test_host_argument_stays_in_the_host(self) -> None:
        """pluginhost_activate(host): the host object never crosses; the worker gets None."""
        forward = Recorder()
        (proxy,) = build_proxies(
            "p", greeter.PROJECT, ["main"], [hook("pluginhost_activate", ("host",))], forward, None
        )
        proxy.pluginhost_activate(object())  # type: ignore[attr-defined]
        assert forward.calls == [("main", "pluginhost_activate", {"host": None})]

    @pytest.mark.parametrize(
        "bad",
        [
            hook("not a name"),
            hook("greet", ("class",)),
            hook("greet", ("_pluginhost_forward_",)),
            hook("greet", ("a", "a")),
            hook("greet", entry_point="elsewhere"),
            hook("greet", ("\ufb01", "fi")),
        ],
        ids=["hook-name", "keyword", "reserved", "twice", "entry-point", "one-once-normal"],
    )
    def test_refused_descriptions(self, bad: HookDescription) -> None:
        """A description no function can honour is refused at register, naming the plugin."""
        with pytest.raises(ActivationError) as info:
            build_proxies("p", greeter.PROJECT, ["main"], [bad], Recorder(), None)
        assert (info.value.plugin, info.value.step) == ("p", "register")

    def test_too_many_hooks_refused(self) -> None:
        """A worker describing more hooks than any plugin has is refused before any is made:
        switching 40,000 in held the host's lock for minutes."""
        hooks = [hook(f"h{i}", ()) for i in range(MOST_HOOKS + 1)]
        with pytest.raises(ActivationError, match=f"described {MOST_HOOKS + 1} hooks"):
            build_proxies("p", greeter.PROJECT, ["main"], hooks, Recorder(), None)

    @pytest.mark.parametrize(
        "names",
        [
            ("_pluginhost_link",),
            ("pluginhost_link",),
            ("_pluginhost_plugin",),
            ("__repr__",),
            ("__init__",),
            ("greet", "greet"),
        ],
        ids=["link", "link-property", "plugin-name", "repr", "init", "twice"],
    )
    def test_a_hook_named_as_the_proxy_holds_is_refused(self, names: tuple[str, ...]) -> None:
        """A hook named like an attribute of the proxy (its link to the worker: ``link_of``
        then failed an assert in every publication, and the host could neither start nor
        stop) or like a hook set already is refused at register."""
        with pytest.raises(ActivationError, match="name the host's proxy of the plugin uses"):
            build_proxies(
                "p", greeter.PROJECT, ["main"], [hook(n, ()) for n in names], Recorder(), "link"
            )
