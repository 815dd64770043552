//! The client role of the key exchange (A-2..A-19) as a sans-IO state
//! machine.
//!
//! ```text
//!  start ──req_pq_multi──▶  AwaitResPq
//!  resPQ ──req_DH_params──▶ AwaitDhParams
//!  server_DH_params_ok ──set_client_DH_params──▶ AwaitDhGen
//!  dh_gen_retry ──set_client_DH_params (new b)──▶ AwaitDhGen
//!  dh_gen_ok ──▶ Done(AuthOutcome)
//!  any failed check ──▶ Failed (every later call errors)
//! ```
//!
//! The machine consumes and produces TL bodies; [`PlainChannel`] adds the
//! unencrypted envelope (A-1). Time and randomness are arguments, so a
//! scripted RNG reproduces the published sample exchange byte for byte.
//!
//! [`PlainChannel`]: super::PlainChannel

use std::time::Duration;

use num_bigint::BigUint;
use rand::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;

use super::plain::transport_error_code;
use super::sealed::{initial_salt, legacy_new_nonce_hash, open, seal};
use super::{decode, AuthError};
use crate::crypto::{
    check_dh_prime, check_dh_value, check_g, factorize_pq, modpow_be256, new_nonce_hash,
    rsa_legacy_encrypt, rsa_pad_encrypt, tmp_aes_key_iv, AuthKey, DhValue, RsaPublicKey,
};
use crate::tl::service::{enums, functions, types};
use crate::tl::{Identifiable, Serialize};

/// How many times a fresh `b` is drawn when `g_b` misses the G-3 range.
/// A random 2048-bit `b` misses with probability about 2^-63, so hitting
/// this bound means the RNG is broken.
const MAX_B_ATTEMPTS: u32 = 8;

/// Default limit on dh_gen_retry answers (A-18).
pub const DEFAULT_MAX_RETRIES: u32 = 5;

/// What the client needs to know before it starts.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The server public keys we trust (A-3); the first one whose
    /// fingerprint the server offers is used.
    pub rsa_keys: Vec<RsaPublicKey>,
    /// The DC id for the inner data, already encoded with
    /// [`encode_dc_id`](super::encode_dc_id) (A-7).
    pub dc_id: i32,
    /// `Some(seconds)` creates a temporary (PFS) key with
    /// p_q_inner_data_temp_dc (A-6, A-22, P-1); `None` a permanent key.
    pub temp_expires_in: Option<i32>,
    /// How many dh_gen_retry answers are accepted before giving up (A-18).
    pub max_retries: u32,
    /// Speak like an old client: req_pq instead of req_pq_multi, inner data
    /// without `dc` (p_q_inner_data / p_q_inner_data_temp) and the legacy
    /// RSA encryption `SHA1(data) + data + padding`. Current servers may
    /// refuse it (Q-4); it exists so a server can be tested against the
    /// clients still deployed.
    pub legacy: bool,
}

impl ClientConfig {
    /// A permanent-key configuration for `dc_id` (encoded, A-7).
    pub fn new(rsa_keys: Vec<RsaPublicKey>, dc_id: i32) -> Self {
        ClientConfig {
            rsa_keys,
            dc_id,
            temp_expires_in: None,
            max_retries: DEFAULT_MAX_RETRIES,
            legacy: false,
        }
    }
}

/// What the client does after a message.
#[derive(Debug)]
pub enum ClientStep {
    /// Send this TL body (wrap it with a client [`PlainChannel`](super::PlainChannel)).
    Send(Vec<u8>),
    /// The key exists; start the encrypted session (A-19).
    Done(AuthOutcome),
}

/// A finished key exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthOutcome {
    /// The new 2048-bit key (A-17).
    pub auth_key: AuthKey,
    /// The first server salt (A-19).
    pub server_salt: i64,
    /// `server_time − local time` in seconds, for msg_ids (A-14, M-4).
    pub time_offset: i64,
    /// For a temporary key: when it expires, as Unix time on the *server's*
    /// clock (local time at completion + `time_offset` + `expires_in`),
    /// the clock auth.bindTempAuthKey's `expires_at` is checked against
    /// (P-1, P-4).
    pub expires_at: Option<i64>,
    /// The encoded DC id the key was created for (A-7).
    pub dc_id: i32,
}

/// What every client_DH_inner_data of a run is built from (A-15, A-16).
struct DhParams {
    nonce: [u8; 16],
    server_nonce: [u8; 16],
    tmp_key: [u8; 32],
    tmp_iv: [u8; 32],
    g: BigUint,
    dh_prime: BigUint,
    g_a: BigUint,
}

/// Secrets and parameters of the DH step, kept for dh_gen_retry (A-18).
struct DhState {
    params: DhParams,
    new_nonce: [u8; 32],
    time_offset: i64,
    /// The key of the attempt in flight; its aux hash checks the answer
    /// and becomes the next retry_id.
    auth_key: AuthKey,
    retries: u32,
}

enum State {
    AwaitResPq {
        nonce: [u8; 16],
    },
    AwaitDhParams {
        nonce: [u8; 16],
        server_nonce: [u8; 16],
        new_nonce: [u8; 32],
    },
    AwaitDhGen(Box<DhState>),
    Done,
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::AwaitResPq { .. } => "awaiting resPQ",
            State::AwaitDhParams { .. } => "awaiting server_DH_params",
            State::AwaitDhGen(_) => "awaiting dh_gen_*",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// The client side of one key-exchange run.
pub struct ClientHandshake {
    config: ClientConfig,
    state: State,
}

impl std::fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print nonces or DH secrets.
        f.debug_struct("ClientHandshake")
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

/// Reads a big-endian `bytes` field as a u64; longer than 8 bytes is an
/// error (the spec's pq is at most 2^63 − 1, A-2).
fn be_u64(bytes: &[u8], what: &'static str) -> Result<u64, AuthError> {
    if bytes.is_empty() || bytes.len() > 8 {
        return Err(AuthError::BadPq(what));
    }
    Ok(bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
}

/// Minimal big-endian bytes of a non-zero u64 (A-4, B-6).
pub(crate) fn minimal_be(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    bytes[skip..].to_vec()
}

/// The inner data of A-6 for the given variant: boxed
/// p_q_inner_data_dc / _temp_dc, or the legacy dc-less forms.
#[allow(clippy::too_many_arguments)]
pub fn p_q_inner_data(
    pq: &[u8],
    p: &[u8],
    q: &[u8],
    nonce: [u8; 16],
    server_nonce: [u8; 16],
    new_nonce: [u8; 32],
    dc: i32,
    temp_expires_in: Option<i32>,
    legacy: bool,
) -> Vec<u8> {
    let (pq, p, q) = (pq.to_vec(), p.to_vec(), q.to_vec());
    let inner: enums::PQInnerData = match (temp_expires_in, legacy) {
        (None, false) => types::PQInnerDataDc {
            pq,
            p,
            q,
            nonce,
            server_nonce,
            new_nonce,
            dc,
        }
        .into(),
        (Some(expires_in), false) => types::PQInnerDataTempDc {
            pq,
            p,
            q,
            nonce,
            server_nonce,
            new_nonce,
            dc,
            expires_in,
        }
        .into(),
        (None, true) => types::PQInnerData {
            pq,
            p,
            q,
            nonce,
            server_nonce,
            new_nonce,
        }
        .into(),
        (Some(expires_in), true) => types::PQInnerDataTemp {
            pq,
            p,
            q,
            nonce,
            server_nonce,
            new_nonce,
            expires_in,
        }
        .into(),
    };
    inner.to_bytes()
}

impl ClientHandshake {
    /// Starts a run (A-2): draws a fresh 16-byte nonce and returns the
    /// req_pq_multi body (req_pq for a legacy client).
    pub fn start(config: ClientConfig, rng: &mut (impl RngCore + CryptoRng)) -> (Self, Vec<u8>) {
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        let body = if config.legacy {
            functions::ReqPq { nonce }.to_bytes()
        } else {
            functions::ReqPqMulti { nonce }.to_bytes()
        };
        let hs = ClientHandshake {
            config,
            state: State::AwaitResPq { nonce },
        };
        (hs, body)
    }

    /// `true` once the run ended, successfully or not.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done | State::Failed)
    }

    /// Processes one server body. `now` is the local Unix time (for the
    /// time offset, A-14). Any error ends the run: the caller closes the
    /// connection and starts over (A-10, G-11).
    pub fn handle(
        &mut self,
        body: &[u8],
        now: Duration,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<ClientStep, AuthError> {
        // A driver that hands over raw payloads may pass the server's
        // transport error (T-11) here; it ends the run like any failure.
        let transport_error = transport_error_code(body);
        let state = std::mem::replace(&mut self.state, State::Failed);
        let result = match state {
            State::Done => {
                self.state = State::Done;
                return Err(AuthError::AlreadyComplete);
            }
            State::Failed => return Err(AuthError::HandshakeFailedEarlier),
            _ if transport_error.is_some() => Err(AuthError::ServerTransportError(
                transport_error.unwrap_or(super::TRANSPORT_ERROR_NOT_FOUND),
            )),
            State::AwaitResPq { nonce } => self.on_res_pq(nonce, body, rng),
            State::AwaitDhParams {
                nonce,
                server_nonce,
                new_nonce,
            } => self.on_dh_params(nonce, server_nonce, new_nonce, body, now, rng),
            State::AwaitDhGen(dh) => self.on_dh_gen(dh, body, now, rng),
        };
        match result {
            Ok((next, step)) => {
                self.state = next;
                Ok(step)
            }
            Err(e) => {
                tracing::debug!(error = %e, "key exchange failed");
                Err(e)
            }
        }
    }

    /// A-3, A-4, A-5, A-6, A-8, A-10.
    fn on_res_pq(
        &mut self,
        nonce: [u8; 16],
        body: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(State, ClientStep), AuthError> {
        let res: types::ResPQ = decode(body, "awaiting resPQ", &[types::ResPQ::CONSTRUCTOR_ID])?;
        // A-3 / G-5 before anything else: a foreign answer is not ours to
        // act on.
        if !bool::from(res.nonce.ct_eq(&nonce)) {
            return Err(AuthError::NonceMismatch("resPQ"));
        }
        // Each fingerprint is a SHA1: compute ours once, not once per
        // offered entry (the server controls the length of the list).
        let ours: Vec<(i64, &RsaPublicKey)> = self
            .config
            .rsa_keys
            .iter()
            .map(|k| (k.fingerprint(), k))
            .collect();
        let key = res
            .server_public_key_fingerprints
            .iter()
            .find_map(|fp| ours.iter().find(|(f, _)| f == fp).map(|(_, k)| *k))
            .ok_or_else(|| AuthError::NoKnownFingerprint {
                offered: res.server_public_key_fingerprints.clone(),
            })?;

        // A-4: the proof of work; p < q as minimal big-endian bytes.
        let pq = be_u64(&res.pq, "pq")?;
        let (p, q) = factorize_pq(pq).ok_or(AuthError::PqFactorization(pq))?;
        let (p, q) = (minimal_be(p), minimal_be(q));

        // A-5.
        let mut new_nonce = [0u8; 32];
        rng.fill_bytes(&mut new_nonce);

        // A-6, A-7.
        let data = p_q_inner_data(
            &res.pq,
            &p,
            &q,
            nonce,
            res.server_nonce,
            new_nonce,
            self.config.dc_id,
            self.config.temp_expires_in,
            self.config.legacy,
        );
        // A-8 (or the legacy form).
        let encrypted_data = if self.config.legacy {
            rsa_legacy_encrypt(&data, key, rng).map_err(AuthError::Rsa)?
        } else {
            rsa_pad_encrypt(&data, key, rng).map_err(AuthError::Rsa)?
        };
        let req = functions::ReqDHParams {
            nonce,
            server_nonce: res.server_nonce,
            p,
            q,
            public_key_fingerprint: key.fingerprint(),
            encrypted_data: encrypted_data.to_vec(),
        };
        let next = State::AwaitDhParams {
            nonce,
            server_nonce: res.server_nonce,
            new_nonce,
        };
        Ok((next, ClientStep::Send(req.to_bytes())))
    }

    /// A-11 (legacy failure), A-12, A-13, A-14, then A-15/A-16.
    fn on_dh_params(
        &mut self,
        nonce: [u8; 16],
        server_nonce: [u8; 16],
        new_nonce: [u8; 32],
        body: &[u8],
        now: Duration,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(State, ClientStep), AuthError> {
        let params: enums::ServerDHParams = decode(
            body,
            "awaiting server_DH_params",
            &[
                types::ServerDHParamsOk::CONSTRUCTOR_ID,
                types::ServerDHParamsFail::CONSTRUCTOR_ID,
            ],
        )?;
        let ok = match params {
            enums::ServerDHParams::ServerDHParamsOk(ok) => ok,
            enums::ServerDHParams::ServerDHParamsFail(fail) => {
                check_pair(
                    &fail.nonce,
                    &fail.server_nonce,
                    &nonce,
                    &server_nonce,
                    "server_DH_params_fail",
                )?;
                if !bool::from(
                    fail.new_nonce_hash
                        .ct_eq(&legacy_new_nonce_hash(&new_nonce)),
                ) {
                    return Err(AuthError::NewNonceHashMismatch { n: 0 });
                }
                return Err(AuthError::ServerDhParamsFail);
            }
        };
        check_pair(
            &ok.nonce,
            &ok.server_nonce,
            &nonce,
            &server_nonce,
            "server_DH_params_ok",
        )?;

        // A-12, A-13.
        let (tmp_key, tmp_iv) = tmp_aes_key_iv(&new_nonce, &server_nonce);
        let inner: types::ServerDHInnerData = open(&ok.encrypted_answer, &tmp_key, &tmp_iv)?;

        // A-14.
        check_pair(
            &inner.nonce,
            &inner.server_nonce,
            &nonce,
            &server_nonce,
            "server_DH_inner_data",
        )?;
        let dh_prime = BigUint::from_bytes_be(&inner.dh_prime);
        check_dh_prime(&dh_prime, rng)?;
        let g_small = u32::try_from(inner.g).unwrap_or(u32::MAX);
        check_g(g_small, &dh_prime)?;
        let g_a = BigUint::from_bytes_be(&inner.g_a);
        check_dh_value(&g_a, &dh_prime, DhValue::GA)?;
        let time_offset = i64::from(inner.server_time).saturating_sub(secs(now));

        let params = DhParams {
            nonce,
            server_nonce,
            tmp_key,
            tmp_iv,
            g: BigUint::from(g_small),
            dh_prime,
            g_a,
        };
        let (auth_key, body) = client_dh(&params, 0, rng)?;
        let dh = DhState {
            params,
            new_nonce,
            time_offset,
            auth_key,
            retries: 0,
        };
        Ok((State::AwaitDhGen(Box::new(dh)), ClientStep::Send(body)))
    }

    /// A-18, A-19.
    fn on_dh_gen(
        &mut self,
        mut dh: Box<DhState>,
        body: &[u8],
        now: Duration,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(State, ClientStep), AuthError> {
        let answer: enums::SetClientDHParamsAnswer = decode(
            body,
            "awaiting dh_gen_*",
            &[
                types::DhGenOk::CONSTRUCTOR_ID,
                types::DhGenRetry::CONSTRUCTOR_ID,
                types::DhGenFail::CONSTRUCTOR_ID,
            ],
        )?;
        let (n, msg_nonce, msg_server_nonce, hash, what) = match &answer {
            enums::SetClientDHParamsAnswer::DhGenOk(a) => {
                (1u8, a.nonce, a.server_nonce, a.new_nonce_hash1, "dh_gen_ok")
            }
            enums::SetClientDHParamsAnswer::DhGenRetry(a) => (
                2,
                a.nonce,
                a.server_nonce,
                a.new_nonce_hash2,
                "dh_gen_retry",
            ),
            enums::SetClientDHParamsAnswer::DhGenFail(a) => {
                (3, a.nonce, a.server_nonce, a.new_nonce_hash3, "dh_gen_fail")
            }
        };
        let p = &dh.params;
        check_pair(
            &msg_nonce,
            &msg_server_nonce,
            &p.nonce,
            &p.server_nonce,
            what,
        )?;
        let expected = new_nonce_hash(&dh.new_nonce, n, &dh.auth_key.aux_hash());
        if !bool::from(hash.ct_eq(&expected)) {
            return Err(AuthError::NewNonceHashMismatch { n });
        }
        match n {
            1 => {
                let outcome = AuthOutcome {
                    auth_key: dh.auth_key.clone(),
                    server_salt: initial_salt(&dh.new_nonce, &dh.params.server_nonce),
                    time_offset: dh.time_offset,
                    expires_at: self.config.temp_expires_in.map(|e| {
                        secs(now)
                            .saturating_add(dh.time_offset)
                            .saturating_add(i64::from(e))
                    }),
                    dc_id: self.config.dc_id,
                };
                // A-19: the temporary secrets go with `dh` here.
                Ok((State::Done, ClientStep::Done(outcome)))
            }
            2 => {
                dh.retries += 1;
                if dh.retries > self.config.max_retries {
                    return Err(AuthError::TooManyRetries(dh.retries - 1));
                }
                // A-15: the previous key's aux hash, as 8 raw bytes.
                let retry_id = i64::from_le_bytes(dh.auth_key.aux_hash());
                let (auth_key, body) = client_dh(&dh.params, retry_id, rng)?;
                dh.auth_key = auth_key;
                Ok((State::AwaitDhGen(dh), ClientStep::Send(body)))
            }
            _ => Err(AuthError::DhGenFail),
        }
    }
}

/// Local Unix seconds, saturating for absurd clocks.
fn secs(now: Duration) -> i64 {
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}

/// G-5: both echoed nonces must be ours.
fn check_pair(
    got_nonce: &[u8; 16],
    got_server_nonce: &[u8; 16],
    nonce: &[u8; 16],
    server_nonce: &[u8; 16],
    what: &'static str,
) -> Result<(), AuthError> {
    if !bool::from(got_nonce.ct_eq(nonce)) {
        return Err(AuthError::NonceMismatch(what));
    }
    if !bool::from(got_server_nonce.ct_eq(server_nonce)) {
        return Err(AuthError::ServerNonceMismatch(what));
    }
    Ok(())
}

/// A-15, A-16, A-17: a fresh `b` whose `g_b` passes G-3, the key
/// `g_a^b mod p`, and the set_client_DH_params body carrying the sealed
/// client_DH_inner_data.
fn client_dh(
    dh: &DhParams,
    retry_id: i64,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(AuthKey, Vec<u8>), AuthError> {
    let mut b_bytes = [0u8; 256];
    let mut attempt = 0;
    let (b, g_b) = loop {
        rng.fill_bytes(&mut b_bytes);
        let b = BigUint::from_bytes_be(&b_bytes);
        let g_b = dh.g.modpow(&b, &dh.dh_prime);
        match check_dh_value(&g_b, &dh.dh_prime, DhValue::GB) {
            Ok(()) => break (b, g_b),
            Err(e) => {
                attempt += 1;
                if attempt >= MAX_B_ATTEMPTS {
                    return Err(e.into());
                }
            }
        }
    };
    b_bytes.fill(0);
    let auth_key = AuthKey::from_bytes(&modpow_be256(&dh.g_a, &b, &dh.dh_prime)?);
    drop(b);
    let inner = types::ClientDHInnerData {
        nonce: dh.nonce,
        server_nonce: dh.server_nonce,
        // Q-1: retry_id precedes g_b, as the schema says.
        retry_id,
        // B-6: minimal big-endian.
        g_b: g_b.to_bytes_be(),
    };
    let encrypted_data = seal(&inner.to_bytes(), &dh.tmp_key, &dh.tmp_iv, rng);
    let body = functions::SetClientDHParams {
        nonce: dh.nonce,
        server_nonce: dh.server_nonce,
        encrypted_data,
    }
    .to_bytes();
    Ok((auth_key, body))
}
