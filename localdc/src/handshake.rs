//! The unencrypted side of a connection: key-exchange runs (A-1..A-22).
//!
//! Each run is one [`ServerHandshake`], found again by the client's nonce,
//! which every handshake message carries right after its constructor id
//! . A connection keeps a few runs so a client may restart
//! without reconnecting; a failed run stays in the list so every later
//! message of it is refused too, and a finished one answers an identical
//! resend of its last message.

use std::sync::Arc;

use mtproto::auth::{self, PlainChannel, ServerHandshake, ServerStep};
use mtproto::crypto::RsaPrivateKey;
use mtproto::mtp::Role;
use mtproto::tl::service::functions;
use mtproto::tl::Identifiable;

use crate::state::Shared;

/// Runs kept per connection; the oldest is dropped beyond this.
const MAX_RUNS: usize = 4;

/// The key-exchange settings shared by all runs.
pub(crate) type HandshakeConfig = Arc<auth::ServerConfig>;

pub(crate) fn config(rsa_key: RsaPrivateKey, dc_id: i32) -> HandshakeConfig {
    Arc::new(auth::ServerConfig::new(vec![rsa_key], dc_id))
}

/// What to send for an unencrypted packet.
pub(crate) enum PlainAnswer {
    /// An unencrypted message.
    Reply(Vec<u8>),
    /// A transport error code (T-11): −404, or −444 for a wrong DC.
    Error(i32),
}

/// The key-exchange runs of one connection.
pub(crate) struct Handshakes {
    channel: PlainChannel,
    runs: Vec<([u8; 16], ServerHandshake)>,
}

impl Handshakes {
    pub fn new() -> Self {
        Handshakes {
            channel: PlainChannel::new(Role::Server),
            runs: Vec::new(),
        }
    }

    /// Handles one packet whose auth_key_id is zero. Everything that is
    /// not a well-formed key-exchange message is refused with −404 (A-1
    /// [S], A-10); a new key is registered with `shared`.
    pub fn handle(&mut self, packet: &[u8], shared: &Shared) -> PlainAnswer {
        let not_found = PlainAnswer::Error(auth::TRANSPORT_ERROR_NOT_FOUND);
        let Ok((_, body)) = self.channel.unpack(packet) else {
            return not_found;
        };
        let (Some(id), Some(nonce)) = (body.get(..4), body.get(4..20)) else {
            return not_found;
        };
        let id = u32::from_le_bytes([id[0], id[1], id[2], id[3]]);
        let mut n = [0u8; 16];
        n.copy_from_slice(nonce);
        let starts_run = matches!(
            id,
            functions::ReqPqMulti::CONSTRUCTOR_ID | functions::ReqPq::CONSTRUCTOR_ID
        );
        let pos = match self.runs.iter().position(|(k, _)| *k == n) {
            Some(pos) => pos,
            None if starts_run => {
                if self.runs.len() >= MAX_RUNS {
                    self.runs.remove(0);
                }
                let run = ServerHandshake::new(shared.config.handshake.clone());
                self.runs.push((n, run));
                self.runs.len() - 1
            }
            // no live run has this nonce.
            None => return not_found,
        };
        let now = shared.now();
        let run = &mut self.runs[pos].1;
        let step = run.handle(body, now, &mut rand::thread_rng(), |key_id| {
            shared.has_key(i64::from_le_bytes(*key_id))
        });
        match step {
            Ok(ServerStep::Reply(reply)) => PlainAnswer::Reply(self.channel.pack(&reply, now)),
            Ok(ServerStep::Done { reply, outcome }) => {
                let expires_at = outcome
                    .temp_expires_in
                    .map(|s| outcome.time.saturating_add(i64::from(s)));
                if !shared.add_key(outcome.auth_key, outcome.server_salt, expires_at) {
                    // Another run created the same key id after this one
                    // checked: vanishingly rare; the client restarts.
                    // The key id is derived from the key: never logged.
                    tracing::warn!("auth key id collision after dh_gen_ok");
                    return not_found;
                }
                tracing::debug!(temporary = expires_at.is_some(), "auth key created");
                // The finished run stays, so an identical resend of its
                // last message gets the identical answer.
                PlainAnswer::Reply(self.channel.pack(&reply, now))
            }
            Err(e) => {
                tracing::debug!(error = %e, "key exchange refused");
                PlainAnswer::Error(e.transport_code())
            }
        }
    }
}
