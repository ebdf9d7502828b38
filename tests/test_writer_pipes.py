"""One site writer process and its pipes: real processes that greet, answer, hang or end."""

from __future__ import annotations

import logging
import sys
import time

import pytest

from pluginhost.install.writer_messages import PROTOCOL, ReadFailed, ReadMsg
from pluginhost.install.writer_pipes import LostError, WriterPipes
from pluginhost.model.interpreter import fresh_interpreter

# Greets with the protocol given as argv[1], then answers every frame with a ReadFailed that
# names the frame's length, or does nothing with it when argv[2] says "mute"; when it says
# "log", each answer comes after two warnings, one of them under a logger not this package's.
_PEER = """
import os, sys
import msgspec
from pluginhost.install import writer_messages as m
from pluginhost.state.frames import read_frame, write_frame
encoder = msgspec.msgpack.Encoder()
write_frame(1, encoder.encode(m.WriterReady(int(sys.argv[1]), os.getpid())))
while (payload := read_frame(0)) is not None:
    if sys.argv[2] == "log":
        write_frame(1, encoder.encode(m.LogMsg("pluginhost.discover.metadata", 30, "told")))
        write_frame(1, encoder.encode(m.LogMsg("elsewhere", 10, "told too")))
    if sys.argv[2] != "mute":
        write_frame(1, encoder.encode(m.ReadFailed(str(len(payload)), "p")))
"""


def greeted(pipes: WriterPipes) -> WriterPipes:
    """``pipes`` once its writer greeted."""
    deadline = time.monotonic() + 30
    while not pipes.check_ready():
        assert time.monotonic() < deadline, "no greeting"
        time.sleep(0.01)
    return pipes


def peer(protocol: int, how: str = "answer") -> WriterPipes:
    return greeted(WriterPipes([sys.executable, "-I", "-c", _PEER, str(protocol), how]))


def job() -> ReadMsg:
    return ReadMsg("/nowhere.whl", [0] * 10, [], None)


def test_answers_come_in_the_order_of_the_jobs() -> None:
    pipes = peer(PROTOCOL)
    try:
        pipes.send(job(), waiting=False)
        pipes.send(ReadMsg("/a/longer/path.whl", [0] * 10, [], None), waiting=True)
        first, second = pipes.answer(10), pipes.answer(10)
        assert isinstance(first, ReadFailed)
        assert isinstance(second, ReadFailed)
        assert int(first.reason) < int(second.reason)
    finally:
        pipes.close()


def test_another_protocol_is_refused() -> None:
    pipes = WriterPipes([sys.executable, "-I", "-c", _PEER, str(PROTOCOL + 1), "answer"])
    try:
        with pytest.raises(LostError, match="greeted with"):
            greeted(pipes)
    finally:
        pipes.close(kill=True)


def test_a_mute_writer_passes_its_deadline() -> None:
    pipes = peer(PROTOCOL, "mute")
    try:
        pipes.send(job(), waiting=True)
        started = time.monotonic()
        with pytest.raises(LostError):
            pipes.answer(0.3)
        assert 0.25 < time.monotonic() - started < 10
    finally:
        pipes.close(kill=True)


def test_an_ended_writer_is_lost() -> None:
    pipes = WriterPipes(fresh_interpreter("this_module_does_not_exist_here"))
    try:
        with pytest.raises(LostError, match="ended"):
            greeted(pipes)
    finally:
        pipes.close(kill=True)


def test_warnings_come_before_the_answer_and_are_logged_here(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The writer's warnings are logged with this process's handlers as the answer is read,
    under this package's loggers, at warning level at least."""
    pipes = peer(PROTOCOL, "log")
    try:
        pipes.send(job(), waiting=True)
        with caplog.at_level(logging.DEBUG, logger="pluginhost"):
            answer = pipes.answer(10)
        assert isinstance(answer, ReadFailed)
        told = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
        assert told == [
            ("pluginhost.discover.metadata", logging.WARNING, "told"),
            ("pluginhost", logging.WARNING, "told too"),
        ]
    finally:
        pipes.close()
