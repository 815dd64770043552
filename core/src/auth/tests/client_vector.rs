//! TV §1: the client reproduces the published exchange byte for byte.

use crate::auth::test_support::*;
use crate::auth::{
    p_q_inner_data, AuthOutcome, ClientConfig, ClientHandshake, ClientStep, PlainChannel,
};
use crate::crypto::rsa_pad_encrypt_with;
use crate::mtp::Role;

/// The client of the sample: production keys, DC 2, and an RNG scripted
/// with the published nonce.
pub(crate) fn tv_client() -> (ClientHandshake, Vec<u8>, ScriptedRng) {
    tv_client_with(|_| {})
}

/// [`tv_client`] with a modified configuration.
pub(crate) fn tv_client_with(
    edit: impl FnOnce(&mut ClientConfig),
) -> (ClientHandshake, Vec<u8>, ScriptedRng) {
    let mut rng = ScriptedRng::new([unhex(NONCE)]);
    let mut config = ClientConfig::new(telegram_keys(), 2);
    edit(&mut config);
    let (hs, body) = ClientHandshake::start(config, &mut rng);
    assert!(rng.is_empty());
    (hs, body, rng)
}

/// The random draws of the resPQ step: new_nonce, RSA_PAD padding and the
/// §7.6 temp_key.
pub(crate) fn res_pq_draws(rng: &mut ScriptedRng) {
    rng.push(unhex(NEW_NONCE));
    rng.push(unhex(RANDOM_PADDING));
    rng.push(unhex(TV76_TEMP_KEY));
}

/// The draws of one client_DH_inner_data: b and the seal padding.
pub(crate) fn dh_draws(rng: &mut ScriptedRng) {
    rng.push(unhex(B));
    rng.push(unhex(CLIENT_DH_PADDING));
}

/// A TV client that has processed resPQ (§1.2) and sent req_DH_params.
pub(crate) fn tv_client_after_res_pq() -> (ClientHandshake, ScriptedRng) {
    tv_client_after_res_pq_with(|_| {})
}

/// [`tv_client_after_res_pq`] with a modified configuration.
pub(crate) fn tv_client_after_res_pq_with(
    edit: impl FnOnce(&mut ClientConfig),
) -> (ClientHandshake, ScriptedRng) {
    let (mut hs, _, mut rng) = tv_client_with(edit);
    res_pq_draws(&mut rng);
    let now = now_for(0x6777E5EB0008E568);
    match hs.handle(&body_of(RES_PQ_MSG), now, &mut rng).unwrap() {
        ClientStep::Send(_) => {}
        other => panic!("{other:?}"),
    }
    (hs, rng)
}

/// A TV client that has also processed server_DH_params_ok (§1.6).
pub(crate) fn tv_client_after_dh_params() -> (ClientHandshake, ScriptedRng) {
    tv_client_after_dh_params_with(|_| {})
}

/// [`tv_client_after_dh_params`] with a modified configuration.
pub(crate) fn tv_client_after_dh_params_with(
    edit: impl FnOnce(&mut ClientConfig),
) -> (ClientHandshake, ScriptedRng) {
    let (mut hs, mut rng) = tv_client_after_res_pq_with(edit);
    dh_draws(&mut rng);
    let now = now_for(0x6777E5EB0008E568);
    match hs
        .handle(&body_of(SERVER_DH_PARAMS_MSG), now, &mut rng)
        .unwrap()
    {
        ClientStep::Send(_) => {}
        other => panic!("{other:?}"),
    }
    (hs, rng)
}

/// A-1..A-19, B-6, Q-1, Q-3, TV §1.1–§1.9, §7.6: the whole sample exchange
/// on the client. Every message the client sends equals the published one
/// (req_DH_params's RSA block equals §7.6, which used the same data and
/// padding with a published temp_key), and the outcome is the published
/// key, key id and salt.
#[test]
fn tv1_full_client_exchange_byte_for_byte() {
    let mut ch = PlainChannel::new(Role::Client);
    let (mut hs, first, mut rng) = tv_client();

    // §1.1 req_pq_multi.
    let t1 = now_for(0x6777E5EB00059760);
    assert_eq!(ch.pack(&first, t1), unhex(REQ_PQ_MULTI_MSG));

    // §1.2 → §1.5 req_DH_params.
    let packet = unhex(RES_PQ_MSG);
    let (_, res_pq) = ch.unpack(&packet).unwrap();
    res_pq_draws(&mut rng);
    let t2 = now_for(0x6777E5EB0008E568);
    let req_dh = match hs.handle(res_pq, t2, &mut rng).unwrap() {
        ClientStep::Send(body) => ch.pack(&body, t2),
        other => panic!("{other:?}"),
    };
    let published = unhex(REQ_DH_PARAMS_MSG);
    assert_eq!(req_dh.len(), published.len());
    assert_eq!(req_dh[..84], published[..84]);
    assert_eq!(req_dh[84..], unhex(TV76_ENCRYPTED_DATA)[..]);

    // §1.6 → §1.8 set_client_DH_params.
    let packet = unhex(SERVER_DH_PARAMS_MSG);
    let (_, dh_params) = ch.unpack(&packet).unwrap();
    dh_draws(&mut rng);
    let set_dh = match hs.handle(dh_params, t2, &mut rng).unwrap() {
        ClientStep::Send(body) => ch.pack(&body, t2),
        other => panic!("{other:?}"),
    };
    assert_eq!(set_dh, unhex(SET_CLIENT_DH_PARAMS_MSG));

    // §1.9 dh_gen_ok → the key.
    let packet = unhex(DH_GEN_OK_MSG);
    let (_, gen_ok) = ch.unpack(&packet).unwrap();
    let outcome: AuthOutcome = match hs.handle(gen_ok, t2, &mut rng).unwrap() {
        ClientStep::Done(o) => o,
        other => panic!("{other:?}"),
    };
    assert!(rng.is_empty(), "every scripted draw was used");
    assert_eq!(outcome.auth_key.as_bytes()[..], unhex(AUTH_KEY)[..]);
    assert_eq!(outcome.auth_key.id(), arr::<8>("0438720625F291F6"));
    assert_eq!(
        outcome.server_salt.to_le_bytes(),
        arr::<8>("A658F6F8E4C40D89")
    );
    assert_eq!(outcome.server_salt, 0x890DC4E4F8F658A6u64 as i64);
    assert_eq!(
        outcome.time_offset,
        SERVER_TIME as i64 - t2.as_secs() as i64
    );
    assert_eq!(outcome.time_offset, 0);
    assert_eq!((outcome.expires_at, outcome.dc_id), (None, 2));
    assert!(hs.is_finished());
}

/// A-14, M-4, TV §1.6: the time offset is server_time minus the local
/// clock passed in, here a client 100 s behind.
#[test]
fn a14_tv1_time_offset_from_server_time() {
    let (mut hs, mut rng) = tv_client_after_res_pq();
    dh_draws(&mut rng);
    let behind = std::time::Duration::from_secs(SERVER_TIME - 100);
    hs.handle(&body_of(SERVER_DH_PARAMS_MSG), behind, &mut rng)
        .unwrap();
    match hs
        .handle(&body_of(DH_GEN_OK_MSG), behind, &mut rng)
        .unwrap()
    {
        ClientStep::Done(o) => assert_eq!(o.time_offset, 100),
        other => panic!("{other:?}"),
    }
}

/// TV §1.4: the inner-data builder gives the published `data`
/// for DC 2, and the right constructor for each variant.
#[test]
fn a6_inner_data_builder_matches_tv1_4() {
    let pq = unhex("130B7475669FEB8B");
    let (p, q) = (unhex("44095E05"), unhex("47A8C84F"));
    let (n, s, nn) = (arr(NONCE), arr(SERVER_NONCE), arr(NEW_NONCE));
    let data = p_q_inner_data(&pq, &p, &q, n, s, nn, 2, None, false);
    assert_eq!(data, unhex(PQ_INNER_DATA));
    let id = |d: &[u8]| u32::from_le_bytes(d[..4].try_into().unwrap());
    let temp = p_q_inner_data(&pq, &p, &q, n, s, nn, -10002, Some(86400), false);
    assert_eq!(id(&temp), 0x56fddf88);
    assert_eq!(
        temp[temp.len() - 8..],
        [0xEE, 0xD8, 0xFF, 0xFF, 0x80, 0x51, 0x01, 0x00]
    );
    assert_eq!(
        id(&p_q_inner_data(&pq, &p, &q, n, s, nn, 2, None, true)),
        0x83c95aec
    );
    assert_eq!(
        id(&p_q_inner_data(&pq, &p, &q, n, s, nn, 2, Some(60), true)),
        0x3c6a84d4
    );
}

/// A-8, TV §7.6: the RSA_PAD layer alone, through the crypto function the
/// client uses, with the published temp_key.
#[test]
fn a8_rsa_pad_layer_matches_tv7_6() {
    let key = telegram_keys()
        .into_iter()
        .find(|k| k.fingerprint() == PROD_FINGERPRINT)
        .unwrap();
    let out = rsa_pad_encrypt_with(
        &unhex(PQ_INNER_DATA),
        &unhex(RANDOM_PADDING),
        &arr(TV76_TEMP_KEY),
        &key,
    )
    .unwrap()
    .unwrap();
    assert_eq!(out[..], unhex(TV76_ENCRYPTED_DATA)[..]);
}
