"""The messages the troubleshooting page quotes are the ones pluginhost prints.

Each scenario makes the page's situation with real wheels in a host of the ``greeter`` project
(API 1.4.0), as the page says, and what it gives in the forms the page quotes for it (problems,
failure events, raised errors) must appear on the page word for word once the test's folder reads
as the page's ``/tmp/greeter``.
"""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hookspecs.greeter import GreeterSpec
from pluginhost import Event, EventKind, PluginHost, PluginHostError
from pluginhost.testing import WheelFactory

PAGE = Path(__file__).resolve().parent.parent / "docs" / "troubleshooting.md"
HOOK = (
    'import pluggy\nh = pluggy.HookimplMarker("greeter")\n@h\ndef greet(name):\n    return name\n'
)
FAILURES = {EventKind.LOAD_FAILED, EventKind.ROLLED_BACK}


class Scene:
    """A watched folder ``wheels/`` and the host's home, in ``root``; what the host said."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.wheels = WheelFactory(root / "wheels")
        self.said: list[tuple[str, str]] = []  # (form, line)

    def host(self, **options: object) -> PluginHost:
        host = PluginHost(
            "greeter",
            specs=[GreeterSpec],
            home=self.root / "home",
            watch=[self.root / "wheels"],
            api_version="1.4.0",
            environment=False,
            live=False,
            **options,
        )
        host.subscribe(self._told)
        return host

    def _told(self, event: Event) -> None:
        if event.kind in FAILURES:
            self.said.append(("event", event.describe()))

    def serve(self, act: Callable[[PluginHost], object] | None = None, **options: object) -> None:
        """Start a host, do ``act``, and keep what it says: problems, failures, errors."""
        with self.host(**options) as host:
            if act is not None:
                try:
                    act(host)
                except PluginHostError as exc:
                    self.said.append(("error", f"{type(exc).__name__}: {exc}"))
            self.said += [("problem", str(problem)) for problem in host.problems()]

    def lines(self, forms: set[str]) -> Iterator[str]:
        """What the scene said in ``forms``, its folder read as the page's."""
        for form, line in self.said:
            if form in forms and not line.startswith("unknown_hooks: "):
                yield line.replace(str(self.root), "/tmp/greeter")


def manifest(scene: Scene, text: str) -> None:
    scene.wheels.build(
        "hello", distribution="hello-plugin", module="hello_plugin", manifest=text, code=HOOK
    )
    scene.serve()


def health(scene: Scene) -> None:
    scene.wheels.build("hello", module="hello_plugin", code=HOOK)
    check = (
        "@h\ndef pluginhost_health():\n    raise RuntimeError('cannot reach the greeting service')"
    )

    def update(host: PluginHost) -> None:
        """1.1.0 dropped once 1.0.0 serves, and installed from the watched folder."""
        host.install(scene.wheels.build("hello", "1.1.0", module="hello_plugin", code=HOOK + check))

    scene.serve(update)


def misuse(scene: Scene) -> None:
    scene.wheels.build("hello", code=HOOK)
    host = scene.host()
    for act in (
        lambda: host.install(scene.root / "wheels" / "hello-1.0.0-py3-none-any.whl"),
        host.start,
        host.start,
        lambda: host.rollback("hello"),
        lambda: host.remove("polite"),
        lambda: host.status("polite"),
    ):
        try:
            act()
        except PluginHostError as exc:
            scene.said.append(("error", f"{type(exc).__name__}: {exc}"))
    host.stop()


def registry(scene: Scene) -> None:
    """The page's damaged registry: the main copy cut short after 40 bytes, then the backup
    emptied too; the warning of the one start and the error of the next."""
    scene.wheels.build("hello", code=HOOK)
    scene.serve()
    home = scene.root / "home"
    good = (home / "registry.json").read_bytes()
    (home / "registry.json").write_bytes(good[:40])
    try:  # committed once: no backup yet
        scene.serve()
    except PluginHostError as exc:
        scene.said.append(("error", f"{type(exc).__name__}: {exc}"))
    (home / "registry.json").write_bytes(good)
    scene.serve()  # the second commit keeps the first as registry.json.bak
    (home / "registry.json").write_bytes((home / "registry.json").read_bytes()[:40])
    handler = logging.handlers.BufferingHandler(capacity=1000)
    records = handler.buffer
    logger = logging.getLogger("pluginhost")
    logger.addHandler(handler)
    try:
        scene.serve()
    finally:
        logger.removeHandler(handler)
    scene.said += [
        ("log", f"{r.levelname}:{r.name}:{r.getMessage()}") for r in records if "registry" in r.msg
    ]
    (home / "registry.json").write_bytes((home / "registry.json").read_bytes()[:40])
    (home / "registry.json.bak").write_bytes(b"")
    try:
        scene.serve()
    except PluginHostError as exc:
        scene.said.append(("error", f"{type(exc).__name__}: {exc}"))


SCENES: dict[str, Callable[[Scene], None]] = {
    "unknown key": lambda s: manifest(s, '[plugin]\nrequire = "x"\n'),
    "version disagrees": lambda s: manifest(s, '[plugin]\nversion = "1.1.0"\n'),
    "missing": lambda s: (
        s.wheels.build("polite", requires={"hello": "^1.0"}, code=HOOK),
        s.serve(),
    ),
    "unsatisfiable": lambda s: (
        s.wheels.build("hello", code=HOOK),
        s.wheels.build("polite", requires={"hello": "^2.0"}, code=HOOK),
        s.serve(),
    ),
    "dependency failed": lambda s: (
        s.wheels.build(
            "hello", module="hello_plugin", code="raise RuntimeError('broken on purpose')"
        ),
        s.wheels.build("polite", requires={"hello": "^1.0"}, code=HOOK),
        s.serve(),
    ),
    "cycle": lambda s: (
        s.wheels.build("hello", requires={"polite": "*"}, code=HOOK),
        s.wheels.build("polite", requires={"hello": "*"}, code=HOOK),
        s.serve(),
    ),
    "requirement failed": lambda s: (
        s.wheels.build("hello", requires_dist=["greeting-templates>=2"], code=HOOK),
        s.serve(),
    ),
    "host api": lambda s: (s.wheels.build("hello", host="^2.0", code=HOOK), s.serve()),
    "prerelease": lambda s: (s.wheels.build("hello", "1.1.0rc1", code=HOOK), s.serve()),
    "record": lambda s: (
        s.wheels.build(
            "hello", distribution="hello-plugin", module="hello_plugin", broken="bad-record-hash"
        ),
        s.serve(),
    ),
    "module twice": lambda s: (
        s.wheels.build("hello", module="greetings", code=HOOK),
        s.wheels.build(
            "polite", module="greetings", code=HOOK, filename="polite-1.0.0-py3-none-any.whl"
        ),
        s.serve(),
    ),
    "import error": lambda s: (
        s.wheels.build("hello", module="hello_plugin", code="import requests_oauthlib"),
        s.serve(),
    ),
    "activate": lambda s: (
        s.wheels.build(
            "hello",
            code=HOOK
            + "@h\ndef pluginhost_activate(host):\n    raise KeyError('GREETER_DB_URL')\n",
        ),
        s.serve(),
    ),
    "unknown hooks refused": lambda s: (
        s.wheels.build("typo", "0.1.0", code=HOOK.replace("def greet", "def gret")),
        s.serve(unknown_hooks="refuse"),
    ),
    "health": health,
    "blocked": lambda s: (
        s.wheels.build("legacy", code=HOOK),
        s.wheels.build("hello", code=HOOK),
        s.serve(block=["legacy"]),
    ),
    "not allowed": lambda s: (
        s.wheels.build("polite", code=HOOK),
        s.wheels.build("hello", code=HOOK),
        s.serve(only=["hello"]),
    ),
    "disabled": lambda s: (
        s.wheels.build("hello", code=HOOK),
        s.serve(lambda h: h.disable("hello")),
    ),
    "misuse": misuse,
    "registry": registry,
}


# The forms the page quotes for a scene, when not only its problems.
FORMS: dict[str, set[str]] = {
    "import error": {"event"},
    "unknown hooks refused": {"event"},
    "health": {"event", "problem"},
    "misuse": {"error"},
    "registry": {"log", "error"},
}


@pytest.mark.parametrize("name", SCENES)
def test_messages_are_quoted_as_printed(name: str, tmp_path: Path) -> None:
    """What the scene says, in the forms the page quotes, is on the page word for word."""
    scene = Scene(tmp_path)
    SCENES[name](scene)
    page = PAGE.read_text(encoding="utf-8")
    said = list(scene.lines(FORMS.get(name, {"problem"})))
    assert said, f"{name}: the scene said nothing"
    absent = [line for line in said if line not in page]
    assert not absent, f"{name}: not on {PAGE.name}:\n" + "\n".join(absent)
