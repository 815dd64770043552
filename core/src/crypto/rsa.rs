//! RSA as MTProto uses it: raw ("textbook") RSA under the RSA_PAD scheme of
//! the key exchange and under the older SHA1-prefixed format,
//! key fingerprints, PEM key files, and key generation for the test
//! server.
//!
//! MTProto brings its own padding, so there is no PKCS#1 v1.5 or OAEP here.
//! Private-key operations use the CRT with `num-bigint`, whose arithmetic is
//! not constant-time: fine for a local test server, not for a production
//! server exposed to timing measurements.

use core::fmt;

use num_bigint::BigUint;
use num_integer::Integer;
use num_traits::{One, Zero};
use rand::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;

use super::dh::{to_be_256, write_be};
use super::encoding::{
    parse_pem, put_tlv, put_uint, to_pem, DerReader, TAG_BIT_STRING, TAG_NULL, TAG_OID,
    TAG_SEQUENCE,
};
use super::hash::{sha1, sha256};
use super::ige::{ige_decrypt, ige_encrypt};
use super::prime::random_prime;
use super::CryptoError;
use crate::tl::Writer;

/// Largest `data` RSA_PAD accepts (A-8 step 1).
pub const RSA_PAD_MAX_DATA: usize = 144;
/// `data_with_padding` length in RSA_PAD (A-8 step 2).
pub const RSA_PAD_PADDED_LEN: usize = 192;
/// Largest `data` the legacy SHA1-prefixed format accepts: 255 - 20.
pub const LEGACY_MAX_DATA: usize = 235;
/// How many temp_keys [`rsa_pad_encrypt`] tries before giving up. Each try
/// succeeds with probability > 1/2 for a 2048-bit modulus, so running out
/// means the RNG is broken.
const RSA_PAD_ATTEMPTS: usize = 64;

/// DER of the rsaEncryption OID, 1.2.840.113549.1.1.1.
const RSA_ENCRYPTION_OID: [u8; 9] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];

/// The public exponent of generated keys.
const E: u32 = 65537;

fn not_below_modulus() -> CryptoError {
    CryptoError::NotBelowModulus
}

/// An RSA public key `(n, e)`.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    n: BigUint,
    e: BigUint,
}

impl RsaPublicKey {
    /// Validates and wraps a modulus and exponent: n odd with 512 to 16384
    /// bits, e odd with 1 < e < n. (Rejecting these up front keeps every
    /// later operation free of zero or even moduli.)
    pub fn new(n: BigUint, e: BigUint) -> Result<Self, CryptoError> {
        if !(512..=16384).contains(&n.bits()) || n.is_even() {
            return Err(CryptoError::InvalidKey(
                "modulus must be odd with 512 to 16384 bits",
            ));
        }
        if e <= BigUint::one() || e.is_even() || e >= n {
            return Err(CryptoError::InvalidKey(
                "exponent must be odd and in (1, n)",
            ));
        }
        Ok(RsaPublicKey { n, e })
    }

    /// The modulus.
    pub fn n(&self) -> &BigUint {
        &self.n
    }

    /// The public exponent.
    pub fn e(&self) -> &BigUint {
        &self.e
    }

    /// Modulus length in bytes (256 for the 2048-bit keys MTProto uses).
    pub fn size(&self) -> usize {
        self.n.bits().div_ceil(8) as usize
    }

    /// Parses PKCS#1 `RSAPublicKey` DER: `SEQUENCE { n INTEGER, e INTEGER }`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, CryptoError> {
        let mut outer = DerReader::new(der);
        let mut seq = DerReader::new(outer.expect(TAG_SEQUENCE)?);
        outer.finish()?;
        let n = seq.uint()?;
        let e = seq.uint()?;
        seq.finish()?;
        Self::new(n, e)
    }

    /// Parses X.509 `SubjectPublicKeyInfo` DER (`BEGIN PUBLIC KEY`) holding
    /// an rsaEncryption key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, CryptoError> {
        let mut outer = DerReader::new(der);
        let mut spki = DerReader::new(outer.expect(TAG_SEQUENCE)?);
        outer.finish()?;
        let mut alg = DerReader::new(spki.expect(TAG_SEQUENCE)?);
        if alg.expect(TAG_OID)? != RSA_ENCRYPTION_OID {
            return Err(CryptoError::InvalidDer("not an rsaEncryption key"));
        }
        // The parameters must be NULL; some encoders omit them.
        if !alg.is_empty() && !alg.expect(TAG_NULL)?.is_empty() {
            return Err(CryptoError::InvalidDer(
                "rsaEncryption parameters are not NULL",
            ));
        }
        alg.finish()?;
        let bits = spki.expect(TAG_BIT_STRING)?;
        spki.finish()?;
        match bits {
            [0, pkcs1 @ ..] => Self::from_pkcs1_der(pkcs1),
            _ => Err(CryptoError::InvalidDer("BIT STRING with unused bits")),
        }
    }

    /// Parses a PEM text holding exactly one public key, in PKCS#1
    /// (`RSA PUBLIC KEY`) or SPKI (`PUBLIC KEY`) form.
    pub fn from_pem(text: &str) -> Result<Self, CryptoError> {
        let mut keys = parse_pem_bundle(text)?;
        match keys.len() {
            1 => Ok(keys.remove(0)),
            _ => Err(CryptoError::InvalidPem("expected exactly one key")),
        }
    }

    /// PKCS#1 `RSAPublicKey` DER.
    pub fn to_pkcs1_der(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.size() + 16);
        put_uint(&mut body, &self.n);
        put_uint(&mut body, &self.e);
        let mut out = Vec::with_capacity(body.len() + 4);
        put_tlv(&mut out, TAG_SEQUENCE, &body);
        out
    }

    /// `-----BEGIN RSA PUBLIC KEY-----` PEM, the form Telegram publishes.
    pub fn to_pkcs1_pem(&self) -> String {
        to_pem("RSA PUBLIC KEY", &self.to_pkcs1_der())
    }

    /// The key fingerprint announced in resPQ (A-3, B-14): the last 8 bytes
    /// of SHA1 over the bare TL `rsa_public_key n:bytes e:bytes` (both
    /// minimal big-endian), read as a little-endian `long`.
    pub fn fingerprint(&self) -> i64 {
        let mut tl = Vec::with_capacity(self.size() + 12);
        tl.put_bytes(&self.n.to_bytes_be());
        tl.put_bytes(&self.e.to_bytes_be());
        let h = sha1(&[&tl]);
        let mut fp = [0u8; 8];
        fp.copy_from_slice(&h[12..]);
        i64::from_le_bytes(fp)
    }

    /// Raw RSA: `m^e mod n` for a big-endian `m < n`, written as
    /// [`size`](Self::size) big-endian bytes.
    pub fn encrypt_raw(&self, m: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let m = BigUint::from_bytes_be(m);
        if m >= self.n {
            return Err(not_below_modulus());
        }
        let mut out = vec![0u8; self.size()];
        write_be(&m.modpow(&self.e, &self.n), &mut out)?;
        Ok(out)
    }

    fn require_2048(&self, what: &'static str) -> Result<(), CryptoError> {
        if self.n.bits() == 2048 {
            Ok(())
        } else {
            Err(CryptoError::InvalidKey(what))
        }
    }
}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPublicKey")
            .field("bits", &self.n.bits())
            .field(
                "fingerprint",
                &format_args!("{:#018x}", self.fingerprint() as u64),
            )
            .finish()
    }
}

/// Telegram's published RSA public keys (the test-DC key, then the
/// production key; TV §3), as PEM. A session that connects to Telegram's
/// own data centers passes this as its public key bundle.
pub const TELEGRAM_PUBLIC_KEYS_PEM: &str = include_str!("../../keys/telegram-public-keys.pem");

/// Parses every public key of a PEM file (e.g. Telegram's test and
/// production keys in one file). Each block must be `RSA PUBLIC KEY` or
/// `PUBLIC KEY`; a file without any block is an error.
pub fn parse_pem_bundle(text: &str) -> Result<Vec<RsaPublicKey>, CryptoError> {
    let blocks = parse_pem(text)?;
    if blocks.is_empty() {
        return Err(CryptoError::InvalidPem("no PEM block found"));
    }
    blocks
        .iter()
        .map(|b| match b.label.as_str() {
            "RSA PUBLIC KEY" => RsaPublicKey::from_pkcs1_der(&b.der),
            "PUBLIC KEY" => RsaPublicKey::from_spki_der(&b.der),
            _ => Err(CryptoError::InvalidPem("not a public key block")),
        })
        .collect()
}

/// RSA_PAD: encrypts up to 144 bytes of handshake inner data under a
/// 2048-bit server key. Random padding and temp_key come from `rng` (G-6);
/// a temp_key whose result is not below n is replaced, as the spec says.
pub fn rsa_pad_encrypt<R: RngCore + CryptoRng>(
    data: &[u8],
    key: &RsaPublicKey,
    rng: &mut R,
) -> Result<[u8; 256], CryptoError> {
    check_pad_data(data)?;
    let mut padding = [0u8; RSA_PAD_PADDED_LEN];
    let padding = &mut padding[..RSA_PAD_PADDED_LEN - data.len()];
    rng.fill_bytes(padding);
    for _ in 0..RSA_PAD_ATTEMPTS {
        let mut temp_key = [0u8; 32];
        rng.fill_bytes(&mut temp_key);
        if let Some(out) = rsa_pad_encrypt_with(data, padding, &temp_key, key)? {
            return Ok(out);
        }
    }
    Err(CryptoError::RetryLimit(
        "RSA_PAD found no temp_key below the modulus",
    ))
}

fn check_pad_data(data: &[u8]) -> Result<(), CryptoError> {
    if data.len() > RSA_PAD_MAX_DATA {
        return Err(CryptoError::DataTooLong {
            len: data.len(),
            max: RSA_PAD_MAX_DATA,
        });
    }
    Ok(())
}

/// The deterministic core of RSA_PAD (A-8 steps 1–10) with the random parts
/// given: `padding` completes `data` to 192 bytes. Returns `Ok(None)` when
/// `key_aes_encrypted >= n` (step 9): the caller must pick a new temp_key.
/// Reproduces TV §7.6.
pub fn rsa_pad_encrypt_with(
    data: &[u8],
    padding: &[u8],
    temp_key: &[u8; 32],
    key: &RsaPublicKey,
) -> Result<Option<[u8; 256]>, CryptoError> {
    check_pad_data(data)?;
    if data.len() + padding.len() != RSA_PAD_PADDED_LEN {
        return Err(CryptoError::InvalidLength {
            what: "RSA_PAD data + padding",
            expected: RSA_PAD_PADDED_LEN,
            got: data.len() + padding.len(),
        });
    }
    key.require_2048("RSA_PAD needs a 2048-bit modulus")?;

    let mut data_with_padding = [0u8; RSA_PAD_PADDED_LEN];
    data_with_padding[..data.len()].copy_from_slice(data);
    data_with_padding[data.len()..].copy_from_slice(padding);

    // buf = temp_key_xor (32) + aes_encrypted (224); aes_encrypted starts
    // as data_with_hash = reversed(data_with_padding) + SHA256(temp_key + data_with_padding).
    let mut buf = [0u8; 256];
    for (dst, src) in buf[32..224].iter_mut().zip(data_with_padding.iter().rev()) {
        *dst = *src;
    }
    buf[224..].copy_from_slice(&sha256(&[temp_key, &data_with_padding]));
    ige_encrypt(&mut buf[32..], temp_key, &[0u8; 32])?;
    let h = sha256(&[&buf[32..]]);
    for (i, b) in buf[..32].iter_mut().enumerate() {
        *b = temp_key[i] ^ h[i];
    }

    let m = BigUint::from_bytes_be(&buf);
    if m >= key.n {
        return Ok(None);
    }
    Ok(Some(to_be_256(&m.modpow(&key.e, &key.n))?))
}

/// The SHA1-prefixed format of older clients: raw RSA over
/// `SHA1(data) + data + random padding` (255 bytes) under a 2048-bit key.
pub fn rsa_legacy_encrypt<R: RngCore + CryptoRng>(
    data: &[u8],
    key: &RsaPublicKey,
    rng: &mut R,
) -> Result<[u8; 256], CryptoError> {
    if data.len() > LEGACY_MAX_DATA {
        return Err(CryptoError::DataTooLong {
            len: data.len(),
            max: LEGACY_MAX_DATA,
        });
    }
    key.require_2048("legacy RSA encryption needs a 2048-bit modulus")?;
    let mut block = [0u8; 255];
    block[..20].copy_from_slice(&sha1(&[data]));
    block[20..20 + data.len()].copy_from_slice(data);
    rng.fill_bytes(&mut block[20 + data.len()..]);
    // 255 bytes < 2^2040 < n, so no reduction and no retry is needed.
    let m = BigUint::from_bytes_be(&block);
    to_be_256(&m.modpow(&key.e, &key.n))
}

/// An RSA private key with its CRT values, as the test server holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPrivateKey {
    n: BigUint,
    e: BigUint,
    d: BigUint,
    p: BigUint,
    q: BigUint,
    dp: BigUint,
    dq: BigUint,
    qinv: BigUint,
}

impl RsaPrivateKey {
    /// Generates a key with an exactly `bits`-bit modulus and e = 65537
    /// (`bits` even, 512 to 16384; MTProto uses 2048). Primes come from
    /// [`random_prime`] with randomness from `rng`.
    pub fn generate<R: RngCore + CryptoRng>(bits: u64, rng: &mut R) -> Result<Self, CryptoError> {
        if !(512..=16384).contains(&bits) || bits % 2 != 0 {
            return Err(CryptoError::InvalidArgument(
                "RSA key size must be an even number of bits in 512..=16384",
            ));
        }
        let e = BigUint::from(E);
        loop {
            let p = random_prime(bits / 2, rng)?;
            let q = random_prime(bits / 2, rng)?;
            if p == q {
                continue;
            }
            let (p1, q1) = (&p - 1u32, &q - 1u32);
            // e is prime, so gcd(e, p-1) = 1 unless e divides p-1.
            if (&p1 % &e).is_zero() || (&q1 % &e).is_zero() {
                continue;
            }
            let Some(d) = e.modinv(&p1.lcm(&q1)) else {
                continue;
            };
            let n = &p * &q;
            if n.bits() != bits {
                continue;
            }
            return Self::from_components(n, e, d, p, q);
        }
    }

    /// Builds a key from n, e, d, p, q, deriving the CRT values and checking
    /// that the parts agree.
    fn from_components(
        n: BigUint,
        e: BigUint,
        d: BigUint,
        p: BigUint,
        q: BigUint,
    ) -> Result<Self, CryptoError> {
        let inconsistent = || CryptoError::InvalidKey("private key components are inconsistent");
        let two = BigUint::from(2u32);
        if p <= two || q <= two || p == q || &p * &q != n {
            return Err(inconsistent());
        }
        RsaPublicKey::new(n.clone(), e.clone())?;
        let (p1, q1) = (&p - 1u32, &q - 1u32);
        let ed = &e * &d;
        if !(&ed % &p1).is_one() || !(&ed % &q1).is_one() {
            return Err(inconsistent());
        }
        let qinv = q.modinv(&p).ok_or_else(inconsistent)?;
        Ok(RsaPrivateKey {
            dp: &d % &p1,
            dq: &d % &q1,
            qinv,
            n,
            e,
            d,
            p,
            q,
        })
    }

    /// Modulus length in bytes.
    fn size(&self) -> usize {
        self.n.bits().div_ceil(8) as usize
    }

    /// The matching public key.
    pub fn public(&self) -> RsaPublicKey {
        RsaPublicKey {
            n: self.n.clone(),
            e: self.e.clone(),
        }
    }

    /// Parses PKCS#1 `RSAPrivateKey` DER (two-prime, version 0). The stored
    /// CRT values must match the ones derived from d, p and q.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, CryptoError> {
        let mut outer = DerReader::new(der);
        let mut seq = DerReader::new(outer.expect(TAG_SEQUENCE)?);
        outer.finish()?;
        if !seq.uint()?.is_zero() {
            return Err(CryptoError::InvalidDer("unsupported RSAPrivateKey version"));
        }
        let mut next = || seq.uint();
        let (n, e, d, p, q) = (next()?, next()?, next()?, next()?, next()?);
        let (dp, dq, qinv) = (next()?, next()?, next()?);
        seq.finish()?;
        let key = Self::from_components(n, e, d, p, q)?;
        if key.dp != dp || key.dq != dq || key.qinv != qinv {
            return Err(CryptoError::InvalidKey(
                "private key components are inconsistent",
            ));
        }
        Ok(key)
    }

    /// Parses a `-----BEGIN RSA PRIVATE KEY-----` PEM holding one key.
    pub fn from_pkcs1_pem(text: &str) -> Result<Self, CryptoError> {
        let blocks = parse_pem(text)?;
        match blocks.as_slice() {
            [b] if b.label == "RSA PRIVATE KEY" => Self::from_pkcs1_der(&b.der),
            [_] => Err(CryptoError::InvalidPem("not an RSA PRIVATE KEY block")),
            _ => Err(CryptoError::InvalidPem("expected exactly one key")),
        }
    }

    /// PKCS#1 `RSAPrivateKey` DER.
    pub fn to_pkcs1_der(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(5 * self.size());
        for x in [
            &BigUint::zero(),
            &self.n,
            &self.e,
            &self.d,
            &self.p,
            &self.q,
            &self.dp,
            &self.dq,
            &self.qinv,
        ] {
            put_uint(&mut body, x);
        }
        let mut out = Vec::with_capacity(body.len() + 4);
        put_tlv(&mut out, TAG_SEQUENCE, &body);
        out
    }

    /// `-----BEGIN RSA PRIVATE KEY-----` PEM.
    pub fn to_pkcs1_pem(&self) -> String {
        to_pem("RSA PRIVATE KEY", &self.to_pkcs1_der())
    }

    /// `c^d mod n` via the CRT (Garner's formula).
    fn decrypt_big(&self, c: &BigUint) -> BigUint {
        let m1 = c.modpow(&self.dp, &self.p);
        let m2 = c.modpow(&self.dq, &self.q);
        let m2p = &m2 % &self.p;
        let diff = if m1 >= m2p {
            m1 - m2p
        } else {
            m1 + &self.p - m2p
        };
        let h = (&self.qinv * diff) % &self.p;
        m2 + h * &self.q
    }

    fn decrypt_checked(&self, c: &[u8]) -> Result<BigUint, CryptoError> {
        let c = BigUint::from_bytes_be(c);
        if c >= self.n {
            return Err(not_below_modulus());
        }
        Ok(self.decrypt_big(&c))
    }

    /// Raw RSA: `c^d mod n` for a big-endian `c < n`, written as the
    /// modulus length in big-endian bytes.
    pub fn decrypt_raw(&self, c: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let m = self.decrypt_checked(c)?;
        let mut out = vec![0u8; self.size()];
        write_be(&m, &mut out)?;
        Ok(out)
    }

    fn check_block(&self, encrypted: &[u8], what: &'static str) -> Result<BigUint, CryptoError> {
        if encrypted.len() != 256 {
            return Err(CryptoError::InvalidLength {
                what,
                expected: 256,
                got: encrypted.len(),
            });
        }
        if self.n.bits() != 2048 {
            return Err(CryptoError::InvalidKey(
                "MTProto RSA blocks need a 2048-bit key",
            ));
        }
        self.decrypt_checked(encrypted)
    }

    /// Reverse RSA_PAD, server side: returns `data_with_padding`
    /// (192 bytes) once its SHA-256 has been verified. The caller parses the
    /// TL inner data from its start; the tail is random padding. A
    /// ciphertext not below n is rejected before any exponentiation.
    pub fn rsa_pad_decrypt(
        &self,
        encrypted: &[u8],
    ) -> Result<[u8; RSA_PAD_PADDED_LEN], CryptoError> {
        let m = self.check_block(encrypted, "RSA_PAD ciphertext")?;
        let mut buf = to_be_256(&m)?;
        let h = sha256(&[&buf[32..]]);
        let mut temp_key = [0u8; 32];
        for (i, t) in temp_key.iter_mut().enumerate() {
            *t = buf[i] ^ h[i];
        }
        ige_decrypt(&mut buf[32..], &temp_key, &[0u8; 32])?;
        let mut data_with_padding = [0u8; RSA_PAD_PADDED_LEN];
        for (dst, src) in data_with_padding.iter_mut().zip(buf[32..224].iter().rev()) {
            *dst = *src;
        }
        let expected = sha256(&[&temp_key, &data_with_padding]);
        if !bool::from(expected[..].ct_eq(&buf[224..])) {
            return Err(CryptoError::HashMismatch);
        }
        Ok(data_with_padding)
    }

    /// Decrypts the legacy SHA1-prefixed format and returns the 255-byte
    /// `SHA1(data) + data + padding`. The data length is only known once the
    /// caller has parsed the TL inside, so the caller checks the SHA1.
    pub fn legacy_decrypt(&self, encrypted: &[u8]) -> Result<[u8; 255], CryptoError> {
        let m = self.check_block(encrypted, "legacy RSA ciphertext")?;
        let buf = to_be_256(&m)?;
        if buf[0] != 0 {
            return Err(CryptoError::DecryptFailed(
                "legacy RSA block is wider than 255 bytes",
            ));
        }
        let mut out = [0u8; 255];
        out.copy_from_slice(&buf[1..]);
        Ok(out)
    }
}

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Public facts only.
        f.debug_struct("RsaPrivateKey")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_util::{arr, unhex};
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::sync::OnceLock;

    const KEYS_PEM: &str = TELEGRAM_PUBLIC_KEYS_PEM;
    const PROD_FP: i64 = 0xd09d1d85de64fd85u64 as i64;
    const TEST_FP: i64 = 0xb25898df208d2603u64 as i64;

    fn rng(seed: u64) -> StdRng {
        StdRng::seed_from_u64(seed)
    }

    fn bundle() -> Vec<RsaPublicKey> {
        parse_pem_bundle(KEYS_PEM).unwrap()
    }

    fn prod_key() -> RsaPublicKey {
        bundle()
            .into_iter()
            .find(|k| k.fingerprint() == PROD_FP)
            .unwrap()
    }

    /// One 2048-bit key per test run (generation takes a moment).
    fn server_key() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| RsaPrivateKey::generate(2048, &mut rng(2048)).unwrap())
    }

    /// TV §1.4: p_q_inner_data_dc and its random padding.
    const INNER: &str = "955FF5A908130B7475669FEB8B0000000444095E050000000447A8C84F00000079F0AFB50252E5FC96924BFCECDA4F05801775A3EFBFD2701AA28AD727BE4646264F835B0B7BDFF9C6ED6CF819FD6DF5DCD17E90D67ADD2C2C1E3775C7A6A0AC02000000";
    const INNER_PADDING: &str = "C1C3E221C1EAECF4788AC3FEA0DECFEFD0E81AE6C6A1AB2AB8729D0634E08A3A12A9D53E06134F87B74BBD9EC90793B091C7FBF4CDBCBE4536397902388D4F68EBAA138CCD068244DB026332B7FC17E5DFAC09E7A71FA5353E3EEBDC";

    /// A-3, TV §3: the bundled key file holds the test and the production
    /// key with exactly these fingerprints.
    #[test]
    fn a3_fingerprints_of_bundled_pem() {
        let fps: Vec<i64> = bundle().iter().map(RsaPublicKey::fingerprint).collect();
        assert_eq!(fps, [TEST_FP, PROD_FP]);
        // Wire order of the production fingerprint (LE long): 85FD64DE851D9DD0.
        assert_eq!(PROD_FP.to_le_bytes(), arr::<8>("85FD64DE851D9DD0"));
    }

    /// A-3, B-6, TV §3: n and e of the production key, and the SHA1 over its
    /// TL serialisation.
    #[test]
    fn a3_production_key_matches_tv_3() {
        let k = prod_key();
        assert_eq!(k.n().to_bytes_be(), unhex("E8BB3305C0B52C6CF2AFDF7637313489E63E05268E5BADB601AF417786472E5F93B85438968E20E6729A301C0AFC121BF7151F834436F7FDA680847A66BF64ACCEC78EE21C0B316F0EDAFE2F41908DA7BD1F4A5107638EEB67040ACE472A14F90D9F7C2B7DEF99688BA3073ADB5750BB02964902A359FE745D8170E36876D4FD8A5D41B2A76CBFF9A13267EB9580B2D06D10357448D20D9DA2191CB5D8C93982961CDFDEDA629E37F1FB09A0722027696032FE61ED663DB7A37F6F263D370F69DB53A0DC0A1748BDAAFF6209D5645485E6E001D1953255757E4B8E42813347B11DA6AB500FD0ACE7E6DFA3736199CCAF9397ED0745A427DCFA6CD67BCB1ACFF3"));
        assert_eq!(*k.e(), BigUint::from(65537u32));
        let mut tl = Vec::new();
        tl.put_bytes(&k.n().to_bytes_be());
        tl.put_bytes(&k.e().to_bytes_be());
        assert_eq!(tl[..4], [0xFE, 0x00, 0x01, 0x00]);
        assert_eq!(tl[260..], [0x03, 0x01, 0x00, 0x01]);
        assert_eq!(
            sha1(&[&tl]),
            arr::<20>("0E654FA95E8A12079ADA852085FD64DE851D9DD0")
        );
        assert_eq!(
            format!("{k:?}"),
            "RsaPublicKey { bits: 2048, fingerprint: 0xd09d1d85de64fd85 }"
        );
    }

    /// writing each key back as PKCS#1 PEM reproduces the file's blocks,
    /// and the SPKI wrapping of a key parses to the same key.
    #[test]
    fn a3_pem_round_trip_and_spki() {
        let keys = bundle();
        let rebuilt: String = keys.iter().map(RsaPublicKey::to_pkcs1_pem).collect();
        assert_eq!(rebuilt.trim_end(), KEYS_PEM.trim_end());
        for k in &keys {
            assert_eq!(RsaPublicKey::from_pem(&k.to_pkcs1_pem()).unwrap(), *k);
            // SubjectPublicKeyInfo = SEQ { SEQ { OID, NULL }, BIT STRING { 0, pkcs1 } }.
            let mut alg = Vec::new();
            put_tlv(&mut alg, TAG_OID, &RSA_ENCRYPTION_OID);
            put_tlv(&mut alg, TAG_NULL, &[]);
            let mut bits = vec![0u8];
            bits.extend_from_slice(&k.to_pkcs1_der());
            let mut body = Vec::new();
            put_tlv(&mut body, TAG_SEQUENCE, &alg);
            put_tlv(&mut body, TAG_BIT_STRING, &bits);
            let mut spki = Vec::new();
            put_tlv(&mut spki, TAG_SEQUENCE, &body);
            let pem = to_pem("PUBLIC KEY", &spki);
            assert_eq!(RsaPublicKey::from_pem(&pem).unwrap(), *k);
        }
    }

    /// malformed or unsupported key files give typed errors.
    #[test]
    fn a3_rejects_malformed_key_files() {
        assert_eq!(
            parse_pem_bundle("").err(),
            Some(CryptoError::InvalidPem("no PEM block found"))
        );
        assert_eq!(
            RsaPublicKey::from_pem(KEYS_PEM).err(),
            Some(CryptoError::InvalidPem("expected exactly one key"))
        );
        let private = to_pem("RSA PRIVATE KEY", &[0x30, 0x00]);
        assert_eq!(
            parse_pem_bundle(&private).err(),
            Some(CryptoError::InvalidPem("not a public key block"))
        );
        // Trailing garbage inside the DER.
        let mut der = prod_key().to_pkcs1_der();
        der.push(0);
        assert_eq!(
            RsaPublicKey::from_pkcs1_der(&der).err(),
            Some(CryptoError::InvalidDer("trailing bytes"))
        );
        // Truncated DER.
        let der = prod_key().to_pkcs1_der();
        assert_eq!(
            RsaPublicKey::from_pkcs1_der(&der[..100]).err(),
            Some(CryptoError::InvalidDer("truncated"))
        );
        // An even modulus or a tiny exponent is not a key.
        assert!(matches!(
            RsaPublicKey::new(prod_key().n() + 1u32, BigUint::from(65537u32)),
            Err(CryptoError::InvalidKey(_))
        ));
        assert!(matches!(
            RsaPublicKey::new(prod_key().n().clone(), BigUint::one()),
            Err(CryptoError::InvalidKey(_))
        ));
    }

    proptest! {
        /// no byte string makes the key parsers panic.
        #[test]
        fn der_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = RsaPublicKey::from_pkcs1_der(&bytes);
            let _ = RsaPublicKey::from_spki_der(&bytes);
            let _ = RsaPrivateKey::from_pkcs1_der(&bytes);
        }

        /// corrupting one byte of a valid key never panics the parser.
        #[test]
        fn der_parsers_survive_corruption(pos in 0usize..270, val in any::<u8>()) {
            let mut der = prod_key().to_pkcs1_der();
            let pos = pos % der.len();
            der[pos] = val;
            let _ = RsaPublicKey::from_pkcs1_der(&der);
        }
    }

    /// A-8, TV §7.6: RSA_PAD with the published data, padding and a fixed
    /// temp_key reproduces encrypted_data byte for byte.
    #[test]
    fn a8_rsa_pad_matches_tv_7_6() {
        let temp_key: [u8; 32] =
            arr("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
        let out =
            rsa_pad_encrypt_with(&unhex(INNER), &unhex(INNER_PADDING), &temp_key, &prod_key())
                .unwrap()
                .expect("TV §7.6 needs no retry");
        assert_eq!(out, arr::<256>("10A5CBD419AA6FA818EB05A7CEC705CBCAA7BBD0FDDDFC4DBF8278FE8E289073E5630B558FF8F6FF5529EDA32002A29B1C4BAEC2235D4FBBD9D0CBA55FD7E819028758B27C20F4EC0E2D9D0CC4B237303A36717B80E6141EDB885530B000FA88D362E11DB2A512767B84BF447E98261DAFEBD6559D2A3DC007AE8191CBF4D138E2F7EF20571D551717FD15584A7BA9320D99DA688E9D212CBA1D7ECA570EB2D2BD49237A9B0C1828878983BCC00FB756C4E80EB952F5863120B2D54D9FD60F2F820B6ABC6DC38BF4EF322BB7736359A44B3D1F0B1D99A5947283337B34B17FE21EE524BBF3451EE3D5664BAC1E29EC5ADD01AA529101141F5A2F803DFF743962"));
    }

    /// A-8 step 1: more than 144 bytes of data is refused; data + padding
    /// must be exactly 192 bytes; the key must be 2048-bit.
    #[test]
    fn a8_rsa_pad_input_limits() {
        let key = prod_key();
        assert_eq!(
            rsa_pad_encrypt(&[0u8; 145], &key, &mut rng(1)),
            Err(CryptoError::DataTooLong { len: 145, max: 144 })
        );
        assert!(rsa_pad_encrypt(&[0u8; 144], &key, &mut rng(1)).is_ok());
        assert!(rsa_pad_encrypt(&[], &key, &mut rng(1)).is_ok());
        assert_eq!(
            rsa_pad_encrypt_with(&[0u8; 100], &[0u8; 91], &[0u8; 32], &key),
            Err(CryptoError::InvalidLength {
                what: "RSA_PAD data + padding",
                expected: 192,
                got: 191
            })
        );
        let small = RsaPrivateKey::generate(1024, &mut rng(5)).unwrap().public();
        assert!(matches!(
            rsa_pad_encrypt(&[1, 2, 3], &small, &mut rng(1)),
            Err(CryptoError::InvalidKey(_))
        ));
    }

    /// A-8 step 9: some temp_keys give key_aes_encrypted >= n (about 9 % for
    /// the production key, whose top byte is 0xE8); the deterministic core
    /// reports them and the server confirms the retried result decrypts.
    #[test]
    fn a8_rsa_pad_signals_retry_when_not_below_modulus() {
        let key = prod_key();
        let data = unhex(INNER);
        let padding = unhex(INNER_PADDING);
        let retries = (0u8..=255)
            .filter(|&i| {
                let temp_key = [i; 32];
                rsa_pad_encrypt_with(&data, &padding, &temp_key, &key)
                    .unwrap()
                    .is_none()
            })
            .count();
        assert!(
            (5..=60).contains(&retries),
            "{retries} of 256 needed a retry"
        );
    }

    /// what the client encrypts, the server decrypts; the first
    /// bytes of data_with_padding are the inner data.
    #[test]
    fn a9_rsa_pad_round_trip() {
        let server = server_key();
        let data = unhex(INNER);
        for seed in 0..8 {
            let enc = rsa_pad_encrypt(&data, &server.public(), &mut rng(seed)).unwrap();
            let dwp = server.rsa_pad_decrypt(&enc).unwrap();
            assert_eq!(dwp[..data.len()], data[..]);
        }
    }

    /// a modified ciphertext fails the SHA-256 check with a typed error.
    #[test]
    fn a9_rejects_tampered_ciphertext() {
        let server = server_key();
        let enc = rsa_pad_encrypt(&unhex(INNER), &server.public(), &mut rng(3)).unwrap();
        for (pos, bit) in [(255usize, 0x01u8), (128, 0x80), (10, 0x04)] {
            let mut bad = enc;
            bad[pos] ^= bit;
            let c = BigUint::from_bytes_be(&bad);
            let expected = if c >= *server.public().n() {
                CryptoError::NotBelowModulus
            } else {
                CryptoError::HashMismatch
            };
            assert_eq!(server.rsa_pad_decrypt(&bad), Err(expected));
        }
    }

    /// A-9 step 1: a ciphertext >= n, or not 256 bytes long, is rejected.
    #[test]
    fn a9_rejects_input_not_below_modulus() {
        let server = server_key();
        let n = to_be_256(server.public().n()).unwrap();
        assert_eq!(
            server.rsa_pad_decrypt(&n),
            Err(CryptoError::NotBelowModulus)
        );
        assert_eq!(
            server.rsa_pad_decrypt(&[0xFF; 256]),
            Err(CryptoError::NotBelowModulus)
        );
        assert_eq!(
            server.legacy_decrypt(&[0xFF; 256]),
            Err(CryptoError::NotBelowModulus)
        );
        for len in [0usize, 255, 257] {
            assert_eq!(
                server.rsa_pad_decrypt(&vec![0u8; len]),
                Err(CryptoError::InvalidLength {
                    what: "RSA_PAD ciphertext",
                    expected: 256,
                    got: len
                })
            );
        }
        assert_eq!(server.decrypt_raw(&n), Err(CryptoError::NotBelowModulus));
        assert_eq!(
            server.public().encrypt_raw(&n),
            Err(CryptoError::NotBelowModulus)
        );
    }

    /// Legacy SHA1-prefixed RSA (the predecessor of; no PROTOCOL.md
    /// item of its own): SHA1(data) + data + padding comes back, and the
    /// caller's SHA1 check catches tampering.
    #[test]
    fn legacy_round_trip_and_tamper() {
        let server = server_key();
        let data = unhex(INNER);
        let enc = rsa_legacy_encrypt(&data, &server.public(), &mut rng(9)).unwrap();
        let block = server.legacy_decrypt(&enc).unwrap();
        assert_eq!(block[..20], sha1(&[&data]));
        assert_eq!(block[20..20 + data.len()], data[..]);

        let mut bad = enc;
        bad[200] ^= 0x10;
        match server.legacy_decrypt(&bad) {
            Err(e) => assert!(matches!(
                e,
                CryptoError::DecryptFailed(_) | CryptoError::NotBelowModulus
            )),
            Ok(block) => assert_ne!(block[..20], sha1(&[&block[20..20 + data.len()]])),
        }
        assert_eq!(
            rsa_legacy_encrypt(&[0u8; 236], &server.public(), &mut rng(9)),
            Err(CryptoError::DataTooLong { len: 236, max: 235 })
        );
    }

    /// A-8 step 10, A-9 step 1: raw RSA encrypt then decrypt is the
    /// identity, and the CRT path equals plain c^d mod n.
    #[test]
    fn raw_rsa_round_trip_matches_plain_exponentiation() {
        let server = server_key();
        assert_eq!(server.public().n().bits(), 2048);
        let m = unhex(INNER);
        let c = server.public().encrypt_raw(&m).unwrap();
        assert_eq!(c.len(), 256);
        let back = server.decrypt_raw(&c).unwrap();
        assert_eq!(back[256 - m.len()..], m[..]);
        assert!(back[..256 - m.len()].iter().all(|&b| b == 0));
        let plain = BigUint::from_bytes_be(&c).modpow(&server.d, &server.n);
        assert_eq!(BigUint::from_bytes_be(&back), plain);
    }

    /// A-3, A-9 (server key): private keys survive a PKCS#1 PEM round trip;
    /// the public half and its fingerprint follow; Debug shows no secret.
    #[test]
    fn private_key_pem_round_trip() {
        let server = server_key();
        let pem = server.to_pkcs1_pem();
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        let back = RsaPrivateKey::from_pkcs1_pem(&pem).unwrap();
        assert_eq!(back, *server);
        assert_eq!(back.public().fingerprint(), server.public().fingerprint());
        let dbg = format!("{server:?}");
        assert!(dbg.starts_with("RsaPrivateKey { public: RsaPublicKey { bits: 2048"));
        assert!(!dbg.contains(&server.d.to_str_radix(16)[..16]));
    }

    /// A-9 (server key): inconsistent or unsupported private keys are
    /// rejected.
    #[test]
    fn private_key_rejects_inconsistent_components() {
        let k = server_key();
        // Swap in a wrong dp.
        let mut body = Vec::new();
        let wrong_dp = &k.dp + 2u32;
        for x in [
            &BigUint::zero(),
            &k.n,
            &k.e,
            &k.d,
            &k.p,
            &k.q,
            &wrong_dp,
            &k.dq,
            &k.qinv,
        ] {
            put_uint(&mut body, x);
        }
        let mut der = Vec::new();
        put_tlv(&mut der, TAG_SEQUENCE, &body);
        assert!(matches!(
            RsaPrivateKey::from_pkcs1_der(&der),
            Err(CryptoError::InvalidKey(_))
        ));
        // Multi-prime (version 1) keys are not supported.
        let mut body = Vec::new();
        put_uint(&mut body, &BigUint::one());
        let mut der = Vec::new();
        put_tlv(&mut der, TAG_SEQUENCE, &body);
        assert_eq!(
            RsaPrivateKey::from_pkcs1_der(&der),
            Err(CryptoError::InvalidDer("unsupported RSAPrivateKey version"))
        );
        assert_eq!(
            RsaPrivateKey::from_pkcs1_pem(KEYS_PEM),
            Err(CryptoError::InvalidPem("expected exactly one key"))
        );
        assert!(matches!(
            RsaPrivateKey::generate(511, &mut rng(0)),
            Err(CryptoError::InvalidArgument(_))
        ));
    }
}
