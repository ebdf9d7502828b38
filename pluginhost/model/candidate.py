"""A plugin found by a source: everything known about it before any of its code runs."""

from __future__ import annotations

import operator
from collections.abc import Collection, Iterable, Iterator, Mapping
from itertools import compress
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, NamedTuple

import attrs

from .frozen import frozen
from .manifest import Manifest
from .names import PluginName, canonicalize_name, display_name
from .specifiers import DistSpecifier, PluginConstraint, both
from .versions import Version

if TYPE_CHECKING:
    from packaging.utils import NormalizedName


@frozen
class WheelOrigin:
    """The plugin is a wheel file that must be installed before it can load."""

    path: Path
    sha256: str

    def __str__(self) -> str:
        return str(self.path)


@frozen
class InstalledOrigin:
    """The plugin is a distribution already installed in the host's environment.

    :param metadata_dir: its ``*.dist-info`` (or ``*.egg-info``) directory, when discovery
        read it from a plain directory of the path: the plugin's distribution is then made
        from it, not found again by listing ``location`` (a few milliseconds per thousand
        distributions installed there). Not part of the origin's identity, and not kept by
        the registry: a restored plugin's is found by listing.
    """

    distribution: str
    location: str
    metadata_dir: str | None = attrs.field(default=None, eq=False, repr=False)

    def __str__(self) -> str:
        return f"{self.distribution} (installed at {self.location})"


Origin = WheelOrigin | InstalledOrigin


@frozen
class EntryPoint:
    """One entry point of a plugin's distribution in the host's group.

    :param name: the name as the distribution declares it; the entry point's object is
        registered with the plugin manager under it, as pluggy's
        ``load_setuptools_entrypoints`` does.
    :param value: ``module`` or ``module:attr``.
    """

    name: str
    value: str


class CandidateKey(NamedTuple):
    """The identity of a candidate's bytes: two candidates with one key are the same plugin.

    A named tuple rather than an attrs class: the host hashes and compares one for every
    candidate at every reconcile, and a tuple's hash and equality run at C speed.
    """

    name: PluginName
    version: str
    content: str
    """The wheel's sha256, or, for an installed distribution, where it is installed."""

    @classmethod
    def from_json(cls, data: object) -> CandidateKey:
        """Rebuild a key written by :meth:`to_json`.

        :raises ValueError: when ``data`` is not three strings.
        """
        if not isinstance(data, list | tuple) or len(data) != 3:
            raise ValueError(f"not a candidate key: {data!r}")
        name, version, content = data
        if not all(isinstance(part, str) for part in (name, version, content)):
            raise ValueError(f"not a candidate key: {data!r}")
        return cls(PluginName(name), version, content)

    def to_json(self) -> list[str]:
        return list(self)


# The hash is kept: the resolver hashes every candidate several times per change, and a
# candidate's hash walks its manifest and versions (a tenth of a swap among 1,000 plugins).
@attrs.frozen(cache_hash=True)
class Candidate:
    """One version of one plugin, as a source offers it.

    A plugin is one distribution: when it declares several entry points in the host's group
    (pytest-xdist declares ``xdist`` and ``xdist.looponfail``), they are one unit, loaded,
    swapped, rolled back and removed together, each registered under its own name.

    :param manifest: the plugin's declaration (name, version, constraints).
    :param origin: where it comes from.
    :param distribution: the distribution name from METADATA.
    :param entry_points: the distribution's entry points in the host's group, in the order
        it declares them (at least one).
    :param requires_dist: the distribution's ``Requires-Dist`` lines.
    :param top_level: the importable top-level names the plugin ships.
    :param plugin_requires: the plugins its ``Requires-Dist`` names, by plugin name: set by
        resolution (:func:`pluginhost.resolve.links.link`), which knows the other plugins'
        distributions; derived data, so not part of equality.
    """

    manifest: Manifest
    origin: Origin
    distribution: str
    entry_points: tuple[EntryPoint, ...]
    requires_dist: tuple[str, ...] = ()
    top_level: tuple[str, ...] = ()
    plugin_requires: Mapping[PluginName, DistSpecifier] = attrs.field(
        factory=dict, eq=False, hash=False, repr=False
    )
    key: CandidateKey = attrs.field(init=False, eq=False, repr=False)
    """Identity of its bytes: name, version and sha256 (or origin, for an installed plugin).

    Worked out once: the host compares it for every candidate at every reconcile, and a
    version's text costs a microsecond each time it is made.
    """

    requires: Mapping[PluginName, PluginConstraint] = attrs.field(
        init=False, eq=False, hash=False, repr=False
    )
    """The plugins it requires: ``[plugin.requires]`` of its manifest and the plugins its
    ``Requires-Dist`` names; both constraints apply to a plugin named by both."""

    name: PluginName = attrs.field(init=False, eq=False, hash=False, repr=False)
    """The plugin's name (its manifest's)."""

    version: Version = attrs.field(init=False, eq=False, hash=False, repr=False)
    """The plugin's version (its manifest's)."""

    dist_key: NormalizedName = attrs.field(init=False, eq=False, hash=False, repr=False)
    """The distribution's name, normalized: how ``Requires-Dist`` lines name it."""

    def __attrs_post_init__(self) -> None:
        # Plain attributes, not properties: the resolver reads them for every candidate, at
        # every change, tens of thousands of times among a thousand plugins.
        object.__setattr__(self, "name", self.manifest.name)
        object.__setattr__(self, "version", self.manifest.version)
        object.__setattr__(self, "dist_key", canonicalize_name(self.distribution))
        key = CandidateKey(self.name, str(self.version), self.sha256 or str(self.origin))
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "requires", _requires(self.manifest, self.plugin_requires))

    @property
    def version_text(self) -> str:
        """``str(version)``, made once (with :attr:`key`): the host needs it for every event."""
        return self.key.version

    @property
    def display(self) -> str:
        """The name for people: ``datasette-render-binary (export)``, or the distribution's
        name alone when the plugin's name is the distribution's (see
        :func:`~.names.display_name`)."""
        return display_name(self.name, self.distribution)

    @property
    def sha256(self) -> str | None:
        return self.origin.sha256 if isinstance(self.origin, WheelOrigin) else None


def _requires(
    manifest: Manifest, linked: Mapping[PluginName, DistSpecifier]
) -> Mapping[PluginName, PluginConstraint]:
    """``[plugin.requires]`` merged with the links, both constraints where both name a plugin."""
    if not linked:
        return manifest.requires  # the usual case, spared a copy
    names = sorted({*manifest.requires, *linked})
    return MappingProxyType(
        {name: both(manifest.requires.get(name), linked.get(name)) for name in names}
    )


#: A candidate's :attr:`Candidate.key`, read in C.
candidate_key = operator.attrgetter("key")
#: A candidate's :attr:`Candidate.name`, read in C.
candidate_name = operator.attrgetter("name")


#: Candidates few enough to compare one by one, where more are sifted by their keys in C.
ONE_BY_ONE: Final = 32


def not_among(candidates: Iterable[Candidate], others: Iterable[Candidate]) -> list[Candidate]:
    """``candidates`` that are none of the objects ``others``, in order (see
    :func:`outside_mask`)."""
    candidates = list(candidates)
    return list(compress(candidates, outside_mask(candidates, others)))


def outside_mask(candidates: Iterable[object], others: Iterable[object]) -> Iterator[bool]:
    """For each of ``candidates``, whether it is none of the objects ``others``.

    Told in C by identity: an id is the object's address, read without touching the object,
    where comparing keys reads four objects per candidate (a key and its three strings), and
    a host's swap went through a thousand candidates several times, each pass paying for the
    memory it read. ``others`` stays alive meanwhile, so no address is reused.
    """
    ids = set(map(id, others))
    return map(operator.not_, map(ids.__contains__, map(id, candidates)))


def without_keys(
    candidates: Iterable[Candidate], keys: Collection[CandidateKey]
) -> list[Candidate]:
    """``candidates`` whose key is not in ``keys``, in order.

    Sifted in C (``compress`` over the keys' membership): a host goes through every candidate
    at each change, and a Python loop over a thousand cost a good part of a millisecond.
    """
    candidates = list(candidates)
    if not keys:
        return candidates
    outside = map(operator.not_, map(keys.__contains__, map(candidate_key, candidates)))
    return list(compress(candidates, outside))
