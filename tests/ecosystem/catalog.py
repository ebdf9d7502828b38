"""The pinned list of plugins.toml, its download cache, and one comparison per plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pluginhost depends on tomli there
    import tomli as tomllib

HERE = Path(__file__).parent
PROBE = HERE / "probe.py"


@attrs.frozen
class Entry:
    """One pinned plugin distribution of plugins.toml."""

    dist: str
    version: str
    app: str
    requires: tuple[str, ...] = ()
    expect: str = ""
    needs: str = ""

    @property
    def pin(self) -> str:
        return f"{self.dist}=={self.version}"


@attrs.frozen
class Catalog:
    """plugins.toml, read."""

    apps: dict[str, dict[str, str]]
    plugins: tuple[Entry, ...]
    swap: dict[str, str]

    def entry(self, dist: str) -> Entry:
        return next(e for e in self.plugins if e.dist == dist)

    def pins(self) -> list[str]:
        """Every wheel to download: the plugins and the swap's two versions."""
        swap = [f"{self.swap['dist']}=={self.swap[k]}" for k in ("old", "new")]
        return sorted({*(e.pin for e in self.plugins), *swap})


def load_catalog(path: Path = HERE / "plugins.toml") -> Catalog:
    """Read the pinned list."""
    data = tomllib.loads(path.read_text())
    plugins = tuple(
        Entry(**{**p, "requires": tuple(p.get("requires", ()))}) for p in data["plugin"]
    )
    return Catalog(data["apps"], plugins, data["swap"])


def cache_dir() -> Path:
    """The download cache, outside the repository: it outlives checkouts and tox envs."""
    base = os.environ.get("PLUGINHOST_ECOSYSTEM_CACHE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "pluginhost-ecosystem"


def wheel_path(cache: Path, dist: str, version: str) -> Path | None:
    """The cached wheel of ``dist`` ``version``, if it was downloaded."""
    stem = f"{dist.replace('-', '_')}-{version}-"
    found = sorted(p for p in cache.glob("*.whl") if p.name.lower().startswith(stem.lower()))
    return found[0] if found else None


# What pip prints when it cannot reach the index, as opposed to a pin it cannot satisfy.
_OFFLINE = (
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectTimeout",
    "ReadTimeout",
    "Connection refused",
)


class FetchError(Exception):
    """pip reached the index but could not download a pinned wheel."""


def fetch(catalog: Catalog, cache: Path) -> str | None:
    """Download the wheels not yet cached; the reason if the registry cannot be reached.

    :raises FetchError: if pip reached the registry and still failed (a wrong pin).
    """
    cache.mkdir(parents=True, exist_ok=True)
    missing = [p for p in catalog.pins() if wheel_path(cache, *p.split("==")) is None]
    # pip downloads one version of a distribution per call: the swap's second version waits.
    while missing:
        batch = list({p.split("==")[0]: p for p in reversed(missing)}.values())
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        command += ["--only-binary=:all:", "--dest", str(cache), *batch]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            if any(marker in done.stderr for marker in _OFFLINE):
                return f"pip download of {len(batch)} pinned wheels failed: {last}"
            raise FetchError(f"pip download {' '.join(batch)} failed: {done.stderr.strip()}")
        missing = [p for p in missing if p not in batch]
    return None


def probe(mode: str, app: str, work: Path, wheels: list[Path]) -> dict[str, Any]:
    """Run probe.py in a fresh interpreter and return its report."""
    work.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(PROBE), mode, app, str(work), *map(str, wheels)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, cwd=work, env=env
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        return {"loaded": False, "error": f"probe exited {done.returncode}: {tail}"}
    report: dict[str, Any] = json.loads(lines[-1])
    return report


@attrs.frozen
class Outcome:
    """What happened to one plugin: ``match``, ``refused rightly`` or a failure, and why."""

    kind: str
    detail: str
    native: dict[str, Any]
    hosted: dict[str, Any]

    def describe(self) -> str:
        return f"{self.kind} ({self.detail})" if self.detail else self.kind


def _reason(hosted: dict[str, Any]) -> str:
    return "; ".join(hosted.get("problems") or [hosted.get("error", "not loaded")])


def compare(entry: Entry, native: dict[str, Any], hosted: dict[str, Any]) -> Outcome:
    """Judge pluginhost's load of ``entry`` against the application's own."""
    if not native.get("loaded") or not hosted.get("loaded"):
        kind, detail = _refusal(entry, native, hosted)
    elif native["plugins"] != hosted["plugins"]:
        kind, detail = "failure", _difference(native["plugins"], hosted["plugins"])
    elif entry.expect:
        kind, detail = "failure", f"loaded, but expected {entry.expect}"
    else:
        kind, detail = "match", ""
    return Outcome(kind, detail, native, hosted)


def _refusal(entry: Entry, native: dict[str, Any], hosted: dict[str, Any]) -> tuple[str, str]:
    """The outcome when the application or pluginhost (or both) did not load the plugin."""
    reason = _reason(hosted)
    if not native.get("loaded"):
        if hosted.get("loaded"):
            return "failure", f"the application refuses it ({native.get('error')}), pluginhost not"
        return "refused rightly", reason
    wanted = entry.expect.removeprefix("refused:").strip()
    if entry.expect and wanted.lower() in reason.lower():
        return "refused rightly", reason
    return "failure", f"refused: {reason}"


def _difference(native: dict[str, Any], hosted: dict[str, Any]) -> str:
    parts = []
    for name in sorted({*native, *hosted}):
        mine, theirs = hosted.get(name), native.get(name)
        if mine == theirs:
            continue
        if mine is None or theirs is None:
            parts.append(
                f"{name}: registered by {'pluginhost' if theirs is None else 'the app'} only"
            )
            continue
        lost = sorted(set(theirs["hooks"]) - set(mine["hooks"]))
        extra = sorted(set(mine["hooks"]) - set(theirs["hooks"]))
        if lost or extra:
            parts.append(f"{name}: hooks missing {lost or '-'}, extra {extra or '-'}")
        else:
            changed = sorted(
                k for k in theirs["calls"] if theirs["calls"][k] != mine["calls"].get(k)
            )
            parts.append(f"{name}: answers differ for {changed}")
    return "; ".join(parts)


def judge(catalog: Catalog, entry: Entry, cache: Path, work: Path) -> Outcome:
    """Load ``entry`` (with the plugins it requires) both ways and compare."""
    wheels = []
    for dist in (*entry.requires, entry.dist):
        pinned = catalog.entry(dist)
        path = wheel_path(cache, pinned.dist, pinned.version)
        assert path is not None, f"{pinned.pin} is not in {cache}"
        wheels.append(path)
    native = probe("native", entry.app, work / "native", wheels)
    hosted = probe("host", entry.app, work / "host", wheels)
    return compare(entry, native, hosted)
