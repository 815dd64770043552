//! Intermediate envelope (T-5): a plain 4-byte LE length. Its top bit is
//! never part of a real length, which frees it for quick acks.

use super::error::TransportError;
use super::framing::{Header, Role};

/// Sent once by a plain client before its first packet.
pub(crate) const INIT: [u8; 4] = [0xEE; 4];
/// Quick-ack request bit in a client's length; marks a reply from a server.
pub(crate) const QUICK_ACK: u32 = 0x8000_0000;
/// The largest multiple of 4 below the quick-ack bit.
pub(crate) const MAX_PAYLOAD: usize = 0x7FFF_FFFC;

/// Appends one frame. MTProto payloads are whole 4-byte words; anything
/// else is refused so that the encoder never writes what the decoder rejects.
pub(crate) fn encode(
    payload: &[u8],
    quick_ack: bool,
    out: &mut Vec<u8>,
) -> Result<(), TransportError> {
    let len = payload.len();
    check_payload_len(len)?;
    let flag = if quick_ack { QUICK_ACK } else { 0 };
    out.reserve(4 + len);
    out.extend_from_slice(&(len as u32 | flag).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

fn check_payload_len(len: usize) -> Result<(), TransportError> {
    super::framing::check_payload_len(
        len,
        MAX_PAYLOAD,
        "intermediate payloads are a non-zero multiple of 4 bytes",
    )
}

/// Appends a server's quick-ack reply: a bare LE word with the top bit set,
/// which no length can be (T-5).
pub(crate) fn encode_quick_ack(token: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&(token | QUICK_ACK).to_le_bytes());
}

/// Splits a length word into (length, top bit).
pub(crate) fn split_word(head: &[u8]) -> Option<(u32, bool)> {
    let b = head.get(..4)?;
    let word = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    Some((word & !QUICK_ACK, word & QUICK_ACK != 0))
}

/// Interprets the header bytes gathered so far.
pub(crate) fn parse_header(head: &[u8], role: Role, max: usize) -> Result<Header, TransportError> {
    let Some((len, top)) = split_word(head) else {
        return Ok(Header::Need(4));
    };
    if top && role == Role::Client {
        return Ok(Header::QuickAck(len | QUICK_ACK));
    }
    let len = len as usize;
    super::framing::check_payload_len(
        len,
        max,
        "intermediate payloads are a non-zero multiple of 4 bytes",
    )?;
    Ok(Header::Body {
        len,
        quick_ack: top,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// T-5, TV §7.3: the reply is the token LE (`D8C962C5`) and a client
    /// reads it as a quick ack.
    #[test]
    fn t5_quick_ack_reply_is_little_endian() {
        let mut out = Vec::new();
        encode_quick_ack(0xC562C9D8, &mut out);
        assert_eq!(out, hex::decode("D8C962C5").unwrap());
        assert_eq!(
            parse_header(&out, Role::Client, 64),
            Ok(Header::QuickAck(0xC562C9D8))
        );
    }

    /// T-5: a client's request ORs the top bit into the length.
    #[test]
    fn t5_quick_ack_request() {
        let mut out = Vec::new();
        encode(&[0; 40], true, &mut out).unwrap();
        assert_eq!(&out[..4], &[0x28, 0, 0, 0x80]);
        assert_eq!(
            parse_header(&out, Role::Server, 64),
            Ok(Header::Body {
                len: 40,
                quick_ack: true
            })
        );
    }

    /// T-5, T-9: zero, unaligned and oversized lengths are refused.
    #[test]
    fn t9_invalid_lengths() {
        assert!(parse_header(&[0, 0, 0, 0], Role::Server, 64).is_err());
        assert!(parse_header(&[5, 0, 0, 0], Role::Client, 64).is_err());
        assert_eq!(
            parse_header(&[0x44, 0, 0, 0], Role::Client, 64),
            Err(TransportError::FrameTooLarge { len: 68, max: 64 })
        );
        let mut out = Vec::new();
        assert!(encode(&[0; 3], false, &mut out).is_err());
        assert!(out.is_empty());
    }
}
