//! Client [`Session`] against [`ServerSession`], in memory, with a
//! simulated clock: every reaction of PROTOCOL.md sections M and S that
//! involves both sides.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::envelope;
use super::server::{SaltSchedule, ServerEvent, ServerSession};
use super::session::{init_connection_prefix, CallId, Event, RequestError, Session, SessionTuning};
use crate::crypto::{AuthKey, Direction};
use crate::tl::service::{functions, types};
use crate::tl::{Deserialize, Serialize};

const T0: u64 = 1_750_000_000;

/// What the test server's application does with a query.
#[derive(Clone, Copy, PartialEq, Eq)]
enum App {
    /// Answer with the query bytes.
    Echo,
    /// Keep the query pending (sleep).
    Hold,
}

struct Pair {
    key: AuthKey,
    client: Session,
    server: ServerSession,
    salts: SaltSchedule,
    /// The client's local clock.
    now: Duration,
    /// server clock = client clock + skew.
    skew: i64,
    app: App,
    held: Vec<i64>,
    queries: Vec<super::server::Query>,
    events: Vec<Event>,
    server_events: Vec<ServerEvent>,
    /// Packets that went each way.
    c2s: usize,
    s2c: usize,
    /// (session_id, msg_id) of every packet the client sent, in order.
    sent_ids: Vec<(i64, i64)>,
    /// Sessions the server created (a new session_id from the client makes
    /// a new server session, as Telegram's servers do).
    server_sessions: usize,
}

fn key() -> AuthKey {
    let mut k = [0u8; 256];
    for (i, b) in k.iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    AuthKey::from_bytes(&k)
}

impl Pair {
    fn new(config: SessionTuning, client_salt: i64, skew: i64) -> Self {
        let mut rng = StdRng::seed_from_u64(42);
        let now = Duration::from_secs(T0);
        let server_now = (T0 as i64 + skew) as u64;
        let salts = SaltSchedule::new(0x5A17, server_now as i64, 1800);
        let mut client = Session::new(config, key(), client_salt, 0, &mut rng);
        client.on_connected(now);
        let server = ServerSession::new(client.session_id(), &mut rng);
        Pair {
            key: key(),
            client,
            server,
            salts,
            now,
            skew,
            app: App::Echo,
            held: Vec::new(),
            queries: Vec::new(),
            events: Vec::new(),
            server_events: Vec::new(),
            c2s: 0,
            s2c: 0,
            sent_ids: Vec::new(),
            server_sessions: 1,
        }
    }

    fn server_now(&self) -> Duration {
        Duration::from_secs((self.now.as_secs() as i64 + self.skew) as u64)
            + Duration::from_nanos(self.now.subsec_nanos() as u64)
    }

    /// Exchanges packets until both sides are quiet.
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(mut pkt) = self.client.poll_transmit(self.now) {
                moved = true;
                self.c2s += 1;
                let d = envelope::decrypt(&self.key, Direction::ClientToServer, &mut pkt)
                    .expect("server decrypts client packets");
                let body = pkt[d.body.clone()].to_vec();
                let now = self.server_now();
                self.sent_ids.push((d.header.session_id, d.header.msg_id));
                if d.header.session_id != self.server.session_id() {
                    self.server =
                        ServerSession::new(d.header.session_id, &mut StdRng::seed_from_u64(9));
                    self.server_sessions += 1;
                }
                self.server
                    .handle_message(&d.header, &body, &mut self.salts, now);
            }
            while let Some(ev) = self.server.poll_event() {
                match ev {
                    ServerEvent::Query(q) => {
                        self.queries.push(q.clone());
                        match self.app {
                            App::Echo => self.server.reply(q.req_msg_id, Ok(q.body)),
                            App::Hold => self.held.push(q.req_msg_id),
                        }
                    }
                    other => self.server_events.push(other),
                }
            }
            let now = self.server_now();
            let salt = self
                .salts
                .current(now.as_secs() as i64, &mut StdRng::seed_from_u64(1));
            while let Some(mut pkt) = self.server.poll_transmit(&self.key, salt, now, 1024) {
                moved = true;
                self.s2c += 1;
                self.client
                    .handle_packet(&mut pkt, self.now)
                    .expect("client accepts server packets");
            }
            while let Some(e) = self.client.poll_event() {
                self.events.push(e);
            }
            // Let a pending ack timer (due within a second) fire.
            if !moved {
                match self.client.poll_timeout() {
                    Some(t) if t <= self.now + Duration::from_secs(1) => {
                        self.now = self.now.max(t);
                        self.client.handle_timeout(self.now);
                    }
                    _ => return,
                }
            }
        }
        panic!("no quiescence");
    }

    /// A packet from the server built by hand: `body` under `msg_id` and
    /// `seq_no`, encrypted for the client's session.
    fn server_packet(&self, msg_id: i64, seq_no: i32, body: &[u8]) -> Vec<u8> {
        let header = envelope::Header {
            salt: 0x5A17,
            session_id: self.client.session_id(),
            msg_id,
            seq_no,
        };
        let mut pkt = Vec::new();
        envelope::encrypt(
            &self.key,
            Direction::ServerToClient,
            &header,
            body,
            &mut StdRng::seed_from_u64(3),
            &mut pkt,
        );
        pkt
    }

    fn results(&self) -> Vec<(CallId, Result<Vec<u8>, RequestError>)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Result { id, result } => Some((*id, result.clone())),
                _ => None,
            })
            .collect()
    }
}

fn no_ping() -> SessionTuning {
    SessionTuning {
        ping_interval: None,
        ..SessionTuning::default()
    }
}

/// An API-style call (not a service constructor) the echo app returns.
fn echo_body(n: u32) -> Vec<u8> {
    let mut b = 0x7E57_0002u32.to_le_bytes().to_vec();
    b.extend_from_slice(&n.to_le_bytes());
    b
}

/// S-2, S-17, M-10, S-1, S-28: a request is answered and matched; the first message
/// creates the session; server content messages get acknowledged.
#[test]
fn s2_s17_invoke_round_trip_and_acks() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    let id = p.client.invoke(b"\x01\x02\x03\x04".to_vec());
    p.pump();
    assert_eq!(p.results(), vec![(id, Ok(b"\x01\x02\x03\x04".to_vec()))]);
    assert!(p
        .events
        .iter()
        .any(|e| matches!(e, Event::NewSessionCreated { .. })));
    // Everything content-related the server sent was acknowledged.
    p.now += Duration::from_secs(2);
    p.client.handle_timeout(p.now);
    p.pump();
    assert_eq!(p.server.unacked_len(), 0);
    assert_eq!(p.client.pending_requests(), 0);
}

/// S-17: when the session's first packet is a container (here a keepalive
/// ping and a request), first_msg_id is the lowest id inside it, so the
/// client resends nothing and the request runs once.
#[test]
fn s17_first_container_runs_each_query_once() {
    let mut p = Pair::new(SessionTuning::default(), 0x5A17, 0);
    let id = p.client.invoke(echo_body(7));
    // Due now: the keepalive joins the request in one container.
    p.client.handle_timeout(p.now);
    p.pump();
    assert_eq!(p.results(), vec![(id, Ok(echo_body(7)))]);
    assert_eq!(p.queries.len(), 1, "the query ran once");
}

/// S-18, M-7, M-8: many pipelined requests go out in containers and all
/// come back matched to their ids.
#[test]
fn s18_pipelined_requests_in_containers() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    let ids: Vec<_> = (0..3000).map(|i| p.client.invoke(echo_body(i))).collect();
    p.pump();
    let results = p.results();
    assert_eq!(results.len(), 3000);
    for (i, id) in ids.iter().enumerate() {
        let r = results.iter().find(|(rid, _)| rid == id).unwrap();
        assert_eq!(r.1, Ok(echo_body(i as u32)));
    }
    assert!(p.c2s < 10, "containers used: {} packets", p.c2s);
}

/// S-13, M-14: a wrong salt gets bad_server_salt; the client adopts the new
/// salt and resends; the caller only sees the result.
#[test]
fn s13_bad_server_salt_recovered() {
    let mut p = Pair::new(no_ping(), 0x0BAD, 0);
    let id = p.client.invoke(echo_body(1));
    p.pump();
    assert_eq!(p.results(), vec![(id, Ok(echo_body(1)))]);
    assert_eq!(p.client.salt(), 0x5A17);
    assert!(p.events.contains(&Event::SaltChanged(0x5A17)));
    assert_eq!(p.queries.len(), 1, "the query ran once");
}

/// S-17, M-14: with a wrong salt, a burst of requests is rejected packet
/// by packet; the resent container that creates the server session has
/// first_msg_id = the container's id (greater than everything inside, M-7).
/// The messages inside it were received: they must not be resent, or the
/// server would run each of them twice.
#[test]
fn s17_messages_in_the_creating_container_are_not_resent() {
    let mut p = Pair::new(no_ping(), 0x0BAD, 0);
    let ids: Vec<_> = (0..50).map(|i| p.client.invoke(echo_body(i))).collect();
    p.pump();
    let results = p.results();
    assert_eq!(results.len(), 50);
    for (i, id) in ids.iter().enumerate() {
        assert!(results.contains(&(*id, Ok(echo_body(i as u32)))));
    }
    assert_eq!(p.queries.len(), 50, "every query ran exactly once");
}

/// S-4, S-5, M-4, M-5: a client clock an hour off is corrected from the
/// bad_msg_notification's own msg_id, and the request then succeeds.
#[test]
fn s4_s5_clock_skew_corrected() {
    for skew in [3600i64, -3600] {
        let mut p = Pair::new(no_ping(), 0x5A17, skew);
        let id = p.client.invoke(echo_body(9));
        p.pump();
        assert_eq!(p.results(), vec![(id, Ok(echo_body(9)))], "skew {skew}");
        assert!((p.client.time_offset() - skew).abs() <= 1);
        assert_eq!(p.queries.len(), 1);
    }
}

/// S-9, S-10, M-13: seqno desync (forced 32/33) makes the client start a new
/// session; the refused request runs there, once.
#[test]
fn s9_s10_seqno_desync_resets_session() {
    for code in [32, 33] {
        let mut p = Pair::new(no_ping(), 0x5A17, 0);
        p.server.faults.force_bad_msg = Some((code, 1));
        let old = p.client.session_id();
        let id = p.client.invoke(echo_body(3));
        p.pump();
        assert_ne!(old, p.client.session_id(), "code {code}");
        assert_eq!(p.server_sessions, 2);
        assert_eq!(p.results(), vec![(id, Ok(echo_body(3)))], "code {code}");
        assert_eq!(p.queries.len(), 1, "code {code}");
    }
}

/// S-9, S-10: a 32/33 never re-sends a request the server already holds.
/// One request is acknowledged and still running when another is refused
/// with 32: nothing new starts in the old session until the held one is
/// answered there; then the refused one runs in the new session. Each ran
/// exactly once (the old code re-sent both, running the first twice).
#[test]
fn s9_s10_desync_waits_for_answers_the_server_owes() {
    for code in [32, 33] {
        let mut p = Pair::new(no_ping(), 0x5A17, 0);
        p.app = App::Hold;
        let first = p.client.invoke(echo_body(1));
        p.pump();
        assert_eq!(p.held.len(), 1);
        p.pump();
        p.server.faults.force_bad_msg = Some((code, 1));
        let second = p.client.invoke(echo_body(2));
        let third_before_answer = {
            p.pump();
            p.client.invoke(echo_body(3))
        };
        p.pump();
        assert_eq!(
            p.queries.len(),
            1,
            "code {code}: nothing new ran while draining"
        );
        let old = p.client.session_id();
        p.app = App::Echo;
        let held = p.held.remove(0);
        p.server.reply(held, Ok(echo_body(1)));
        p.pump();
        assert_ne!(old, p.client.session_id(), "code {code}");
        let results = p.results();
        assert_eq!(results.len(), 3, "code {code}: {results:?}");
        assert!(results.contains(&(first, Ok(echo_body(1)))));
        assert!(results.contains(&(second, Ok(echo_body(2)))));
        assert!(results.contains(&(third_before_answer, Ok(echo_body(3)))));
        assert_eq!(p.queries.len(), 3, "code {code}: each ran once");
    }
}

/// S-9, S-10: when the server never answers what it holds, the new
/// session starts after RENEW_DRAIN_MAX and that request fails with
/// AnswerLost (it may have run) instead of being run again.
#[test]
fn s9_s10_drain_is_bounded() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.app = App::Hold;
    let first = p.client.invoke(echo_body(1));
    p.pump();
    p.pump();
    p.server.faults.force_bad_msg = Some((32, 1));
    let second = p.client.invoke(echo_body(2));
    p.pump();
    p.app = App::Echo;
    p.now += super::session::RENEW_DRAIN_MAX;
    p.client.handle_timeout(p.now);
    p.pump();
    let results = p.results();
    assert!(
        results.contains(&(first, Err(RequestError::AnswerLost))),
        "{results:?}"
    );
    assert!(results.contains(&(second, Ok(echo_body(2)))), "{results:?}");
    assert_eq!(p.queries.len(), 2);
}

/// S-5, M-3, M-4: bad_msg 17 (our clock ahead) never makes msg_ids go
/// backwards inside a session: the corrected (lower) ids start a new
/// session. Checked for a client ahead at the start and for a wall clock
/// stepped forward mid-session.
#[test]
fn s5_clock_ahead_starts_a_new_session_and_ids_never_go_back() {
    for skew in [-31i64, -100, -299, -3600] {
        let mut p = Pair::new(no_ping(), 0x5A17, skew);
        let id = p.client.invoke(echo_body(5));
        p.pump();
        assert_eq!(p.results(), vec![(id, Ok(echo_body(5)))], "skew {skew}");
        assert_eq!(p.queries.len(), 1);
        assert!(p.server_sessions >= 2, "skew {skew}: a new session");
        assert_ids_increase_per_session(&p.sent_ids);
    }
    // A wall clock stepped 100 s forward while the session runs: the
    // driver's monotonic clock is unchanged, so nothing happens until the
    // session is told the new wall time (as on a reconnect).
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    let a = p.client.invoke(echo_body(1));
    p.pump();
    p.client
        .set_wall_clock(p.now + Duration::from_secs(100), p.now);
    let b = p.client.invoke(echo_body(2));
    p.pump();
    let results = p.results();
    assert_eq!(results, vec![(a, Ok(echo_body(1))), (b, Ok(echo_body(2)))]);
    assert_eq!(p.queries.len(), 2);
    assert_ids_increase_per_session(&p.sent_ids);
}

fn assert_ids_increase_per_session(ids: &[(i64, i64)]) {
    let mut last: std::collections::HashMap<i64, i64> = Default::default();
    for &(session, id) in ids {
        if let Some(prev) = last.insert(session, id) {
            assert!(
                id > prev,
                "session {session:x}: msg_id {id:x} after {prev:x}"
            );
        }
    }
}

/// Timers run on the driver's clock: a step of the wall clock moves no
/// deadline (the next keepalive stays where it was).
#[test]
fn timers_ignore_wall_clock_steps() {
    let mut p = Pair::new(SessionTuning::default(), 0x5A17, 0);
    p.pump();
    let before = p.client.poll_timeout();
    p.client
        .set_wall_clock(p.now + Duration::from_secs(7200), p.now);
    assert_eq!(p.client.poll_timeout(), before);
}

/// S-6, S-7, S-8, S-11, S-12, S-14: other bad_msg codes make the client
/// resend with a new msg_id; the request succeeds, exactly once.
#[test]
fn s6_to_s14_bad_msg_resend() {
    for code in [18, 19, 20, 34, 35, 64] {
        let mut p = Pair::new(no_ping(), 0x5A17, 0);
        p.server.faults.force_bad_msg = Some((code, 1));
        let id = p.client.invoke(echo_body(4));
        p.pump();
        assert_eq!(p.results(), vec![(id, Ok(echo_body(4)))], "code {code}");
        assert_eq!(p.queries.len(), 1, "code {code}");
    }
}

/// A message rejected forever fails with TooManyResends instead of looping.
#[test]
fn resend_loop_is_bounded() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.server.faults.force_bad_msg = Some((20, 100));
    let id = p.client.invoke(echo_body(4));
    p.pump();
    assert_eq!(p.results(), vec![(id, Err(RequestError::TooManyResends))]);
}

/// S-20: cancelling a request in flight sends rpc_drop_answer; the server
/// stops it and the caller sees Cancelled once.
#[test]
fn s20_cancel_sends_rpc_drop_answer() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.app = App::Hold;
    let id = p.client.invoke(echo_body(5));
    p.pump();
    assert_eq!(p.held.len(), 1);
    assert!(p.client.cancel(id));
    p.pump();
    assert!(p
        .server_events
        .iter()
        .any(|e| matches!(e, ServerEvent::Cancelled { req_msg_id } if *req_msg_id == p.held[0])));
    assert_eq!(p.results(), vec![(id, Err(RequestError::Cancelled))]);
    // A late answer from the application is dropped.
    p.server.reply(p.held[0], Ok(echo_body(5)));
    p.pump();
    assert_eq!(p.results().len(), 1);
}

/// M-10: after a disconnect, requests the server acknowledged are not
/// resent (never run twice); their answers arrive on the new connection.
#[test]
fn m10_acked_requests_not_resent_after_reconnect() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.app = App::Hold;
    let id = p.client.invoke(echo_body(6));
    p.pump();
    // Let the server's ack go out.
    p.pump();
    assert_eq!(p.queries.len(), 1);
    p.client.on_disconnected();
    p.client.on_connected(p.now);
    p.server.on_new_connection();
    p.pump();
    assert_eq!(p.queries.len(), 1, "not resent: it was acknowledged");
    p.server.reply(p.held[0], Ok(b"done".to_vec()));
    p.pump();
    assert_eq!(p.results(), vec![(id, Ok(b"done".to_vec()))]);
}

/// M-10 the other way: a request the server never saw is resent after a
/// reconnect with a new msg_id.
#[test]
fn m10_unacked_requests_resent_after_reconnect() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    let id = p.client.invoke(echo_body(7));
    let lost = p.client.poll_transmit(p.now).unwrap();
    drop(lost); // the connection died with it
    p.client.on_disconnected();
    p.client.on_connected(p.now);
    p.pump();
    assert_eq!(p.results(), vec![(id, Ok(echo_body(7)))]);
    assert_eq!(p.queries.len(), 1);
}

/// close() ends every pending request with Closed.
#[test]
fn close_ends_pending_requests() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.app = App::Hold;
    let a = p.client.invoke(echo_body(1));
    p.pump();
    let b = p.client.invoke(echo_body(2));
    p.client.close();
    while let Some(e) = p.client.poll_event() {
        p.events.push(e);
    }
    let r = p.results();
    assert!(r.contains(&(a, Err(RequestError::Closed))));
    assert!(r.contains(&(b, Err(RequestError::Closed))));
}

/// S-15, M-14: the client asks for future salts before its salt runs out
/// and switches when the next one becomes valid.
#[test]
fn s15_future_salts_fetched_and_used() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    let id = p.client.invoke(echo_body(1));
    p.pump();
    assert_eq!(p.results().len(), 1);
    p.client.handle_timeout(p.now);
    p.pump();
    assert!(p.client.future_salts().len() > 1);
    let next = p.client.future_salts()[1].clone();
    p.now = Duration::from_secs(next.valid_since as u64 + 1);
    p.client.handle_timeout(p.now);
    assert_eq!(p.client.salt(), next.salt);
    let id2 = p.client.invoke(echo_body(2));
    p.pump();
    assert!(p.results().contains(&(id2, Ok(echo_body(2)))));
    assert_ne!(id, id2);
}

/// S-16, S-21: the keepalive is ping_delay_disconnect; the pong clears it
/// and the server arms its disconnect timer.
#[test]
fn s21_keepalive_ping_delay_disconnect() {
    let mut p = Pair::new(SessionTuning::default(), 0x5A17, 0);
    let t0 = p.now;
    p.client.handle_timeout(p.now);
    p.pump();
    assert!(p
        .server_events
        .iter()
        .any(|e| matches!(e, ServerEvent::DisconnectAt(t) if *t == t0 + Duration::from_secs(75))));
    assert_eq!(
        p.client.poll_timeout(),
        Some(Duration::from_secs(T0 + 60)),
        "next ping in 60 s"
    );
}

/// L-7: the first request after connect is wrapped in
/// invokeWithLayer(initConnection(...)); the server unwraps it and answers
/// the outer msg_id.
#[test]
fn r4_first_request_wrapped_in_init_connection() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    let init = functions::InitConnection {
        api_id: 1,
        device_model: "test".into(),
        system_version: "1".into(),
        app_version: "1".into(),
        system_lang_code: "en".into(),
        lang_pack: "".into(),
        lang_code: "en".into(),
        proxy: None,
        params: None,
        query: Vec::new(),
    };
    p.client
        .set_init_connection(Some(init_connection_prefix(228, &init)));
    let a = p.client.invoke(echo_body(1));
    p.pump();
    let b = p.client.invoke(echo_body(2));
    p.pump();
    assert_eq!(p.queries[0].layer, Some(228));
    assert_eq!(p.queries[0].body, echo_body(1));
    assert_eq!(p.queries[1].layer, None);
    assert_eq!(
        p.results(),
        vec![(a, Ok(echo_body(1))), (b, Ok(echo_body(2)))]
    );
}

/// B-13: a large compressible query travels gzip_packed; the server sees
/// the original bytes.
#[test]
fn b13_large_query_gzip_packed() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    let mut big = 0x11223344u32.to_le_bytes().to_vec();
    big.extend(std::iter::repeat_n(7u8, 20_000));
    let id = p.client.invoke(big.clone());
    p.pump();
    assert_eq!(p.queries[0].body, big);
    assert_eq!(p.results(), vec![(id, Ok(big))]);
}

/// Server pushes (updates) reach the client as Update events, in order.
#[test]
fn pushed_updates_delivered_in_order() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.client.invoke(echo_body(0));
    p.pump();
    for i in 0..100u32 {
        let mut u = 0x7E57_0001u32.to_le_bytes().to_vec();
        u.extend_from_slice(&i.to_le_bytes());
        p.server.push(u);
    }
    p.pump();
    let updates: Vec<_> = p
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Update(b) => Some(u32::from_le_bytes(b[4..8].try_into().unwrap())),
            _ => None,
        })
        .collect();
    assert_eq!(updates, (0..100).collect::<Vec<_>>());
}

/// S-24, S-27: msgs_state_req gets one status byte per id; a resend
/// request for unknown ids is answered as a state request.
#[test]
fn s24_s27_state_requests() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.client.invoke(echo_body(0));
    p.pump();
    let known = p.queries[0].req_msg_id;
    let mut rng = StdRng::seed_from_u64(9);
    let mut ids = crate::mtp::MsgIdGenerator::new(crate::mtp::Role::Client);
    ids.set_time_offset(0);
    let now = p.now + Duration::from_secs(1);
    let _ = &mut rng;
    for body in [
        types::MsgsStateReq {
            msg_ids: vec![known, known + (10i64 << 32)],
        }
        .to_bytes(),
        types::MsgResendReq {
            msg_ids: vec![known + 4],
        }
        .to_bytes(),
    ] {
        let msg_id = ids.next(now, false);
        let hdr = envelope::Header {
            salt: 0x5A17,
            session_id: p.client.session_id(),
            msg_id: msg_id + (1 << 20),
            seq_no: 100,
        };
        p.server.handle_message(&hdr, &body, &mut p.salts, now);
        let pkt = p.server.poll_transmit(&p.key, 0x5A17, now, 1).unwrap();
        let mut pkt = pkt;
        let d = envelope::decrypt(&p.key, Direction::ServerToClient, &mut pkt).unwrap();
        let info = types::MsgsStateInfo::from_bytes(&pkt[d.body]).unwrap();
        assert_eq!(info.req_msg_id, hdr.msg_id);
        if info.info.len() == 2 {
            assert_eq!(info.info[0] & 7, 4, "received");
            assert_eq!(info.info[1], 3, "id too high");
        } else {
            assert_eq!(info.info.len(), 1);
        }
    }
}

/// S-19: msg_copy is processed as the message it wraps, once.
#[test]
fn s19_msg_copy_unwrapped_once() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.client.invoke(echo_body(0));
    p.pump();
    let inner = echo_body(77);
    let copy = |msg_id: i64| {
        types::MsgCopy {
            orig_message: types::Message {
                msg_id,
                seqno: 1,
                bytes: inner.len() as i32,
                body: inner.clone(),
            },
        }
        .to_bytes()
    };
    let orig_id = ((T0 as i64) << 32) | 3;
    p.server.push(copy(orig_id));
    p.server.push(copy(orig_id));
    p.pump();
    let updates: Vec<_> = p
        .events
        .iter()
        .filter(|e| matches!(e, Event::Update(b) if *b == inner))
        .collect();
    assert_eq!(updates.len(), 1);
}

/// S-15, M-14: future salts restored from storage are used on time, with no
/// new get_future_salts request while they last.
#[test]
fn s15_restored_future_salts_used() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    let t0 = T0 as i32;
    p.client.set_future_salts(vec![
        types::FutureSalt {
            valid_since: t0 + 1800,
            valid_until: t0 + 3600,
            salt: 0x2222,
        },
        types::FutureSalt {
            valid_since: t0,
            valid_until: t0 + 1800,
            salt: 0x5A17,
        },
    ]);
    p.now = Duration::from_secs(T0 + 1801);
    p.client.handle_timeout(p.now);
    assert_eq!(p.client.salt(), 0x2222);
    assert!(
        p.client.poll_transmit(p.now).is_none(),
        "no salt request yet"
    );
}

// ---- exactly once across lost connections (M-3, M-10, S-24, S-26) -------

impl Pair {
    /// Client → server only: the server reads what the client sends and its
    /// application reacts, but nothing the server sends reaches the client.
    fn client_to_server(&mut self) {
        while let Some(mut pkt) = self.client.poll_transmit(self.now) {
            self.c2s += 1;
            let d = envelope::decrypt(&self.key, Direction::ClientToServer, &mut pkt).unwrap();
            let body = pkt[d.body.clone()].to_vec();
            let now = self.server_now();
            self.server
                .handle_message(&d.header, &body, &mut self.salts, now);
        }
        while let Some(ev) = self.server.poll_event() {
            if let ServerEvent::Query(q) = ev {
                self.queries.push(q.clone());
                match self.app {
                    App::Echo => self.server.reply(q.req_msg_id, Ok(q.body)),
                    App::Hold => self.held.push(q.req_msg_id),
                }
            }
        }
    }

    /// The server's packets, built and taken off the wire (a connection
    /// that dies before they arrive).
    fn server_output(&mut self) -> Vec<Vec<u8>> {
        let now = self.server_now();
        let salt = self
            .salts
            .current(now.as_secs() as i64, &mut StdRng::seed_from_u64(1));
        let mut out = Vec::new();
        while let Some(pkt) = self.server.poll_transmit(&self.key, salt, now, 1024) {
            out.push(pkt);
        }
        out
    }

    /// Both ends see the connection close and a new one open.
    fn reconnect(&mut self) {
        self.client.on_disconnected();
        self.client.on_connected(self.now);
        self.server.on_new_connection();
    }

    fn updates(&self) -> Vec<Vec<u8>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Update(b) => Some(b.clone()),
                _ => None,
            })
            .collect()
    }
}

/// M-3, S-24: a request the server received, whose ack was lost with the
/// connection, is re-sent under its original msg_id inside a container.
/// The server recognises it and does not run it again; the answer
/// completes the request once.
#[test]
fn m3_s24_request_in_doubt_resent_under_its_id_is_not_run_twice() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.app = App::Hold;
    let id = p.client.invoke(echo_body(1));
    p.client_to_server();
    assert_eq!(p.queries.len(), 1);
    let first_id = p.queries[0].req_msg_id;
    drop(p.server_output()); // the ack never arrives
    p.reconnect();
    p.pump();
    assert_eq!(p.queries.len(), 1, "the duplicate was not run");
    p.server.reply(first_id, Ok(b"once".to_vec()));
    p.pump();
    assert_eq!(p.results(), vec![(id, Ok(b"once".to_vec()))]);
}

/// M-10, S-24: an answer lost with the connection is sent again under its
/// own msg_id and completes the request; the query ran once.
#[test]
fn m10_lost_answer_is_resent_and_the_query_ran_once() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    let id = p.client.invoke(echo_body(2));
    p.client_to_server();
    assert_eq!(p.queries.len(), 1, "answered at once");
    drop(p.server_output()); // the answer is lost
    p.reconnect();
    p.pump();
    assert_eq!(p.queries.len(), 1);
    assert_eq!(p.results(), vec![(id, Ok(echo_body(2)))]);
}

/// M-3, S-24: the server never got the request, and the reconnect comes
/// too late to re-send it under its old msg_id (the server would refuse
/// the id as too old): the client asks with msgs_state_req first and
/// re-sends it under a new msg_id only when the server says it lacks it.
#[test]
fn s24_old_message_in_doubt_is_asked_about_before_a_new_id() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    let id = p.client.invoke(echo_body(3));
    drop(p.client.poll_transmit(p.now)); // lost on the way
    p.now += Duration::from_secs(200);
    p.reconnect();
    p.pump();
    assert_eq!(p.queries.len(), 1, "run exactly once");
    assert_eq!(p.results(), vec![(id, Ok(echo_body(3)))]);
}

/// S-24: as above, but the server did get it: state 4, so it is not sent
/// again; the answer, when ready, completes it.
#[test]
fn s24_old_message_the_server_has_is_not_resent() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.app = App::Hold;
    let id = p.client.invoke(echo_body(4));
    p.client_to_server();
    drop(p.server_output());
    p.now += Duration::from_secs(200);
    p.reconnect();
    p.pump();
    assert_eq!(p.queries.len(), 1);
    assert!(p.results().is_empty());
    let held = p.held[0];
    p.server.reply(held, Ok(echo_body(44)));
    p.pump();
    assert_eq!(p.results(), vec![(id, Ok(echo_body(44)))]);
}

/// M-10, S-19: an update the client received but could not acknowledge
/// before the connection closed comes again under the same msg_id and
/// reaches the application once.
#[test]
fn m10_redelivered_update_reaches_the_app_once() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.client.invoke(echo_body(0));
    p.pump();
    p.server.push(echo_body(55));
    for mut pkt in p.server_output() {
        p.client.handle_packet(&mut pkt, p.now).unwrap();
    }
    while let Some(e) = p.client.poll_event() {
        p.events.push(e);
    }
    // The client's ack dies with the connection.
    p.client.on_disconnected();
    p.client.on_connected(p.now);
    p.server.on_new_connection();
    p.pump();
    assert_eq!(p.updates(), vec![echo_body(55)]);
    assert_eq!(p.server.unacked_len(), 0, "acknowledged in the end");
}

/// G-10, M-10: a whole packet received twice is acknowledged again and
/// otherwise ignored; the connection stays.
#[test]
fn duplicate_packet_is_acknowledged_and_ignored() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.client.invoke(echo_body(0));
    p.pump();
    p.server.push(echo_body(66));
    let packets = p.server_output();
    assert_eq!(packets.len(), 1);
    for _ in 0..2 {
        let mut pkt = packets[0].clone();
        p.client.handle_packet(&mut pkt, p.now).unwrap();
    }
    while let Some(e) = p.client.poll_event() {
        p.events.push(e);
    }
    assert_eq!(p.updates(), vec![echo_body(66)]);
}

/// S-19: msg_copy nested deeper than MAX_NESTING is a typed error, not a
/// stack overflow.
#[test]
fn s19_msg_copy_nesting_is_bounded() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.client.invoke(echo_body(0));
    p.pump();
    let mut body = echo_body(9);
    for i in 0..200 {
        body = types::MsgCopy {
            orig_message: types::Message {
                msg_id: ((T0 as i64) << 32) | (4 * i + 3),
                seqno: 0,
                bytes: body.len() as i32,
                body,
            },
        }
        .to_bytes();
    }
    // msg_copy is never content-related: an even seqno, built by hand.
    let mut pkt = p.server_packet(((T0 as i64) << 32) | 0xFFF3, 2, &body);
    assert_eq!(
        p.client.handle_packet(&mut pkt, p.now),
        Err(super::MtpError::NestingTooDeep(super::session::MAX_NESTING))
    );
}

/// when the message that carried initConnection is refused and sent
/// again under a new msg_id, the wrapper goes with the next request.
#[test]
fn r4_init_connection_rewrapped_after_a_refused_first_message() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.client.set_init_connection(Some(init_connection_prefix(
        228,
        &functions::InitConnection {
            api_id: 1,
            device_model: "d".into(),
            system_version: "s".into(),
            app_version: "a".into(),
            system_lang_code: "en".into(),
            lang_pack: String::new(),
            lang_code: "en".into(),
            proxy: None,
            params: None,
            query: Vec::new(),
        },
    )));
    p.client.on_connected(p.now);
    p.server.faults.force_bad_msg = Some((16, 1));
    p.client.invoke(echo_body(10));
    p.pump();
    assert_eq!(p.queries.len(), 1);
    assert_eq!(
        p.queries[0].layer,
        Some(228),
        "the wrapper reached the server"
    );
}

// ---- clocks (M-4, M-5) ------------------------------------------------------

/// M-4, M-5: whatever the difference between the stored offset and the
/// server's clock (here the client starts at 0 and the server is off by
/// the skew), the session converges and requests complete: a server ahead
/// is learned from its authenticated messages, a client ahead (or far
/// behind) is corrected by bad_msg 16/17.
#[test]
fn m4_skew_of_30_100_299_and_3600_s_either_way_converges() {
    for skew in [30i64, -30, 31, -31, 100, -100, 299, -299, 3600, -3600] {
        let mut p = Pair::new(no_ping(), 0x5A17, skew);
        let id = p.client.invoke(echo_body(skew as u32));
        p.pump();
        assert_eq!(
            p.results(),
            vec![(id, Ok(echo_body(skew as u32)))],
            "skew {skew}"
        );
        let off = p.client.time_offset();
        assert!((off - skew).abs() <= 30, "skew {skew}: offset {off}");
        assert_eq!(p.queries.len(), 1, "skew {skew}: ran once");
        // And it stays in step afterwards.
        p.now += Duration::from_secs(10);
        let id = p.client.invoke(echo_body(1));
        p.pump();
        assert_eq!(
            p.results().last().unwrap(),
            &(id, Ok(echo_body(1))),
            "skew {skew}"
        );
    }
}

/// M-4: the stored-offset livelock. The server's clock is 100 s ahead of
/// what the client stored: every server message used to look too new, and
/// nothing the client sent looked wrong to the server, so no correction
/// ever came. Now the first authenticated message teaches the offset.
#[test]
fn m4_server_ahead_of_the_stored_offset_is_learned_from_its_messages() {
    let mut p = Pair::new(no_ping(), 0x5A17, 100);
    let id = p.client.invoke(echo_body(7));
    p.pump();
    assert_eq!(p.results(), vec![(id, Ok(echo_body(7)))]);
    assert!((p.client.time_offset() - 100).abs() <= 1);
    assert!(p
        .events
        .iter()
        .any(|e| matches!(e, Event::TimeOffsetCorrected(o) if (o - 100).abs() <= 1)));
}

/// M-5, M-6: learning the clock does not open the door to replays: a
/// message older than the window is still refused.
#[test]
fn m5_old_messages_still_refused() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.client.invoke(echo_body(0));
    p.pump();
    p.server.push(echo_body(5));
    let mut old = p.server_output().remove(0);
    p.now += Duration::from_secs(400);
    assert!(matches!(
        p.client.handle_packet(&mut old, p.now),
        Err(super::MtpError::MsgIdTooOld { .. })
    ));
}

/// M-5, S-4: a bad_msg_notification about our message is honoured even
/// when it arrives inside a container whose time is outside our window
/// (the server packs it with whatever else it has to send). The server's
/// clock is an hour behind ours, and it has an update queued.
#[test]
fn m5_bad_msg_inside_a_container_is_honoured_out_of_window() {
    let mut p = Pair::new(no_ping(), 0x5A17, -3600);
    p.server.push(echo_body(99));
    let id = p.client.invoke(echo_body(8));
    p.pump();
    assert_eq!(p.results(), vec![(id, Ok(echo_body(8)))]);
    assert!((p.client.time_offset() + 3600).abs() <= 1);
    assert_eq!(p.updates(), vec![echo_body(99)]);
}

/// An answer that cannot be read (here gzip_packed with corrupt data)
/// fails that one request with a typed error; the connection and the
/// other requests go on, and the broken answer is acknowledged.
#[test]
fn undecodable_answer_fails_only_its_request() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.app = App::Hold;
    let bad = p.client.invoke(echo_body(1));
    let good = p.client.invoke(echo_body(2));
    p.pump();
    let (b, g) = (p.held[0], p.held[1]);
    let mut corrupt = types::GzipPacked {
        packed_data: vec![0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8],
    }
    .to_bytes();
    corrupt.truncate(corrupt.len() / 4 * 4);
    p.server.reply(b, Ok(corrupt));
    p.server.reply(g, Ok(echo_body(2)));
    p.pump();
    let results = p.results();
    assert!(
        matches!(&results[0], (id, Err(RequestError::BadAnswer(_))) if *id == bad),
        "{results:?}"
    );
    assert_eq!(results[1], (good, Ok(echo_body(2))));
    assert_eq!(p.server.unacked_len(), 0);
}

/// T-10, M-10: a quick ack confirms a packet's content-related messages:
/// they are not in doubt when the connection drops before their msgs_ack,
/// so nothing is sent again on the next connection.
#[test]
fn t10_quick_acked_request_is_not_in_doubt_after_a_drop() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.app = App::Hold;
    p.client.invoke(echo_body(0));
    p.pump();
    p.client.invoke(echo_body(1));
    let (mut pkt, token) = p.client.poll_transmit_quick_ack(p.now).unwrap();
    let token = token.expect("a content-related packet asks for a quick ack");
    // What the server's transport computes over the decrypted packet.
    let d = envelope::decrypt(&p.key, Direction::ClientToServer, &mut pkt).unwrap();
    let large = crate::crypto::msg_key_large(&p.key, &pkt[24..], Direction::ClientToServer);
    assert_eq!(crate::transport::quick_ack_token(&large), token);
    let body = pkt[d.body.clone()].to_vec();
    let now = p.server_now();
    p.server.handle_message(&d.header, &body, &mut p.salts, now);
    p.client.on_quick_ack(token);
    // The connection drops before any server packet arrives.
    p.client.on_disconnected();
    p.client.on_connected(p.now);
    assert!(
        p.client.poll_transmit(p.now).is_none(),
        "nothing to re-send: the quick ack settled it"
    );
    // An ack-only packet asks for nothing.
    p.server.push(echo_body(3));
    for mut pkt in p.server_output() {
        p.client.handle_packet(&mut pkt, p.now).unwrap();
    }
    p.now += Duration::from_secs(1);
    let (_, token) = p.client.poll_transmit_quick_ack(p.now).unwrap();
    assert_eq!(token, None);
}

/// S-18: a container is accepted or rejected as a whole. Its first message
/// is an update and its second a truncated msgs_ack: the packet is refused
/// and the update does not reach the application (before, it did, and the
/// packet was refused after it).
#[test]
fn s18_container_is_all_or_nothing() {
    let mut p = Pair::new(no_ping(), 0x5A17, 0);
    p.client.invoke(echo_body(0));
    p.pump();
    let before = p.updates().len();
    let base = ((T0 as i64) << 32) | 0x1_0000;
    let mut broken_ack = types::MsgsAck {
        msg_ids: vec![1, 2],
    }
    .to_bytes();
    broken_ack.truncate(12);
    let mut body = Vec::new();
    super::body::pack_container(
        &[
            super::ContainerEntry {
                msg_id: base | 1,
                seq_no: 1,
                body: echo_body(77),
            },
            super::ContainerEntry {
                msg_id: base | 5,
                seq_no: 2,
                body: broken_ack,
            },
        ],
        &mut body,
    );
    let mut pkt = p.server_packet(base | 9, 2, &body);
    assert!(p.client.handle_packet(&mut pkt, p.now).is_err());
    while let Some(e) = p.client.poll_event() {
        p.events.push(e);
    }
    assert_eq!(
        p.updates().len(),
        before,
        "nothing of the container was applied"
    );
}

/// Every call ends, exactly once, by its deadline, whatever happens (no
/// sockets: the session's own request table). 200 calls against a server
/// that answers some, holds others, loses connections and sends bad_msg
/// notifications, over seeded random schedules; then past every deadline
/// nothing is left and each call has one result.
#[test]
fn every_call_ends_once_by_its_deadline() {
    use rand::{Rng, RngCore};
    for seed in 0..20u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut p = Pair::new(SessionTuning::default(), 0x5A17, 0);
        let mut ids = Vec::new();
        for step in 0..200 {
            p.app = if rng.gen_bool(0.5) {
                App::Echo
            } else {
                App::Hold
            };
            let wait = Duration::from_millis(rng.gen_range(100..20_000));
            ids.push(p.client.invoke_until(echo_body(step), Some(p.now + wait)));
            match rng.next_u32() % 10 {
                0 => {
                    p.client.on_disconnected();
                    p.client.on_connected(p.now);
                    p.server.on_new_connection();
                }
                1 => p.server.faults.force_bad_msg = Some((16 + (rng.next_u32() % 2) as i32, 1)),
                2 => p.server.faults.force_bad_salt = 1,
                _ => {}
            }
            p.pump();
            p.now += Duration::from_millis(rng.gen_range(0..300));
            p.client.handle_timeout(p.now);
        }
        p.now += Duration::from_secs(30);
        p.client.handle_timeout(p.now);
        p.pump();
        let results = p.results();
        let mut seen = std::collections::HashSet::new();
        for (id, _) in &results {
            assert!(seen.insert(*id), "seed {seed}: {id:?} ended twice");
        }
        assert_eq!(seen.len(), ids.len(), "seed {seed}: every call ended");
        assert_eq!(p.client.pending_requests(), 0);
        assert!(results
            .iter()
            .any(|(_, r)| *r == Err(RequestError::TimedOut)));
    }
}
