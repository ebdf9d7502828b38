"""The engine's journal built directly: real candidates, real errors, its events in a list."""

from __future__ import annotations

import pytest
from strategies import candidate

from pluginhost.host.journal import Journal
from pluginhost.model.errors import (
    ActivationError,
    InstallError,
    PluginHostError,
    StoreError,
    WheelError,
)
from pluginhost.model.events import Event, EventKind
from pluginhost.model.problems import Problem, ProblemKind

HELLO1, HELLO2 = candidate("hello", "1.0.0"), candidate("hello", "2.0.0")
POLITE = candidate("polite", "1.0.0")
MISSING = Problem(ProblemKind.MISSING, "polite", "polite requires hello, which is missing")


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
def journal(events: list[Event]) -> Journal:
    return Journal(events.append)


def load_failed(c: str = "hello 2.0.0: boom") -> Problem:
    return Problem(ProblemKind.LOAD_FAILED, "hello", c, version="2.0.0")


def bad_file(name: str, kind: ProblemKind = ProblemKind.WHEEL_INVALID) -> Problem:
    return Problem(kind, name, f"{name}: refused", version="1.0.0", path=f"/w/{name}.whl")


class TestAccount:
    def test_begin_starts_with_the_plan_problems(self, journal: Journal) -> None:
        """A reconcile's account starts with the problems its plan found."""
        journal.begin([MISSING])
        assert journal.problems() == (MISSING,)

    def test_file_adds_once(self, journal: Journal) -> None:
        """A problem filed twice is in the account once."""
        journal.begin([MISSING])
        journal.file(load_failed())
        journal.file(load_failed())
        journal.file(MISSING)
        assert journal.problems() == (MISSING, load_failed())

    def test_begin_forgets_the_last_reconcile(self, journal: Journal) -> None:
        """A new reconcile starts afresh: no problems, failures or retry of the last one."""
        journal.begin([MISSING])
        journal.failed(HELLO2, load_failed(), InstallError("disk full"), None)
        journal.begin([])
        assert journal.problems() == ()
        assert not journal.failures()
        assert not journal.wants_retry()

    def test_refused_by_disk_asks_for_a_retry(self, journal: Journal) -> None:
        """A change the file system refused asks for a retry until the next reconcile."""
        journal.begin([])
        assert not journal.wants_retry()
        journal.refused_by_disk()
        assert journal.wants_retry()


class TestFailed:
    def test_error_kept_by_candidate_key(self, journal: Journal) -> None:
        """The error of a failed change is kept under the candidate's key, detached."""
        journal.begin([])
        try:
            raise ActivationError("boom", step="import")
        except ActivationError as exc:
            journal.failed(HELLO2, load_failed(), exc, "1.0.0")
        kept = journal.failures()[HELLO2.key]
        assert isinstance(kept, ActivationError)
        assert kept.plugin == "hello"
        assert kept.__traceback__ is None
        assert HELLO1.key not in journal.failures()

    def test_failures_is_a_copy(self, journal: Journal) -> None:
        """The failures handed out do not change with later failures."""
        journal.begin([])
        before = journal.failures()
        journal.failed(HELLO2, load_failed(), ActivationError("boom"), None)
        assert not before

    def test_problem_filed_and_history_kept(self, journal: Journal) -> None:
        """A failure files its problem and adds a ``failed`` entry to the plugin's history."""
        journal.begin([])
        journal.failed(HELLO2, load_failed(), None, None)
        assert journal.problems() == (load_failed(),)
        (entry,) = journal.history.view()["hello"]
        assert (entry.outcome, entry.version, entry.error) == (
            "failed",
            "2.0.0",
            "hello 2.0.0: boom",
        )

    def test_event_of_an_error(self, journal: Journal, events: list[Event]) -> None:
        """A failure with an error emits ``load_failed`` with its text, type, step and the
        version that serves on."""
        journal.failed(HELLO2, load_failed(), ActivationError("boom", step="import"), "1.0.0")
        (event,) = events
        assert (event.kind, event.plugin, event.version) == (
            EventKind.LOAD_FAILED,
            "hello",
            "2.0.0",
        )
        assert (event.previous_version, event.step) == ("1.0.0", "import")
        assert event.error == "boom"  # the event's plugin field names the plugin
        assert event.error_type == "pluginhost.ActivationError"
        assert (event.origin, event.sha256) == (str(HELLO2.origin), HELLO2.sha256)

    def test_event_of_a_problem_alone(self, journal: Journal, events: list[Event]) -> None:
        """A failure without an error emits ``load_failed`` with the problem's message."""
        journal.failed(HELLO2, load_failed("hello 2.0.0: skipped"), None, None)
        (event,) = events
        assert (event.kind, event.error, event.error_type) == (
            EventKind.LOAD_FAILED,
            "hello 2.0.0: skipped",
            None,
        )


class TestForGood:
    @pytest.mark.parametrize(
        ("kind", "exc"),
        [
            (ProblemKind.LOAD_FAILED, ActivationError("boom")),
            (ProblemKind.WHEEL_INVALID, WheelError("bad RECORD")),
            (ProblemKind.CONFLICT, None),
        ],
    )
    def test_the_bytes_own_failure_is_remembered(
        self, journal: Journal, kind: ProblemKind, exc: PluginHostError | None
    ) -> None:
        """Bytes that failed on their own account fail again: the journal remembers them."""
        problem = Problem(kind, "hello", "hello 2.0.0: no", version="2.0.0")
        journal.failed(HELLO2, problem, exc, None)
        assert journal.failed_before(HELLO2.key) == problem
        assert journal.failed_before(HELLO1.key) is None

    @pytest.mark.parametrize("exc", [InstallError("disk full"), StoreError("read-only")])
    def test_disk_refusal_is_no_fault_of_the_bytes(
        self, journal: Journal, exc: PluginHostError
    ) -> None:
        """A full or read-only disk asks for a retry and does not mark the bytes."""
        journal.begin([])
        journal.failed(HELLO2, load_failed(), exc, None)
        assert journal.failed_before(HELLO2.key) is None
        assert journal.wants_retry()

    def test_other_kinds_are_not_for_good(self, journal: Journal) -> None:
        """A dependent skipped for its dependency may load later: it is not marked."""
        problem = Problem(ProblemKind.DEPENDENCY_FAILED, "hello", "skipped", version="2.0.0")
        journal.failed(HELLO2, problem, None, None)
        assert journal.failed_before(HELLO2.key) is None

    def test_forgive(self, journal: Journal) -> None:
        """Forgiven bytes are tried again; forgiving unknown bytes is harmless."""
        journal.failed(HELLO2, load_failed(), ActivationError("boom"), None)
        journal.forgive(HELLO2.key)
        journal.forgive(HELLO1.key)
        assert journal.failed_before(HELLO2.key) is None

    def test_a_conflict_is_tried_again_once_a_plugin_active_then_is_gone(
        self, journal: Journal
    ) -> None:
        """A conflict with the plugins active when it failed holds while they all are; once
        one of them is gone the bytes are tried again, other plugins coming meanwhile aside."""
        problem = Problem(ProblemKind.CONFLICT, "hello", "hello 2.0.0: clash", version="2.0.0")
        journal.failed(HELLO2, problem, None, None, ["hello", "polite", "other"])
        assert journal.failed_before(HELLO2.key, ["polite", "other", "new"]) == problem
        assert journal.failed_before(HELLO2.key) == problem  # no view of the active set
        assert journal.failed_before(HELLO2.key, ["other", "new"]) is None
        assert journal.failed_before(HELLO2.key, ["polite", "other"]) is None  # forgiven

    def test_other_failures_wait_for_new_bytes_whatever_is_active(self, journal: Journal) -> None:
        journal.failed(HELLO2, load_failed(), ActivationError("boom"), None, ["polite"])
        assert journal.failed_before(HELLO2.key, []) is not None

    def test_survives_a_new_reconcile(self, journal: Journal) -> None:
        """Bytes failed for good stay marked across reconciles."""
        journal.failed(HELLO2, load_failed(), ActivationError("boom"), None)
        journal.begin([])
        assert journal.failed_before(HELLO2.key) is not None


class TestEvents:
    def test_discovered_once_per_bytes(self, journal: Journal, events: list[Event]) -> None:
        """Each candidate is announced once, and new bytes of a known version again."""
        journal.announce([HELLO1, POLITE])
        journal.announce([HELLO1, POLITE, HELLO2])
        other_bytes = candidate("hello", "1.0.0", sha="0" * 64)
        journal.announce([other_bytes])
        assert [(e.kind, e.plugin, e.version, e.sha256) for e in events] == [
            (EventKind.DISCOVERED, "hello", "1.0.0", HELLO1.sha256),
            (EventKind.DISCOVERED, "polite", "1.0.0", POLITE.sha256),
            (EventKind.DISCOVERED, "hello", "2.0.0", HELLO2.sha256),
            (EventKind.DISCOVERED, "hello", "1.0.0", "0" * 64),
        ]

    def test_a_copy_of_announced_bytes_is_not_announced(
        self, journal: Journal, events: list[Event]
    ) -> None:
        """Candidates of the last announce are passed over by identity; another object with
        the same bytes (a second copy of a wheel, read again) by its key, whenever it comes."""
        journal.announce([HELLO1])
        journal.announce([HELLO1, POLITE])
        journal.announce([candidate("hello", "1.0.0"), HELLO2])
        journal.announce([candidate("polite", "1.0.0"), candidate("hello", "1.0.0")])
        assert [(e.plugin, e.version) for e in events] == [
            ("hello", "1.0.0"),
            ("polite", "1.0.0"),
            ("hello", "2.0.0"),
        ]

    def test_refusal_reported_once_while_it_stays(
        self, journal: Journal, events: list[Event]
    ) -> None:
        """A refused file is reported when it appears, not again while it stays."""
        journal.report_refusals([bad_file("b"), MISSING, bad_file("a", ProblemKind.UNTRUSTED)])
        journal.report_refusals([bad_file("a", ProblemKind.UNTRUSTED), bad_file("b")])
        assert [(e.kind, e.origin) for e in events] == [
            (EventKind.REFUSED, "/w/a.whl"),
            (EventKind.REFUSED, "/w/b.whl"),
        ]

    def test_refusal_reported_again_once_gone_and_back(
        self, journal: Journal, events: list[Event]
    ) -> None:
        """The same bad file, removed and dropped again, is reported again."""
        journal.report_refusals([bad_file("a")])
        journal.report_refusals([])
        journal.report_refusals([bad_file("a")])
        assert len(events) == 2

    def test_manifest_refusal_event(self, journal: Journal, events: list[Event]) -> None:
        """A file refused for its manifest is reported as ``manifest_invalid``."""
        journal.report_refusals([bad_file("a", ProblemKind.MANIFEST_INVALID)])
        assert [e.kind for e in events] == [EventKind.MANIFEST_INVALID]
