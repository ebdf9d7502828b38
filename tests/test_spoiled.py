"""Releases refused for their bytes (discover/spoiled.py): remembered by name and sha256."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pluginhost.discover.index.pages import IndexFile
from pluginhost.discover.spoiled import SpoiledReleases
from pluginhost.model.problems import CANNOT_READ, READ_FAILED, WRITER_LOST, Problem, ProblemKind

NAME = "hello-1.1.0-py3-none-any.whl"


def _noted(tmp_path: Path, kind: ProblemKind = ProblemKind.WHEEL_INVALID) -> SpoiledReleases:
    wheel = tmp_path / NAME
    wheel.write_bytes(b"broken")
    refused = {os.path.abspath(wheel): Problem(kind, "hello", f"{wheel}: bad", path=str(wheel))}
    spoiled = SpoiledReleases()
    spoiled.note("hello", {NAME: wheel}, refused, lambda path: "aa")
    return spoiled


def _listed(sha256: str | None) -> tuple[IndexFile, ...]:
    return (IndexFile(NAME, f"http://127.0.0.1/{NAME}", sha256=sha256),)


def test_a_wheel_refused_for_its_bytes_is_remembered_with_its_problem(tmp_path: Path) -> None:
    spoiled = _noted(tmp_path)
    assert set(spoiled.names("hello")) == {NAME}
    (problem,) = spoiled.problems("hello")
    assert problem.kind is ProblemKind.WHEEL_INVALID
    assert problem.message.startswith(f"{tmp_path / NAME}: bad; its wheel is deleted")


def test_a_refusal_that_may_pass_later_is_not_remembered(tmp_path: Path) -> None:
    assert not _noted(tmp_path, ProblemKind.MISSING).names("hello")
    assert not _noted(tmp_path, ProblemKind.UNTRUSTED).names("hello")


@pytest.mark.parametrize("reason", [CANNOT_READ, WRITER_LOST, READ_FAILED])
def test_a_read_that_did_not_go_through_is_not_remembered(tmp_path: Path, reason: str) -> None:
    """An I/O error, a lost site writer or an error no check expected refuse a wheel as
    invalid too, and may pass at the next read: its wheel was deleted and never tried again."""
    wheel = tmp_path / NAME
    wheel.write_bytes(b"fine")
    message = f"{wheel}: plugin 'hello': {reason}: EIO"
    refused = {str(wheel): Problem(ProblemKind.WHEEL_INVALID, "hello", message, path=str(wheel))}
    spoiled = SpoiledReleases()
    spoiled.note("hello", {NAME: wheel}, refused, lambda path: "aa")
    assert not spoiled.names("hello")


def test_kept_while_the_index_lists_the_same_bytes(tmp_path: Path) -> None:
    spoiled = _noted(tmp_path)
    spoiled.retain("hello", _listed("aa"), changed=True)
    assert set(spoiled.names("hello")) == {NAME}


def test_forgotten_when_listed_with_other_bytes_or_gone(tmp_path: Path) -> None:
    spoiled = _noted(tmp_path)
    spoiled.retain("hello", _listed("bb"), changed=True)
    assert not spoiled.names("hello")
    gone = _noted(tmp_path)
    gone.retain("hello", (), changed=True)
    assert not gone.names("hello")
    assert not gone.problems("hello")


def test_without_a_sha256_forgotten_once_the_page_changes(tmp_path: Path) -> None:
    spoiled = _noted(tmp_path)
    spoiled.retain("hello", _listed(None), changed=False)
    assert set(spoiled.names("hello")) == {NAME}
    spoiled.retain("hello", _listed(None), changed=True)
    assert not spoiled.names("hello")


def test_a_file_gone_before_its_hash_is_not_remembered(tmp_path: Path) -> None:
    wheel = tmp_path / NAME
    refused = {str(wheel): Problem(ProblemKind.WHEEL_INVALID, "hello", "bad", path=str(wheel))}
    spoiled = SpoiledReleases()
    spoiled.note("hello", {NAME: wheel}, refused, lambda path: "")
    assert not spoiled.names("hello")
