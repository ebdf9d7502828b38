"""Hypothesis strategies for versions, constraints and plugin candidate sets, and a quick builder.

Names come from a small alphabet and versions from a small universe, so that collisions, diamonds,
cycles and unsatisfiable constraints turn up often.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from hypothesis import strategies as st

from pluginhost.model.candidate import Candidate, EntryPoint, InstalledOrigin, WheelOrigin
from pluginhost.model.manifest import Manifest
from pluginhost.model.names import PluginName, plugin_name
from pluginhost.model.policy import VersionPolicy
from pluginhost.model.versions import Constraint, Version, parse_dist_version

NAMES = ("a", "b", "c", "d")
API_VERSION = Version(1, 2, 0)
OPERATORS = ("", "^", "~", ">=", ">", "<=", "<", "=")


def candidate(
    name: str,
    version: str,
    *,
    requires: Mapping[str, str] | None = None,
    optional: Mapping[str, str] | None = None,
    host: str = "*",
    path: str | None = None,
    sha: str | None = None,
    installed: bool = False,
    requires_dist: Sequence[str] = (),
    distribution: str | None = None,
) -> Candidate:
    """A candidate from plain strings; the wheel path and sha256 are made up unless given.

    >>> candidate("polite", "1.1.0", requires={"hello": "^2.0"}).name
    'polite'
    """
    manifest = Manifest(
        name=plugin_name(name),
        version=parse_dist_version(version),
        host=Constraint.parse(host),
        requires=_constraints(requires),
        optional=_constraints(optional),
    )
    origin: InstalledOrigin | WheelOrigin
    if installed:
        origin = InstalledOrigin(distribution=name, location="/site-packages")
    else:
        digest = sha or hashlib.sha256(f"{name}=={version}".encode()).hexdigest()
        origin = WheelOrigin(Path(path or f"/wheels/{name}-{version}.whl"), digest)
    entry_points = (EntryPoint(name, f"{name}_plugin"),)
    return Candidate(
        manifest,
        origin,
        distribution=distribution or name,
        entry_points=entry_points,
        requires_dist=tuple(requires_dist),
    )


def _constraints(texts: Mapping[str, str] | None) -> dict[PluginName, Constraint]:
    return {plugin_name(k): Constraint.parse(v) for k, v in (texts or {}).items()}


# -- versions and constraints ----------------------------------------------------------------------

prereleases = st.sampled_from([None, None, None, "rc.1", "alpha.2"])


@st.composite
def versions(draw: st.DrawFn) -> Version:
    """Versions from 0.0.0 to 2.1.1, some of them prereleases."""
    major, minor, patch = draw(st.integers(0, 2)), draw(st.integers(0, 1)), draw(st.integers(0, 1))
    return Version(major, minor, patch, prerelease=draw(prereleases))


@st.composite
def comparators(draw: st.DrawFn) -> str:
    """An operator and a full or partial version, e.g. ``^1.2`` or ``>=1.0.0-rc.1``."""
    version = draw(versions())
    op = draw(st.sampled_from(OPERATORS))
    parts = [str(p) for p in version.to_tuple()[:3]]
    given = draw(st.integers(1, 3))
    text = ".".join(parts[:given])
    if given == 3 and version.prerelease:
        text += f"-{version.prerelease}"
    return op + text


@st.composite
def constraint_texts(draw: st.DrawFn) -> str:
    """Constraint text: ``*``, or alternatives joined by ``||`` of comparators joined by ``,``."""
    if draw(st.integers(0, 9)) == 0:
        return "*"
    alternatives = draw(
        st.lists(
            st.lists(comparators(), min_size=1, max_size=2).map(", ".join), min_size=1, max_size=2
        )
    )
    return " || ".join(alternatives)


constraints = constraint_texts().map(Constraint.parse)

policies = st.builds(VersionPolicy, allow_prerelease=st.booleans(), allow_downgrade=st.booleans())


# -- candidate sets --------------------------------------------------------------------------------


@st.composite
def simple_constraint_texts(draw: st.DrawFn) -> str:
    """One comparator or ``*``: constraints that often can be met, so full loads are common."""
    return draw(st.one_of(st.just("*"), comparators()))


@st.composite
def dependency_maps(
    draw: st.DrawFn, names: tuple[str, ...], simple: bool = False
) -> dict[str, str]:
    """Requirements on a few of ``names`` (the plugin's own name included), with constraints."""
    deps = draw(st.lists(st.sampled_from(names), max_size=2, unique=True))
    texts = simple_constraint_texts() if simple else constraint_texts()
    return {dep: draw(texts) for dep in deps}


@st.composite
def candidate_sets(
    draw: st.DrawFn,
    names: tuple[str, ...] = NAMES,
    max_versions: int = 3,
    duplicates: bool = False,
    closed: bool = False,
) -> list[Candidate]:
    """A random dependency graph: each name with 1 to ``max_versions`` distinct versions.

    :param duplicates: add copies of some versions, with the same or with different bytes.
    :param closed: require only plugins that are present, with simple constraints and mostly
        no host constraint, so that loading everything is often possible, yet not always greedily.
    """
    present = tuple(draw(st.lists(st.sampled_from(names), min_size=1, unique=True)))
    # Open sets may require any of ``names``, so some requirements name absent plugins.
    targets = present if closed else names
    cands = []
    for name in present:
        vers = draw(st.lists(versions(), min_size=1, max_size=max_versions, unique=True))
        for version in vers:
            optional = draw(dependency_maps(targets, closed)) if draw(st.booleans()) else None
            cands.append(
                candidate(
                    name,
                    str(version),
                    requires=draw(dependency_maps(targets, closed)),
                    optional=optional,
                    host="*" if closed or draw(st.integers(0, 4)) else draw(constraint_texts()),
                )
            )
    if duplicates:
        cands.extend(draw(st.lists(_copies(cands), max_size=3)))
    return cands


@st.composite
def _copies(draw: st.DrawFn, cands: list[Candidate]) -> Candidate:
    """Another origin for one of ``cands``: same bytes elsewhere, other bytes, or installed."""
    original = draw(st.sampled_from(cands))
    kind = draw(st.sampled_from(["same", "other", "installed"]))
    if kind == "installed":
        origin: InstalledOrigin | WheelOrigin = InstalledOrigin(original.distribution, "/site")
    else:
        assert original.sha256 is not None
        where = draw(st.integers(0, 3))
        other = hashlib.sha256(f"{original.origin}#{where}".encode()).hexdigest()
        sha = original.sha256 if kind == "same" else other
        origin = WheelOrigin(Path(f"/elsewhere/{where}.whl"), sha)
    return Candidate(original.manifest, origin, original.distribution, original.entry_points)


@st.composite
def actives(draw: st.DrawFn, names: tuple[str, ...] = NAMES) -> dict[PluginName, Version]:
    """Active versions for some of ``names``."""
    active = draw(st.dictionaries(st.sampled_from(names), versions(), max_size=2))
    return {plugin_name(k): v for k, v in active.items()}
