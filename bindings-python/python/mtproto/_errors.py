"""The exceptions raised by mtproto.

Every failure of a call is an :class:`Error`, one class per variant of the
core's error enum. They are created by the extension, so their constructors
take the message (and, for :class:`RpcError`, the code) and nothing else.
"""

from __future__ import annotations

import builtins
from typing import Optional

__all__ = [
    "Error",
    "RpcError",
    "TransportError",
    "TimeoutError",
    "Cancelled",
    "Closed",
    "InvalidInput",
    "AuthError",
    "StorageError",
]


class Error(Exception):
    """Base class of every mtproto error."""


class RpcError(Error):
    """The server answered the request with ``rpc_error``.

    ``code`` is the error code (e.g. 400, 420) and ``message`` its text
    (e.g. ``"FLOOD_WAIT_3"``). The request is not retried.
    """

    code: int
    message: str

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"RPC error {self.code}: {self.message}"


class TransportError(Error):
    """The connection or the protocol below the request failed and the
    session did not recover from it in time."""


class TimeoutError(Error, builtins.TimeoutError):
    """No answer within the request's timeout; the server was asked to drop
    the answer. Also a builtin :class:`TimeoutError`, so ``except
    TimeoutError`` catches it."""


class Cancelled(Error):
    """The request was cancelled before it ended (the server was asked to
    drop the answer): the core's ``Cancelled`` outcome, kept so every error
    of the core has its class. The Python API does not raise it today: an
    ``asyncio`` task cancelled while awaiting ``invoke`` raises
    :class:`asyncio.CancelledError`, as asyncio requires."""


class Closed(Error):
    """The session or its runtime was closed before the request ended, or
    the call was made on a closed session."""


class InvalidInput(Error, ValueError):
    """An argument is unusable: malformed request bytes, a bad address or
    PEM, a value that does not fit the TL schema... ``path`` names the field
    of a TL value the problem sits in (``"messages.sendMessage.peer"``), when
    there is one."""

    path: Optional[str]

    def __init__(self, message: str, path: Optional[str] = None) -> None:
        super().__init__(message)
        self.path = path


class AuthError(Error):
    """The auth key could not be created, or the server no longer accepts
    it (it was lost, or used from two connections)."""


class StorageError(Error):
    """The session store (SQLite file) failed."""
