//! The client side of an MTProto session as a sans-IO state machine
//! (PROTOCOL.md M-*, S-*).
//!
//! A [`Session`] owns one auth key's session state: msg_id and seqno
//! allocation, salts, acknowledgements, the requests in flight and the
//! reactions to every service message. It never touches a socket or a
//! clock: the driver feeds it decrypted-or-not packets and the current time,
//! and pulls packets to send, events, and the next deadline.
//!
//! ```text
//!   invoke()/cancel() ──▶ Session ──▶ poll_transmit(now) ──▶ transport
//!   transport ──▶ handle_packet(now) ──▶ Session ──▶ poll_event()
//!   timer ──▶ handle_timeout(now)          poll_timeout() ──▶ timer
//! ```
//!
//! Requests are identified by a [`CallId`]. The message carrying a
//! request keeps its msg_id while its fate is unknown, so the server can
//! recognise it (S-24, M-3 as corrected); see [`Session::on_disconnected`].

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{CryptoRng, RngCore, SeedableRng};

use super::body::{gzip_pack, pack_container, unpack_container, unwrap_gzip, RpcAnswer, RpcResult};
use super::envelope::{self, Header};
use super::msg_id::{msg_id_seconds, MsgIdGenerator, Role};
use super::{ContainerEntry, MtpError, Receiver};
use crate::crypto::{AuthKey, Direction};
use crate::tl::service::{functions, types};
use crate::tl::{Deserialize, Identifiable, Serialize};
use crate::transport::quick_ack_token;

/// Identifies a call (a request carried by this session's messages) for the
/// lifetime of the session, across resends and msg_id changes. Not the
/// caller's [`crate::client::RequestId`]: the driver maps one to the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// Tunables of the protocol session (containers, acks, keepalive, salts,
/// resends). Not the caller's [`crate::client::SessionConfig`], which says
/// where to connect; the driver derives this from it.
#[derive(Clone, Debug)]
pub struct SessionTuning {
    /// Messages per container, at most 1024 (S-18).
    pub max_container_messages: usize,
    /// Plaintext bytes per packet before a new packet is started.
    pub max_packet_bytes: usize,
    /// Bodies above this size are sent gzip_packed when that is smaller
    /// (B-13 forbids it for bodies of 255 bytes or less).
    pub gzip_threshold: usize,
    /// Send a standalone msgs_ack once this many are pending (S-1).
    pub ack_batch: usize,
    /// ... or once the oldest pending ack is this old (S-1).
    pub ack_delay: Duration,
    /// Interval of `ping_delay_disconnect` keepalives (S-21), `None` = off.
    pub ping_interval: Option<Duration>,
    /// The `disconnect_delay` sent with each keepalive ping, in seconds.
    pub ping_disconnect_delay: i32,
    /// Request future salts when the current salt has less than this left.
    pub salt_refresh_margin: Duration,
    /// How many future salts to ask for (S-15: 1..64).
    pub future_salts_count: i32,
    /// A message is resent at most this many times after bad_msg /
    /// bad_server_salt reactions before its request fails.
    pub max_resends: u32,
}

impl Default for SessionTuning {
    fn default() -> Self {
        SessionTuning {
            max_container_messages: 1024,
            max_packet_bytes: 1 << 20,
            gzip_threshold: 512,
            ack_batch: 16,
            ack_delay: Duration::from_millis(500),
            ping_interval: Some(Duration::from_secs(60)),
            ping_disconnect_delay: 75,
            salt_refresh_margin: Duration::from_secs(60),
            future_salts_count: 32,
            max_resends: 5,
        }
    }
}

/// Why a request ended without a result from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// `rpc_error` (R-1).
    Rpc { code: i32, message: String },
    /// Cancelled by the caller; rpc_drop_answer was sent if it was in flight.
    Cancelled,
    /// Resent `max_resends` times without being accepted.
    TooManyResends,
    /// Its deadline passed ([`Session::invoke_until`]); the server was
    /// asked to drop the answer if it had the request (S-20).
    TimedOut,
    /// The session had to be replaced (bad_msg 17, 32, 33) while the
    /// server held this request and its answer never came within
    /// [`RENEW_DRAIN_MAX`]: it may have run. Never re-sent, so it cannot
    /// run twice.
    AnswerLost,
    /// The answer arrived but could not be read (corrupt gzip, a truncated
    /// rpc_error): this request fails, the connection and the others go on.
    BadAnswer(String),
    /// The session was closed.
    Closed,
}

/// What the session reports to its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A request ended.
    Result {
        id: CallId,
        result: Result<Vec<u8>, RequestError>,
    },
    /// A server-pushed message that is not a service message (an update).
    Update(Vec<u8>),
    /// The server (re)created the session (S-17): updates may have a gap.
    NewSessionCreated { first_msg_id: i64, unique_id: i64 },
    /// The server asked for a new session because seqnos desynchronised (S-9, S-10);
    /// a fresh session id is in use.
    SessionReset { new_session_id: i64 },
    /// The server salt changed (M-14).
    SaltChanged(i64),
    /// The clock offset was corrected from the server (M-4).
    TimeOffsetCorrected(i64),
}

/// Messages left in doubt by a lost connection are re-sent under their
/// original msg_id while the server still accepts that id (its window is
/// 300 s, M-5; the margin covers clock error). Older ones are asked about
/// with msgs_state_req first (S-24).
pub const SAME_ID_RESEND_MAX_AGE_SECS: i64 = 150;

/// How long a session that must be replaced (bad_msg 17, 32, 33) waits
/// for the answers the server owes it before the new session starts.
pub const RENEW_DRAIN_MAX: Duration = Duration::from_secs(30);

/// The smallest packet budget the adaptive limit goes down to (one
/// message may still exceed it: a packet always carries at least one).
const MIN_PACKET_LIMIT: usize = 1024;

/// How deep msg_copy / gzip_packed may nest inside one message.
pub const MAX_NESTING: usize = 4;

/// Packets whose quick ack is still awaited; older tokens are forgotten
/// (their messages are then acknowledged by msgs_ack as usual).
const QUICK_ACKS_KEPT: usize = 256;

/// What kind of message an outgoing entry is, for the reactions that follow.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// A caller's request.
    Rpc(CallId),
    /// rpc_drop_answer for a cancelled request.
    DropAnswer,
    Ping(i64),
    FutureSalts,
    /// msgs_state_req about these messages of ours, whose fate is unknown.
    StateReq(Vec<i64>),
    /// msgs_state_info, msg_resend_req, ...: content-neutral replies. Not
    /// tracked after sending: the server never acknowledges them.
    Service,
}

#[derive(Clone, Debug)]
struct Outgoing {
    kind: Kind,
    body: Vec<u8>,
    content_related: bool,
    resends: u32,
}

/// A message sent and not yet acknowledged/answered.
#[derive(Clone, Debug)]
struct Sent {
    out: Outgoing,
    /// The seqno it was sent with; a re-send under the same msg_id repeats it.
    seq_no: i32,
    /// The bytes sent when they differ from `out.body` (the initConnection
    /// wrapper, gzip): a re-send under the same msg_id is byte-identical.
    wire: Option<Vec<u8>>,
    /// The bytes carried the initConnection wrapper (R-4).
    carried_init: bool,
    /// The server acknowledged it (msgs_ack or an answer): never resend.
    acked: bool,
    container: Option<i64>,
    /// Sent on a connection that closed before it was acknowledged: the
    /// server may or may not have it. Settled before anything is re-run.
    in_doubt: bool,
    /// Went out more than once under this msg_id: a rejection of the id
    /// (bad_msg 16/17/20) no longer proves the server lacks the message.
    resent_same_id: bool,
    /// Its state must be asked for (msgs_state_req) rather than re-sent.
    must_ask: bool,
    /// A msgs_state_req about it is in flight.
    state_requested: bool,
}

/// One message of a packet being built.
struct Entry {
    msg_id: i64,
    seq_no: i32,
    wire: Vec<u8>,
    /// A message sent for the first time, and whether its bytes carry the
    /// initConnection wrapper.
    new: Option<(Outgoing, bool)>,
}

impl Sent {
    fn wire(&self) -> &[u8] {
        self.wire.as_deref().unwrap_or(&self.out.body)
    }
}

/// The client half of an MTProto session.
pub struct Session {
    config: SessionTuning,
    key: AuthKey,
    session_id: i64,
    salt: i64,
    /// Future salts sorted by valid_since (S-15).
    future_salts: Vec<types::FutureSalt>,
    salts_requested: bool,
    ids: MsgIdGenerator,
    /// Content-related messages sent in this session (M-8).
    content_sent: i32,
    receiver: Receiver,
    clock_synced: bool,
    queue: VecDeque<Outgoing>,
    sent: HashMap<i64, Sent>,
    /// Container msg_id -> the msg_ids inside it.
    containers: HashMap<i64, Vec<i64>>,
    /// The calls not yet ended.
    requests: HashMap<CallId, Call>,
    /// Deadlines of calls that have one, soonest first; every call ends by
    /// its deadline whatever happens to connections (see `handle_timeout`).
    deadlines: std::collections::BTreeSet<(Duration, CallId)>,
    next_request: u64,
    pending_acks: Vec<i64>,
    oldest_ack: Option<Duration>,
    events: VecDeque<Event>,
    next_ping: Option<Duration>,
    ping_id: i64,
    /// `invokeWithLayer(initConnection(...))` prefix for the first request
    /// after each connect; the query bytes are appended to it (R-4).
    init_prefix: Option<Vec<u8>>,
    init_pending: bool,
    connected: bool,
    /// Some message may be in doubt and not yet settled (see
    /// [`Session::on_disconnected`]); saves a scan per packet otherwise.
    doubts: bool,
    /// Quick-ack tokens of recent packets and their content-related
    /// messages (T-10), oldest first, at most [`QUICK_ACKS_KEPT`].
    quick_acks: VecDeque<(u32, Vec<i64>)>,
    /// Unix time minus the driver's clock: `now` is monotonic (timers), and
    /// this turns it into wall time for msg_ids and salts only.
    wall_base: Duration,
    /// A new session is due; see [`Session::renew_when_drained`].
    renew: Option<Renew>,
    /// The session replaced last: its late packets are ignored, not errors.
    previous_session: Option<i64>,
    /// Plaintext bytes per packet now: `max_packet_bytes`, halved after
    /// each connection that died before the server confirmed anything and
    /// doubled back after one that did. A link that dies after N bytes
    /// every time would otherwise never carry a packet larger than N, and
    /// the same large container of re-sends would be cut forever.
    packet_limit: usize,
    /// The server acknowledged or answered something on this connection.
    progress: bool,
    rng: StdRng,
}

/// A call not yet ended.
#[derive(Clone, Copy, Debug)]
struct Call {
    /// The msg_id carrying it; `None` while queued.
    msg_id: Option<i64>,
    deadline: Option<Duration>,
}

/// A session replacement waiting for the old session's answers.
#[derive(Clone, Copy, Debug)]
struct Renew {
    /// The server time offset the new session starts with (bad_msg 17
    /// corrects it backwards, which one session's ids must never go).
    offset: Option<i64>,
    since: Duration,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("auth_key_id", &self.key.id())
            .field("session_id", &self.session_id)
            .field("queued", &self.queue.len())
            .field("in_flight", &self.sent.len())
            .finish_non_exhaustive()
    }
}

/// Whether [`Session::process`] can read `body` through: the framing of
/// containers, gzip and msg_copy, nesting, and every service message it
/// decodes. Answers are only checked for their `req_msg_id` (one that
/// cannot be read fails its own request), anything else is an update.
/// Side-effect free, so a packet is refused before any of it is applied.
fn check_message(
    msg_id: i64,
    body: &[u8],
    in_container: bool,
    depth: usize,
) -> Result<(), MtpError> {
    if depth > MAX_NESTING {
        return Err(MtpError::NestingTooDeep(MAX_NESTING));
    }
    let Some(id_bytes) = body.get(..4) else {
        return Err(MtpError::Truncated(body.len()));
    };
    fn decodes<T: Deserialize>(body: &[u8]) -> Result<(), MtpError> {
        T::from_bytes(body).map(drop).map_err(MtpError::from)
    }
    match u32::from_le_bytes(id_bytes.try_into().expect("4 bytes")) {
        types::MsgContainer::CONSTRUCTOR_ID => {
            if in_container {
                return Err(MtpError::NestedContainer);
            }
            for e in unpack_container(msg_id, body)? {
                check_message(e.msg_id, &e.body, true, depth)?;
            }
            Ok(())
        }
        types::GzipPacked::CONSTRUCTOR_ID => {
            check_message(msg_id, &unwrap_gzip(body)?, in_container, depth + 1)
        }
        types::MsgCopy::CONSTRUCTOR_ID => {
            let c = types::MsgCopy::from_bytes(body)?;
            check_message(
                c.orig_message.msg_id,
                &c.orig_message.body,
                in_container,
                depth + 1,
            )
        }
        types::RpcResult::CONSTRUCTOR_ID if body.len() < 12 => Err(MtpError::Truncated(body.len())),
        types::MsgsAck::CONSTRUCTOR_ID => decodes::<types::MsgsAck>(body),
        types::BadServerSalt::CONSTRUCTOR_ID => decodes::<types::BadServerSalt>(body),
        types::BadMsgNotification::CONSTRUCTOR_ID => decodes::<types::BadMsgNotification>(body),
        types::NewSessionCreated::CONSTRUCTOR_ID => decodes::<types::NewSessionCreated>(body),
        types::FutureSalts::CONSTRUCTOR_ID => decodes::<types::FutureSalts>(body),
        types::Pong::CONSTRUCTOR_ID => decodes::<types::Pong>(body),
        types::MsgsStateReq::CONSTRUCTOR_ID => decodes::<types::MsgsStateReq>(body),
        types::MsgResendReq::CONSTRUCTOR_ID => decodes::<types::MsgResendReq>(body),
        types::MsgDetailedInfo::CONSTRUCTOR_ID => decodes::<types::MsgDetailedInfo>(body),
        types::MsgNewDetailedInfo::CONSTRUCTOR_ID => decodes::<types::MsgNewDetailedInfo>(body),
        types::MsgsStateInfo::CONSTRUCTOR_ID => decodes::<types::MsgsStateInfo>(body),
        types::MsgsAllInfo::CONSTRUCTOR_ID => decodes::<types::MsgsAllInfo>(body),
        _ => Ok(()),
    }
}

/// Builds the `invokeWithLayer(layer, initConnection(...))` prefix; the
/// query is appended at send time (R-4, L-7).
pub fn init_connection_prefix(layer: i32, init: &functions::InitConnection) -> Vec<u8> {
    debug_assert!(init.query.is_empty(), "the query is appended per request");
    let mut out = functions::InvokeWithLayer {
        layer,
        query: Vec::new(),
    }
    .to_bytes();
    init.serialize(&mut out);
    out
}

impl Session {
    /// Starts a session on `key`, with the salt and time offset known from the
    /// key exchange or storage. `seed_rng` seeds the session's CSPRNG (G-6).
    pub fn new(
        config: SessionTuning,
        key: AuthKey,
        salt: i64,
        time_offset: i64,
        seed_rng: &mut (impl RngCore + CryptoRng),
    ) -> Self {
        let mut rng = StdRng::from_rng(seed_rng).expect("CSPRNG seeding");
        let mut ids = MsgIdGenerator::new(Role::Client);
        ids.set_time_offset(time_offset);
        let config = SessionTuning {
            max_container_messages: config.max_container_messages.clamp(1, 1024),
            max_packet_bytes: config.max_packet_bytes.max(MIN_PACKET_LIMIT),
            ..config
        };
        let packet_limit = config.max_packet_bytes;
        Session {
            session_id: rng.next_u64() as i64,
            config,
            key,
            salt,
            future_salts: Vec::new(),
            salts_requested: false,
            ids,
            content_sent: 0,
            receiver: Receiver::new(Role::Client).learning_server_time(),
            clock_synced: true,
            queue: VecDeque::new(),
            sent: HashMap::new(),
            containers: HashMap::new(),
            requests: HashMap::new(),
            deadlines: Default::default(),
            next_request: 1,
            pending_acks: Vec::new(),
            oldest_ack: None,
            events: VecDeque::new(),
            next_ping: None,
            ping_id: 0,
            init_prefix: None,
            init_pending: false,
            connected: false,
            doubts: false,
            quick_acks: VecDeque::new(),
            wall_base: Duration::ZERO,
            renew: None,
            previous_session: None,
            packet_limit,
            progress: false,
            rng,
        }
    }

    /// Tells the session how the driver's clock relates to Unix time:
    /// `now` (the clock every method takes) read `unix_now` on the wall.
    /// Timers then run on the driver's (monotonic) clock, and a step of the
    /// wall clock changes no deadline; only msg_ids and salt validity use
    /// wall time. Without a call the two clocks are taken to be the same.
    pub fn set_wall_clock(&mut self, unix_now: Duration, now: Duration) {
        self.wall_base = unix_now.saturating_sub(now);
    }

    /// Wall-clock time at driver time `now`.
    fn wall(&self, now: Duration) -> Duration {
        now + self.wall_base
    }

    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    pub fn salt(&self) -> i64 {
        self.salt
    }

    pub fn time_offset(&self) -> i64 {
        self.ids.time_offset()
    }

    pub fn auth_key(&self) -> &AuthKey {
        &self.key
    }

    /// Future salts known to the session (persisted by the driver).
    pub fn future_salts(&self) -> &[types::FutureSalt] {
        &self.future_salts
    }

    /// Restores future salts kept from an earlier session of the same key
    /// (salts belong to the key, not the session, S-15); the session then
    /// switches to them on time without asking the server again.
    pub fn set_future_salts(&mut self, mut salts: Vec<types::FutureSalt>) {
        salts.sort_by_key(|s| s.valid_since);
        self.future_salts = salts;
    }

    /// Frees the buffers of an idle session (nothing queued, in flight or
    /// unread): a burst leaves large capacities behind, and thousands of
    /// idle sessions should cost only their state.
    pub fn shrink_when_idle(&mut self) {
        if !(self.requests.is_empty()
            && self.queue.is_empty()
            && self.sent.is_empty()
            && self.events.is_empty())
        {
            return;
        }
        // Nothing is in flight, so no quick ack can matter any more.
        self.quick_acks.clear();
        fn shrink_deque<T>(d: &mut VecDeque<T>) {
            if d.capacity() > 0 {
                *d = VecDeque::new();
            }
        }
        shrink_deque(&mut self.events);
        shrink_deque(&mut self.queue);
        shrink_deque(&mut self.quick_acks);
        if self.requests.capacity() > 0 {
            self.requests = HashMap::new();
        }
        if self.sent.capacity() > 0 {
            self.sent = HashMap::new();
        }
        if self.containers.is_empty() && self.containers.capacity() > 0 {
            self.containers = HashMap::new();
        }
    }

    /// Requests not yet ended.
    pub fn pending_requests(&self) -> usize {
        self.requests.len()
    }

    /// Sets the prefix that wraps the first request after each connect (R-4).
    pub fn set_init_connection(&mut self, prefix: Option<Vec<u8>>) {
        self.init_prefix = prefix;
        self.init_pending = self.init_prefix.is_some();
    }

    /// Queues a request (an API query, content-related per M-9).
    pub fn invoke(&mut self, body: Vec<u8>) -> CallId {
        self.invoke_until(body, None)
    }

    /// [`invoke`](Self::invoke) with a deadline on the session's clock: if
    /// no answer came by then, the call ends with
    /// [`RequestError::TimedOut`] (from [`handle_timeout`](Self::handle_timeout),
    /// connected or not), and a sent one is dropped on the server (S-20).
    pub fn invoke_until(&mut self, body: Vec<u8>, deadline: Option<Duration>) -> CallId {
        let id = CallId(self.next_request);
        self.next_request += 1;
        self.requests.insert(
            id,
            Call {
                msg_id: None,
                deadline,
            },
        );
        if let Some(at) = deadline {
            self.deadlines.insert((at, id));
        }
        self.queue.push_back(Outgoing {
            kind: Kind::Rpc(id),
            body,
            content_related: true,
            resends: 0,
        });
        id
    }

    /// Ends a request with `Cancelled`. If it was already sent, the server is
    /// asked not to send the answer (S-20, rpc_drop_answer).
    pub fn cancel(&mut self, id: CallId) -> bool {
        self.abandon(id, RequestError::Cancelled)
    }

    /// Ends a call the caller no longer waits for with `why`; if it was
    /// sent, rpc_drop_answer asks the server not to send (or resend) the
    /// answer (S-20).
    fn abandon(&mut self, id: CallId, why: RequestError) -> bool {
        let Some(call) = self.requests.remove(&id) else {
            return false;
        };
        self.forget_deadline(id, &call);
        match call.msg_id {
            None => self.queue.retain(|o| o.kind != Kind::Rpc(id)),
            Some(msg_id) => {
                self.sent.remove(&msg_id);
                self.queue.push_back(Outgoing {
                    kind: Kind::DropAnswer,
                    body: functions::RpcDropAnswer { req_msg_id: msg_id }.to_bytes(),
                    content_related: true,
                    resends: 0,
                });
            }
        }
        self.events.push_back(Event::Result {
            id,
            result: Err(why),
        });
        true
    }

    fn forget_deadline(&mut self, id: CallId, call: &Call) {
        if let Some(at) = call.deadline {
            self.deadlines.remove(&(at, id));
            if self.deadlines.is_empty() {
                // An empty BTreeSet keeps its node; an idle session
                // should not (10,000 idle sessions × ~300 B).
                self.deadlines = Default::default();
            }
        }
    }

    /// Ends every request with `Closed` (the caller is closing the session).
    pub fn close(&mut self) {
        let mut ids: Vec<_> = self.requests.keys().copied().collect();
        ids.sort();
        for id in ids {
            self.finish(id, Err(RequestError::Closed));
        }
        self.queue.clear();
        self.sent.clear();
        self.containers.clear();
    }

    /// A new connection is up: schedule keepalive and the init wrapper.
    pub fn on_connected(&mut self, now: Duration) {
        self.connected = true;
        self.init_pending = self.init_prefix.is_some();
        self.next_ping = self.config.ping_interval.map(|_| now);
    }

    /// The connection dropped. A content-related message the server never
    /// acknowledged may or may not have reached it: it stays under its
    /// msg_id, in doubt. On the next connection it is re-sent under that
    /// same msg_id inside a container, which the server recognises as a
    /// duplicate if it has it (S-24); one too old for that is asked about
    /// with msgs_state_req and re-sent under a new msg_id only if the
    /// server says it never got it. Acknowledged requests just wait for
    /// their answer, which the server resends itself (M-10). Either way a
    /// request never runs twice.
    ///
    /// Messages that are not content-related are not kept: pings and salt
    /// requests are made again when needed, state requests re-asked.
    pub fn on_disconnected(&mut self) {
        self.connected = false;
        let waiting = self
            .sent
            .values()
            .any(|s| s.out.content_related && !s.acked);
        self.packet_limit = if std::mem::take(&mut self.progress) {
            (self.packet_limit * 2).min(self.config.max_packet_bytes)
        } else if waiting {
            (self.packet_limit / 2).max(MIN_PACKET_LIMIT)
        } else {
            self.packet_limit
        };
        let mut dropped = Vec::new();
        for (&id, s) in self.sent.iter_mut() {
            // State requests of the old connection are asked again.
            s.state_requested = false;
            if !s.out.content_related {
                dropped.push(id);
            } else if !s.acked {
                s.in_doubt = true;
                self.doubts = true;
            }
        }
        for id in dropped {
            if let Some(Sent {
                out:
                    Outgoing {
                        kind: Kind::FutureSalts,
                        ..
                    },
                ..
            }) = self.sent.remove(&id)
            {
                self.salts_requested = false;
            }
        }
        self.queue.retain(|o| !matches!(o.kind, Kind::StateReq(_)));
        self.containers.clear();
        // A quick ack belongs to its connection.
        self.quick_acks.clear();
    }

    fn requeue_front(&mut self, out: Outgoing) {
        match out.kind {
            // Pings and salt requests are regenerated when needed.
            Kind::Ping(_) => {}
            Kind::FutureSalts => self.salts_requested = false,
            Kind::StateReq(ids) => {
                for id in ids {
                    if let Some(s) = self.sent.get_mut(&id) {
                        s.state_requested = false;
                        self.doubts = true;
                    }
                }
            }
            Kind::Rpc(id) => {
                if let Some(call) = self.requests.get_mut(&id) {
                    call.msg_id = None;
                    self.queue.push_front(out);
                }
            }
            _ => self.queue.push_front(out),
        }
    }

    /// Next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When the driver should call [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<Duration> {
        let ack = self.oldest_ack.map(|t| t + self.config.ack_delay);
        let ping = if self.connected { self.next_ping } else { None };
        let renew = self.renew.map(|r| r.since + RENEW_DRAIN_MAX);
        let call = self.deadlines.first().map(|&(at, _)| at);
        [ack, ping, renew, call].into_iter().flatten().min()
    }

    /// The soonest deadline of a call ([`invoke_until`](Self::invoke_until)).
    pub fn next_call_deadline(&self) -> Option<Duration> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// Timers: call deadlines, keepalive ping (S-21), salt refresh (M-14,
    /// S-15). Call deadlines run whether connected or not.
    pub fn handle_timeout(&mut self, now: Duration) {
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.abandon(id, RequestError::TimedOut);
        }
        if let (true, Some(at), Some(every)) =
            (self.connected, self.next_ping, self.config.ping_interval)
        {
            if now >= at {
                self.ping_id = self.ping_id.wrapping_add(1);
                self.queue.push_back(Outgoing {
                    kind: Kind::Ping(self.ping_id),
                    body: functions::PingDelayDisconnect {
                        ping_id: self.ping_id,
                        disconnect_delay: self.config.ping_disconnect_delay,
                    }
                    .to_bytes(),
                    content_related: false,
                    resends: 0,
                });
                self.next_ping = Some(now + every);
            }
        }
        self.refresh_salt(now);
        self.renew_when_drained(now);
    }

    /// Switches to the next future salt once it is valid, and asks for more
    /// before the known ones run out.
    fn refresh_salt(&mut self, now: Duration) {
        let server_now = self.wall(now).as_secs() as i64 + self.ids.time_offset();
        // Drop expired salts; adopt the newest valid one.
        self.future_salts
            .retain(|s| (s.valid_until as i64) > server_now);
        if let Some(pos) = self
            .future_salts
            .iter()
            .rposition(|s| (s.valid_since as i64) <= server_now)
        {
            let salt = self.future_salts[pos].salt;
            if salt != self.salt {
                self.salt = salt;
                self.events.push_back(Event::SaltChanged(salt));
            }
        }
        let remaining = self
            .future_salts
            .last()
            .map(|s| s.valid_until as i64 - server_now)
            .unwrap_or(0);
        if !self.salts_requested && remaining < self.config.salt_refresh_margin.as_secs() as i64 {
            self.salts_requested = true;
            self.queue.push_back(Outgoing {
                kind: Kind::FutureSalts,
                body: functions::GetFutureSalts {
                    num: self.config.future_salts_count,
                }
                .to_bytes(),
                content_related: false,
                resends: 0,
            });
        }
    }

    /// Builds the next packet to send, if there is anything to send: queued
    /// messages, pending acks and messages left in doubt by a lost
    /// connection, packed into a container when there are several (S-18,
    /// M-7) or when one is re-sent under its original msg_id (S-24),
    /// encrypted (E-1..E-6).
    pub fn poll_transmit(&mut self, now: Duration) -> Option<Vec<u8>> {
        self.transmit(now, false).map(|(packet, _)| packet)
    }

    /// [`poll_transmit`](Self::poll_transmit) for a transport that can ask
    /// for quick acks (TCP, T-4..T-10): also returns the token the server
    /// will echo when the packet carries content-related messages. Pass the
    /// echoed token to [`on_quick_ack`](Self::on_quick_ack).
    pub fn poll_transmit_quick_ack(&mut self, now: Duration) -> Option<(Vec<u8>, Option<u32>)> {
        self.transmit(now, true)
    }

    /// A quick ack came (T-10): the server received and accepted the packet,
    /// so its content-related messages count as acknowledged and are not in
    /// doubt if the connection drops before their msgs_ack.
    pub fn on_quick_ack(&mut self, token: u32) {
        if let Some(pos) = self.quick_acks.iter().position(|(t, _)| *t == token) {
            let (_, ids) = self.quick_acks.remove(pos).expect("found");
            for id in ids {
                self.on_ack(id);
            }
        }
    }

    fn transmit(&mut self, now: Duration, quick_ack: bool) -> Option<(Vec<u8>, Option<u32>)> {
        if !self.connected {
            return None;
        }
        self.renew_when_drained(now);
        let wall = self.wall(now);
        let same_id = self.settle_doubts(now);
        let ack_due = self.pending_acks.len() >= self.config.ack_batch
            || self
                .oldest_ack
                .is_some_and(|t| now >= t + self.config.ack_delay);
        // While a replacement waits, nothing new starts in the old session:
        // only what settles it (acks, state requests, same-id re-sends).
        let draining = self.renew.is_some();
        let sendable = |o: &Outgoing| !draining || !o.content_related;
        let queued = if draining {
            self.queue.iter().any(sendable)
        } else {
            !self.queue.is_empty()
        };
        if !queued && same_id.is_empty() && (!ack_due || self.pending_acks.is_empty()) {
            return None;
        }
        let mut entries: Vec<Entry> = Vec::new();
        let mut bytes = 0usize;
        if !self.pending_acks.is_empty() {
            let take = self.pending_acks.len().min(8192);
            let ids: Vec<i64> = self.pending_acks.drain(..take).collect();
            self.oldest_ack = if self.pending_acks.is_empty() {
                None
            } else {
                Some(now)
            };
            let body = types::MsgsAck { msg_ids: ids }.to_bytes();
            let msg_id = self.ids.next(wall, false);
            let seq_no = self.seqno(false);
            bytes += body.len() + 16;
            entries.push(Entry {
                msg_id,
                seq_no,
                wire: body,
                new: None,
            });
        }
        let limit = self.packet_limit;
        let fits = |entries: usize, bytes: usize, size: usize, config: &SessionTuning| {
            entries == 0 || (entries < config.max_container_messages && bytes + size <= limit)
        };
        // Re-sends keep msg_id, seqno and bytes (S-24); what does not fit
        // stays in doubt for the next packet.
        let mut resent = Vec::new();
        let waiting = same_id.len();
        for id in same_id {
            let s = &self.sent[&id];
            let size = s.wire().len() + 16;
            if !fits(entries.len(), bytes, size, &self.config) {
                break;
            }
            bytes += size;
            entries.push(Entry {
                msg_id: id,
                seq_no: s.seq_no,
                wire: s.wire().to_vec(),
                new: None,
            });
            resent.push(id);
        }
        if resent.len() < waiting {
            self.doubts = true; // the rest go in the next packet
        }
        let mut held = VecDeque::new();
        while let Some(front) = self.queue.front() {
            if !sendable(front) {
                held.push_back(self.queue.pop_front().expect("front exists"));
                continue;
            }
            let size = front.body.len() + 16;
            if !fits(entries.len(), bytes, size, &self.config) {
                break;
            }
            let mut out = self.queue.pop_front().expect("front exists");
            let mut body = std::mem::take(&mut out.body);
            let (wire, carried_init) = self.wire_body(&out, &body);
            let msg_id = self.ids.next(wall, false);
            let seq = self.seqno(out.content_related);
            bytes += wire.len() + 16;
            if let Kind::Rpc(id) = out.kind {
                if let Some(call) = self.requests.get_mut(&id) {
                    call.msg_id = Some(msg_id);
                }
            }
            out.body = std::mem::take(&mut body);
            entries.push(Entry {
                msg_id,
                seq_no: seq,
                wire,
                new: Some((out, carried_init)),
            });
        }
        if !held.is_empty() {
            held.append(&mut self.queue);
            self.queue = held;
        }
        if entries.is_empty() {
            return None;
        }
        let (msg_id, seq_no, payload) = if entries.len() == 1 && resent.is_empty() {
            let e = &entries[0];
            (e.msg_id, e.seq_no, e.wire.clone())
        } else {
            let list: Vec<ContainerEntry> = entries
                .iter()
                .map(|e| ContainerEntry {
                    msg_id: e.msg_id,
                    seq_no: e.seq_no,
                    body: e.wire.clone(),
                })
                .collect();
            let mut payload = Vec::with_capacity(bytes + 8);
            pack_container(&list, &mut payload);
            // M-7: generated after the contents, so it is greater.
            let cid = self.ids.next(wall, false);
            let seq = self.seqno(false);
            (cid, seq, payload)
        };
        let container = (entries.len() > 1 || !resent.is_empty()).then_some(msg_id);
        let mut inner = Vec::with_capacity(entries.len());
        // Content-related messages of this packet, for its quick ack.
        let mut content: Vec<i64> = resent.clone();
        for Entry {
            msg_id: id,
            seq_no,
            wire,
            new,
        } in entries
        {
            inner.push(id);
            let Some((out, carried_init)) = new else {
                continue;
            };
            // Only what the server answers or acknowledges is tracked; the
            // rest (acks, state replies, resend requests) is never re-sent.
            if out.kind == Kind::Service {
                continue;
            }
            if out.content_related {
                content.push(id);
            }
            let wire = (wire != out.body).then_some(wire);
            self.sent.insert(
                id,
                Sent {
                    out,
                    seq_no,
                    wire,
                    carried_init,
                    acked: false,
                    container,
                    in_doubt: false,
                    resent_same_id: false,
                    must_ask: false,
                    state_requested: false,
                },
            );
        }
        for id in resent {
            if let Some(s) = self.sent.get_mut(&id) {
                s.in_doubt = false;
                s.resent_same_id = true;
                s.container = container;
            }
        }
        if let Some(cid) = container {
            self.containers.insert(cid, inner);
        }
        let header = Header {
            salt: self.salt,
            session_id: self.session_id,
            msg_id,
            seq_no,
        };
        let mut packet = Vec::with_capacity(payload.len() + 24 + 32 + 64);
        let large = envelope::encrypt(
            &self.key,
            Direction::ClientToServer,
            &header,
            &payload,
            &mut self.rng,
            &mut packet,
        );
        let token = (quick_ack && !content.is_empty()).then(|| {
            let token = quick_ack_token(&large);
            if self.quick_acks.len() >= QUICK_ACKS_KEPT {
                self.quick_acks.pop_front();
            }
            self.quick_acks.push_back((token, content));
            token
        });
        Some((packet, token))
    }

    /// Sorts the messages in doubt: those the server still accepts under
    /// their msg_id come back (oldest first) to be re-sent as they are; for
    /// the others a msgs_state_req is queued (S-24).
    fn settle_doubts(&mut self, now: Duration) -> Vec<i64> {
        // The scan is over every message in flight: only after a change.
        if !std::mem::take(&mut self.doubts) {
            return Vec::new();
        }
        let server_now = self.wall(now).as_secs() as i64 + self.ids.time_offset();
        let mut same = Vec::new();
        let mut ask = Vec::new();
        for (&id, s) in &self.sent {
            if !s.in_doubt || s.state_requested {
                continue;
            }
            if s.must_ask || server_now - msg_id_seconds(id) > SAME_ID_RESEND_MAX_AGE_SECS {
                ask.push(id);
            } else {
                same.push(id);
            }
        }
        same.sort_unstable();
        if !ask.is_empty() {
            ask.sort_unstable();
            for chunk in ask.chunks(8192) {
                for id in chunk {
                    if let Some(s) = self.sent.get_mut(id) {
                        s.state_requested = true;
                    }
                }
                self.queue.push_front(Outgoing {
                    kind: Kind::StateReq(chunk.to_vec()),
                    body: types::MsgsStateReq {
                        msg_ids: chunk.to_vec(),
                    }
                    .to_bytes(),
                    content_related: false,
                    resends: 0,
                });
            }
        }
        same
    }

    /// The bytes actually sent for an outgoing message: the init wrapper for
    /// the first request after connect (R-4), then gzip when it pays (B-13).
    /// The flag says whether the wrapper went in.
    fn wire_body(&mut self, out: &Outgoing, body: &[u8]) -> (Vec<u8>, bool) {
        let mut init = false;
        let mut wire = match (&out.kind, self.init_pending, &self.init_prefix) {
            (Kind::Rpc(_), true, Some(prefix)) => {
                self.init_pending = false;
                init = true;
                let mut w = Vec::with_capacity(prefix.len() + body.len());
                w.extend_from_slice(prefix);
                w.extend_from_slice(body);
                w
            }
            _ => body.to_vec(),
        };
        if matches!(out.kind, Kind::Rpc(_)) && wire.len() > self.config.gzip_threshold.max(255) {
            let packed = gzip_pack(&wire);
            if packed.len() < wire.len() {
                wire = packed;
            }
        }
        (wire, init)
    }

    /// seqno for the next message (M-8).
    fn seqno(&mut self, content_related: bool) -> i32 {
        if content_related {
            let s = self.content_sent * 2 + 1;
            self.content_sent += 1;
            s
        } else {
            self.content_sent * 2
        }
    }

    /// Processes one received encrypted packet. An error means the packet
    /// failed a check of E-7/G-*: nothing from it was used, and the driver
    /// should drop the connection and reconnect (G-11).
    pub fn handle_packet(&mut self, packet: &mut [u8], now: Duration) -> Result<(), MtpError> {
        let wall = self.wall(now);
        let clock = self.clock_synced.then_some((wall, self.ids.time_offset()));
        let (sent, containers) = (&self.sent, &self.containers);
        // M-5: bad_msg_notification / bad_server_salt about one of our
        // recent messages is processed even when its time looks wrong,
        // because it is exactly how the server corrects our clock.
        // The same holds inside a container (the server often packs the
        // notification with acks); this runs only for packets already
        // outside the window.
        let about_ours = |body: &[u8]| {
            let id = body
                .get(..4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
            let about = body
                .get(4..12)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")));
            matches!(
                id,
                Some(
                    types::BadMsgNotification::CONSTRUCTOR_ID
                        | types::BadServerSalt::CONSTRUCTOR_ID
                )
            ) && about.is_some_and(|m| sent.contains_key(&m) || containers.contains_key(&m))
        };
        let exempt = |body: &[u8]| {
            about_ours(body)
                || (body.get(..4) == Some(&types::MsgContainer::CONSTRUCTOR_ID.to_le_bytes()[..])
                    && unpack_container(i64::MAX, body)
                        .is_ok_and(|entries| entries.iter().any(|e| about_ours(&e.body))))
        };
        let d = match self.receiver.receive_with(
            &self.key,
            packet,
            Some(self.session_id),
            clock,
            exempt,
        ) {
            Ok(d) => d,
            // A late packet of the session this one replaced.
            Err(MtpError::WrongSession { got, .. }) if Some(got) == self.previous_session => {
                return Ok(());
            }
            // A message received before, sent again (its ack was lost with
            // a connection): acknowledged again and otherwise ignored. It
            // passed decryption, so it is the server's and no attack.
            Err(MtpError::MsgIdReplayed(id)) => {
                self.queue_ack(id, now);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.learn_server_time(d.header.msg_id, wall);
        let body = packet[d.body.clone()].to_vec();
        // S-18: a container is accepted or rejected as a whole, so every
        // message in it is checked before the first one is acted on (the
        // container itself is parsed once).
        if body.get(..4) == Some(&types::MsgContainer::CONSTRUCTOR_ID.to_le_bytes()[..]) {
            let entries = unpack_container(d.header.msg_id, &body)?;
            for e in &entries {
                check_message(e.msg_id, &e.body, true, 0)?;
            }
            return self.process_entries(entries, now, 0);
        }
        check_message(d.header.msg_id, &body, false, 0)?;
        self.process(d.header.msg_id, d.header.seq_no, &body, now, false, 0)
    }

    /// M-4: every authenticated server message carries the server's time
    /// (its msg_id) and moves the offset forward when it is ahead of our
    /// estimate, as the reference client does. A message is never newer
    /// than the server's clock, so the estimate approaches the truth from
    /// below; an offset that is too large is corrected by bad_msg 16/17.
    fn learn_server_time(&mut self, server_msg_id: i64, wall: Duration) {
        let seen = msg_id_seconds(server_msg_id) - wall.as_secs() as i64;
        if seen > self.ids.time_offset() {
            self.ids.set_time_offset(seen);
            self.events.push_back(Event::TimeOffsetCorrected(seen));
        }
    }

    fn queue_ack(&mut self, msg_id: i64, now: Duration) {
        if self.pending_acks.is_empty() {
            self.oldest_ack = Some(now);
        }
        self.pending_acks.push(msg_id);
    }

    fn is_ours(&self, msg_id: i64) -> bool {
        self.sent.contains_key(&msg_id) || self.containers.contains_key(&msg_id)
    }

    /// Handles one message; `depth` counts the msg_copy / gzip_packed
    /// wrappers around it, so hostile nesting cannot exhaust the stack.
    fn process(
        &mut self,
        msg_id: i64,
        seq_no: i32,
        body: &[u8],
        now: Duration,
        in_container: bool,
        depth: usize,
    ) -> Result<(), MtpError> {
        if depth > MAX_NESTING {
            return Err(MtpError::NestingTooDeep(MAX_NESTING));
        }
        if seq_no & 1 == 1 {
            // M-10: acknowledge every content-related message.
            self.queue_ack(msg_id, now);
        }
        let Some(id_bytes) = body.get(..4) else {
            return Err(MtpError::Truncated(body.len()));
        };
        let constructor = u32::from_le_bytes(id_bytes.try_into().expect("4 bytes"));
        match constructor {
            types::MsgContainer::CONSTRUCTOR_ID => {
                if in_container {
                    return Err(MtpError::NestedContainer);
                }
                let entries = unpack_container(msg_id, body)?;
                self.process_entries(entries, now, depth)?;
            }
            types::GzipPacked::CONSTRUCTOR_ID => {
                let inner = unwrap_gzip(body)?.into_owned();
                self.process(msg_id, seq_no & !1, &inner, now, in_container, depth + 1)?;
            }
            types::RpcResult::CONSTRUCTOR_ID => match RpcResult::parse(body) {
                Ok(r) => self.on_rpc_result(r),
                // The answer came (and is acknowledged, so it will not come
                // again) but cannot be read: its request fails with the
                // reason instead of the connection dropping and the request
                // waiting for its timeout.
                Err(e) => match body.get(4..12) {
                    Some(req) => {
                        let req = i64::from_le_bytes(req.try_into().expect("8 bytes"));
                        if let Some(id) = self.take_request(req) {
                            self.finish(id, Err(RequestError::BadAnswer(e.to_string())));
                        }
                    }
                    None => return Err(e),
                },
            },
            types::MsgsAck::CONSTRUCTOR_ID => {
                for id in types::MsgsAck::from_bytes(body)?.msg_ids {
                    self.on_ack(id);
                }
            }
            types::BadServerSalt::CONSTRUCTOR_ID => {
                let b = types::BadServerSalt::from_bytes(body)?;
                if self.is_ours(b.bad_msg_id) {
                    self.salt = b.new_server_salt;
                    self.events.push_back(Event::SaltChanged(b.new_server_salt));
                    // The packet was refused before its contents were read:
                    // even a re-sent message may go again under its id.
                    self.on_rejected(b.bad_msg_id, None, true);
                }
            }
            types::BadMsgNotification::CONSTRUCTOR_ID => {
                let b = types::BadMsgNotification::from_bytes(body)?;
                self.on_bad_msg(msg_id, b, now);
            }
            types::NewSessionCreated::CONSTRUCTOR_ID => {
                let n = types::NewSessionCreated::from_bytes(body)?;
                // S-17: its salt is the one to use (and to persist).
                if n.server_salt != self.salt {
                    self.salt = n.server_salt;
                    self.events.push_back(Event::SaltChanged(n.server_salt));
                }
                // S-17: resend what is older than first_msg_id and unanswered.
                // When first_msg_id is one of our containers, the messages
                // inside it have smaller ids (M-7) but were received with it
                // in the new session: resending them would run them twice.
                let in_first: std::collections::HashSet<i64> = self
                    .containers
                    .get(&n.first_msg_id)
                    .map(|inner| inner.iter().copied().collect())
                    .unwrap_or_default();
                let mut older: Vec<i64> = self
                    .sent
                    .keys()
                    .copied()
                    .filter(|&id| id < n.first_msg_id && !in_first.contains(&id))
                    .collect();
                // Newest first: each goes to the queue's front, so the
                // queue ends up in the original order.
                older.sort_unstable_by(|a, b| b.cmp(a));
                for id in older {
                    if let Some(s) = self.sent.get_mut(&id) {
                        s.acked = false;
                    }
                    self.resend_new_id(id, None);
                }
                self.events.push_back(Event::NewSessionCreated {
                    first_msg_id: n.first_msg_id,
                    unique_id: n.unique_id,
                });
            }
            types::FutureSalts::CONSTRUCTOR_ID => {
                let f = types::FutureSalts::from_bytes(body)?;
                if let Some(s) = self.sent.remove(&f.req_msg_id) {
                    if let Kind::Rpc(id) = s.out.kind {
                        self.finish(id, Ok(body.to_vec()));
                    }
                    if s.out.kind == Kind::FutureSalts {
                        self.salts_requested = false;
                        let mut salts = f.salts;
                        salts.sort_by_key(|s| s.valid_since);
                        self.future_salts = salts;
                        self.refresh_salt(now);
                    }
                }
            }
            types::Pong::CONSTRUCTOR_ID => {
                let p = types::Pong::from_bytes(body)?;
                // A ping the caller invoked itself gets the pong as its result.
                if let Some(id) = self.take_request(p.msg_id) {
                    self.finish(id, Ok(body.to_vec()));
                }
            }
            types::MsgsStateReq::CONSTRUCTOR_ID => {
                let req = types::MsgsStateReq::from_bytes(body)?;
                self.reply_state_info(msg_id, &req.msg_ids);
            }
            types::MsgResendReq::CONSTRUCTOR_ID => {
                let req = types::MsgResendReq::from_bytes(body)?;
                let (ours, theirs): (Vec<i64>, Vec<i64>) = req
                    .msg_ids
                    .iter()
                    .partition(|id| self.sent.contains_key(id));
                if theirs.is_empty() {
                    // The server asks for them: it does not have them.
                    for id in ours {
                        self.resend_new_id(id, None);
                    }
                } else {
                    // S-27: unknown ids → answer as if it were msgs_state_req.
                    self.reply_state_info(msg_id, &req.msg_ids);
                }
            }
            types::MsgDetailedInfo::CONSTRUCTOR_ID => {
                let i = types::MsgDetailedInfo::from_bytes(body)?;
                self.on_ack(i.msg_id);
                self.on_detailed_info(i.answer_msg_id);
            }
            types::MsgNewDetailedInfo::CONSTRUCTOR_ID => {
                let i = types::MsgNewDetailedInfo::from_bytes(body)?;
                self.on_detailed_info(i.answer_msg_id);
            }
            types::MsgsStateInfo::CONSTRUCTOR_ID => {
                let info = types::MsgsStateInfo::from_bytes(body)?;
                if let Some(Sent {
                    out:
                        Outgoing {
                            kind: Kind::StateReq(ids),
                            ..
                        },
                    ..
                }) = self.sent.remove(&info.req_msg_id)
                {
                    self.on_states(&ids, &info.info);
                }
            }
            types::MsgsAllInfo::CONSTRUCTOR_ID => {
                // S-25: the server volunteers the state of messages; only
                // the ones whose fate we do not know are acted on.
                let all = types::MsgsAllInfo::from_bytes(body)?;
                let doubtful: Vec<(i64, u8)> = all
                    .msg_ids
                    .iter()
                    .zip(all.info.iter())
                    .filter(|(id, _)| self.sent.get(id).is_some_and(|s| s.in_doubt))
                    .map(|(&id, &st)| (id, st))
                    .collect();
                let (ids, states): (Vec<i64>, Vec<u8>) = doubtful.into_iter().unzip();
                self.on_states(&ids, &states);
            }
            types::MsgCopy::CONSTRUCTOR_ID => {
                let c = types::MsgCopy::from_bytes(body)?;
                let m = c.orig_message;
                // S-19: processed as if unwrapped, unless already received.
                if self.receiver.record(m.msg_id).is_ok() {
                    self.process(m.msg_id, m.seqno, &m.body, now, in_container, depth + 1)?;
                }
            }
            types::DestroySessionOk::CONSTRUCTOR_ID | types::DestroySessionNone::CONSTRUCTOR_ID => {
            }
            _ => self.events.push_back(Event::Update(body.to_vec())),
        }
        Ok(())
    }

    /// The messages of a container, in order.
    fn process_entries(
        &mut self,
        entries: Vec<ContainerEntry>,
        now: Duration,
        depth: usize,
    ) -> Result<(), MtpError> {
        for e in entries {
            // A message seen before (the server re-sent it under its msg_id
            // after a lost connection) is acknowledged and not processed
            // again, so an update reaches the application once. Answers
            // are exempt: matching by req_msg_id already makes them
            // idempotent, and one older than the replay window must still
            // complete its request.
            let first_seen = self.receiver.record(e.msg_id).is_ok();
            let is_answer =
                e.body.get(..4) == Some(&types::RpcResult::CONSTRUCTOR_ID.to_le_bytes()[..]);
            if !first_seen && !is_answer {
                if e.seq_no & 1 == 1 {
                    self.queue_ack(e.msg_id, now);
                }
                continue;
            }
            self.process(e.msg_id, e.seq_no, &e.body, now, true, depth)?;
        }
        Ok(())
    }

    fn on_rpc_result(&mut self, r: RpcResult) {
        let Some(sent) = self.sent.remove(&r.req_msg_id) else {
            // Unknown or cancelled (S-20): the ack is all it gets.
            return;
        };
        self.progress = true;
        if let Kind::Rpc(id) = sent.out.kind {
            let result = match r.answer {
                RpcAnswer::Ok(bytes) => Ok(bytes),
                RpcAnswer::Error { code, message } => Err(RequestError::Rpc { code, message }),
            };
            self.finish(id, result);
        }
    }

    /// Stops tracking a sent message; the caller's request it carried, if any.
    fn take_request(&mut self, msg_id: i64) -> Option<CallId> {
        match self.sent.remove(&msg_id)?.out.kind {
            Kind::Rpc(id) => Some(id),
            _ => None,
        }
    }

    fn finish(&mut self, id: CallId, result: Result<Vec<u8>, RequestError>) {
        if let Some(call) = self.requests.remove(&id) {
            self.forget_deadline(id, &call);
            self.events.push_back(Event::Result { id, result });
        }
    }

    fn on_ack(&mut self, msg_id: i64) {
        if let Some(s) = self.sent.get_mut(&msg_id) {
            self.progress = true;
            match s.out.kind {
                // Requests stay until their result arrives.
                Kind::Rpc(_) | Kind::DropAnswer | Kind::FutureSalts => s.acked = true,
                _ => {
                    self.sent.remove(&msg_id);
                }
            }
        }
    }

    /// S-26: acknowledge an answer we already have, else ask for it again.
    fn on_detailed_info(&mut self, answer_msg_id: i64) {
        if self.receiver.replay().contains(answer_msg_id) {
            self.pending_acks.push(answer_msg_id);
        } else {
            self.queue.push_back(Outgoing {
                kind: Kind::Service,
                body: types::MsgResendReq {
                    msg_ids: vec![answer_msg_id],
                }
                .to_bytes(),
                content_related: false,
                resends: 0,
            });
        }
    }

    /// S-24: what the server says of messages of ours in doubt. Received
    /// (4): the answer will come, as for an acknowledged request. Not
    /// received (2, 3; and 1, "too old to know", as the reference client
    /// reads it): re-sent under a new msg_id. Anything else: asked again.
    fn on_states(&mut self, ids: &[i64], states: &[u8]) {
        let mut resend = Vec::new();
        for (id, &state) in ids.iter().zip(states) {
            let Some(s) = self.sent.get_mut(id) else {
                continue;
            };
            s.state_requested = false;
            match state & 7 {
                4 => {
                    s.in_doubt = false;
                    s.must_ask = false;
                    s.acked = true;
                }
                1..=3 => resend.push(*id),
                _ => {
                    s.in_doubt = true;
                    s.must_ask = true;
                    self.doubts = true;
                }
            }
        }
        resend.sort_unstable_by(|a, b| b.cmp(a));
        for id in resend {
            self.resend_new_id(id, None);
        }
    }

    /// S-24: one status byte per id, from what this side received.
    fn reply_state_info(&mut self, req_msg_id: i64, ids: &[i64]) {
        let info: Vec<u8> = ids
            .iter()
            .take(8192)
            .map(|&id| {
                if self.receiver.replay().contains(id) {
                    4 | 8 // received, and acknowledged or about to be
                } else if id & 3 == 0 {
                    // Parity says it is one of ours: we never receive those.
                    1
                } else {
                    2
                }
            })
            .collect();
        self.queue.push_back(Outgoing {
            kind: Kind::Service,
            body: types::MsgsStateInfo { req_msg_id, info }.to_bytes(),
            content_related: false,
            resends: 0,
        });
    }

    /// S-3..S-14: the reactions to bad_msg_notification.
    fn on_bad_msg(
        &mut self,
        notification_msg_id: i64,
        b: types::BadMsgNotification,
        now: Duration,
    ) {
        if !self.is_ours(b.bad_msg_id) {
            // S-3: only react to messages we really sent.
            return;
        }
        match b.error_code {
            16 | 17 => {
                // S-4, S-5, M-4: take the time from the notification itself.
                let offset = msg_id_seconds(notification_msg_id) - self.wall(now).as_secs() as i64;
                if offset >= self.ids.time_offset() {
                    // Our clock was behind: later ids move forward, as one
                    // session's ids must.
                    self.ids.set_time_offset(offset);
                    self.events.push_back(Event::TimeOffsetCorrected(offset));
                    self.on_rejected(b.bad_msg_id, None, false);
                } else {
                    // Ahead: the right ids are lower than ones this session
                    // already used, so they go to a new session (S-5). A
                    // message refused as too new was never accepted under
                    // that id (the server's clock only moves on), so it is
                    // safe to run under a new one.
                    self.want_renew(Some(offset), now);
                    for id in self.expand(b.bad_msg_id) {
                        self.resend_new_id(id, None);
                    }
                }
            }
            32 | 33 => {
                // S-9, S-10: the seqno counter is out of step. The refused
                // message was not run; it goes to a new session, which
                // starts once the server has answered what it holds of this
                // one (re-sending those there could run them twice).
                self.want_renew(None, now);
                for id in self.expand(b.bad_msg_id) {
                    self.resend_new_id(id, None);
                }
            }
            // S-11: should not have been content-related.
            34 => self.on_rejected(b.bad_msg_id, Some(false), false),
            // S-12: should have been content-related.
            35 => self.on_rejected(b.bad_msg_id, Some(true), false),
            // S-6, S-7, S-8, S-14 (and 48 if it ever comes without a salt):
            // resend with new ids, contents of a container individually.
            _ => self.on_rejected(b.bad_msg_id, None, false),
        }
    }

    /// The message ids `msg_id` stands for: a container's contents, or itself.
    fn expand(&self, msg_id: i64) -> Vec<i64> {
        match self.containers.get(&msg_id) {
            Some(inner) => inner.clone(),
            None => vec![msg_id],
        }
    }

    fn want_renew(&mut self, offset: Option<i64>, now: Duration) {
        match &mut self.renew {
            Some(r) => r.offset = offset.or(r.offset),
            None => self.renew = Some(Renew { offset, since: now }),
        }
    }

    /// Starts the new session a bad_msg 17/32/33 asked for, once no request
    /// sent in this one is waiting for its answer (or after
    /// [`RENEW_DRAIN_MAX`], failing those with `AnswerLost`). Everything
    /// queued then goes out in the new session: new session_id, seqno from
    /// zero, msg_ids from the corrected clock, initConnection again.
    fn renew_when_drained(&mut self, now: Duration) {
        let Some(renew) = self.renew else {
            return;
        };
        let waiting = self
            .sent
            .values()
            .any(|s| matches!(s.out.kind, Kind::Rpc(_)));
        if waiting && now < renew.since + RENEW_DRAIN_MAX {
            return;
        }
        self.renew = None;
        let mut lost: Vec<i64> = self.sent.keys().copied().collect();
        lost.sort_unstable();
        for id in lost {
            if let Some(rid) = self.take_request(id) {
                self.finish(rid, Err(RequestError::AnswerLost));
            }
        }
        self.sent.clear();
        self.containers.clear();
        self.quick_acks.clear();
        self.pending_acks.clear();
        self.oldest_ack = None;
        self.salts_requested = false;
        self.doubts = false;
        self.queue
            .retain(|o| !matches!(o.kind, Kind::StateReq(_) | Kind::DropAnswer));
        self.previous_session = Some(self.session_id);
        self.session_id = self.rng.next_u64() as i64;
        // Duplicate detection is per session (M-6); the old session's late
        // packets are recognised by their session_id instead.
        self.receiver = Receiver::new(Role::Client).learning_server_time();
        self.content_sent = 0;
        let offset = renew.offset.unwrap_or(self.ids.time_offset());
        self.ids = MsgIdGenerator::new(Role::Client);
        self.ids.set_time_offset(offset);
        if renew.offset.is_some() {
            self.events.push_back(Event::TimeOffsetCorrected(offset));
        }
        self.init_pending = self.init_prefix.is_some();
        self.events.push_back(Event::SessionReset {
            new_session_id: self.session_id,
        });
    }

    /// The server refused `msg_id` (a message or a container of ours)
    /// without running it. A message that went out only this once is
    /// re-sent under a new msg_id (M-3). One that had gone out before under
    /// the same id may have reached the server then, so a new id could run
    /// it twice: it is re-sent as it is when `same_id_ok` (the refusal was
    /// not about the id), otherwise its state is asked first (S-24).
    fn on_rejected(&mut self, msg_id: i64, content_related: Option<bool>, same_id_ok: bool) {
        let ids = self.expand(msg_id);
        let mut fresh = Vec::new();
        let mut exhausted = Vec::new();
        for id in ids {
            match self.sent.get_mut(&id) {
                Some(s) if s.resent_same_id => {
                    s.out.resends += 1;
                    s.in_doubt = true;
                    self.doubts = true;
                    s.must_ask |= !same_id_ok;
                    if s.out.resends > self.config.max_resends {
                        exhausted.push(id);
                    }
                }
                Some(_) => fresh.push(id),
                None => {}
            }
        }
        for id in exhausted {
            if let Some(rid) = self.take_request(id) {
                self.finish(rid, Err(RequestError::TooManyResends));
            }
        }
        for id in fresh.into_iter().rev() {
            self.resend_new_id(id, content_related);
        }
    }

    /// Puts a sent message (or every message of a sent container) back at the
    /// front of the queue for a resend with a new msg_id (M-3). Only for
    /// messages the server is known not to have.
    fn resend_new_id(&mut self, msg_id: i64, content_related: Option<bool>) {
        let ids = match self.containers.remove(&msg_id) {
            Some(inner) => inner,
            None => vec![msg_id],
        };
        for id in ids.into_iter().rev() {
            let Some(mut s) = self.sent.remove(&id) else {
                continue;
            };
            if let Some(c) = s.container {
                if let Some(list) = self.containers.get_mut(&c) {
                    list.retain(|&x| x != id);
                }
            }
            s.out.resends += 1;
            if let Some(cr) = content_related {
                s.out.content_related = cr;
            }
            // The refused message carried initConnection: the next request
            // carries it instead (R-4), or the server never learns the layer.
            if s.carried_init {
                self.init_pending = self.init_prefix.is_some();
            }
            if s.out.resends > self.config.max_resends {
                if let Kind::Rpc(rid) = s.out.kind {
                    self.finish(rid, Err(RequestError::TooManyResends));
                }
                continue;
            }
            self.requeue_front(s.out);
        }
    }

    /// Whether a packet carrying `msg_id` from the server's clock suggests
    /// our clock is off by more than the window (used by drivers for logs).
    pub fn server_time_of(msg_id: i64) -> i64 {
        msg_id_seconds(msg_id)
    }
}
