"""Requests against a real local data center: results, errors, timeouts,
cancellation, closing, threads and bad arguments."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

import mtproto
from mtproto.testing import (
    LocalDc,
    cancelled_count,
    counter,
    echo,
    error,
    parse_bool,
    parse_count,
    parse_payload,
    sleep,
)

from conftest import run, wait_until


def test_echo_blocking_and_async_return_the_payload(session: mtproto.Session) -> None:
    assert parse_payload(session.invoke_sync(echo(b"blocking"), timeout=10)) == b"blocking"

    async def main() -> bytes:
        return await session.invoke(echo(b"async"))

    assert parse_payload(run(main())) == b"async"


def test_invoke_accepts_bytearray_and_memoryview(session: mtproto.Session) -> None:
    request = echo(b"abc")
    assert parse_payload(session.invoke_sync(bytearray(request), timeout=10)) == b"abc"
    assert parse_payload(session.invoke_sync(memoryview(request), timeout=10)) == b"abc"


def test_10000_concurrent_invokes_each_get_their_own_result(session: mtproto.Session) -> None:
    n = 10_000

    async def main() -> list[bytes]:
        return await asyncio.gather(
            *(session.invoke(echo(i.to_bytes(4, "little") * 16)) for i in range(n))
        )

    results = run(main(), timeout=60)
    assert len(results) == n
    for i, result in enumerate(results):
        assert parse_payload(result) == i.to_bytes(4, "little") * 16


def test_rpc_error_carries_code_and_message(session: mtproto.Session) -> None:
    async def main() -> None:
        await session.invoke(error(420, "FLOOD_WAIT_3"))

    with pytest.raises(mtproto.RpcError) as info:
        run(main())
    assert info.value.code == 420
    assert info.value.message == "FLOOD_WAIT_3"
    assert isinstance(info.value, mtproto.Error)
    assert "FLOOD_WAIT_3" in str(info.value)

    with pytest.raises(mtproto.RpcError) as sync_info:
        session.invoke_sync(error(400, "PEER_ID_INVALID"), timeout=10)
    assert (sync_info.value.code, sync_info.value.message) == (400, "PEER_ID_INVALID")


def test_timeout_raises_mtproto_timeout_error_that_is_also_the_builtin(
    dc: LocalDc, session: mtproto.Session
) -> None:
    before = dc.cancelled_count

    async def main() -> None:
        await session.invoke(sleep(5_000), timeout=0.2)

    t = time.monotonic()
    with pytest.raises(mtproto.TimeoutError):
        run(main())
    assert time.monotonic() - t < 3
    with pytest.raises(TimeoutError):  # the builtin
        session.invoke_sync(sleep(5_000), timeout=0.2)
    # A timed-out request is dropped on the server too (rpc_drop_answer).
    assert wait_until(lambda: dc.cancelled_count >= before + 2), dc.cancelled_count
    # The session goes on.
    assert parse_payload(session.invoke_sync(echo(b"after"), timeout=10)) == b"after"


def test_cancelling_the_awaiting_task_sends_rpc_drop_answer(
    dc: LocalDc, session: mtproto.Session
) -> None:
    async def main() -> int:
        before = parse_count(await session.invoke(cancelled_count()))
        task = asyncio.ensure_future(session.invoke(sleep(10_000)))
        await asyncio.sleep(0.3)  # the request reached the server
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The server counts the rpc_drop_answer it received.
        for _ in range(500):
            now = parse_count(await session.invoke(cancelled_count()))
            if now > before:
                return now - before
            await asyncio.sleep(0.01)
        return 0

    assert run(main()) == 1


def test_cancelling_many_requests_drops_each_on_the_server(
    dc: LocalDc, session: mtproto.Session
) -> None:
    before = dc.cancelled_count

    async def main() -> None:
        tasks = [asyncio.ensure_future(session.invoke(sleep(10_000))) for _ in range(20)]
        await asyncio.sleep(0.3)
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)

    run(main())
    assert wait_until(lambda: dc.cancelled_count >= before + 20), dc.cancelled_count - before


def test_close_ends_pending_calls_with_closed(dc: LocalDc) -> None:
    session = dc.session()

    async def main() -> None:
        tasks = [asyncio.ensure_future(session.invoke(sleep(10_000))) for _ in range(5)]
        await asyncio.sleep(0.2)
        session.close()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, mtproto.Closed) for r in results), results
        with pytest.raises(mtproto.Closed):
            await session.invoke(echo(b"late"))

    run(main(), timeout=10)
    assert session.closed
    with pytest.raises(mtproto.Closed):
        session.invoke_sync(echo(b"late"), timeout=5)


def test_blocking_call_pending_in_a_thread_ends_with_closed(dc: LocalDc) -> None:
    session = dc.session()
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            session.invoke_sync(sleep(10_000), timeout=20)
        except BaseException as e:  # noqa: BLE001 - recorded for the assert
            outcome.append(e)

    t = threading.Thread(target=call)
    t.start()
    time.sleep(0.3)
    session.close()
    t.join(10)
    assert not t.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], mtproto.Closed), outcome


def test_closing_the_runtime_closes_its_sessions(dc: LocalDc) -> None:
    with mtproto.Runtime("rt-close") as runtime:
        session = runtime.open_session(dc.address, dc.dc_id, dc.public_key)

        async def main() -> None:
            task = asyncio.ensure_future(session.invoke(sleep(10_000)))
            await asyncio.sleep(0.2)
            runtime.close()
            with pytest.raises(mtproto.Closed):
                await task

        run(main(), timeout=10)
    assert runtime.closed
    with pytest.raises(mtproto.Closed):
        runtime.open_session(dc.address, dc.dc_id, dc.public_key)


def test_async_with_closes_the_session(dc: LocalDc) -> None:
    async def main() -> mtproto.Session:
        async with dc.session() as s:
            assert parse_payload(await s.invoke(echo(b"x"))) == b"x"
        return s

    assert run(main()).closed


def test_other_threads_run_while_invoke_sync_waits(session: mtproto.Session) -> None:
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        time.sleep(0.05)
        start = ticks
        assert parse_bool(session.invoke_sync(sleep(500), timeout=10)) is True
        during = ticks - start
    finally:
        stop.set()
        t.join(5)
    # With the GIL held for the whole call the spinning thread could not
    # count at all; released, it counts freely for half a second.
    assert during > 10_000, during


def test_requests_from_many_threads_at_once(session: mtproto.Session) -> None:
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(200):
                payload = f"{k}-{i}".encode()
                assert parse_payload(session.invoke_sync(echo(payload), timeout=10)) == payload
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def test_counter_requests_reach_the_server_once_each(dc: LocalDc, session: mtproto.Session) -> None:
    async def main() -> list[int]:
        return [parse_count(r) for r in await asyncio.gather(*(session.invoke(counter("py")) for _ in range(50)))]

    values = run(main())
    assert sorted(values) == list(range(1, 51))
    assert dc.counter("py") == 50


@pytest.mark.parametrize(
    "transport,obfuscated",
    [
        ("abridged", False),
        ("abridged", True),
        ("intermediate", False),
        ("intermediate", True),
        ("padded_intermediate", True),
        ("full", None),
    ],
)
def test_every_transport_works(dc: LocalDc, transport: str, obfuscated: bool | None) -> None:
    with dc.session(transport=transport, obfuscated=obfuscated) as s:
        assert parse_payload(s.invoke_sync(echo(transport.encode()), timeout=10)) == transport.encode()


def test_init_connection_with_api_id_and_client_info(dc: LocalDc) -> None:
    info = mtproto.ClientInfo(device_model="pytest", app_version="1.0", lang_code="de")
    with dc.session(api_id=12345, client_info=info) as s:
        assert parse_payload(s.invoke_sync(echo(b"init"), timeout=10)) == b"init"


def test_sqlite_store_keeps_the_key_across_sessions(dc: LocalDc, tmp_path: Path) -> None:
    db = tmp_path / "session.db"
    with dc.session(store=db) as s:
        assert parse_payload(s.invoke_sync(echo(b"one"), timeout=10)) == b"one"
    assert db.exists()
    keys = dc._native.auth_key_count()
    # No public key this time: only the stored key can make this work.
    with mtproto.Session(dc.address, dc.dc_id, "", store=str(db)) as s:
        assert parse_payload(s.invoke_sync(echo(b"two"), timeout=10)) == b"two"
    assert dc._native.auth_key_count() == keys


def test_a_store_that_cannot_be_opened_raises_storage_error(dc: LocalDc, tmp_path: Path) -> None:
    with pytest.raises(mtproto.StorageError):
        dc.session(store=tmp_path / "missing-dir" / "x.db")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"address": "no-port"},
        {"address": "127.0.0.1:0"},
        {"dc_id": 0},
        {"dc_id": 10_000},
        {"public_key": "-----BEGIN RSA PUBLIC KEY-----\nnot base64\n-----END RSA PUBLIC KEY-----\n"},
        {"public_key": ""},
        {"transport": "carrier-pigeon"},
        {"transport": "full", "obfuscated": True},
        {"connect_timeout": -1.0},
        {"request_timeout": 0.0},
        {"request_timeout": float("nan")},
        {"ping_interval": 0.1},
        {"reconnect": "sometimes"},
        {"layer": 0},
        {"max_buffered_updates": 0},
    ],
)
def test_bad_session_options_raise_invalid_input(dc: LocalDc, kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"address": dc.address, "dc_id": dc.dc_id, "public_key": dc.public_key}
    args.update(kwargs)
    with pytest.raises(mtproto.InvalidInput):
        mtproto.Session(**args)  # type: ignore[arg-type]


def test_bad_option_types_raise_type_error(dc: LocalDc) -> None:
    with pytest.raises(TypeError):
        mtproto.Session(dc.address, "2", dc.public_key)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        mtproto.Session(dc.address, dc.dc_id, dc.public_key, connect_timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        mtproto.Session(dc.address, 2**40, dc.public_key)


def test_bad_requests_raise_invalid_input_or_type_error(session: mtproto.Session) -> None:
    for bad in [b"", b"abc", b"abcde", bytes(mtproto.MAX_REQUEST_BYTES + 4)]:
        with pytest.raises(mtproto.InvalidInput):
            session.invoke_sync(bad, timeout=5)

        async def main(data: bytes = bad) -> None:
            await session.invoke(data)

        with pytest.raises(mtproto.InvalidInput):
            run(main())
    for wrong in ["text", 42, None, [1, 2, 3, 4]]:
        with pytest.raises(TypeError):
            session.invoke_sync(wrong, timeout=5)  # type: ignore[arg-type]
    for timeout in [-1.0, 0.0, float("inf"), float("nan")]:
        with pytest.raises(mtproto.InvalidInput):
            session.invoke_sync(echo(b"x"), timeout=timeout)
    # The session is unharmed.
    assert parse_payload(session.invoke_sync(echo(b"ok"), timeout=10)) == b"ok"


def test_unknown_method_is_an_rpc_error(session: mtproto.Session) -> None:
    with pytest.raises(mtproto.RpcError):
        session.invoke_sync((0x12345678).to_bytes(4, "little"), timeout=10)


def test_invoke_outside_a_running_loop_is_a_runtime_error(session: mtproto.Session) -> None:
    coro = session.invoke(echo(b"x"))
    with pytest.raises(RuntimeError):
        coro.send(None)
    coro.close()


def test_sessions_on_two_event_loops_in_turn(session: mtproto.Session) -> None:
    for i in range(3):

        async def main() -> bytes:
            return await session.invoke(echo(bytes([i]) * 4))

        assert parse_payload(run(main())) == bytes([i]) * 4


def test_sessions_on_event_loops_in_two_threads(session: mtproto.Session) -> None:
    results: dict[int, bool] = {}

    def worker(k: int) -> None:
        async def main() -> bool:
            rs = await asyncio.gather(*(session.invoke(echo(bytes([k]) * 8)) for _ in range(500)))
            return all(parse_payload(r) == bytes([k]) * 8 for r in rs)

        results[k] = run(main())

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {0: True, 1: True}


def test_closed_event_loop_does_not_break_the_session(session: mtproto.Session) -> None:
    loop = asyncio.new_event_loop()

    async def start() -> None:
        # Left pending when the loop closes below.
        asyncio.ensure_future(session.invoke(sleep(300)))
        await asyncio.sleep(0)

    loop.run_until_complete(start())
    loop.close()
    time.sleep(0.5)  # the answer arrives for a loop that is gone
    assert parse_payload(session.invoke_sync(echo(b"still"), timeout=10)) == b"still"


def test_default_runtime_is_shared_and_replaced_after_close() -> None:
    a = mtproto.default_runtime()
    assert mtproto.default_runtime() is a
    assert not a.closed


def test_defaults_are_the_cores() -> None:
    """The keyword defaults of Session (and of the extension's open) are the
    core's, which live in one place (mtproto::client::defaults)."""
    import inspect

    from mtproto import _native

    params = inspect.signature(mtproto.Session.__init__).parameters
    for name, value in _native.DEFAULTS.items():
        assert params[name].default == value, name
