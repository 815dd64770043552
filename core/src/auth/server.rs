//! The server role of the key exchange (A-2, A-4, A-9, A-11, A-16..A-22)
//! as a sans-IO state machine: one [`ServerHandshake`] per run.
//!
//! ```text
//!  req_pq_multi / req_pq ──resPQ──▶ AwaitReqDh
//!  req_DH_params ──server_DH_params_ok──▶ AwaitClientDh
//!  set_client_DH_params ──dh_gen_retry──▶ AwaitClientDh (key id taken)
//!  set_client_DH_params ──dh_gen_ok──▶ Done(ServerAuthOutcome)
//!  any failed check ──▶ Failed: every later message errors (A-10)
//! ```
//!
//! The driver answers every error with the transport error of
//! [`AuthError::transport_code`] (−404, or −444 for a wrong DC).

use std::sync::Arc;
use std::time::Duration;

use num_bigint::BigUint;
use rand::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;

use super::client::minimal_be;
use super::dc::server_accepts_dc;
use super::sealed::{initial_salt, open, seal};
use super::{decode, AuthError};
use crate::crypto::{
    check_dh_value, generate_pq, modpow_be256, new_nonce_hash, tmp_aes_key_iv, to_be_256, AuthKey,
    CryptoError, DhValue, RsaPrivateKey, TELEGRAM_DH_PRIME,
};
use crate::tl::service::{enums, functions, types};
use crate::tl::{Deserialize, Identifiable, Reader, Serialize};

/// How many times a fresh `a` is drawn when `g_a` misses the G-3 range
/// (a random `a` misses with probability about 2^-63).
const MAX_A_ATTEMPTS: u32 = 8;

/// The server's fixed parameters, shared by all its runs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The keys whose fingerprints resPQ offers (A-2, A-9).
    pub rsa_keys: Vec<RsaPrivateKey>,
    /// The 2048-bit safe prime, big-endian (A-11, G-1). Defaults to the
    /// published Telegram prime (TV §2).
    pub dh_prime: Vec<u8>,
    /// The generator (G-2). Defaults to 3, valid for the default prime.
    pub g: i32,
    /// The DC this server is, encoded like the clients encode it but
    /// without the media sign: `encode_dc_id(n, test, false)`, e.g. 2 for
    /// production DC 2, 10002 for test DC 2. Inner data naming `dc_id` or
    /// `-dc_id` (its media form) is accepted; anything else, including the
    /// same number in the other environment, is
    /// [`AuthError::InvalidDc`] → −444 (A-7).
    pub dc_id: i32,
    /// Accept what deployed clients still send although the current schema
    /// dropped it (Q-4): req_pq, p_q_inner_data / p_q_inner_data_temp
    /// without `dc`, and the legacy RSA form `SHA1(data) + data +
    /// padding`. Default `true`, as production servers do.
    pub accept_legacy: bool,
    /// How many key-id collisions are answered with dh_gen_retry before the
    /// run is given up with dh_gen_fail (A-18).
    pub max_retries: u32,
}

impl ServerConfig {
    /// A server for `dc_id` (see the field) with the default prime and g.
    pub fn new(rsa_keys: Vec<RsaPrivateKey>, dc_id: i32) -> Self {
        ServerConfig {
            rsa_keys,
            dh_prime: TELEGRAM_DH_PRIME.to_vec(),
            g: 3,
            dc_id,
            accept_legacy: true,
            max_retries: 5,
        }
    }
}

/// What the server does after a message.
#[derive(Debug)]
pub enum ServerStep {
    /// Send this TL body (wrap it with a server [`PlainChannel`](super::PlainChannel)).
    Reply(Vec<u8>),
    /// Send `reply` (dh_gen_ok); the key exists from now on.
    Done {
        reply: Vec<u8>,
        outcome: ServerAuthOutcome,
    },
}

/// A key the server created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerAuthOutcome {
    pub auth_key: AuthKey,
    /// The first salt (A-19).
    pub server_salt: i64,
    /// `Some(seconds)` for a temporary key (A-22): keep it in RAM only.
    pub temp_expires_in: Option<i32>,
    /// Server Unix time at creation (the `now` of the final message).
    pub time: i64,
    /// The inner `dc` the client sent; `None` for the legacy forms.
    pub dc: Option<i32>,
}

/// What resPQ committed to (A-4 [S]).
struct PqRun {
    nonce: [u8; 16],
    server_nonce: [u8; 16],
    pq: u64,
    p: u64,
    q: u64,
}

/// The secrets of the DH step.
struct DhRun {
    nonce: [u8; 16],
    server_nonce: [u8; 16],
    new_nonce: [u8; 32],
    tmp_key: [u8; 32],
    tmp_iv: [u8; 32],
    a: BigUint,
    dh_prime: BigUint,
    temp_expires_in: Option<i32>,
    dc: Option<i32>,
    /// 0 first; after dh_gen_retry, the colliding key's aux hash (A-15).
    expected_retry_id: i64,
    retries: u32,
}

enum State {
    AwaitReqPq,
    AwaitReqDh(Box<PqRun>),
    AwaitClientDh(Box<DhRun>),
    Done,
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::AwaitReqPq => "awaiting req_pq_multi",
            State::AwaitReqDh(_) => "awaiting req_DH_params",
            State::AwaitClientDh(_) => "awaiting set_client_DH_params",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// The server side of one key-exchange run.
pub struct ServerHandshake {
    config: Arc<ServerConfig>,
    state: State,
    /// The last query and its answer, for an identical resend (A-20).
    last: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for ServerHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print nonces or the secret exponent.
        f.debug_struct("ServerHandshake")
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

/// A big-endian `bytes` field as a u64 (at most 8 bytes).
fn be_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    Some(bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
}

fn secs(now: Duration) -> i64 {
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}

/// A-21: the message must belong to the live run.
fn same_run(
    nonce: &[u8; 16],
    server_nonce: &[u8; 16],
    run_nonce: &[u8; 16],
    run_server_nonce: &[u8; 16],
) -> Result<(), AuthError> {
    let same = nonce.ct_eq(run_nonce) & server_nonce.ct_eq(run_server_nonce);
    if bool::from(same) {
        Ok(())
    } else {
        Err(AuthError::UnknownRun)
    }
}

/// The inner data of req_DH_params, whatever its constructor.
struct Inner {
    pq: Vec<u8>,
    p: Vec<u8>,
    q: Vec<u8>,
    nonce: [u8; 16],
    server_nonce: [u8; 16],
    new_nonce: [u8; 32],
    dc: Option<i32>,
    expires_in: Option<i32>,
}

impl From<enums::PQInnerData> for Inner {
    fn from(d: enums::PQInnerData) -> Self {
        use enums::PQInnerData as E;
        match d {
            E::PQInnerData(x) => Inner {
                pq: x.pq,
                p: x.p,
                q: x.q,
                nonce: x.nonce,
                server_nonce: x.server_nonce,
                new_nonce: x.new_nonce,
                dc: None,
                expires_in: None,
            },
            E::PQInnerDataDc(x) => Inner {
                pq: x.pq,
                p: x.p,
                q: x.q,
                nonce: x.nonce,
                server_nonce: x.server_nonce,
                new_nonce: x.new_nonce,
                dc: Some(x.dc),
                expires_in: None,
            },
            E::PQInnerDataTemp(x) => Inner {
                pq: x.pq,
                p: x.p,
                q: x.q,
                nonce: x.nonce,
                server_nonce: x.server_nonce,
                new_nonce: x.new_nonce,
                dc: None,
                expires_in: Some(x.expires_in),
            },
            E::PQInnerDataTempDc(x) => Inner {
                pq: x.pq,
                p: x.p,
                q: x.q,
                nonce: x.nonce,
                server_nonce: x.server_nonce,
                new_nonce: x.new_nonce,
                dc: Some(x.dc),
                expires_in: Some(x.expires_in),
            },
        }
    }
}

/// Parses the inner data from the front of a decrypted buffer; the
/// random padding after it is ignored (A-9 step 5).
fn parse_inner(data: &[u8]) -> Result<(enums::PQInnerData, usize), AuthError> {
    let mut r = Reader::new(data);
    let inner = enums::PQInnerData::deserialize(&mut r)?;
    Ok((inner, r.position()))
}

impl ServerHandshake {
    /// A new run, waiting for req_pq_multi.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        ServerHandshake {
            config,
            state: State::AwaitReqPq,
            last: None,
        }
    }

    /// `true` once the run ended, successfully or not.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done | State::Failed)
    }

    /// Processes one client body. `now` is the server's Unix time;
    /// `key_exists` says whether an auth_key_id is already taken (A-18).
    ///
    /// An error means "answer with [`AuthError::transport_code`]"; the run
    /// is then dead and every later message errors too (A-10).
    pub fn handle(
        &mut self,
        body: &[u8],
        now: Duration,
        rng: &mut (impl RngCore + CryptoRng),
        key_exists: impl FnOnce(&[u8; 8]) -> bool,
    ) -> Result<ServerStep, AuthError> {
        if matches!(self.state, State::Failed) {
            return Err(AuthError::HandshakeFailedEarlier);
        }
        // A-20: an identical resend gets the identical answer.
        if let Some((query, answer)) = &self.last {
            if query[..] == body[..] {
                return Ok(ServerStep::Reply(answer.clone()));
            }
        }
        let state = std::mem::replace(&mut self.state, State::Failed);
        let name = state.name();
        let result = match state {
            State::AwaitReqPq => self.on_req_pq(body, rng),
            State::AwaitReqDh(run) => self.on_req_dh(&run, body, now, rng),
            State::AwaitClientDh(run) => self.on_client_dh(run, body, now, key_exists),
            State::Done | State::Failed => Err(AuthError::UnexpectedMessage {
                state: name,
                constructor: super::constructor_of(body),
            }),
        };
        match result {
            Ok((next, step)) => {
                self.state = next;
                let reply = match &step {
                    ServerStep::Reply(r) => r,
                    ServerStep::Done { reply, .. } => reply,
                };
                self.last = Some((body.to_vec(), reply.clone()));
                Ok(step)
            }
            Err(e) => {
                tracing::debug!(error = %e, "key exchange run failed");
                self.last = None;
                Err(e)
            }
        }
    }

    /// A-2 [S]: fresh server_nonce and pq for this run, our fingerprints.
    fn on_req_pq(
        &mut self,
        body: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(State, ServerStep), AuthError> {
        let nonce = match super::constructor_of(body) {
            functions::ReqPqMulti::CONSTRUCTOR_ID => functions::ReqPqMulti::from_bytes(body)?.nonce,
            functions::ReqPq::CONSTRUCTOR_ID => {
                if !self.config.accept_legacy {
                    return Err(AuthError::LegacyRefused("req_pq"));
                }
                functions::ReqPq::from_bytes(body)?.nonce
            }
            constructor => {
                return Err(AuthError::UnexpectedMessage {
                    state: "awaiting req_pq_multi",
                    constructor,
                })
            }
        };
        let mut server_nonce = [0u8; 16];
        rng.fill_bytes(&mut server_nonce);
        let (pq, p, q) = generate_pq(rng);
        let res = types::ResPQ {
            nonce,
            server_nonce,
            pq: minimal_be(pq),
            server_public_key_fingerprints: self
                .config
                .rsa_keys
                .iter()
                .map(|k| k.public().fingerprint())
                .collect(),
        };
        let run = PqRun {
            nonce,
            server_nonce,
            pq,
            p,
            q,
        };
        Ok((
            State::AwaitReqDh(Box::new(run)),
            ServerStep::Reply(res.to_bytes()),
        ))
    }

    /// Decrypts encrypted_data (A-9 steps 1..5): RSA_PAD first, then — for
    /// the clients that still use it — `SHA1(data) + data + padding`.
    fn decrypt_inner(
        &self,
        key: &RsaPrivateKey,
        encrypted: &[u8],
    ) -> Result<enums::PQInnerData, AuthError> {
        if let Ok(dwp) = key.rsa_pad_decrypt(encrypted) {
            return Ok(parse_inner(&dwp)?.0);
        }
        let legacy = key.legacy_decrypt(encrypted).map_err(|e| match e {
            // Not a well-formed RSA block at all: say so.
            CryptoError::NotBelowModulus | CryptoError::InvalidLength { .. } => AuthError::Rsa(e),
            _ => AuthError::InvalidRsaPayload,
        })?;
        // SHA1 covers the inner data only, so its length comes from parsing.
        let (hash, rest) = legacy.split_at(20.min(legacy.len()));
        let (inner, len) = parse_inner(rest).map_err(|_| AuthError::InvalidRsaPayload)?;
        let digest = crate::crypto::sha1(&[&rest[..len]]);
        if !bool::from(digest.ct_eq(hash)) {
            return Err(AuthError::InvalidRsaPayload);
        }
        if !self.config.accept_legacy {
            return Err(AuthError::LegacyRefused("RSA encryption"));
        }
        Ok(inner)
    }

    /// A-9 [S] checks, then A-11: server_DH_params_ok.
    fn on_req_dh(
        &mut self,
        run: &PqRun,
        body: &[u8],
        now: Duration,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(State, ServerStep), AuthError> {
        let req: functions::ReqDHParams = decode(
            body,
            "awaiting req_DH_params",
            &[functions::ReqDHParams::CONSTRUCTOR_ID],
        )?;
        same_run(&req.nonce, &req.server_nonce, &run.nonce, &run.server_nonce)?;
        if be_u64(&req.p) != Some(run.p) {
            return Err(AuthError::BadPq("p"));
        }
        if be_u64(&req.q) != Some(run.q) {
            return Err(AuthError::BadPq("q"));
        }
        let key = self
            .config
            .rsa_keys
            .iter()
            .find(|k| k.public().fingerprint() == req.public_key_fingerprint)
            .ok_or(AuthError::UnknownFingerprint(req.public_key_fingerprint))?;
        let inner = self.decrypt_inner(key, &req.encrypted_data)?;
        let legacy_inner = matches!(
            inner,
            enums::PQInnerData::PQInnerData(_) | enums::PQInnerData::PQInnerDataTemp(_)
        );
        if legacy_inner && !self.config.accept_legacy {
            return Err(AuthError::LegacyRefused("p_q_inner_data without dc"));
        }
        let inner = Inner::from(inner);
        if !bool::from(inner.nonce.ct_eq(&run.nonce)) {
            return Err(AuthError::NonceMismatch("p_q_inner_data"));
        }
        if !bool::from(inner.server_nonce.ct_eq(&run.server_nonce)) {
            return Err(AuthError::ServerNonceMismatch("p_q_inner_data"));
        }
        if be_u64(&inner.pq) != Some(run.pq) {
            return Err(AuthError::BadPq("pq in the inner data"));
        }
        if be_u64(&inner.p) != Some(run.p) {
            return Err(AuthError::BadPq("p in the inner data"));
        }
        if be_u64(&inner.q) != Some(run.q) {
            return Err(AuthError::BadPq("q in the inner data"));
        }
        if let Some(dc) = inner.dc {
            if !server_accepts_dc(self.config.dc_id, dc) {
                return Err(AuthError::InvalidDc { got: dc });
            }
        }
        if let Some(e) = inner.expires_in {
            if e <= 0 {
                return Err(AuthError::InvalidExpiresIn(e));
            }
        }

        // A-11: a fresh secret a with g_a inside the G-3 range.
        let dh_prime = BigUint::from_bytes_be(&self.config.dh_prime);
        let g = BigUint::from(u32::try_from(self.config.g).unwrap_or(0));
        let mut a_bytes = [0u8; 256];
        let mut attempt = 0;
        let (a, g_a) = loop {
            rng.fill_bytes(&mut a_bytes);
            let a = BigUint::from_bytes_be(&a_bytes);
            // The checked modpow: a misconfigured (zero or oversized) prime
            // is an error, not a panic.
            let g_a = BigUint::from_bytes_be(&modpow_be256(&g, &a, &dh_prime)?);
            match check_dh_value(&g_a, &dh_prime, DhValue::GA) {
                Ok(()) => break (a, g_a),
                Err(e) => {
                    attempt += 1;
                    if attempt >= MAX_A_ATTEMPTS {
                        return Err(e.into());
                    }
                }
            }
        };
        a_bytes.fill(0);
        let answer = types::ServerDHInnerData {
            nonce: run.nonce,
            server_nonce: run.server_nonce,
            g: self.config.g,
            dh_prime: self.config.dh_prime.clone(),
            // B-6: dh_prime and g_a travel as 256 bytes.
            g_a: to_be_256(&g_a)?.to_vec(),
            server_time: i32::try_from(secs(now)).unwrap_or(i32::MAX),
        };
        let (tmp_key, tmp_iv) = tmp_aes_key_iv(&inner.new_nonce, &run.server_nonce);
        let encrypted_answer = seal(&answer.to_bytes(), &tmp_key, &tmp_iv, rng);
        let reply = types::ServerDHParamsOk {
            nonce: run.nonce,
            server_nonce: run.server_nonce,
            encrypted_answer,
        };
        let next = DhRun {
            nonce: run.nonce,
            server_nonce: run.server_nonce,
            new_nonce: inner.new_nonce,
            tmp_key,
            tmp_iv,
            a,
            dh_prime,
            temp_expires_in: inner.expires_in,
            dc: inner.dc,
            expected_retry_id: 0,
            retries: 0,
        };
        Ok((
            State::AwaitClientDh(Box::new(next)),
            ServerStep::Reply(reply.to_bytes()),
        ))
    }

    /// A-16 [S], A-17, A-18 [S], A-19.
    fn on_client_dh(
        &mut self,
        mut run: Box<DhRun>,
        body: &[u8],
        now: Duration,
        key_exists: impl FnOnce(&[u8; 8]) -> bool,
    ) -> Result<(State, ServerStep), AuthError> {
        let req: functions::SetClientDHParams = decode(
            body,
            "awaiting set_client_DH_params",
            &[functions::SetClientDHParams::CONSTRUCTOR_ID],
        )?;
        same_run(&req.nonce, &req.server_nonce, &run.nonce, &run.server_nonce)?;
        let inner: types::ClientDHInnerData = open(&req.encrypted_data, &run.tmp_key, &run.tmp_iv)?;
        if !bool::from(inner.nonce.ct_eq(&run.nonce)) {
            return Err(AuthError::NonceMismatch("client_DH_inner_data"));
        }
        if !bool::from(inner.server_nonce.ct_eq(&run.server_nonce)) {
            return Err(AuthError::ServerNonceMismatch("client_DH_inner_data"));
        }
        if inner.retry_id != run.expected_retry_id {
            return Err(AuthError::RetryIdMismatch {
                expected: run.expected_retry_id,
                got: inner.retry_id,
            });
        }
        let g_b = BigUint::from_bytes_be(&inner.g_b);
        check_dh_value(&g_b, &run.dh_prime, DhValue::GB)?;
        let auth_key = AuthKey::from_bytes(&modpow_be256(&g_b, &run.a, &run.dh_prime)?);
        let aux = auth_key.aux_hash();

        if key_exists(&auth_key.id()) {
            run.retries += 1;
            if run.retries > self.config.max_retries {
                let fail = types::DhGenFail {
                    nonce: run.nonce,
                    server_nonce: run.server_nonce,
                    new_nonce_hash3: new_nonce_hash(&run.new_nonce, 3, &aux),
                };
                // The run ends here; later messages get −404 (A-10).
                return Ok((State::Failed, ServerStep::Reply(fail.to_bytes())));
            }
            run.expected_retry_id = i64::from_le_bytes(aux);
            let retry = types::DhGenRetry {
                nonce: run.nonce,
                server_nonce: run.server_nonce,
                new_nonce_hash2: new_nonce_hash(&run.new_nonce, 2, &aux),
            };
            return Ok((
                State::AwaitClientDh(run),
                ServerStep::Reply(retry.to_bytes()),
            ));
        }

        let ok = types::DhGenOk {
            nonce: run.nonce,
            server_nonce: run.server_nonce,
            new_nonce_hash1: new_nonce_hash(&run.new_nonce, 1, &aux),
        };
        let outcome = ServerAuthOutcome {
            auth_key,
            server_salt: initial_salt(&run.new_nonce, &run.server_nonce),
            temp_expires_in: run.temp_expires_in,
            time: secs(now),
            dc: run.dc,
        };
        // A-19: `run` and its secrets are dropped here.
        Ok((
            State::Done,
            ServerStep::Done {
                reply: ok.to_bytes(),
                outcome,
            },
        ))
    }
}
