//! Abridged envelope (T-3, T-4): the length in 4-byte words fits one byte
//! for small packets, so this framing has the smallest overhead.

use super::error::TransportError;
use super::framing::{Header, Role};

/// Sent once by a plain client before its first packet.
pub(crate) const INIT: u8 = 0xEF;
/// First header byte of the long (4-byte) length form.
const LONG_FORM: u8 = 0x7F;
/// Top bit of the first header byte: quick-ack request (client) or the
/// first byte of a quick-ack reply (server).
const QUICK_ACK: u8 = 0x80;
/// The long form has a 24-bit word count.
pub(crate) const MAX_PAYLOAD: usize = 0x00FF_FFFF * 4;

/// Appends one frame. Abridged lengths count 4-byte words, so the payload
/// must be a non-empty multiple of 4.
pub(crate) fn encode(
    payload: &[u8],
    quick_ack: bool,
    out: &mut Vec<u8>,
) -> Result<(), TransportError> {
    let len = payload.len();
    super::framing::check_payload_len(
        len,
        MAX_PAYLOAD,
        "abridged payloads are a non-zero multiple of 4 bytes",
    )?;
    let words = (len / 4) as u32;
    let flag = if quick_ack { QUICK_ACK } else { 0 };
    out.reserve(4 + len);
    if words < u32::from(LONG_FORM) {
        out.push(words as u8 | flag);
    } else {
        out.push(LONG_FORM | flag);
        out.extend_from_slice(&words.to_le_bytes()[..3]);
    }
    out.extend_from_slice(payload);
    Ok(())
}

/// Appends a server's quick-ack reply: the token as 4 big-endian bytes with
/// no length prefix, so its first byte has the top bit set (T-4).
pub(crate) fn encode_quick_ack(token: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&(token | 0x8000_0000).to_be_bytes());
}

/// Interprets the header bytes gathered so far (`head` is never empty).
pub(crate) fn parse_header(head: &[u8], role: Role, max: usize) -> Result<Header, TransportError> {
    let first = head[0];
    if role == Role::Client && first & QUICK_ACK != 0 {
        // A server length byte is at most 0x7F, so the top bit can only
        // start a 4-byte quick-ack reply.
        return Ok(match head.get(..4) {
            Some(b) => Header::QuickAck(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            None => Header::Need(4),
        });
    }
    let quick_ack = first & QUICK_ACK != 0;
    let short = first & !QUICK_ACK;
    let words = if short == LONG_FORM {
        match head.get(1..4) {
            Some(b) => u32::from_le_bytes([b[0], b[1], b[2], 0]),
            None => return Ok(Header::Need(4)),
        }
    } else {
        u32::from(short)
    };
    let len = words as usize * 4;
    if len == 0 {
        return Err(TransportError::InvalidLength {
            len,
            reason: "empty abridged frame",
        });
    }
    if len > max {
        return Err(TransportError::FrameTooLarge { len, max });
    }
    Ok(Header::Body { len, quick_ack })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8], quick_ack: bool) -> Vec<u8> {
        let mut out = Vec::new();
        encode(payload, quick_ack, &mut out).unwrap();
        out
    }

    /// T-3, TV §7.2: a 652-byte payload takes the long form `7F A3 00 00`,
    /// and the decoder reads it back.
    #[test]
    fn t3_long_form_prefix_652() {
        let f = frame(&[0x11; 652], false);
        assert_eq!(&f[..4], &[0x7F, 0xA3, 0x00, 0x00]);
        assert_eq!(f.len(), 656);
        for role in [Role::Client, Role::Server] {
            assert_eq!(parse_header(&f[..1], role, 1 << 20), Ok(Header::Need(4)));
            assert_eq!(
                parse_header(&f[..4], role, 1 << 20),
                Ok(Header::Body {
                    len: 652,
                    quick_ack: false
                })
            );
        }
    }

    /// T-3: the one-byte form stops at 126 words; 127 words take the long form.
    #[test]
    fn t3_short_long_boundary() {
        assert_eq!(frame(&[0; 504], false)[0], 0x7E);
        assert_eq!(&frame(&[0; 508], false)[..4], &[0x7F, 0x7F, 0, 0]);
    }

    /// T-4, Q-6, TV §7.2: quick-ack request byte for 40 bytes is `8A`; long
    /// form starts with `FF`; a server decoder sees the flag.
    #[test]
    fn t4_quick_ack_request_forms() {
        let f = frame(&[0; 40], true);
        assert_eq!(f[0], 0x8A);
        assert_eq!(
            parse_header(&f, Role::Server, 1 << 20),
            Ok(Header::Body {
                len: 40,
                quick_ack: true
            })
        );
        let f = frame(&[0; 508], true);
        assert_eq!(&f[..4], &[0xFF, 0x7F, 0x00, 0x00]);
        assert_eq!(
            parse_header(&f[..4], Role::Server, 1 << 20),
            Ok(Header::Body {
                len: 508,
                quick_ack: true
            })
        );
    }

    /// T-4, TV §7.3: the reply is the token big-endian, and a client reads it
    /// as a quick ack rather than a length.
    #[test]
    fn t4_quick_ack_reply_is_big_endian() {
        let mut out = Vec::new();
        encode_quick_ack(0xC562C9D8, &mut out);
        assert_eq!(out, hex::decode("C562C9D8").unwrap());
        assert_eq!(
            parse_header(&out[..1], Role::Client, 64),
            Ok(Header::Need(4))
        );
        assert_eq!(
            parse_header(&out, Role::Client, 64),
            Ok(Header::QuickAck(0xC562C9D8))
        );
    }

    /// T-3, T-9: lengths the framing cannot carry are refused on both ends.
    #[test]
    fn t9_invalid_lengths() {
        let mut out = Vec::new();
        assert!(matches!(
            encode(&[0; 6], false, &mut out),
            Err(TransportError::InvalidLength { len: 6, .. })
        ));
        assert!(matches!(
            encode(&[], false, &mut out),
            Err(TransportError::InvalidLength { len: 0, .. })
        ));
        assert!(out.is_empty());
        assert!(parse_header(&[0], Role::Client, 64).is_err());
        assert!(parse_header(&[0x7F, 0, 0, 0], Role::Server, 64).is_err());
        assert_eq!(
            parse_header(&[0x7F, 0xFF, 0xFF, 0xFF], Role::Client, 1 << 24),
            Err(TransportError::FrameTooLarge {
                len: MAX_PAYLOAD,
                max: 1 << 24
            })
        );
    }
}
