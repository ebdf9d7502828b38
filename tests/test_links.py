"""Requires-Dist on another plugin: links made at resolution, and resolved like plugin.toml's."""

from __future__ import annotations

import sys

from hypothesis import given, settings
from hypothesis import strategies as st
from resolving import PRE, N, only, run, versions_of
from strategies import NAMES, candidate

from pluginhost.model.problems import ProblemKind
from pluginhost.model.specifiers import BothConstraints, DistSpecifier
from pluginhost.resolve.links import link, third_party


def html(version: str = "4.1.1", *lines: str) -> object:
    """pytest-html (plugin ``html``), whose Requires-Dist names ``lines``."""
    return candidate(
        "html",
        version,
        distribution="pytest-html",
        requires_dist=lines or ("pytest-metadata>=2.0.0", "jinja2>=3"),
    )


def html_both(toml: str, line: str) -> object:
    """pytest-html naming pytest-metadata in plugin.toml (``toml``) and Requires-Dist."""
    return candidate(
        "html", "1.0", requires={"metadata": toml}, requires_dist=[line], distribution="pytest-html"
    )


def metadata(version: str = "3.1.1") -> object:
    return candidate("metadata", version, distribution="pytest-metadata")


class TestLink:
    def test_names_the_plugin_of_a_distribution(self) -> None:
        """A Requires-Dist line naming a candidate's distribution links to that plugin."""
        linked, _ = link([html(), metadata()])
        assert dict(linked.plugin_requires) == {
            N("metadata"): DistSpecifier(
                "pytest-metadata", linked.plugin_requires[N("metadata")].specifier
            )
        }
        assert str(linked.requires[N("metadata")]) == ">=2.0.0"

    def test_not_a_plugin_is_no_link(self) -> None:
        """A distribution no candidate comes from stays a third-party requirement."""
        linked, _ = link([html(), metadata()])
        assert third_party(linked) == ("jinja2>=3",)
        alone = link([html()])[0]
        assert alone.plugin_requires == {}
        assert third_party(alone) == alone.requires_dist

    def test_through_a_dependency(self) -> None:
        """A line naming a dependency (not a plugin) whose own lines name a plugin's
        distribution links to that plugin, with that line's specifier; the dependency stays a
        third-party requirement; a loop of dependencies ends."""
        user = html("1.0", "jinja2>=3")
        via = {
            N("jinja2"): ("markupsafe>=2", "pytest-metadata>=3.0"),
            N("markupsafe"): ("jinja2",),  # a loop
        }
        linked, _ = link([user, metadata()], via=via)
        assert list(linked.plugin_requires) == [N("metadata")]
        assert str(linked.requires[N("metadata")]) == ">=3.0"
        assert third_party(linked) == ("jinja2>=3",)
        assert link([user, metadata()])[0].plugin_requires == {}  # without the dependencies

    def test_known_counts(self) -> None:
        """Candidates given as known (the active ones) count as plugins too."""
        linked = link([html()], [metadata()])[0]
        assert list(linked.requires) == [N("metadata")]

    def test_names_are_normalized(self) -> None:
        """Pytest_Metadata and pytest.metadata name pytest-metadata."""
        linked = link([html("1.0", "Pytest_Metadata>=1"), metadata()])[0]
        assert N("metadata") in linked.requires

    def test_markers_for_this_interpreter(self) -> None:
        """A line whose marker is false here, or that belongs to an extra, does not link."""
        lines = (
            'pytest-metadata>=1; python_version < "3"',
            'pytest-metadata>=2; extra == "test"',
            f'pytest-metadata<9; python_version >= "{sys.version_info[0]}"',
        )
        linked = link([html("1.0", *lines), metadata()])[0]
        assert str(linked.requires[N("metadata")]) == "<9"

    def test_two_applying_lines_both_hold(self) -> None:
        """Two lines on one distribution that both apply are joined."""
        linked = link([html("1.0", "pytest-metadata>=1", "pytest-metadata<3"), metadata()])[0]
        assert linked.requires[N("metadata")].allows(metadata("2.0").version)
        assert not linked.requires[N("metadata")].allows(metadata("3.1.1").version)

    def test_extras_of_the_other_plugin(self) -> None:
        """An extra asked of the other plugin still names it."""
        linked = link([html("1.0", "pytest-metadata[x]>=1"), metadata()])[0]
        assert N("metadata") in linked.requires

    def test_own_distribution_ignored(self) -> None:
        """A line naming the plugin's own distribution is no dependency on itself."""
        linked = link([html("1.0", "pytest-html[extra]")])[0]
        assert linked.plugin_requires == {}

    def test_unreadable_line_left_to_third_party(self) -> None:
        """A line that cannot be read links nothing and stays for the third-party check."""
        linked = link([html("1.0", "not a requirement!!"), metadata()])[0]
        assert linked.plugin_requires == {}
        assert third_party(linked) == ("not a requirement!!",)

    def test_same_candidate_when_nothing_changes(self) -> None:
        """A candidate without links to make is returned as it is."""
        plain = metadata()
        assert link([plain])[0] is plain

    def test_earlier_link_kept(self) -> None:
        """A link made earlier stays when its plugin is no longer at hand."""
        linked = link([html(), metadata()])[0]
        assert N("metadata") in link([linked])[0].requires

    def test_both_named(self) -> None:
        """plugin.toml and Requires-Dist naming one plugin: both constraints apply."""
        linked = link([html_both("^3.0", "pytest-metadata>=3.1"), metadata()])[0]
        assert isinstance(linked.requires[N("metadata")], BothConstraints)

    def test_equal_to_the_unlinked(self) -> None:
        """Links are derived: the linked candidate equals the one discovery made."""
        plain = html()
        linked = link([plain, metadata()])[0]
        assert linked == plain
        assert hash(linked) == hash(plain)


class TestResolved:
    def test_orders_the_load(self) -> None:
        """The plugin named by Requires-Dist loads first, as a plugin.toml dependency does."""
        plan = run([html(), metadata()])
        assert plan.order == ("metadata", "html")
        assert plan.graph[N("html")] == (N("metadata"),)

    def test_constrains_the_version(self) -> None:
        """The highest version its specifier allows is chosen."""
        plan = run([html("1.0", "pytest-metadata<3"), metadata("3.1.1"), metadata("2.0.0")])
        assert versions_of(plan) == {"html": "1.0.0", "metadata": "2.0.0"}

    def test_unsatisfiable_names_who_needs_what(self) -> None:
        """No version fits: unsatisfiable, naming the requirement and the versions at hand."""
        plan = run([html("1.0", "pytest-metadata>=4"), metadata("3.1.1"), metadata("2.0.0")])
        problem = only(plan, ProblemKind.UNSATISFIABLE, "html")
        assert "html 1.0.0 requires metadata >=4" in problem.message
        assert "available: metadata 3.1.1, 2.0.0" in problem.message
        assert problem.requirement is not None
        assert problem.requirement.constraint == ">=4"
        assert problem.requirement.available == ("3.1.1", "2.0.0")
        assert versions_of(plan) == {"metadata": "3.1.1"}

    def test_both_constraints_apply(self) -> None:
        """plugin.toml ^2 and Requires-Dist <2.5: the version satisfying both is chosen."""
        cand = html_both("^2", "pytest-metadata<2.5")
        plan = run([cand, metadata("3.0.0"), metadata("2.7.0"), metadata("2.1.0")])
        assert versions_of(plan)["metadata"] == "2.1.0"

    def test_epoch_through_requires_dist(self) -> None:
        """A Requires-Dist specifier orders an epoch: the epoch version is chosen and fits."""
        plan = run([html("1.0", "pytest-metadata>=1!1.0"), metadata("1!1.0"), metadata("5.0")])
        assert versions_of(plan) == {"html": "1.0.0", "metadata": "1!1.0"}

    def test_epoch_under_a_manifest_constraint_refused(self) -> None:
        """A plugin.toml constraint on a version with an epoch refuses it, saying why."""
        needy = candidate("needy", "1.0", requires={"metadata": "^1.0"})
        plan = run([needy, metadata("1!1.0"), metadata("1.5")])
        assert versions_of(plan) == {"metadata": "1.5.0", "needy": "1.0.0"}
        refused = only(plan, ProblemKind.REFUSED, "metadata")
        assert "metadata 1!1.0 has an epoch" in refused.message
        assert "required by needy 1.0.0" in refused.message

    def test_epoch_under_any_loads(self) -> None:
        """'*' orders nothing: the epoch version, the highest, is chosen."""
        needy = candidate("needy", "1.0", requires={"metadata": "*"})
        plan = run([needy, metadata("1!1.0"), metadata("1.5")])
        assert versions_of(plan)["metadata"] == "1!1.0"

    def test_post_release_chosen_over_its_release(self) -> None:
        """0.2.0.post2 is the highest and satisfies ^0.2 of plugin.toml."""
        needy = candidate("needy", "1.0", requires={"metadata": "=0.2.0"})
        plan = run([needy, metadata("0.2.0"), metadata("0.2.0.post2")])
        assert versions_of(plan)["metadata"] == "0.2.0.post2"

    def test_prerelease_named_by_specifier(self) -> None:
        """A Requires-Dist naming a prerelease admits it, as a plugin.toml constraint does."""
        plan = run([html("1.0", "pytest-metadata>=2.0rc1"), metadata("2.0rc1")])
        assert versions_of(plan)["metadata"] == "2.0.0-rc.1"
        plan = run([html("1.0", "pytest-metadata>=1"), metadata("2.0rc1")], policy=PRE)
        assert versions_of(plan)["metadata"] == "2.0.0-rc.1"


RELEASES = [f"{a}.{b}.{c}" for a in range(3) for b in range(2) for c in range(2)]


@st.composite
def twin_sets(draw: st.DrawFn) -> tuple[list[object], list[object]]:
    """One random plugin set written twice: requirements in plugin.toml, then in Requires-Dist.

    Releases only, and operators that mean the same in both dialects (``>=``, ``<``, any), on
    plugins that are present: the two must resolve alike.
    """
    present = draw(st.lists(st.sampled_from(NAMES), min_size=1, unique=True))
    toml, dist = [], []
    for name in present:
        for version in draw(
            st.lists(st.sampled_from(RELEASES), min_size=1, max_size=3, unique=True)
        ):
            others = [n for n in present if n != name]
            deps = (
                draw(st.lists(st.sampled_from(others), max_size=2, unique=True)) if others else []
            )
            rules = {d: draw(st.sampled_from(["*", ">=", "<"])) for d in deps}
            bounds = {d: draw(st.sampled_from(RELEASES)) for d in deps}
            npm = {d: "*" if r == "*" else f"{r}{bounds[d]}" for d, r in rules.items()}
            lines = [d if r == "*" else f"{d}{r}{bounds[d]}" for d, r in rules.items()]
            toml.append(candidate(name, version, requires=npm))
            dist.append(candidate(name, version, requires_dist=lines))
    return toml, dist


class TestSameAsPluginToml:
    @settings(max_examples=300, deadline=None)
    @given(twin_sets())
    def test_resolves_alike(self, twins: tuple[list[object], list[object]]) -> None:
        """Requirements written as Requires-Dist resolve exactly as the same ones in plugin.toml:
        the versions chosen, the load order and the problems."""
        toml, dist = (run(side) for side in twins)
        assert versions_of(dist) == versions_of(toml)
        assert dist.order == toml.order
        assert dict(dist.graph) == dict(toml.graph)
        shown = [(p.kind, p.plugin, p.version, p.message) for p in toml.problems]
        assert [(p.kind, p.plugin, p.version, p.message) for p in dist.problems] == shown
