//! One negative test per server-side check. A hand-driven client (built
//! from the generated TL types and the crypto functions) sends exactly the
//! message each test needs.

use std::sync::Arc;
use std::time::Duration;

use num_bigint::BigUint;
use num_traits::One;
use rand::rngs::StdRng;

use crate::auth::sealed::{open, seal};
use crate::auth::test_support::*;
use crate::auth::{p_q_inner_data, AuthError, ServerConfig, ServerHandshake, ServerStep};
use crate::crypto::{
    factorize_pq, rsa_legacy_encrypt, rsa_pad_encrypt, telegram_dh_prime, tmp_aes_key_iv, DhCheck,
    DhValue,
};
use crate::tl::service::{functions, types};
use crate::tl::{Deserialize, Serialize};

const CLIENT_NONCE: [u8; 16] = [0x11; 16];
const CLIENT_NEW_NONCE: [u8; 32] = [0x22; 32];

fn now() -> Duration {
    Duration::from_secs(1_700_000_000)
}

/// A server run plus what the hand-driven client knows about it.
struct Run {
    server: ServerHandshake,
    rng: StdRng,
    res: types::ResPQ,
}

impl Run {
    fn new() -> Self {
        Self::with_config(server_config(2))
    }

    fn with_config(config: Arc<ServerConfig>) -> Self {
        let mut server = ServerHandshake::new(config);
        let mut rng = rng(21);
        let req = functions::ReqPqMulti {
            nonce: CLIENT_NONCE,
        };
        let res = match server.handle(&req.to_bytes(), now(), &mut rng, |_| false) {
            Ok(ServerStep::Reply(r)) => types::ResPQ::from_bytes(&r).unwrap(),
            other => panic!("{other:?}"),
        };
        Run { server, rng, res }
    }

    fn send(&mut self, body: &[u8]) -> Result<ServerStep, AuthError> {
        self.send_with(body, false)
    }

    fn send_with(&mut self, body: &[u8], collide: bool) -> Result<ServerStep, AuthError> {
        self.server.handle(body, now(), &mut self.rng, |_| collide)
    }

    /// p and q as minimal big-endian bytes, from factoring resPQ's pq.
    fn p_q(&self) -> (Vec<u8>, Vec<u8>) {
        let pq = self.res.pq.iter().fold(0u64, |a, &b| a << 8 | u64::from(b));
        let (p, q) = factorize_pq(pq).unwrap();
        let min = |v: u64| BigUint::from(v).to_bytes_be();
        (min(p), min(q))
    }

    /// p_q_inner_data_dc for this run, as a correct client would build it.
    fn inner(&self, dc: i32, expires_in: Option<i32>, legacy: bool) -> Vec<u8> {
        let (p, q) = self.p_q();
        p_q_inner_data(
            &self.res.pq,
            &p,
            &q,
            CLIENT_NONCE,
            self.res.server_nonce,
            CLIENT_NEW_NONCE,
            dc,
            expires_in,
            legacy,
        )
    }

    /// req_DH_params carrying `inner` (RSA_PAD, or the legacy form).
    fn req_dh(&self, inner: &[u8], legacy_rsa: bool) -> functions::ReqDHParams {
        let key = server_key().public();
        let encrypted = if legacy_rsa {
            rsa_legacy_encrypt(inner, &key, &mut rng(22)).unwrap()
        } else {
            rsa_pad_encrypt(inner, &key, &mut rng(22)).unwrap()
        };
        let (p, q) = self.p_q();
        functions::ReqDHParams {
            nonce: CLIENT_NONCE,
            server_nonce: self.res.server_nonce,
            p,
            q,
            public_key_fingerprint: key.fingerprint(),
            encrypted_data: encrypted.to_vec(),
        }
    }

    /// Runs the req_DH_params step correctly and returns the decrypted
    /// server_DH_inner_data.
    fn advance_to_dh(&mut self) -> types::ServerDHInnerData {
        let req = self.req_dh(&self.inner(2, None, false), false).to_bytes();
        let reply = match self.send(&req) {
            Ok(ServerStep::Reply(r)) => r,
            other => panic!("{other:?}"),
        };
        let ok = types::ServerDHParamsOk::from_bytes(&reply).unwrap();
        let (key, iv) = tmp_aes_key_iv(&CLIENT_NEW_NONCE, &self.res.server_nonce);
        open(&ok.encrypted_answer, &key, &iv).unwrap()
    }

    /// set_client_DH_params with the given inner fields.
    fn set_dh(&self, inner: &types::ClientDHInnerData) -> Vec<u8> {
        let (key, iv) = tmp_aes_key_iv(&CLIENT_NEW_NONCE, &self.res.server_nonce);
        functions::SetClientDHParams {
            nonce: CLIENT_NONCE,
            server_nonce: self.res.server_nonce,
            encrypted_data: seal(&inner.to_bytes(), &key, &iv, &mut rng(23)),
        }
        .to_bytes()
    }

    fn client_inner(&self, g_b: &BigUint, retry_id: i64) -> types::ClientDHInnerData {
        types::ClientDHInnerData {
            nonce: CLIENT_NONCE,
            server_nonce: self.res.server_nonce,
            retry_id,
            g_b: g_b.to_bytes_be(),
        }
    }
}

/// A g_b that passes G-3 for the default prime.
fn good_g_b() -> BigUint {
    BigUint::from(3u32).modpow(&(BigUint::one() << 2000u32), &telegram_dh_prime())
}

/// A-10 helper: after a failure the run refuses everything, even the
/// message a correct client would send next, with −404.
fn assert_dead(run: &mut Run, valid_next: &[u8]) {
    let err = run.send(valid_next).unwrap_err();
    assert_eq!(err, AuthError::HandshakeFailedEarlier);
    assert_eq!(err.transport_code(), -404);
    assert!(run.server.is_finished());
}

/// every run gets a fresh server_nonce and pq (two runs, one RNG,
/// the same client nonce); pq = p·q with p < q both prime; resPQ echoes the
/// nonce and lists our key's fingerprint.
#[test]
fn a2_res_pq_fresh_per_run() {
    let mut shared = rng(77);
    let mut answer = || {
        let mut srv = ServerHandshake::new(server_config(2));
        let req = functions::ReqPqMulti {
            nonce: CLIENT_NONCE,
        };
        match srv.handle(&req.to_bytes(), now(), &mut shared, |_| false) {
            Ok(ServerStep::Reply(r)) => types::ResPQ::from_bytes(&r).unwrap(),
            other => panic!("{other:?}"),
        }
    };
    let (a, b) = (answer(), answer());
    assert_ne!(a.server_nonce, b.server_nonce);
    assert_ne!(a.pq, b.pq);
    for res in [&a, &b] {
        assert_eq!(res.nonce, CLIENT_NONCE);
        assert_eq!(
            res.server_public_key_fingerprints,
            vec![server_key().public().fingerprint()]
        );
        let pq = res.pq.iter().fold(0u64, |x, &y| x << 8 | u64::from(y));
        let (p, q) = factorize_pq(pq).unwrap();
        assert!(p < q && p * q == pq);
    }
}

/// the legacy req_pq gets the same kind of answer.
#[test]
fn a2_legacy_req_pq_answered() {
    let mut srv = ServerHandshake::new(server_config(2));
    let body = functions::ReqPq {
        nonce: CLIENT_NONCE,
    }
    .to_bytes();
    match srv.handle(&body, now(), &mut rng(1), |_| false) {
        Ok(ServerStep::Reply(r)) => {
            assert_eq!(types::ResPQ::from_bytes(&r).unwrap().nonce, CLIENT_NONCE)
        }
        other => panic!("{other:?}"),
    }
}

/// a message that does not open a run is refused.
#[test]
fn a10_unexpected_first_message() {
    let mut srv = ServerHandshake::new(server_config(2));
    let err = srv
        .handle(&body_of(DH_GEN_OK_MSG), now(), &mut rng(1), |_| false)
        .unwrap_err();
    assert_eq!(
        err,
        AuthError::UnexpectedMessage {
            state: "awaiting req_pq_multi",
            constructor: 0x3bcbf734
        }
    );
    let first = functions::ReqPqMulti { nonce: [0; 16] }.to_bytes();
    assert_eq!(
        srv.handle(&first, now(), &mut rng(1), |_| false)
            .unwrap_err(),
        AuthError::HandshakeFailedEarlier
    );
}

/// req_DH_params with a server_nonce (or nonce) that is not the
/// live run's is refused; afterwards even the correct one is.
#[test]
fn a21_req_dh_params_foreign_pair() {
    let mut run = Run::new();
    let good = run.req_dh(&run.inner(2, None, false), false);
    let mut bad = good.clone();
    bad.server_nonce[0] ^= 1;
    assert_eq!(
        run.send(&bad.to_bytes()).unwrap_err(),
        AuthError::UnknownRun
    );
    assert_dead(&mut run, &good.to_bytes());

    let mut run = Run::new();
    let mut bad = run.req_dh(&run.inner(2, None, false), false);
    bad.nonce[0] ^= 1;
    assert_eq!(
        run.send(&bad.to_bytes()).unwrap_err(),
        AuthError::UnknownRun
    );
}

/// set_client_DH_params with a foreign pair.
#[test]
fn a21_set_client_dh_params_foreign_pair() {
    let mut run = Run::new();
    run.advance_to_dh();
    let good = run.set_dh(&run.client_inner(&good_g_b(), 0));
    let mut bad = functions::SetClientDHParams::from_bytes(&good).unwrap();
    bad.server_nonce[5] ^= 1;
    assert_eq!(
        run.send(&bad.to_bytes()).unwrap_err(),
        AuthError::UnknownRun
    );
    assert_dead(&mut run, &good);
}

/// a flipped bit in the RSA ciphertext fails RSA_PAD's SHA-256 and the
/// legacy SHA1 alike; a block not below n and one of the wrong size are
/// RSA errors.
#[test]
fn a9_tampered_rsa_ciphertext() {
    let mut run = Run::new();
    let good = run.req_dh(&run.inner(2, None, false), false);
    let mut bad = good.clone();
    bad.encrypted_data[255] ^= 1;
    assert_eq!(
        run.send(&bad.to_bytes()).unwrap_err(),
        AuthError::InvalidRsaPayload
    );
    assert_dead(&mut run, &good.to_bytes());

    let mut run = Run::new();
    let mut bad = run.req_dh(&run.inner(2, None, false), false);
    bad.encrypted_data = vec![0xFF; 256];
    assert_eq!(
        run.send(&bad.to_bytes()).unwrap_err(),
        AuthError::Rsa(crate::crypto::CryptoError::NotBelowModulus)
    );

    let mut run = Run::new();
    let mut bad = run.req_dh(&run.inner(2, None, false), false);
    bad.encrypted_data.pop();
    assert!(matches!(
        run.send(&bad.to_bytes()).unwrap_err(),
        AuthError::Rsa(crate::crypto::CryptoError::InvalidLength { .. })
    ));
}

/// p or q in req_DH_params, or pq/p/q inside the inner data, differ
/// from what resPQ committed to.
#[test]
fn a9_pq_mismatch() {
    let mut run = Run::new();
    let mut bad = run.req_dh(&run.inner(2, None, false), false);
    bad.p[0] ^= 0x01;
    assert_eq!(
        run.send(&bad.to_bytes()).unwrap_err(),
        AuthError::BadPq("p")
    );

    let mut run = Run::new();
    let mut bad = run.req_dh(&run.inner(2, None, false), false);
    std::mem::swap(&mut bad.p, &mut bad.q);
    assert_eq!(
        run.send(&bad.to_bytes()).unwrap_err(),
        AuthError::BadPq("p")
    );

    let mut run = Run::new();
    let (p, q) = run.p_q();
    let mut pq = run.res.pq.clone();
    let last = pq.len() - 1;
    pq[last] ^= 2;
    let inner = p_q_inner_data(
        &pq,
        &p,
        &q,
        CLIENT_NONCE,
        run.res.server_nonce,
        CLIENT_NEW_NONCE,
        2,
        None,
        false,
    );
    let req = run.req_dh(&inner, false);
    assert_eq!(
        run.send(&req.to_bytes()).unwrap_err(),
        AuthError::BadPq("pq in the inner data")
    );

    let mut run = Run::new();
    let (p, q) = run.p_q();
    let inner = p_q_inner_data(
        &run.res.pq,
        &q,
        &p,
        CLIENT_NONCE,
        run.res.server_nonce,
        CLIENT_NEW_NONCE,
        2,
        None,
        false,
    );
    let req = run.req_dh(&inner, false);
    assert_eq!(
        run.send(&req.to_bytes()).unwrap_err(),
        AuthError::BadPq("p in the inner data")
    );
}

/// A-9, G-5: the encrypted inner data must carry the run's nonces.
#[test]
fn a9_inner_nonces() {
    let mut run = Run::new();
    let (p, q) = run.p_q();
    let mut nonce = CLIENT_NONCE;
    nonce[0] ^= 1;
    let inner = p_q_inner_data(
        &run.res.pq,
        &p,
        &q,
        nonce,
        run.res.server_nonce,
        CLIENT_NEW_NONCE,
        2,
        None,
        false,
    );
    let req = run.req_dh(&inner, false);
    assert_eq!(
        run.send(&req.to_bytes()).unwrap_err(),
        AuthError::NonceMismatch("p_q_inner_data")
    );

    let mut run = Run::new();
    let (p, q) = run.p_q();
    let inner = p_q_inner_data(
        &run.res.pq,
        &p,
        &q,
        CLIENT_NONCE,
        [0; 16],
        CLIENT_NEW_NONCE,
        2,
        None,
        false,
    );
    let req = run.req_dh(&inner, false);
    assert_eq!(
        run.send(&req.to_bytes()).unwrap_err(),
        AuthError::ServerNonceMismatch("p_q_inner_data")
    );
}

/// a fingerprint the server does not hold.
#[test]
fn a9_unknown_fingerprint() {
    let mut run = Run::new();
    let mut bad = run.req_dh(&run.inner(2, None, false), false);
    bad.public_key_fingerprint ^= 1;
    assert_eq!(
        run.send(&bad.to_bytes()).unwrap_err(),
        AuthError::UnknownFingerprint(bad.public_key_fingerprint)
    );
}

/// A-7, T-11, A-10: a wrong dc is −444, and the next message −404.
#[test]
fn a7_wrong_dc_then_dead() {
    let mut run = Run::new();
    let bad = run.req_dh(&run.inner(4, None, false), false);
    let err = run.send(&bad.to_bytes()).unwrap_err();
    assert_eq!(err, AuthError::InvalidDc { got: 4 });
    assert_eq!(err.transport_code(), -444);
    let good = run.req_dh(&run.inner(2, None, false), false);
    assert_dead(&mut run, &good.to_bytes());
}

/// a temporary key needs a positive lifetime.
#[test]
fn a22_non_positive_expires_in() {
    let mut run = Run::new();
    let bad = run.req_dh(&run.inner(2, Some(0), false), false);
    assert_eq!(
        run.send(&bad.to_bytes()).unwrap_err(),
        AuthError::InvalidExpiresIn(0)
    );
}

/// legacy RSA with dc-ful inner data is accepted by default and
/// refused when legacy forms are off; RSA_PAD with dc-less inner data too.
#[test]
fn q4_legacy_forms_on_and_off() {
    let mut run = Run::new();
    let req = run.req_dh(&run.inner(2, None, false), true);
    assert!(matches!(
        run.send(&req.to_bytes()),
        Ok(ServerStep::Reply(_))
    ));

    let mut strict = ServerConfig::new(vec![server_key().clone()], 2);
    strict.accept_legacy = false;
    let strict = Arc::new(strict);
    let mut run = Run::with_config(strict.clone());
    let req = run.req_dh(&run.inner(2, None, false), true);
    assert_eq!(
        run.send(&req.to_bytes()).unwrap_err(),
        AuthError::LegacyRefused("RSA encryption")
    );
    let mut run = Run::with_config(strict);
    let req = run.req_dh(&run.inner(2, None, true), false);
    assert_eq!(
        run.send(&req.to_bytes()).unwrap_err(),
        AuthError::LegacyRefused("p_q_inner_data without dc")
    );
}

/// A-11, B-6, G-1..G-3: the answer carries the configured prime and g,
/// a g_a in the G-3 range, the server's clock and the run's nonces.
#[test]
fn a11_server_dh_inner_data_contents() {
    let mut run = Run::new();
    let inner = run.advance_to_dh();
    let p = telegram_dh_prime();
    assert_eq!(
        (inner.nonce, inner.server_nonce),
        (CLIENT_NONCE, run.res.server_nonce)
    );
    assert_eq!(inner.g, 3);
    assert_eq!(BigUint::from_bytes_be(&inner.dh_prime), p);
    assert_eq!(inner.g_a.len(), 256);
    let g_a = BigUint::from_bytes_be(&inner.g_a);
    assert_eq!(crate::crypto::check_dh_value(&g_a, &p, DhValue::GA), Ok(()));
    assert_eq!(i64::from(inner.server_time), 1_700_000_000);
}

/// G-3, A-16 [S]: g_b = 1, g_b below 2^1984, g_b above p − 2^1984.
#[test]
fn g3_server_rejects_g_b_out_of_range() {
    let p = telegram_dh_prime();
    let bound = BigUint::one() << 1984u32;
    let cases = [
        (BigUint::one(), DhCheck::ValueOutOfRange(DhValue::GB)),
        (&bound - 1u32, DhCheck::ValueNotInSafeRange(DhValue::GB)),
        (
            &p - &bound + 1u32,
            DhCheck::ValueNotInSafeRange(DhValue::GB),
        ),
    ];
    for (g_b, check) in cases {
        let mut run = Run::new();
        run.advance_to_dh();
        let body = run.set_dh(&run.client_inner(&g_b, 0));
        assert_eq!(run.send(&body).unwrap_err(), AuthError::Dh(check));
        let good = run.set_dh(&run.client_inner(&good_g_b(), 0));
        assert_dead(&mut run, &good);
    }
}

/// A-16 [S], G-4: a tampered encrypted_data fails the SHA1 check; wrong
/// nonces inside client_DH_inner_data are refused.
#[test]
fn a16_server_checks_client_dh_inner_data() {
    let mut run = Run::new();
    run.advance_to_dh();
    let mut bad =
        functions::SetClientDHParams::from_bytes(&run.set_dh(&run.client_inner(&good_g_b(), 0)))
            .unwrap();
    let last = bad.encrypted_data.len() - 1;
    bad.encrypted_data[last] ^= 1;
    assert_eq!(
        run.send(&bad.to_bytes()).unwrap_err(),
        AuthError::AnswerHashMismatch
    );

    let mut run = Run::new();
    run.advance_to_dh();
    let mut inner = run.client_inner(&good_g_b(), 0);
    inner.nonce[9] ^= 1;
    assert_eq!(
        run.send(&run.set_dh(&inner)).unwrap_err(),
        AuthError::NonceMismatch("client_DH_inner_data")
    );

    let mut run = Run::new();
    run.advance_to_dh();
    let mut inner = run.client_inner(&good_g_b(), 0);
    inner.server_nonce[9] ^= 1;
    assert_eq!(
        run.send(&run.set_dh(&inner)).unwrap_err(),
        AuthError::ServerNonceMismatch("client_DH_inner_data")
    );
}

/// A-15, A-18 [S]: retry_id must be 0 first and the colliding key's aux
/// hash after dh_gen_retry.
#[test]
fn a15_server_checks_retry_id() {
    let mut run = Run::new();
    run.advance_to_dh();
    assert_eq!(
        run.send(&run.set_dh(&run.client_inner(&good_g_b(), 5)))
            .unwrap_err(),
        AuthError::RetryIdMismatch {
            expected: 0,
            got: 5
        }
    );

    let mut run = Run::new();
    let server_inner = run.advance_to_dh();
    let first = run.set_dh(&run.client_inner(&good_g_b(), 0));
    match run.send_with(&first, true) {
        Ok(ServerStep::Reply(r)) => {
            types::DhGenRetry::from_bytes(&r).unwrap();
        }
        other => panic!("{other:?}"),
    }
    // The key the server computed: g_a^b for our b = 2^2000.
    let p = telegram_dh_prime();
    let g_a = BigUint::from_bytes_be(&server_inner.g_a);
    let key = g_a.modpow(&(BigUint::one() << 2000u32), &p);
    let key = crate::crypto::AuthKey::from_slice(&crate::crypto::to_be_256(&key).unwrap()).unwrap();
    let aux = i64::from_le_bytes(key.aux_hash());
    let g_b2 = BigUint::from(3u32).modpow(&(BigUint::one() << 2001u32), &p);
    assert_eq!(
        run.send(&run.set_dh(&run.client_inner(&g_b2, 0)))
            .unwrap_err(),
        AuthError::RetryIdMismatch {
            expected: aux,
            got: 0
        }
    );
}

/// an identical resend gets the identical answer at every step —
/// even though each answer holds fresh randomness — and the run goes on.
#[test]
fn a20_identical_resend_identical_answer() {
    let mut run = Run::new();
    let req_pq = functions::ReqPqMulti {
        nonce: CLIENT_NONCE,
    }
    .to_bytes();
    match run.send(&req_pq) {
        Ok(ServerStep::Reply(r)) => assert_eq!(r, run.res.to_bytes()),
        other => panic!("{other:?}"),
    }
    let req = run.req_dh(&run.inner(2, None, false), false).to_bytes();
    let first = match run.send(&req) {
        Ok(ServerStep::Reply(r)) => r,
        other => panic!("{other:?}"),
    };
    match run.send(&req) {
        Ok(ServerStep::Reply(r)) => assert_eq!(r, first),
        other => panic!("{other:?}"),
    }
    let set = run.set_dh(&run.client_inner(&good_g_b(), 0));
    let ok = match run.send(&set) {
        Ok(ServerStep::Done { reply, .. }) => reply,
        other => panic!("{other:?}"),
    };
    types::DhGenOk::from_bytes(&ok).unwrap();
    match run.send(&set) {
        Ok(ServerStep::Reply(r)) => assert_eq!(r, ok),
        other => panic!("{other:?}"),
    }
    assert!(run.server.is_finished());
}

/// after dh_gen_ok the run accepts nothing new.
#[test]
fn a10_done_run_refuses_new_messages() {
    let mut run = Run::new();
    run.advance_to_dh();
    let set = run.set_dh(&run.client_inner(&good_g_b(), 0));
    assert!(matches!(run.send(&set), Ok(ServerStep::Done { .. })));
    let other = run.set_dh(&run.client_inner(&(good_g_b() + 1u32), 0));
    assert!(matches!(
        run.send(&other),
        Err(AuthError::UnexpectedMessage { state: "done", .. })
    ));
    assert_dead(&mut run, &set);
}

/// Hostile input never panics the server: truncations and byte flips of
/// each client message.
#[test]
fn no_panic_on_mangled_client_messages() {
    let run = Run::new();
    let req = run.req_dh(&run.inner(2, None, false), false).to_bytes();
    for cut in (0..req.len()).step_by(11) {
        let mut run = Run::new();
        let _ = run.send(&req[..cut]);
    }
    for i in (0..req.len()).step_by(17) {
        let mut run = Run::new();
        let mut m = req.clone();
        m[i] ^= 0x40;
        let _ = run.send(&m);
    }
    let mut base = Run::new();
    base.advance_to_dh();
    let set = base.set_dh(&base.client_inner(&good_g_b(), 0));
    for i in (0..set.len()).step_by(19) {
        let mut run = Run::new();
        run.advance_to_dh();
        let mut m = set.clone();
        m[i] ^= 0x08;
        let _ = run.send(&m);
        let _ = run.send(&m[..i]);
    }
}

/// Nothing panics on configuration either: an empty dh_prime is a typed
/// error when the run needs it.
#[test]
fn misconfigured_prime_is_an_error() {
    let mut config = ServerConfig::new(vec![server_key().clone()], 2);
    config.dh_prime = Vec::new();
    let mut run = Run::with_config(Arc::new(config));
    let req = run.req_dh(&run.inner(2, None, false), false);
    assert!(matches!(
        run.send(&req.to_bytes()),
        Err(AuthError::Crypto(_))
    ));
}
