//! The public Rust API that every binding wraps.
//!
//! A [`Runtime`](crate::runtime::Runtime) owns one network thread; each
//! [`ClientSession`] opened on it is one auth key on one DC over one
//! connection at a time. Requests are TL-serialized bytes in, TL bytes out:
//!
//! ```no_run
//! # async fn demo() -> Result<(), mtproto::client::Error> {
//! use mtproto::client::SessionConfig;
//! use mtproto::runtime::Runtime;
//!
//! let runtime = Runtime::new()?;
//! let pem = std::fs::read_to_string("server.pem").unwrap();
//! let session = runtime.open_session(SessionConfig::new("127.0.0.1:4430", 2, pem))?;
//! let ping = vec![0xec, 0x77, 0xbe, 0x7a, 1, 0, 0, 0, 0, 0, 0, 0];
//! let pong = session.invoke(ping).await?;
//! # let _ = pong; Ok(()) }
//! ```
//!
//! Threads: every method may be called from any thread. None of them runs
//! protocol code on the caller's thread; they send a command to the
//! runtime thread. Update, state and completion callbacks run on the
//! runtime's dispatcher thread, never on the network thread, so a slow
//! callback delays only later callbacks.

mod config;
mod session;

pub use config::{
    defaults, ClientInfo, ReconnectPolicy, SessionConfig, TransportKind, DEFAULT_LAYER,
    MAX_REQUEST_BYTES, MAX_SETTING,
};
pub use session::{ClientSession, Invoke, RequestId, RequestResult};

pub(crate) use config::{check_request, Address, Prepared};
pub(crate) use session::{Completion, SessionCmd, SessionShared};

#[cfg(test)]
pub(crate) use config::parse_address;

#[cfg(test)]
mod fake_server;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use crate::transport::Framing;

/// What the update stream carries when pushed updates may have been lost:
/// the body of `updatesTooLong#e317af7e`, the constructor Telegram itself
/// sends for "too many updates, fetch the difference". The session puts it
/// in the stream, in order with the updates around it, whenever the server
/// re-creates its session (new_session_created after the first, S-17) or
/// the client has to start a new one (bad_msg 17/32/33): anything pushed
/// to the old session is gone, so an API client calls
/// `updates.getDifference`, exactly as for the server's own
/// updatesTooLong. The first new_session_created of a session is not
/// marked: nothing was delivered before it, and a client that starts
/// fetches its state anyway.
pub const GAP_MARKER: [u8; 4] = 0xe317_af7eu32.to_le_bytes();

/// Every way a call can fail. Bindings mirror this enum one to one; the
/// variants and their meaning are stable. New variants may be added (the
/// multi-DC layer brings flood waits and migrations), so matches outside
/// this crate need a catch-all arm: the bindings map an unknown variant to
/// their generic error with its message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered `rpc_error` (R-1). The request is not retried.
    #[error("RPC error {code}: {message}")]
    Rpc { code: i32, message: String },
    /// The connection or the protocol below the request failed in a way
    /// the session did not recover from in time.
    #[error("transport error: {0}")]
    Transport(String),
    /// No answer within the request's timeout; the server was asked to
    /// drop the answer (S-20).
    #[error("request timed out")]
    Timeout,
    /// The caller cancelled the request; the server was asked to drop the
    /// answer (S-20).
    #[error("request cancelled")]
    Cancelled,
    /// The session or its runtime was closed before an answer came.
    #[error("session closed")]
    Closed,
    /// The caller passed something unusable (bad bytes, PEM, address, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The auth key could not be created, or the server no longer accepts
    /// it (−404, AUTH_KEY_DUPLICATED).
    #[error("authorization key error: {0}")]
    Auth(String),
    /// The session store failed.
    #[error("storage error: {0}")]
    Storage(String),
}

impl Error {
    pub(crate) fn from_request(e: crate::mtp::RequestError) -> Self {
        use crate::mtp::RequestError as R;
        match e {
            R::Rpc { code, message } => Error::Rpc { code, message },
            R::Cancelled => Error::Cancelled,
            R::TimedOut => Error::Timeout,
            R::TooManyResends => Error::Transport("the server kept rejecting the message".into()),
            R::BadAnswer(why) => Error::Transport(format!("the answer could not be read: {why}")),
            R::AnswerLost => Error::Transport(
                "the session was replaced before the answer came; the request may have run".into(),
            ),
            R::Closed => Error::Closed,
        }
    }
}

impl From<crate::storage::StorageError> for Error {
    fn from(e: crate::storage::StorageError) -> Self {
        Error::Storage(e.to_string())
    }
}

/// The life of a session's connection, reported to the state handler in
/// order, on the dispatcher thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateEvent {
    /// A TCP connection is being opened.
    Connecting,
    /// The connection is up and the auth key is ready: requests flow.
    Connected,
    /// The connection failed or dropped; the next attempt starts after
    /// `delay`. Requests stay queued (their timeouts still run).
    WaitingToReconnect { delay: Duration },
    /// A new auth key was created and saved to the store.
    KeyCreated,
    /// The server created a new session for us (S-17): updates sent in
    /// the meantime may be lost. After the first, the update stream
    /// carries [`GAP_MARKER`] at that point too.
    ServerSessionCreated,
    /// `AUTH_KEY_UNREGISTERED` (401): the key is not logged in. The
    /// session stays open (a login flow runs over it).
    AuthKeyUnregistered,
    /// `AUTH_KEY_DUPLICATED` (406): the key was used from two connections
    /// and is dead. It was deleted from the store; the session closes.
    AuthKeyDuplicated,
    /// Transport error −404 on encrypted traffic: the server does not know
    /// the key (T-11). It was deleted from the store; the session closes,
    /// or creates a new key when `recreate_lost_key` is set.
    AuthKeyLost,
    /// The session ended; every request has ended. Last event.
    Closed,
}
