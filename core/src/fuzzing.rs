//! Entry points for fuzzing every decoder and both session roles.
//!
//! Each function takes arbitrary bytes and must return normally: no panic,
//! no hang, no unbounded allocation, whatever the input. The cargo-fuzz
//! targets in `fuzz/` call them (a nightly toolchain, see
//! `scripts/fuzz.sh`); the stable test run replays the corpus kept in
//! `fuzz/corpus/<target>/` through them, so every input a fuzzer ever
//! found interesting stays a regression test.
//!
//! The session targets go past the msg_key check: the fuzzer's bytes are
//! the *plaintext* of packets, encrypted here with a fixed key, so the
//! state machines behind decryption are what gets explored. They also
//! check the properties that matter beyond "no panic": every request ends
//! at most once, and a server session never runs one client message twice.
//!
//! Built with `cfg(test)` or the `fuzzing` feature only.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::auth::{
    ClientConfig, ClientHandshake, ServerConfig as AuthServerConfig, ServerHandshake,
};
use crate::crypto::{AuthKey, Direction, RsaPrivateKey};
use crate::mtp::envelope::{self, Header};
use crate::mtp::server::{SaltSchedule, ServerEvent, ServerSession};
use crate::mtp::{Event, Session, SessionTuning};
use crate::tl::schema::Schema;
use crate::transport::{FrameDecoder, Framing, Role, ServerCodec, ServerConfig};

/// A fuzz target: any bytes in, must return normally.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, as `fuzz/fuzz_targets/<name>.rs` and
/// `fuzz/corpus/<name>/` call them.
pub const TARGETS: &[(&str, Target)] = &[
    ("tl_schema_text", tl_schema_text),
    ("tl_dynamic_codec", tl_dynamic_codec),
    ("transport_frames", transport_frames),
    ("transport_server_codec", transport_server_codec),
    ("mtp_envelope", mtp_envelope),
    ("client_session", client_session),
    ("server_session", server_session),
    ("handshake_client", handshake_client),
    ("handshake_server", handshake_server),
];

/// A moment in 2025 (the sessions need a plausible Unix time).
const T0: u64 = 1_750_000_000;

fn key() -> AuthKey {
    let mut k = [0u8; 256];
    for (i, b) in k.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(13).wrapping_add(5);
    }
    AuthKey::from_bytes(&k)
}

/// Splits input into steps: `[op][len lo][len hi][len bytes]`, repeated; a
/// short tail is one last step.
fn steps(mut data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (&op, rest) = data.split_first()?;
        let (len, rest) = match rest {
            [lo, hi, rest @ ..] => (usize::from(*lo) | usize::from(*hi) << 8, rest),
            _ => (rest.len(), &rest[rest.len()..]),
        };
        let len = len.min(rest.len());
        let (body, tail) = rest.split_at(len);
        data = tail;
        Some((op, body))
    })
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    for (i, v) in b.iter().skip(at).take(8).enumerate() {
        x[i] = *v;
    }
    u64::from_le_bytes(x)
}

/// A message header and body from one step: with bit 3 of `op` (and 16
/// bytes to spare) the fuzzer picks msg_id and seqno itself, else they are
/// the next plausible id and a seqno whose parity bit 5 picks.
fn message_of(op: u8, body: &[u8], salt: i64, session_id: i64, next_id: i64) -> (Header, &[u8]) {
    let explicit = op & 8 != 0 && body.len() >= 16;
    let header = Header {
        salt,
        session_id,
        msg_id: if explicit {
            u64_at(body, 0) as i64
        } else {
            next_id
        },
        seq_no: if explicit {
            u64_at(body, 8) as i32
        } else {
            i32::from(op & 32 != 0)
        },
    };
    (header, if explicit { &body[16..] } else { body })
}

/// TL schema text: the parser and the index behind `Schema::parse`.
pub fn tl_schema_text(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Schema::parse(text);
    }
}

/// The dynamic codec over Telegram's schema: decoding arbitrary bytes, and
/// re-encoding whatever decoded.
pub fn tl_dynamic_codec(data: &[u8]) {
    let schema = Schema::telegram();
    if let Ok(value) = schema.decode(data) {
        let again = schema.encode(&value);
        assert!(again.is_ok(), "a decoded value encodes: {again:?}");
    }
}

/// The framing decoders, both roles, every framing, fed in fuzzer-chosen
/// pieces (the first byte picks framing and role, each step is one feed).
pub fn transport_frames(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let framings = [
        Framing::Abridged,
        Framing::Intermediate,
        Framing::PaddedIntermediate,
        Framing::Full,
    ];
    let framing = framings[usize::from(pick & 3)];
    let role = if pick & 4 == 0 {
        Role::Client
    } else {
        Role::Server
    };
    let mut decoder = FrameDecoder::new(framing, role).with_max_frame(1 << 16);
    for (_, piece) in steps(rest) {
        let mut piece = piece;
        while !piece.is_empty() {
            match decoder.feed(piece) {
                Ok(0) | Err(_) => break,
                Ok(n) => piece = &piece[n..],
            }
            while let Ok(Some(_)) = decoder.poll() {}
        }
        while let Ok(Some(_)) = decoder.poll() {}
        if decoder.error().is_some() {
            return;
        }
    }
}

/// The server's codec: transport detection, obfuscation, MTProxy secrets.
pub fn transport_server_codec(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let config = ServerConfig {
        max_frame: 1 << 16,
        mtproxy_secret: None,
        require_obfuscation: pick & 1 == 1,
    };
    let mut codec = ServerCodec::new(config, StdRng::seed_from_u64(u64::from(pick)));
    for (_, piece) in steps(rest) {
        let mut piece = piece;
        while !piece.is_empty() {
            match codec.feed(piece) {
                Ok(0) | Err(_) => return,
                Ok(n) => piece = &piece[n..],
            }
            loop {
                match codec.poll() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
        }
    }
}

/// Decryption of arbitrary packets in both directions (E-7: every check
/// before any use).
pub fn mtp_envelope(data: &[u8]) {
    let key = key();
    for dir in [Direction::ServerToClient, Direction::ClientToServer] {
        let mut copy = data.to_vec();
        let _ = envelope::decrypt(&key, dir, &mut copy);
    }
}

/// The client session, fed correctly encrypted server packets with
/// fuzzer-chosen headers and bodies, interleaved with requests, lost
/// connections and the passing of time. Every request ends at most once.
pub fn client_session(data: &[u8]) {
    let key = key();
    let mut rng = StdRng::seed_from_u64(7);
    let mut session = Session::new(SessionTuning::default(), key.clone(), 0x5A17, 0, &mut rng);
    let mut now = Duration::from_secs(T0);
    session.set_wall_clock(now, now);
    session.on_connected(now);
    let mut ended = HashSet::new();
    let mut invoked = 0usize;
    let mut server_ids = (T0 as i64) << 32 | 1;
    for (op, body) in steps(data) {
        match op % 8 {
            // A server packet: header from the first 16 bytes (or chosen
            // here), the rest as the plaintext body.
            0..=3 => {
                server_ids += 4;
                let session_id = if op & 16 != 0 {
                    u64_at(body, 0) as i64
                } else {
                    session.session_id()
                };
                let (header, plain) = message_of(op, body, 0x5A17, session_id, server_ids);
                let mut packet = Vec::new();
                envelope::encrypt(
                    &key,
                    Direction::ServerToClient,
                    &header,
                    plain,
                    &mut rng,
                    &mut packet,
                );
                if session.handle_packet(&mut packet, now).is_err() {
                    // What a driver does: drop the connection, reconnect.
                    session.on_disconnected();
                    session.on_connected(now);
                }
            }
            4 => {
                if invoked < 256 {
                    let mut b = body.to_vec();
                    b.resize(b.len().div_ceil(4).max(1) * 4, 0);
                    let wait = Duration::from_secs(u64::from(op >> 3) + 1);
                    session.invoke_until(b, Some(now + wait));
                    invoked += 1;
                }
            }
            5 => {
                session.on_disconnected();
                session.on_connected(now);
            }
            6 => {
                now += Duration::from_millis(u64::from(body.first().copied().unwrap_or(1)) * 500);
                session.handle_timeout(now);
            }
            _ => {
                if let Some(&b) = body.first() {
                    // A stepped wall clock (bad_msg 16/17 paths).
                    let wall = Duration::from_secs((T0 as i64 + i64::from(b as i8) * 10) as u64);
                    session.set_wall_clock(wall, now);
                }
            }
        }
        let mut sent = 0;
        while session.poll_transmit(now).is_some() {
            sent += 1;
            assert!(sent < 10_000, "poll_transmit never runs dry");
        }
        while let Some(e) = session.poll_event() {
            if let Event::Result { id, .. } = e {
                assert!(ended.insert(id), "request {id:?} ended twice");
            }
        }
    }
    all_calls_end(&mut session, now, &mut ended, invoked);
}

/// Past every deadline, every call has ended, exactly once.
fn all_calls_end(
    session: &mut Session,
    now: Duration,
    ended: &mut HashSet<crate::mtp::CallId>,
    invoked: usize,
) {
    let later = now + Duration::from_secs(3600);
    session.handle_timeout(later);
    while let Some(e) = session.poll_event() {
        if let Event::Result { id, .. } = e {
            assert!(ended.insert(id), "request {id:?} ended twice");
        }
    }
    assert_eq!(
        session.pending_requests(),
        0,
        "a call outlived its deadline"
    );
    assert_eq!(ended.len(), invoked, "every call ended once");
}

/// The server session, fed fuzzer-chosen headers and decrypted bodies (its
/// input after decryption). Each client message runs at most once.
pub fn server_session(data: &[u8]) {
    let mut rng = StdRng::seed_from_u64(9);
    let session_id = 0x5E55_1011;
    let mut session = ServerSession::new(session_id, &mut rng);
    let mut salts = SaltSchedule::new(0x5A17, T0 as i64 - 60, 1800);
    let key = key();
    let mut now = Duration::from_secs(T0);
    let mut ran = HashSet::new();
    let mut client_ids = (T0 as i64) << 32;
    for (op, body) in steps(data) {
        match op % 4 {
            0 | 1 => {
                client_ids += 4;
                let salt = if op & 16 != 0 { 0 } else { 0x5A17 };
                let (header, plain) = message_of(op, body, salt, session_id, client_ids);
                session.handle_message(&header, plain, &mut salts, now);
            }
            2 => session.on_new_connection(),
            _ => now += Duration::from_secs(u64::from(body.first().copied().unwrap_or(1))),
        }
        while let Some(ev) = session.poll_event() {
            if let ServerEvent::Query(q) = ev {
                assert!(
                    ran.insert(q.req_msg_id),
                    "message {:x} ran twice",
                    q.req_msg_id
                );
                session.reply(q.req_msg_id, Ok(q.body));
            }
        }
        let salt = salts.current(now.as_secs() as i64, &mut rng);
        let mut sent = 0;
        while session.poll_transmit(&key, salt, now, 1024).is_some() {
            sent += 1;
            assert!(sent < 10_000, "poll_transmit never runs dry");
        }
    }
}

/// A 2048-bit server key, made once per process.
fn server_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        RsaPrivateKey::generate(2048, &mut StdRng::seed_from_u64(0xF022)).expect("key generation")
    })
}

/// The client's key exchange answering fuzzer-chosen server messages.
pub fn handshake_client(data: &[u8]) {
    let mut rng = StdRng::seed_from_u64(3);
    let config = ClientConfig::new(vec![server_key().public()], 2);
    let (mut hs, _first) = ClientHandshake::start(config, &mut rng);
    for (_, body) in steps(data) {
        if hs.handle(body, Duration::from_secs(T0), &mut rng).is_err() || hs.is_finished() {
            return;
        }
    }
}

/// The server's key exchange answering fuzzer-chosen client messages.
pub fn handshake_server(data: &[u8]) {
    let mut rng = StdRng::seed_from_u64(4);
    let config = Arc::new(AuthServerConfig::new(vec![server_key().clone()], 2));
    let mut hs = ServerHandshake::new(config);
    for (_, body) in steps(data) {
        if hs
            .handle(body, Duration::from_secs(T0), &mut rng, |_| false)
            .is_err()
            || hs.is_finished()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of `fuzz/corpus/<target>/` goes through its target: what
    /// a fuzzer found once is checked on every run, on stable Rust.
    #[test]
    fn fuzz_corpus_replays() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        let mut total = 0;
        for (name, target) in TARGETS {
            let dir = root.join(name);
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.expect("a corpus entry").path())
                .collect();
            files.sort();
            assert!(!files.is_empty(), "{name} has a corpus");
            for f in files {
                target(&std::fs::read(&f).expect("a corpus file"));
                total += 1;
            }
        }
        eprintln!("{total} corpus inputs replayed");
    }

    /// Writes the seed corpus (valid inputs of each target, so the fuzzer
    /// starts past the first checks): `MTPROTO_WRITE_FUZZ_SEEDS=1 cargo
    /// test -p mtproto --lib write_fuzz_seeds -- --ignored`.
    #[test]
    #[ignore]
    fn write_fuzz_seeds() {
        if std::env::var_os("MTPROTO_WRITE_FUZZ_SEEDS").is_none() {
            return;
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        for (name, inputs) in seeds() {
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            for (i, data) in inputs.into_iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i:02}")), data).unwrap();
            }
        }
    }

    fn step(op: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![op, body.len() as u8, (body.len() >> 8) as u8];
        v.extend_from_slice(body);
        v
    }

    fn seeds() -> Vec<(&'static str, Vec<Vec<u8>>)> {
        use crate::mtp::{pack_container, ContainerEntry};
        use crate::tl::service::{functions, types};
        use crate::tl::Serialize;
        use serde_json::json;

        let api = crate::tl::schema::api_tl_text();
        let schema = Schema::telegram();
        let codec = [
            json!({"_": "help.getConfig"}),
            json!({"_": "pong", "msg_id": 5, "ping_id": 7}),
            json!({"_": "updatesTooLong"}),
            json!({"_": "inputPeerUser", "user_id": 5, "access_hash": 77}),
        ]
        .iter()
        .map(|v| schema.encode(v).unwrap())
        .collect();
        // Frames: a 16-byte payload in each framing's encoding.
        let mut frames = Vec::new();
        for (i, framing) in [
            Framing::Abridged,
            Framing::Intermediate,
            Framing::PaddedIntermediate,
            Framing::Full,
        ]
        .into_iter()
        .enumerate()
        {
            let mut enc = crate::transport::FrameEncoder::new(framing, Role::Server);
            let mut out = Vec::new();
            enc.encode(&[7u8; 16], false, &mut StdRng::seed_from_u64(1), &mut out)
                .unwrap();
            let mut input = vec![i as u8];
            input.extend(step(0, &out));
            frames.push(input);
        }
        // Service messages a server sends, alone and in a container.
        let service: Vec<Vec<u8>> = vec![
            types::MsgsAck {
                msg_ids: vec![(T0 as i64) << 32 | 4],
            }
            .to_bytes(),
            types::Pong {
                msg_id: 4,
                ping_id: 1,
            }
            .to_bytes(),
            types::NewSessionCreated {
                first_msg_id: 4,
                unique_id: 9,
                server_salt: 3,
            }
            .to_bytes(),
            types::BadMsgNotification {
                bad_msg_id: 4,
                bad_msg_seqno: 1,
                error_code: 17,
            }
            .to_bytes(),
            types::MsgsStateReq {
                msg_ids: vec![4, 8],
            }
            .to_bytes(),
        ];
        let mut container = Vec::new();
        pack_container(
            &service
                .iter()
                .enumerate()
                .map(|(i, b)| ContainerEntry {
                    msg_id: (T0 as i64) << 32 | (4 * i as i64 + 1),
                    seq_no: 0,
                    body: b.clone(),
                })
                .collect::<Vec<_>>(),
            &mut container,
        );
        let mut client = Vec::new();
        client.extend(step(4, &[1, 2, 3, 4]));
        for b in &service {
            client.extend(step(0, b));
        }
        client.extend(step(0, &container));
        client.extend(step(5, &[]));
        client.extend(step(6, &[3]));
        let mut server = Vec::new();
        server.extend(step(1, &functions::Ping { ping_id: 1 }.to_bytes()));
        server.extend(step(1, &[0x19, 0x7b, 0x5c, 0x8f, 1, 0x41, 0, 0]));
        server.extend(step(2, &[]));
        server.extend(step(0, &types::MsgsAck { msg_ids: vec![1] }.to_bytes()));
        let req_pq = functions::ReqPqMulti { nonce: [1; 16] }.to_bytes();
        vec![
            (
                "tl_schema_text",
                vec![
                    api.as_bytes()[..4096].to_vec(),
                    b"a#1 = A;\n---functions---\nf#2 x:int = A;".to_vec(),
                ],
            ),
            ("tl_dynamic_codec", codec),
            ("transport_frames", frames),
            (
                "transport_server_codec",
                vec![{
                    let mut v = vec![0u8];
                    v.extend(step(0, &[0xee, 0xee, 0xee, 0xee, 16, 0, 0, 0]));
                    v.extend(step(0, &[9u8; 16]));
                    v
                }],
            ),
            (
                "mtp_envelope",
                vec![{
                    let mut p = Vec::new();
                    let header = Header {
                        salt: 1,
                        session_id: 2,
                        msg_id: (T0 as i64) << 32 | 1,
                        seq_no: 1,
                    };
                    envelope::encrypt(
                        &key(),
                        Direction::ServerToClient,
                        &header,
                        &service[1],
                        &mut StdRng::seed_from_u64(2),
                        &mut p,
                    );
                    p
                }],
            ),
            ("client_session", vec![client]),
            ("server_session", vec![server]),
            (
                "handshake_client",
                vec![step(
                    0,
                    &types::ResPQ {
                        nonce: [1; 16],
                        server_nonce: [2; 16],
                        pq: vec![0x17, 0xED, 0x48, 0x94, 0x1A, 0x08, 0xF9, 0x81],
                        server_public_key_fingerprints: vec![1],
                    }
                    .to_bytes(),
                )],
            ),
            ("handshake_server", vec![step(0, &req_pq)]),
        ]
    }

    /// Arbitrary inputs of every shape, a few thousand per target.
    #[test]
    fn fuzz_targets_take_random_input() {
        use rand::RngCore;
        let mut rng = StdRng::seed_from_u64(0xF0_22);
        for (_, target) in TARGETS {
            for len in [0usize, 1, 3, 17, 64, 300, 2000] {
                for _ in 0..20 {
                    let mut data = vec![0u8; len];
                    rng.fill_bytes(&mut data);
                    target(&data);
                }
            }
        }
    }
}
