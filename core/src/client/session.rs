//! [`ClientSession`]: the caller's handle on one session, and the one
//! bridge between callers and the runtime thread.
//!
//! Every call turns into a [`SessionCmd`] on the session task's channel.
//! A request carries a `tokio::sync::oneshot` sender (or a completion
//! callback); the caller keeps the receiver and either awaits it
//! ([`Invoke`]) or parks on it with a timeout ([`ClientSession::invoke_blocking`]).
//! Nothing here blocks on the network thread, so this is safe to call from
//! async code, plain threads and foreign threads alike.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;

use super::{check_request, Error, StateEvent};
use crate::runtime::block_on_timeout;

/// Identifies a request of one session, for [`ClientSession::cancel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// The result of a request as delivered to a caller.
pub type RequestResult = Result<Vec<u8>, Error>;

/// Called on the dispatcher thread with the next batch of updates of one
/// session, in the order the server sent them.
pub type UpdateHandler = Arc<dyn Fn(&[Vec<u8>]) + Send + Sync>;
/// Called on the dispatcher thread with each state change of one session.
pub type StateHandler = Arc<dyn Fn(&StateEvent) + Send + Sync>;

/// How a request's end reaches its caller.
pub(crate) enum Completion {
    /// An awaited or blocking caller holds the receiver.
    Channel(oneshot::Sender<RequestResult>),
    /// Called once on the dispatcher thread (for foreign completion
    /// callbacks, which must not run on the network thread).
    Callback(Box<dyn FnOnce(RequestResult) + Send>),
    /// Called once on the network thread, the moment the request ends
    /// (see [`ClientSession::invoke_with_inline_callback`]).
    Inline(Box<dyn FnOnce(RequestResult) + Send>),
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Completion::Channel(_) => "Completion::Channel",
            Completion::Callback(_) => "Completion::Callback",
            Completion::Inline(_) => "Completion::Inline",
        })
    }
}

/// A command from a caller to the session task.
#[derive(Debug)]
pub(crate) enum SessionCmd {
    Invoke {
        id: RequestId,
        body: Vec<u8>,
        deadline: Instant,
        completion: Completion,
    },
    Cancel(RequestId),
    /// A handler was just set: deliver buffered updates and state events.
    FlushUpdates,
    Close,
}

/// What callers, the session task and the dispatcher share.
pub(crate) struct SessionShared {
    pub id: u64,
    closed: AtomicBool,
    next_request: AtomicU64,
    update_handler: Mutex<Option<UpdateHandler>>,
    state_handler: Mutex<Option<StateHandler>>,
    /// State events that happened while no state handler was set (at
    /// most [`MAX_PENDING_STATES`], oldest dropped), delivered to the next
    /// handler first, on the dispatcher thread.
    pending_states: Mutex<std::collections::VecDeque<StateEvent>>,
    pub updates: UpdateQueue,
}

/// How many state events are kept for a handler set later.
const MAX_PENDING_STATES: usize = 64;

/// Locks a mutex whose data stays consistent even if a holder panicked
/// (each critical section below is a single assignment or queue op).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SessionShared {
    pub fn new(id: u64, max_buffered_updates: usize) -> Self {
        SessionShared {
            id,
            closed: AtomicBool::new(false),
            next_request: AtomicU64::new(1),
            update_handler: Mutex::new(None),
            state_handler: Mutex::new(None),
            pending_states: Mutex::new(std::collections::VecDeque::new()),
            updates: UpdateQueue::new(max_buffered_updates),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub fn update_handler(&self) -> Option<UpdateHandler> {
        lock(&self.update_handler).clone()
    }

    pub fn state_handler(&self) -> Option<StateHandler> {
        lock(&self.state_handler).clone()
    }

    /// Keeps a state event for a handler set later.
    pub fn buffer_state(&self, event: StateEvent) {
        let mut q = lock(&self.pending_states);
        if q.len() >= MAX_PENDING_STATES {
            q.pop_front();
        }
        q.push_back(event);
    }

    /// Takes the buffered state events, oldest first.
    pub fn take_pending_states(&self) -> Vec<StateEvent> {
        lock(&self.pending_states).drain(..).collect()
    }
}

/// Updates waiting for a caller that pulls them instead of taking
/// callbacks. Bounded: beyond the limit the oldest are dropped.
pub(crate) struct UpdateQueue {
    state: Mutex<QueueState>,
    /// Wakes blocking pullers.
    cond: Condvar,
    /// Wakes an async puller.
    notify: Notify,
    limit: usize,
}

#[derive(Default)]
struct QueueState {
    items: VecDeque<Vec<u8>>,
    closed: bool,
}

impl UpdateQueue {
    fn new(limit: usize) -> Self {
        UpdateQueue {
            state: Mutex::new(QueueState::default()),
            cond: Condvar::new(),
            notify: Notify::new(),
            limit: limit.max(1),
        }
    }

    /// Appends a batch (dispatcher thread).
    pub fn push(&self, batch: Vec<Vec<u8>>) {
        let mut st = lock(&self.state);
        st.items.extend(batch);
        let excess = st.items.len().saturating_sub(self.limit);
        if excess > 0 {
            st.items.drain(..excess);
            tracing::warn!(
                dropped = excess,
                "update buffer full: set an update handler or pull updates"
            );
        }
        drop(st);
        self.cond.notify_all();
        self.notify.notify_one();
    }

    /// Everything buffered, oldest first.
    pub fn take_all(&self) -> Vec<Vec<u8>> {
        lock(&self.state).items.drain(..).collect()
    }

    /// No more updates will come (the session closed).
    pub fn close(&self) {
        lock(&self.state).closed = true;
        self.cond.notify_all();
        self.notify.notify_one();
    }

    fn take(st: &mut QueueState, max: usize) -> Vec<Vec<u8>> {
        let n = st.items.len().min(max.max(1));
        st.items.drain(..n).collect()
    }

    /// Up to `max` updates; waits up to `timeout` for the first. An empty
    /// batch means the timeout passed; `Closed` that none will ever come.
    pub fn next_blocking(&self, max: usize, timeout: Duration) -> Result<Vec<Vec<u8>>, Error> {
        let st = lock(&self.state);
        let (mut st, _) = self
            .cond
            .wait_timeout_while(st, timeout, |s| s.items.is_empty() && !s.closed)
            .unwrap_or_else(|e| e.into_inner());
        if !st.items.is_empty() {
            return Ok(Self::take(&mut st, max));
        }
        if st.closed {
            return Err(Error::Closed);
        }
        Ok(Vec::new())
    }

    /// Up to `max` updates, waiting (asynchronously) for the first.
    pub async fn next(&self, max: usize) -> Result<Vec<Vec<u8>>, Error> {
        loop {
            {
                let mut st = lock(&self.state);
                if !st.items.is_empty() {
                    return Ok(Self::take(&mut st, max));
                }
                if st.closed {
                    return Err(Error::Closed);
                }
            }
            // notify_one stores a permit when nobody waits, so a push
            // between the check above and this await is not lost.
            self.notify.notified().await;
        }
    }
}

/// A session: one auth key on one DC. Cheap to clone; all clones are the
/// same session. Dropping the last clone closes it.
#[derive(Clone)]
pub struct ClientSession {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<SessionShared>,
    cmds: mpsc::UnboundedSender<SessionCmd>,
    request_timeout: Duration,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.cmds.send(SessionCmd::Close);
    }
}

impl fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSession")
            .field("id", &self.handle.shared.id)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Extra time a blocking caller waits beyond the request's own timeout
/// before giving up on the runtime thread itself. The session task ends
/// every request at its deadline; this only guards against a runtime that
/// stopped responding.
const BLOCKING_GRACE: Duration = Duration::from_secs(5);

impl ClientSession {
    pub(crate) fn new(
        shared: Arc<SessionShared>,
        cmds: mpsc::UnboundedSender<SessionCmd>,
        request_timeout: Duration,
    ) -> Self {
        ClientSession {
            handle: Arc::new(Handle {
                shared,
                cmds,
                request_timeout,
            }),
        }
    }

    /// A number that identifies this session within its runtime.
    pub fn id(&self) -> u64 {
        self.handle.shared.id
    }

    /// True once the session was closed (by [`close`](Self::close), its
    /// runtime, or a terminal error).
    pub fn is_closed(&self) -> bool {
        self.handle.shared.is_closed() || self.handle.cmds.is_closed()
    }

    fn next_id(&self) -> RequestId {
        RequestId(
            self.handle
                .shared
                .next_request
                .fetch_add(1, Ordering::Relaxed),
        )
    }

    /// Validates and sends one request; the error is returned instead when
    /// it cannot be sent.
    fn submit(
        &self,
        id: RequestId,
        body: Vec<u8>,
        timeout: Duration,
        completion: Completion,
    ) -> Result<(), (Error, Option<Completion>)> {
        if let Err(e) = check_request(&body) {
            return Err((e, Some(completion)));
        }
        if timeout.is_zero() {
            return Err((
                Error::InvalidInput("the timeout must be positive".into()),
                Some(completion),
            ));
        }
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            return Err((
                Error::InvalidInput("the timeout is too large".into()),
                Some(completion),
            ));
        };
        if self.handle.shared.is_closed() {
            return Err((Error::Closed, Some(completion)));
        }
        let cmd = SessionCmd::Invoke {
            id,
            body,
            deadline,
            completion,
        };
        self.handle.cmds.send(cmd).map_err(|returned| {
            let completion = match returned.0 {
                SessionCmd::Invoke { completion, .. } => Some(completion),
                _ => None,
            };
            (Error::Closed, completion)
        })
    }

    /// Sends a TL-serialized request; the future resolves to the
    /// TL-serialized result, or an error. Ends within the configured
    /// `request_timeout`. Dropping the future cancels the request (the
    /// server is asked to drop the answer, S-20).
    pub fn invoke(&self, request: impl Into<Vec<u8>>) -> Invoke {
        self.invoke_with_timeout(request, self.handle.request_timeout)
    }

    /// [`invoke`](Self::invoke) with its own timeout.
    pub fn invoke_with_timeout(&self, request: impl Into<Vec<u8>>, timeout: Duration) -> Invoke {
        let id = self.next_id();
        let (tx, rx) = oneshot::channel();
        match self.submit(id, request.into(), timeout, Completion::Channel(tx)) {
            Ok(()) => Invoke {
                id,
                state: InvokeState::Waiting(rx),
                cmds: Some(self.handle.cmds.clone()),
            },
            Err((e, _)) => Invoke {
                id,
                state: InvokeState::Ready(Some(Err(e))),
                cmds: None,
            },
        }
    }

    /// Sends a request and blocks the calling thread until it ends, at most
    /// about `timeout`. For threads outside any async runtime (C callers,
    /// Python with the GIL released). Do not call it from an async task:
    /// it parks the thread.
    pub fn invoke_blocking(&self, request: impl Into<Vec<u8>>, timeout: Duration) -> RequestResult {
        let invoke = self.invoke_with_timeout(request, timeout);
        let limit = timeout.saturating_add(BLOCKING_GRACE);
        // On the rare path where the runtime does not answer, dropping
        // `invoke` sends the cancel.
        block_on_timeout(invoke, limit).unwrap_or(Err(Error::Timeout))
    }

    /// Sends a request; `callback` receives its end exactly once, on the
    /// dispatcher thread (or on this thread, before returning, when the
    /// request is refused at once). Returns the id for [`cancel`](Self::cancel).
    pub fn invoke_with_callback(
        &self,
        request: impl Into<Vec<u8>>,
        timeout: Duration,
        callback: impl FnOnce(RequestResult) + Send + 'static,
    ) -> RequestId {
        self.submit_callback(
            request.into(),
            timeout,
            Box::new(callback),
            Completion::Callback,
        )
    }

    /// [`invoke_with_callback`](Self::invoke_with_callback) whose `callback`
    /// runs on the network thread as soon as the request ends, skipping the
    /// hop to the dispatcher thread. For bindings with a wake-up of their
    /// own: the callback must return at once and never block, take a lock
    /// held for long, call into a foreign runtime or back into this
    /// library (push the result to a queue and wake its consumer, e.g. by
    /// writing a byte to an event loop's file descriptor): while it runs,
    /// no session of the runtime makes progress.
    pub fn invoke_with_inline_callback(
        &self,
        request: impl Into<Vec<u8>>,
        timeout: Duration,
        callback: impl FnOnce(RequestResult) + Send + 'static,
    ) -> RequestId {
        self.submit_callback(
            request.into(),
            timeout,
            Box::new(callback),
            Completion::Inline,
        )
    }

    /// Submits with a callback completion of either kind; a request refused
    /// at once gets its error on this thread, before this returns.
    fn submit_callback(
        &self,
        request: Vec<u8>,
        timeout: Duration,
        callback: Box<dyn FnOnce(RequestResult) + Send>,
        kind: fn(Box<dyn FnOnce(RequestResult) + Send>) -> Completion,
    ) -> RequestId {
        let id = self.next_id();
        if let Err((e, Some(Completion::Callback(cb) | Completion::Inline(cb)))) =
            self.submit(id, request, timeout, kind(callback))
        {
            cb(Err(e));
        }
        id
    }

    /// Ends a request with [`Error::Cancelled`]; if it was sent, the server
    /// is asked not to send (or to stop resending) the answer (S-20).
    /// Unknown or finished ids are ignored.
    pub fn cancel(&self, id: RequestId) {
        let _ = self.handle.cmds.send(SessionCmd::Cancel(id));
    }

    /// Receives the session's updates (server-pushed messages, TL bytes) in
    /// batches, in order, on the dispatcher thread. Updates buffered before
    /// the handler was set are delivered to it first. Replaces any
    /// previous handler. A panic in the handler is caught and logged.
    pub fn set_update_handler(&self, handler: impl Fn(&[Vec<u8>]) + Send + Sync + 'static) {
        *lock(&self.handle.shared.update_handler) = Some(Arc::new(handler));
        let _ = self.handle.cmds.send(SessionCmd::FlushUpdates);
    }

    /// Stops callbacks; later updates are buffered for pulling.
    pub fn clear_update_handler(&self) {
        *lock(&self.handle.shared.update_handler) = None;
    }

    /// Pulls up to `max` updates, waiting up to `timeout` for the first.
    /// An empty batch means the timeout passed; [`Error::Closed`] means the
    /// session closed and everything was taken. Blocks the thread: for
    /// callers that want no callbacks (C, foreign threads).
    pub fn next_updates(&self, max: usize, timeout: Duration) -> Result<Vec<Vec<u8>>, Error> {
        self.handle.shared.updates.next_blocking(max, timeout)
    }

    /// The async form of [`next_updates`](Self::next_updates): waits for
    /// at least one update. Use one consumer per session.
    pub async fn recv_updates(&self, max: usize) -> Result<Vec<Vec<u8>>, Error> {
        self.handle.shared.updates.next(max).await
    }

    /// Receives connection state changes on the dispatcher thread. Events
    /// that happened before a handler was set (e.g. `Connecting` right
    /// after `open_session`) are delivered to it first, in order.
    pub fn set_state_handler(&self, handler: impl Fn(&StateEvent) + Send + Sync + 'static) {
        *lock(&self.handle.shared.state_handler) = Some(Arc::new(handler));
        let _ = self.handle.cmds.send(SessionCmd::FlushUpdates);
    }

    pub fn clear_state_handler(&self) {
        *lock(&self.handle.shared.state_handler) = None;
    }

    /// Closes the session: every pending request ends with
    /// [`Error::Closed`], the connection is dropped, the state handler
    /// gets [`StateEvent::Closed`]. Later calls fail with `Closed`.
    /// Returns at once; the rest happens on the runtime thread.
    pub fn close(&self) {
        self.handle.shared.mark_closed();
        let _ = self.handle.cmds.send(SessionCmd::Close);
    }
}

/// The future of one request (see [`ClientSession::invoke`]).
///
/// Dropping it before it resolves cancels the request.
#[must_use = "a request is cancelled when its future is dropped"]
pub struct Invoke {
    id: RequestId,
    state: InvokeState,
    /// Where a cancel goes if the future is dropped early.
    cmds: Option<mpsc::UnboundedSender<SessionCmd>>,
}

enum InvokeState {
    /// Refused before it was sent.
    Ready(Option<RequestResult>),
    Waiting(oneshot::Receiver<RequestResult>),
    Done,
}

impl Invoke {
    /// The id to pass to [`ClientSession::cancel`].
    pub fn id(&self) -> RequestId {
        self.id
    }
}

impl fmt::Debug for Invoke {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invoke").field("id", &self.id).finish()
    }
}

impl Future for Invoke {
    type Output = RequestResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RequestResult> {
        let this = &mut *self;
        let out = match &mut this.state {
            InvokeState::Ready(r) => r.take().unwrap_or(Err(Error::Closed)),
            InvokeState::Waiting(rx) => match Pin::new(rx).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(r)) => r,
                // The session task is gone without answering: closed.
                Poll::Ready(Err(_)) => Err(Error::Closed),
            },
            InvokeState::Done => Err(Error::Closed),
        };
        this.state = InvokeState::Done;
        Poll::Ready(out)
    }
}

impl Drop for Invoke {
    fn drop(&mut self) {
        if let (InvokeState::Waiting(_), Some(cmds)) = (&self.state, &self.cmds) {
            let _ = cmds.send(SessionCmd::Cancel(self.id));
        }
    }
}
