"""Tests for screening: duplicate candidates, and versions the host API or the policy refuses."""

from __future__ import annotations

from resolving import PRE, N, only, run, versions_of
from strategies import candidate

from pluginhost.model.policy import VersionPolicy
from pluginhost.model.problems import ProblemKind
from pluginhost.model.versions import Version


class TestPolicy:
    def test_prerelease_refused_by_default(self) -> None:
        """A newer prerelease is refused, named in a problem, and the release loads."""
        plan = run([candidate("hello", "1.0.0"), candidate("hello", "1.1.0-rc.1")])
        assert versions_of(plan) == {"hello": "1.0.0"}
        problem = only(plan, ProblemKind.REFUSED)
        assert problem.version == "1.1.0-rc.1"
        assert "prerelease" in problem.message

    def test_prerelease_allowed_by_policy(self) -> None:
        """With allow_prerelease the prerelease is the highest version and is chosen."""
        plan = run([candidate("hello", "1.0.0"), candidate("hello", "1.1.0-rc.1")], policy=PRE)
        assert versions_of(plan) == {"hello": "1.1.0-rc.1"}
        assert plan.problems == ()

    def test_prerelease_named_by_requirer(self) -> None:
        """A requirement naming the prerelease selects it even when the policy forbids them."""
        plan = run(
            [
                candidate("hello", "1.0.0"),
                candidate("hello", "1.1.0-rc.1"),
                candidate("polite", "1.0.0", requires={"hello": ">=1.1.0-rc.1"}),
            ]
        )
        assert versions_of(plan) == {"hello": "1.1.0-rc.1", "polite": "1.0.0"}

    def test_prerelease_named_only_by_a_skipped_requirer(self) -> None:
        """A prerelease whose only requirer is skipped is refused rather than loaded."""
        plan = run(
            [
                candidate("hello", "1.1.0-rc.1"),
                candidate("polite", "1.0.0", requires={"hello": ">=1.1.0-rc.1", "gone": "*"}),
            ]
        )
        assert dict(plan.chosen) == {}
        assert "names them" in only(plan, ProblemKind.REFUSED, "hello").message
        assert only(plan, ProblemKind.MISSING).plugin == "polite"

    def test_downgrade_refused(self) -> None:
        """A version lower than the active one is refused unless the policy allows downgrades."""
        cands = [candidate("hello", "1.0.0")]
        plan = run(cands, active={"hello": "1.2.0"})
        assert dict(plan.chosen) == {}
        assert only(plan, ProblemKind.REFUSED).message == (
            "hello 1.0.0 is lower than the active hello 1.2.0,"
            " and the policy does not allow downgrades"
        )
        allowed = run(cands, active={"hello": "1.2.0"}, policy=VersionPolicy(allow_downgrade=True))
        assert versions_of(allowed) == {"hello": "1.0.0"}

    def test_downgrade_refused_even_when_required(self) -> None:
        """A requirer cannot force a downgrade: it is skipped instead."""
        plan = run(
            [
                candidate("hello", "1.0.0"),
                candidate("hello", "1.2.0"),
                candidate("polite", "1.0.0", requires={"hello": "<1.2"}),
            ],
            active={"hello": "1.2.0"},
        )
        assert versions_of(plan) == {"hello": "1.2.0"}
        assert only(plan, ProblemKind.UNSATISFIABLE).message == (
            "polite 1.0.0 requires hello <1.2, available: hello 1.2.0"
        )

    def test_old_versions_are_not_reported(self) -> None:
        """Refused versions below the chosen one raise no problem."""
        plan = run(
            [candidate("hello", "1.0.0"), candidate("hello", "1.2.0")], active={"hello": "1.2.0"}
        )
        assert versions_of(plan) == {"hello": "1.2.0"}
        assert plan.problems == ()


class TestHost:
    def test_host_constraint_refuses(self) -> None:
        """A version whose host constraint excludes the API is refused, and a lower one loads."""
        plan = run([candidate("hello", "2.0.0", host="^2"), candidate("hello", "1.0.0", host="^1")])
        assert versions_of(plan) == {"hello": "1.0.0"}
        problem = only(plan, ProblemKind.REFUSED)
        assert (problem.plugin, problem.version) == ("hello", "2.0.0")
        assert problem.message == "hello 2.0.0 requires host API ^2, this host provides 1.2.0"
        assert problem.path == "/wheels/hello-2.0.0.whl"

    def test_prerelease_host_api_is_not_subject_to_policy(self) -> None:
        """A prerelease host API is matched on its ordering alone."""
        plan = run([candidate("hello", "1.0.0", host=">=1.2")], api=Version.parse("1.3.0-beta.1"))
        assert versions_of(plan) == {"hello": "1.0.0"}


class TestDuplicates:
    def test_same_version_different_bytes_conflict(self) -> None:
        """Different bytes under one version: the first by path is kept, the other reported."""
        first = candidate("hello", "1.0.0", path="/a/hello.whl", sha="1" * 64)
        second = candidate("hello", "1.0.0", path="/b/hello.whl", sha="2" * 64)
        plan = run([second, first])
        assert plan.chosen[N("hello")] is first
        problem = only(plan, ProblemKind.CONFLICT)
        assert problem.message == (
            "hello 1.0.0 is offered twice with different contents:"
            " /a/hello.whl and /b/hello.whl; the first is used"
        )
        assert problem.path == "/b/hello.whl"

    def test_same_bytes_collapse_silently(self) -> None:
        """The same wheel at two paths is one candidate."""
        plan = run([candidate("hello", "1.0.0", path=p, sha="1" * 64) for p in ("/b", "/a")])
        assert str(plan.chosen[N("hello")].origin) == "/a"
        assert plan.problems == ()

    def test_installed_preferred_over_wheel(self) -> None:
        """An installed distribution wins over a wheel of the same version, which is reported."""
        wheel = candidate("hello", "1.0.0")
        installed = candidate("hello", "1.0.0", installed=True)
        plan = run([wheel, installed, installed])
        assert plan.chosen[N("hello")] is installed
        problem = only(plan, ProblemKind.CONFLICT)
        assert problem.path == "/wheels/hello-1.0.0.whl"
        # Not "different contents": an installed copy has no wheel hash to tell.
        assert problem.message.startswith("hello 1.0.0 is offered twice installed and as a wheel")
