//! The four envelopes (T-3..T-8), the two roles, and the items a decoder
//! hands out.

use super::error::{TransportError, TransportErrorCode};
use super::{abridged, full, intermediate, padded};

/// Default bound on one incoming payload. MTProto packets stay far below
/// this; the bound exists so that a peer cannot make us buffer gigabytes by
/// declaring a huge length (T-9).
pub const DEFAULT_MAX_FRAME: usize = 1 << 24;

/// The MTProto transport envelope used on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// One-byte length in 4-byte words, long form behind `0x7F` (T-3, T-4).
    Abridged,
    /// 4-byte LE length (T-5).
    Intermediate,
    /// 4-byte LE length plus 0–15 random trailing bytes (T-6, T-7).
    PaddedIntermediate,
    /// Length, packet counter and CRC32 (T-8).
    Full,
}

impl Framing {
    /// Every framing, for tests and exhaustive configuration.
    pub const ALL: [Framing; 4] = [
        Framing::Abridged,
        Framing::Intermediate,
        Framing::PaddedIntermediate,
        Framing::Full,
    ];

    /// The bytes a client sends once before its first packet when the
    /// connection is not obfuscated (T-3, T-5, T-6, T-8).
    pub const fn init_bytes(self) -> &'static [u8] {
        match self {
            Framing::Abridged => &[abridged::INIT],
            Framing::Intermediate => &intermediate::INIT,
            Framing::PaddedIntermediate => &padded::INIT,
            Framing::Full => &[],
        }
    }

    /// The tag written at `init[56..60]` of an obfuscation header (T-14).
    /// The full transport has none, which is why it cannot be obfuscated.
    pub const fn obfuscation_tag(self) -> Option<[u8; 4]> {
        match self {
            Framing::Abridged => Some([abridged::INIT; 4]),
            Framing::Intermediate => Some(intermediate::INIT),
            Framing::PaddedIntermediate => Some(padded::INIT),
            Framing::Full => None,
        }
    }

    /// Inverse of [`Framing::obfuscation_tag`].
    pub fn from_obfuscation_tag(tag: [u8; 4]) -> Option<Framing> {
        [
            Framing::Abridged,
            Framing::Intermediate,
            Framing::PaddedIntermediate,
        ]
        .into_iter()
        .find(|f| f.obfuscation_tag() == Some(tag))
    }

    /// Whether quick acks can be requested and answered (T-8: not on full).
    pub const fn supports_quick_ack(self) -> bool {
        !matches!(self, Framing::Full)
    }

    /// The largest payload the header of this framing can express.
    pub const fn max_encodable(self) -> usize {
        match self {
            Framing::Abridged => abridged::MAX_PAYLOAD,
            Framing::Intermediate => intermediate::MAX_PAYLOAD,
            Framing::PaddedIntermediate => padded::MAX_PAYLOAD,
            Framing::Full => full::MAX_PAYLOAD,
        }
    }

    /// Header bytes needed before anything about a frame is known.
    pub(crate) const fn min_header(self) -> usize {
        match self {
            Framing::Abridged => 1,
            Framing::Intermediate | Framing::PaddedIntermediate => 4,
            Framing::Full => 8,
        }
    }
}

/// Which end of the connection a codec serves. The two ends read different
/// things from the same envelope: only a server sees quick-ack requests, and
/// only a client sees quick-ack replies and transport error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Client,
    Server,
}

/// What a client receives from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// One MTProto payload (padding and CRC already removed).
    Packet(Vec<u8>),
    /// A quick-ack token, top bit set (T-4, T-5, T-7, T-10).
    QuickAck(u32),
    /// A transport error code in place of a packet (T-11).
    Error(TransportErrorCode),
}

/// What a server receives from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// One MTProto payload (padding and CRC already removed).
    pub payload: Vec<u8>,
    /// The client asked for a quick ack of this payload (T-4, T-5, T-6).
    pub quick_ack_requested: bool,
}

/// One decoded item, role-neutral: [`crate::transport::FrameDecoder`]
/// produces these and the codecs narrow them to [`Incoming`] or [`Received`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Packet {
        payload: Vec<u8>,
        quick_ack_requested: bool,
    },
    QuickAck(u32),
    Error(TransportErrorCode),
}

impl Decoded {
    pub(crate) fn into_incoming(self) -> Incoming {
        match self {
            Decoded::Packet { payload, .. } => Incoming::Packet(payload),
            Decoded::QuickAck(t) => Incoming::QuickAck(t),
            Decoded::Error(c) => Incoming::Error(c),
        }
    }
}

/// The result of looking at the header bytes gathered so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    /// The header is this many bytes long in total; wait for the rest.
    Need(usize),
    /// A body of `len` bytes follows the header.
    Body { len: usize, quick_ack: bool },
    /// The header alone is a complete quick-ack reply.
    QuickAck(u32),
}

/// T-9: a payload is a non-empty multiple of 4 bytes and at most `max`.
/// Shared by every framing's encoder and decoder; `what` names the framing
/// in the error.
pub(crate) fn check_payload_len(
    len: usize,
    max: usize,
    what: &'static str,
) -> Result<(), TransportError> {
    if len == 0 || len % 4 != 0 {
        return Err(TransportError::InvalidLength { len, reason: what });
    }
    if len > max {
        return Err(TransportError::FrameTooLarge { len, max });
    }
    Ok(())
}
