//! SHA-1 and SHA-256 over several slices at once.
//!
//! Almost every MTProto hash input is a concatenation (`msg_key + auth_key[..]`,
//! `new_nonce + server_nonce`, ...). Feeding the parts to the hasher one after
//! the other gives the same digest as hashing the concatenation, without
//! building that concatenation in a temporary buffer.

use sha1::{Digest, Sha1};
use sha2::Sha256;

/// SHA-1 of `parts[0] + parts[1] + ...`.
pub fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// SHA-256 of `parts[0] + parts[1] + ...`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// A-12, TV §1.6: the three SHA-1 values behind tmp_aes_key/iv, hashed as
    /// two parts each.
    #[test]
    fn a12_sha1_multi_part_matches_tv_1_6() {
        let new_nonce = unhex("264F835B0B7BDFF9C6ED6CF819FD6DF5DCD17E90D67ADD2C2C1E3775C7A6A0AC");
        let server_nonce = unhex("801775A3EFBFD2701AA28AD727BE4646");
        assert_eq!(
            sha1(&[&new_nonce, &server_nonce]).to_vec(),
            unhex("E68CA5ABA101FFCA0ADDA66303A57AFFAA2712FB")
        );
        assert_eq!(
            sha1(&[&server_nonce, &new_nonce]).to_vec(),
            unhex("16A7B8DAFC72C25E8A73A3680A355D4431B9DDD9")
        );
        assert_eq!(
            sha1(&[&new_nonce, &new_nonce]).to_vec(),
            unhex("1A51EFF3F7D340D64F0390C53F91DC53C331D43C")
        );
    }

    /// E-3, E-4, A-12: every MTProto hash input is a concatenation; splitting
    /// it anywhere (including empty parts) never changes the digest.
    #[test]
    fn multi_part_equals_concatenation() {
        let data: Vec<u8> = (0u8..=200).collect();
        for cut in [0usize, 1, 63, 64, 65, 200, 201] {
            let (a, b) = data.split_at(cut);
            assert_eq!(sha1(&[a, &[], b]), sha1(&[&data]));
            assert_eq!(sha256(&[a, b, &[]]), sha256(&[&data]));
        }
        // Known empty-input digests.
        assert_eq!(
            hex::encode(sha1(&[])),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(
            hex::encode(sha256(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
