"""Fixtures: one local data center per test module (a real MTProto server
on loopback, in this process), and sessions that are closed after each test."""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, Iterator, TypeVar

import pytest

import mtproto
from mtproto.testing import LocalDc

T = TypeVar("T")


@pytest.fixture(scope="module")
def dc() -> Iterator[LocalDc]:
    with LocalDc() as server:
        yield server


@pytest.fixture
def session(dc: LocalDc) -> Iterator[mtproto.Session]:
    with dc.session() as s:
        yield s


def run(coro: Awaitable[T], timeout: float = 30.0) -> T:
    """Runs a coroutine on a new event loop, failing after ``timeout``."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Polls ``predicate`` until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
