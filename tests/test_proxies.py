"""Proxy hook implementations: what a plugin manager registers for a process plugin."""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping
from typing import Any

import pluggy
import pytest

from hookspecs import greeter
from pluginhost import ActivationError
from pluginhost.proc.worker import HookDescription
from pluginhost.swap.proxies import (
    MOST_ARGUMENTS,
    MOST_ARGUMENTS_IN_ALL,
    MOST_HOOKS,
    MOST_NAME,
    ProcessProxy,
    build_proxies,
)


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


#: As many arguments as a hook may take, and one more.
FULL = tuple(f"a{i}" for i in range(MOST_ARGUMENTS))
LONG = "n" * (MOST_NAME + 1)


class TestCaps:
    @pytest.mark.parametrize(
        ("hooks", "said"),
        [
            ([hook("greet", (*FULL, "one_more"))], "takes 257 arguments, more than 256"),
            (
                [hook(f"h{i}", FULL) for i in range(MOST_ARGUMENTS_IN_ALL // MOST_ARGUMENTS + 1)],
                "16,640 arguments in all, more than 16,384",
            ),
            ([hook(LONG)], "has a name of 129 characters, more than 128"),
            ([hook("greet", ("name", LONG))], "has a name of 129 characters, more than 128"),
            ([hook("other", specname=LONG)], "has a name of 129 characters, more than 128"),
            ([hook("other", specname="not a name")], "a name a function cannot take"),
        ],
        ids=["arguments", "arguments-in-all", "hook-name", "argument", "specname", "spec-ident"],
    )
    def test_a_description_past_a_cap_is_refused(
        self, hooks: list[HookDescription], said: str
    ) -> None:
        """A hook of more arguments than any hook takes, descriptions of more arguments in all,
        names longer than any hook's: refused at register, naming the plugin and the reason,
        where each was compiled into a proxy under the host's lock."""
        with pytest.raises(ActivationError, match=said) as info:
            build_proxies("p", greeter.PROJECT, ["main"], hooks, Recorder(), None)
        assert (info.value.plugin, info.value.step) == ("p", "register")

    def test_a_refusal_compiles_nothing(self) -> None:
        """Hooks of 10,000 arguments each are refused in a count, before any is compiled (30 of
        them took more than a second to compile); a description at the caps is taken."""
        wide = tuple(f"a{i}" for i in range(10_000))
        began = time.process_time()
        for hooks in ([hook(f"w{i}", wide) for i in range(30)], [hook("w", wide)]):
            with pytest.raises(ActivationError, match="more than"):
                build_proxies("p", greeter.PROJECT, ["main"], hooks, Recorder(), None)
        assert time.process_time() - began < 0.2
        name = "n" * MOST_NAME
        (proxy,) = build_proxies(
            "p", greeter.PROJECT, ["main"], [hook(name, FULL)], Recorder(), None
        )
        assert len(inspect.signature(getattr(proxy, name)).parameters) == MOST_ARGUMENTS
