//! The server side of an MTProto session as a sans-IO state machine: what a
//! data center does with a decrypted client message (PROTOCOL.md M-*, S-*,
//! `localdc` drives it over sockets; protocol tests drive it against
//! the client [`Session`](super::Session) in memory with simulated time.
//!
//! One [`ServerSession`] exists per (auth key, session_id). Salts belong to
//! the auth key ([`SaltSchedule`]), so the caller passes them in.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{CryptoRng, RngCore, SeedableRng};

use super::body::{gzip_pack, pack_container, unpack_container, unwrap_gzip, ContainerEntry};
use super::envelope::{self, Header};
use super::msg_id::{msg_id_seconds, MsgIdGenerator, Role, MAX_FUTURE_SECS, MAX_PAST_SECS};
use super::{MtpError, NEVER_CONTENT_RELATED};
use crate::crypto::{AuthKey, Direction};
use crate::tl::service::{functions, types};
use crate::tl::{Deserialize, Identifiable, Reader, Serialize};

/// Seconds a salt stays valid, and how long the previous one is still
/// accepted afterwards (M-14).
pub const SALT_PERIOD_SECS: i64 = 1800;
pub const SALT_GRACE_SECS: i64 = 1800;

/// The salts of one auth key (M-14, S-15).
#[derive(Clone, Debug)]
pub struct SaltSchedule {
    /// Sorted by valid_since; consecutive, each `period` long.
    salts: Vec<types::FutureSalt>,
    period: i64,
}

impl SaltSchedule {
    /// Starts a schedule whose first salt (the one the handshake gave the
    /// client, A-19) is valid from `now`.
    pub fn new(first_salt: i64, now_secs: i64, period_secs: i64) -> Self {
        let period = period_secs.max(1);
        SaltSchedule {
            salts: vec![types::FutureSalt {
                valid_since: now_secs as i32,
                valid_until: (now_secs + period) as i32,
                salt: first_salt,
            }],
            period,
        }
    }

    /// Extends the schedule so it covers `now + count` periods.
    fn extend(&mut self, now: i64, count: usize, rng: &mut impl RngCore) {
        self.salts
            .retain(|s| s.valid_until as i64 + SALT_GRACE_SECS > now);
        while self.salts.len() < count
            || self
                .salts
                .last()
                .is_none_or(|s| (s.valid_until as i64) <= now)
        {
            let since = self
                .salts
                .last()
                .map(|s| s.valid_until as i64)
                .unwrap_or(now);
            self.salts.push(types::FutureSalt {
                valid_since: since as i32,
                valid_until: (since + self.period) as i32,
                salt: rng.next_u64() as i64,
            });
        }
    }

    /// The salt a client should use now.
    pub fn current(&mut self, now: i64, rng: &mut impl RngCore) -> i64 {
        self.extend(now, 1, rng);
        self.salts
            .iter()
            .rev()
            .find(|s| (s.valid_since as i64) <= now && now < s.valid_until as i64)
            .or(self.salts.last())
            .map(|s| s.salt)
            .unwrap_or(0)
    }

    /// Whether `salt` is acceptable now: the current one, or one that expired
    /// less than the grace period ago (M-14).
    pub fn accepts(&mut self, salt: i64, now: i64, rng: &mut impl RngCore) -> bool {
        self.extend(now, 1, rng);
        self.salts.iter().any(|s| {
            s.salt == salt
                && (s.valid_since as i64) <= now
                && now < s.valid_until as i64 + SALT_GRACE_SECS
        })
    }

    /// Up to `num` salts from now on (S-15).
    pub fn future(
        &mut self,
        now: i64,
        num: usize,
        rng: &mut impl RngCore,
    ) -> Vec<types::FutureSalt> {
        let num = num.clamp(1, 64);
        self.extend(now, num + 1, rng);
        self.salts
            .iter()
            .filter(|s| s.valid_until as i64 > now)
            .take(num)
            .cloned()
            .collect()
    }
}

/// A query the application must answer with [`ServerSession::reply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The msg_id of the outer message: rpc_result.req_msg_id (L-7, R-8).
    pub req_msg_id: i64,
    /// The innermost call, with invokeWithLayer / initConnection /
    /// invokeWithoutUpdates / invokeAfterMsg(s) removed.
    pub body: Vec<u8>,
    /// The layer announced by invokeWithLayer, if this query carried it.
    pub layer: Option<i32>,
}

/// What the session reports to its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    Query(Query),
    /// The client asked not to receive this answer (S-20); stop working on it.
    Cancelled {
        req_msg_id: i64,
    },
    /// `destroy_session` for another session of this key (S-23); answer with
    /// [`ServerSession::reply_raw`] and `destroy_session_ok`/`_none`.
    DestroySession {
        req_msg_id: i64,
        session_id: i64,
    },
    /// ping_delay_disconnect armed a timer (S-21): close the connection at
    /// this time unless another such ping arrives.
    DisconnectAt(Duration),
}

/// Fault injection for tests of client reactions.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Answer the next N client messages with bad_server_salt regardless.
    pub force_bad_salt: u32,
    /// Answer the next N client messages with bad_msg_notification of this code.
    pub force_bad_msg: Option<(i32, u32)>,
}

/// Status of a received client message, for msgs_state_req (S-24).
#[derive(Clone, Copy, Debug)]
struct Received {
    content_related: bool,
    answered: bool,
}

#[derive(Clone, Debug)]
struct Unacked {
    body: Vec<u8>,
    seq_no: i32,
}

/// The server half of one MTProto session.
pub struct ServerSession {
    session_id: i64,
    unique_id: i64,
    ids: MsgIdGenerator,
    content_sent: i32,
    /// Recent client messages: msg_id -> (seqno, status).
    received: BTreeMap<i64, (i32, Received)>,
    /// Queries whose answer is being computed.
    running: HashSet<i64>,
    /// Answers and updates sent, content-related, not yet acknowledged
    /// (resent on a new connection, M-10): server msg_id -> message.
    unacked: BTreeMap<i64, Unacked>,
    /// Answer msg_id for each answered query (S-20, S-26).
    answers: HashMap<i64, i64>,
    /// Outgoing: (body, content_related, is_response).
    queue: VecDeque<(Vec<u8>, bool, bool)>,
    /// Unacknowledged messages to send again under their own msg_id and
    /// seqno, inside a container (M-10, S-24): the client recognises what
    /// it already has, so an update is never delivered twice.
    again: BTreeSet<i64>,
    pending_acks: Vec<i64>,
    events: VecDeque<ServerEvent>,
    created_sent: bool,
    pub faults: Faults,
    rng: StdRng,
}

/// Capacity of the received-message memory.
const RECEIVED_WINDOW: usize = 4096;

impl ServerSession {
    pub fn new(session_id: i64, rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut rng = StdRng::from_rng(rng).expect("CSPRNG seeding");
        ServerSession {
            session_id,
            unique_id: rng.next_u64() as i64,
            ids: MsgIdGenerator::new(Role::Server),
            content_sent: 0,
            received: BTreeMap::new(),
            running: HashSet::new(),
            unacked: BTreeMap::new(),
            answers: HashMap::new(),
            queue: VecDeque::new(),
            again: BTreeSet::new(),
            pending_acks: Vec::new(),
            events: VecDeque::new(),
            created_sent: false,
            faults: Faults::default(),
            rng,
        }
    }

    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Number of content-related messages the client has not acknowledged.
    pub fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    /// Handles one decrypted client message (E-7 steps 5–9 and the service
    /// layer). `header` and `body` come from [`envelope::decrypt`].
    pub fn handle_message(
        &mut self,
        header: &Header,
        body: &[u8],
        salts: &mut SaltSchedule,
        now: Duration,
    ) {
        let now_s = now.as_secs() as i64;
        if let Some(code) = self.check_msg_id(header.msg_id, now_s) {
            self.bad_msg(header.msg_id, header.seq_no, code);
            return;
        }
        // E-7 step 9 / M-14: the salt, after everything else.
        if self.faults.force_bad_salt > 0 || !salts.accepts(header.salt, now_s, &mut self.rng) {
            self.faults.force_bad_salt = self.faults.force_bad_salt.saturating_sub(1);
            let new_server_salt = salts.current(now_s, &mut self.rng);
            self.queue.push_back((
                types::BadServerSalt {
                    bad_msg_id: header.msg_id,
                    bad_msg_seqno: header.seq_no,
                    error_code: 48,
                    new_server_salt,
                }
                .to_bytes(),
                false,
                true,
            ));
            return;
        }
        if let Some((code, n)) = self.faults.force_bad_msg {
            self.faults.force_bad_msg = (n > 1).then_some((code, n - 1));
            self.bad_msg(header.msg_id, header.seq_no, code);
            return;
        }
        // S-17: the first message accepted in a session gets
        // new_session_created (not one rejected for its time or salt).
        if !self.created_sent {
            self.created_sent = true;
            let salt = salts.current(now_s, &mut self.rng);
            // first_msg_id is the lowest msg_id this message carries: a
            // container's entries have lower ids than the container, and
            // the client resends everything below first_msg_id (S-17), so
            // the container id would make it run those queries twice.
            let first_msg_id = unpack_container(header.msg_id, body)
                .ok()
                .and_then(|entries| entries.iter().map(|e| e.msg_id).min())
                .unwrap_or(header.msg_id);
            self.queue.push_back((
                types::NewSessionCreated {
                    first_msg_id,
                    unique_id: self.unique_id,
                    server_salt: salt,
                }
                .to_bytes(),
                true,
                false,
            ));
        }
        if self.received.contains_key(&header.msg_id) {
            // A duplicate: S-26 when its answer exists, else ignore.
            self.on_duplicate(header.msg_id);
            return;
        }
        self.accept(header.msg_id, header.seq_no, body, salts, now, false);
    }

    /// msg_id checks of M-2, M-5, M-6: the bad_msg code, if any.
    fn check_msg_id(&self, msg_id: i64, now_s: i64) -> Option<i32> {
        if msg_id & 3 != 0 {
            return Some(18);
        }
        let t = msg_id_seconds(msg_id);
        if t < now_s - MAX_PAST_SECS {
            return Some(16);
        }
        if t > now_s + MAX_FUTURE_SECS {
            return Some(17);
        }
        if self.received.len() >= RECEIVED_WINDOW {
            if let Some((&min, _)) = self.received.first_key_value() {
                if msg_id < min {
                    return Some(20);
                }
            }
        }
        None
    }

    /// M-11: seqno against the messages around it, and content-relatedness.
    fn check_seqno(&self, msg_id: i64, seq_no: i32, body: &[u8]) -> Option<i32> {
        let constructor = body
            .get(..4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
            .unwrap_or(0);
        let content = seq_no & 1 == 1;
        if content && NEVER_CONTENT_RELATED.contains(&constructor) {
            return Some(34);
        }
        if !content && is_api_query(constructor) {
            return Some(35);
        }
        if let Some((_, &(prev, _))) = self.received.range(..msg_id).next_back() {
            if seq_no < prev || (seq_no == prev && content) {
                return Some(32);
            }
        }
        if let Some((_, &(next, _))) = self.received.range(msg_id + 1..).next() {
            if seq_no > next {
                return Some(33);
            }
        }
        None
    }

    fn bad_msg(&mut self, bad_msg_id: i64, bad_msg_seqno: i32, error_code: i32) {
        self.queue.push_back((
            types::BadMsgNotification {
                bad_msg_id,
                bad_msg_seqno,
                error_code,
            }
            .to_bytes(),
            false,
            true,
        ));
    }

    fn accept(
        &mut self,
        msg_id: i64,
        seq_no: i32,
        body: &[u8],
        salts: &mut SaltSchedule,
        now: Duration,
        in_container: bool,
    ) {
        if let Some(code) = self.check_seqno(msg_id, seq_no, body) {
            self.bad_msg(msg_id, seq_no, code);
            return;
        }
        let content = seq_no & 1 == 1;
        self.received.insert(
            msg_id,
            (
                seq_no,
                Received {
                    content_related: content,
                    answered: false,
                },
            ),
        );
        while self.received.len() > RECEIVED_WINDOW {
            self.received.pop_first();
        }
        let constructor = match body.get(..4) {
            Some(b) => u32::from_le_bytes(b.try_into().expect("4 bytes")),
            None => return,
        };
        match constructor {
            types::MsgContainer::CONSTRUCTOR_ID => {
                if in_container {
                    return self.bad_msg(msg_id, seq_no, 64);
                }
                match unpack_container(msg_id, body) {
                    Ok(entries) => {
                        for e in entries {
                            if let Some(code) = self.check_msg_id(e.msg_id, now.as_secs() as i64) {
                                self.bad_msg(e.msg_id, e.seq_no, code);
                                continue;
                            }
                            if self.received.contains_key(&e.msg_id) {
                                self.on_duplicate(e.msg_id);
                                continue;
                            }
                            self.accept(e.msg_id, e.seq_no, &e.body, salts, now, true);
                        }
                    }
                    // S-14 / S-18: an invalid container is rejected whole.
                    Err(_) => self.bad_msg(msg_id, seq_no, 64),
                }
                return;
            }
            types::GzipPacked::CONSTRUCTOR_ID => {
                // B-13 [S]: accept gzip-packed queries (Q-2: either parity).
                if let Ok(inner) = unwrap_gzip(body) {
                    let inner = inner.into_owned();
                    self.received.remove(&msg_id);
                    let seq = if is_api_query(first_id(&inner)) {
                        seq_no | 1
                    } else {
                        seq_no
                    };
                    self.accept(msg_id, seq, &inner, salts, now, in_container);
                }
                return;
            }
            _ => {}
        }
        if content {
            self.pending_acks.push(msg_id);
        }
        let now_s = now.as_secs() as i64;
        match constructor {
            types::MsgsAck::CONSTRUCTOR_ID => {
                if let Ok(a) = types::MsgsAck::from_bytes(body) {
                    for id in a.msg_ids {
                        self.unacked.remove(&id);
                    }
                }
            }
            functions::Ping::CONSTRUCTOR_ID => {
                if let Ok(p) = functions::Ping::from_bytes(body) {
                    self.send_pong(msg_id, p.ping_id);
                }
            }
            functions::PingDelayDisconnect::CONSTRUCTOR_ID => {
                if let Ok(p) = functions::PingDelayDisconnect::from_bytes(body) {
                    self.send_pong(msg_id, p.ping_id);
                    let delay = Duration::from_secs(p.disconnect_delay.max(0) as u64);
                    self.events
                        .push_back(ServerEvent::DisconnectAt(now + delay));
                }
            }
            functions::GetFutureSalts::CONSTRUCTOR_ID => {
                if let Ok(g) = functions::GetFutureSalts::from_bytes(body) {
                    let salts = salts.future(now_s, g.num.max(1) as usize, &mut self.rng);
                    self.mark_answered(msg_id);
                    self.queue.push_back((
                        types::FutureSalts {
                            req_msg_id: msg_id,
                            now: now_s as i32,
                            salts,
                        }
                        .to_bytes(),
                        false,
                        true,
                    ));
                }
            }
            types::MsgsStateReq::CONSTRUCTOR_ID => {
                if let Ok(r) = types::MsgsStateReq::from_bytes(body) {
                    self.state_info(msg_id, &r.msg_ids);
                }
            }
            types::MsgResendReq::CONSTRUCTOR_ID => {
                if let Ok(r) = types::MsgResendReq::from_bytes(body) {
                    if r.msg_ids.iter().all(|id| self.unacked.contains_key(id)) {
                        self.again.extend(r.msg_ids);
                    } else {
                        self.state_info(msg_id, &r.msg_ids);
                    }
                }
            }
            functions::RpcDropAnswer::CONSTRUCTOR_ID => {
                if let Ok(d) = functions::RpcDropAnswer::from_bytes(body) {
                    self.drop_answer(msg_id, d.req_msg_id);
                }
            }
            functions::DestroySession::CONSTRUCTOR_ID => {
                if let Ok(d) = functions::DestroySession::from_bytes(body) {
                    self.running.insert(msg_id);
                    self.events.push_back(ServerEvent::DestroySession {
                        req_msg_id: msg_id,
                        session_id: d.session_id,
                    });
                }
            }
            types::MsgsStateInfo::CONSTRUCTOR_ID
            | types::MsgsAllInfo::CONSTRUCTOR_ID
            | types::MsgDetailedInfo::CONSTRUCTOR_ID
            | types::MsgNewDetailedInfo::CONSTRUCTOR_ID => {}
            _ => match unwrap_invoke(body) {
                Ok((inner, layer)) => {
                    self.running.insert(msg_id);
                    self.events.push_back(ServerEvent::Query(Query {
                        req_msg_id: msg_id,
                        body: inner,
                        layer,
                    }));
                }
                Err(_) => self.reply(msg_id, Err((400, "INPUT_REQUEST_INVALID".to_string()))),
            },
        }
    }

    fn send_pong(&mut self, msg_id: i64, ping_id: i64) {
        self.mark_answered(msg_id);
        // S-16: pong is its own message, not wrapped in rpc_result.
        self.queue
            .push_back((types::Pong { msg_id, ping_id }.to_bytes(), false, true));
    }

    fn mark_answered(&mut self, msg_id: i64) {
        if let Some((_, r)) = self.received.get_mut(&msg_id) {
            r.answered = true;
        }
        self.pending_acks.retain(|&id| id != msg_id);
    }

    /// A client message received before, sent again (its sender lost the
    /// connection before our ack arrived). It is never run again. Its
    /// answer, if one was sent and not acknowledged, goes again under its
    /// msg_id; if it was acknowledged, msg_detailed_info says so (S-26);
    /// one still being computed comes when ready.
    fn on_duplicate(&mut self, msg_id: i64) {
        self.pending_acks.push(msg_id);
        if let Some(&answer) = self.answers.get(&msg_id) {
            if answer == -1 {
                return; // queued, not sent yet
            }
            if self.unacked.contains_key(&answer) {
                self.again.insert(answer);
                return;
            }
            // Acknowledged: the client has it (the body is no longer kept).
            self.queue.push_back((
                types::MsgDetailedInfo {
                    msg_id,
                    answer_msg_id: answer,
                    bytes: 0,
                    status: 0,
                }
                .to_bytes(),
                false,
                false,
            ));
        }
    }

    /// S-24: one status byte per id.
    fn state_info(&mut self, req_msg_id: i64, ids: &[i64]) {
        let min = self.received.first_key_value().map(|(&k, _)| k);
        let max = self.received.last_key_value().map(|(&k, _)| k);
        let info = ids
            .iter()
            .take(8192)
            .map(|id| match self.received.get(id) {
                Some((_, r)) => {
                    let mut b = 4u8;
                    if !r.content_related {
                        b |= 16;
                    }
                    if self.running.contains(id) || r.answered {
                        b |= 32;
                    }
                    if r.answered {
                        b |= 64;
                    }
                    b
                }
                None if min.is_some_and(|m| *id < m) => 1,
                None if max.is_some_and(|m| *id > m) => 3,
                None => 2,
            })
            .collect();
        self.mark_answered(req_msg_id);
        self.queue.push_back((
            types::MsgsStateInfo { req_msg_id, info }.to_bytes(),
            false,
            true,
        ));
    }

    /// S-20.
    fn drop_answer(&mut self, msg_id: i64, req_msg_id: i64) {
        let answer = if self.running.remove(&req_msg_id) {
            self.events.push_back(ServerEvent::Cancelled { req_msg_id });
            // The original query also receives this answer.
            let dropped = types::RpcAnswerDroppedRunning {}.to_bytes();
            self.queue_rpc_result(req_msg_id, dropped.clone());
            dropped
        } else if let Some(&answer_id) = self.answers.get(&req_msg_id) {
            match self.unacked.remove(&answer_id) {
                Some(u) => types::RpcAnswerDropped {
                    msg_id: answer_id,
                    seq_no: 0,
                    bytes: u.body.len() as i32,
                }
                .to_bytes(),
                None => types::RpcAnswerUnknown {}.to_bytes(),
            }
        } else {
            types::RpcAnswerUnknown {}.to_bytes()
        };
        self.queue_rpc_result(msg_id, answer);
    }

    /// Answers a query: `Ok(boxed result)` or `Err((code, message))` as
    /// rpc_error. Large compressible results go gzip_packed (B-13).
    pub fn reply(&mut self, req_msg_id: i64, result: Result<Vec<u8>, (i32, String)>) {
        if !self.running.remove(&req_msg_id) {
            // Cancelled or unknown: the answer is dropped (S-20).
            return;
        }
        let body = match result {
            Ok(b) => b,
            Err((error_code, error_message)) => types::RpcError {
                error_code,
                error_message,
            }
            .to_bytes(),
        };
        self.queue_rpc_result(req_msg_id, body);
    }

    /// Answers with raw bytes (e.g. destroy_session_ok), like [`reply`](Self::reply).
    pub fn reply_raw(&mut self, req_msg_id: i64, body: Vec<u8>) {
        self.reply(req_msg_id, Ok(body));
    }

    fn queue_rpc_result(&mut self, req_msg_id: i64, body: Vec<u8>) {
        let result = if body.len() > 1024 {
            let packed = gzip_pack(&body);
            if packed.len() < body.len() {
                packed
            } else {
                body
            }
        } else {
            body
        };
        self.mark_answered(req_msg_id);
        let mut out = Vec::with_capacity(result.len() + 12);
        types::RpcResult { req_msg_id, result }.serialize(&mut out);
        self.queue.push_back((out, true, true));
        // The answer's msg_id is assigned at transmit; remember by position.
        self.answers.insert(req_msg_id, -1);
    }

    /// Pushes a server-initiated message (an update, msg_id ≡ 3 mod 4).
    pub fn push(&mut self, body: Vec<u8>) {
        self.queue.push_back((body, true, false));
    }

    /// A new connection for this session: unacknowledged content-related
    /// messages are sent again, under their own msg_ids (M-10, S-24).
    pub fn on_new_connection(&mut self) {
        self.again.extend(self.unacked.keys().copied());
    }

    /// Whether anything waits to be sent.
    pub fn wants_transmit(&self) -> bool {
        !self.queue.is_empty() || !self.pending_acks.is_empty() || !self.again.is_empty()
    }

    /// Builds the next encrypted packet, containers included.
    pub fn poll_transmit(
        &mut self,
        key: &AuthKey,
        salt: i64,
        now: Duration,
        max_messages: usize,
    ) -> Option<Vec<u8>> {
        if !self.wants_transmit() {
            return None;
        }
        let mut entries: Vec<ContainerEntry> = Vec::new();
        if !self.pending_acks.is_empty() {
            let ids: Vec<i64> = self
                .pending_acks
                .drain(..self.pending_acks.len().min(8192))
                .collect();
            let msg_id = self.ids.next(now, true);
            entries.push(ContainerEntry {
                msg_id,
                seq_no: self.content_sent * 2,
                body: types::MsgsAck { msg_ids: ids }.to_bytes(),
            });
        }
        let mut bytes = 0;
        let mut resent = false;
        let limit = max_messages.clamp(1, 1024);
        while entries.len() < limit && bytes <= (1 << 20) {
            let Some(id) = self.again.pop_first() else {
                break;
            };
            if let Some(u) = self.unacked.get(&id) {
                bytes += u.body.len() + 16;
                entries.push(ContainerEntry {
                    msg_id: id,
                    seq_no: u.seq_no,
                    body: u.body.clone(),
                });
                resent = true;
            }
        }
        while entries.len() < limit && bytes <= (1 << 20) {
            let Some((body, content, response)) = self.queue.pop_front() else {
                break;
            };
            let msg_id = self.ids.next(now, response);
            let seq_no = if content {
                self.content_sent += 1;
                self.content_sent * 2 - 1
            } else {
                self.content_sent * 2
            };
            if content {
                if body.get(..4) == Some(&types::RpcResult::CONSTRUCTOR_ID.to_le_bytes()[..]) {
                    let req = i64::from_le_bytes(body[4..12].try_into().expect("8 bytes"));
                    self.answers.insert(req, msg_id);
                }
                self.unacked.insert(
                    msg_id,
                    Unacked {
                        body: body.clone(),
                        seq_no,
                    },
                );
            }
            bytes += body.len() + 16;
            entries.push(ContainerEntry {
                msg_id,
                seq_no,
                body,
            });
        }
        if entries.is_empty() {
            return None;
        }
        // A message sent again keeps its msg_id only inside a container
        // with a new one (S-24).
        let (msg_id, seq_no, payload) = if entries.len() == 1 && !resent {
            let e = entries.pop().expect("one entry");
            (e.msg_id, e.seq_no, e.body)
        } else {
            let mut payload = Vec::with_capacity(bytes + 8);
            pack_container(&entries, &mut payload);
            (self.ids.next(now, false), self.content_sent * 2, payload)
        };
        let header = Header {
            salt,
            session_id: self.session_id,
            msg_id,
            seq_no,
        };
        let mut packet = Vec::with_capacity(payload.len() + 24 + 32 + 64);
        envelope::encrypt(
            key,
            Direction::ServerToClient,
            &header,
            &payload,
            &mut self.rng,
            &mut packet,
        );
        Some(packet)
    }
}

fn first_id(body: &[u8]) -> u32 {
    body.get(..4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
        .unwrap_or(0)
}

/// Service constructors that are not API queries (so may be even).
fn is_api_query(constructor: u32) -> bool {
    !matches!(
        constructor,
        types::MsgsAck::CONSTRUCTOR_ID
            | types::MsgContainer::CONSTRUCTOR_ID
            | types::MsgCopy::CONSTRUCTOR_ID
            | types::GzipPacked::CONSTRUCTOR_ID
            | functions::Ping::CONSTRUCTOR_ID
            | functions::PingDelayDisconnect::CONSTRUCTOR_ID
            | functions::GetFutureSalts::CONSTRUCTOR_ID
            | functions::RpcDropAnswer::CONSTRUCTOR_ID
            | functions::DestroySession::CONSTRUCTOR_ID
            | functions::DestroyAuthKey::CONSTRUCTOR_ID
            | types::MsgsStateReq::CONSTRUCTOR_ID
            | types::MsgsStateInfo::CONSTRUCTOR_ID
            | types::MsgsAllInfo::CONSTRUCTOR_ID
            | types::MsgResendReq::CONSTRUCTOR_ID
            | types::MsgDetailedInfo::CONSTRUCTOR_ID
            | types::MsgNewDetailedInfo::CONSTRUCTOR_ID
            | types::HttpWait::CONSTRUCTOR_ID
    )
}

/// Removes invokeWithLayer / initConnection / invokeWithoutUpdates /
/// invokeAfterMsg(s) wrappers, recursively. Returns the inner call
/// and the announced layer.
pub fn unwrap_invoke(body: &[u8]) -> Result<(Vec<u8>, Option<i32>), MtpError> {
    let mut layer = None;
    let mut cur = body;
    // Bounded: each level consumes at least its own header.
    for _ in 0..16 {
        let mut r = Reader::new(cur);
        match r.peek_u32()? {
            functions::InvokeWithLayer::CONSTRUCTOR_ID => {
                r.read_u32()?;
                layer = Some(r.read_i32()?);
            }
            functions::InitConnection::CONSTRUCTOR_ID => {
                r.read_u32()?;
                let flags = r.read_u32()?;
                r.read_i32()?; // api_id
                for _ in 0..6 {
                    r.read_bytes()?;
                }
                if flags & 1 != 0 {
                    types::InputClientProxy::deserialize(&mut r)?;
                }
                if flags & 2 != 0 {
                    return Err(MtpError::Tl(crate::tl::TlError::Invalid(
                        "initConnection.params (JSONValue) is not supported by this server".into(),
                    )));
                }
            }
            functions::InvokeWithoutUpdates::CONSTRUCTOR_ID => {
                r.read_u32()?;
            }
            functions::InvokeAfterMsg::CONSTRUCTOR_ID => {
                r.read_u32()?;
                r.read_i64()?;
            }
            functions::InvokeAfterMsgs::CONSTRUCTOR_ID => {
                r.read_u32()?;
                r.read_vector(8, |r| r.read_i64())?;
            }
            _ => return Ok((cur.to_vec(), layer)),
        }
        cur = r.peek_rest();
    }
    Err(MtpError::Tl(crate::tl::TlError::Invalid(
        "too many nested invoke wrappers".into(),
    )))
}
