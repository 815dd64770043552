"""Ends of life: interpreter exit with work in flight, Ctrl-C during a
blocking call, runtimes dropped without close. None may hang or crash."""

from __future__ import annotations

import _thread
import asyncio
import gc
import subprocess
import sys
import threading
import time

import pytest

import mtproto
from mtproto.testing import LocalDc, echo, parse_payload, sleep

from conftest import run, wait_until

EXIT_SCRIPT = r"""
import asyncio, sys
import mtproto
from mtproto.testing import LocalDc, push_updates, sleep

dc = LocalDc()
session = dc.session()
got = []
session.set_update_handler(got.append)        # runs on the dispatcher thread
session.invoke_sync(push_updates(20000, 16), timeout=10)
# Leave requests pending and updates flowing, close nothing, and exit.
other = dc.session()
other.set_update_handler(lambda u: None)

async def leave_pending() -> None:
    asyncio.ensure_future(other.invoke(sleep(10_000)))
    await asyncio.sleep(0.05)

asyncio.run(leave_pending())
print("exiting with", len(got) > 0)
sys.stdout.flush()
"""


@pytest.mark.timeout(60)
def test_interpreter_exit_with_open_sessions_and_callbacks_running() -> None:
    out = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT], capture_output=True, text=True, timeout=50
    )
    assert out.returncode == 0, out.stderr
    assert "exiting with True" in out.stdout


def test_ctrl_c_interrupts_invoke_sync_and_cancels_the_request(
    dc: LocalDc, session: mtproto.Session
) -> None:
    before = dc.cancelled_count
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    t = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        session.invoke_sync(sleep(10_000), timeout=20)
    assert time.monotonic() - t < 5
    assert wait_until(lambda: dc.cancelled_count > before)
    assert parse_payload(session.invoke_sync(echo(b"after"), timeout=10)) == b"after"


def test_a_runtime_dropped_without_close_does_not_block(dc: LocalDc) -> None:
    seen: list[bytes] = []
    runtime = mtproto.Runtime("dropped")
    session = runtime.open_session(dc.address, dc.dc_id, dc.public_key)
    session.set_update_handler(seen.append)
    assert parse_payload(session.invoke_sync(echo(b"x"), timeout=10)) == b"x"
    t = time.monotonic()
    del runtime, session
    gc.collect()
    assert time.monotonic() - t < 2


def test_a_handler_may_close_its_own_session(dc: LocalDc) -> None:
    from mtproto.testing import push_updates

    session = dc.session()
    calls: list[int] = []

    def handler(update: bytes) -> None:
        calls.append(1)
        session.close()

    session.set_update_handler(handler)
    session.invoke_sync(push_updates(3, 1), timeout=10)
    assert wait_until(lambda: session.closed)
    assert calls


def test_an_unclosed_session_whose_handler_references_it_is_collected(dc: LocalDc) -> None:
    import weakref

    class Bot:
        def __init__(self, session: mtproto.Session) -> None:
            self.session = session
            session.set_update_handler(self.on_update)  # bot -> session -> Rust -> bot

        def on_update(self, update: bytes) -> None:
            pass

    bot = Bot(dc.session())
    assert parse_payload(bot.session.invoke_sync(echo(b"x"), timeout=10)) == b"x"
    ref = weakref.ref(bot)
    del bot
    gc.collect()
    assert ref() is None


def test_loop_wakeups_leave_no_descriptors_behind(dc: LocalDc) -> None:
    """Each session's bridge to a loop watches a socket (the network thread
    wakes the loop without the GIL); closing the sessions releases them."""
    import gc
    import os

    from mtproto.testing import echo

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def many() -> None:
        for _ in range(40):
            with dc.session() as s:
                await s.invoke(echo(b"fd"))
        await asyncio.sleep(0.1)  # the removals scheduled on the loop run

    run(many())  # warms up whatever the first loop allocates
    gc.collect()
    before = open_fds()
    run(many())
    gc.collect()
    assert open_fds() - before < 10
