"""asyncio example: echo requests, pushed updates and connection states.

    python echo_async.py                                   # starts a LocalDc in this process
    python echo_async.py --address 127.0.0.1:4430 --public-key server.pem [--dc-id 2]

Against a running ``mtproto-localdc`` (which prints its address and writes
its public key with ``--public-key-out``), or with nothing: then it starts
the local data center shipped in the package (``mtproto.testing.LocalDc``).
The requests are from the local DC's test API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import Iterator, Optional, Tuple

import mtproto
from mtproto import testing


@contextlib.contextmanager
def server(args: argparse.Namespace) -> Iterator[Tuple[str, int, str]]:
    """Yields (address, dc_id, public key PEM): the given server, or a LocalDc."""
    if args.address:
        if not args.public_key:
            raise SystemExit("--public-key is required with --address")
        with open(args.public_key) as f:
            yield args.address, args.dc_id, f.read()
        return
    with testing.LocalDc(dc_id=args.dc_id) as dc:
        print(f"started a local data center at {dc.address}")
        yield dc.address, dc.dc_id, dc.public_key


async def main(address: str, dc_id: int, public_key: str, store: Optional[str]) -> None:
    async with mtproto.Session(address, dc_id, public_key, store=store) as session:
        # Connection states, on this event loop.
        session.set_state_handler(lambda e: print(f"  state: {e.state.value}"))

        t = time.perf_counter()
        reply = await session.invoke(testing.echo(b"hello from asyncio"))
        print(f"echo: {testing.parse_payload(reply)!r} ({(time.perf_counter() - t) * 1e3:.1f} ms, incl. connect)")

        # Many requests in flight at once on one session.
        t = time.perf_counter()
        replies = await asyncio.gather(*(session.invoke(testing.echo(bytes(64))) for _ in range(10_000)))
        rate = len(replies) / (time.perf_counter() - t)
        print(f"10,000 concurrent echoes: {rate:,.0f} requests/s")

        # RPC errors are exceptions with code and message.
        try:
            await session.invoke(testing.error(420, "FLOOD_WAIT_3"))
        except mtproto.RpcError as e:
            print(f"rpc error: code={e.code} message={e.message}")

        # Timeouts, and cancelling a task, drop the request on the server too.
        try:
            await session.invoke(testing.sleep(2_000), timeout=0.1)
        except mtproto.TimeoutError:
            print("timed out after 0.1 s, as asked")

        # Updates pushed by the server, in order, through an async iterator.
        await session.invoke(testing.push_updates(5, 8))
        received = 0
        async for update in session.updates():
            seq, data = testing.parse_update(update)
            print(f"update {seq}: {data.hex()}")
            received += 1
            if received == 5:
                break
    print("session closed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", help="host:port of the data center")
    parser.add_argument("--public-key", help="file with the server's RSA public key (PEM)")
    parser.add_argument("--dc-id", type=int, default=2)
    parser.add_argument("--store", help="SQLite file that keeps the auth key across runs")
    args = parser.parse_args()
    with server(args) as (address, dc_id, public_key):
        asyncio.run(main(address, dc_id, public_key, args.store))
