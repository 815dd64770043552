//! `mtproto`: a sans-IO implementation of Telegram's MTProto 2.0.
//!
//! The protocol layers are state machines over bytes and an explicit `now`;
//! they never touch sockets, clocks or threads (see `ARCHITECTURE.md`).
//!
//! - [`tl`]: TL binary codec, schema parser, generated service types, dynamic codec.
//! - [`crypto`]: AES-IGE/CTR, SHA, MTProto key derivation, RSA, DH checks, pq factorization.
//! - [`transport`]: abridged / intermediate / padded / full framing, obfuscation, quick-ack.
//! - [`auth`]: the key exchange, client and server roles.
//! - [`mtp`]: encrypted message packing and unpacking with every receive check.
//! - [`runtime`]: the owned network thread and the callback dispatcher thread.
//! - [`client`]: the public API: sessions, requests as bytes, updates, state events.
//! - [`logging`]: the core's `tracing` events handed to a host language's logger.

#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod crypto;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod logging;
pub mod mtp;
pub(crate) mod net;
pub mod runtime;
pub mod storage;
pub mod tl;
pub mod transport;
