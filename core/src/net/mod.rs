//! The network half: one tokio task per session ([`Driver`]) that connects,
//! creates a key when the store has none, drives the sans-IO [`Session`]
//! over the transport codec, and reconnects with backoff.
//!
//! The task owns everything of its session: the [`Session`] state machine
//! (kept across reconnects, so unacknowledged requests are resent and
//! acknowledged ones are not), the connection, the request table with its
//! deadlines and the caller's completion channels. Callers reach it only
//! through [`SessionCmd`]s; it reaches callers through oneshot channels and
//! the dispatcher. It never blocks: storage runs on the blocking pool, and
//! callbacks on the dispatcher thread.

mod conn;
mod keygen;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::OsRng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use self::conn::{Conn, Io};
use crate::client::{
    Completion, Error, Prepared, RequestId, SessionCmd, SessionShared, StateEvent,
};
use crate::crypto::AuthKey;
use crate::mtp::{self, Event, RequestError, Session};
use crate::runtime::{Dispatch, DispatchItem};
use crate::storage::{DcState, StoredSalt};
use crate::transport::{Incoming, TransportErrorCode};

/// The whole key exchange must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// −404s in a row (no packet accepted between them, each on its own
/// connection) before the permanent key is taken to be gone.
const KEY_LOST_CONFIRMATIONS: u32 = 2;
/// A session yields to the runtime's other sessions after this much
/// protocol work (decryption and encryption) in one go, so a busy one
/// delays the others by about the time this takes (well under a
/// millisecond in release builds).
const YIELD_AFTER_BYTES: usize = 128 * 1024;
/// Stop framing packets while this much is waiting to be written.
const WRITE_HIGH_WATER: usize = 256 * 1024;
/// Commands taken from the channel in one go, so that a burst of
/// requests leaves in a few containers rather than one packet each.
const COMMAND_BATCH: usize = 4096;

/// The local wall clock as the protocol layers want it.
pub(crate) fn wall_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The lock held while a key is made for one DC of one store (by the
/// store's identity: bindings share one store per SQLite file).
fn key_lock(store: &Arc<dyn crate::storage::SessionStore>, dc: i32) -> Arc<tokio::sync::Mutex<()>> {
    type Locks = std::sync::Mutex<HashMap<(usize, i32), std::sync::Weak<tokio::sync::Mutex<()>>>>;
    static LOCKS: std::sync::OnceLock<Locks> = std::sync::OnceLock::new();
    let id = (Arc::as_ptr(store) as *const () as usize, dc);
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(l) = locks.get(&id).and_then(std::sync::Weak::upgrade) {
        return l;
    }
    locks.retain(|_, w| w.strong_count() > 0);
    let l = Arc::new(tokio::sync::Mutex::new(()));
    locks.insert(id, Arc::downgrade(&l));
    l
}

/// The clock the [`Session`] runs its timers on: monotonic, from `epoch`.
/// Unix time reaches it only through [`Session::set_wall_clock`], sampled
/// on each connect, for msg_ids and salts (a step of the wall clock moves
/// no timer; one between connections is corrected by bad_msg 16/17).
fn session_clock(epoch: Instant) -> Duration {
    epoch.elapsed()
}

/// A [`Session`] deadline as a tokio instant.
fn instant_for(epoch: Instant, at: Duration) -> Instant {
    epoch
        .checked_add(at)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400))
}

/// A request the caller is waiting for.
struct Pending {
    completion: Completion,
    deadline: Instant,
    /// Its id inside the [`Session`]; `None` while no key exists yet.
    mtp: Option<mtp::CallId>,
    /// The body, held until a [`Session`] exists.
    body: Option<Vec<u8>>,
    /// What a `Cancelled` from the session means for the caller (a
    /// timeout cancels too).
    cancel_reason: Option<Error>,
}

/// Why a connected phase ended.
#[derive(Debug)]
enum Disconnect {
    /// Close, shutdown or a terminal error: do not reconnect.
    Stop,
    /// I/O failure, end of stream, framing or protocol error (G-11), or
    /// silence beyond the keepalive.
    Lost(String),
    /// The server sent a transport error code (T-11).
    Code(TransportErrorCode),
    /// AUTH_KEY_DUPLICATED: the key is dead.
    KeyDuplicated,
}

/// The per-session task.
pub(crate) struct Driver {
    cfg: Prepared,
    shared: Arc<SessionShared>,
    cmds: mpsc::UnboundedReceiver<SessionCmd>,
    dispatch: Dispatch,
    shutdown: watch::Receiver<bool>,
    stored: Option<DcState>,
    session: Option<Session>,
    pending: HashMap<RequestId, Pending>,
    by_mtp: HashMap<mtp::CallId, RequestId>,
    deadlines: BTreeSet<(Instant, RequestId)>,
    /// Requests received before a key existed, in order.
    waiting: VecDeque<RequestId>,
    /// Consecutive failed connection attempts (drives the backoff).
    attempt: u32,
    /// Set when the session must end; pending requests end with it.
    stop: Option<Error>,
    key_duplicated: bool,
    salts_dirty: bool,
    /// When the last reconnect without delay started.
    last_immediate: Option<Instant>,
    persist_job: Option<JoinHandle<()>>,
    /// Consecutive −404s with no packet accepted in between; the key is
    /// forgotten at [`KEY_LOST_CONFIRMATIONS`].
    key_not_found: u32,
    /// A new_session_created was seen: later ones mark a gap.
    server_session_seen: bool,
    /// Origin of the session's monotonic clock.
    epoch: Instant,
    /// `finish` ran (the normal end); otherwise `Drop` cleans up.
    finished: bool,
}

impl Drop for Driver {
    /// The task was aborted (runtime shutdown past its grace period) or
    /// panicked: callers' result channels drop with it (they see `Closed`);
    /// wake pullers of updates too, so nobody waits forever.
    fn drop(&mut self) {
        if !self.finished {
            self.shared.mark_closed();
            self.shared.updates.close();
        }
    }
}

impl Driver {
    pub fn new(
        cfg: Prepared,
        stored: Option<DcState>,
        shared: Arc<SessionShared>,
        cmds: mpsc::UnboundedReceiver<SessionCmd>,
        dispatch: Dispatch,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Driver {
            cfg,
            shared,
            cmds,
            dispatch,
            shutdown,
            stored,
            session: None,
            pending: HashMap::new(),
            by_mtp: HashMap::new(),
            deadlines: BTreeSet::new(),
            waiting: VecDeque::new(),
            attempt: 0,
            stop: None,
            key_duplicated: false,
            salts_dirty: false,
            last_immediate: None,
            persist_job: None,
            key_not_found: 0,
            server_session_seen: false,
            epoch: Instant::now(),
            finished: false,
        }
    }

    /// The task body: connect, (create a key,) serve, reconnect, until
    /// closed or a terminal error; then end every request.
    pub async fn run(mut self) {
        if *self.shutdown.borrow() {
            self.stop = Some(Error::Closed);
        }
        if let Some(state) = self.stored.take() {
            self.install_session(state.auth_key, state.salt, state.time_offset);
            if let Some(session) = self.session.as_mut() {
                session.set_future_salts(
                    state
                        .future_salts
                        .iter()
                        .map(|s| crate::tl::service::types::FutureSalt {
                            valid_since: s.valid_since,
                            valid_until: s.valid_until,
                            salt: s.salt,
                        })
                        .collect(),
                );
            }
        }
        while self.stop.is_none() {
            self.emit(StateEvent::Connecting);
            let connect = conn::connect(
                self.cfg.address.clone(),
                self.cfg.connect_timeout,
                self.cfg.transport,
            );
            let mut conn = match self.wait(connect).await {
                None => break,
                Some(Ok(conn)) => conn,
                Some(Err(e)) => {
                    tracing::info!(session = self.shared.id, error = %e, "connect failed");
                    self.backoff(false).await;
                    continue;
                }
            };
            if self.session.is_none() {
                // One key per (store, DC): sessions opened at once on an
                // empty store wait for the first to make it, then use it.
                let lock = key_lock(&self.cfg.store, self.cfg.store_dc);
                let Some(_making) = self.wait(lock.lock_owned()).await else {
                    break;
                };
                if !self.adopt_stored_key().await {
                    conn = match self.create_key(conn).await {
                        KeyStep::Ready(conn) => conn,
                        KeyStep::Retry { flood } => {
                            drop(_making);
                            self.backoff(flood).await;
                            continue;
                        }
                        KeyStep::Stop => break,
                    };
                }
            }
            let Some(session) = self.session.as_mut() else {
                break;
            };
            let now = session_clock(self.epoch);
            session.set_wall_clock(wall_now(), now);
            session.on_connected(now);
            self.emit(StateEvent::Connected);
            let reason = self.drive(&mut conn).await;
            drop(conn);
            if let Some(session) = self.session.as_mut() {
                session.on_disconnected();
            }
            match reason {
                Disconnect::Stop => break,
                Disconnect::KeyDuplicated => {
                    self.forget_key().await;
                    self.stop.get_or_insert(Error::Auth(
                        "AUTH_KEY_DUPLICATED: the server invalidated the auth key".into(),
                    ));
                }
                Disconnect::Code(TransportErrorCode::AuthKeyNotFound)
                    if self.key_not_found < KEY_LOST_CONFIRMATIONS =>
                {
                    // One −404 is not proof: a server restarting or a
                    // proxy in the way can send it once. The key is kept
                    // and asked again on a fresh connection (which pings
                    // at once); only a repeat with no packet accepted in
                    // between forgets it.
                    tracing::info!(
                        session = self.shared.id,
                        "the server did not recognise the auth key; confirming on a new connection"
                    );
                    self.backoff(false).await;
                }
                Disconnect::Code(TransportErrorCode::AuthKeyNotFound) => {
                    self.key_not_found = 0;
                    tracing::warn!(
                        session = self.shared.id,
                        "the server does not know the auth key"
                    );
                    self.forget_key().await;
                    self.emit(StateEvent::AuthKeyLost);
                    let lost = Error::Auth("the server does not know the auth key (-404)".into());
                    if self.cfg.recreate_lost_key {
                        self.drop_session(lost);
                        self.backoff(false).await;
                    } else {
                        self.stop.get_or_insert(lost);
                    }
                }
                Disconnect::Code(TransportErrorCode::Flood) => self.backoff(true).await,
                Disconnect::Code(code) => {
                    tracing::info!(session = self.shared.id, %code, "transport error");
                    self.backoff(false).await;
                }
                Disconnect::Lost(why) => {
                    tracing::info!(session = self.shared.id, reason = %why, "connection lost");
                    self.backoff(false).await;
                }
            }
        }
        self.finish();
    }

    /// Everything ends: each request with the stop reason, then `Closed`.
    fn finish(&mut self) {
        self.finished = true;
        let reason = self.stop.take().unwrap_or(Error::Closed);
        self.persist();
        let ids: Vec<RequestId> = self.pending.keys().copied().collect();
        for id in ids {
            self.end_request(id, Err(reason.clone()));
        }
        self.shared.mark_closed();
        self.cmds.close();
        // Requests that raced with the close still get their answer.
        while let Ok(cmd) = self.cmds.try_recv() {
            if let SessionCmd::Invoke { completion, .. } = cmd {
                self.complete(completion, Err(reason.clone()));
            }
        }
        self.emit(StateEvent::Closed);
    }

    fn emit(&self, event: StateEvent) {
        tracing::debug!(session = self.shared.id, ?event, "state");
        self.dispatch
            .send(DispatchItem::State(self.shared.clone(), event));
    }

    /// Waits for `fut` while still serving commands and request deadlines.
    /// `None` when the session must stop.
    async fn wait<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            if self.stop.is_some() {
                return None;
            }
            let mut deadline = self.next_deadline();
            // Between connections only the calls' deadlines matter (acks
            // and pings wait for a connection).
            if let Some(t) = self.session.as_ref().and_then(Session::next_call_deadline) {
                deadline = deadline.min(instant_for(self.epoch, t));
            }
            tokio::select! {
                out = &mut fut => return Some(out),
                cmd = self.cmds.recv() => self.on_commands(cmd),
                _ = self.shutdown.changed() => self.on_shutdown(),
                _ = sleep_until(deadline) => self.expire(),
            }
        }
    }

    /// Waits before the next connection attempt (jittered exponential).
    async fn backoff(&mut self, flood: bool) {
        if self.stop.is_some() {
            return;
        }
        // A connection that worked and then dropped is replaced at once (a
        // phone's connections drop all the time, and waiting only delays the
        // user); repeated failures back off. At most one immediate attempt
        // per `max_delay`, so a server that accepts and then cuts every
        // connection cannot make the client spin.
        let healthy = self.attempt == 0
            && !flood
            && self
                .last_immediate
                .is_none_or(|t| t.elapsed() >= self.cfg.reconnect.max_delay);
        let delay = if healthy {
            self.last_immediate = Some(Instant::now());
            Duration::ZERO
        } else {
            self.cfg.reconnect.delay(self.attempt, flood)
        };
        self.attempt = self.attempt.saturating_add(1);
        self.emit(StateEvent::WaitingToReconnect { delay });
        self.wait(tokio::time::sleep(delay)).await;
    }

    fn on_shutdown(&mut self) {
        // Also reached when the runtime dropped the sender.
        self.stop.get_or_insert(Error::Closed);
    }

    fn next_deadline(&self) -> Instant {
        self.deadlines
            .first()
            .map(|(t, _)| *t)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
    }

    fn install_session(&mut self, key: AuthKey, salt: i64, time_offset: i64) {
        let config = mtp::SessionTuning {
            ping_interval: self.cfg.ping_interval,
            ping_disconnect_delay: self.cfg.ping_interval.map_or(75, |p| {
                (p.as_secs() + p.as_secs() / 4).min(i32::MAX as u64) as i32
            }),
            ..mtp::SessionTuning::default()
        };
        tracing::debug!(
            session = self.shared.id,
            time_offset,
            queued = self.waiting.len(),
            "encrypted session ready"
        );
        let mut session = Session::new(config, key, salt, time_offset, &mut OsRng);
        session.set_init_connection(self.cfg.init_prefix.clone());
        while let Some(id) = self.waiting.pop_front() {
            if let Some(p) = self.pending.get_mut(&id) {
                if let Some(body) = p.body.take() {
                    // Its deadline moves into the session with it.
                    self.deadlines.remove(&(p.deadline, id));
                    if self.deadlines.is_empty() {
                        self.deadlines = BTreeSet::new();
                    }
                    let at = p.deadline.saturating_duration_since(self.epoch);
                    let m = session.invoke_until(body, Some(at));
                    p.mtp = Some(m);
                    self.by_mtp.insert(m, id);
                }
            }
        }
        self.session = Some(session);
    }

    /// Ends every request the session holds with `reason` and forgets the
    /// session (its key is gone). Requests still waiting for a key stay.
    fn drop_session(&mut self, reason: Error) {
        self.session = None;
        let ids: Vec<RequestId> = self.by_mtp.values().copied().collect();
        self.by_mtp.clear();
        for id in ids {
            self.end_request(id, Err(reason.clone()));
        }
    }

    /// Installs the key another session saved meanwhile, if there is one.
    async fn adopt_stored_key(&mut self) -> bool {
        let store = self.cfg.store.clone();
        let dc = self.cfg.store_dc;
        match self
            .wait(tokio::task::spawn_blocking(move || store.load(dc)))
            .await
        {
            Some(Ok(Ok(Some(state)))) => {
                tracing::debug!(
                    session = self.shared.id,
                    "using the key another session made"
                );
                self.install_session(state.auth_key, state.salt, state.time_offset);
                true
            }
            _ => false,
        }
    }

    async fn forget_key(&mut self) {
        let store = self.cfg.store.clone();
        let dc = self.cfg.store_dc;
        match tokio::task::spawn_blocking(move || store.delete(dc)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "could not delete the dead auth key"),
            Err(e) => tracing::error!(error = %e, "could not delete the dead auth key"),
        }
    }

    async fn create_key(&mut self, conn: Box<Conn>) -> KeyStep {
        let exchange = keygen::create_key(conn, self.cfg.rsa_keys.clone(), self.cfg.inner_dc);
        let outcome = match self
            .wait(tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange))
            .await
        {
            None => return KeyStep::Stop,
            Some(Err(_)) => {
                tracing::info!(session = self.shared.id, "key exchange timed out");
                return KeyStep::Retry { flood: false };
            }
            Some(Ok(Err(keygen::KeygenError::Retry(why)))) => {
                tracing::info!(session = self.shared.id, reason = %why, "key exchange failed");
                return KeyStep::Retry { flood: false };
            }
            Some(Ok(Err(keygen::KeygenError::Flood))) => return KeyStep::Retry { flood: true },
            Some(Ok(Err(keygen::KeygenError::Terminal(e)))) => {
                tracing::warn!(session = self.shared.id, error = %e, "key exchange impossible");
                self.stop.get_or_insert(e);
                return KeyStep::Stop;
            }
            Some(Ok(Ok(done))) => done,
        };
        let (conn, outcome) = outcome;
        // The key is durable before its first use (ARCHITECTURE.md).
        let state = DcState {
            dc_id: self.cfg.store_dc,
            auth_key: outcome.auth_key.clone(),
            salt: outcome.server_salt,
            future_salts: Vec::new(),
            time_offset: outcome.time_offset,
        };
        let store = self.cfg.store.clone();
        let saved = self
            .wait(tokio::task::spawn_blocking(move || store.save(&state)))
            .await;
        match saved {
            None => KeyStep::Stop,
            Some(Ok(Ok(()))) => {
                self.install_session(outcome.auth_key, outcome.server_salt, outcome.time_offset);
                self.attempt = 0;
                self.emit(StateEvent::KeyCreated);
                KeyStep::Ready(conn)
            }
            Some(Ok(Err(e))) => {
                self.stop
                    .get_or_insert(Error::Storage(format!("saving the new auth key: {e}")));
                KeyStep::Stop
            }
            Some(Err(e)) => {
                self.stop
                    .get_or_insert(Error::Storage(format!("saving the new auth key: {e}")));
                KeyStep::Stop
            }
        }
    }

    /// The connected phase: moves packets between the connection and the
    /// session until the connection ends or the session must stop.
    async fn drive(&mut self, conn: &mut Conn) -> Disconnect {
        let idle_limit = self.cfg.ping_interval.map(|p| p + p / 2);
        let mut last_rx = Instant::now();
        // Bytes decrypted or encrypted since this task last let the
        // runtime's other sessions run.
        let mut work = 0usize;
        loop {
            if work >= YIELD_AFTER_BYTES {
                // tokio's budget would let a session with a full socket
                // run 128 reads in a row; all sessions share one thread.
                work = 0;
                tokio::task::yield_now().await;
            }
            // Everything already received.
            loop {
                match conn.next_item() {
                    Ok(Some(item)) => {
                        // Liveness is a complete packet (a pong at least,
                        // S-21), not bytes: a peer trickling one endless
                        // frame is as dead as a silent one.
                        last_rx = Instant::now();
                        if let Incoming::Packet(p) = &item {
                            work += p.len();
                        }
                        if let Some(d) = self.on_incoming(item) {
                            return d;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return Disconnect::Lost(format!("transport: {e}")),
                }
            }
            let Some(session) = self.session.as_mut() else {
                return Disconnect::Stop;
            };
            let now = session_clock(self.epoch);
            if session.poll_timeout().is_some_and(|t| t <= now) {
                session.handle_timeout(now);
            }
            // Quick acks (T-4..T-10) on every framing that has them: a
            // packet the server confirmed is not in doubt if the connection
            // drops before its msgs_ack.
            let quick_acks = conn.supports_quick_ack();
            while conn.write_pending() < WRITE_HIGH_WATER {
                let Some((packet, token)) = (if quick_acks {
                    session.poll_transmit_quick_ack(now)
                } else {
                    session.poll_transmit(now).map(|p| (p, None))
                }) else {
                    break;
                };
                work += packet.len();
                if let Err(e) = conn.queue(&packet, token.is_some()) {
                    return Disconnect::Lost(format!("transport: {e}"));
                }
            }
            let epoch = self.epoch;
            let session_deadline = session.poll_timeout().map(|t| instant_for(epoch, t));
            self.pump_events();
            self.persist();
            self.shrink_when_idle();
            if self.key_duplicated {
                return Disconnect::KeyDuplicated;
            }
            if self.stop.is_some() {
                return Disconnect::Stop;
            }
            let mut wake = self.next_deadline();
            if let Some(t) = session_deadline {
                wake = wake.min(t);
            }
            if let Some(idle) = idle_limit {
                wake = wake.min(last_rx + idle);
            }
            tokio::select! {
                io = conn.io() => match io {
                    Ok(Io::Read(0)) => return Disconnect::Lost("closed by the server".into()),
                    Ok(Io::Read(n)) => conn.after_read(n),
                    Ok(Io::Wrote(n)) => conn.after_write(n),
                    Err(e) => return Disconnect::Lost(format!("I/O: {e}")),
                },
                cmd = self.cmds.recv() => self.on_commands(cmd),
                _ = self.shutdown.changed() => self.on_shutdown(),
                _ = sleep_until(wake) => {
                    self.expire();
                    if idle_limit.is_some_and(|idle| last_rx.elapsed() >= idle) {
                        return Disconnect::Lost("no packet from the server within the keepalive".into());
                    }
                }
            }
        }
    }

    fn on_incoming(&mut self, item: Incoming) -> Option<Disconnect> {
        match item {
            Incoming::Packet(mut packet) => {
                let session = self.session.as_mut()?;
                if let Err(e) = session.handle_packet(&mut packet, session_clock(self.epoch)) {
                    // G-11: nothing of it was used; drop the connection.
                    return Some(Disconnect::Lost(format!("rejected packet: {e}")));
                }
                // The connection works: the next failure starts a fresh backoff.
                self.attempt = 0;
                self.key_not_found = 0;
                self.pump_events();
                None
            }
            Incoming::QuickAck(token) => {
                if let Some(session) = self.session.as_mut() {
                    session.on_quick_ack(token);
                }
                None
            }
            Incoming::Error(code) => {
                if code == TransportErrorCode::AuthKeyNotFound {
                    self.key_not_found += 1;
                }
                Some(Disconnect::Code(code))
            }
        }
    }

    /// Handles one command and whatever else is already queued.
    fn on_commands(&mut self, first: Option<SessionCmd>) {
        let Some(first) = first else {
            // Every handle is gone.
            self.stop.get_or_insert(Error::Closed);
            return;
        };
        self.on_command(first);
        for _ in 1..COMMAND_BATCH {
            match self.cmds.try_recv() {
                Ok(cmd) => self.on_command(cmd),
                Err(_) => return,
            }
        }
    }

    fn on_command(&mut self, cmd: SessionCmd) {
        match cmd {
            SessionCmd::Invoke {
                id,
                body,
                deadline,
                completion,
            } => self.add_request(id, body, deadline, completion),
            SessionCmd::Cancel(id) => self.cancel(id, Error::Cancelled),
            SessionCmd::FlushUpdates => {
                self.dispatch.send(DispatchItem::Flush(self.shared.clone()))
            }
            SessionCmd::Close => {
                self.stop.get_or_insert(Error::Closed);
            }
        }
    }

    fn add_request(
        &mut self,
        id: RequestId,
        body: Vec<u8>,
        deadline: Instant,
        completion: Completion,
    ) {
        if self.stop.is_some() || self.pending.contains_key(&id) {
            self.complete(completion, Err(Error::Closed));
            return;
        }
        tracing::trace!(
            session = self.shared.id,
            request = id.0,
            bytes = body.len(),
            "request queued"
        );
        // A request in the session has its deadline there (the session's
        // request table ends every call by its deadline); one waiting for
        // a key has it here.
        let at = deadline.saturating_duration_since(self.epoch);
        let (mtp, body) = match self.session.as_mut() {
            Some(session) => {
                let m = session.invoke_until(body, Some(at));
                self.by_mtp.insert(m, id);
                (Some(m), None)
            }
            None => {
                self.waiting.push_back(id);
                self.deadlines.insert((deadline, id));
                (None, Some(body))
            }
        };
        self.pending.insert(
            id,
            Pending {
                completion,
                deadline,
                mtp,
                body,
                cancel_reason: None,
            },
        );
    }

    /// Ends a request early with `reason`; if it is in the session, the
    /// session drops it (and asks the server to drop the answer, S-20).
    fn cancel(&mut self, id: RequestId, reason: Error) {
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        let in_session = match (p.mtp, self.session.as_mut()) {
            (Some(m), Some(session)) => {
                p.cancel_reason = Some(reason.clone());
                session.cancel(m)
            }
            _ => false,
        };
        if in_session {
            // The session reports the end as an event.
            self.pump_events();
        }
        if self.pending.contains_key(&id) {
            self.end_request(id, Err(reason));
        }
    }

    /// Ends requests whose deadline passed: the session's (also while no
    /// connection is up), and those still waiting for a key.
    fn expire(&mut self) {
        if let Some(session) = self.session.as_mut() {
            let now = session_clock(self.epoch);
            if session.next_call_deadline().is_some_and(|t| t <= now) {
                session.handle_timeout(now);
                self.pump_events();
            }
        }
        let now = Instant::now();
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            self.cancel(id, Error::Timeout);
        }
    }

    /// Removes a request from every table and hands its result over.
    fn end_request(&mut self, id: RequestId, result: Result<Vec<u8>, Error>) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        match p.mtp {
            Some(m) => {
                self.by_mtp.remove(&m);
            }
            // Only requests waiting for a key have their deadline here.
            None => {
                self.deadlines.remove(&(p.deadline, id));
                if self.deadlines.is_empty() {
                    self.deadlines = BTreeSet::new();
                }
            }
        }
        if p.body.is_some() {
            self.waiting.retain(|w| *w != id);
        }
        self.complete(p.completion, result);
    }

    fn complete(&self, completion: Completion, result: Result<Vec<u8>, Error>) {
        match completion {
            // The receiver may be gone (the caller dropped the future).
            Completion::Channel(tx) => drop(tx.send(result)),
            Completion::Callback(cb) => self
                .dispatch
                .send(DispatchItem::Call(Box::new(move || cb(result)))),
            Completion::Inline(cb) => cb(result),
        }
    }

    /// Takes the session's events: results to callers, updates to the
    /// dispatcher, salt and clock changes to the store.
    fn pump_events(&mut self) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let mut events = Vec::new();
        while let Some(e) = session.poll_event() {
            events.push(e);
        }
        let mut updates = Vec::new();
        for event in events {
            match event {
                Event::Result { id, result } => {
                    let Some(&rid) = self.by_mtp.get(&id) else {
                        continue;
                    };
                    let reason = self
                        .pending
                        .get_mut(&rid)
                        .and_then(|p| p.cancel_reason.take());
                    let result = match result {
                        Ok(bytes) => Ok(bytes),
                        Err(RequestError::Cancelled) => Err(reason.unwrap_or(Error::Cancelled)),
                        Err(e) => Err(Error::from_request(e)),
                    };
                    match &result {
                        Ok(bytes) => tracing::trace!(
                            session = self.shared.id,
                            request = rid.0,
                            bytes = bytes.len(),
                            "request answered"
                        ),
                        Err(e) => tracing::debug!(
                            session = self.shared.id,
                            request = rid.0,
                            error = %e,
                            "request failed"
                        ),
                    }
                    if let Err(Error::Rpc { code, message }) = &result {
                        self.on_rpc_error(*code, message);
                    }
                    self.end_request(rid, result);
                }
                Event::Update(body) => updates.push(body),
                Event::NewSessionCreated { .. } => {
                    // Its salt is the key's from now on (S-17): persisted.
                    self.salts_dirty = true;
                    if std::mem::replace(&mut self.server_session_seen, true) {
                        updates.push(crate::client::GAP_MARKER.to_vec());
                    }
                    if !updates.is_empty() {
                        self.send_updates(std::mem::take(&mut updates));
                    }
                    self.emit(StateEvent::ServerSessionCreated);
                }
                Event::SessionReset { .. } => {
                    tracing::info!(
                        session = self.shared.id,
                        "new session after bad_msg 17/32/33"
                    );
                    // Updates pushed to the old session are gone; the new
                    // session's new_session_created is marked, not skipped.
                    self.server_session_seen = true;
                }
                Event::SaltChanged(_) => {
                    // The salt itself is key material of a kind: never logged.
                    tracing::debug!(session = self.shared.id, "server salt changed");
                    self.salts_dirty = true;
                }
                Event::TimeOffsetCorrected(offset) => {
                    tracing::debug!(session = self.shared.id, offset, "clock offset corrected");
                    self.salts_dirty = true;
                }
            }
        }
        if !updates.is_empty() {
            tracing::trace!(
                session = self.shared.id,
                count = updates.len(),
                "updates received"
            );
            self.send_updates(updates);
        }
    }

    fn send_updates(&self, updates: Vec<Vec<u8>>) {
        self.dispatch
            .send(DispatchItem::Updates(self.shared.clone(), updates));
    }

    /// the two errors that say the key itself is unusable.
    fn on_rpc_error(&mut self, code: i32, message: &str) {
        match (code, message) {
            (401, "AUTH_KEY_UNREGISTERED") => self.emit(StateEvent::AuthKeyUnregistered),
            (406, "AUTH_KEY_DUPLICATED") if !self.key_duplicated => {
                self.key_duplicated = true;
                self.emit(StateEvent::AuthKeyDuplicated);
            }
            _ => {}
        }
    }

    /// Gives back the table memory of a past burst of requests.
    fn shrink_when_idle(&mut self) {
        if self.pending.is_empty() && self.pending.capacity() > 64 {
            self.pending.shrink_to_fit();
            self.by_mtp.shrink_to_fit();
            self.waiting.shrink_to_fit();
        }
        if self.pending.is_empty() {
            if let Some(session) = self.session.as_mut() {
                session.shrink_when_idle();
            }
        }
    }

    /// Writes the salt and clock offset to the store, off the network
    /// thread, one write at a time (a change during a write is written
    /// after it).
    fn persist(&mut self) {
        if !self.salts_dirty || self.persist_job.as_ref().is_some_and(|j| !j.is_finished()) {
            return;
        }
        let Some(session) = self.session.as_ref() else {
            return;
        };
        self.salts_dirty = false;
        let salt = session.salt();
        let future: Vec<StoredSalt> = session
            .future_salts()
            .iter()
            .map(|s| StoredSalt {
                valid_since: s.valid_since,
                valid_until: s.valid_until,
                salt: s.salt,
            })
            .collect();
        let offset = session.time_offset();
        let store = self.cfg.store.clone();
        let dc = self.cfg.store_dc;
        self.persist_job = Some(tokio::task::spawn_blocking(move || {
            if let Err(e) = store
                .save_salts(dc, salt, &future)
                .and_then(|()| store.save_time_offset(dc, offset))
            {
                tracing::warn!(error = %e, "could not persist the salt and time offset");
            }
        }));
    }
}

enum KeyStep {
    Ready(Box<Conn>),
    Retry { flood: bool },
    Stop,
}
