"""Runtime and Session: the public client API."""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import weakref
from types import TracebackType
from typing import Any, AsyncIterator, Callable, Generic, Optional, Type, TypeVar, Union

from . import _native
from ._logging import sync_log_level
from ._types import ClientInfo, StateEvent

__all__ = ["Runtime", "Session", "default_runtime", "BytesLike"]

BytesLike = Union[bytes, bytearray, memoryview]
"""What requests accept: ``bytes``, ``bytearray`` or ``memoryview``."""

T = TypeVar("T")

_C = TypeVar("_C", bound="Closing")


class Closing:
    """``with`` and ``async with`` for objects that end with ``close()``:
    leaving the block closes them, whether or not it raised."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    async def __aenter__(self: _C) -> _C:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()


_live: "weakref.WeakSet[Runtime]" = weakref.WeakSet()
_default: Optional["Runtime"] = None
_default_lock = threading.Lock()


def default_runtime() -> "Runtime":
    """The runtime sessions use when none is given: created on first use,
    closed when the interpreter exits."""
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = Runtime()
        return _default


@atexit.register
def _close_all_runtimes() -> None:
    # Runtimes must stop while threads may still take the GIL: a callback
    # running on the dispatcher thread during interpreter shutdown could
    # never finish, and closing joins that thread.
    for runtime in list(_live):
        runtime.close()


class Runtime(Closing):
    """Owns the threads that run sessions: one network thread (every
    session's I/O and protocol work) and one dispatcher thread (callbacks).

    One per process is usual; :func:`default_runtime` is used when a
    :class:`Session` is opened without one. Closing a runtime closes its
    sessions. Usable as ``with`` / ``async with``.
    """

    def __init__(self, name: str = "mtproto") -> None:
        """``name`` prefixes the thread names (``mtproto-net``,
        ``mtproto-dispatch``)."""
        sync_log_level()
        self._native = _native.Runtime(name)
        _live.add(self)

    def open_session(
        self,
        address: str,
        dc_id: int,
        public_key: Union[str, bytes] = "",
        **options: Any,
    ) -> "Session":
        """Opens a session on this runtime; see :class:`Session` for the
        options."""
        return Session(address, dc_id, public_key, runtime=self, **options)

    def close(self) -> None:
        """Closes every session (pending requests raise :class:`Closed`) and
        stops the threads. Waits for a running callback to return (with the
        GIL released). Idempotent."""
        self._native.close()

    @property
    def closed(self) -> bool:
        return self._native.is_closed()

    def __repr__(self) -> str:
        return f"<mtproto.Runtime closed={self.closed}>"


class Session(Closing):
    """One session with a data center: one auth key, one connection at a
    time, reconnecting by itself.

    Requests are TL-serialized bytes; results are TL bytes (build and read
    them with :class:`mtproto.Schema`). Opening returns at once: connecting
    and creating the auth key happen on the runtime's thread, and requests
    sent meanwhile wait for the connection.

    Arguments:
        address: ``"host:port"``, ``"1.2.3.4:443"`` or ``"[::1]:443"``.
        dc_id: the DC number (1..9999).
        public_key: the server's RSA public key(s), PEM. May be empty when
            the store already holds an auth key for this DC.
        runtime: the :class:`Runtime` to run on; default
            :func:`default_runtime`.
        test_dc: a test DC (its key is stored apart from the production one).
        media: a media-only DC.
        transport: ``"padded_intermediate"`` (default), ``"intermediate"``,
            ``"abridged"`` or ``"full"``.
        obfuscated: obfuscate the connection; default True, except for
            ``"full"``, which cannot be obfuscated.
        connect_timeout: seconds allowed for one connection attempt.
        request_timeout: default timeout of a request, in seconds.
        reconnect: ``"desktop"`` (quick retries) or ``"mobile"`` (patient).
        store: path of a SQLite file keeping the auth key, salts and time
            offset across runs; ``None`` keeps them in memory.
        api_id: when given, the first request after each connect is wrapped
            in ``invokeWithLayer(layer, initConnection(api_id, ...))``.
        client_info: what ``initConnection`` says about the application.
        layer: the API layer announced with ``api_id``.
        ping_interval: seconds between keepalive pings; ``None`` disables
            them (and the detection of a silently dead link).
        recreate_lost_key: after the server forgot the key (-404), create a
            new one instead of closing.
        max_buffered_updates: updates kept while nobody consumes them; the
            oldest are dropped beyond this.

    Raises :class:`InvalidInput` for a bad option, :class:`StorageError`
    when the store cannot be opened, :class:`Closed` when the runtime is
    closed. Usable as ``with`` / ``async with``, which close it.
    """

    def __init__(
        self,
        address: str,
        dc_id: int,
        public_key: Union[str, bytes] = "",
        *,
        runtime: Optional[Runtime] = None,
        test_dc: bool = False,
        media: bool = False,
        transport: str = "padded_intermediate",
        obfuscated: Optional[bool] = None,
        connect_timeout: float = 10.0,
        request_timeout: float = 30.0,
        reconnect: str = "desktop",
        store: Union[str, "os.PathLike[str]", None] = None,
        api_id: Optional[int] = None,
        client_info: Optional[ClientInfo] = None,
        layer: int = _native.DEFAULT_LAYER,
        ping_interval: Optional[float] = 60.0,
        recreate_lost_key: bool = False,
        max_buffered_updates: int = 10_000,
    ) -> None:
        self._runtime = runtime if runtime is not None else default_runtime()
        if isinstance(public_key, bytes):
            public_key = public_key.decode("ascii")
        info = client_info if client_info is not None else ClientInfo()
        sync_log_level()
        self._native = self._runtime._native.open_session(
            address,
            dc_id,
            public_key,
            test_dc=test_dc,
            media=media,
            transport=transport,
            obfuscated=obfuscated,
            connect_timeout=connect_timeout,
            request_timeout=request_timeout,
            reconnect=reconnect,
            store=os.fspath(store) if store is not None else None,
            api_id=api_id,
            device_model=info.device_model,
            system_version=info.system_version,
            app_version=info.app_version,
            system_lang_code=info.system_lang_code,
            lang_pack=info.lang_pack,
            lang_code=info.lang_code,
            layer=layer,
            ping_interval=ping_interval,
            recreate_lost_key=recreate_lost_key,
            max_buffered_updates=max_buffered_updates,
        )
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._bridge: Optional[_native.LoopBridge] = None

    # -- requests ---------------------------------------------------------

    def _bridge_for(self, loop: asyncio.AbstractEventLoop) -> _native.LoopBridge:
        if self._loop is not loop or self._bridge is None:
            self._bridge = _native.LoopBridge(loop)
            self._loop = loop
        return self._bridge

    async def invoke(self, data: BytesLike, *, timeout: Optional[float] = None) -> bytes:
        """Sends a TL-serialized request and returns the TL-serialized result.

        Never blocks the event loop: the result comes back through the
        loop. ``timeout`` (seconds) defaults to the session's
        ``request_timeout``. Cancelling the awaiting task cancels the
        request and asks the server to drop the answer.

        Raises :class:`RpcError`, :class:`TimeoutError`,
        :class:`TransportError`, :class:`Closed`, :class:`InvalidInput`
        (e.g. ``data`` not a whole number of 4-byte words), :class:`AuthError`.
        """
        loop = asyncio.get_running_loop()
        bridge = self._bridge if self._loop is loop else None
        if bridge is None:
            bridge = self._bridge_for(loop)
        fut: "asyncio.Future[bytes]" = loop.create_future()
        request_id = self._native.submit(data, timeout, fut, bridge)
        try:
            return await fut
        except asyncio.CancelledError:
            self._native.cancel(request_id)
            raise

    def invoke_sync(self, data: BytesLike, *, timeout: Optional[float] = None) -> bytes:
        """Sends a request and blocks until it ends, with the GIL released
        (other Python threads keep running). Ctrl-C interrupts the wait and
        cancels the request. Do not call it from a coroutine: it blocks the
        event loop. Raises like :meth:`invoke`."""
        return self._native.invoke_sync(data, timeout)

    # -- updates and states ---------------------------------------------

    def _running_bridge(self) -> Optional[_native.LoopBridge]:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        return self._bridge_for(loop)

    def set_update_handler(self, handler: Callable[[bytes], object]) -> None:
        """Calls ``handler(update)`` for each update the server pushes (TL
        bytes), exactly once each, in order.

        Set from a coroutine, the handler runs on that event loop (or, once
        that loop is closed, on the dispatcher thread); set from plain code,
        it runs on the runtime's dispatcher thread (which holds the GIL only
        while it calls, once per batch of updates). Updates
        that arrived earlier are delivered first. An exception raised by the
        handler is logged (logger ``mtproto``) and delivery goes on.
        Replaces the previous handler and ends update iterators.
        """
        self._native.set_update_callback(handler, self._running_bridge())

    def clear_update_handler(self) -> None:
        """Stops the handler; later updates wait for :meth:`updates` or the
        next handler."""
        self._native.set_update_callback(None)

    def updates(self) -> AsyncIterator[bytes]:
        """``async for update in session.updates()``: each update (TL bytes)
        once, in order. Ends when the session closes. Fails with
        :class:`InvalidInput` while an update handler is set."""
        return _Stream(self, self._native.take_update)

    def set_state_handler(self, handler: Callable[[StateEvent], object]) -> None:
        """Calls ``handler(event)`` for each connection state change (a
        :class:`StateEvent`), with the same threading rules as
        :meth:`set_update_handler`. Events that happened before are
        delivered first (``CONNECTING`` right after opening, for one)."""
        self._native.set_state_callback(handler, self._running_bridge())

    def clear_state_handler(self) -> None:
        self._native.set_state_callback(None)

    def states(self) -> AsyncIterator[StateEvent]:
        """``async for event in session.states()``: each state change once,
        in order; ends after :attr:`State.CLOSED`."""
        return _Stream(self, self._native.take_state)

    # -- life -------------------------------------------------------------

    @property
    def id(self) -> int:
        """A number identifying the session within its runtime."""
        return self._native.id

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    @property
    def closed(self) -> bool:
        return self._native.is_closed()

    def close(self) -> None:
        """Closes the session: pending requests raise :class:`Closed`, the
        connection is dropped, iterators end. Returns at once."""
        self._native.close()

    def __repr__(self) -> str:
        return f"<mtproto.Session id={self.id} closed={self.closed}>"


class _Stream(Generic[T]):
    """The async iterator of :meth:`Session.updates` / :meth:`Session.states`.

    Takes one item at a time from the session's buffer, so an iterator
    that is abandoned loses nothing: the next one continues."""

    def __init__(
        self,
        session: Session,
        take: Callable[["asyncio.Future[None]", _native.LoopBridge], Optional[T]],
    ) -> None:
        self._session = session
        self._take = take

    def __aiter__(self) -> "_Stream[T]":
        return self

    async def __anext__(self) -> T:
        session = self._session
        loop = asyncio.get_running_loop()
        bridge = session._bridge_for(loop)
        while True:
            fut: "asyncio.Future[None]" = loop.create_future()
            item = self._take(fut, bridge)  # raises StopAsyncIteration at the end
            if item is not None:
                return item
            try:
                await fut
            except asyncio.CancelledError:
                session._native.forget_waiter(fut)
                raise
