//! Full envelope (T-8): length, a per-direction packet counter and a CRC32
//! trailer. It is the only framing that detects corruption and reordering
//! by itself, at the cost of 12 bytes per packet and no quick acks.

use super::error::TransportError;
use super::framing::Header;

/// The length field counts itself, the counter and the CRC.
const OVERHEAD: usize = 12;
/// Largest payload whose total length still fits the u32 length field,
/// rounded down to a whole word.
pub(crate) const MAX_PAYLOAD: usize = (u32::MAX as usize - OVERHEAD) & !3;

/// Appends `len + seq + payload + crc32(len + seq + payload)`.
pub(crate) fn encode(payload: &[u8], seq: u32, out: &mut Vec<u8>) -> Result<(), TransportError> {
    let len = payload.len();
    super::framing::check_payload_len(
        len,
        MAX_PAYLOAD,
        "full transport payloads are a non-zero multiple of 4 bytes",
    )?;
    let start = out.len();
    out.reserve(len + OVERHEAD);
    out.extend_from_slice(&((len + OVERHEAD) as u32).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Interprets the 8 header bytes (length and counter). The body that
/// follows is the payload plus the 4-byte CRC.
pub(crate) fn parse_header(head: &[u8], max: usize) -> Result<Header, TransportError> {
    let Some(b) = head.get(..4) else {
        return Ok(Header::Need(8));
    };
    let total = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if total < OVERHEAD + 4 || (total - OVERHEAD) % 4 != 0 {
        return Err(TransportError::InvalidLength {
            len: total,
            reason: "full transport length must be 12 + a non-zero multiple of 4",
        });
    }
    let payload = total - OVERHEAD;
    if payload > max {
        return Err(TransportError::FrameTooLarge { len: payload, max });
    }
    if head.len() < 8 {
        return Ok(Header::Need(8));
    }
    Ok(Header::Body {
        len: total - 8,
        quick_ack: false,
    })
}

/// The packet counter in a complete header.
pub(crate) fn seq(head: &[u8; 8]) -> u32 {
    u32::from_le_bytes([head[4], head[5], head[6], head[7]])
}

/// Verifies the CRC trailer of `body` (payload + CRC) and returns the
/// payload length.
pub(crate) fn check_crc(head: &[u8; 8], body: &[u8]) -> Result<usize, TransportError> {
    let payload_len = body
        .len()
        .checked_sub(4)
        .ok_or(TransportError::InvalidLength {
            len: body.len(),
            reason: "full transport body without CRC",
        })?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(head);
    hasher.update(&body[..payload_len]);
    let computed = hasher.finalize();
    let t = &body[payload_len..];
    let received = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
    if computed != received {
        return Err(TransportError::BadCrc { computed, received });
    }
    Ok(payload_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// T-8, TV §7.2: the CRC covers length, counter and payload.
    #[test]
    fn t8_crc_vector() {
        let payload = hex::decode(
            "000000000000000060970500EBE5776714000000F18E7EBE79F0AFB50252E5FC96924BFCECDA4F05",
        )
        .unwrap();
        let mut out = Vec::new();
        encode(&payload, 0, &mut out).unwrap();
        assert_eq!(&out[out.len() - 4..], &hex::decode("6B0CB839").unwrap()[..]);
        let head: [u8; 8] = out[..8].try_into().unwrap();
        assert_eq!(seq(&head), 0);
        assert_eq!(check_crc(&head, &out[8..]), Ok(40));
        assert_eq!(
            parse_header(&head, 1 << 20),
            Ok(Header::Body {
                len: 44,
                quick_ack: false
            })
        );
    }

    /// T-8, T-9: lengths below 16 or not word aligned are refused, and an
    /// oversized length is refused from the first 4 bytes.
    #[test]
    fn t9_invalid_lengths() {
        assert!(parse_header(&[12, 0, 0, 0, 0, 0, 0, 0], 64).is_err());
        assert!(parse_header(&[17, 0, 0, 0, 0, 0, 0, 0], 64).is_err());
        assert_eq!(
            parse_header(&[0xFC, 0xFF, 0xFF, 0x7F], 64),
            Err(TransportError::FrameTooLarge {
                len: 0x7FFF_FFFC - 12,
                max: 64
            })
        );
        assert_eq!(parse_header(&[16, 0, 0, 0], 64), Ok(Header::Need(8)));
    }
}
