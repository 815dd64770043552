//! Server-side transport detection (T-2, T-17): decide from the first bytes
//! of a connection which framing the client speaks and whether it is
//! obfuscated. Bytes may arrive one at a time, so the detector asks for
//! exactly as many as the next decision needs and never takes more.

use super::error::TransportError;
use super::framing::Framing;
use super::obfuscation::{
    open_header, MtProxySecret, OpenedHeader, HEADER_LEN, HTTP_FIRST_WORDS, TLS_FIRST_WORD,
};

/// What the first bytes revealed.
pub(crate) enum Detected {
    /// A plain framing. `replay` bytes of the detector buffer belong to the
    /// first frame and must be fed to the frame decoder (the full transport
    /// has no init bytes, so its first 8 bytes are a frame header).
    Plain { framing: Framing, replay: usize },
    /// An obfuscated connection with its cipher streams.
    Obfuscated(Box<OpenedHeader>),
}

/// Collects the first bytes of a connection until they identify it.
pub(crate) struct Detector {
    buf: [u8; HEADER_LEN],
    len: usize,
}

impl Detector {
    pub(crate) fn new() -> Self {
        Detector {
            buf: [0; HEADER_LEN],
            len: 0,
        }
    }

    /// The bytes gathered so far; after a `Plain` result its first
    /// `replay` bytes are the start of the first frame.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Takes bytes from `data` and returns how many it took, plus the
    /// decision once there is one. It stops taking bytes at the decision.
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        secret: Option<&MtProxySecret>,
    ) -> Result<(usize, Option<Detected>), TransportError> {
        let mut used = 0;
        loop {
            // Each step looks at a longer prefix: 1 byte (abridged), 4 (the
            // 4-byte tags and HTTP), 8 (full), 64 (obfuscation header).
            let want = match self.len {
                0 => 1,
                1..=3 => 4,
                4..=7 => 8,
                _ => HEADER_LEN,
            };
            let n = (want - self.len).min(data.len() - used);
            self.buf[self.len..self.len + n].copy_from_slice(&data[used..used + n]);
            self.len += n;
            used += n;
            if self.len < want {
                return Ok((used, None));
            }
            if let Some(found) = self.decide(secret)? {
                return Ok((used, Some(found)));
            }
        }
    }

    fn decide(&self, secret: Option<&MtProxySecret>) -> Result<Option<Detected>, TransportError> {
        let b = &self.buf;
        let plain = |framing, replay| Ok(Some(Detected::Plain { framing, replay }));
        match self.len {
            1 if b[0] == 0xEF => plain(Framing::Abridged, 0),
            4 => {
                let first = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                match first {
                    0xEEEE_EEEE => plain(Framing::Intermediate, 0),
                    0xDDDD_DDDD => plain(Framing::PaddedIntermediate, 0),
                    w if HTTP_FIRST_WORDS.contains(&w) => {
                        Err(TransportError::Unsupported("HTTP transport"))
                    }
                    TLS_FIRST_WORD => Err(TransportError::Unsupported("fake-TLS transport")),
                    _ => Ok(None),
                }
            }
            8 if b[4..8] == [0; 4] => plain(Framing::Full, 8),
            HEADER_LEN => Ok(Some(Detected::Obfuscated(Box::new(open_header(
                b, secret,
            )?)))),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds one byte at a time and returns the decision and bytes taken.
    fn detect_bytewise(
        data: &[u8],
        secret: Option<&MtProxySecret>,
    ) -> Result<(usize, Option<Detected>), TransportError> {
        let mut d = Detector::new();
        let mut taken = 0;
        for b in data {
            let (n, found) = d.feed(std::slice::from_ref(b), secret)?;
            taken += n;
            if found.is_some() {
                return Ok((taken, found));
            }
        }
        Ok((taken, None))
    }

    fn plain_framing(found: Option<Detected>) -> Option<(Framing, usize)> {
        match found? {
            Detected::Plain { framing, replay } => Some((framing, replay)),
            Detected::Obfuscated(_) => None,
        }
    }

    /// T-2: each plain framing is recognised from its first bytes, both
    /// byte by byte and in one chunk, taking no byte past the decision.
    #[test]
    fn t2_detects_plain_framings() {
        let cases: [(&[u8], Framing, usize, usize); 4] = [
            (&[0xEF, 0x0A], Framing::Abridged, 1, 0),
            (&[0xEE; 4], Framing::Intermediate, 4, 0),
            (&[0xDD; 4], Framing::PaddedIntermediate, 4, 0),
            (&[0x34, 0, 0, 0, 0, 0, 0, 0], Framing::Full, 8, 8),
        ];
        for (start, framing, taken, replay) in cases {
            let mut data = start.to_vec();
            data.extend_from_slice(&[0x55; 80]);
            let (n, found) = detect_bytewise(&data, None).unwrap();
            assert_eq!((n, plain_framing(found)), (taken, Some((framing, replay))));
            let mut d = Detector::new();
            let (n, found) = d.feed(&data, None).unwrap();
            assert_eq!((n, plain_framing(found)), (taken, Some((framing, replay))));
            assert_eq!(d.buffered(), &data[..taken]);
        }
    }

    /// T-2: HTTP methods and a TLS handshake are recognised and refused.
    #[test]
    fn t2_http_and_tls_refused() {
        for start in [
            &b"POST /api"[..],
            b"GET / HTTP/1.1",
            b"HEAD /",
            b"OPTIONS *",
        ] {
            assert_eq!(
                detect_bytewise(start, None).err(),
                Some(TransportError::Unsupported("HTTP transport"))
            );
        }
        assert!(matches!(
            detect_bytewise(&[0x16, 0x03, 0x01, 0x02, 0x00], None),
            Err(TransportError::Unsupported(_))
        ));
    }

    /// T-2, T-17: 64 bytes that match nothing and carry no valid tag after
    /// deobfuscation are an unknown protocol.
    #[test]
    fn t17_garbage_header_is_unknown_protocol() {
        let garbage: Vec<u8> = (0u8..64)
            .map(|i| i.wrapping_mul(37).wrapping_add(1))
            .collect();
        assert_eq!(
            detect_bytewise(&garbage, None).err(),
            Some(TransportError::UnknownProtocol)
        );
        // Fewer than 64 bytes: still undecided.
        let (n, found) = detect_bytewise(&garbage[..63], None).unwrap();
        assert_eq!(n, 63);
        assert!(found.is_none());
    }
}
