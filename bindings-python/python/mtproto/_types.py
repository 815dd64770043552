"""Value types of the public API: connection states and client info."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional

__all__ = ["State", "StateEvent", "ClientInfo"]


class State(str, enum.Enum):
    """The life of a session's connection, as reported in :class:`StateEvent`."""

    CONNECTING = "connecting"
    """A TCP connection is being opened."""
    CONNECTED = "connected"
    """The connection is up and the auth key is ready: requests flow."""
    WAITING_TO_RECONNECT = "waiting_to_reconnect"
    """The connection failed or dropped; the next attempt starts after
    ``StateEvent.delay`` seconds. Requests stay queued."""
    KEY_CREATED = "key_created"
    """A new auth key was created and saved to the store."""
    SERVER_SESSION_CREATED = "server_session_created"
    """The server created a new session: updates sent meanwhile may be lost
    (an API client calls updates.getDifference)."""
    AUTH_KEY_UNREGISTERED = "auth_key_unregistered"
    """The key is not logged in (401). The session stays open."""
    AUTH_KEY_DUPLICATED = "auth_key_duplicated"
    """The key was used from two connections and is dead; the session closes."""
    AUTH_KEY_LOST = "auth_key_lost"
    """The server does not know the key (-404); the session closes unless
    ``recreate_lost_key`` was set."""
    CLOSED = "closed"
    """The session ended; every request has ended. Always the last event."""


@dataclass(frozen=True)
class StateEvent:
    """One change of a session's connection state."""

    state: State
    delay: Optional[float] = None
    """Seconds until the next connection attempt, for
    :attr:`State.WAITING_TO_RECONNECT`; ``None`` otherwise."""


def _state_event(name: str, delay: Optional[float]) -> StateEvent:
    """Called by the extension to build events."""
    return StateEvent(State(name), delay)


@dataclass(frozen=True)
class ClientInfo:
    """What ``initConnection`` tells the server about the application (sent
    when ``api_id`` is given). ``None`` fields keep the defaults
    (``mtproto-rs``, the OS name, the package version, ``en``)."""

    device_model: Optional[str] = None
    system_version: Optional[str] = None
    app_version: Optional[str] = None
    system_lang_code: Optional[str] = None
    lang_pack: Optional[str] = None
    lang_code: Optional[str] = None
