"""Blocking example: no asyncio, the GIL released while waiting, updates on
the runtime's dispatcher thread.

    python blocking.py                                     # starts a LocalDc in this process
    python blocking.py --address 127.0.0.1:4430 --public-key server.pem [--dc-id 2]
"""

from __future__ import annotations

import argparse
import threading
import time

import mtproto
from mtproto import testing


def run(address: str, dc_id: int, public_key: str) -> None:
    done = threading.Event()

    def on_update(update: bytes) -> None:
        # Runs on the runtime's dispatcher thread, once per update, in order.
        seq, _ = testing.parse_update(update)
        print(f"update {seq} (dispatcher thread: {threading.current_thread() is not threading.main_thread()})")
        if seq == 3:
            done.set()

    with mtproto.Runtime() as runtime, runtime.open_session(address, dc_id, public_key) as session:
        session.set_update_handler(on_update)

        reply = session.invoke_sync(testing.echo(b"hello, blocking"), timeout=10)
        print(f"echo: {testing.parse_payload(reply)!r}")

        # Other threads run while a call waits: the GIL is released.
        t = time.perf_counter()
        threads = [
            threading.Thread(target=session.invoke_sync, args=(testing.sleep(300),)) for _ in range(4)
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        print(f"4 threads x 300 ms server-side sleep took {time.perf_counter() - t:.2f} s in all")

        try:
            session.invoke_sync(testing.error(400, "PEER_ID_INVALID"), timeout=10)
        except mtproto.RpcError as e:
            print(f"rpc error: {e}")

        session.invoke_sync(testing.push_updates(3, 4), timeout=10)
        if not done.wait(10):
            raise SystemExit("updates did not arrive")
    print("runtime closed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", help="host:port of the data center")
    parser.add_argument("--public-key", help="file with the server's RSA public key (PEM)")
    parser.add_argument("--dc-id", type=int, default=2)
    args = parser.parse_args()
    if args.address:
        if not args.public_key:
            raise SystemExit("--public-key is required with --address")
        with open(args.public_key) as f:
            run(args.address, args.dc_id, f.read())
    else:
        with testing.LocalDc(dc_id=args.dc_id) as dc:
            print(f"started a local data center at {dc.address}")
            run(dc.address, dc.dc_id, dc.public_key)
