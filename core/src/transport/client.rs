//! The client end of a connection: framing plus optional obfuscation, as a
//! sans-IO state machine. The caller moves bytes between it and a socket.

use std::fmt;

use cipher::StreamCipher;
use rand::RngCore;

use super::decoder::FrameDecoder;
use super::encoder::FrameEncoder;
use super::error::TransportError;
use super::framing::{Framing, Incoming, Role};
use super::obfuscation::{
    derive_keys, generate_header, is_forbidden_header, seal_header, AesCtr, MtProxySecret,
    ObfuscationParams, HEADER_LEN,
};

/// Client transport codec.
///
/// Outgoing: [`start`](Self::start) writes the one-time init bytes (or the
/// obfuscation header), [`encode`](Self::encode) appends framed, possibly
/// encrypted packets. Incoming: [`feed`](Self::feed) takes bytes,
/// [`poll`](Self::poll) yields [`Incoming`] items. After a decoding error
/// every call returns that error; the connection must be closed.
pub struct ClientCodec<R> {
    encoder: FrameEncoder,
    decoder: FrameDecoder,
    encryptor: Option<AesCtr>,
    /// What `start` writes: the sealed obfuscation header, or nothing
    /// (then the framing's plain init bytes are written).
    header: Option<[u8; HEADER_LEN]>,
    started: bool,
    rng: R,
}

impl<R: RngCore> ClientCodec<R> {
    /// A codec for `framing`, obfuscated when `obfuscation` is given. The
    /// header and all padding come from `rng`.
    ///
    /// The full transport cannot be obfuscated: the header has no tag for
    /// it (T-14, T-17), so that combination is refused.
    pub fn new(
        framing: Framing,
        obfuscation: Option<ObfuscationParams>,
        mut rng: R,
    ) -> Result<Self, TransportError> {
        let Some(params) = obfuscation else {
            return Ok(Self::plain(framing, rng));
        };
        let tag = framing
            .obfuscation_tag()
            .ok_or(TransportError::Unsupported(
                "the full transport has no obfuscation tag",
            ))?;
        let dc_id = params.mtproxy.as_ref().map(|p| p.dc_id);
        let init = generate_header(&mut rng, tag, dc_id);
        let secret = params.mtproxy.map(|p| p.secret);
        Self::from_init_bytes(framing, init, secret.as_ref(), rng)
    }

    fn plain(framing: Framing, rng: R) -> Self {
        ClientCodec {
            encoder: FrameEncoder::new(framing, Role::Client),
            decoder: FrameDecoder::new(framing, Role::Client),
            encryptor: None,
            header: None,
            started: false,
            rng,
        }
    }

    /// An obfuscated codec from a chosen plaintext header, for reproducible
    /// tests and vectors (TV §7.7, §7.8). The header must already carry the
    /// tag of `framing` (and the DC id, for MTProxy) and obey T-13.
    pub fn from_init_bytes(
        framing: Framing,
        init: [u8; HEADER_LEN],
        mtproxy_secret: Option<&MtProxySecret>,
        rng: R,
    ) -> Result<Self, TransportError> {
        let tag = framing
            .obfuscation_tag()
            .ok_or(TransportError::Unsupported(
                "the full transport has no obfuscation tag",
            ))?;
        if init[56..60] != tag {
            return Err(TransportError::InvalidHeader(
                "protocol tag does not match the framing (T-14)",
            ));
        }
        if is_forbidden_header(&init) {
            return Err(TransportError::InvalidHeader(
                "starts with a forbidden pattern (T-13)",
            ));
        }
        let keys = derive_keys(&init, mtproxy_secret);
        let mut encryptor = keys.to_server.cipher();
        let sealed = seal_header(&init, &mut encryptor);
        let mut codec = Self::plain(framing, rng);
        codec.decoder.set_decryptor(keys.to_client.cipher());
        codec.encryptor = Some(encryptor);
        codec.header = Some(sealed);
        Ok(codec)
    }

    /// Sets the largest incoming payload accepted.
    pub fn with_max_frame(mut self, max_frame: usize) -> Self {
        self.decoder = self.decoder.with_max_frame(max_frame);
        self
    }

    pub fn framing(&self) -> Framing {
        self.encoder.framing()
    }

    pub fn is_obfuscated(&self) -> bool {
        self.encryptor.is_some()
    }

    /// Appends the once-per-connection prefix: the obfuscation header, or
    /// the plain framing's init bytes (T-3, T-5, T-6, T-16). Later calls do
    /// nothing; [`encode`](Self::encode) calls it if needed.
    pub fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        match &self.header {
            Some(header) => out.extend_from_slice(header),
            None => out.extend_from_slice(self.encoder.framing().init_bytes()),
        }
    }

    /// Appends one packet, requesting a quick ack if asked (T-4, T-5, T-6).
    /// On error `out` is left as it was.
    pub fn encode(
        &mut self,
        payload: &[u8],
        quick_ack: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        self.check()?;
        let (mark, was_started) = (out.len(), self.started);
        self.start(out);
        let frame_at = out.len();
        if let Err(e) = self.encoder.encode(payload, quick_ack, &mut self.rng, out) {
            out.truncate(mark);
            self.started = was_started;
            return Err(e);
        }
        if let Some(enc) = &mut self.encryptor {
            enc.apply_keystream(&mut out[frame_at..]);
        }
        Ok(())
    }

    /// Takes bytes received from the server; see [`FrameDecoder::feed`] for
    /// the contract on the returned count.
    pub fn feed(&mut self, data: &[u8]) -> Result<usize, TransportError> {
        self.decoder.feed(data)
    }

    /// The next item from the server, if one is complete.
    pub fn poll(&mut self) -> Result<Option<Incoming>, TransportError> {
        Ok(self.decoder.poll()?.map(|d| d.into_incoming()))
    }

    /// True when the server's stream stopped inside a frame.
    pub fn has_partial_frame(&self) -> bool {
        self.decoder.has_partial_frame()
    }

    fn check(&self) -> Result<(), TransportError> {
        match self.decoder.error() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

impl<R> fmt::Debug for ClientCodec<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCodec")
            .field("framing", &self.encoder.framing())
            .field("obfuscated", &self.encryptor.is_some())
            .field("started", &self.started)
            .field("decoder", &self.decoder)
            .finish()
    }
}
