"""The engine's ledger built directly: real candidates, real pluggy implementations, no engine."""

from __future__ import annotations

from pathlib import Path

import attrs
import pluggy
import pytest
from strategies import candidate

from hookspecs import greeter
from pluginhost.host.ledger import Ledger
from pluginhost.model.candidate import Candidate, EntryPoint
from pluginhost.model.errors import PluginHostError
from pluginhost.model.names import plugin_name
from pluginhost.model.status import PluginInfo, PluginState
from pluginhost.state.registry import FORMAT, Record, Registry
from pluginhost.swap.members import Active
from pluginhost.swap.switch import prepare

N = plugin_name
hookimpl = pluggy.HookimplMarker(greeter.PROJECT)


class Greeter:
    """A plugin object with one hook implementation, as an entry point would load it."""

    @hookimpl
    def greet(self, name: str) -> str:
        return f"hello {name}"


@pytest.fixture
def pm() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(greeter.PROJECT)
    manager.add_hookspecs(greeter.GreeterSpec)
    return manager


def active(
    pm: pluggy.PluginManager, c: Candidate, site: Path | None = None, top: tuple[str, ...] = ()
) -> Active:
    """What the engine keeps of ``c`` once it serves: its implementations parsed by pluggy."""
    return Active(c, (prepare(pm, Greeter(), c.name),), site, top or (f"{c.name}_plugin",))


def site_name(c: Candidate) -> str:
    """The name of ``c``'s site dir, as the installer makes it."""
    return f"{c.name}-{c.version}-{(c.sha256 or '')[:8]}"


def record(c: Candidate) -> Record:
    """The record of a backup of ``c``."""
    return Record(c, site_name(c), (f"{c.name}_plugin",))


HELLO1, HELLO2, HELLO3 = (candidate("hello", v) for v in ("1.0.0", "1.1.0", "1.2.0"))
POLITE = candidate("polite", "1.0.0", requires={"hello": "^1.0"})


def loaded(pm: pluggy.PluginManager, *cands: Candidate, root: Path = Path("/home/site")) -> Ledger:
    """A ledger with ``cands`` active, in that order, each in a site dir under ``root``."""
    ledger = Ledger()
    for c in cands:
        ledger.active[c.name] = active(pm, c, root / site_name(c))
        ledger.order.append(c.name)
    return ledger


class TestSnapshot:
    def test_changes_after_a_snapshot_leave_it_alone(self, pm: pluggy.PluginManager) -> None:
        """Every field of a snapshot keeps its value when the ledger changes afterwards."""
        ledger = loaded(pm, HELLO1)
        ledger.backups[N("hello")] = (record(HELLO2),)
        snap = ledger.snapshot()
        ledger.active[N("polite")] = active(pm, POLITE)
        ledger.order.append(N("polite"))
        ledger.failed[N("x")] = PluginInfo("x", "1.0.0", PluginState.FAILED, "o", "x")
        ledger.backups[N("hello")] = ()
        ledger.rolled_back.add(N("hello"))
        ledger.state[N("hello")] = {"count": 1}
        ledger.manual[N("hello")] = HELLO1
        ledger.pinned.add(N("hello"))
        ledger.removed.add(N("polite"))
        ledger.rejected.add(HELLO3.key)
        assert list(snap.active) == ["hello"]
        assert snap.order == ["hello"]
        assert snap.backups == {"hello": (record(HELLO2),)}
        for field in ("failed", "rolled_back", "state", "manual", "pinned", "removed", "rejected"):
            assert not getattr(snap, field), field

    def test_restore_puts_every_field_back(self, pm: pluggy.PluginManager) -> None:
        """A ledger restored from its snapshot equals the ledger before the change."""
        ledger = loaded(pm, HELLO1)
        ledger.manual[N("hello")] = HELLO1
        before = ledger.snapshot()
        expected = ledger.snapshot()
        ledger.active[N("hello")] = active(pm, HELLO2)
        ledger.order.append(N("polite"))
        ledger.manual.clear()
        ledger.removed.add(N("hello"))
        ledger.rejected.add(HELLO1.key)
        ledger.restore(before)
        assert ledger == expected


class TestRecord:
    def test_entry_points_round_trip(self) -> None:
        """A record keeps every entry point of its plugin, names and values, in order."""
        two = attrs.evolve(HELLO1, entry_points=(EntryPoint("a", "x"), EntryPoint("b", "x.b")))
        again = Record.from_json(record(two).to_json())
        assert again.candidate.entry_points == two.entry_points

    def test_record_written_with_one_entry_point_read(self) -> None:
        """A record written before plugins could have several entry points (``entry_point``,
        a string) is read as one entry point named like the plugin."""
        data = record(HELLO1).to_json()
        del data["candidate"]["entry_points"]
        data["candidate"]["entry_point"] = "hello_plugin"
        again = Record.from_json(data)
        assert again.candidate.entry_points == (EntryPoint("hello", "hello_plugin"),)

    def test_record_without_entry_points_refused(self) -> None:
        """A registry naming a plugin with no entry point is not readable."""
        data = {"format": FORMAT, "active": [record(HELLO1).to_json()]}
        data["active"][0]["candidate"]["entry_points"] = []
        with pytest.raises(PluginHostError, match="no entry point"):
            Registry.from_json(data, Path("registry.json"))

    def test_record_names_the_site_dir_by_its_name(self, pm: pluggy.PluginManager) -> None:
        """The record of an active plugin names its site dir relative to ``site/``."""
        ledger = loaded(pm, HELLO1)
        rec = ledger.record(ledger.active[N("hello")])
        assert rec == Record(HELLO1, site_name(HELLO1), ("hello_plugin",), False, False)

    def test_environment_plugin_has_no_site_dir(self, pm: pluggy.PluginManager) -> None:
        """A plugin installed in the environment is recorded without a site dir."""
        env = candidate("hello", "1.0.0", installed=True)
        assert Ledger().record(active(pm, env)).site_dir is None

    def test_manual_and_pinned(self, pm: pluggy.PluginManager) -> None:
        """A version installed with install() is recorded as manual, and pinned when held."""
        ledger = loaded(pm, HELLO1)
        ledger.manual[N("hello")] = HELLO1
        assert ledger.record(ledger.active[N("hello")]).manual
        assert not ledger.record(ledger.active[N("hello")]).pinned
        ledger.pinned.add(N("hello"))
        assert ledger.record(ledger.active[N("hello")]).pinned

    def test_manual_other_version_is_not_pinned(self, pm: pluggy.PluginManager) -> None:
        """A pin on another version than the active one does not mark the active one."""
        ledger = loaded(pm, HELLO2)
        ledger.manual[N("hello")] = HELLO1
        ledger.pinned.add(N("hello"))
        rec = ledger.record(ledger.active[N("hello")])
        assert (rec.manual, rec.pinned) == (False, False)


class TestSetPin:
    def test_sets_and_clears(self) -> None:
        """set_pin puts an explicit install and its pin as given, and takes them away."""
        ledger = Ledger()
        ledger.set_pin(N("hello"), HELLO1, pinned=True)
        assert (ledger.manual, ledger.pinned) == ({"hello": HELLO1}, {"hello"})
        ledger.set_pin(N("hello"), HELLO1, pinned=False)
        assert (ledger.manual, ledger.pinned) == ({"hello": HELLO1}, set())
        ledger.set_pin(N("hello"), None, pinned=False)
        assert (ledger.manual, ledger.pinned) == ({}, set())

    def test_leaves_other_plugins_alone(self) -> None:
        """Putting one plugin's pin back touches no other plugin's."""
        ledger = Ledger()
        ledger.set_pin(N("polite"), POLITE, pinned=True)
        ledger.set_pin(N("hello"), None, pinned=False)
        assert (ledger.manual, ledger.pinned) == ({"polite": POLITE}, {"polite"})


class TestBackups:
    def test_push_keeps_the_most_recent_first(self) -> None:
        """Backups are kept most recent first."""
        ledger = Ledger()
        ledger.push_backup(record(HELLO1), keep=3)
        ledger.push_backup(record(HELLO2), keep=3)
        assert ledger.backups[N("hello")] == (record(HELLO2), record(HELLO1))

    def test_push_returns_what_goes_beyond_keep(self) -> None:
        """Backups beyond ``keep`` are dropped and returned, oldest last."""
        ledger = Ledger()
        assert ledger.push_backup(record(HELLO1), keep=1) == []
        assert ledger.push_backup(record(HELLO2), keep=1) == [record(HELLO1)]
        assert ledger.backups[N("hello")] == (record(HELLO2),)

    def test_push_of_the_same_bytes_moves_them_first(self) -> None:
        """A version backed up again is not kept twice: it moves to the front."""
        ledger = Ledger()
        for c in (HELLO1, HELLO2, HELLO1):
            ledger.push_backup(record(c), keep=3)
        assert ledger.backups[N("hello")] == (record(HELLO1), record(HELLO2))

    def test_pop_then_push_back(self) -> None:
        """A backup taken off with pop_backup goes back first with push_back."""
        ledger = Ledger()
        ledger.push_backup(record(HELLO1), keep=3)
        ledger.push_backup(record(HELLO2), keep=3)
        taken = ledger.pop_backup(N("hello"))
        assert taken == record(HELLO2)
        assert ledger.backups[N("hello")] == (record(HELLO1),)
        ledger.push_back(taken)
        assert ledger.backups[N("hello")] == (record(HELLO2), record(HELLO1))

    def test_pop_without_backups_raises(self) -> None:
        """Popping a plugin without backups is a programming error: it raises."""
        ledger = Ledger()
        ledger.backups[N("hello")] = ()
        with pytest.raises(ValueError, match="not enough values"):
            ledger.pop_backup(N("hello"))


class TestSites:
    def test_sites_in_use_of_active_and_backups(self, pm: pluggy.PluginManager) -> None:
        """The site dirs in use are the active plugins' and the backups', by name."""
        ledger = loaded(pm, HELLO2, POLITE)
        ledger.push_backup(record(HELLO1), keep=3)
        ledger.active[N("env")] = active(pm, candidate("env", "1.0.0", installed=True))
        assert ledger.sites_in_use() == {site_name(HELLO2), site_name(POLITE), site_name(HELLO1)}

    def test_known_finds_active_and_backup_copies(self, pm: pluggy.PluginManager) -> None:
        """known() gives the records of installed copies of the same bytes, and only those."""
        ledger = loaded(pm, HELLO2)
        ledger.push_backup(record(HELLO1), keep=3)
        assert list(ledger.known(HELLO2)) == [ledger.record(ledger.active[N("hello")])]
        assert list(ledger.known(HELLO1)) == [record(HELLO1)]
        assert list(ledger.known(HELLO3)) == []
        other_bytes = candidate("hello", "1.0.0", sha="0" * 64)
        assert list(ledger.known(other_bytes)) == []

    def test_is_active_compares_the_bytes(self, pm: pluggy.PluginManager) -> None:
        """is_active is true only for the very bytes that serve."""
        ledger = loaded(pm, HELLO1)
        assert ledger.is_active(HELLO1)
        assert not ledger.is_active(candidate("hello", "1.0.0", sha="0" * 64))
        assert not ledger.is_active(POLITE)


class TestSifting:
    """What the engine asks of every candidate at each change: the serving objects are passed
    over by identity, copies of their bytes (read from the registry) by their keys, with the
    same answers, whether few or many are left to compare."""

    @pytest.mark.parametrize("size", [4, 60])
    @pytest.mark.parametrize("copies", [False, True])
    def test_not_serving(self, pm: pluggy.PluginManager, size: int, copies: bool) -> None:
        planned = [candidate(f"p{i}", "1.0.0") for i in range(size)]
        serving = [candidate(f"p{i}", "1.0.0") for i in range(size)] if copies else planned
        ledger = loaded(pm, *serving)
        planned[2] = candidate("p2", "2.0.0")
        planned.append(candidate("new", "1.0.0"))
        chosen = {c.name: c for c in planned}
        assert ledger.not_serving(list(chosen), chosen) == [2, size]

    @pytest.mark.parametrize("size", [4, 60])
    @pytest.mark.parametrize("copies", [False, True])
    def test_pool(self, pm: pluggy.PluginManager, size: int, copies: bool) -> None:
        offered = [candidate(f"p{i}", "2.0.0") for i in range(size)]
        serving = [candidate(f"p{i}", "2.0.0") for i in range(size)] if copies else offered[:]
        serving[0] = candidate("p0", "1.0.0")  # an active version no longer offered
        ledger = loaded(pm, *serving)
        assert ledger.pool(offered, allow_downgrade=False) == [*offered, serving[0]]
        assert ledger.pool(offered, allow_downgrade=True) == offered


class TestRegistry:
    def test_unchanged_plugin_keeps_its_record(self, pm: pluggy.PluginManager) -> None:
        """Each registry hands an unchanged plugin's record over again (the very object its
        encoder knows); a plugin pinned, or swapped, gets a new record saying so."""
        ledger = loaded(pm, HELLO1, POLITE)
        first = ledger.registry().active
        second = ledger.registry().active
        assert [a is b for a, b in zip(first, second, strict=True)] == [True, True]
        ledger.manual[N("hello")] = HELLO1
        ledger.pinned.add(N("hello"))
        pinned = ledger.registry().active
        assert (pinned[0].manual, pinned[0].pinned) == (True, True)
        assert pinned[1] is first[1]
        ledger.active[N("polite")] = active(pm, HELLO2, Path("/home/site/other"))
        swapped = ledger.registry().active
        assert swapped[1].candidate is HELLO2
        assert swapped[1].site_dir == "other"
        assert swapped[0] is pinned[0]
        assert swapped == tuple(ledger.record(ledger.active[n]) for n in ledger.order)

    def test_registry_lists_the_active_in_load_order(self, pm: pluggy.PluginManager) -> None:
        """The registry names the active plugins in load order, with backups and bookkeeping."""
        ledger = loaded(pm, POLITE, HELLO2)
        ledger.order = [N("hello"), N("polite")]
        ledger.push_backup(record(HELLO1), keep=3)
        ledger.backups[N("polite")] = ()
        ledger.state[N("hello")] = {"version": "1.1.0", "value": 3}
        ledger.removed.add(N("zeta"))
        ledger.rejected.add(HELLO3.key)
        reg = ledger.registry()
        assert [r.candidate for r in reg.active] == [HELLO2, POLITE]
        assert reg.history == {"hello": (record(HELLO1),)}
        assert reg.state == {"hello": {"version": "1.1.0", "value": 3}}
        assert (reg.removed, reg.rejected) == (("zeta",), (HELLO3.key,))

    def test_round_trip_through_the_registry(self, pm: pluggy.PluginManager) -> None:
        """A fresh ledger restored from a registry has its backups, removals, rejections, manual
        versions and pins (the active plugins load again afterwards)."""
        ledger = loaded(pm, HELLO2, POLITE)
        ledger.push_backup(record(HELLO1), keep=3)
        ledger.manual[N("hello")] = HELLO2
        ledger.pinned.add(N("hello"))
        ledger.manual[N("polite")] = POLITE
        ledger.removed.add(N("zeta"))
        ledger.rejected.add(HELLO3.key)
        reg = Registry.from_json(ledger.registry().to_json(), Path("registry.json"))
        fresh = Ledger()
        fresh.restored_from(reg)
        assert fresh.backups == {"hello": (record(HELLO1),)}
        assert fresh.manual == {"hello": HELLO2, "polite": POLITE}
        assert fresh.pinned == {"hello"}
        assert (fresh.removed, fresh.rejected) == ({"zeta"}, {HELLO3.key})
        assert not fresh.active
        assert not fresh.order
