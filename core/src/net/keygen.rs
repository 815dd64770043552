//! Creating an auth key over a fresh connection: [`ClientHandshake`]
//! bodies in unencrypted messages ([`PlainChannel`]) over the transport.
//!
//! The heavy steps (pq factorization, RSA, 2048-bit modular
//! exponentiation) run on tokio's blocking pool so the network thread
//! keeps serving other sessions meanwhile.

use rand::rngs::OsRng;

use super::conn::{Conn, ConnError};
use super::wall_now;
use crate::auth::{
    AuthError, AuthOutcome, ClientConfig, ClientHandshake, ClientStep, PlainChannel,
};
use crate::client::Error;
use crate::crypto::RsaPublicKey;
use crate::mtp::Role;
use crate::transport::{Incoming, TransportErrorCode};

/// Why a key exchange did not produce a key.
#[derive(Debug)]
pub(crate) enum KeygenError {
    /// Try again on a new connection after the usual backoff.
    Retry(String),
    /// The server answered −429: back off longer.
    Flood,
    /// Retrying cannot help (wrong DC id, no trusted server key).
    Terminal(Error),
}

impl From<ConnError> for KeygenError {
    fn from(e: ConnError) -> Self {
        KeygenError::Retry(e.to_string())
    }
}

fn from_transport_code(code: i32) -> KeygenError {
    match TransportErrorCode::from_code(code) {
        TransportErrorCode::Flood => KeygenError::Flood,
        TransportErrorCode::InvalidDc => KeygenError::Terminal(Error::Auth(
            "the server does not serve this DC id (transport error -444)".into(),
        )),
        other => KeygenError::Retry(format!("server sent {other} during the key exchange")),
    }
}

fn from_auth_error(e: AuthError) -> KeygenError {
    match e {
        AuthError::ServerTransportError(code) => from_transport_code(code),
        e @ AuthError::NoKnownFingerprint { .. } => {
            KeygenError::Terminal(Error::Auth(e.to_string()))
        }
        e => KeygenError::Retry(format!("key exchange failed: {e}")),
    }
}

/// Runs one key exchange on `conn` and hands the connection back with the
/// new key; the caller saves the key before using it.
pub(crate) async fn create_key(
    mut conn: Box<Conn>,
    rsa_keys: Vec<RsaPublicKey>,
    inner_dc: i32,
) -> Result<(Box<Conn>, AuthOutcome), KeygenError> {
    if rsa_keys.is_empty() {
        return Err(KeygenError::Terminal(Error::Auth(
            "an auth key must be created but no RSA public key was configured".into(),
        )));
    }
    let mut channel = PlainChannel::new(Role::Client);
    let (mut handshake, first) =
        ClientHandshake::start(ClientConfig::new(rsa_keys, inner_dc), &mut OsRng);
    conn.queue(&channel.pack(&first, wall_now()), false)
        .map_err(|e| KeygenError::Retry(e.to_string()))?;
    conn.flush().await?;
    loop {
        let packet = match conn.read_item().await? {
            Incoming::Packet(p) => p,
            Incoming::QuickAck(_) => continue,
            Incoming::Error(code) => return Err(from_transport_code(code.code())),
        };
        let body = channel.unpack(&packet).map_err(from_auth_error)?.1.to_vec();
        let (back, step) = tokio::task::spawn_blocking(move || {
            let step = handshake.handle(&body, wall_now(), &mut OsRng);
            (handshake, step)
        })
        .await
        .map_err(|e| KeygenError::Retry(format!("key exchange step failed: {e}")))?;
        handshake = back;
        match step.map_err(from_auth_error)? {
            ClientStep::Send(reply) => {
                conn.queue(&channel.pack(&reply, wall_now()), false)
                    .map_err(|e| KeygenError::Retry(e.to_string()))?;
                conn.flush().await?;
            }
            ClientStep::Done(outcome) => return Ok((conn, outcome)),
        }
    }
}
