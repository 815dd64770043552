//! The one error type of the key exchange.
//!
//! ARCHITECTURE.md asks the auth layer never to hide a failed check, so
//! each variant names exactly one check (with its PROTOCOL.md item) and
//! carries what a log line needs to tell a bug from an attack. Neither role
//! continues after an error: the run is dead and every later call reports
//! [`AuthError::HandshakeFailedEarlier`].

use crate::crypto::{CryptoError, DhCheck};
use crate::mtp::MtpError;
use crate::tl::TlError;

/// Transport error code for a bad handshake query, an unknown key or a
/// malformed packet (T-11).
pub const TRANSPORT_ERROR_NOT_FOUND: i32 = -404;
/// Transport error code for an invalid DC id in the inner data (T-11, A-7).
pub const TRANSPORT_ERROR_INVALID_DC: i32 = -444;

/// Why a key exchange stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A message echoed a `nonce` other than ours (A-3, A-14, A-18, G-5;
    /// server: inside the encrypted inner data, A-9, A-16). The field names
    /// the message.
    #[error("nonce in {0} differs from the one of this run (G-5)")]
    NonceMismatch(&'static str),
    /// A message echoed a `server_nonce` other than the run's (A-14, A-18,
    /// G-5; server: inside the encrypted inner data).
    #[error("server_nonce in {0} differs from the one of this run (G-5)")]
    ServerNonceMismatch(&'static str),
    /// `new_nonce_hash{n}` of a dh_gen_* answer is not the one our
    /// new_nonce and key give (A-18, G-5). `n` is 1, 2 or 3 for
    /// dh_gen_ok / _retry / _fail, and 0 for the legacy
    /// server_DH_params_fail's `SHA1(new_nonce)[4..20]`.
    #[error("new_nonce_hash{n} does not match (A-18)")]
    NewNonceHashMismatch { n: u8 },
    /// None of the server's fingerprints belongs to a key we hold.
    #[error("none of the server's key fingerprints {offered:x?} is known (A-3)")]
    NoKnownFingerprint { offered: Vec<i64> },
    /// `pq` is not the product of two distinct primes we could find.
    #[error("pq {0:#x} could not be factored into two primes (A-4)")]
    PqFactorization(u64),
    /// `pq`, `p` or `q` is malformed (longer than 64 bits) or — on the
    /// server — differs from the values of this run.
    #[error("bad {0} (A-4, A-9)")]
    BadPq(&'static str),
    /// encrypted_answer / encrypted_data is not a non-empty multiple of 16
    /// bytes long enough for a hash and a constructor.
    #[error("encrypted inner data of {0} bytes is not block aligned (A-13)")]
    AnswerNotBlockAligned(usize),
    /// SHA1 over the parsed inner data differs from the 20 bytes in front
    /// of it (A-13, G-4, Q-3).
    #[error("SHA1 of the decrypted inner data does not match its hash (G-4)")]
    AnswerHashMismatch,
    /// More than 15 bytes follow the hashed inner data.
    #[error("{0} padding bytes after the inner data, at most 15 allowed (A-13)")]
    AnswerPadding(usize),
    /// A Diffie–Hellman parameter or value failed G-1, G-2 or G-3.
    #[error("{0}")]
    Dh(DhCheck),
    /// The server answered dh_gen_fail; the caller restarts at A-2.
    #[error("server answered dh_gen_fail (A-18)")]
    DhGenFail,
    /// The server answered the legacy server_DH_params_fail.
    #[error("server answered server_DH_params_fail (A-11)")]
    ServerDhParamsFail,
    /// More dh_gen_retry answers than the configured limit.
    #[error("gave up after {0} dh_gen_retry answers (A-18)")]
    TooManyRetries(u32),
    /// A message that is not valid in the current state.
    #[error("unexpected constructor {constructor:#010x} while {state}")]
    UnexpectedMessage {
        state: &'static str,
        constructor: u32,
    },
    /// An RSA operation failed (key parsing, RSA_PAD, modulus range).
    #[error("RSA: {0}")]
    Rsa(CryptoError),
    /// The server could not recover well-formed inner data from
    /// encrypted_data with either RSA_PAD or the legacy form.
    #[error("encrypted_data is not a valid RSA_PAD (or legacy RSA) payload (A-9)")]
    InvalidRsaPayload,
    /// Server: req_DH_params names a key fingerprint we do not hold.
    #[error("public_key_fingerprint {0:#x} is not one of ours (A-9)")]
    UnknownFingerprint(i64),
    /// Server: the inner `dc` is not this DC, or is in the other
    /// environment. The driver answers −444.
    #[error("inner data names DC {got}, not this one (A-7)")]
    InvalidDc { got: i32 },
    /// Server: a legacy form (req_pq, dc-less inner data, legacy RSA) while
    /// the configuration refuses them.
    #[error("legacy {0} is not accepted by this server (Q-4)")]
    LegacyRefused(&'static str),
    /// Server: a temporary key with a non-positive lifetime.
    #[error("expires_in {0} is not a positive number of seconds (A-6)")]
    InvalidExpiresIn(i32),
    /// Server: client_DH_inner_data carries the wrong retry_id (A-15,
    /// 0 on the first attempt, the previous key's aux hash after a
    /// dh_gen_retry.
    #[error("retry_id {got:#x} where {expected:#x} was due (A-15)")]
    RetryIdMismatch { expected: i64, got: i64 },
    /// Server: the message's (nonce, server_nonce) pair is not the live
    /// run's.
    #[error("(nonce, server_nonce) does not belong to the live run (A-21)")]
    UnknownRun,
    /// Server and client: this run failed before; every later message is
    /// refused (A-10, G-11).
    #[error("the handshake already failed; no further messages are accepted (A-10)")]
    HandshakeFailedEarlier,
    /// Client: the handshake already produced its key.
    #[error("the handshake is already complete")]
    AlreadyComplete,
    /// Client: the server sent transport error `code` instead of an answer
    /// (T-11; −404 means restart from A-2).
    #[error("server sent transport error {0} (T-11)")]
    ServerTransportError(i32),
    /// A message did not parse as TL.
    #[error("malformed message: {0}")]
    Tl(#[from] TlError),
    /// The unencrypted envelope was wrong.
    #[error("bad unencrypted envelope: {0}")]
    Mtp(#[from] MtpError),
    /// Another crypto failure (e.g. a number too wide for its field).
    #[error("crypto: {0}")]
    Crypto(CryptoError),
}

impl From<CryptoError> for AuthError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Dh(check) => AuthError::Dh(check),
            other => AuthError::Crypto(other),
        }
    }
}

impl AuthError {
    /// The transport error a server sends for this failure (A-10, T-11):
    /// −444 for a DC id it does not serve, −404 for everything else.
    pub fn transport_code(&self) -> i32 {
        match self {
            AuthError::InvalidDc { .. } => TRANSPORT_ERROR_INVALID_DC,
            _ => TRANSPORT_ERROR_NOT_FOUND,
        }
    }
}
