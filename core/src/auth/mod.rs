//! The authorization-key exchange (PROTOCOL.md A-1..A-22, G-1..G-6), both
//! roles, as sans-IO state machines.
//!
//! - [`ClientHandshake`] creates a permanent or temporary key against a
//!   server whose RSA public key it trusts, checking every item the
//!   security guidelines list.
//! - [`ServerHandshake`] is one run on the server side (the local test DC):
//!   it answers req_pq_multi / req_pq, req_DH_params and
//!   set_client_DH_params, and refuses everything after a failure.
//! - [`PlainChannel`] puts the bodies into unencrypted messages.
//!
//! Both machines work on TL bodies and take the clock (`now`, local Unix
//! time) and a CSPRNG as arguments: no sockets, no clock reads, no hidden
//! randomness. A failed check is never skipped or logged-and-ignored; it
//! ends the run with an [`AuthError`] that names it.

mod client;
mod dc;
mod error;
mod plain;
mod sealed;
mod server;

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

pub use client::{
    p_q_inner_data, AuthOutcome, ClientConfig, ClientHandshake, ClientStep, DEFAULT_MAX_RETRIES,
};
pub use dc::{decode_dc_id, encode_dc_id, server_accepts_dc, DcId, TEST_DC_OFFSET};
pub use error::{AuthError, TRANSPORT_ERROR_INVALID_DC, TRANSPORT_ERROR_NOT_FOUND};
pub use plain::PlainChannel;
pub use sealed::initial_salt;
pub use server::{ServerAuthOutcome, ServerConfig, ServerHandshake, ServerStep};

use crate::tl::Deserialize;

/// The constructor id at the start of a body (0 when it is shorter than
/// four bytes), for error reports.
pub(crate) fn constructor_of(body: &[u8]) -> u32 {
    body.get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_le_bytes)
}

/// Decodes `body` as one of the constructors in `ids`. A body that starts
/// with any other constructor is an [`AuthError::UnexpectedMessage`] for
/// `state`; a body of the right kind that does not parse (or has trailing
/// bytes) is an [`AuthError::Tl`].
pub(crate) fn decode<T: Deserialize>(
    body: &[u8],
    state: &'static str,
    ids: &[u32],
) -> Result<T, AuthError> {
    let constructor = constructor_of(body);
    if !ids.contains(&constructor) {
        return Err(AuthError::UnexpectedMessage { state, constructor });
    }
    Ok(T::from_bytes(body)?)
}
