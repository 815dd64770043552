//! MTProto transports (PROTOCOL.md §T): the abridged, intermediate, padded
//! intermediate and full envelopes, the obfuscation layer, quick acks and
//! transport error codes, for both the client and the server role.
//!
//! Everything here is a state machine over bytes: the caller reads from and
//! writes to the socket, and hands the bytes over. Randomness (padding and
//! the obfuscation header) comes from a caller-provided [`rand::RngCore`],
//! which makes every output reproducible in tests.
//!
//! - [`ClientCodec`] / [`ServerCodec`]: a whole connection end, framing plus
//!   optional obfuscation; the server detects the client's choice.
//! - [`FrameEncoder`] / [`FrameDecoder`]: one framing without init bytes or
//!   encryption.
//! - [`obfuscation`]: header generation, key derivation, MTProxy secrets.
//!
//! Decoders never trust a length: each declared length is checked against a
//! bound before a body byte is stored, and at most one frame is buffered.

mod abridged;
mod client;
mod decoder;
mod detect;
mod encoder;
mod error;
mod framing;
mod full;
mod intermediate;
pub mod obfuscation;
mod padded;
mod server;

#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests;

pub use client::ClientCodec;
pub use decoder::FrameDecoder;
pub use encoder::FrameEncoder;
pub use error::{TransportError, TransportErrorCode};
pub use framing::{Decoded, Framing, Incoming, Received, Role, DEFAULT_MAX_FRAME};
pub use obfuscation::{MtProxy, MtProxySecret, ObfuscationParams};
pub use padded::{padded_payload_len, MAX_PADDING};
pub use server::{ServerCodec, ServerConfig};

/// The token that acknowledges one outgoing encrypted message (T-10):
/// the first 4 bytes of `msg_key_large` (the SHA-256 from which msg_key is
/// cut) read as LE u32, with the top bit set. The client remembers it; the
/// server echoes it in a quick-ack reply.
pub fn quick_ack_token(msg_key_large: &[u8; 32]) -> u32 {
    u32::from_le_bytes([
        msg_key_large[0],
        msg_key_large[1],
        msg_key_large[2],
        msg_key_large[3],
    ]) | 0x8000_0000
}
