//! Just enough PEM and DER for RSA keys: PEM armour (RFC 7468) and the
//! handful of DER shapes PKCS#1 and SubjectPublicKeyInfo use (SEQUENCE,
//! INTEGER, OID, NULL, BIT STRING). Parsing is strict DER and bounds-checked;
//! malformed input yields a typed error, never a panic.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use num_bigint::BigUint;

use super::CryptoError;

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_NULL: u8 = 0x05;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;

fn der_err(why: &'static str) -> CryptoError {
    CryptoError::InvalidDer(why)
}

/// A cursor over DER bytes.
pub(crate) struct DerReader<'a> {
    buf: &'a [u8],
}

impl<'a> DerReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        DerReader { buf }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CryptoError> {
        if self.buf.len() < n {
            return Err(der_err("truncated"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// Reads one element with tag `tag` and returns its contents.
    pub(crate) fn expect(&mut self, tag: u8) -> Result<&'a [u8], CryptoError> {
        let got = self.take(1)?[0];
        if got != tag {
            return Err(der_err("unexpected tag"));
        }
        let first = self.take(1)?[0];
        let len = match first {
            0..=0x7F => first as usize,
            0x81..=0x84 => {
                let n = (first & 0x7F) as usize;
                let bytes = self.take(n)?;
                if bytes[0] == 0 {
                    return Err(der_err("non-minimal length"));
                }
                let len = bytes.iter().fold(0usize, |acc, &b| acc << 8 | b as usize);
                if len < 0x80 {
                    return Err(der_err("non-minimal length"));
                }
                len
            }
            _ => return Err(der_err("unsupported length form")),
        };
        self.take(len)
    }

    /// A non-negative INTEGER in minimal encoding.
    pub(crate) fn uint(&mut self) -> Result<BigUint, CryptoError> {
        let body = self.expect(TAG_INTEGER)?;
        match body {
            [] => Err(der_err("empty INTEGER")),
            [b, ..] if b & 0x80 != 0 => Err(der_err("negative INTEGER")),
            [0, b, ..] if b & 0x80 == 0 => Err(der_err("non-minimal INTEGER")),
            _ => Ok(BigUint::from_bytes_be(body)),
        }
    }

    /// Fails unless every byte has been consumed.
    pub(crate) fn finish(&self) -> Result<(), CryptoError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(der_err("trailing bytes"))
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Appends a DER length.
fn put_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Appends one element.
pub(crate) fn put_tlv(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    put_len(out, body.len());
    out.extend_from_slice(body);
}

/// Appends a non-negative INTEGER (a 0x00 is prefixed when the top bit is set).
pub(crate) fn put_uint(out: &mut Vec<u8>, x: &BigUint) {
    let bytes = x.to_bytes_be();
    if bytes[0] & 0x80 != 0 {
        let mut body = Vec::with_capacity(bytes.len() + 1);
        body.push(0);
        body.extend_from_slice(&bytes);
        put_tlv(out, TAG_INTEGER, &body);
    } else {
        put_tlv(out, TAG_INTEGER, &bytes);
    }
}

/// One `-----BEGIN label-----` ... `-----END label-----` block, decoded.
pub(crate) struct PemBlock {
    pub(crate) label: String,
    pub(crate) der: Vec<u8>,
}

fn pem_err(why: &'static str) -> CryptoError {
    CryptoError::InvalidPem(why)
}

/// Splits text into PEM blocks. Text between blocks is ignored, as OpenSSL
/// does; inside a block only base64 is allowed (encrypted keys carry
/// `Proc-Type:` headers and are not supported).
pub(crate) fn parse_pem(text: &str) -> Result<Vec<PemBlock>, CryptoError> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let mut b64 = String::new();
        let mut closed = false;
        for line in lines.by_ref() {
            if let Some(end) = line
                .strip_prefix("-----END ")
                .and_then(|l| l.strip_suffix("-----"))
            {
                if end != label {
                    return Err(pem_err("END label does not match BEGIN label"));
                }
                closed = true;
                break;
            }
            if line.starts_with("-----") {
                return Err(pem_err("unexpected armour line inside a block"));
            }
            if line.contains(':') {
                return Err(pem_err(
                    "PEM headers (e.g. encrypted keys) are not supported",
                ));
            }
            b64.push_str(line);
        }
        if !closed {
            return Err(pem_err("missing END line"));
        }
        let der = STANDARD
            .decode(b64.as_bytes())
            .map_err(|_| pem_err("invalid base64"))?;
        blocks.push(PemBlock {
            label: label.to_owned(),
            der,
        });
    }
    Ok(blocks)
}

/// Armours DER bytes with 64-character base64 lines.
pub(crate) fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    // base64 output is ASCII, so every 64-byte chunk is valid UTF-8.
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(core::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A-3 (key files): the DER reader rejects every non-DER form it may meet.
    #[test]
    fn der_reader_is_strict() {
        let cases: [(&[u8], &str); 8] = [
            (&[], "truncated"),
            (&[0x02], "truncated"),
            (&[0x02, 0x05, 1, 2], "truncated"),
            (&[0x02, 0x00], "empty INTEGER"),
            (&[0x02, 0x01, 0x80], "negative INTEGER"),
            (&[0x02, 0x02, 0x00, 0x7F], "non-minimal INTEGER"),
            (&[0x02, 0x81, 0x01, 0x01], "non-minimal length"),
            (&[0x02, 0x80, 0x01, 0x00, 0x00], "unsupported length form"),
        ];
        for (bytes, why) in cases {
            assert_eq!(
                DerReader::new(bytes).uint().err(),
                Some(CryptoError::InvalidDer(why)),
                "{bytes:02x?}"
            );
        }
        assert_eq!(
            DerReader::new(&[0x30, 0x00]).uint().err(),
            Some(CryptoError::InvalidDer("unexpected tag"))
        );
        let mut ok = DerReader::new(&[0x02, 0x02, 0x00, 0x80, 0x05]);
        assert_eq!(ok.uint().unwrap(), BigUint::from(0x80u32));
        assert_eq!(ok.finish(), Err(CryptoError::InvalidDer("trailing bytes")));
    }

    /// A-3 (key files): written lengths and integers read back, including
    /// long-form lengths.
    #[test]
    fn der_writer_round_trips() {
        for len in [0usize, 1, 127, 128, 255, 256, 70000] {
            let x = if len == 0 {
                BigUint::from(0u32)
            } else {
                BigUint::from_bytes_be(&vec![0xA5; len])
            };
            let mut out = Vec::new();
            put_uint(&mut out, &x);
            let mut r = DerReader::new(&out);
            assert_eq!(r.uint().unwrap(), x);
            r.finish().unwrap();
        }
    }

    /// A-3 (key files): PEM framing errors are typed.
    #[test]
    fn pem_framing_errors() {
        let cases = [
            ("-----BEGIN X-----\nAAAA\n", "missing END line"),
            (
                "-----BEGIN X-----\nAAAA\n-----END Y-----\n",
                "END label does not match BEGIN label",
            ),
            (
                "-----BEGIN X-----\nA*AA\n-----END X-----\n",
                "invalid base64",
            ),
            (
                "-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END X-----\n",
                "PEM headers (e.g. encrypted keys) are not supported",
            ),
            (
                "-----BEGIN X-----\n-----BEGIN X-----\n-----END X-----\n",
                "unexpected armour line inside a block",
            ),
        ];
        for (text, why) in cases {
            assert_eq!(
                parse_pem(text).err(),
                Some(CryptoError::InvalidPem(why)),
                "{text}"
            );
        }
        let blocks =
            parse_pem("junk\n-----BEGIN A B-----\nAAEC\n-----END A B-----\nmore junk").unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "A B");
        assert_eq!(blocks[0].der, [0, 1, 2]);
        assert_eq!(
            to_pem("A B", &[0, 1, 2]),
            "-----BEGIN A B-----\nAAEC\n-----END A B-----\n"
        );
    }
}
