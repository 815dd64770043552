//! Padded intermediate envelope (T-6, T-7): intermediate framing plus 0–15
//! random trailing bytes, so that packet sizes of an obfuscated stream do not
//! give the protocol away. The envelope does not say where the payload ends;
//! [`padded_payload_len`] recovers it from the MTProto message itself.

use super::error::TransportError;
use super::framing::{Header, Role};
use super::intermediate::{self, QUICK_ACK};

/// Sent once by a plain client before its first packet.
pub(crate) const INIT: [u8; 4] = [0xDD; 4];
/// Most padding bytes a sender adds (T-6).
pub const MAX_PADDING: usize = 15;
/// Most random bytes after the token in a quick-ack reply (T-7).
pub(crate) const MAX_ACK_EXTRA: usize = 8;
/// Room for the largest padding below the quick-ack bit.
pub(crate) const MAX_PAYLOAD: usize = 0x7FFF_FFFF - MAX_PADDING;
/// Marks the body of a quick-ack reply; no transport error is `-1` (T-7).
const ACK_MARKER: [u8; 4] = [0xFF; 4];

/// Smallest MTProto message: an unencrypted one with empty data (T-9).
const MIN_MESSAGE: usize = 20;
/// auth_key_id + msg_key in front of the 16-byte aligned encrypted data.
const ENCRYPTED_HEADER: usize = 24;

/// Appends one frame with the given padding (at most [`MAX_PADDING`] bytes).
pub(crate) fn encode(
    payload: &[u8],
    padding: &[u8],
    quick_ack: bool,
    out: &mut Vec<u8>,
) -> Result<(), TransportError> {
    let len = payload.len();
    super::framing::check_payload_len(
        len,
        MAX_PAYLOAD,
        "padded intermediate payloads are a non-zero multiple of 4 bytes",
    )?;
    if padding.len() > MAX_PADDING {
        return Err(TransportError::InvalidLength {
            len: padding.len(),
            reason: "padding is at most 15 bytes",
        });
    }
    let tlen = (len + padding.len()) as u32;
    let flag = if quick_ack { QUICK_ACK } else { 0 };
    out.reserve(4 + len + padding.len());
    out.extend_from_slice(&(tlen | flag).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(padding);
    Ok(())
}

/// Appends a server's quick-ack reply: `tlen + FFFFFFFF + token + extra`,
/// where `extra` is 0–8 random bytes (T-7).
pub(crate) fn encode_quick_ack(token: u32, extra: &[u8], out: &mut Vec<u8>) {
    let extra = &extra[..extra.len().min(MAX_ACK_EXTRA)];
    out.extend_from_slice(&(8 + extra.len() as u32).to_le_bytes());
    out.extend_from_slice(&ACK_MARKER);
    out.extend_from_slice(&(token | QUICK_ACK).to_le_bytes());
    out.extend_from_slice(extra);
}

/// Recognises the body of a T-7 quick-ack reply.
pub(crate) fn quick_ack_reply(body: &[u8]) -> Option<u32> {
    if !(8..=8 + MAX_ACK_EXTRA).contains(&body.len()) || body[..4] != ACK_MARKER {
        return None;
    }
    Some(u32::from_le_bytes([body[4], body[5], body[6], body[7]]))
}

/// Interprets the header bytes gathered so far. `max` bounds the payload;
/// the body may exceed it by the padding.
///
/// A client also accepts a bare intermediate-style quick ack (top bit set in
/// the length word): no valid `tlen` has that bit, and servers that reuse
/// their intermediate code send it that way.
pub(crate) fn parse_header(head: &[u8], role: Role, max: usize) -> Result<Header, TransportError> {
    let Some((len, top)) = intermediate::split_word(head) else {
        return Ok(Header::Need(4));
    };
    if top && role == Role::Client {
        return Ok(Header::QuickAck(len | QUICK_ACK));
    }
    let len = len as usize;
    if len < 4 {
        return Err(TransportError::InvalidLength {
            len,
            reason: "padded intermediate frame shorter than 4 bytes",
        });
    }
    let limit = max.saturating_add(MAX_PADDING);
    if len > limit {
        return Err(TransportError::FrameTooLarge { len, max: limit });
    }
    Ok(Header::Body {
        len,
        quick_ack: top,
    })
}

/// Length of the MTProto payload at the start of a padded body (T-6, Q-5).
///
/// - Shorter than 20 bytes: only a 4-byte transport error code fits, the
///   rest is padding (an error plus 15 bytes is 19).
/// - `auth_key_id == 0`: an unencrypted message, which ends at
///   `20 + message_data_length` (the LE u32 at offset 16).
/// - Otherwise an encrypted message of `24 + 16k` bytes, so the last
///   `(len - 24) mod 16` bytes are padding.
///
/// The result must leave at most 15 bytes of padding; anything else means
/// the inner length does not fit the envelope, and the stream is refused.
pub fn padded_payload_len(body: &[u8]) -> Result<usize, TransportError> {
    let len = body.len();
    let invalid = |reason| Err(TransportError::InvalidLength { len, reason });
    if len < 4 {
        return invalid("padded body shorter than 4 bytes");
    }
    if len < MIN_MESSAGE {
        return Ok(4);
    }
    let end = if body[..8] == [0; 8] {
        let data_len = u32::from_le_bytes([body[16], body[17], body[18], body[19]]);
        match MIN_MESSAGE.checked_add(data_len as usize) {
            Some(end) if end <= len => end,
            _ => return invalid("unencrypted message longer than its padded frame"),
        }
    } else {
        if len < ENCRYPTED_HEADER {
            return invalid("encrypted message shorter than 24 bytes");
        }
        len - (len - ENCRYPTED_HEADER) % 16
    };
    if len - end > MAX_PADDING {
        return invalid("more than 15 bytes of padding");
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unencrypted(data_len: usize) -> Vec<u8> {
        let mut m = vec![0u8; 8];
        m.extend_from_slice(&0x6777_E5EB_0000_0004u64.to_le_bytes());
        m.extend_from_slice(&(data_len as u32).to_le_bytes());
        m.extend((0..data_len).map(|i| i as u8));
        m
    }

    /// T-6, Q-5: the strip rule for unencrypted messages, encrypted
    /// messages and transport error codes, for every padding length.
    #[test]
    fn t6_strip_rule() {
        let plain = unencrypted(20);
        let mut encrypted = vec![0xAB; 24 + 16 * 3];
        encrypted[0] = 1;
        let error = (-404i32).to_le_bytes().to_vec();
        for pad in 0..=MAX_PADDING {
            for payload in [&plain, &encrypted, &error] {
                let mut body = payload.clone();
                body.extend(vec![0x5A; pad]);
                assert_eq!(padded_payload_len(&body), Ok(payload.len()), "pad {pad}");
            }
        }
    }

    /// T-6, T-9: bodies whose inner length cannot be right are refused.
    #[test]
    fn t6_strip_rule_rejects_inconsistent_bodies() {
        assert!(padded_payload_len(&[1, 2, 3]).is_err());
        // Unencrypted message claiming more data than the frame holds.
        let mut m = unencrypted(8);
        m.truncate(24);
        assert!(padded_payload_len(&m).is_err());
        // Unencrypted message followed by 16 bytes of "padding".
        let mut m = unencrypted(8);
        m.extend([0; 16]);
        assert!(padded_payload_len(&m).is_err());
        // Nonzero auth_key_id but too short for an encrypted message.
        let mut m = vec![0u8; 22];
        m[0] = 1;
        assert!(padded_payload_len(&m).is_err());
        // A data length near u32::MAX must not overflow.
        let mut m = unencrypted(0);
        m[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(padded_payload_len(&m).is_err());
    }

    /// T-6, TV §7.2: `tlen` counts payload plus padding.
    #[test]
    fn t6_encode_with_given_padding() {
        let mut out = Vec::new();
        encode(&[7; 40], &[1, 2, 3, 4, 5], false, &mut out).unwrap();
        assert_eq!(&out[..4], &[0x2D, 0, 0, 0]);
        assert_eq!(&out[44..], &[1, 2, 3, 4, 5]);
        out.clear();
        encode(&[7; 40], &[], true, &mut out).unwrap();
        assert_eq!(&out[..4], &[0x28, 0, 0, 0x80]);
        assert!(encode(&[7; 40], &[0; 16], false, &mut out).is_err());
    }

    /// T-7, TV §7.3: reply layout and its recognition by body length and
    /// the `FFFFFFFF` marker.
    #[test]
    fn t7_quick_ack_reply_form() {
        for extra in 0..=MAX_ACK_EXTRA {
            let mut out = Vec::new();
            encode_quick_ack(0xC562C9D8, &[9; 8][..extra], &mut out);
            assert_eq!(out.len(), 4 + 8 + extra);
            assert_eq!(&out[..4], &((8 + extra) as u32).to_le_bytes());
            assert_eq!(&out[4..12], &hex::decode("FFFFFFFFD8C962C5").unwrap()[..]);
            assert_eq!(quick_ack_reply(&out[4..]), Some(0xC562C9D8));
        }
        // A transport error (even with padding) is never read as a quick ack.
        let mut body = (-429i32).to_le_bytes().to_vec();
        body.extend([0xFF; 8]);
        assert_eq!(quick_ack_reply(&body), None);
        // Too long for a reply.
        let mut body = vec![0xFF; 4];
        body.extend([0; 13]);
        assert_eq!(quick_ack_reply(&body), None);
    }
}
