//! A client and a server built from the same sans-IO state machines, wired
//! together in memory: obfuscated transport, key exchange, then encrypted
//! requests and a pushed update. Nothing here opens a socket; the bytes each
//! side writes are handed to the other.
//!
//! Run: `cargo run --release -p mtproto --example inprocess`

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mtproto::auth::{
    ClientConfig, ClientHandshake, ClientStep, PlainChannel, ServerConfig, ServerHandshake,
    ServerStep,
};
use mtproto::crypto::{Direction, RsaPrivateKey};
use mtproto::mtp::envelope;
use mtproto::mtp::server::{SaltSchedule, ServerEvent, ServerSession};
use mtproto::mtp::{Event, Role, Session, SessionTuning};
use mtproto::transport::{ClientCodec, Framing, Incoming, ObfuscationParams, ServerCodec};
use rand::rngs::OsRng;

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
}

/// Moves every byte the client wrote into the server codec and returns the
/// payloads the server decoded.
fn to_server(
    wire: &mut Vec<u8>,
    server: &mut ServerCodec<OsRng>,
) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error>> {
    let mut input = &wire[..];
    let mut out = Vec::new();
    while !input.is_empty() {
        let n = server.feed(input)?;
        input = &input[n..];
        while let Some(r) = server.poll()? {
            out.push(r.payload);
        }
    }
    wire.clear();
    Ok(out)
}

fn to_client(
    wire: &mut Vec<u8>,
    client: &mut ClientCodec<OsRng>,
) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error>> {
    let mut input = &wire[..];
    let mut out = Vec::new();
    while !input.is_empty() {
        let n = client.feed(input)?;
        input = &input[n..];
        while let Some(item) = client.poll()? {
            match item {
                Incoming::Packet(p) => out.push(p),
                other => println!("    transport item: {other:?}"),
            }
        }
    }
    wire.clear();
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    println!(
        "[{:>8.1?}] generating the server's 2048-bit RSA key",
        t.elapsed()
    );
    let rsa = RsaPrivateKey::generate(2048, &mut OsRng)?;
    let public = rsa.public();
    println!(
        "[{:>8.1?}] server key fingerprint {:#018x}",
        t.elapsed(),
        public.fingerprint() as u64
    );

    // Transport: obfuscated padded intermediate, the default of the client.
    let mut client_codec = ClientCodec::new(
        Framing::PaddedIntermediate,
        Some(ObfuscationParams::direct()),
        OsRng,
    )?;
    let mut server_codec = ServerCodec::new(Default::default(), OsRng);
    let mut c2s = Vec::new();
    let mut s2c = Vec::new();
    client_codec.start(&mut c2s);

    // Key exchange (A-1..A-19).
    let server_config = Arc::new(ServerConfig::new(vec![rsa], 2));
    let mut server_hs = ServerHandshake::new(server_config);
    let mut client_plain = PlainChannel::new(Role::Client);
    let mut server_plain = PlainChannel::new(Role::Server);
    let (mut client_hs, first) =
        ClientHandshake::start(ClientConfig::new(vec![public], 2), &mut OsRng);
    client_codec.encode(&client_plain.pack(&first, now()), false, &mut c2s)?;
    let t_kex = Instant::now();
    let (outcome, server_outcome) = loop {
        let mut server_done = None;
        for payload in to_server(&mut c2s, &mut server_codec)? {
            let (_, body) = server_plain.unpack(&payload)?;
            let step = server_hs.handle(body, now(), &mut OsRng, |_| false)?;
            let reply = match step {
                ServerStep::Reply(r) => r,
                ServerStep::Done { reply, outcome } => {
                    server_done = Some(outcome);
                    reply
                }
            };
            println!(
                "[{:>8.1?}] server  -> {} bytes ({:#010x})",
                t.elapsed(),
                reply.len(),
                u32::from_le_bytes(reply[..4].try_into()?)
            );
            server_codec.encode(&server_plain.pack(&reply, now()), &mut s2c)?;
        }
        let mut done = None;
        for payload in to_client(&mut s2c, &mut client_codec)? {
            let (_, body) = client_plain.unpack(&payload)?;
            match client_hs.handle(body, now(), &mut OsRng)? {
                ClientStep::Send(b) => {
                    println!(
                        "[{:>8.1?}] client  -> {} bytes ({:#010x})",
                        t.elapsed(),
                        b.len(),
                        u32::from_le_bytes(b[..4].try_into()?)
                    );
                    client_codec.encode(&client_plain.pack(&b, now()), false, &mut c2s)?;
                }
                ClientStep::Done(o) => done = Some(o),
            }
        }
        if let (Some(c), Some(s)) = (done, server_done.take()) {
            break (c, s);
        }
    };
    assert_eq!(outcome.auth_key, server_outcome.auth_key);
    println!(
        "[{:>8.1?}] key exchange done in {:.1?}: auth_key_id {:02x?}, salt {:#x}, time offset {} s",
        t.elapsed(),
        t_kex.elapsed(),
        outcome.auth_key.id(),
        outcome.server_salt,
        outcome.time_offset
    );

    // Encrypted session (E-*, M-*, S-*).
    let key = outcome.auth_key.clone();
    let mut session = Session::new(
        SessionTuning::default(),
        outcome.auth_key,
        outcome.server_salt,
        outcome.time_offset,
        &mut OsRng,
    );
    session.on_connected(now());
    let mut salts = SaltSchedule::new(server_outcome.server_salt, now().as_secs() as i64, 1800);
    let mut server = ServerSession::new(session.session_id(), &mut OsRng);
    let echo = |n: u32| {
        let mut b = 0x7E57_0001u32.to_le_bytes().to_vec();
        b.extend_from_slice(format!("hello #{n}").as_bytes());
        b.resize(b.len().div_ceil(4) * 4, 0);
        b
    };
    let ids: Vec<_> = (1..=3).map(|n| session.invoke(echo(n))).collect();
    let mut pushed = false;
    let mut answered = 0;
    while answered < ids.len() || !pushed {
        while let Some(packet) = session.poll_transmit(now()) {
            client_codec.encode(&packet, false, &mut c2s)?;
        }
        for mut payload in to_server(&mut c2s, &mut server_codec)? {
            let d = envelope::decrypt(&key, Direction::ClientToServer, &mut payload)?;
            let body = payload[d.body.clone()].to_vec();
            server.handle_message(&d.header, &body, &mut salts, now());
        }
        while let Some(ev) = server.poll_event() {
            if let ServerEvent::Query(q) = ev {
                server.reply(q.req_msg_id, Ok(q.body));
                if !pushed {
                    server.push(b"\x02\x00\x57\x7Eupdate!\0".to_vec());
                    pushed = true;
                }
            }
        }
        let salt = salts.current(now().as_secs() as i64, &mut OsRng);
        while let Some(packet) = server.poll_transmit(&key, salt, now(), 1024) {
            server_codec.encode(&packet, &mut s2c)?;
        }
        for mut payload in to_client(&mut s2c, &mut client_codec)? {
            session.handle_packet(&mut payload, now())?;
        }
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Result { id, result } => {
                    answered += 1;
                    let text = result
                        .map(|b| {
                            String::from_utf8_lossy(&b[4..])
                                .trim_end_matches('\0')
                                .to_string()
                        })
                        .map_err(|e| format!("{e:?}"));
                    println!("[{:>8.1?}] result  {id:?}: {text:?}", t.elapsed());
                }
                Event::Update(u) => println!(
                    "[{:>8.1?}] update  {:?}",
                    t.elapsed(),
                    String::from_utf8_lossy(&u[4..]).trim_end_matches('\0')
                ),
                other => println!("[{:>8.1?}] event   {other:?}", t.elapsed()),
            }
        }
    }
    println!("[{:>8.1?}] done", t.elapsed());
    Ok(())
}
