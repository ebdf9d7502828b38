"""The real-ecosystem suite: published plugins loaded by their application and by pluginhost.

Run by ``python -m tox -e ecosystem`` (which installs datasette, llm, pytest and tox); skipped
elsewhere. Each plugin is judged ``match``, ``refused rightly (reason)`` or a failure; plugins
that need a feature pluginhost does not have yet are ``xfail(strict=True)``.
"""

from __future__ import annotations

import importlib.util
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from catalog import (
    Catalog,
    Entry,
    Outcome,
    cache_dir,
    fetch,
    judge,
    load_catalog,
    probe,
    wheel_path,
)

pytestmark = pytest.mark.ecosystem

CATALOG = load_catalog()


def _marks(entry: Entry) -> list[pytest.MarkDecorator]:
    if entry.needs:
        return [pytest.mark.xfail(strict=True, reason=f"needs {entry.needs}")]
    return []


@pytest.fixture(scope="session")
def cache() -> Path:
    """The cached wheels, downloaded if needed; skipped when the apps or the registry are absent."""
    absent = [app for app in CATALOG.apps if importlib.util.find_spec(app) is None]
    if absent:
        pytest.skip(f"{', '.join(absent)} not installed: run `python -m tox -e ecosystem`")
    where = cache_dir()
    problem = fetch(CATALOG, where)
    if problem is not None:
        pytest.skip(f"the package registry cannot be reached: {problem}")
    return where


@pytest.fixture(scope="session")
def outcomes(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every plugin judged, two probes at a time per core (they mostly wait on imports)."""
    root = tmp_path_factory.mktemp("ecosystem")
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        futures = {
            e.dist: pool.submit(judge, CATALOG, e, cache, root / e.dist) for e in CATALOG.plugins
        }
        judged = {dist: future.result() for dist, future in futures.items()}
    report = os.environ.get("PLUGINHOST_ECOSYSTEM_REPORT")
    if report:
        _write_report(Path(report), CATALOG, judged)
    return judged


def _write_report(path: Path, catalog: Catalog, judged: dict[str, Outcome]) -> None:
    rows = [
        {
            "dist": e.dist,
            "version": e.version,
            "app": e.app,
            "outcome": judged[e.dist].kind,
            "detail": judged[e.dist].detail,
            "needs": e.needs,
            "requires": list(e.requires),
        }
        for e in catalog.plugins
    ]
    path.write_text(json.dumps({"apps": catalog.apps, "plugins": rows}, indent=1))


class TestCatalog:
    def test_covers_what_the_issue_asks(self) -> None:
        """At least 40 pinned distributions from the four applications, each pinned once."""
        dists = [e.dist for e in CATALOG.plugins]
        assert len(set(dists)) == len(dists) >= 40
        assert {e.app for e in CATALOG.plugins} == {"datasette", "llm", "pytest", "tox"}
        assert all(e.version and e.app in CATALOG.apps for e in CATALOG.plugins)
        assert all(set(e.requires) <= set(dists) for e in CATALOG.plugins)


@pytest.mark.parametrize(
    "entry", [pytest.param(e, id=e.dist, marks=_marks(e)) for e in CATALOG.plugins]
)
def test_loads_as_its_application_does(entry: Entry, outcomes: dict[str, Outcome]) -> None:
    """The plugin registers the same hooks with the same answers, or both refuse it (or the
    refusal is one pluginhost makes on purpose)."""
    outcome = outcomes[entry.dist]
    assert outcome.kind in {"match", "refused rightly"}, f"{entry.pin}: {outcome.describe()}"


def test_hot_swap_between_published_versions(cache: Path, tmp_path: Path) -> None:
    """Two published versions swap in a live host while four threads call, and no call fails."""
    swap = CATALOG.swap
    old, new = (wheel_path(cache, swap["dist"], swap[k]) for k in ("old", "new"))
    assert old is not None
    assert new is not None
    report = probe("swap", swap["app"], tmp_path, [old, new])
    assert "error" not in report, report
    assert (report["before"], report["after"]) == ("0.2.2", "0.3.0"), report
    assert report["failures"] == []
    assert report["calls"] > 0
