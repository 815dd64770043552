//! Errors of the transport layer and the typed transport error codes that a
//! server may send in place of a packet (T-11).

use std::fmt;

/// Everything that can go wrong while framing or unframing a byte stream.
///
/// A decoding error means the byte stream can no longer be trusted (we would
/// not know where the next frame starts), so the codec that reported it stays
/// poisoned and the caller is expected to close the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// A header declared (or a caller asked to send) more bytes than allowed.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge { len: usize, max: usize },
    /// A length that the framing cannot carry, such as zero or a value that
    /// is not a multiple of 4.
    #[error("invalid length {len}: {reason}")]
    InvalidLength { len: usize, reason: &'static str },
    /// The CRC32 trailer of a full-transport frame did not match (T-8).
    #[error("full transport CRC mismatch: computed {computed:#010x}, received {received:#010x}")]
    BadCrc { computed: u32, received: u32 },
    /// A full-transport frame carried an unexpected packet counter (T-8).
    #[error("full transport sequence number {got}, expected {expected}")]
    BadSeq { expected: u32, got: u32 },
    /// The first bytes of a connection match no known transport, or the
    /// deobfuscated header has no valid protocol tag (T-2, T-17).
    #[error("unrecognised transport protocol")]
    UnknownProtocol,
    /// Something recognised but deliberately not implemented (HTTP, fake-TLS,
    /// quick acks on the full transport, ...).
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// An MTProxy secret of the wrong shape (T-15).
    #[error("invalid MTProxy secret: {0}")]
    InvalidSecret(&'static str),
    /// A caller-supplied obfuscation header breaks T-13 or T-14.
    #[error("invalid obfuscation header: {0}")]
    InvalidHeader(&'static str),
    /// The server side was asked to send before it knew the client's framing.
    #[error("the client's transport has not been detected yet")]
    NotDetected,
}

/// A negative code that a server sends instead of a packet (T-11).
///
/// These are not decoding errors: the stream is intact and the frame was
/// well formed, so they are delivered as an incoming item and the session
/// layer decides how to react.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportErrorCode {
    /// -404: unknown auth_key_id, or a malformed packet.
    AuthKeyNotFound,
    /// -403: what an HTTP transport would answer with status 403.
    Forbidden,
    /// -429: too many connections or too many messages.
    Flood,
    /// -444: a wrong DC id in the key exchange or for MTProxy.
    InvalidDc,
    /// Any other negative code.
    Other(i32),
}

impl TransportErrorCode {
    /// The signed value as it appears on the wire.
    pub const fn code(self) -> i32 {
        match self {
            Self::AuthKeyNotFound => -404,
            Self::Forbidden => -403,
            Self::Flood => -429,
            Self::InvalidDc => -444,
            Self::Other(c) => c,
        }
    }

    /// Maps a wire value to the named variant where one exists.
    pub const fn from_code(code: i32) -> Self {
        match code {
            -404 => Self::AuthKeyNotFound,
            -403 => Self::Forbidden,
            -429 => Self::Flood,
            -444 => Self::InvalidDc,
            c => Self::Other(c),
        }
    }

    /// The 4-byte payload that carries this code (LE int32).
    pub const fn to_payload(self) -> [u8; 4] {
        self.code().to_le_bytes()
    }

    /// Recognises a transport error payload: exactly one negative LE int32.
    pub fn from_payload(payload: &[u8]) -> Option<Self> {
        let bytes: [u8; 4] = payload.try_into().ok()?;
        let code = i32::from_le_bytes(bytes);
        (code < 0).then_some(Self::from_code(code))
    }
}

impl fmt::Display for TransportErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::AuthKeyNotFound => "auth key not found",
            Self::Forbidden => "forbidden",
            Self::Flood => "transport flood",
            Self::InvalidDc => "invalid DC",
            Self::Other(_) => "transport error",
        };
        write!(f, "{name} ({})", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// T-11, TV §7.2: the known codes and their wire bytes.
    #[test]
    fn t11_error_codes_and_payloads() {
        let cases = [
            (TransportErrorCode::AuthKeyNotFound, -404, "6CFEFFFF"),
            (TransportErrorCode::Flood, -429, "53FEFFFF"),
            (TransportErrorCode::InvalidDc, -444, "44FEFFFF"),
            (TransportErrorCode::Forbidden, -403, "6DFEFFFF"),
        ];
        for (code, value, wire) in cases {
            assert_eq!(code.code(), value);
            assert_eq!(TransportErrorCode::from_code(value), code);
            assert_eq!(code.to_payload().to_vec(), hex::decode(wire).unwrap());
            assert_eq!(
                TransportErrorCode::from_payload(&code.to_payload()),
                Some(code)
            );
        }
        assert_eq!(
            TransportErrorCode::from_code(-1),
            TransportErrorCode::Other(-1)
        );
        assert_eq!(TransportErrorCode::Other(-7).code(), -7);
        // Non-negative values and other sizes are not transport errors.
        assert_eq!(TransportErrorCode::from_payload(&[1, 0, 0, 0]), None);
        assert_eq!(TransportErrorCode::from_payload(&[0x6C, 0xFE, 0xFF]), None);
        assert_eq!(
            TransportErrorCode::from_payload(&[0x6C, 0xFE, 0xFF, 0xFF, 0]),
            None
        );
    }
}
