"""Test helpers: a real MTProto data center on loopback, and its test API.

:class:`LocalDc` runs ``mtproto-localdc``, the project's server, inside
this process on a thread of its own. It does the full key exchange and
encryption, so code under test talks to it exactly as to a real DC. It
ships in the wheel (it is linked into the extension; its own code is about
80 KiB, the server state machines being part of the core) so that you can
test your own bot or library with no account, no network and no separate
binary::

    from mtproto.testing import LocalDc, echo, parse_payload

    with LocalDc() as dc, dc.session() as session:
        assert parse_payload(session.invoke_sync(echo(b"hi"))) == b"hi"

The functions below build the requests of its test API (``localdc/test.tl``,
also in :data:`TEST_TL`) and read their results. They exist only on a
LocalDc; a production DC answers them with an RPC error.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

from . import _native
from ._client import BytesLike, Closing, Session
from ._schema import Schema

__all__ = [
    "LocalDc",
    "TEST_TL",
    "load_test_schema",
    "echo",
    "big_payload",
    "error",
    "sleep",
    "push_updates",
    "counter",
    "drop_connection",
    "cancelled_count",
    "counter_slow",
    "forget_session",
    "CUT_NEVER",
    "CUT_AFTER_RUN",
    "CUT_AFTER_ANSWER",
    "parse_payload",
    "parse_update",
    "parse_count",
    "parse_bool",
    "update_data",
    "big_payload_data",
]

TEST_TL: str = _native.TEST_TL
"""The schema of the test API (``localdc/test.tl``)."""


def load_test_schema() -> Schema:
    """A :class:`Schema` of the test API."""
    return Schema(TEST_TL)


class LocalDc(Closing):
    """A local data center listening on ``127.0.0.1`` (a free port), until
    :meth:`close` or the end of its ``with`` block.

    Give a session :attr:`address`, :attr:`dc_id` and :attr:`public_key`, or
    use :meth:`session`. Starting the first one in a process generates an
    RSA key (well under a second).
    """

    def __init__(self, dc_id: int = 2) -> None:
        self._native = _native.LocalDc(dc_id)

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``."""
        return self._native.address

    @property
    def public_key(self) -> str:
        """The server's RSA public key (PKCS#1 PEM) for ``public_key=``."""
        return self._native.public_key

    @property
    def dc_id(self) -> int:
        return self._native.dc_id

    @property
    def cancelled_count(self) -> int:
        """How many ``rpc_drop_answer`` the server received, over all
        sessions: proof that cancelling a request reached the server."""
        return self._native.cancelled_count()

    @property
    def connection_count(self) -> int:
        """Connections currently open."""
        return self._native.connection_count()

    def counter(self, key: str) -> int:
        """The value of the server-wide counter that :func:`counter`
        requests increment (0 if never)."""
        return self._native.counter(key)

    def drop_connections_after(self, limit: Optional[int]) -> None:
        """Cut every connection once it has written ``limit`` bytes to its
        client (``None``: never), to test reconnects."""
        self._native.set_drop_after_bytes(limit)

    def session(self, **options: Any) -> Session:
        """Opens a :class:`mtproto.Session` to this DC; ``options`` as for
        :class:`mtproto.Session`."""
        return Session(self.address, self.dc_id, self.public_key, **options)

    def close(self) -> None:
        """Stops the server (connections are cut). Idempotent."""
        self._native.shutdown()

    @property
    def running(self) -> bool:
        return self._native.is_running()

    def __repr__(self) -> str:
        return f"<mtproto.testing.LocalDc {self.address} dc {self.dc_id}>"


def echo(payload: BytesLike) -> bytes:
    """``test.echo``: answered with ``test.payload`` holding ``payload``."""
    return _native.test_echo(payload)


def big_payload(size: int) -> bytes:
    """``test.bigPayload``: ``size`` bytes of compressible data (sent gzipped)."""
    return _native.test_big_payload(size)


def error(code: int, message: str) -> bytes:
    """``test.error``: answered with ``rpc_error`` (raises :class:`RpcError`)."""
    return _native.test_error(code, message)


def sleep(ms: int) -> bytes:
    """``test.sleep``: answered with ``boolTrue`` after ``ms`` milliseconds;
    cancelling the request stops it on the server."""
    return _native.test_sleep(ms)


def push_updates(count: int, size: int) -> bytes:
    """``test.pushUpdates``: answered with ``boolTrue``, then ``count``
    updates (``test.update`` seq 1..count with ``size`` bytes each) are
    pushed to the session."""
    return _native.test_push_updates(count, size)


def counter(key: str) -> bytes:
    """``test.counter``: increments the server-wide counter ``key`` and
    answers ``test.count`` with its new value."""
    return _native.test_counter(key)


def drop_connection() -> bytes:
    """``test.dropConnection``: answered, then the connection is closed."""
    return _native.test_drop_connection()


CUT_NEVER = 0
CUT_AFTER_RUN = 1
CUT_AFTER_ANSWER = 2


def counter_slow(key: str, ms: int = 0, cut: int = CUT_NEVER) -> bytes:
    """``test.counterSlow``: increments ``key`` on arrival, answers its
    value after ``ms`` milliseconds, and cuts the connection after the
    query ran (:data:`CUT_AFTER_RUN`) or after its answer left the server
    (:data:`CUT_AFTER_ANSWER`); the answer then comes on the next
    connection."""
    return _native.test_counter_slow(key, ms, cut)


def forget_session() -> bytes:
    """``test.forgetSession``: answered, then the server forgets the
    session; its next message gets new_session_created, and the update
    stream then carries :data:`mtproto.GAP_MARKER`."""
    return _native.test_forget_session()


def cancelled_count() -> bytes:
    """``test.cancelledCount``: ``test.count`` of rpc_drop_answer received."""
    return _native.test_cancelled_count()


def parse_payload(data: BytesLike) -> bytes:
    """The data of a ``test.payload`` (raises InvalidInput otherwise)."""
    return _native.test_parse_payload(data)


def parse_update(data: BytesLike) -> Tuple[int, bytes]:
    """``(seq, data)`` of a ``test.update``."""
    return _native.test_parse_update(data)


def parse_count(data: BytesLike) -> int:
    """The value of a ``test.count``."""
    return _native.test_parse_count(data)


def parse_bool(data: BytesLike) -> bool:
    """A boxed ``Bool``."""
    return _native.test_parse_bool(data)


def update_data(seq: int, size: int) -> bytes:
    """The data the server puts in update ``seq`` of ``push_updates``."""
    return _native.test_update_data(seq, size)


def big_payload_data(size: int) -> bytes:
    """The data of ``big_payload(size)``'s answer."""
    return _native.test_big_payload_data(size)
