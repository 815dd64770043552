//! The frame encoder: appends framed packets to a caller's buffer.

use rand::RngCore;

use super::error::{TransportError, TransportErrorCode};
use super::framing::{Framing, Role};
use super::padded::{MAX_ACK_EXTRA, MAX_PADDING};
use super::{abridged, full, intermediate, padded};

/// Frames outgoing payloads for one end of a connection. It writes no init
/// bytes; the codecs decide whether those are needed.
#[derive(Debug, Clone)]
pub struct FrameEncoder {
    framing: Framing,
    role: Role,
    /// Full transport: counter of the next outgoing frame (T-8).
    next_seq: u32,
}

impl FrameEncoder {
    pub fn new(framing: Framing, role: Role) -> Self {
        FrameEncoder {
            framing,
            role,
            next_seq: 0,
        }
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Appends one framed payload. `quick_ack` asks the server to
    /// acknowledge receipt (client only; T-4, T-5, T-6). Padding for the
    /// padded framing is drawn from `rng`. On error nothing is written.
    pub fn encode<R: RngCore + ?Sized>(
        &mut self,
        payload: &[u8],
        quick_ack: bool,
        rng: &mut R,
        out: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        if quick_ack {
            if self.role == Role::Server {
                return Err(TransportError::Unsupported(
                    "servers do not request quick acks",
                ));
            }
            if !self.framing.supports_quick_ack() {
                return Err(TransportError::Unsupported(
                    "the full transport has no quick ack",
                ));
            }
        }
        match self.framing {
            Framing::Abridged => abridged::encode(payload, quick_ack, out),
            Framing::Intermediate => intermediate::encode(payload, quick_ack, out),
            Framing::PaddedIntermediate => {
                let mut pad = [0u8; MAX_PADDING];
                let n = random_len(rng, MAX_PADDING);
                rng.fill_bytes(&mut pad[..n]);
                padded::encode(payload, &pad[..n], quick_ack, out)
            }
            Framing::Full => {
                full::encode(payload, self.next_seq, out)?;
                self.next_seq = self.next_seq.wrapping_add(1);
                Ok(())
            }
        }
    }

    /// Appends a quick-ack reply in this framing's form (server only; T-4,
    /// T-5, T-7). The top bit of `token` is set on the wire either way.
    pub fn encode_quick_ack<R: RngCore + ?Sized>(
        &mut self,
        token: u32,
        rng: &mut R,
        out: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        if self.role == Role::Client {
            return Err(TransportError::Unsupported(
                "clients do not send quick-ack replies",
            ));
        }
        match self.framing {
            Framing::Abridged => abridged::encode_quick_ack(token, out),
            Framing::Intermediate => intermediate::encode_quick_ack(token, out),
            Framing::PaddedIntermediate => {
                let mut extra = [0u8; MAX_ACK_EXTRA];
                let n = random_len(rng, MAX_ACK_EXTRA);
                rng.fill_bytes(&mut extra[..n]);
                padded::encode_quick_ack(token, &extra[..n], out);
            }
            Framing::Full => {
                return Err(TransportError::Unsupported(
                    "the full transport has no quick ack",
                ))
            }
        }
        Ok(())
    }

    /// Appends a transport error code, framed like any payload (T-11).
    pub fn encode_error<R: RngCore + ?Sized>(
        &mut self,
        code: TransportErrorCode,
        rng: &mut R,
        out: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        if code.code() >= 0 {
            return Err(TransportError::InvalidLength {
                len: 4,
                reason: "transport error codes are negative",
            });
        }
        self.encode(&code.to_payload(), false, rng, out)
    }
}

/// A length in `0..=max` from one random byte. The small bias for
/// `max + 1` not dividing 256 is irrelevant for padding, and one byte per
/// draw keeps test randomness easy to script.
fn random_len<R: RngCore + ?Sized>(rng: &mut R, max: usize) -> usize {
    let mut b = [0u8; 1];
    rng.fill_bytes(&mut b);
    usize::from(b[0]) % (max + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::test_util::ScriptRng;

    /// T-6, T-7: padding lengths stay within 0–15, reply extras within 0–8.
    #[test]
    fn t6_t7_random_lengths_bounded() {
        let mut rng = ScriptRng::new((0..=255).collect());
        let mut enc = FrameEncoder::new(Framing::PaddedIntermediate, Role::Server);
        for _ in 0..256 {
            let mut out = Vec::new();
            enc.encode(&[1; 32], false, &mut rng, &mut out).unwrap();
            assert!((36..=36 + 15).contains(&out.len()));
            out.clear();
            enc.encode_quick_ack(0x8000_0001, &mut rng, &mut out)
                .unwrap();
            assert!((12..=20).contains(&out.len()));
        }
    }

    /// T-4, T-8: quick acks are refused where the spec has none.
    #[test]
    fn t8_no_quick_ack_on_full() {
        let mut rng = ScriptRng::new(vec![0]);
        let mut out = Vec::new();
        let mut c = FrameEncoder::new(Framing::Full, Role::Client);
        assert!(c.encode(&[0; 4], true, &mut rng, &mut out).is_err());
        let mut s = FrameEncoder::new(Framing::Full, Role::Server);
        assert!(s.encode_quick_ack(0x8000_0000, &mut rng, &mut out).is_err());
        let mut s = FrameEncoder::new(Framing::Intermediate, Role::Server);
        assert!(s.encode(&[0; 4], true, &mut rng, &mut out).is_err());
        assert!(out.is_empty());
    }

    /// T-8: the sender's counter increases by one per frame.
    #[test]
    fn t8_seq_increments() {
        let mut rng = ScriptRng::new(vec![0]);
        let mut enc = FrameEncoder::new(Framing::Full, Role::Client);
        for expected in 0u32..3 {
            let mut out = Vec::new();
            enc.encode(&[0; 4], false, &mut rng, &mut out).unwrap();
            assert_eq!(&out[4..8], &expected.to_le_bytes());
        }
    }

    /// T-11, TV §7.2: error packets in abridged and intermediate framing.
    #[test]
    fn t11_error_packet_vectors() {
        let mut rng = ScriptRng::new(vec![0]);
        let cases = [
            (
                TransportErrorCode::AuthKeyNotFound,
                "016CFEFFFF",
                "040000006CFEFFFF",
            ),
            (TransportErrorCode::Flood, "0153FEFFFF", "0400000053FEFFFF"),
            (
                TransportErrorCode::InvalidDc,
                "0144FEFFFF",
                "0400000044FEFFFF",
            ),
        ];
        for (code, abridged_hex, intermediate_hex) in cases {
            let mut out = Vec::new();
            FrameEncoder::new(Framing::Abridged, Role::Server)
                .encode_error(code, &mut rng, &mut out)
                .unwrap();
            assert_eq!(out, hex::decode(abridged_hex).unwrap());
            out.clear();
            FrameEncoder::new(Framing::Intermediate, Role::Server)
                .encode_error(code, &mut rng, &mut out)
                .unwrap();
            assert_eq!(out, hex::decode(intermediate_hex).unwrap());
        }
        let mut out = Vec::new();
        assert!(FrameEncoder::new(Framing::Abridged, Role::Server)
            .encode_error(TransportErrorCode::Other(5), &mut rng, &mut out)
            .is_err());
    }
}
