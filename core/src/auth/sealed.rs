//! The symmetric layer both roles share after RSA: the inner DH messages
//! sealed as `AES256-IGE(SHA1(data) + data + 0..15 random bytes)` under
//! the temporary key of A-12, and the first salt.

use rand::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;

use super::AuthError;
use crate::crypto::{ige_decrypt, ige_encrypt, sha1};
use crate::tl::{Deserialize, Reader};

/// `SHA1(data) + data + padding`, padded with the fewest random bytes
/// (0..=15) that make the length a multiple of 16, then IGE-encrypted
/// (A-11 server side, A-16 client side).
pub(crate) fn seal(
    data: &[u8],
    key: &[u8; 32],
    iv: &[u8; 32],
    rng: &mut (impl RngCore + CryptoRng),
) -> Vec<u8> {
    let pad = (16 - (20 + data.len()) % 16) % 16;
    let mut out = Vec::with_capacity(20 + data.len() + pad);
    out.extend_from_slice(&sha1(&[data]));
    out.extend_from_slice(data);
    let start = out.len();
    out.resize(start + pad, 0);
    rng.fill_bytes(&mut out[start..]);
    // The length is a multiple of 16 by construction.
    let _ = ige_encrypt(&mut out, key, iv);
    out
}

/// The inverse of [`seal`], with every check of A-13 in its order: the
/// length is a non-empty multiple of 16, the inner value parses from
/// offset 20 (its serialized length ℓ noted), `SHA1(dec[20..20+ℓ])` equals
/// `dec[0..20]` — over the parsed value only, not the padding (G-4, Q-3) —
/// and at most 15 padding bytes follow.
pub(crate) fn open<T: Deserialize>(
    encrypted: &[u8],
    key: &[u8; 32],
    iv: &[u8; 32],
) -> Result<T, AuthError> {
    // 32 bytes is the least that can hold a hash and a constructor id.
    if encrypted.len() < 32 || encrypted.len() % 16 != 0 {
        return Err(AuthError::AnswerNotBlockAligned(encrypted.len()));
    }
    let mut dec = encrypted.to_vec();
    ige_decrypt(&mut dec, key, iv)?;
    let (hash, body) = dec.split_at(20);
    let mut reader = Reader::new(body);
    let value = T::deserialize(&mut reader)?;
    let len = reader.position();
    let digest = sha1(&[&body[..len]]);
    if !bool::from(digest.ct_eq(hash)) {
        return Err(AuthError::AnswerHashMismatch);
    }
    let padding = body.len() - len;
    if padding > 15 {
        return Err(AuthError::AnswerPadding(padding));
    }
    Ok(value)
}

/// The first server salt: `new_nonce[0..8] XOR server_nonce[0..8]`
/// bytewise, those 8 bytes read as the little-endian `long` of the salt
/// field.
pub fn initial_salt(new_nonce: &[u8; 32], server_nonce: &[u8; 16]) -> i64 {
    let mut salt = [0u8; 8];
    for (i, s) in salt.iter_mut().enumerate() {
        *s = new_nonce[i] ^ server_nonce[i];
    }
    i64::from_le_bytes(salt)
}

/// `SHA1(new_nonce)[4..20]`, the hash of the legacy server_DH_params_fail
///
pub(crate) fn legacy_new_nonce_hash(new_nonce: &[u8; 32]) -> [u8; 16] {
    // The same "SHA-1, middle 128 bits" as the MTProto 1.0 msg_key.
    crate::crypto::msg_key_v1(new_nonce)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_support::{arr, unhex, ScriptedRng, NEW_NONCE, SERVER_NONCE};
    use crate::crypto::tmp_aes_key_iv;
    use crate::tl::service::types;
    use crate::tl::Serialize;

    /// A-19, TV §1.9: the sample salt, wire bytes A658F6F8E4C40D89.
    #[test]
    fn a19_initial_salt_vector() {
        let salt = initial_salt(&arr(NEW_NONCE), &arr(SERVER_NONCE));
        assert_eq!(salt, 0x890DC4E4F8F658A6u64 as i64);
        assert_eq!(salt.to_le_bytes(), arr::<8>("A658F6F8E4C40D89"));
    }

    /// A-16, TV §1.7: sealing client_DH_inner_data with the sample padding
    /// gives the published encrypted_data; opening it gives the data back.
    #[test]
    fn a16_seal_and_open_vector() {
        let (key, iv) = tmp_aes_key_iv(&arr(NEW_NONCE), &arr(SERVER_NONCE));
        let data = unhex(crate::auth::test_support::CLIENT_DH_INNER_DATA);
        let mut rng = ScriptedRng::new([unhex("8347525EB8B63DE9CE3A1FCC")]);
        let sealed = seal(&data, &key, &iv, &mut rng);
        assert_eq!(
            sealed,
            unhex(crate::auth::test_support::CLIENT_ENCRYPTED_DATA)
        );
        let back: types::ClientDHInnerData = open(&sealed, &key, &iv).unwrap();
        assert_eq!(back.to_bytes(), data);
    }

    /// A-13, G-4, Q-3, TV §1.6: the sample answer opens; 8 bytes of padding
    /// are not part of the hash.
    #[test]
    fn a13_open_sample_answer() {
        let (key, iv) = tmp_aes_key_iv(&arr(NEW_NONCE), &arr(SERVER_NONCE));
        let enc = unhex(crate::auth::test_support::ENCRYPTED_ANSWER);
        let inner: types::ServerDHInnerData = open(&enc, &key, &iv).unwrap();
        assert_eq!(inner.g, 3);
        assert_eq!(inner.server_time, 1_735_910_891);
    }

    /// length, hash and padding failures each have their own error.
    #[test]
    fn a13_open_rejections() {
        let (key, iv) = tmp_aes_key_iv(&arr(NEW_NONCE), &arr(SERVER_NONCE));
        let enc = unhex(crate::auth::test_support::ENCRYPTED_ANSWER);
        for len in [0, 16, 31, enc.len() - 1] {
            assert_eq!(
                open::<types::ServerDHInnerData>(&enc[..len], &key, &iv),
                Err(AuthError::AnswerNotBlockAligned(len))
            );
        }
        // Flip a bit in the last block: only server_time and the padding
        // change, the data still parses, and the hash catches it.
        let mut bad = enc.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert_eq!(
            open::<types::ServerDHInnerData>(&bad, &key, &iv),
            Err(AuthError::AnswerHashMismatch)
        );
        // 16 bytes more padding: hash fine, padding 24 > 15.
        let data = types::ClientDHInnerData {
            nonce: [1; 16],
            server_nonce: [2; 16],
            retry_id: 0,
            g_b: vec![3; 256],
        }
        .to_bytes();
        let mut plain = sha1(&[&data]).to_vec();
        plain.extend_from_slice(&data);
        let pad = (16 - plain.len() % 16) % 16 + 16;
        plain.resize(plain.len() + pad, 0);
        ige_encrypt(&mut plain, &key, &iv).unwrap();
        assert_eq!(
            open::<types::ClientDHInnerData>(&plain, &key, &iv),
            Err(AuthError::AnswerPadding(pad))
        );
    }

    /// the legacy fail hash is SHA1(new_nonce)[4..20].
    #[test]
    fn a11_legacy_new_nonce_hash() {
        let nn: [u8; 32] = arr(NEW_NONCE);
        assert_eq!(legacy_new_nonce_hash(&nn)[..], sha1(&[&nn])[4..]);
    }
}
