//! TL binary primitives (PROTOCOL.md B-1..B-10): a bounds-checked reader over a
//! borrowed buffer and append-only writers over `Vec<u8>`.
//!
//! Every read checks the remaining length first, so a malformed or hostile
//! buffer yields a [`TlError`] and never a panic or an out-of-bounds read.

use super::TlError;

/// Boxed `Vector t` constructor id (B-8).
pub const VECTOR_ID: u32 = 0x1cb5_c415;
/// `boolTrue` constructor id (B-9).
pub const BOOL_TRUE_ID: u32 = 0x9972_75b5;
/// `boolFalse` constructor id (B-9).
pub const BOOL_FALSE_ID: u32 = 0xbc79_9737;
/// Largest `bytes`/`string` length TL can express (B-4): 2^24 - 1.
pub const MAX_BYTES_LEN: usize = (1 << 24) - 1;

/// A cursor over TL-serialized bytes.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The unread rest of the buffer, without consuming it.
    pub fn peek_rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Consumes and returns everything that is left.
    pub fn read_rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        self.pos = self.buf.len();
        rest
    }

    /// Consumes exactly `n` bytes.
    pub fn read_raw(&mut self, n: usize) -> Result<&'a [u8], TlError> {
        if self.remaining() < n {
            return Err(TlError::UnexpectedEof {
                needed: n,
                remaining: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N], TlError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.read_raw(N)?);
        Ok(out)
    }

    pub fn read_u32(&mut self) -> Result<u32, TlError> {
        Ok(u32::from_le_bytes(self.read_array()?))
    }

    pub fn read_i32(&mut self) -> Result<i32, TlError> {
        Ok(i32::from_le_bytes(self.read_array()?))
    }

    pub fn read_i64(&mut self) -> Result<i64, TlError> {
        Ok(i64::from_le_bytes(self.read_array()?))
    }

    pub fn read_f64(&mut self) -> Result<f64, TlError> {
        Ok(f64::from_le_bytes(self.read_array()?))
    }

    /// `int128`: 16 opaque bytes, never byte-swapped (B-3).
    pub fn read_int128(&mut self) -> Result<[u8; 16], TlError> {
        self.read_array()
    }

    /// `int256`: 32 opaque bytes (B-3).
    pub fn read_int256(&mut self) -> Result<[u8; 32], TlError> {
        self.read_array()
    }

    /// Peeks the next constructor id without consuming it.
    pub fn peek_u32(&self) -> Result<u32, TlError> {
        self.clone().read_u32()
    }

    /// Reads a constructor id and checks it.
    pub fn expect_id(&mut self, expected: u32) -> Result<(), TlError> {
        let got = self.read_u32()?;
        if got != expected {
            return Err(TlError::UnexpectedConstructor { expected, got });
        }
        Ok(())
    }

    /// `bytes` (B-4, B-5): short or long length prefix, data, padding to 4.
    pub fn read_bytes(&mut self) -> Result<&'a [u8], TlError> {
        let first = self.read_raw(1)?[0];
        let (len, header) = match first {
            0..=253 => (first as usize, 1usize),
            254 => {
                let b = self.read_raw(3)?;
                (
                    b[0] as usize | (b[1] as usize) << 8 | (b[2] as usize) << 16,
                    4usize,
                )
            }
            255 => return Err(TlError::InvalidBytesPrefix),
        };
        let data = self.read_raw(len)?;
        let pad = (4 - (header + len) % 4) % 4;
        self.read_raw(pad)?;
        Ok(data)
    }

    /// `string`: like `bytes`, and the content must be UTF-8.
    pub fn read_string(&mut self) -> Result<String, TlError> {
        let raw = self.read_bytes()?;
        String::from_utf8(raw.to_vec()).map_err(|_| TlError::InvalidUtf8)
    }

    /// Boxed `Bool` (B-9).
    pub fn read_bool(&mut self) -> Result<bool, TlError> {
        match self.read_u32()? {
            BOOL_TRUE_ID => Ok(true),
            BOOL_FALSE_ID => Ok(false),
            got => Err(TlError::UnexpectedConstructor {
                expected: BOOL_TRUE_ID,
                got,
            }),
        }
    }

    /// Element count of a vector, bounded by what the buffer could hold
    /// (every element takes at least `min_elem` bytes), so a hostile count
    /// cannot make the caller pre-allocate gigabytes.
    pub fn read_count(&mut self, min_elem: usize) -> Result<usize, TlError> {
        let n = self.read_i32()?;
        if n < 0 {
            return Err(TlError::NegativeLength(n));
        }
        let n = n as usize;
        if min_elem > 0 && n > self.remaining() / min_elem {
            return Err(TlError::UnexpectedEof {
                needed: n.saturating_mul(min_elem),
                remaining: self.remaining(),
            });
        }
        Ok(n)
    }

    /// Boxed `Vector t` (B-8): id, count, elements read by `f`.
    pub fn read_vector<T>(
        &mut self,
        min_elem: usize,
        f: impl FnMut(&mut Self) -> Result<T, TlError>,
    ) -> Result<Vec<T>, TlError> {
        self.expect_id(VECTOR_ID)?;
        self.read_bare_vector(min_elem, f)
    }

    /// Bare `vector t` (B-8): count and elements, no id.
    pub fn read_bare_vector<T>(
        &mut self,
        min_elem: usize,
        mut f: impl FnMut(&mut Self) -> Result<T, TlError>,
    ) -> Result<Vec<T>, TlError> {
        let n = self.read_count(min_elem)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(f(self)?);
        }
        Ok(out)
    }
}

/// Appends TL primitives to a byte buffer.
pub trait Writer {
    fn put_raw(&mut self, data: &[u8]);
    fn put_u32(&mut self, v: u32) {
        self.put_raw(&v.to_le_bytes())
    }
    fn put_i32(&mut self, v: i32) {
        self.put_raw(&v.to_le_bytes())
    }
    fn put_i64(&mut self, v: i64) {
        self.put_raw(&v.to_le_bytes())
    }
    fn put_f64(&mut self, v: f64) {
        self.put_raw(&v.to_le_bytes())
    }
    fn put_bool(&mut self, v: bool) {
        self.put_u32(if v { BOOL_TRUE_ID } else { BOOL_FALSE_ID })
    }
    /// `bytes`/`string` (B-4). Lengths above 2^24-1 cannot be expressed; the
    /// caller must reject them first ([`check_bytes_len`]). Here they are
    /// truncated to the expressible prefix rather than producing a corrupt frame.
    fn put_bytes(&mut self, data: &[u8]) {
        let data = &data[..data.len().min(MAX_BYTES_LEN)];
        let len = data.len();
        let header = if len <= 253 {
            self.put_raw(&[len as u8]);
            1
        } else {
            self.put_raw(&[254, len as u8, (len >> 8) as u8, (len >> 16) as u8]);
            4
        };
        self.put_raw(data);
        let pad = (4 - (header + len) % 4) % 4;
        self.put_raw(&[0u8; 3][..pad]);
    }
    fn put_string(&mut self, s: &str) {
        self.put_bytes(s.as_bytes())
    }
    /// Boxed vector header: id + count.
    fn put_vector_header(&mut self, count: usize) {
        self.put_u32(VECTOR_ID);
        self.put_i32(count as i32);
    }
}

impl Writer for Vec<u8> {
    #[inline]
    fn put_raw(&mut self, data: &[u8]) {
        self.extend_from_slice(data)
    }
}

/// Rejects a `bytes` value TL cannot carry (B-4: at most 2^24 - 1 bytes).
pub fn check_bytes_len(len: usize) -> Result<(), TlError> {
    if len > MAX_BYTES_LEN {
        Err(TlError::TooLong(len))
    } else {
        Ok(())
    }
}

/// Serialized size of a `bytes` value of length `len`, padding included.
pub fn bytes_len(len: usize) -> usize {
    let header = if len <= 253 { 1 } else { 4 };
    (header + len).div_ceil(4) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.put_bytes(data);
        v
    }

    /// B-4, TV §7.1: short and long string forms and their padding.
    #[test]
    fn b4_string_encodings() {
        assert_eq!(enc(b""), hex::decode("00000000").unwrap());
        assert_eq!(enc(b"a"), hex::decode("01610000").unwrap());
        assert_eq!(enc(b"abc"), hex::decode("03616263").unwrap());
        assert_eq!(enc(b"abcd"), hex::decode("0461626364000000").unwrap());
        let e = enc(&[0x41; 253]);
        assert_eq!(e.len(), 256);
        assert_eq!(&e[..4], &[0xFD, 0x41, 0x41, 0x41]);
        assert_eq!(&e[252..], &[0x41, 0x41, 0, 0]);
        let e = enc(&[0x41; 254]);
        assert_eq!(e.len(), 260);
        assert_eq!(&e[..4], &[0xFE, 0xFE, 0, 0]);
        let e = enc(&[7; 256]);
        assert_eq!(e.len(), 260);
        assert_eq!(&e[..4], &[0xFE, 0x00, 0x01, 0x00]);
        for len in [0usize, 1, 2, 3, 4, 253, 254, 255, 256, 1000] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let e = enc(&data);
            assert_eq!(e.len() % 4, 0, "B-1: multiple of 4");
            assert_eq!(e.len(), bytes_len(len));
            let mut r = Reader::new(&e);
            assert_eq!(r.read_bytes().unwrap(), &data[..]);
            assert_eq!(r.remaining(), 0);
        }
    }

    /// B-5: 0xFF prefix is invalid; declared lengths are bounds-checked.
    #[test]
    fn b5_bad_strings_are_errors() {
        assert_eq!(
            Reader::new(&[0xFF, 0, 0, 0]).read_bytes(),
            Err(TlError::InvalidBytesPrefix)
        );
        assert!(matches!(
            Reader::new(&[0x10, 1, 2, 3]).read_bytes(),
            Err(TlError::UnexpectedEof { .. })
        ));
        assert!(matches!(
            Reader::new(&[0xFE, 0xFF, 0xFF, 0xFF]).read_bytes(),
            Err(TlError::UnexpectedEof { .. })
        ));
        assert_eq!(
            Reader::new(&[2, 0xC3, 0x28, 0]).read_string(),
            Err(TlError::InvalidUtf8)
        );
    }

    /// B-2, B-9: numbers are little-endian; Bool is a boxed constructor.
    #[test]
    fn b2_b9_numbers_and_bool() {
        let mut v = Vec::new();
        v.put_i32(-2);
        v.put_i64(0x1122334455667788);
        v.put_f64(1.5);
        v.put_bool(true);
        v.put_bool(false);
        assert_eq!(&v[..4], &[0xFE, 0xFF, 0xFF, 0xFF]);
        assert_eq!(&v[4..12], &[0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
        assert_eq!(&v[20..28], &hex::decode("B5757299379779BC").unwrap()[..]);
        let mut r = Reader::new(&v);
        assert_eq!(r.read_i32().unwrap(), -2);
        assert_eq!(r.read_i64().unwrap(), 0x1122334455667788);
        assert_eq!(r.read_f64().unwrap(), 1.5);
        assert!(r.read_bool().unwrap());
        assert!(!r.read_bool().unwrap());
        assert!(Reader::new(&[1, 2, 3, 4]).read_bool().is_err());
    }

    /// B-8, TV §4: boxed Vector of ints in the published getUsers example.
    #[test]
    fn b8_boxed_vector() {
        let mut v = Vec::new();
        v.put_u32(0x2d84d5f5);
        v.put_vector_header(3);
        for x in [2, 3, 4] {
            v.put_i32(x);
        }
        assert_eq!(
            v,
            hex::decode("F5D5842D15C4B51C03000000020000000300000004000000").unwrap()
        );
        let mut r = Reader::new(&v[4..]);
        assert_eq!(r.read_vector(4, |r| r.read_i32()).unwrap(), vec![2, 3, 4]);
        // A count the buffer cannot hold is rejected before allocating.
        let mut bad = Vec::new();
        bad.put_vector_header(0x7fff_ffff);
        assert!(Reader::new(&bad).read_vector(4, |r| r.read_i32()).is_err());
        let mut neg = Vec::new();
        neg.put_vector_header(0);
        neg[4..8].copy_from_slice(&(-1i32).to_le_bytes());
        assert_eq!(
            Reader::new(&neg).read_vector(4, |r| r.read_i32()),
            Err(TlError::NegativeLength(-1))
        );
    }
}
