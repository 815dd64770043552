//! Client against server in memory: the same code in both roles, through
//! unencrypted envelopes, with a generated 2048-bit RSA key.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::test_support::*;
use crate::auth::{
    encode_dc_id, AuthError, ClientHandshake, ClientStep, PlainChannel, ServerConfig,
    ServerHandshake, ServerStep,
};
use crate::mtp::Role;

/// A-1..A-19, P-1: a permanent key. Both sides hold the same key and salt
/// (the salt ), the client's offset reflects a server clock one
/// hour ahead, and no expiry is set.
#[test]
fn a1_a19_permanent_key_exchange() {
    let ex = exchange(client_config(2), server_config(2), 3600, |_| false, 1).unwrap();
    assert_eq!(ex.client.auth_key, ex.server.auth_key);
    assert_eq!(ex.client.server_salt, ex.server.server_salt);
    assert_eq!(ex.client.time_offset, 3600);
    assert_eq!(ex.client.expires_at, None);
    assert_eq!(ex.client.dc_id, 2);
    assert_eq!(ex.server.temp_expires_in, None);
    assert_eq!(ex.server.dc, Some(2));
    assert_eq!(ex.server.time, 1_700_003_600);
    // A-1, M-2: three client messages, ids ≡ 0 mod 4, strictly increasing.
    let ids: Vec<i64> = ex
        .client_packets
        .iter()
        .map(|p| i64::from_le_bytes(p[8..16].try_into().unwrap()))
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| id & 3 == 0));
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

/// P-1: a temporary key via p_q_inner_data_temp_dc. The server
/// learns expires_in; the client's expires_at is on the server's clock.
#[test]
fn a22_temporary_key_exchange() {
    let mut cfg = client_config(2);
    cfg.temp_expires_in = Some(86_400);
    let ex = exchange(cfg, server_config(2), -30, |_| false, 2).unwrap();
    assert_eq!(ex.client.auth_key, ex.server.auth_key);
    assert_eq!(ex.server.temp_expires_in, Some(86_400));
    assert_eq!(ex.client.time_offset, -30);
    assert_eq!(ex.client.expires_at, Some(1_700_000_000 - 30 + 86_400));
}

/// a legacy client (req_pq, p_q_inner_data without dc,
/// SHA1-prefixed RSA) still gets a key from a server that accepts legacy
/// forms; the temporary legacy form too.
#[test]
fn q4_legacy_client_against_server() {
    let mut cfg = client_config(2);
    cfg.legacy = true;
    let ex = exchange(cfg.clone(), server_config(2), 0, |_| false, 3).unwrap();
    assert_eq!(ex.client.auth_key, ex.server.auth_key);
    assert_eq!(ex.server.dc, None);
    assert_eq!(
        u32::from_le_bytes(ex.client_packets[0][20..24].try_into().unwrap()),
        0x60469778
    );
    cfg.temp_expires_in = Some(600);
    let ex = exchange(cfg, server_config(2), 0, |_| false, 4).unwrap();
    assert_eq!(ex.server.temp_expires_in, Some(600));
    assert_eq!(ex.client.auth_key, ex.server.auth_key);
}

/// a server configured to refuse legacy forms refuses a legacy client
/// at its first message.
#[test]
fn q4_server_refusing_legacy() {
    let mut cfg = client_config(2);
    cfg.legacy = true;
    let mut server = ServerConfig::new(vec![server_key().clone()], 2);
    server.accept_legacy = false;
    assert_eq!(
        exchange(cfg, Arc::new(server), 0, |_| false, 5).unwrap_err(),
        AuthError::LegacyRefused("req_pq")
    );
}

/// the server's predicate reports the first key id as
/// taken; it answers dh_gen_retry, the client retries with a new b and
/// retry_id = aux hash (the server checks it), and both end with a second,
/// different key.
#[test]
fn a18_dh_gen_retry_path() {
    let first = Cell::new(None);
    let ex = exchange(
        client_config(2),
        server_config(2),
        0,
        |id| {
            if first.get().is_none() {
                first.set(Some(*id));
                true
            } else {
                false
            }
        },
        6,
    )
    .unwrap();
    assert_eq!(ex.client.auth_key, ex.server.auth_key);
    assert_eq!(ex.client_packets.len(), 4);
    assert_ne!(Some(ex.client.auth_key.id()), first.get());
}

/// a server whose predicate always collides gives up with
/// dh_gen_fail after `max_retries`; the client reports DhGenFail.
#[test]
fn a18_server_gives_up_with_dh_gen_fail() {
    let mut server = ServerConfig::new(vec![server_key().clone()], 2);
    server.max_retries = 1;
    assert_eq!(
        exchange(client_config(2), Arc::new(server), 0, |_| true, 7).unwrap_err(),
        AuthError::DhGenFail
    );
    // A client with a lower limit stops first.
    let mut cfg = client_config(2);
    cfg.max_retries = 0;
    assert_eq!(
        exchange(cfg, server_config(2), 0, |_| true, 8).unwrap_err(),
        AuthError::TooManyRetries(0)
    );
}

/// the media form of the server's DC and the test-DC encoding work.
#[test]
fn a7_media_and_test_dc_ids() {
    let media = encode_dc_id(2, false, true);
    let ex = exchange(client_config(media), server_config(2), 0, |_| false, 9).unwrap();
    assert_eq!(ex.server.dc, Some(-2));
    let test_dc = encode_dc_id(2, true, false);
    let ex = exchange(
        client_config(test_dc),
        server_config(test_dc),
        0,
        |_| false,
        10,
    )
    .unwrap();
    assert_eq!(ex.server.dc, Some(10002));
}

/// A-7, T-11: a client naming another DC, or the right number in the other
/// environment, is refused with −444.
#[test]
fn a7_wrong_dc_is_transport_444() {
    for (client_dc, server_dc) in [(3, 2), (10002, 2), (2, 10002)] {
        let err = exchange(
            client_config(client_dc),
            server_config(server_dc),
            0,
            |_| false,
            11,
        )
        .unwrap_err();
        assert_eq!(err, AuthError::InvalidDc { got: client_dc });
        assert_eq!(err.transport_code(), -444);
    }
}

/// several server keys; the client only trusts the second one and
/// the server decrypts with the key whose fingerprint the client named.
#[test]
fn a3_multiple_server_keys() {
    let other = crate::crypto::RsaPrivateKey::generate(1024, &mut rng(99)).unwrap();
    let server = ServerConfig::new(vec![other, server_key().clone()], 2);
    let ex = exchange(client_config(2), Arc::new(server), 0, |_| false, 12).unwrap();
    assert_eq!(ex.client.auth_key, ex.server.auth_key);
}

/// T-11, A-10: a −404 payload from the server reaches the client driver as
/// ServerTransportError, and the server's error maps to −404.
#[test]
fn t11_minus_404_reaches_the_client() {
    let mut srng = rng(13);
    let mut server = ServerHandshake::new(server_config(2));
    let err = server
        .handle(b"\x00\x00\x00\x00", Duration::ZERO, &mut srng, |_| false)
        .unwrap_err();
    assert_eq!(err.transport_code(), -404);
    let client = PlainChannel::new(Role::Client);
    assert_eq!(
        client.unpack(&err.transport_code().to_le_bytes()),
        Err(AuthError::ServerTransportError(-404))
    );
    // The client restarts: a fresh run works on the same server
    // configuration.
    let (_, first) = ClientHandshake::start(client_config(2), &mut rng(14));
    let mut fresh = ServerHandshake::new(server_config(2));
    assert!(fresh
        .handle(&first, Duration::ZERO, &mut srng, |_| false)
        .is_ok());
}

/// A-14, P-1: absurd clocks saturate instead of overflowing. The client's
/// clock reads 0 when the offset is taken and `Duration::MAX` at the end.
#[test]
fn a14_extreme_client_clock_saturates() {
    let mut cfg = client_config(2);
    cfg.temp_expires_in = Some(i32::MAX);
    let (mut crng, mut srng) = (rng(31), rng(32));
    let server_now = Duration::from_secs(1_700_000_000);
    let mut server = ServerHandshake::new(server_config(2));
    let (mut client, mut query) = ClientHandshake::start(cfg, &mut crng);
    let mut client_now = Duration::ZERO;
    let outcome = loop {
        let reply = match server
            .handle(&query, server_now, &mut srng, |_| false)
            .unwrap()
        {
            ServerStep::Reply(r) => r,
            ServerStep::Done { reply, .. } => {
                client_now = Duration::MAX;
                reply
            }
        };
        match client.handle(&reply, client_now, &mut crng).unwrap() {
            ClientStep::Send(q) => query = q,
            ClientStep::Done(o) => break o,
        }
    };
    assert_eq!(outcome.time_offset, 1_700_000_000);
    assert_eq!(outcome.expires_at, Some(i64::MAX));
}
