"""Pushed updates and connection states: handlers (on the loop or the
dispatcher thread) and async iterators, each item exactly once, in order."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

import mtproto
from mtproto.testing import LocalDc, echo, parse_payload, parse_update, push_updates, update_data

from conftest import run, wait_until


def check_sequence(updates: list[bytes], count: int, size: int) -> None:
    parsed = [parse_update(u) for u in updates]
    assert [seq for seq, _ in parsed] == list(range(1, count + 1))
    for seq, data in parsed:
        assert data == update_data(seq, size)


def test_handler_set_from_async_code_runs_on_the_loop_once_per_update_in_order(
    session: mtproto.Session,
) -> None:
    count, size = 3000, 16

    async def main() -> tuple[list[bytes], set[int]]:
        got: list[bytes] = []
        threads: set[int] = set()
        done = asyncio.Event()

        def handler(update: bytes) -> None:
            threads.add(threading.get_ident())
            got.append(update)
            if len(got) == count:
                done.set()

        session.set_update_handler(handler)
        await session.invoke(push_updates(count, size))
        await asyncio.wait_for(done.wait(), 20)
        await asyncio.sleep(0.2)  # nothing more may come
        return got, threads

    got, threads = run(main())
    check_sequence(got, count, size)
    assert threads == {threading.get_ident()}  # asyncio.run runs the loop here


def test_handler_set_from_plain_code_runs_on_the_dispatcher_thread(dc: LocalDc) -> None:
    count, size = 2000, 8
    with mtproto.Runtime("pyt") as runtime, runtime.open_session(
        dc.address, dc.dc_id, dc.public_key
    ) as session:
        got: list[bytes] = []
        names: set[str] = set()

        def handler(update: bytes) -> None:
            # The OS name of the thread (Python calls foreign threads "Dummy-N").
            with open(f"/proc/self/task/{threading.get_native_id()}/comm") as f:
                names.add(f.read().strip())
            got.append(update)

        session.set_update_handler(handler)
        session.invoke_sync(push_updates(count, size), timeout=10)
        assert wait_until(lambda: len(got) >= count, 20), len(got)
        time.sleep(0.2)
        check_sequence(got, count, size)
        assert names == {"pyt-dispatch"}


def test_async_iterator_yields_each_update_once_in_order(session: mtproto.Session) -> None:
    count, size = 2000, 4

    async def main() -> list[bytes]:
        await session.invoke(push_updates(count, size))
        got: list[bytes] = []
        async for update in session.updates():
            got.append(update)
            if len(got) == count:
                break
        # Nothing beyond the pushed updates.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(session.updates().__anext__(), 0.3)
        return got

    check_sequence(run(main()), count, size)


def test_updates_that_arrive_before_any_consumer_are_kept_for_the_first(
    session: mtproto.Session,
) -> None:
    session.invoke_sync(push_updates(50, 4), timeout=10)
    time.sleep(0.3)  # all delivered to the buffer by now

    async def main() -> list[bytes]:
        got: list[bytes] = []
        done = asyncio.Event()

        def handler(u: bytes) -> None:
            got.append(u)
            if len(got) == 50:
                done.set()

        session.set_update_handler(handler)
        await asyncio.wait_for(done.wait(), 10)
        return got

    check_sequence(run(main()), 50, 4)


def test_an_abandoned_iterator_loses_nothing(session: mtproto.Session) -> None:
    async def main() -> list[bytes]:
        got: list[bytes] = []
        # A few waits that time out (their waiters are cancelled)...
        for _ in range(5):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(session.updates().__anext__(), 0.02)
        await session.invoke(push_updates(10, 2))
        # ...then two iterators in turn share the stream.
        first = session.updates()
        for _ in range(4):
            got.append(await asyncio.wait_for(first.__anext__(), 5))
        del first
        async for u in session.updates():
            got.append(u)
            if len(got) == 10:
                break
        return got

    check_sequence(run(main()), 10, 2)


def test_a_raising_handler_is_logged_and_the_session_keeps_working(
    session: mtproto.Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="mtproto")

    async def main() -> list[int]:
        seen: list[int] = []
        done = asyncio.Event()

        def handler(update: bytes) -> None:
            seq, _ = parse_update(update)
            seen.append(seq)
            if seq == 5:
                done.set()
            if seq % 2 == 0:
                raise ValueError(f"handler failed on {seq}")

        session.set_update_handler(handler)
        await session.invoke(push_updates(5, 1))
        await asyncio.wait_for(done.wait(), 10)
        assert parse_payload(await session.invoke(echo(b"alive"))) == b"alive"
        return seen

    assert run(main()) == [1, 2, 3, 4, 5]
    failures = [r for r in caplog.records if r.name == "mtproto" and r.exc_info]
    assert len(failures) == 2
    assert [str(r.exc_info[1]) for r in failures if r.exc_info] == [
        "handler failed on 2",
        "handler failed on 4",
    ]


def test_a_raising_handler_on_the_dispatcher_thread_is_logged_too(
    session: mtproto.Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="mtproto")
    seen: list[int] = []

    def handler(update: bytes) -> None:
        seen.append(parse_update(update)[0])
        raise RuntimeError("boom")

    session.set_update_handler(handler)
    session.invoke_sync(push_updates(3, 1), timeout=10)
    assert wait_until(lambda: len(seen) == 3)
    assert wait_until(lambda: len([r for r in caplog.records if r.name == "mtproto"]) == 3)
    assert parse_payload(session.invoke_sync(echo(b"alive"), timeout=10)) == b"alive"


def test_iterating_while_a_handler_is_set_is_invalid(session: mtproto.Session) -> None:
    async def main() -> None:
        session.set_update_handler(lambda u: None)
        with pytest.raises(mtproto.InvalidInput):
            await session.updates().__anext__()
        session.clear_update_handler()
        await session.invoke(push_updates(1, 1))
        update = await asyncio.wait_for(session.updates().__anext__(), 5)
        assert parse_update(update)[0] == 1

    run(main())


def test_iterators_end_when_the_session_closes(dc: LocalDc) -> None:
    session = dc.session()

    async def main() -> tuple[list[bytes], list[mtproto.StateEvent]]:
        await session.invoke(push_updates(3, 1))
        await asyncio.sleep(0.3)
        session.close()
        updates = [u async for u in session.updates()]
        states = [s async for s in session.states()]
        return updates, states

    updates, states = run(main(), timeout=10)
    check_sequence(updates, 3, 1)
    assert states[-1] == mtproto.StateEvent(mtproto.State.CLOSED)


def test_state_events_through_the_iterator(dc: LocalDc) -> None:
    async def main() -> list[mtproto.StateEvent]:
        events: list[mtproto.StateEvent] = []
        async with dc.session() as session:
            await session.invoke(echo(b"x"))
            async for event in session.states():
                events.append(event)
                if event.state is mtproto.State.CONNECTED:
                    break
        return events

    states = [e.state for e in run(main())]
    assert states[0] is mtproto.State.CONNECTING
    assert states[-1] is mtproto.State.CONNECTED
    assert states.count(mtproto.State.CONNECTED) == 1


def test_state_handler_sees_every_event_once_in_order(dc: LocalDc) -> None:
    events: list[mtproto.StateEvent] = []
    session = dc.session()
    session.set_state_handler(events.append)
    session.invoke_sync(echo(b"x"), timeout=10)
    session.close()
    assert wait_until(lambda: bool(events) and events[-1].state is mtproto.State.CLOSED)
    states = [e.state for e in events]
    assert states[0] is mtproto.State.CONNECTING
    assert mtproto.State.CONNECTED in states
    assert states.count(mtproto.State.CLOSED) == 1


def test_reconnect_is_reported_with_a_delay_and_requests_go_on(dc: LocalDc) -> None:
    from mtproto.testing import drop_connection

    async def main() -> list[mtproto.StateEvent]:
        events: list[mtproto.StateEvent] = []
        async with dc.session() as session:
            session.set_state_handler(events.append)
            await session.invoke(echo(b"x"))
            await session.invoke(drop_connection())
            assert parse_payload(await session.invoke(echo(b"again"))) == b"again"
        return events

    events = run(main())
    states = [e.state for e in events]
    assert states.count(mtproto.State.CONNECTED) >= 2
    waits = [e for e in events if e.state is mtproto.State.WAITING_TO_RECONNECT]
    assert all(e.delay is not None and e.delay >= 0 for e in waits)


def test_a_loop_handler_outliving_its_loop_still_gets_every_update(
    session: mtproto.Session,
) -> None:
    got: list[bytes] = []

    async def register() -> None:
        session.set_update_handler(got.append)
        await session.invoke(push_updates(3, 2))
        while len(got) < 3:
            await asyncio.sleep(0.01)

    run(register())  # the loop is closed afterwards
    session.invoke_sync(push_updates(4, 2), timeout=10)
    assert wait_until(lambda: len(got) == 7), len(got)
    seqs = [parse_update(u)[0] for u in got]
    assert seqs == [1, 2, 3, 1, 2, 3, 4]


def test_s17_forgotten_session_puts_the_gap_marker_in_both_forms(dc: LocalDc) -> None:
    """S-17: when the server re-creates the session, GAP_MARKER arrives in
    the update stream, after the updates before it, in the pull form and
    in the handler form."""
    from mtproto.testing import forget_session

    with dc.session() as s:
        seen: list[bytes] = []
        s.set_update_handler(seen.append)
        s.invoke_sync(push_updates(2, 4))
        s.invoke_sync(forget_session())
        s.invoke_sync(push_updates(1, 4))
        assert wait_until(lambda: len(seen) >= 4)
        assert seen[2] == mtproto.GAP_MARKER
        assert [parse_update(u)[0] for u in seen[:2] + seen[3:]] == [1, 2, 1]

    async def pull() -> list[bytes]:
        with dc.session() as s:
            await s.invoke(echo(b"start"))
            await s.invoke(forget_session())
            await s.invoke(push_updates(1, 4))
            got: list[bytes] = []
            async for u in s.updates():
                got.append(u)
                if len(got) == 2:
                    break
            return got

    got = run(pull())
    assert got[0] == mtproto.GAP_MARKER
    assert parse_update(got[1])[0] == 1


def test_m10_counter_slow_cuts_run_once(dc: LocalDc) -> None:
    """M-10, S-24: cuts after the query ran and after its answer left the
    server; each request completes once and ran once."""
    from mtproto.testing import CUT_AFTER_ANSWER, CUT_AFTER_RUN, counter_slow, parse_count

    with dc.session() as s:
        s.invoke_sync(echo(b"warm"))
        for i, cut in enumerate([CUT_AFTER_RUN, CUT_AFTER_ANSWER] * 2):
            key = f"py-cut-{cut}-{i}"
            assert parse_count(s.invoke_sync(counter_slow(key, 50 * (i % 2), cut))) == 1
            assert dc.counter(key) == 1
    with pytest.raises(mtproto.InvalidInput):
        counter_slow("x", 0, 7)
