//! The 2048-bit authorization key and the two hashes derived from it
//! (A-17, B-14), plus the handshake's final `new_nonce_hashN`.

use core::fmt;

use subtle::ConstantTimeEq;

use super::hash::sha1;
use super::CryptoError;

/// Length of an auth key: always 256 bytes, left-padded with zeros (B-6).
pub const AUTH_KEY_LEN: usize = 256;

/// An MTProto authorization key.
///
/// The bytes live on the heap so moving the value does not leave copies of
/// the key on the stack, and they are overwritten when the value is dropped
/// (best effort: without `unsafe` the compiler is kept from eliding the
/// wipe only by an optimisation barrier). `Debug` shows the key id, never
/// the key; equality is constant-time.
pub struct AuthKey {
    bytes: Box<[u8; AUTH_KEY_LEN]>,
    id: [u8; 8],
    aux_hash: [u8; 8],
}

impl AuthKey {
    /// Wraps 256 key bytes and caches the id and aux hash. The caller keeps
    /// (and should wipe) its own copy.
    pub fn from_bytes(bytes: &[u8; AUTH_KEY_LEN]) -> Self {
        let digest = sha1(&[bytes]);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[12..20]);
        let mut aux_hash = [0u8; 8];
        aux_hash.copy_from_slice(&digest[..8]);
        AuthKey {
            bytes: Box::new(*bytes),
            id,
            aux_hash,
        }
    }

    /// Like [`from_bytes`](Self::from_bytes) for a slice (e.g. from storage),
    /// which must be exactly 256 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: &[u8; AUTH_KEY_LEN] =
            bytes.try_into().map_err(|_| CryptoError::InvalidLength {
                what: "auth key",
                expected: AUTH_KEY_LEN,
                got: bytes.len(),
            })?;
        Ok(Self::from_bytes(arr))
    }

    /// The raw key, for the KDF and for persistence.
    pub fn as_bytes(&self) -> &[u8; AUTH_KEY_LEN] {
        &self.bytes
    }

    /// `auth_key_id = SHA1(auth_key)[12..20]`: the low 64 bits, sent as these
    /// 8 raw bytes in front of every encrypted message (A-17, E-1).
    pub fn id(&self) -> [u8; 8] {
        self.id
    }

    /// [`id`](Self::id) read as the little-endian `long` the TL schema uses
    /// (e.g. `bind_auth_key_inner.perm_auth_key_id`, B-14).
    pub fn id_i64(&self) -> i64 {
        i64::from_le_bytes(self.id)
    }

    /// `auth_key_aux_hash = SHA1(auth_key)[0..8]`: the high 64 bits, used in
    /// new_nonce_hashN and as the next `retry_id`.
    pub fn aux_hash(&self) -> [u8; 8] {
        self.aux_hash
    }
}

impl Clone for AuthKey {
    fn clone(&self) -> Self {
        AuthKey {
            bytes: self.bytes.clone(),
            id: self.id,
            aux_hash: self.aux_hash,
        }
    }
}

impl PartialEq for AuthKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes[..].ct_eq(&other.bytes[..]).into()
    }
}

impl Eq for AuthKey {}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Hex<'a>(&'a [u8]);
        impl fmt::Debug for Hex<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
        f.debug_struct("AuthKey")
            .field("id", &Hex(&self.id))
            .finish_non_exhaustive()
    }
}

impl Drop for AuthKey {
    fn drop(&mut self) {
        self.bytes.fill(0);
        // Make the zeroed buffer observable so the stores are not removed
        // as dead writes to memory about to be freed.
        core::hint::black_box(&mut self.bytes);
    }
}

/// `new_nonce_hashN = SHA1(new_nonce + byte(N) + auth_key_aux_hash)[4..20]`
/// with N = 1 (dh_gen_ok), 2 (dh_gen_retry) or 3 (dh_gen_fail).
pub fn new_nonce_hash(new_nonce: &[u8; 32], n: u8, aux_hash: &[u8; 8]) -> [u8; 16] {
    let h = sha1(&[new_nonce, &[n], aux_hash]);
    let mut out = [0u8; 16];
    out.copy_from_slice(&h[4..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_util::{arr, sample_auth_key, unhex, SAMPLE_AUTH_KEY};

    /// A-17, B-14, TV §1.9: auth_key_id is SHA1[12..20], the aux hash SHA1[0..8].
    #[test]
    fn a17_auth_key_id_and_aux_hash() {
        let k = sample_auth_key();
        assert_eq!(k.id(), arr::<8>("0438720625F291F6"));
        assert_eq!(k.id_i64(), 0xF691F22506723804u64 as i64);
        assert_eq!(k.aux_hash(), arr::<8>("2F3107216012E3F6"));
        assert_eq!(k.as_bytes()[..], unhex(SAMPLE_AUTH_KEY)[..]);
    }

    /// A-18, TV §1.9: new_nonce_hash1/2/3 for the sample key and new_nonce.
    #[test]
    fn a18_new_nonce_hashes() {
        let k = sample_auth_key();
        let nn: [u8; 32] = arr("264F835B0B7BDFF9C6ED6CF819FD6DF5DCD17E90D67ADD2C2C1E3775C7A6A0AC");
        let aux = k.aux_hash();
        assert_eq!(
            new_nonce_hash(&nn, 1, &aux),
            arr::<16>("51070B3DB672B7602E4EE2FE761B36A2")
        );
        assert_eq!(
            new_nonce_hash(&nn, 2, &aux),
            arr::<16>("794AD269E516E2908373E4933518B092")
        );
        assert_eq!(
            new_nonce_hash(&nn, 3, &aux),
            arr::<16>("13AD218ACA902A727262362B77B54FA6")
        );
    }

    /// Debug prints the id only, never key bytes.
    #[test]
    fn a17_debug_hides_key_bytes() {
        let k = sample_auth_key();
        let s = format!("{k:?}");
        assert_eq!(s, "AuthKey { id: 0438720625f291f6, .. }");
        let key_hex = SAMPLE_AUTH_KEY.to_ascii_lowercase();
        // No 8-byte window of the key (in hex) shows up in the output.
        for i in (0..key_hex.len() - 16).step_by(2) {
            assert!(!s.contains(&key_hex[i..i + 16]));
        }
    }

    /// B-6: an auth key is exactly 256 bytes; other lengths are an error.
    #[test]
    fn b6_auth_key_from_slice_checks_length() {
        let bytes = unhex(SAMPLE_AUTH_KEY);
        assert_eq!(AuthKey::from_slice(&bytes).unwrap(), sample_auth_key());
        assert_eq!(
            AuthKey::from_slice(&bytes[1..]),
            Err(CryptoError::InvalidLength {
                what: "auth key",
                expected: 256,
                got: 255
            })
        );
        let mut other = bytes.clone();
        other[255] ^= 1;
        assert_ne!(AuthKey::from_slice(&other).unwrap(), sample_auth_key());
    }
}
