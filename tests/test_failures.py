"""How a failed change is told: problems, errors and events made from real errors and candidates."""

from __future__ import annotations

import pytest
from strategies import candidate

from pluginhost.host.failures import (
    detached,
    load_problem,
    refusal,
    refusal_event,
    rollback_failed,
    skipped_for,
)
from pluginhost.model.errors import (
    ActivationError,
    InstallError,
    ManifestError,
    PluginHostError,
    ResolutionError,
    StoreError,
    TrustError,
    WheelError,
)
from pluginhost.model.events import EventKind
from pluginhost.model.names import plugin_name
from pluginhost.model.policy import VersionPolicy
from pluginhost.model.problems import Problem, ProblemKind, Requirement

N = plugin_name
HELLO1, HELLO2 = candidate("hello", "1.0.0"), candidate("hello", "2.0.0")
POLITE = candidate("polite", "1.1.0", requires={"hello": "^1.0"})
POLICY = VersionPolicy()


def raised(exc: PluginHostError) -> PluginHostError:
    """``exc`` as it comes out of a ``raise ... from``: with a traceback, a cause and a context."""
    try:
        try:
            raise OSError("the disk said no")
        except OSError as cause:
            raise exc from cause
    except PluginHostError as caught:
        return caught


class TestLoadProblem:
    @pytest.mark.parametrize(
        ("exc", "kind"),
        [
            (ActivationError("import failed", step="import"), ProblemKind.LOAD_FAILED),
            (InstallError("disk full"), ProblemKind.LOAD_FAILED),
            (WheelError("changed since it was read"), ProblemKind.WHEEL_INVALID),
            (ResolutionError("module 'x' provided twice"), ProblemKind.CONFLICT),
            (ResolutionError("needs attrs", missing=("attrs",)), ProblemKind.REQUIREMENT_FAILED),
        ],
    )
    def test_kind_follows_the_error(self, exc: PluginHostError, kind: ProblemKind) -> None:
        """The problem's kind is the error's: a wheel's, a conflict, an unmet need, or a load."""
        assert load_problem(HELLO1, exc).kind is kind

    def test_fields_name_the_version_and_file(self) -> None:
        """The problem names the plugin, its version, its wheel and the reason once."""
        problem = load_problem(HELLO1, ActivationError("boom", plugin="hello", step="activate"))
        assert problem.plugin == "hello"
        assert problem.message == "hello 1.0.0: boom"
        assert (problem.version, problem.path) == ("1.0.0", str(HELLO1.origin))

    def test_missing_and_requirement_carried(self) -> None:
        """A resolution error's missing names and requirement become the problem's fields."""
        needs = Requirement("hello", "1.0.0", "attrs", ">=22")
        exc = ResolutionError("needs attrs", missing=("attrs",), requirement=needs)
        problem = load_problem(HELLO1, exc)
        assert (problem.involved, problem.requirement) == (("attrs",), needs)


class TestSkippedFor:
    def test_names_the_dependency_and_the_requirement(self) -> None:
        """A skipped dependent names what it requires, and the requirement as fields."""
        problem = skipped_for(POLITE, N("hello"))
        assert problem.kind is ProblemKind.DEPENDENCY_FAILED
        assert problem.plugin == "polite"
        assert problem.involved == ("hello",)
        assert problem.version == "1.1.0"
        assert problem.message == (
            "polite 1.1.0 was skipped because hello, which it requires, is not active"
        )
        assert problem.requirement == Requirement("polite", "1.1.0", "hello", "^1.0")


class TestRefusal:
    def test_not_chosen_without_a_problem(self) -> None:
        """A candidate no problem names was simply not chosen."""
        err = refusal(
            HELLO1, [Problem(ProblemKind.MISSING, "other", "other is missing")], None, POLICY
        )
        assert isinstance(err, ResolutionError)
        assert str(err) == "hello 1.0.0 was not chosen"
        assert err.plugin == "hello"

    def test_not_chosen_while_a_newer_or_same_version_serves(self) -> None:
        """A version not chosen names the one serving, and the policy when it forbids that."""
        err = refusal(HELLO1, [], HELLO2, POLICY)
        assert str(err) == (
            "hello 1.0.0 was not chosen: it is older than 2.0.0, which serves, and the "
            "version policy forbids a downgrade (VersionPolicy(allow_downgrade=True) allows "
            "it, and pins it)"
        )
        assert str(refusal(HELLO2, [], HELLO1, POLICY)) == (
            "hello 2.0.0 was not chosen: 1.0.0 serves"
        )
        same_version = candidate("hello", "1.0.0", sha="0" * 64)
        assert str(refusal(same_version, [], HELLO1, POLICY)) == (
            "hello 1.0.0 was not chosen: 1.0.0 serves"
        )

    def test_not_chosen_older_with_downgrades_allowed(self) -> None:
        """With downgrades allowed, an older version not chosen says only that it is older."""
        err = refusal(HELLO1, [], HELLO2, VersionPolicy(allow_downgrade=True))
        assert str(err) == "hello 1.0.0 was not chosen: it is older than 2.0.0, which serves"

    def test_load_failure_is_an_activation_error(self) -> None:
        """A filed load failure comes back as an ActivationError of the load step."""
        problem = Problem(ProblemKind.LOAD_FAILED, "hello", "hello 1.0.0: boom", version="1.0.0")
        err = refusal(HELLO1, [problem], None, POLICY)
        assert isinstance(err, ActivationError)
        assert (str(err), err.step) == ("hello 1.0.0: boom", "load")

    def test_missing_names_the_dependency(self) -> None:
        """A MISSING problem's missing plugins and requirement are the error's fields."""
        needs = Requirement("polite", "1.1.0", "hello", "^1.0")
        problem = Problem(
            ProblemKind.MISSING,
            "polite",
            "polite 1.1.0 requires hello ^1.0, which is not available",
            involved=("hello",),
            version="1.1.0",
            requirement=needs,
        )
        err = refusal(POLITE, [problem], None, POLICY)
        assert isinstance(err, ResolutionError)
        assert (err.missing, err.requirement) == (("hello",), needs)

    def test_other_kinds_name_no_missing_plugin(self) -> None:
        """Only a MISSING problem names missing plugins: a cycle's members are not missing."""
        problem = Problem(
            ProblemKind.CYCLE, "polite", "polite and hello require each other", ("hello",)
        )
        err = refusal(POLITE, [problem], None, POLICY)
        assert isinstance(err, ResolutionError)
        assert err.missing == ()

    def test_this_version_problem_preferred(self) -> None:
        """The problem of the version asked for wins over one of another version."""
        mine = Problem(ProblemKind.REFUSED, "hello", "hello 2.0.0 is refused", version="2.0.0")
        other = Problem(ProblemKind.REFUSED, "hello", "hello 1.0.0 is refused", version="1.0.0")
        assert str(refusal(HELLO2, [mine, other], None, POLICY)) == "hello 2.0.0 is refused"

    def test_another_version_problem_when_none_of_mine(self) -> None:
        """Without a problem of its own version, the plugin's latest problem explains it."""
        other = Problem(ProblemKind.REFUSED, "hello", "hello 1.0.0 is refused", version="1.0.0")
        assert str(refusal(HELLO2, [other], None, POLICY)) == "hello 1.0.0 is refused"


class TestDetached:
    def test_no_traceback_cause_or_context(self) -> None:
        """The copy keeps no traceback, cause or context, and the original keeps its own."""
        original = raised(ActivationError("boom", plugin="hello", step="import"))
        clone = detached(original, "hello")
        assert clone is not original
        assert clone.__traceback__ is None
        assert clone.__cause__ is None
        assert clone.__context__ is None
        assert original.__traceback__ is not None
        assert original.__cause__ is not None
        assert isinstance(clone, ActivationError)
        assert clone.step == "import"
        assert str(clone) == str(original)

    def test_names_the_plugin_when_the_error_did_not(self) -> None:
        """An error raised without a plugin is told with the plugin's name."""
        clone = detached(raised(WheelError("changed since it was read")), "hello")
        assert clone.plugin == "hello"
        assert str(clone) == "plugin 'hello': changed since it was read"

    def test_does_not_repeat_the_plugin_name(self) -> None:
        """A reason that names the plugin already is not prefixed with it again."""
        clone = detached(raised(ResolutionError("plugin 'hello' is not active")), "hello")
        assert str(clone) == "plugin 'hello' is not active"

    def test_subclass_fields_kept(self) -> None:
        """Fields of the error's own type survive the copy."""
        clone = detached(raised(ManifestError("bad", key="plugin.requires")), "hello")
        assert isinstance(clone, ManifestError)
        assert clone.key == "plugin.requires"
        assert str(clone) == "plugin 'hello': bad (key 'plugin.requires')"


class TestRollbackFailed:
    def test_activation_failure(self) -> None:
        """A rollback undone by a failed step is an ActivationError of the rollback step."""
        err = rollback_failed(HELLO1, HELLO2, ActivationError("health check returned False"))
        assert isinstance(err, ActivationError)
        assert err.step == "rollback"
        assert err.plugin == "hello"
        assert err.reason == (
            "rollback to 1.0.0 failed; 2.0.0 stays active: health check returned False"
        )

    @pytest.mark.parametrize("kind", [InstallError, StoreError])
    def test_file_system_refusal_keeps_its_kind(self, kind: type[PluginHostError]) -> None:
        """A rollback the file system refused raises that kind, with the file concerned."""
        err = rollback_failed(HELLO1, HELLO2, kind("disk full", path="/home/registry.json"))
        assert type(err) is kind
        assert err.path == "/home/registry.json"
        assert err.reason.endswith("2.0.0 stays active: disk full")

    def test_without_a_failure(self) -> None:
        """Without a failure to tell, the error says only which version stays."""
        err = rollback_failed(HELLO1, HELLO2, None)
        assert err.reason == "rollback to 1.0.0 failed; 2.0.0 stays active"


class TestRefusalEvent:
    @pytest.mark.parametrize(
        ("kind", "event", "error"),
        [
            (ProblemKind.MANIFEST_INVALID, EventKind.MANIFEST_INVALID, ManifestError),
            (ProblemKind.WHEEL_INVALID, EventKind.REFUSED, WheelError),
            (ProblemKind.UNTRUSTED, EventKind.REFUSED, TrustError),
        ],
    )
    def test_event_of_a_refused_file(
        self, kind: ProblemKind, event: EventKind, error: type[PluginHostError]
    ) -> None:
        """A refused file's event names its kind, file, version, message and error type."""
        problem = Problem(kind, "hello", "refused: bad", version="1.0.0", path="/w/h.whl")
        ev = refusal_event(problem)
        assert (ev.kind, ev.plugin, ev.version, ev.origin) == (event, "hello", "1.0.0", "/w/h.whl")
        assert (ev.error, ev.step) == ("refused: bad", str(kind))
        assert ev.error_type == f"pluginhost.{error.__qualname__}"  # as the public face names it
