//! Cryptographic primitives of MTProto 2.0, sans-IO.
//!
//! - [`hash`]: SHA-1 / SHA-256 over several slices without concatenating.
//! - [`ige`]: AES-256-IGE in place (E-5), the payload cipher.
//! - [`ctr`]: AES-256-CTR, the transport obfuscation stream (T-16).
//! - [`kdf`]: msg_key and the per-message AES key/IV (E-3, E-4, P-4, A-12).
//! - [`key`]: the auth key, its id and aux hash.
//! - [`prime`]: Miller–Rabin, random primes, pq factorization.
//! - [`dh`]: DH prime/generator/value checks (G-1..G-3), fixed-width modpow.
//! - [`rsa`]: RSA keys, PEM, fingerprints, RSA_PAD and its reverse.
//!
//! Nothing here reads a clock, spawns a thread or draws hidden randomness:
//! every random input is either a caller-supplied CSPRNG
//! (`&mut (impl RngCore + CryptoRng)`, G-6) or an explicit argument, so each
//! published vector can be reproduced byte for byte.

pub mod ctr;
pub mod dh;
mod encoding;
pub mod hash;
pub mod ige;
pub mod kdf;
pub mod key;
pub mod prime;
pub mod rsa;

#[cfg(test)]
pub(crate) mod test_util;

pub use self::ctr::AesCtr;
pub use dh::{
    check_dh_prime, check_dh_value, check_g, modpow_be256, telegram_dh_prime, to_be_256, DhCheck,
    DhValue, SAFE_PRIME_ROUNDS, TELEGRAM_DH_PRIME,
};
pub use hash::{sha1, sha256};
pub use ige::{ige_decrypt, ige_decrypt_with, ige_encrypt, ige_encrypt_with};
pub use kdf::{
    aes_key_iv, aes_key_iv_v1, msg_key, msg_key_from_large, msg_key_large, msg_key_v1,
    tmp_aes_key_iv, Direction,
};
pub use key::{new_nonce_hash, AuthKey, AUTH_KEY_LEN};
pub use prime::{factorize_pq, generate_pq, is_prime_u64, is_probable_prime, random_prime};
pub use rsa::{
    parse_pem_bundle, rsa_legacy_encrypt, rsa_pad_encrypt, rsa_pad_encrypt_with, RsaPrivateKey,
    RsaPublicKey, LEGACY_MAX_DATA, RSA_PAD_MAX_DATA, RSA_PAD_PADDED_LEN, TELEGRAM_PUBLIC_KEYS_PEM,
};

/// Every failure of the crypto layer. Each variant names one precise cause so
/// the protocol layers can log and react without parsing strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A block-mode input whose length is not a multiple of 16.
    #[error("input of {0} bytes is not a whole number of 16-byte blocks")]
    NotBlockAligned(usize),
    /// A fixed-size input (auth key, RSA block, ...) of the wrong size.
    #[error("{what}: expected {expected} bytes, got {got}")]
    InvalidLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// A parameter outside what the function supports (e.g. a key size).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// Input longer than the operation allows (e.g. RSA_PAD data over 144
    /// bytes, a number wider than its fixed field).
    #[error("input of {len} bytes exceeds the maximum of {max}")]
    DataTooLong { len: usize, max: usize },
    /// A PEM text that is not a usable key file.
    #[error("invalid PEM: {0}")]
    InvalidPem(&'static str),
    /// DER that is malformed or not the expected key structure.
    #[error("invalid DER: {0}")]
    InvalidDer(&'static str),
    /// Key material that parses but cannot be a valid key for the operation.
    #[error("invalid RSA key: {0}")]
    InvalidKey(&'static str),
    /// An RSA input that is not below the modulus (A-9 step 1).
    #[error("RSA input is not below the modulus")]
    NotBelowModulus,
    /// Decryption produced a structurally impossible plaintext.
    #[error("decryption failed: {0}")]
    DecryptFailed(&'static str),
    /// An integrity hash inside decrypted data did not match (A-9 step 4).
    #[error("hash mismatch")]
    HashMismatch,
    /// A randomized retry loop ran out of attempts (only a broken RNG can
    /// cause this).
    #[error("retry limit reached: {0}")]
    RetryLimit(&'static str),
    /// A Diffie–Hellman parameter or value failed a G-1..G-3 check.
    #[error("DH check failed: {0}")]
    Dh(#[from] DhCheck),
}
