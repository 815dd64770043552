//! One client connection: a reader task that owns the transport codec and
//! does all protocol work, and a writer task that puts the produced bytes
//! on the socket.
//!
//! The split keeps the reader from ever blocking on a client that does not
//! read while it writes (both sides would wait forever), and gives one
//! place to cut a connection after N bytes. Bytes are encoded (and, when
//! obfuscated, encrypted) in the reader, in order, and handed over through
//! a channel, so the stream cipher state never leaves one task.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mtproto::auth::server_accepts_dc;
use mtproto::crypto::Direction;
use mtproto::mtp::envelope;
use mtproto::mtp::server::{ServerEvent, ServerSession};
use mtproto::tl::service::{functions, types};
use mtproto::tl::{Identifiable, Serialize};
use mtproto::transport::{Received, ServerCodec, TransportErrorCode};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::api::{self, limits, Call, Cut};
use crate::handshake::{Handshakes, PlainAnswer};
use crate::state::{lock, ConnLink, KeyState, SessionSlot, Shared};

/// Most messages packed into one outgoing container (S-18).
const MAX_CONTAINER: usize = 1024;
/// How long queued bytes may take to drain after the reader stopped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closed connection waits for the client to close its side.
const LINGER: Duration = Duration::from_secs(2);

/// Sessions kept per auth key; beyond this one is forgotten (M-12 lets a
/// server forget sessions), so random session ids cannot exhaust memory.
const MAX_SESSIONS_PER_KEY: usize = 16_384;
/// Longest ping_delay_disconnect honoured (S-21); the client sends i32
/// seconds, which no timer needs to represent.
const MAX_DISCONNECT_DELAY: Duration = Duration::from_secs(24 * 3600);

type SessionKey = (i64, i64);

/// The protocol state of one connection (lives in the reader task).
struct Conn {
    shared: Arc<Shared>,
    link: Arc<ConnLink>,
    codec: ServerCodec<StdRng>,
    out: mpsc::UnboundedSender<Vec<u8>>,
    handshakes: Handshakes,
    /// Sessions whose packets go to this connection, with their key.
    bound: HashMap<SessionKey, Arc<Mutex<KeyState>>>,
    /// ping_delay_disconnect deadline (S-21).
    disconnect_at: Option<Instant>,
    /// Stop reading; send what is queued, then close.
    closing: bool,
    /// Whether the MTProxy DC check ran (it runs once, after detection).
    dc_checked: bool,
    /// Sessions to forget once what they queued is sent (test.forgetSession).
    forget: Vec<SessionKey>,
}

/// Serves one accepted connection until the client leaves, the connection
/// is closed on purpose, or the data center stops.
pub(crate) async fn serve(stream: TcpStream, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    shared.connections.fetch_add(1, Ordering::Relaxed);
    let (mut rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut writer = tokio::spawn(write_loop(wr, rx, shared.clone()));
    let mut conn = Conn {
        codec: ServerCodec::new(shared.config.transport.clone(), StdRng::from_entropy()),
        shared: shared.clone(),
        link: Arc::new(ConnLink::new()),
        out: tx,
        handshakes: Handshakes::new(),
        bound: HashMap::new(),
        disconnect_at: None,
        closing: false,
        dc_checked: false,
        forget: Vec::new(),
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut read_total: u64 = 0;
    let mut writer_done = false;
    let mut stopped = *stop.borrow();
    while !conn.closing && !stopped {
        let deadline = conn.disconnect_at;
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    // The client-to-server cut: what lies past the budget
                    // is lost unread.
                    let limit = shared.drop_after_read_bytes.load(Ordering::Relaxed);
                    let mut n = n as u64;
                    let over = limit > 0 && read_total + n >= limit;
                    if over {
                        n = limit.saturating_sub(read_total);
                    }
                    read_total += n;
                    conn.on_bytes(&buf[..n as usize]);
                    if over {
                        tracing::debug!(limit, "drop-after-read-bytes budget spent: cutting");
                        conn.link.cut();
                    }
                }
            },
            _ = conn.link.wake.notified() => {
                if conn.link.cut.load(Ordering::Relaxed) {
                    break;
                }
                conn.flush();
            }
            _ = sleep_until_opt(deadline), if deadline.is_some() => {
                tracing::debug!("ping_delay_disconnect timer fired: closing");
                break;
            }
            _ = &mut writer => {
                writer_done = true;
                break;
            }
            r = stop.changed() => stopped = r.is_err() || *stop.borrow(),
        }
    }
    conn.detach();
    drop(conn);
    if !writer_done {
        if stopped {
            writer.abort();
        } else {
            // The sender is gone: the writer sends what is queued, sends
            // FIN and ends.
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, &mut writer).await;
            writer.abort();
            // Closing a socket with unread input makes the kernel send RST,
            // which can destroy our last packets before the client reads
            // them. Read (and ignore) until the client closes too.
            let _ = tokio::time::timeout(LINGER, async {
                while let Ok(n) = rd.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            })
            .await;
        }
    }
    shared.connections.fetch_sub(1, Ordering::Relaxed);
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Writes what the reader produced. Cuts the connection (possibly in the
/// middle of a frame) once the drop-after-bytes knob's budget is spent.
async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    shared: Arc<Shared>,
) {
    let mut written: u64 = 0;
    while let Some(mut chunk) = rx.recv().await {
        // Whatever else is queued goes in the same write (a quick ack and
        // the answer right behind it leave in one segment, not two).
        while chunk.len() < 256 * 1024 {
            match rx.try_recv() {
                Ok(more) => chunk.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        let limit = shared.drop_after_bytes.load(Ordering::Relaxed);
        let len = chunk.len() as u64;
        if limit > 0 && written.saturating_add(len) >= limit {
            let keep = limit.saturating_sub(written).min(len) as usize;
            let _ = wr.write_all(&chunk[..keep]).await;
            tracing::debug!(
                limit,
                "drop-after-bytes budget spent: cutting the connection"
            );
            return;
        }
        if wr.write_all(&chunk).await.is_err() {
            return;
        }
        written += len;
    }
    let _ = wr.shutdown().await;
}

impl Conn {
    /// Takes bytes from the socket and handles every complete packet.
    fn on_bytes(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.closing {
            // Until the transport is known, hand over at most one
            // obfuscation header (64 bytes), so the MTProxy DC check below
            // runs before frame bytes can fail decoding.
            let chunk = match self.codec.framing() {
                Some(_) => data,
                None => &data[..data.len().min(64)],
            };
            let taken = match self.codec.feed(chunk) {
                Ok(n) => n,
                Err(e) => {
                    // The byte stream cannot be trusted any more (T-8, T-9).
                    tracing::debug!(error = %e, "transport error: closing");
                    self.closing = true;
                    return;
                }
            };
            data = &data[taken..];
            if !self.check_mtproxy_dc() {
                return;
            }
            let mut got = false;
            loop {
                match self.codec.poll() {
                    Ok(Some(rcv)) => {
                        got = true;
                        self.on_packet(rcv);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "transport error: closing");
                        self.closing = true;
                        return;
                    }
                }
            }
            if taken == 0 && !got {
                // Cannot happen per the codec's contract; never spin.
                break;
            }
        }
        self.flush();
        for (key_id, sid) in std::mem::take(&mut self.forget) {
            if let Some(ks) = self.bound.remove(&(key_id, sid)) {
                lock(&ks).sessions.remove(&sid);
            }
        }
    }

    /// −444 for an MTProxy client that names another DC (T-11, T-14).
    fn check_mtproxy_dc(&mut self) -> bool {
        if self.dc_checked || self.codec.framing().is_none() {
            return true;
        }
        self.dc_checked = true;
        match self.codec.mtproxy_dc_id() {
            Some(dc) if !server_accepts_dc(self.shared.config.dc_id, i32::from(dc)) => {
                self.send_error(TransportErrorCode::InvalidDc.code());
                self.closing = true;
                false
            }
            _ => true,
        }
    }

    fn on_packet(&mut self, rcv: Received) {
        let Received {
            payload,
            quick_ack_requested,
        } = rcv;
        let key_id = match payload.get(..8) {
            Some(id) => i64::from_le_bytes(id.try_into().unwrap_or([0; 8])),
            // Shorter than an auth_key_id: malformed (T-9, T-11).
            None => return self.send_error(TransportErrorCode::AuthKeyNotFound.code()),
        };
        if key_id == 0 {
            match self.handshakes.handle(&payload, &self.shared) {
                PlainAnswer::Reply(msg) => self.send_payload(&msg),
                PlainAnswer::Error(code) => self.send_error(code),
            }
        } else {
            self.on_encrypted(key_id, payload, quick_ack_requested);
        }
    }

    /// E-7 on the server: unknown key or any decryption failure → −404
    /// (never bad_msg, S-14); otherwise the session takes over.
    fn on_encrypted(&mut self, key_id: i64, mut packet: Vec<u8>, quick_ack: bool) {
        let cut =
            self.shared
                .cut_before_read
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if cut.is_ok() {
            // The knob: this packet is lost before the server reads it.
            tracing::debug!("cut-before-read: dropping the packet and the connection");
            self.closing = true;
            self.link.cut();
            return;
        }
        let now = self.shared.now();
        let Some(ks_arc) = self.shared.key(key_id, now.as_secs() as i64) else {
            return self.send_error(TransportErrorCode::AuthKeyNotFound.code());
        };
        let mut forget_key = false;
        {
            let mut guard = lock(&ks_arc);
            let ks = &mut *guard;
            let decrypted = match envelope::decrypt(&ks.key, Direction::ClientToServer, &mut packet)
            {
                Ok(d) => d,
                Err(e) => {
                    drop(guard);
                    tracing::debug!(error = %e, "undecryptable packet");
                    return self.send_error(TransportErrorCode::AuthKeyNotFound.code());
                }
            };
            // T-10: received, decrypted and accepted → quick ack first.
            let framing_acks = self.codec.framing().is_some_and(|f| f.supports_quick_ack());
            if quick_ack && framing_acks {
                let mut out = Vec::new();
                if self
                    .codec
                    .encode_quick_ack(decrypted.quick_ack_token, &mut out)
                    .is_ok()
                {
                    let _ = self.out.send(out);
                }
            }
            let header = decrypted.header;
            let sid = header.session_id;
            let body = packet.get(decrypted.body).unwrap_or(&[]);
            if !ks.sessions.contains_key(&sid) && ks.sessions.len() >= MAX_SESSIONS_PER_KEY {
                evict_a_session(ks);
            }
            let slot = ks
                .sessions
                .entry(sid)
                .or_insert_with(|| SessionSlot::new(sid));
            slot.session.faults = self.shared.take_faults();
            slot.session
                .handle_message(&header, body, &mut ks.salts, now);
            self.shared
                .return_faults(std::mem::take(&mut slot.session.faults));
            if !slot.is_on(&self.link) {
                // M-10: resend what the client never acknowledged.
                slot.link = Some(self.link.clone());
                slot.session.on_new_connection();
            }
            let mut events = Vec::new();
            while let Some(ev) = slot.session.poll_event() {
                events.push(ev);
            }
            for ev in events {
                forget_key |= self.on_event(ks, &ks_arc, key_id, sid, ev, now);
            }
            self.bound.insert((key_id, sid), ks_arc.clone());
        }
        if forget_key {
            // After the key's lock is released (see state.rs).
            lock(&self.shared.keys).remove(&key_id);
        }
    }

    /// Carries out one session event. Returns true when the auth key is to
    /// be forgotten (destroy_auth_key, S-23).
    fn on_event(
        &mut self,
        ks: &mut KeyState,
        ks_arc: &Arc<Mutex<KeyState>>,
        key_id: i64,
        sid: i64,
        ev: ServerEvent,
        now: Duration,
    ) -> bool {
        match ev {
            ServerEvent::Query(q) => {
                return self.on_query(ks, ks_arc, (key_id, sid), q.req_msg_id, &q.body)
            }
            ServerEvent::Cancelled { req_msg_id } => {
                if let Some(slot) = ks.sessions.get_mut(&sid) {
                    if let Some(task) = slot.sleeps.remove(&req_msg_id) {
                        task.abort();
                    }
                }
                self.shared.cancelled.fetch_add(1, Ordering::Relaxed);
            }
            ServerEvent::DestroySession {
                req_msg_id,
                session_id,
            } => {
                // S-23: only other sessions of this key may be destroyed.
                let existed = session_id != sid && ks.sessions.remove(&session_id).is_some();
                let answer = if existed {
                    types::DestroySessionOk { session_id }.to_bytes()
                } else {
                    types::DestroySessionNone { session_id }.to_bytes()
                };
                if let Some(slot) = ks.sessions.get_mut(&sid) {
                    slot.session.reply_raw(req_msg_id, answer);
                }
            }
            ServerEvent::DisconnectAt(at) => {
                let delay = at.saturating_sub(now).min(MAX_DISCONNECT_DELAY);
                self.disconnect_at = Some(Instant::now() + delay);
            }
        }
        false
    }

    /// Answers one query of the test API (test.tl), or destroy_auth_key.
    fn on_query(
        &mut self,
        ks: &mut KeyState,
        ks_arc: &Arc<Mutex<KeyState>>,
        (key_id, sid): SessionKey,
        req: i64,
        body: &[u8],
    ) -> bool {
        let Some(slot) = ks.sessions.get_mut(&sid) else {
            return false;
        };
        let session = &mut slot.session;
        let invalid = |what: &str| Err((400, what.to_owned()));
        let call = match Call::parse(body) {
            Ok(Some(call)) => call,
            Ok(None) => {
                let id = body
                    .get(..4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                if id == Some(functions::DestroyAuthKey::CONSTRUCTOR_ID) {
                    session.reply_raw(req, types::DestroyAuthKeyOk {}.to_bytes());
                    return true;
                }
                session.reply(req, invalid("METHOD_INVALID"));
                return false;
            }
            Err(_) => {
                session.reply(req, invalid("INPUT_REQUEST_INVALID"));
                return false;
            }
        };
        match call {
            Call::Echo(data) => session.reply(req, Ok(api::payload(&data))),
            Call::BigPayload { size } => {
                if !(0..=limits::MAX_BIG_PAYLOAD).contains(&size) {
                    session.reply(req, invalid("SIZE_INVALID"));
                } else {
                    let data = api::big_payload_data(size as usize);
                    session.reply(req, Ok(api::payload(&data)));
                }
            }
            Call::Error { code, message } => session.reply(req, Err((code, message))),
            Call::Sleep { ms } => {
                if !(0..=limits::MAX_SLEEP_MS).contains(&ms) {
                    session.reply(req, invalid("MS_INVALID"));
                } else {
                    let task = tokio::spawn(finish_sleep(
                        ks_arc.clone(),
                        sid,
                        req,
                        Duration::from_millis(ms as u64),
                    ));
                    // The task needs this key's lock to answer, which is
                    // held here: it cannot finish before it is recorded.
                    slot.sleeps.insert(req, task.abort_handle());
                }
            }
            Call::PushUpdates { count, size } => {
                let total = i64::from(count) * i64::from(size);
                if !(0..=limits::MAX_UPDATES).contains(&count)
                    || !(0..=limits::MAX_UPDATE_SIZE).contains(&size)
                    || total > limits::MAX_UPDATES_TOTAL
                {
                    session.reply(req, invalid("LIMIT_INVALID"));
                } else {
                    session.reply(req, Ok(api::bool_value(true)));
                    push_updates(session, count, size as usize);
                }
            }
            Call::Counter { key } => {
                let value = self.shared.bump_counter(&key);
                session.reply(req, Ok(api::count(value)));
            }
            Call::CancelledCount => {
                let value = self.shared.cancelled.load(Ordering::Relaxed);
                session.reply(req, Ok(api::count(value as i64)));
            }
            Call::CounterSlow { key, ms, cut } => {
                if !(0..=limits::MAX_SLEEP_MS).contains(&ms) {
                    session.reply(req, invalid("MS_INVALID"));
                } else {
                    let value = self.shared.bump_counter(&key);
                    if cut == Cut::AfterRun {
                        // It ran; the answer must not leave on this
                        // connection: unbind the session, then close.
                        slot.link = None;
                        self.link.cut();
                        self.closing = true;
                    }
                    let task = tokio::spawn(finish_counter_slow(
                        self.shared.clone(),
                        ks_arc.clone(),
                        sid,
                        req,
                        value,
                        Duration::from_millis(ms as u64),
                        cut,
                    ));
                    slot.sleeps.insert(req, task.abort_handle());
                }
            }
            Call::ForgetSession => {
                session.reply(req, Ok(api::bool_value(true)));
                self.forget.push((key_id, sid));
            }
            Call::DropConnection => {
                session.reply(req, Ok(api::bool_value(true)));
                // Flushed before the reader stops (see `serve`).
                self.closing = true;
            }
        }
        false
    }

    /// Sends everything the sessions on this connection have queued.
    fn flush(&mut self) {
        let now = self.shared.now();
        let now_s = now.as_secs() as i64;
        let link = self.link.clone();
        let mut packets = Vec::new();
        self.bound.retain(|&(_, sid), ks_arc| {
            let mut guard = lock(ks_arc);
            let ks = &mut *guard;
            let Some(slot) = ks.sessions.get_mut(&sid) else {
                return false;
            };
            if !slot.is_on(&link) {
                return false;
            }
            let salt = ks.salts.current(now_s, &mut rand::thread_rng());
            while let Some(p) = slot
                .session
                .poll_transmit(&ks.key, salt, now, MAX_CONTAINER)
            {
                packets.push(p);
            }
            true
        });
        for p in packets {
            self.send_payload(&p);
        }
    }

    /// Unbinds this connection's sessions so nothing waits for it.
    fn detach(&mut self) {
        for (&(_, sid), ks_arc) in &self.bound {
            let mut ks = lock(ks_arc);
            if let Some(slot) = ks.sessions.get_mut(&sid) {
                if slot.is_on(&self.link) {
                    slot.link = None;
                }
            }
        }
        self.bound.clear();
    }

    fn send_payload(&mut self, payload: &[u8]) {
        let mut out = Vec::with_capacity(payload.len() + 32);
        match self.codec.encode(payload, &mut out) {
            Ok(()) => {
                let _ = self.out.send(out);
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot frame a packet: closing");
                self.closing = true;
            }
        }
    }

    fn send_error(&mut self, code: i32) {
        let mut out = Vec::with_capacity(16);
        match self
            .codec
            .encode_error(TransportErrorCode::from_code(code), &mut out)
        {
            Ok(()) => {
                let _ = self.out.send(out);
            }
            Err(_) => self.closing = true,
        }
    }
}

/// Forgets one session of a full key: preferably one no connection serves.
fn evict_a_session(ks: &mut KeyState) {
    let victim = ks
        .sessions
        .iter()
        .find(|(_, slot)| slot.link.is_none())
        .or_else(|| ks.sessions.iter().next())
        .map(|(&sid, _)| sid);
    if let Some(sid) = victim {
        ks.sessions.remove(&sid);
    }
}

/// `test.pushUpdates`: `count` updates, seq 1..=count.
fn push_updates(session: &mut ServerSession, count: i32, size: usize) {
    for seq in 1..=count {
        session.push(api::update(seq, &api::update_data(seq, size)));
    }
}

/// The end of a `test.counterSlow`: the answer, and for
/// [`Cut::AfterAnswer`] the packets carrying it thrown away (the server
/// counts them sent; the client never sees them) and the connection cut.
async fn finish_counter_slow(
    shared: Arc<Shared>,
    ks_arc: Arc<Mutex<KeyState>>,
    sid: i64,
    req: i64,
    value: i64,
    after: Duration,
    cut: Cut,
) {
    tokio::time::sleep(after).await;
    let mut guard = lock(&ks_arc);
    let ks = &mut *guard;
    let Some(slot) = ks.sessions.get_mut(&sid) else {
        return;
    };
    slot.sleeps.remove(&req);
    slot.session.reply(req, Ok(api::count(value)));
    if cut == Cut::AfterAnswer {
        if let Some(link) = slot.link.take() {
            let now = shared.now();
            let salt = ks
                .salts
                .current(now.as_secs() as i64, &mut rand::thread_rng());
            while slot
                .session
                .poll_transmit(&ks.key, salt, now, MAX_CONTAINER)
                .is_some()
            {}
            link.cut();
            return;
        }
    }
    slot.wake();
}

/// The end of a `test.sleep`: answer boolTrue and wake whichever
/// connection the session is on by now.
async fn finish_sleep(ks_arc: Arc<Mutex<KeyState>>, sid: i64, req: i64, after: Duration) {
    tokio::time::sleep(after).await;
    let mut ks = lock(&ks_arc);
    if let Some(slot) = ks.sessions.get_mut(&sid) {
        slot.sleeps.remove(&req);
        slot.session.reply(req, Ok(api::bool_value(true)));
        slot.wake();
    }
}
