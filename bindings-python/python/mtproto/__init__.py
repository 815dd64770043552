"""mtproto: an MTProto 2.0 client, one Rust core used from Python.

Open a :class:`Session` to a data center, send TL-serialized requests as
bytes with ``await session.invoke(data)`` (asyncio) or
``session.invoke_sync(data)`` (blocking, GIL released), receive pushed
updates through a handler or ``async for``. Build and read TL values with
:class:`Schema` (``Schema.telegram()`` is Telegram's API, bundled). The
core's log goes to the ``mtproto`` logger of :mod:`logging`.
:data:`GAP_MARKER` (the bytes of ``updatesTooLong``) appears in the update
stream where pushed updates may have been lost (the server re-created the
session): an API client then fetches ``updates.getDifference``.
:mod:`mtproto.testing` starts a local data center for tests.
"""

from ._client import BytesLike, Runtime, Session, default_runtime
from ._errors import (
    AuthError,
    Cancelled,
    Closed,
    Error,
    InvalidInput,
    RpcError,
    StorageError,
    TimeoutError,
    TransportError,
)
from ._logging import TRACE, flush_log, sync_log_level
from ._native import DEFAULT_LAYER, GAP_MARKER, MAX_REQUEST_BYTES
from ._schema import Schema
from ._types import ClientInfo, State, StateEvent

__version__ = "0.1.0"

__all__ = [
    "Runtime",
    "Session",
    "default_runtime",
    "BytesLike",
    "Schema",
    "State",
    "StateEvent",
    "ClientInfo",
    "Error",
    "RpcError",
    "TransportError",
    "TimeoutError",
    "Cancelled",
    "Closed",
    "InvalidInput",
    "AuthError",
    "StorageError",
    "DEFAULT_LAYER",
    "GAP_MARKER",
    "MAX_REQUEST_BYTES",
    "TRACE",
    "flush_log",
    "sync_log_level",
]
