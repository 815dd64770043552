//! The incremental frame decoder shared by every framing and both roles.
//!
//! Bytes go in through [`FrameDecoder::feed`] in chunks of any size; complete
//! items come out of [`FrameDecoder::poll`]. The decoder holds at most one
//! frame: `feed` stops taking bytes once a frame is complete and reports how
//! many it took, so memory stays bounded by the header plus the largest
//! allowed body no matter how much data a peer pushes. A declared length is
//! checked as soon as the header is complete, before any body byte is kept.

use std::fmt;

use super::error::{TransportError, TransportErrorCode};
use super::framing::{Decoded, Framing, Header, Role, DEFAULT_MAX_FRAME};
use super::obfuscation::AesCtr;
use super::{abridged, full, intermediate, padded};
use cipher::StreamCipher;

/// Turns a byte stream of one framing back into payloads.
pub struct FrameDecoder {
    framing: Framing,
    role: Role,
    max_frame: usize,
    /// Obfuscation decryptor, applied to each byte as it is taken in (T-16).
    decryptor: Option<AesCtr>,
    head: [u8; 8],
    head_len: usize,
    head_need: usize,
    /// Set once the header is complete: the body length and quick-ack flag.
    pending: Option<(usize, bool)>,
    body: Vec<u8>,
    /// Full transport: the counter the next frame must carry.
    next_seq: u32,
    ready: Option<Decoded>,
    poisoned: Option<TransportError>,
}

impl FrameDecoder {
    /// A decoder for the `role` end of a connection (the client decodes what
    /// the server sends, and vice versa), with [`DEFAULT_MAX_FRAME`].
    pub fn new(framing: Framing, role: Role) -> Self {
        FrameDecoder {
            framing,
            role,
            max_frame: DEFAULT_MAX_FRAME,
            decryptor: None,
            head: [0; 8],
            head_len: 0,
            head_need: framing.min_header(),
            pending: None,
            body: Vec::new(),
            next_seq: 0,
            ready: None,
            poisoned: None,
        }
    }

    /// Sets the largest payload accepted. Padded frames may exceed it by
    /// their padding.
    pub fn with_max_frame(mut self, max_frame: usize) -> Self {
        self.max_frame = max_frame;
        self
    }

    /// Decrypts every incoming byte with `decryptor` before framing it.
    pub(crate) fn set_decryptor(&mut self, decryptor: AesCtr) {
        self.decryptor = Some(decryptor);
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Bytes held for the frame in progress (header plus body so far).
    pub fn buffered_len(&self) -> usize {
        self.head_len + self.body.len()
    }

    /// True when the stream stopped in the middle of a frame; useful to
    /// tell a clean end of stream from a truncated one.
    pub fn has_partial_frame(&self) -> bool {
        self.buffered_len() > 0
    }

    /// The error that poisoned this decoder, if any.
    pub fn error(&self) -> Option<&TransportError> {
        self.poisoned.as_ref()
    }

    fn check(&self) -> Result<(), TransportError> {
        match &self.poisoned {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn poison(&mut self, e: TransportError) -> TransportError {
        self.poisoned = Some(e.clone());
        self.head_len = 0;
        self.body = Vec::new();
        self.pending = None;
        e
    }

    /// Takes bytes from `data` and returns how many were taken.
    ///
    /// Fewer than `data.len()` are taken only when a complete item is
    /// waiting; [`FrameDecoder::poll`] it and feed the rest. With no item
    /// waiting and `data` non-empty, at least one byte is always taken, so
    /// the loop `feed` / `poll` always makes progress.
    pub fn feed(&mut self, data: &[u8]) -> Result<usize, TransportError> {
        self.check()?;
        let mut rest = data;
        while self.ready.is_none() && !rest.is_empty() {
            let taken = match self.pending {
                None => self.take_header(rest),
                Some((len, quick_ack)) => self.take_body(rest, len, quick_ack),
            };
            match taken {
                Ok(n) => rest = &rest[n..],
                Err(e) => return Err(self.poison(e)),
            }
        }
        Ok(data.len() - rest.len())
    }

    /// The next complete item, if one is waiting.
    pub fn poll(&mut self) -> Result<Option<Decoded>, TransportError> {
        self.check()?;
        Ok(self.ready.take())
    }

    fn take_header(&mut self, data: &[u8]) -> Result<usize, TransportError> {
        let n = (self.head_need - self.head_len).min(data.len());
        let span = self.head_len..self.head_len + n;
        self.head[span.clone()].copy_from_slice(&data[..n]);
        if let Some(d) = &mut self.decryptor {
            d.apply_keystream(&mut self.head[span]);
        }
        self.head_len += n;
        if self.head_len < self.head_need {
            return Ok(n);
        }
        let head = &self.head[..self.head_len];
        let header = match self.framing {
            Framing::Abridged => abridged::parse_header(head, self.role, self.max_frame)?,
            Framing::Intermediate => intermediate::parse_header(head, self.role, self.max_frame)?,
            Framing::PaddedIntermediate => padded::parse_header(head, self.role, self.max_frame)?,
            Framing::Full => full::parse_header(head, self.max_frame)?,
        };
        match header {
            Header::Need(total) => self.head_need = total,
            Header::QuickAck(token) => {
                self.ready = Some(Decoded::QuickAck(token));
                self.reset_header();
            }
            Header::Body { len, quick_ack } => {
                if self.framing == Framing::Full {
                    let got = full::seq(&self.head);
                    if got != self.next_seq {
                        return Err(TransportError::BadSeq {
                            expected: self.next_seq,
                            got,
                        });
                    }
                }
                self.pending = Some((len, quick_ack));
            }
        }
        Ok(n)
    }

    fn take_body(
        &mut self,
        data: &[u8],
        len: usize,
        quick_ack: bool,
    ) -> Result<usize, TransportError> {
        let n = (len - self.body.len()).min(data.len());
        let start = self.body.len();
        self.body.extend_from_slice(&data[..n]);
        if let Some(d) = &mut self.decryptor {
            d.apply_keystream(&mut self.body[start..]);
        }
        if self.body.len() == len {
            let body = std::mem::take(&mut self.body);
            self.ready = Some(self.finish(body, quick_ack)?);
            self.pending = None;
            self.reset_header();
        }
        Ok(n)
    }

    /// Strips padding or CRC from a complete body and classifies it.
    fn finish(&mut self, mut body: Vec<u8>, quick_ack: bool) -> Result<Decoded, TransportError> {
        match self.framing {
            Framing::Full => {
                let head = self.head;
                let len = full::check_crc(&head, &body)?;
                body.truncate(len);
                self.next_seq = self.next_seq.wrapping_add(1);
            }
            Framing::PaddedIntermediate => {
                if self.role == Role::Client {
                    if let Some(token) = padded::quick_ack_reply(&body) {
                        return Ok(Decoded::QuickAck(token));
                    }
                }
                body.truncate(padded::padded_payload_len(&body)?);
            }
            Framing::Abridged | Framing::Intermediate => {}
        }
        if self.role == Role::Client {
            if let Some(code) = TransportErrorCode::from_payload(&body) {
                return Ok(Decoded::Error(code));
            }
        }
        Ok(Decoded::Packet {
            payload: body,
            quick_ack_requested: quick_ack,
        })
    }

    fn reset_header(&mut self) {
        self.head_len = 0;
        self.head_need = self.framing.min_header();
    }
}

impl fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("framing", &self.framing)
            .field("role", &self.role)
            .field("max_frame", &self.max_frame)
            .field("obfuscated", &self.decryptor.is_some())
            .field("buffered", &self.buffered_len())
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds everything, polling whenever the decoder stops taking bytes.
    fn decode_all(d: &mut FrameDecoder, mut data: &[u8]) -> Result<Vec<Decoded>, TransportError> {
        let mut items = Vec::new();
        loop {
            let n = d.feed(data)?;
            data = &data[n..];
            match d.poll()? {
                Some(item) => items.push(item),
                None if data.is_empty() => return Ok(items),
                None => unreachable!("feed made no progress"),
            }
        }
    }

    fn packet(payload: &[u8]) -> Decoded {
        Decoded::Packet {
            payload: payload.to_vec(),
            quick_ack_requested: false,
        }
    }

    /// T-3, T-5, T-8: several frames in one chunk come out one by one.
    #[test]
    fn several_frames_per_chunk() {
        let mut wire = Vec::new();
        full::encode(&[1; 8], 0, &mut wire).unwrap();
        full::encode(&[2; 4], 1, &mut wire).unwrap();
        full::encode(&[3; 12], 2, &mut wire).unwrap();
        let mut d = FrameDecoder::new(Framing::Full, Role::Client);
        let items = decode_all(&mut d, &wire).unwrap();
        assert_eq!(
            items,
            vec![packet(&[1; 8]), packet(&[2; 4]), packet(&[3; 12])]
        );
        assert!(!d.has_partial_frame());
    }

    /// T-9: a truncated frame just waits for more bytes.
    #[test]
    fn truncated_input_waits() {
        for framing in Framing::ALL {
            let mut wire = Vec::new();
            let mut enc = crate::transport::FrameEncoder::new(framing, Role::Server);
            enc.encode(
                &[9; 72],
                false,
                &mut rand::rngs::mock::StepRng::new(0, 0),
                &mut wire,
            )
            .unwrap();
            let mut d = FrameDecoder::new(framing, Role::Client);
            let cut = wire.len() - 1;
            assert_eq!(d.feed(&wire[..cut]), Ok(cut));
            assert_eq!(d.poll(), Ok(None), "{framing:?}");
            assert!(d.has_partial_frame());
            assert_eq!(d.feed(&wire[cut..]), Ok(1));
            assert_eq!(d.poll(), Ok(Some(packet(&[9; 72]))), "{framing:?}");
        }
    }

    /// T-9: an oversized declared length is refused from the header alone,
    /// with no body byte buffered, and the decoder stays poisoned.
    #[test]
    fn t9_oversized_length_rejected_before_buffering() {
        let headers: [(Framing, Vec<u8>); 4] = [
            (Framing::Abridged, vec![0x7F, 0x00, 0x00, 0x10]),
            (Framing::Intermediate, 0x0100_0004u32.to_le_bytes().to_vec()),
            (
                Framing::PaddedIntermediate,
                0x0100_0004u32.to_le_bytes().to_vec(),
            ),
            (
                Framing::Full,
                [0x0100_0010u32.to_le_bytes(), [0; 4]].concat(),
            ),
        ];
        for (framing, header) in headers {
            for role in [Role::Client, Role::Server] {
                let mut d = FrameDecoder::new(framing, role).with_max_frame(1 << 20);
                let mut wire = header.clone();
                wire.extend([0u8; 64]);
                let err = d.feed(&wire).unwrap_err();
                assert!(
                    matches!(err, TransportError::FrameTooLarge { .. }),
                    "{framing:?} {err:?}"
                );
                assert_eq!(d.buffered_len(), 0);
                assert_eq!(d.poll(), Err(err.clone()));
                assert_eq!(d.feed(&[0]), Err(err));
            }
        }
    }

    /// T-8: a flipped payload bit fails the CRC check.
    #[test]
    fn t8_bad_crc() {
        let mut wire = Vec::new();
        full::encode(&[5; 16], 0, &mut wire).unwrap();
        wire[10] ^= 1;
        let mut d = FrameDecoder::new(Framing::Full, Role::Server);
        assert!(matches!(
            decode_all(&mut d, &wire),
            Err(TransportError::BadCrc { .. })
        ));
        assert!(d.poll().is_err());
    }

    /// T-8: counters start at 0 and must increase by one; a replayed or
    /// skipped counter is refused before its body is read.
    #[test]
    fn t8_wrong_seq() {
        let mut wire = Vec::new();
        full::encode(&[5; 16], 0, &mut wire).unwrap();
        full::encode(&[6; 16], 0, &mut wire).unwrap();
        let mut d = FrameDecoder::new(Framing::Full, Role::Server);
        assert_eq!(
            decode_all(&mut d, &wire),
            Err(TransportError::BadSeq {
                expected: 1,
                got: 0
            })
        );
        let mut wire = Vec::new();
        full::encode(&[5; 16], 1, &mut wire).unwrap();
        let mut d = FrameDecoder::new(Framing::Full, Role::Client);
        assert_eq!(
            d.feed(&wire[..8]),
            Err(TransportError::BadSeq {
                expected: 0,
                got: 1
            })
        );
    }

    /// T-11: on the client side a 4-byte negative payload is an error code;
    /// on the server side it is just a payload.
    #[test]
    fn t11_error_only_for_clients() {
        let mut wire = Vec::new();
        intermediate::encode(&(-429i32).to_le_bytes(), false, &mut wire).unwrap();
        let mut d = FrameDecoder::new(Framing::Intermediate, Role::Client);
        assert_eq!(
            decode_all(&mut d, &wire).unwrap(),
            vec![Decoded::Error(TransportErrorCode::Flood)]
        );
        let mut d = FrameDecoder::new(Framing::Intermediate, Role::Server);
        assert_eq!(
            decode_all(&mut d, &wire).unwrap(),
            vec![packet(&(-429i32).to_le_bytes())]
        );
    }

    /// T-6: padded-intermediate bodies that break the strip rule poison the
    /// decoder.
    #[test]
    fn t6_bad_padding_is_an_error() {
        let mut wire = Vec::new();
        let mut body = vec![0u8; 20];
        body[16] = 200; // claims 200 bytes of data
        padded::encode(&body, &[], false, &mut wire).unwrap();
        let mut d = FrameDecoder::new(Framing::PaddedIntermediate, Role::Server);
        assert!(matches!(
            decode_all(&mut d, &wire),
            Err(TransportError::InvalidLength { .. })
        ));
    }
}
