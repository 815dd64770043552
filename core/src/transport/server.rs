//! The server end of a connection (used by the local test DC): detects the
//! client's framing and obfuscation from its first bytes (T-2, T-17), then
//! decodes client packets and encodes replies, quick acks and error codes.

use std::fmt;

use cipher::StreamCipher;
use rand::RngCore;

use super::decoder::FrameDecoder;
use super::detect::{Detected, Detector};
use super::encoder::FrameEncoder;
use super::error::{TransportError, TransportErrorCode};
use super::framing::{Decoded, Framing, Received, Role, DEFAULT_MAX_FRAME};
use super::obfuscation::{AesCtr, MtProxySecret};

/// What a server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Largest client payload accepted.
    pub max_frame: usize,
    /// Act as an MTProxy endpoint: obfuscation keys are hashed with this
    /// secret (T-15, T-17), and the client's DC id becomes available.
    pub mtproxy_secret: Option<MtProxySecret>,
    /// Refuse plain (unobfuscated) framings, as an MTProxy does (T-12).
    pub require_obfuscation: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_frame: DEFAULT_MAX_FRAME,
            mtproxy_secret: None,
            require_obfuscation: false,
        }
    }
}

/// The connection once the client's transport is known.
struct Established {
    encoder: FrameEncoder,
    decoder: FrameDecoder,
    encryptor: Option<AesCtr>,
    dc_id: Option<i16>,
}

/// Server transport codec. Feed it the client's bytes from the first one;
/// it cannot encode until [`framing`](Self::framing) is known. After a
/// decoding error every call returns that error.
pub struct ServerCodec<R> {
    config: ServerConfig,
    rng: R,
    detector: Detector,
    conn: Option<Established>,
    poisoned: Option<TransportError>,
}

impl<R: RngCore> ServerCodec<R> {
    /// `rng` supplies padding and quick-ack filler bytes.
    pub fn new(config: ServerConfig, rng: R) -> Self {
        ServerCodec {
            config,
            rng,
            detector: Detector::new(),
            conn: None,
            poisoned: None,
        }
    }

    /// The client's framing, once detected.
    pub fn framing(&self) -> Option<Framing> {
        self.conn.as_ref().map(|c| c.encoder.framing())
    }

    /// Whether the client obfuscates (false until detected).
    pub fn is_obfuscated(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.encryptor.is_some())
    }

    /// The DC id from an MTProxy client's header (T-14); `None` without a
    /// configured secret, where those bytes are random.
    pub fn mtproxy_dc_id(&self) -> Option<i16> {
        self.conn.as_ref().and_then(|c| c.dc_id)
    }

    /// Takes bytes received from the client and returns how many were
    /// taken; as with [`FrameDecoder::feed`], poll and feed the rest when
    /// fewer than all were taken.
    pub fn feed(&mut self, data: &[u8]) -> Result<usize, TransportError> {
        self.check()?;
        let mut used = 0;
        if self.conn.is_none() {
            let found = self
                .detector
                .feed(data, self.config.mtproxy_secret.as_ref());
            let (n, found) = found.map_err(|e| self.poison(e))?;
            used = n;
            let Some(found) = found else {
                return Ok(used);
            };
            let conn = self.establish(found).map_err(|e| self.poison(e))?;
            self.conn = Some(conn);
        }
        match &mut self.conn {
            Some(conn) => Ok(used + conn.decoder.feed(&data[used..])?),
            None => Ok(used),
        }
    }

    fn establish(&mut self, found: Detected) -> Result<Established, TransportError> {
        match found {
            Detected::Plain { framing, replay } => {
                if self.config.require_obfuscation {
                    return Err(TransportError::Unsupported("unobfuscated transport"));
                }
                let mut decoder =
                    FrameDecoder::new(framing, Role::Server).with_max_frame(self.config.max_frame);
                // Bytes the detector read that already belong to a frame
                // header (full transport); a fresh decoder takes them all.
                let replay = &self.detector.buffered()[..replay];
                let taken = decoder.feed(replay)?;
                debug_assert_eq!(taken, replay.len());
                Ok(Established {
                    encoder: FrameEncoder::new(framing, Role::Server),
                    decoder,
                    encryptor: None,
                    dc_id: None,
                })
            }
            Detected::Obfuscated(opened) => {
                let mut decoder = FrameDecoder::new(opened.framing, Role::Server)
                    .with_max_frame(self.config.max_frame);
                decoder.set_decryptor(opened.decryptor);
                Ok(Established {
                    encoder: FrameEncoder::new(opened.framing, Role::Server),
                    decoder,
                    encryptor: Some(opened.encryptor),
                    dc_id: self.config.mtproxy_secret.is_some().then_some(opened.dc_id),
                })
            }
        }
    }

    /// The next complete client packet, if any.
    pub fn poll(&mut self) -> Result<Option<Received>, TransportError> {
        self.check()?;
        let Some(conn) = &mut self.conn else {
            return Ok(None);
        };
        Ok(conn.decoder.poll()?.map(|item| match item {
            Decoded::Packet {
                payload,
                quick_ack_requested,
            } => Received {
                payload,
                quick_ack_requested,
            },
            // A server-role decoder reads no replies or error codes.
            Decoded::QuickAck(_) | Decoded::Error(_) => {
                unreachable!("server-role decoder produced a client-only item")
            }
        }))
    }

    /// Appends one packet for the client.
    pub fn encode(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), TransportError> {
        self.write(out, |enc, rng, out| enc.encode(payload, false, rng, out))
    }

    /// Appends a quick-ack reply for `token` in the client's framing (T-4,
    /// T-5, T-7). Not available on the full transport.
    pub fn encode_quick_ack(
        &mut self,
        token: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        self.write(out, |enc, rng, out| enc.encode_quick_ack(token, rng, out))
    }

    /// Appends a transport error code (T-11).
    pub fn encode_error(
        &mut self,
        code: TransportErrorCode,
        out: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        self.write(out, |enc, rng, out| enc.encode_error(code, rng, out))
    }

    /// Runs one encoder call and encrypts what it appended.
    fn write(
        &mut self,
        out: &mut Vec<u8>,
        f: impl FnOnce(&mut FrameEncoder, &mut R, &mut Vec<u8>) -> Result<(), TransportError>,
    ) -> Result<(), TransportError> {
        self.check()?;
        let conn = self.conn.as_mut().ok_or(TransportError::NotDetected)?;
        let start = out.len();
        f(&mut conn.encoder, &mut self.rng, out)?;
        if let Some(enc) = &mut conn.encryptor {
            enc.apply_keystream(&mut out[start..]);
        }
        Ok(())
    }

    /// True when the client's stream stopped inside a frame (or inside
    /// the detection prefix).
    pub fn has_partial_frame(&self) -> bool {
        match &self.conn {
            Some(conn) => conn.decoder.has_partial_frame(),
            None => !self.detector.buffered().is_empty(),
        }
    }

    fn check(&self) -> Result<(), TransportError> {
        let err = self
            .poisoned
            .as_ref()
            .or_else(|| self.conn.as_ref().and_then(|c| c.decoder.error()));
        match err {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn poison(&mut self, e: TransportError) -> TransportError {
        self.poisoned = Some(e.clone());
        e
    }
}

impl<R> fmt::Debug for ServerCodec<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ServerCodec");
        match &self.conn {
            Some(conn) => s
                .field("framing", &conn.encoder.framing())
                .field("obfuscated", &conn.encryptor.is_some())
                .field("decoder", &conn.decoder),
            None => s.field("detecting", &self.detector.buffered().len()),
        };
        s.field("poisoned", &self.poisoned).finish()
    }
}
