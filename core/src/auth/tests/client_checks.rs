//! One negative test per client-side check, each starting from the
//! published sample (TV §1) and changing exactly one thing, built with the
//! generated TL types and the crypto functions a server would use.

use std::time::Duration;

use num_bigint::BigUint;
use num_traits::One;

use super::client_vector::{
    dh_draws, tv_client, tv_client_after_dh_params, tv_client_after_dh_params_with,
    tv_client_after_res_pq,
};
use crate::auth::sealed::open;
use crate::auth::test_support::*;
use crate::auth::{AuthError, ClientStep};
use crate::crypto::{
    ige_encrypt, new_nonce_hash, random_prime, sha1, telegram_dh_prime, tmp_aes_key_iv, AuthKey,
    DhCheck, DhValue, TELEGRAM_DH_PRIME,
};
use crate::tl::service::{functions, types};
use crate::tl::{Deserialize, Serialize};

fn now() -> Duration {
    Duration::from_secs(SERVER_TIME)
}

fn res_pq() -> types::ResPQ {
    types::ResPQ::from_bytes(&body_of(RES_PQ_MSG)).unwrap()
}

/// The server_DH_inner_data of the sample.
fn tv_inner() -> types::ServerDHInnerData {
    types::ServerDHInnerData {
        nonce: arr(NONCE),
        server_nonce: arr(SERVER_NONCE),
        g: 3,
        dh_prime: TELEGRAM_DH_PRIME.to_vec(),
        g_a: unhex(G_A),
        server_time: SERVER_TIME as i32,
    }
}

/// server_DH_params_ok around `inner`, sealed under the sample's temporary
/// key with `extra_blocks` more 16-byte blocks of padding than needed.
fn dh_params_ok(inner: &types::ServerDHInnerData, extra_blocks: usize) -> Vec<u8> {
    let (key, iv) = tmp_aes_key_iv(&arr(NEW_NONCE), &arr(SERVER_NONCE));
    let data = inner.to_bytes();
    let mut plain = sha1(&[&data]).to_vec();
    plain.extend_from_slice(&data);
    let pad = (16 - plain.len() % 16) % 16 + 16 * extra_blocks;
    plain.resize(plain.len() + pad, 0xA5);
    ige_encrypt(&mut plain, &key, &iv).unwrap();
    types::ServerDHParamsOk {
        nonce: arr(NONCE),
        server_nonce: arr(SERVER_NONCE),
        encrypted_answer: plain,
    }
    .to_bytes()
}

/// Feeds `inner` to a TV client that is waiting for server_DH_params.
fn feed_inner(inner: &types::ServerDHInnerData) -> Result<ClientStep, AuthError> {
    let (mut hs, mut rng) = tv_client_after_res_pq();
    // Enough for b, padding and any Miller–Rabin bases.
    rng.fall_back_to(7);
    hs.handle(&dh_params_ok(inner, 0), now(), &mut rng)
}

fn big_be(x: &BigUint) -> Vec<u8> {
    x.to_bytes_be()
}

/// A-3, G-5: a resPQ whose nonce is not ours is rejected, and the run is
/// dead afterwards (A-10, G-11).
#[test]
fn a3_res_pq_wrong_nonce() {
    let (mut hs, _, mut rng) = tv_client();
    let mut res = res_pq();
    res.nonce[0] ^= 1;
    assert_eq!(
        hs.handle(&res.to_bytes(), now(), &mut rng).unwrap_err(),
        AuthError::NonceMismatch("resPQ")
    );
    assert_eq!(
        hs.handle(&body_of(RES_PQ_MSG), now(), &mut rng)
            .unwrap_err(),
        AuthError::HandshakeFailedEarlier
    );
}

/// no offered fingerprint matches a key we hold.
#[test]
fn a3_no_known_fingerprint() {
    let (mut hs, _, mut rng) = tv_client();
    let mut res = res_pq();
    res.server_public_key_fingerprints = vec![1, 2];
    assert_eq!(
        hs.handle(&res.to_bytes(), now(), &mut rng).unwrap_err(),
        AuthError::NoKnownFingerprint {
            offered: vec![1, 2]
        }
    );
}

/// the first offered fingerprint we know wins, wherever it is listed.
#[test]
fn a3_picks_known_fingerprint_among_unknown_ones() {
    let (mut hs, _, mut rng) = tv_client();
    super::client_vector::res_pq_draws(&mut rng);
    let mut res = res_pq();
    res.server_public_key_fingerprints = vec![7, PROD_FINGERPRINT, 9];
    let body = match hs.handle(&res.to_bytes(), now(), &mut rng).unwrap() {
        ClientStep::Send(b) => b,
        other => panic!("{other:?}"),
    };
    let req = functions::ReqDHParams::from_bytes(&body).unwrap();
    assert_eq!(req.public_key_fingerprint, PROD_FINGERPRINT);
}

/// a pq that is prime cannot be split; one longer than 64 bits is
/// malformed.
#[test]
fn a4_bad_pq() {
    let (mut hs, _, mut rng) = tv_client();
    let mut res = res_pq();
    res.pq = 4294967291u64.to_be_bytes()[4..].to_vec();
    assert_eq!(
        hs.handle(&res.to_bytes(), now(), &mut rng).unwrap_err(),
        AuthError::PqFactorization(4294967291)
    );
    let (mut hs, _, mut rng) = tv_client();
    let mut res = res_pq();
    res.pq = vec![1; 9];
    assert_eq!(
        hs.handle(&res.to_bytes(), now(), &mut rng).unwrap_err(),
        AuthError::BadPq("pq")
    );
}

/// A-4, B-6, TV §1.5: p and q go out as minimal big-endian, p < q.
#[test]
fn a4_p_q_minimal_big_endian() {
    let (mut hs, _, mut rng) = tv_client();
    super::client_vector::res_pq_draws(&mut rng);
    let body = match hs.handle(&body_of(RES_PQ_MSG), now(), &mut rng).unwrap() {
        ClientStep::Send(b) => b,
        other => panic!("{other:?}"),
    };
    let req = functions::ReqDHParams::from_bytes(&body).unwrap();
    assert_eq!((req.p, req.q), (unhex("44095E05"), unhex("47A8C84F")));
}

/// G-5: server_DH_params_ok with a foreign nonce or server_nonce.
#[test]
fn g5_server_dh_params_wrong_nonces() {
    let body = body_of(SERVER_DH_PARAMS_MSG);
    let (mut hs, mut rng) = tv_client_after_res_pq();
    let mut bad = body.clone();
    bad[4] ^= 1; // nonce
    assert_eq!(
        hs.handle(&bad, now(), &mut rng).unwrap_err(),
        AuthError::NonceMismatch("server_DH_params_ok")
    );
    let (mut hs, mut rng) = tv_client_after_res_pq();
    let mut bad = body;
    bad[20] ^= 1; // server_nonce
    assert_eq!(
        hs.handle(&bad, now(), &mut rng).unwrap_err(),
        AuthError::ServerNonceMismatch("server_DH_params_ok")
    );
}

/// A-14, G-5: the decrypted server_DH_inner_data must repeat both nonces.
#[test]
fn g5_server_dh_inner_data_wrong_nonces() {
    let mut inner = tv_inner();
    inner.nonce[15] ^= 0x80;
    assert_eq!(
        feed_inner(&inner).unwrap_err(),
        AuthError::NonceMismatch("server_DH_inner_data")
    );
    let mut inner = tv_inner();
    inner.server_nonce[0] ^= 0x80;
    assert_eq!(
        feed_inner(&inner).unwrap_err(),
        AuthError::ServerNonceMismatch("server_DH_inner_data")
    );
}

/// G-4, A-13, TV §1.6: one flipped bit in encrypted_answer (its last block,
/// so the data still parses) fails the SHA1 check.
#[test]
fn g4_tampered_encrypted_answer() {
    let mut body = body_of(SERVER_DH_PARAMS_MSG);
    let last = body.len() - 1;
    body[last] ^= 0x01;
    let (mut hs, mut rng) = tv_client_after_res_pq();
    assert_eq!(
        hs.handle(&body, now(), &mut rng).unwrap_err(),
        AuthError::AnswerHashMismatch
    );
}

/// an encrypted_answer that is not a multiple of 16 bytes.
#[test]
fn a13_answer_not_block_aligned() {
    let mut ok = types::ServerDHParamsOk::from_bytes(&body_of(SERVER_DH_PARAMS_MSG)).unwrap();
    ok.encrypted_answer.pop();
    let (mut hs, mut rng) = tv_client_after_res_pq();
    assert_eq!(
        hs.handle(&ok.to_bytes(), now(), &mut rng).unwrap_err(),
        AuthError::AnswerNotBlockAligned(591)
    );
}

/// 16 or more padding bytes after the hashed data (here 8 + 16).
#[test]
fn a13_answer_padding_too_long() {
    let (mut hs, mut rng) = tv_client_after_res_pq();
    assert_eq!(
        hs.handle(&dh_params_ok(&tv_inner(), 1), now(), &mut rng)
            .unwrap_err(),
        AuthError::AnswerPadding(24)
    );
}

/// a crafted answer with the same inner data and the sample's
/// 8 padding bytes is accepted — the hash covers the 564 bytes only.
#[test]
fn q3_crafted_answer_with_padding_accepted() {
    assert!(matches!(feed_inner(&tv_inner()), Ok(ClientStep::Send(_))));
}

/// G-1, A-14: a composite dh_prime (the Telegram prime + 4, divisible by 3).
#[test]
fn g1_composite_dh_prime() {
    let mut inner = tv_inner();
    inner.dh_prime = big_be(&(telegram_dh_prime() + 4u32));
    assert_eq!(
        feed_inner(&inner).unwrap_err(),
        AuthError::Dh(DhCheck::PrimeComposite)
    );
}

/// G-1, A-14: a 2048-bit prime p whose (p − 1)/2 is composite.
#[test]
fn g1_prime_that_is_not_safe() {
    let p = random_prime(2048, &mut rng(11)).unwrap();
    let mut inner = tv_inner();
    inner.dh_prime = big_be(&p);
    assert_eq!(
        feed_inner(&inner).unwrap_err(),
        AuthError::Dh(DhCheck::NotSafePrime)
    );
}

/// G-1: a dh_prime of the wrong size (2047 bits).
#[test]
fn g1_dh_prime_wrong_size() {
    let mut inner = tv_inner();
    inner.dh_prime = big_be(&(telegram_dh_prime() >> 1u32));
    assert_eq!(
        feed_inner(&inner).unwrap_err(),
        AuthError::Dh(DhCheck::PrimeSize)
    );
}

/// G-2, TV §2: g = 2 with the published prime (p mod 8 = 3) does not
/// generate the right subgroup; g outside 2..=7 is never allowed.
#[test]
fn g2_bad_generator() {
    let mut inner = tv_inner();
    inner.g = 2;
    assert_eq!(
        feed_inner(&inner).unwrap_err(),
        AuthError::Dh(DhCheck::GeneratorWrongResidue(2))
    );
    inner.g = 8;
    assert_eq!(
        feed_inner(&inner).unwrap_err(),
        AuthError::Dh(DhCheck::GeneratorNotAllowed(8))
    );
    inner.g = -3;
    assert!(matches!(
        feed_inner(&inner).unwrap_err(),
        AuthError::Dh(DhCheck::GeneratorNotAllowed(_))
    ));
}

/// G-3, A-14: g_a = 1, g_a just below 2^1984, g_a just above p − 2^1984.
#[test]
fn g3_g_a_out_of_range() {
    let p = telegram_dh_prime();
    let bound = BigUint::one() << 1984u32;
    let cases = [
        (BigUint::one(), DhCheck::ValueOutOfRange(DhValue::GA)),
        (&p - 1u32, DhCheck::ValueOutOfRange(DhValue::GA)),
        (&bound - 1u32, DhCheck::ValueNotInSafeRange(DhValue::GA)),
        (
            &p - &bound + 1u32,
            DhCheck::ValueNotInSafeRange(DhValue::GA),
        ),
    ];
    for (g_a, check) in cases {
        let mut inner = tv_inner();
        inner.g_a = big_be(&g_a);
        assert_eq!(feed_inner(&inner).unwrap_err(), AuthError::Dh(check));
    }
}

/// the legacy server_DH_params_fail is a typed failure when its
/// hash is right, a hash mismatch when it is not.
#[test]
fn a11_legacy_server_dh_params_fail() {
    let nn: [u8; 32] = arr(NEW_NONCE);
    let mut fail = types::ServerDHParamsFail {
        nonce: arr(NONCE),
        server_nonce: arr(SERVER_NONCE),
        new_nonce_hash: sha1(&[&nn])[4..].try_into().unwrap(),
    };
    let (mut hs, mut rng) = tv_client_after_res_pq();
    assert_eq!(
        hs.handle(&fail.to_bytes(), now(), &mut rng).unwrap_err(),
        AuthError::ServerDhParamsFail
    );
    fail.new_nonce_hash[0] ^= 1;
    let (mut hs, mut rng) = tv_client_after_res_pq();
    assert_eq!(
        hs.handle(&fail.to_bytes(), now(), &mut rng).unwrap_err(),
        AuthError::NewNonceHashMismatch { n: 0 }
    );
}

fn dh_gen_ok(hash: [u8; 16]) -> Vec<u8> {
    types::DhGenOk {
        nonce: arr(NONCE),
        server_nonce: arr(SERVER_NONCE),
        new_nonce_hash1: hash,
    }
    .to_bytes()
}

/// A-18, G-5, TV §1.9: dh_gen_ok with a wrong new_nonce_hash1, nonce or
/// server_nonce.
#[test]
fn a18_dh_gen_ok_bad_echoes() {
    let good = types::DhGenOk::from_bytes(&body_of(DH_GEN_OK_MSG)).unwrap();
    let mut bad = good.clone();
    bad.new_nonce_hash1[7] ^= 4;
    let (mut hs, mut rng) = tv_client_after_dh_params();
    assert_eq!(
        hs.handle(&bad.to_bytes(), now(), &mut rng).unwrap_err(),
        AuthError::NewNonceHashMismatch { n: 1 }
    );
    let mut bad = good.clone();
    bad.nonce[3] ^= 4;
    let (mut hs, mut rng) = tv_client_after_dh_params();
    assert_eq!(
        hs.handle(&bad.to_bytes(), now(), &mut rng).unwrap_err(),
        AuthError::NonceMismatch("dh_gen_ok")
    );
    let mut bad = good;
    bad.server_nonce[3] ^= 4;
    let (mut hs, mut rng) = tv_client_after_dh_params();
    assert_eq!(
        hs.handle(&bad.to_bytes(), now(), &mut rng).unwrap_err(),
        AuthError::ServerNonceMismatch("dh_gen_ok")
    );
}

/// the hash is checked for the constructor received. dh_gen_fail with
/// the right new_nonce_hash3 is DhGenFail; with hash1's value it is a
/// mismatch.
#[test]
fn a18_dh_gen_fail() {
    let fail = |hash: &str| {
        types::DhGenFail {
            nonce: arr(NONCE),
            server_nonce: arr(SERVER_NONCE),
            new_nonce_hash3: arr(hash),
        }
        .to_bytes()
    };
    let (mut hs, mut rng) = tv_client_after_dh_params();
    assert_eq!(
        hs.handle(&fail(NEW_NONCE_HASH3), now(), &mut rng)
            .unwrap_err(),
        AuthError::DhGenFail
    );
    let (mut hs, mut rng) = tv_client_after_dh_params();
    assert_eq!(
        hs.handle(&fail("51070B3DB672B7602E4EE2FE761B36A2"), now(), &mut rng)
            .unwrap_err(),
        AuthError::NewNonceHashMismatch { n: 3 }
    );
}

fn dh_gen_retry() -> Vec<u8> {
    types::DhGenRetry {
        nonce: arr(NONCE),
        server_nonce: arr(SERVER_NONCE),
        new_nonce_hash2: arr(NEW_NONCE_HASH2),
    }
    .to_bytes()
}

/// TV §1.9: after dh_gen_retry the client draws a new b
/// and sends retry_id = the previous key's auth_key_aux_hash
/// (2F3107216012E3F6 as 8 raw bytes); the answer to the retry is checked
/// against the *new* key.
#[test]
fn a18_dh_gen_retry_uses_aux_hash_and_new_b() {
    let (mut hs, mut rng) = tv_client_after_dh_params();
    let b2: [u8; 256] = core::array::from_fn(|i| (i as u8).wrapping_mul(31) | 0x80);
    rng.push(b2.to_vec());
    rng.fall_back_to(3); // the seal padding
    let body = match hs.handle(&dh_gen_retry(), now(), &mut rng).unwrap() {
        ClientStep::Send(b) => b,
        other => panic!("{other:?}"),
    };
    let set = functions::SetClientDHParams::from_bytes(&body).unwrap();
    let (key, iv) = tmp_aes_key_iv(&arr(NEW_NONCE), &arr(SERVER_NONCE));
    let inner: types::ClientDHInnerData = open(&set.encrypted_data, &key, &iv).unwrap();
    assert_eq!(inner.retry_id.to_le_bytes(), arr::<8>("2F3107216012E3F6"));
    let p = telegram_dh_prime();
    let b2 = BigUint::from_bytes_be(&b2);
    assert_eq!(inner.g_b, BigUint::from(3u32).modpow(&b2, &p).to_bytes_be());

    // The answer is checked against the new key g_a^b2 ...
    let k2 = BigUint::from_bytes_be(&unhex(G_A)).modpow(&b2, &p);
    let k2 = AuthKey::from_slice(&crate::crypto::to_be_256(&k2).unwrap()).unwrap();
    let fresh = dh_gen_ok(new_nonce_hash(&arr(NEW_NONCE), 1, &k2.aux_hash()));
    match hs.handle(&fresh, now(), &mut rng).unwrap() {
        ClientStep::Done(o) => assert_eq!(o.auth_key, k2),
        other => panic!("{other:?}"),
    }
    // ... so the first key's dh_gen_ok (TV §1.9) no longer verifies.
    let (mut hs, mut rng) = tv_client_after_dh_params();
    rng.push(b2.to_bytes_be());
    rng.fall_back_to(3);
    hs.handle(&dh_gen_retry(), now(), &mut rng).unwrap();
    assert_eq!(
        hs.handle(&body_of(DH_GEN_OK_MSG), now(), &mut rng)
            .unwrap_err(),
        AuthError::NewNonceHashMismatch { n: 1 }
    );
}

/// more dh_gen_retry answers than configured.
#[test]
fn a18_too_many_retries() {
    let (mut hs, mut rng) = tv_client_after_dh_params_with(|c| c.max_retries = 0);
    assert_eq!(
        hs.handle(&dh_gen_retry(), now(), &mut rng).unwrap_err(),
        AuthError::TooManyRetries(0)
    );
}

/// A-10, G-11: a message for another state is an UnexpectedMessage, a
/// malformed one a TL error; after either, even the right message is
/// refused. After success, further calls are refused too.
#[test]
fn a10_unexpected_messages_and_dead_runs() {
    let (mut hs, _, mut rng) = tv_client();
    assert_eq!(
        hs.handle(&body_of(DH_GEN_OK_MSG), now(), &mut rng)
            .unwrap_err(),
        AuthError::UnexpectedMessage {
            state: "awaiting resPQ",
            constructor: 0x3bcbf734
        }
    );
    assert_eq!(
        hs.handle(&body_of(RES_PQ_MSG), now(), &mut rng)
            .unwrap_err(),
        AuthError::HandshakeFailedEarlier
    );
    assert!(hs.is_finished());

    let (mut hs, _, mut rng) = tv_client();
    let res = body_of(RES_PQ_MSG);
    assert!(matches!(
        hs.handle(&res[..res.len() - 4], now(), &mut rng),
        Err(AuthError::Tl(_))
    ));
    let (mut hs, _, mut rng) = tv_client();
    assert!(matches!(
        hs.handle(&[], now(), &mut rng),
        Err(AuthError::UnexpectedMessage { constructor: 0, .. })
    ));

    let (mut hs, mut rng) = tv_client_after_dh_params();
    assert!(matches!(
        hs.handle(&body_of(DH_GEN_OK_MSG), now(), &mut rng),
        Ok(ClientStep::Done(_))
    ));
    assert_eq!(
        hs.handle(&body_of(DH_GEN_OK_MSG), now(), &mut rng)
            .unwrap_err(),
        AuthError::AlreadyComplete
    );
}

/// A-15, B-6: a client whose RNG produced b = 0 (g_b = 1, outside G-3)
/// keeps drawing until g_b is in range, so a single bad draw is harmless.
#[test]
fn a15_new_b_when_g_b_out_of_range() {
    let (mut hs, mut rng) = tv_client_after_res_pq();
    rng.push(vec![0u8; 256]);
    dh_draws(&mut rng);
    let body = match hs
        .handle(&body_of(SERVER_DH_PARAMS_MSG), now(), &mut rng)
        .unwrap()
    {
        ClientStep::Send(b) => b,
        other => panic!("{other:?}"),
    };
    assert_eq!(body, body_of(SET_CLIENT_DH_PARAMS_MSG));
}

/// Hostile input never panics: every truncation and a byte flip at every
/// position of each server message ends in an error or a valid step.
#[test]
fn no_panic_on_mangled_server_messages() {
    let msgs = [
        body_of(RES_PQ_MSG),
        body_of(SERVER_DH_PARAMS_MSG),
        body_of(DH_GEN_OK_MSG),
    ];
    for (stage, msg) in msgs.iter().enumerate() {
        for cut in (0..msg.len()).step_by(7) {
            let mut m = msg.clone();
            m.truncate(cut);
            let _ = feed_at_stage(stage, &m);
        }
        for i in (0..msg.len()).step_by(13) {
            let mut m = msg.clone();
            m[i] ^= 0x5A;
            let _ = feed_at_stage(stage, &m);
        }
    }
}

fn feed_at_stage(stage: usize, msg: &[u8]) -> Result<ClientStep, AuthError> {
    let (mut hs, mut rng) = match stage {
        0 => {
            let (hs, _, rng) = tv_client();
            (hs, rng)
        }
        1 => tv_client_after_res_pq(),
        _ => tv_client_after_dh_params(),
    };
    rng.fall_back_to(5);
    hs.handle(msg, now(), &mut rng)
}

/// T-11, A-10: a −404 payload handed to the handshake itself ends the run
/// with ServerTransportError.
#[test]
fn t11_transport_error_body_ends_the_run() {
    let (mut hs, mut rng) = tv_client_after_res_pq();
    assert_eq!(
        hs.handle(&(-404i32).to_le_bytes(), now(), &mut rng)
            .unwrap_err(),
        AuthError::ServerTransportError(-404)
    );
    assert_eq!(
        hs.handle(&body_of(SERVER_DH_PARAMS_MSG), now(), &mut rng)
            .unwrap_err(),
        AuthError::HandshakeFailedEarlier
    );
}
