//! The local data center over real loopback sockets, driven by a raw
//! client built from the core's sans-IO pieces (see `support`).

mod support;

use std::time::Duration;

use mtproto::mtp::{RequestError, SessionTuning};
use mtproto::tl::service::functions;
use mtproto::tl::Serialize;
use mtproto::transport::{Framing, MtProxySecret, ObfuscationParams, TransportErrorCode};
use mtproto_localdc::api::{self, Call};
use mtproto_localdc::LocalDc;
use support::{
    all_transports, exchanged_client, handshake, now, random_key, registered_client, Client, Conn,
    HandshakeEnd, PATIENCE,
};

async fn start() -> LocalDc {
    LocalDc::builder().spawn().await.expect("start localdc")
}

fn echo(data: &[u8]) -> Vec<u8> {
    Call::Echo(data.to_vec()).to_bytes()
}

/// A-1..A-19, T-2, T-17: a key is created over every framing, plain and
/// obfuscated, and carries an encrypted request at once.
#[tokio::test]
async fn key_exchange_over_every_transport() {
    let dc = start().await;
    let transports = all_transports();
    for &(framing, obfuscated) in &transports {
        let mut c = exchanged_client(&dc, framing, obfuscated).await;
        let answer = c.invoke(echo(b"fresh key")).await.expect("echo answers");
        assert_eq!(api::parse_payload(&answer).unwrap(), b"fresh key");
    }
    assert_eq!(dc.auth_key_count(), transports.len());
}

/// A-7, T-11: inner data naming another DC, or this DC in the test
/// environment, gets −444; the media form of this DC is accepted.
#[tokio::test]
async fn key_exchange_checks_the_dc_id() {
    let dc = start().await;
    for wrong in [3, 10002, -10002] {
        let mut conn = Conn::connect(dc.addr(), Framing::Intermediate, false).await;
        let end = handshake(&mut conn, &dc.public_key(), wrong, None).await;
        assert_eq!(
            end.err(),
            Some(HandshakeEnd::Transport(TransportErrorCode::InvalidDc)),
            "dc {wrong}"
        );
    }
    let mut conn = Conn::connect(dc.addr(), Framing::Intermediate, false).await;
    assert!(handshake(&mut conn, &dc.public_key(), -2, None)
        .await
        .is_ok());
}

/// a bad handshake query gets −404, and so does every later
/// message of that run, valid or not; a new run on the same connection
/// succeeds.
#[tokio::test]
async fn failed_key_exchange_run_stays_refused() {
    use mtproto::auth::{ClientConfig, ClientHandshake, ClientStep, PlainChannel};
    use mtproto::mtp::Role;
    use mtproto::transport::Incoming;
    use rand::SeedableRng;

    let dc = start().await;
    let mut conn = Conn::connect(dc.addr(), Framing::Abridged, true).await;
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut plain = PlainChannel::new(Role::Client);
    let config = ClientConfig::new(vec![dc.public_key()], dc.dc_id());
    let (mut hs, first) = ClientHandshake::start(config, &mut rng);
    conn.send(&plain.pack(&first, now()), false).await;
    let Some(Incoming::Packet(res_pq)) = conn.recv_patiently().await else {
        panic!("resPQ expected");
    };
    let (_, body) = plain.unpack(&res_pq).unwrap();
    let Ok(ClientStep::Send(req_dh)) = hs.handle(body, now(), &mut rng) else {
        panic!("req_DH_params expected");
    };
    // Corrupt the RSA-encrypted inner data (its last byte).
    let mut bad = req_dh.clone();
    *bad.last_mut().unwrap() ^= 1;
    conn.send(&plain.pack(&bad, now()), false).await;
    assert_eq!(
        conn.expect_error().await,
        TransportErrorCode::AuthKeyNotFound
    );
    conn.send(&plain.pack(&req_dh, now()), false).await;
    assert_eq!(
        conn.expect_error().await,
        TransportErrorCode::AuthKeyNotFound
    );
    // Restarting from A-2 works on the same connection.
    assert!(handshake(&mut conn, &dc.public_key(), dc.dc_id(), None)
        .await
        .is_ok());
}

/// A-22, P-8: a temporary key works until it expires; then the server has
/// forgotten it and answers −404.
#[tokio::test]
async fn temporary_keys_expire() {
    let dc = start().await;
    let mut conn = Conn::connect(dc.addr(), Framing::Intermediate, false).await;
    // Three seconds: the server counts whole seconds, so a key asked for
    // one second could expire a millisecond after it was made (a flake
    // on a loaded machine).
    let outcome = handshake(&mut conn, &dc.public_key(), dc.dc_id(), Some(3))
        .await
        .expect("temporary key created");
    assert!(outcome.expires_at.is_some());
    let mut c = Client::new(
        conn,
        outcome.auth_key,
        outcome.server_salt,
        outcome.time_offset,
    );
    c.invoke(echo(b"while valid")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(4100)).await;
    c.session.invoke(echo(b"too late"));
    c.flush().await;
    assert_eq!(
        c.conn.expect_error().await,
        TransportErrorCode::AuthKeyNotFound
    );
    assert_eq!(dc.auth_key_count(), 0);
}

/// A-14, M-4: a client learns a skewed server clock from the key exchange
/// and needs no correction afterwards.
#[tokio::test]
async fn key_exchange_carries_the_server_clock() {
    let dc = LocalDc::builder()
        .clock_offset_secs(-700)
        .spawn()
        .await
        .unwrap();
    let mut c = exchanged_client(&dc, Framing::PaddedIntermediate, false).await;
    let offset = c.session.time_offset();
    assert!((-702..=-698).contains(&offset), "time offset {offset}");
    c.invoke(echo(b"in sync")).await.unwrap();
    assert!(!c
        .events
        .iter()
        .any(|e| matches!(e, mtproto::mtp::Event::TimeOffsetCorrected(_))));
}

/// T-2, T-17, S-2: every framing, plain and obfuscated, carries an
/// encrypted request and its answer.
#[tokio::test]
async fn echo_over_every_transport() {
    let dc = start().await;
    for (framing, obfuscated) in all_transports() {
        let mut c = registered_client(&dc, framing, obfuscated).await;
        for size in [0usize, 1, 300, 70_000] {
            let data = vec![0xA5; size];
            let answer = c.invoke(echo(&data)).await.expect("echo answers");
            assert_eq!(
                api::parse_payload(&answer).unwrap(),
                data,
                "{framing:?} obfuscated={obfuscated} size={size}"
            );
        }
        assert_eq!(c.new_session_events(), 1, "S-17 once per session");
    }
}

/// T-10, T-4, T-5, T-7: a quick ack comes back with the token computed
/// from msg_key_large, on every framing that has quick acks.
#[tokio::test]
async fn quick_ack_returns_the_token() {
    let dc = start().await;
    for (framing, obfuscated) in all_transports() {
        if !framing.supports_quick_ack() {
            continue;
        }
        let mut c = registered_client(&dc, framing, obfuscated).await;
        c.request_quick_acks = true;
        c.invoke(echo(b"ack me")).await.expect("echo answers");
        c.pump_until(PATIENCE, |c| c.quick_acks.len() >= c.expected_acks.len())
            .await;
        assert!(!c.expected_acks.is_empty());
        for t in &c.expected_acks {
            assert!(c.quick_acks.contains(t), "{framing:?}: token {t:#x} acked");
        }
    }
}

/// E-7 step 1, T-11: unknown auth_key_id, an undecryptable packet and an
/// unencrypted message that is not part of a key exchange get −404, never
/// a bad_msg_notification.
#[tokio::test]
async fn malformed_or_unknown_traffic_gets_404() {
    let dc = start().await;
    for (framing, obfuscated) in all_transports() {
        // A well-formed packet under a key the server never saw.
        let mut stranger = Client::new(
            Conn::connect(dc.addr(), framing, obfuscated).await,
            random_key(),
            1,
            0,
        );
        stranger.session.invoke(echo(b"who am I"));
        stranger.flush().await;
        assert_eq!(
            stranger.conn.expect_error().await,
            TransportErrorCode::AuthKeyNotFound
        );

        // A known key id with a corrupted msg_key.
        let mut c = registered_client(&dc, framing, obfuscated).await;
        c.session.invoke(echo(b"tampered"));
        let mut packet = c.session.poll_transmit(now()).expect("a packet");
        packet[10] ^= 0x40;
        c.conn.send(&packet, false).await;
        assert_eq!(
            c.conn.expect_error().await,
            TransportErrorCode::AuthKeyNotFound
        );

        // A-1 [S]: only the key exchange travels unencrypted.
        let mut plain = Conn::connect(dc.addr(), framing, obfuscated).await;
        let ping = functions::Ping { ping_id: 7 }.to_bytes();
        let mut msg = Vec::new();
        mtproto::mtp::pack_plain((now().as_secs() as i64) << 32, &ping, &mut msg);
        plain.send(&msg, false).await;
        assert_eq!(
            plain.expect_error().await,
            TransportErrorCode::AuthKeyNotFound
        );
        // Shorter than an auth_key_id.
        plain.send(&[0u8; 4], false).await;
        assert_eq!(
            plain.expect_error().await,
            TransportErrorCode::AuthKeyNotFound
        );
    }
}

/// test.pushUpdates: boolTrue, then the updates in order with the promised
/// contents, delivered to the calling session.
#[tokio::test]
async fn pushed_updates_arrive_in_order() {
    let dc = start().await;
    let mut c = registered_client(&dc, Framing::Intermediate, true).await;
    let answer = c
        .invoke(
            Call::PushUpdates {
                count: 50,
                size: 33,
            }
            .to_bytes(),
        )
        .await
        .expect("pushUpdates answers");
    assert!(api::parse_bool(&answer).unwrap());
    c.pump_until(PATIENCE, |c| c.updates.len() >= 50).await;
    for (i, u) in c.updates.iter().enumerate() {
        let seq = i as i32 + 1;
        assert_eq!(
            api::parse_update(u).unwrap(),
            (seq, api::update_data(seq, 33))
        );
    }
    // Limits are enforced with an RPC error, not by allocating.
    let err = c
        .invoke(Call::PushUpdates { count: -1, size: 1 }.to_bytes())
        .await;
    assert!(matches!(err, Err(RequestError::Rpc { code: 400, .. })));
}

/// test.counter: each request runs exactly once, across sessions and
/// connections, and the handle reads the same counter.
#[tokio::test]
async fn counter_counts_each_request_once() {
    let dc = start().await;
    let mut a = registered_client(&dc, Framing::Abridged, false).await;
    let mut b = registered_client(&dc, Framing::Full, false).await;
    let mut last = 0;
    for i in 0..10 {
        let c = if i % 2 == 0 { &mut a } else { &mut b };
        let answer = c
            .invoke(Call::Counter { key: "hits".into() }.to_bytes())
            .await
            .expect("counter answers");
        last = api::parse_count(&answer).unwrap();
        assert_eq!(last, i + 1);
    }
    assert_eq!(dc.counter("hits"), last);
    assert_eq!(dc.counter("other"), 0);
}

/// test.error, test.bigPayload (gzip_packed, B-13) and unknown methods.
#[tokio::test]
async fn errors_big_results_and_unknown_methods() {
    let dc = start().await;
    let mut c = registered_client(&dc, Framing::PaddedIntermediate, true).await;
    let err = c
        .invoke(
            Call::Error {
                code: 420,
                message: "FLOOD_WAIT_7".into(),
            }
            .to_bytes(),
        )
        .await;
    assert_eq!(
        err,
        Err(RequestError::Rpc {
            code: 420,
            message: "FLOOD_WAIT_7".into()
        })
    );
    let size = 3 << 20;
    let big = c
        .invoke(Call::BigPayload { size }.to_bytes())
        .await
        .expect("bigPayload answers");
    assert_eq!(
        api::parse_payload(&big).unwrap(),
        api::big_payload_data(size as usize)
    );
    let unknown = c.invoke(0x0BADF00Du32.to_le_bytes().to_vec()).await;
    assert_eq!(
        unknown,
        Err(RequestError::Rpc {
            code: 400,
            message: "METHOD_INVALID".into()
        })
    );
    let truncated = c.invoke(api::ids::SLEEP.to_le_bytes().to_vec()).await;
    assert!(matches!(
        truncated,
        Err(RequestError::Rpc { code: 400, .. })
    ));
}

/// test.sleep answers late; rpc_drop_answer (S-20) stops a running one and
/// the data center counts it.
#[tokio::test]
async fn sleep_and_its_cancellation() {
    let dc = start().await;
    let mut c = registered_client(&dc, Framing::Intermediate, false).await;
    let started = tokio::time::Instant::now();
    let answer = c.invoke(Call::Sleep { ms: 200 }.to_bytes()).await.unwrap();
    assert!(api::parse_bool(&answer).unwrap());
    assert!(started.elapsed() >= Duration::from_millis(200));

    let id = c.session.invoke(Call::Sleep { ms: 60_000 }.to_bytes());
    c.pump_for(Duration::from_millis(200)).await;
    assert!(c.session.cancel(id));
    c.pump_until(PATIENCE, |_| dc.cancelled_count() == 1).await;
    assert_eq!(c.take_result(id), Some(Err(RequestError::Cancelled)));
    // The session goes on normally.
    assert!(c.invoke(echo(b"after")).await.is_ok());
}

/// test.dropConnection: the answer arrives, then the server closes; the
/// session survives on a new connection (no second new_session_created).
#[tokio::test]
async fn drop_connection_keeps_the_session() {
    let dc = start().await;
    let mut c = registered_client(&dc, Framing::Abridged, true).await;
    let answer = c
        .invoke(Call::DropConnection.to_bytes())
        .await
        .expect("dropConnection answers before closing");
    assert!(api::parse_bool(&answer).unwrap());
    c.conn.expect_closed().await;
    c.reconnect(Conn::connect(dc.addr(), Framing::Intermediate, false).await);
    let answer = c.invoke(echo(b"again")).await.unwrap();
    assert_eq!(api::parse_payload(&answer).unwrap(), b"again");
    assert_eq!(c.new_session_events(), 1);
}

/// M-10: an answer produced while the client was away, and one sent but
/// never acknowledged, reach the session on its next connection.
#[tokio::test]
async fn answers_follow_the_session_to_a_new_connection() {
    let dc = start().await;
    let mut c = registered_client(&dc, Framing::Intermediate, false).await;
    c.invoke(echo(b"warm up")).await.unwrap();

    // Sent and acknowledged by the server; the connection goes away
    // before the answer exists.
    let a = c.session.invoke(Call::Sleep { ms: 300 }.to_bytes());
    c.pump_for(Duration::from_millis(100)).await;
    c.reconnect(Conn::connect(dc.addr(), Framing::Intermediate, false).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    c.pump_until(PATIENCE, |c| c.has_result(a)).await;
    assert!(api::parse_bool(&c.take_result(a).unwrap().unwrap()).unwrap());

    // The answer reaches the old connection's socket, but the client
    // never reads it, so never acknowledges it: it is sent again.
    let b = c.session.invoke(Call::Sleep { ms: 100 }.to_bytes());
    c.pump_for(Duration::from_millis(50)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.reconnect(Conn::connect(dc.addr(), Framing::Full, false).await);
    c.pump_until(PATIENCE, |c| c.has_result(b)).await;
    assert!(api::parse_bool(&c.take_result(b).unwrap().unwrap()).unwrap());
}

/// S-21: ping_delay_disconnect closes the connection after its delay.
#[tokio::test]
async fn ping_delay_disconnect_closes_the_connection() {
    let dc = start().await;
    let key = random_key();
    assert!(dc.add_auth_key(key.clone(), 5));
    let config = SessionTuning {
        ping_interval: Some(Duration::from_secs(3600)),
        ping_disconnect_delay: 1,
        ..SessionTuning::default()
    };
    let conn = Conn::connect(dc.addr(), Framing::Intermediate, true).await;
    let mut c = Client::with_config(conn, key, 5, 0, config);
    c.invoke(echo(b"ping rides along")).await.unwrap();
    let started = tokio::time::Instant::now();
    c.conn.expect_closed().await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// S-13, S-3, M-4: injected bad_server_salt and bad_msg 16, and a skewed
/// server clock; the client recovers from each.
#[tokio::test]
async fn injected_faults_and_a_skewed_clock() {
    let dc = start().await;
    let mut c = registered_client(&dc, Framing::Intermediate, false).await;
    c.invoke(echo(b"first")).await.unwrap();

    // The forced bad_server_salt names the current salt; the client
    // resends with it and the request still runs once.
    dc.set_force_bad_salt(1);
    let answer = c
        .invoke(
            Call::Counter {
                key: "salted".into(),
            }
            .to_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(api::parse_count(&answer).unwrap(), 1);
    assert!(c
        .events
        .iter()
        .any(|e| matches!(e, mtproto::mtp::Event::SaltChanged(_))));

    dc.set_force_bad_msg(16, 1);
    c.invoke(echo(b"16")).await.unwrap();

    dc.set_clock_offset(1000);
    c.invoke(echo(b"skewed")).await.unwrap();
    let offset = c.session.time_offset();
    assert!((990..=1010).contains(&offset), "time offset {offset}");
}

/// The drop-after-bytes knob cuts connections mid-stream; with it off
/// again, the request completes on a new connection.
#[tokio::test]
async fn drop_after_bytes_cuts_connections() {
    let dc = start().await;
    let key = random_key();
    assert!(dc.add_auth_key(key.clone(), 9));
    dc.set_drop_after_bytes(Some(100));
    let conn = Conn::connect(dc.addr(), Framing::Intermediate, false).await;
    let mut c = Client::new(conn, key, 9, 0);
    let id = c
        .session
        .invoke(Call::BigPayload { size: 100_000 }.to_bytes());
    c.flush().await;
    c.conn.expect_closed().await;
    dc.set_drop_after_bytes(None);
    c.reconnect(Conn::connect(dc.addr(), Framing::Abridged, false).await);
    c.pump_until(PATIENCE, |c| c.has_result(id)).await;
    let answer = c.take_result(id).unwrap().unwrap();
    assert_eq!(api::parse_payload(&answer).unwrap().len(), 100_000);
}

/// T-15, T-17, T-11: an MTProxy endpoint accepts clients with its secret
/// and this DC's id, answers −444 for another DC id, and refuses plain
/// transports.
#[tokio::test]
async fn mtproxy_endpoint() {
    let secret = MtProxySecret::from_hex("dd0123456789abcdef0123456789abcdef").unwrap();
    let dc = LocalDc::builder()
        .dc_id(2)
        .mtproxy_secret(secret.clone())
        .spawn()
        .await
        .unwrap();
    let key = random_key();
    assert!(dc.add_auth_key(key.clone(), 3));
    let params = ObfuscationParams::mtproxy(secret.clone(), 2);
    let conn = Conn::connect_with(dc.addr(), Framing::PaddedIntermediate, Some(params)).await;
    let mut c = Client::new(conn, key, 3, 0);
    let answer = c.invoke(echo(b"via proxy")).await.unwrap();
    assert_eq!(api::parse_payload(&answer).unwrap(), b"via proxy");

    // The media form of this DC is accepted too; another DC is not.
    let params = ObfuscationParams::mtproxy(secret.clone(), 3);
    let mut other = Conn::connect_with(dc.addr(), Framing::PaddedIntermediate, Some(params)).await;
    let mut msg = Vec::new();
    mtproto::mtp::pack_plain((now().as_secs() as i64) << 32, &[0u8; 20], &mut msg);
    other.send(&msg, false).await;
    assert_eq!(other.expect_error().await, TransportErrorCode::InvalidDc);
    other.expect_closed().await;
    let params = ObfuscationParams::mtproxy(secret.clone(), -2);
    let mut media = Conn::connect_with(dc.addr(), Framing::PaddedIntermediate, Some(params)).await;
    media.send(&msg, false).await;
    // Past the DC check: the bogus unencrypted message gets −404.
    assert_eq!(
        media.expect_error().await,
        TransportErrorCode::AuthKeyNotFound
    );

    let mut plain = Conn::connect(dc.addr(), Framing::Intermediate, false).await;
    plain.send(&msg, false).await;
    plain.expect_closed().await;
}

/// A data center on its own thread serves clients of another runtime and
/// closes everything on shutdown.
#[tokio::test]
async fn start_on_thread_and_shutdown() {
    let dc = LocalDc::builder()
        .dc_id(10002)
        .start_on_thread()
        .expect("start on a thread");
    let addr = dc.addr();
    let mut c = exchanged_client(&dc, Framing::Abridged, false).await;
    c.invoke(echo(b"threaded")).await.unwrap();
    tokio::task::spawn_blocking(move || dc.shutdown())
        .await
        .unwrap();
    c.conn.expect_closed().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// The handle's bookkeeping: connections, keys, forgetting them.
#[tokio::test]
async fn forgetting_keys_and_sessions() {
    let dc = start().await;
    let mut c = registered_client(&dc, Framing::Intermediate, false).await;
    c.invoke(echo(b"x")).await.unwrap();
    assert_eq!(dc.auth_key_count(), 1);
    assert_eq!(dc.connection_count(), 1);

    // M-12, S-17: a forgotten session is re-created.
    dc.forget_sessions();
    c.invoke(echo(b"y")).await.unwrap();
    assert_eq!(c.new_session_events(), 2);

    // P-8: a forgotten key gets −404.
    assert!(dc.forget_auth_key(c.session.auth_key().id_i64()));
    c.session.invoke(echo(b"z"));
    c.flush().await;
    assert_eq!(
        c.conn.expect_error().await,
        TransportErrorCode::AuthKeyNotFound
    );
    assert_eq!(dc.auth_key_count(), 0);
}

/// The CLI prints `listening on IP:PORT` first, writes both PEM files,
/// serves a real client, and exits cleanly on SIGTERM.
#[tokio::test]
async fn cli_binary_serves_until_sigterm() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let dir = std::env::temp_dir().join(format!("localdc-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (private, public) = (dir.join("server.pem"), dir.join("public.pem"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_mtproto-localdc"))
        .args(["--listen", "127.0.0.1:0", "--dc-id", "2", "--rsa-key"])
        .arg(&private)
        .arg("--public-key-out")
        .arg(&public)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the CLI");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr: std::net::SocketAddr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line was {first:?}"))
        .parse()
        .unwrap();

    let private_pem = std::fs::read_to_string(&private).unwrap();
    assert!(private_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let public_pem = std::fs::read_to_string(&public).unwrap();
    assert!(public_pem.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    let key = mtproto::crypto::RsaPublicKey::from_pem(&public_pem).unwrap();
    assert_eq!(
        mtproto::crypto::RsaPrivateKey::from_pkcs1_pem(&private_pem)
            .unwrap()
            .public(),
        key
    );

    let mut conn = Conn::connect(addr, Framing::Intermediate, true).await;
    let outcome = handshake(&mut conn, &key, 2, None).await.unwrap();
    let mut c = Client::new(
        conn,
        outcome.auth_key,
        outcome.server_salt,
        outcome.time_offset,
    );
    let answer = c.invoke(echo(b"over the CLI")).await.unwrap();
    assert_eq!(api::parse_payload(&answer).unwrap(), b"over the CLI");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");

    // A second start reuses the key file; --help documents the options.
    let mut again = Command::new(env!("CARGO_BIN_EXE_mtproto-localdc"))
        .arg("--rsa-key")
        .arg(&private)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(again.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on 127.0.0.1:"), "{line:?}");
    assert_eq!(std::fs::read_to_string(&private).unwrap(), private_pem);
    again.kill().unwrap();
    let _ = again.wait();
    let out = Command::new(env!("CARGO_BIN_EXE_mtproto-localdc"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--rsa-key"));
    let _ = std::fs::remove_dir_all(&dir);
}
