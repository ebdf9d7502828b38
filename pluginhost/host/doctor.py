"""What is wrong with a home, found by reading it (never by changing it): ``pluginhost doctor``
and :class:`Diagnosis`, on the home of a running host or of a stopped one.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from ..discover.home_check import home_faults
from ..install.site_record import site_fault
from ..model.errors import StoreError
from ..model.frozen import frozen
from ..state import quarantine
from ..state.audit import AUDIT_NAME, verify_audit
from ..state.disabled import DisabledList
from ..state.fs import describe
from ..state.regular import kind_of
from .homeview import HomeView, read_home
from .statusdoc import STATUS_FILE

__all__ = ["Diagnosis", "Finding", "diagnose"]

# Problem kinds of the status document, grouped as an operator thinks of them.
_PROBLEM_CHECKS: Final = {
    "missing": "unresolved",
    "unsatisfiable": "unresolved",
    "dependency_failed": "unresolved",
    "requirement_failed": "unresolved",
    "conflict": "conflicts",
    "cycle": "cycles",
    "refused": "refused",
    "wheel_invalid": "invalid",
    "manifest_invalid": "invalid",
    "load_failed": "load_failed",
    "folder_unavailable": "folders",
    "source_distribution": "invalid",
    "untrusted": "untrusted",
}
_LEAK_MARK: Final = "modules still referenced after unload"


@frozen
class Finding:
    """One result of a check.

    :param check: which check (``lock``, ``unresolved``, ``site_dirs``...).
    :param ok: ``False`` for a problem, ``True`` for information.
    :param message: one line for people.
    """

    check: str
    ok: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "ok": self.ok, "message": self.message}


@frozen
class Diagnosis:
    """Every finding of ``pluginhost doctor`` on one home, information first.

    >>> report = Diagnosis.read(host.home)       # doctest: +SKIP
    >>> report.ok, [f.message for f in report.problems]  # doctest: +SKIP
    (False, ['needy 0.1.0 requires translator ^2.0, which is not available'])

    :param home: the home checked.
    :param findings: what each check found.
    """

    home: Path
    findings: tuple[Finding, ...]

    @classmethod
    def read(cls, home: Path) -> Diagnosis:
        """Check ``home`` by reading it; safe while a host runs on it.

        :raises HostStateError: when ``home`` is not a pluginhost home.
        """
        view = read_home(Path(home), lock_errors=True)
        return cls(view.home, tuple(diagnose(view)))

    @property
    def problems(self) -> tuple[Finding, ...]:
        """The findings that are problems."""
        return tuple(f for f in self.findings if not f.ok)

    @property
    def ok(self) -> bool:
        """Whether no check found a problem."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "findings": [f.to_json() for f in self.findings]}


def diagnose(view: HomeView) -> list[Finding]:
    """Every check on ``view``, information first, then problems."""
    findings = [
        *_lock(view),
        *_documents(view),
        *_disabled(view.home),
        *_problems(view),
        *_leaks(view),
        *_site_dirs(view),
        *_staging(view),
        *_permissions(view.home),
        *_trust(view.home),
        *_audit(view.home),
        *_quarantine(view.home),
    ]
    return sorted(findings, key=lambda f: not f.ok)


def _lock(view: HomeView) -> Iterator[Finding]:
    if "lock" in view.errors:
        # No host can lock it, and whether one runs cannot be told: start() refuses it.
        yield Finding("lock", False, f"{view.home / 'lock'}: {view.errors['lock']}")
        return
    if view.holder is None:
        yield Finding("lock", True, f"no host is running on {view.home}")
        if view.status is not None:
            # What follows describes the home as the last host left it, not a live host.
            yield Finding(
                "lock",
                True,
                f"status.json was last written by pid {view.status.get('pid')} at "
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(view.status['updated']))}",
            )
        return
    yield Finding("lock", True, f"a host holds the home lock: pid {view.holder}")
    writer = (view.status or {}).get("pid")
    if view.status is not None and writer != view.holder:
        yield Finding(
            "lock",
            False,
            f"status.json was written by pid {writer}, not by the running host (pid "
            f"{view.holder}): that host does not write a status, reports may be stale",
        )


def _documents(view: HomeView) -> Iterator[Finding]:
    for name, reason in sorted(view.errors.items()):
        if name != "lock":  # told by _lock
            yield Finding("documents", False, f"{name} cannot be read: {reason}")
    for name, reason in sorted(view.recovered.items()):
        # Read from its backup: one good copy left until a host's start repairs it.
        yield Finding("documents", False, f"{reason}; the next start repairs {name} from it")
    if view.status is None and STATUS_FILE not in view.errors:
        yield Finding("documents", True, "no status.json yet: reports come from the registry")


def _disabled(home: Path) -> Iterator[Finding]:
    # What start() raises on, told here: a directory there was "no problems found".
    try:
        DisabledList(home).peek()
    except StoreError as exc:
        yield Finding("documents", False, f"{exc} (start() refuses it)")


def _problems(view: HomeView) -> Iterator[Finding]:
    for problem in (view.status or {}).get("problems", []):
        check = _PROBLEM_CHECKS.get(problem["kind"], problem["kind"])
        yield Finding(check, False, problem["message"])


def _leaks(view: HomeView) -> Iterator[Finding]:
    for event in (view.status or {}).get("events", []):
        error = event.get("error") or ""
        if _LEAK_MARK in error:
            yield Finding("leaked_modules", False, f"{event['plugin']}: {error}")


def _records(registry: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from registry.get("active", [])
    for records in registry.get("history", {}).values():
        yield from records


def _site_dirs(view: HomeView) -> Iterator[Finding]:
    if view.registry is None:
        return
    site_root = view.home / "site"
    referenced = {r["site_dir"] for r in _records(view.registry) if r.get("site_dir")}
    for name in sorted(referenced):
        # Only a direct child of site/: never follow a path a document could smuggle in.
        site = site_root / Path(name).name
        try:
            mode = os.lstat(site).st_mode
        except FileNotFoundError:
            yield Finding("site_dirs", False, f"site dir {name} is in the registry but missing")
            continue
        except OSError as exc:
            yield Finding("site_dirs", False, f"site dir {site} cannot be read: {describe(exc)}")
            continue
        if not stat.S_ISDIR(mode):
            # Not "missing": something was put in its place (never imported through).
            yield Finding(
                "site_dirs",
                False,
                f"site dir {site} is in the registry, but it is {kind_of(mode)}, not a directory "
                "(its plugin is not imported)",
            )
            continue
        fault = site_fault(site)
        if fault is not None:
            yield Finding(
                "site_dirs", False, f"{fault[0]} {fault[1]} (its site dir is not imported)"
            )
    try:
        on_disk = {p.name for p in site_root.iterdir() if p.is_dir()}
    except OSError:
        return
    for name in sorted(on_disk - referenced):
        yield Finding(
            "site_dirs", True, f"site dir {name} is not in the registry (pruned at next start)"
        )


def _staging(view: HomeView) -> Iterator[Finding]:
    try:
        leftovers = sorted(p.name for p in (view.home / "staging").iterdir())
    except OSError:
        return
    # A running host uses staging/ during installs; only a stopped host's leftovers are stale.
    if leftovers and view.holder is None:
        yield Finding(
            "staging",
            False,
            f"staging/ holds leftovers of an interrupted install: {', '.join(leftovers)} "
            "(removed at next start)",
        )


def _permissions(home: Path) -> Iterator[Finding]:
    uid = os.getuid()
    for path in (home, home / "site", home / "staging", home / "control"):
        if path.exists() and not os.access(path, os.W_OK | os.X_OK):
            yield Finding("permissions", False, f"{path} is not writable by this user (uid {uid})")
    for name in ("registry.json", STATUS_FILE):
        path = home / name
        if path.exists() and not os.access(path, os.R_OK):
            yield Finding("permissions", False, f"{path} is not readable by this user (uid {uid})")


def _trust(home: Path) -> Iterator[Finding]:
    # What start() would refuse under strict modes: whoever may write the home runs code.
    for fault in home_faults(home):
        yield Finding("trust", False, f"home refused by strict_modes: {fault.reason}")


def _audit(home: Path) -> Iterator[Finding]:
    path = home / AUDIT_NAME
    if not path.exists():
        return
    try:
        faults = verify_audit(path)
    except StoreError as exc:
        yield Finding("audit", False, str(exc))
        return
    for fault in faults:
        # A crash's torn line is damage the host recovered from, not tampering.
        yield Finding("audit", fault.crash, f"{path}: {fault}")
    if not any(not f.crash for f in faults):
        yield Finding("audit", True, f"{path}: intact")


def _quarantine(home: Path) -> Iterator[Finding]:
    for fault in quarantine.home_faults(home):
        yield Finding("quarantine", False, fault)
