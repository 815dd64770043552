//! The unencrypted envelope around handshake bodies.
//!
//! The handshake state machines speak TL bodies only, so they can be
//! driven over any framing and tested byte for byte. A driver puts each
//! body into an A-1 message with a [`PlainChannel`] of its role, which
//! picks msg_ids the way the peer expects (M-1..M-3) and checks what comes
//! back.

use std::time::Duration;

use super::AuthError;
use crate::mtp::{pack_plain, unpack_plain, MsgIdGenerator, MtpError, Role};

/// One side of an unencrypted handshake connection.
#[derive(Clone, Debug)]
pub struct PlainChannel {
    role: Role,
    ids: MsgIdGenerator,
}

impl PlainChannel {
    /// A channel for `role`: a client sends ids ≡ 0 mod 4, a server sends
    /// response ids ≡ 1 mod 4 (A-1, M-2).
    pub fn new(role: Role) -> Self {
        PlainChannel {
            role,
            ids: MsgIdGenerator::new(role),
        }
    }

    /// The role this channel sends as.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Applies a server time offset to later msg_ids (M-4), e.g. the
    /// handshake's own `time_offset` once server_DH_inner_data arrived.
    pub fn set_time_offset(&mut self, offset: i64) {
        self.ids.set_time_offset(offset);
    }

    /// Wraps `body` as an A-1 message with a fresh msg_id for `now` (local
    /// Unix time). Handshake messages are all answers on the server side,
    /// so the server uses the response residue.
    pub fn pack(&mut self, body: &[u8], now: Duration) -> Vec<u8> {
        let msg_id = self.ids.next(now, true);
        let mut out = Vec::with_capacity(20 + body.len());
        pack_plain(msg_id, body, &mut out);
        out
    }

    /// Unwraps a received A-1 message into `(msg_id, body)`.
    ///
    /// Rejects a non-zero auth_key_id, a length field that does not
    /// match, and a msg_id of the wrong parity for the sender (G-10, M-2:
    /// odd from a server, ≡ 0 mod 4 from a client). On the client, a
    /// 4-byte payload holding a negative number is the server's transport
    /// error (T-11), reported as [`AuthError::ServerTransportError`].
    pub fn unpack<'a>(&self, packet: &'a [u8]) -> Result<(i64, &'a [u8]), AuthError> {
        if self.role == Role::Client {
            if let Some(code) = transport_error_code(packet) {
                return Err(AuthError::ServerTransportError(code));
            }
        }
        let (msg_id, body) = unpack_plain(packet)?;
        let parity_ok = match self.role {
            Role::Client => msg_id & 1 == 1,
            Role::Server => msg_id & 3 == 0,
        };
        if !parity_ok {
            return Err(MtpError::BadMsgIdParity(msg_id).into());
        }
        Ok((msg_id, body))
    }
}

/// The code of a transport error payload: exactly one negative LE int32
/// (T-11). No handshake message is that short.
pub(crate) fn transport_error_code(payload: &[u8]) -> Option<i32> {
    let code = i32::from_le_bytes(<[u8; 4]>::try_from(payload).ok()?);
    (code < 0).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A-1, M-2: both roles' ids and the round trip through the other role.
    #[test]
    fn a1_round_trip_and_residues() {
        let now = Duration::new(1_735_910_891, 123_456_789);
        let mut client = PlainChannel::new(Role::Client);
        let mut server = PlainChannel::new(Role::Server);
        let msg = client.pack(b"abcd", now);
        assert_eq!(&msg[..8], &[0u8; 8]);
        let (id, body) = server.unpack(&msg).unwrap();
        assert_eq!((id & 3, body), (0, &b"abcd"[..]));
        assert_eq!(id >> 32, 1_735_910_891);

        let reply = server.pack(b"wxyz", now);
        let (id, body) = client.unpack(&reply).unwrap();
        assert_eq!((id & 3, body), (1, &b"wxyz"[..]));

        // Each role refuses its own messages back (parity, G-10).
        assert!(matches!(
            client.unpack(&client.clone().pack(b"1234", now)),
            Err(AuthError::Mtp(MtpError::BadMsgIdParity(_)))
        ));
        assert!(matches!(
            server.unpack(&server.clone().pack(b"1234", now)),
            Err(AuthError::Mtp(MtpError::BadMsgIdParity(_)))
        ));
    }

    /// non-zero auth_key_id, short packets and wrong lengths are errors.
    #[test]
    fn a1_rejects_bad_envelopes() {
        let now = Duration::from_secs(1_735_910_891);
        let client = PlainChannel::new(Role::Client);
        let mut server = PlainChannel::new(Role::Server);
        let mut msg = server.pack(b"abcd", now);
        msg[0] = 1;
        assert_eq!(client.unpack(&msg), Err(AuthError::Mtp(MtpError::NotPlain)));
        let msg = server.pack(b"abcd", now);
        assert!(client.unpack(&msg[..msg.len() - 1]).is_err());
        assert!(client.unpack(&msg[..10]).is_err());
        assert!(client.unpack(&[]).is_err());
    }

    /// T-11, A-10: a −404 payload is reported as such on the client; the
    /// server has no use for 4-byte payloads and calls them truncated.
    #[test]
    fn t11_transport_error_payload() {
        let client = PlainChannel::new(Role::Client);
        assert_eq!(
            client.unpack(&(-404i32).to_le_bytes()),
            Err(AuthError::ServerTransportError(-404))
        );
        assert_eq!(
            client.unpack(&(-444i32).to_le_bytes()),
            Err(AuthError::ServerTransportError(-444))
        );
        let server = PlainChannel::new(Role::Server);
        assert_eq!(
            server.unpack(&(-404i32).to_le_bytes()),
            Err(AuthError::Mtp(MtpError::Truncated(4)))
        );
    }
}
