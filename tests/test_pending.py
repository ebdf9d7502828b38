"""The folder watcher's paths waiting to settle, built directly: due times, and what settles."""

from __future__ import annotations

from pluginhost.discover.pending import PendingPaths

SETTLE = 1.0
KEY = ("/srv/wheels", "a.whl")
OTHER = ("/srv/wheels", "b.whl")
ONE = (5, 100, 7)
TWO = (6, 200, 7)


class TestDue:
    def test_empty(self) -> None:
        """With nothing pending, nothing is due and no round is asked for."""
        pending = PendingPaths(SETTLE)
        assert not pending
        assert pending.next_round() == float("inf")
        assert pending.due(100.0) == {}

    def test_seen_waits_the_settle_time(self) -> None:
        """A path seen changing is due one settle time later, not before."""
        pending = PendingPaths(SETTLE)
        pending.seen(KEY, ONE, 10.0, at_once=False)
        assert pending
        assert pending.due(10.9) == {}
        [entry] = pending.due(11.0).values()
        assert (entry.signature, entry.due, entry.forced) == (ONE, 11.0, False)

    def test_renamed_in_due_at_once(self) -> None:
        """A path renamed into place is due when seen, complete: the watcher takes the
        signature its event took, and stats it no more."""
        pending = PendingPaths(SETTLE)
        pending.seen(KEY, ONE, 10.0, at_once=True)
        [entry] = pending.due(10.0).values()
        assert entry.complete
        assert pending.settled(KEY, entry, entry.signature, 10.0)

    def test_a_later_event_makes_it_settle_again(self) -> None:
        """Written to after its rename: no longer complete, it waits the settle time."""
        pending = PendingPaths(SETTLE)
        pending.seen(KEY, ONE, 10.0, at_once=True)
        pending.seen(KEY, TWO, 10.1, at_once=False)
        assert pending.due(10.5) == {}
        [entry] = pending.due(11.1).values()
        assert (entry.signature, entry.complete) == (TWO, False)

    def test_next_round_takes_in_close_paths(self) -> None:
        """The next round waits for the paths due within one more settle time, no longer."""
        pending = PendingPaths(SETTLE)
        pending.seen(KEY, ONE, 10.0, at_once=False)
        pending.seen(OTHER, ONE, 10.5, at_once=False)
        assert pending.next_round() == 11.5
        pending.seen(OTHER, ONE, 12.5, at_once=False)
        assert pending.next_round() == 11.0

    def test_seen_again_restarts(self) -> None:
        """An event for a pending path restarts its settle time and keeps it forced."""
        pending = PendingPaths(SETTLE)
        pending.force(KEY, ONE, 10.0)
        pending.seen(KEY, TWO, 10.8, at_once=False)
        assert pending.due(11.0) == {}
        [entry] = pending.due(11.8).values()
        assert (entry.signature, entry.forced) == (TWO, True)

    def test_missed_keeps_fresher_entry(self) -> None:
        """A rescan's difference does not replace a path already being settled."""
        pending = PendingPaths(SETTLE)
        pending.seen(KEY, ONE, 10.0, at_once=False)
        pending.missed(KEY, TWO, 10.5)
        pending.missed(OTHER, TWO, 10.5)
        due = pending.due(11.5)
        assert (due[KEY].signature, due[KEY].due) == (ONE, 11.0)
        assert (due[OTHER].signature, due[OTHER].due) == (TWO, 11.5)


class TestSettled:
    def test_same_signature_settles(self) -> None:
        """A due path that stayed the same settles and leaves."""
        pending = PendingPaths(SETTLE)
        pending.seen(KEY, ONE, 10.0, at_once=False)
        [(key, entry)] = pending.due(11.0).items()
        assert pending.settled(key, entry, ONE, 11.0)
        assert not pending

    def test_gone_path_settles_as_gone(self) -> None:
        """A path that went away and stayed away settles."""
        pending = PendingPaths(SETTLE)
        pending.seen(KEY, None, 10.0, at_once=False)
        [(key, entry)] = pending.due(11.0).items()
        assert pending.settled(key, entry, None, 11.0)

    def test_changed_signature_settles_afresh(self) -> None:
        """A due path that changed since is not settled: it is due one settle time later."""
        pending = PendingPaths(SETTLE)
        pending.force(KEY, ONE, 10.0)
        [(key, entry)] = pending.due(11.0).items()
        assert not pending.settled(key, entry, TWO, 11.2)
        assert pending.due(12.1) == {}
        [again] = pending.due(12.2).values()
        assert (again.signature, again.forced) == (TWO, True)

    def test_event_meanwhile_wins(self) -> None:
        """An entry replaced by an event since it was due is neither settled nor dropped."""
        pending = PendingPaths(SETTLE)
        pending.seen(KEY, ONE, 10.0, at_once=False)
        [(key, entry)] = pending.due(11.0).items()
        pending.seen(KEY, ONE, 11.0, at_once=False)
        assert not pending.settled(key, entry, ONE, 11.0)
        pending.discard(key, entry)
        assert set(pending.due(12.0)) == {KEY}

    def test_discard(self) -> None:
        """A due entry can be dropped without settling it."""
        pending = PendingPaths(SETTLE)
        pending.seen(KEY, ONE, 10.0, at_once=False)
        [(key, entry)] = pending.due(11.0).items()
        pending.discard(key, entry)
        assert not pending
