//! [`Runtime`]: the one OS thread that runs all network work of its
//! sessions, plus the dispatcher thread that runs callbacks.
//!
//! The network thread runs a current-thread tokio runtime. Everything
//! reaches it through channels: [`Runtime::open_session`] sends an open
//! command, each [`ClientSession`] sends its requests to its own task. No
//! protocol code ever runs on a caller's thread, and no caller's code ever
//! runs on the network thread: callbacks go to the dispatcher thread
//! (module `dispatch`), so a blocking callback cannot stall pings, acks or other
//! sessions.
//!
//! Closing (explicitly or by drop) stops every session task, which ends
//! each pending request with [`Error::Closed`], then joins both threads.

mod dispatch;

pub(crate) use dispatch::{Dispatch, DispatchItem};

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::client::{ClientSession, Error, Prepared, SessionConfig, SessionShared};
use crate::net::Driver;
use crate::storage::DcState;

/// How long session tasks get to end their requests at shutdown before
/// they are aborted (their callers then see `Closed` anyway, because the
/// result channels are dropped).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

enum RuntimeCmd {
    Open(Box<OpenCmd>),
    Shutdown,
}

struct OpenCmd {
    prepared: Prepared,
    stored: Option<DcState>,
    shared: Arc<SessionShared>,
    cmds: mpsc::UnboundedReceiver<crate::client::SessionCmd>,
}

struct Threads {
    net: JoinHandle<()>,
    dispatcher: JoinHandle<()>,
}

/// Owns the network thread and the dispatcher thread of a set of sessions.
///
/// Create one per process (or per independent component); open any number
/// of sessions on it. Every method may be called from any thread. Dropping
/// it closes it.
pub struct Runtime {
    cmds: mpsc::UnboundedSender<RuntimeCmd>,
    threads: Mutex<Option<Threads>>,
    next_session: AtomicU64,
    /// Dropped by the network thread when it ends (lets tests see the join).
    #[cfg(test)]
    pub(crate) net_alive: std::sync::Weak<()>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Runtime {
    /// Starts the threads, named `mtproto-net` and `mtproto-dispatch`.
    pub fn new() -> Result<Runtime, Error> {
        Self::with_name("mtproto")
    }

    /// Starts the threads with a name prefix (shown by debuggers and `top`).
    pub fn with_name(name: &str) -> Result<Runtime, Error> {
        let start_err = |e: std::io::Error| Error::Transport(format!("cannot start a thread: {e}"));
        let (dispatch, dispatcher) =
            dispatch::start(&format!("{name}-dispatch")).map_err(start_err)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let alive = Arc::new(());
        #[cfg(test)]
        let net_alive = Arc::downgrade(&alive);
        let net = thread::Builder::new()
            .name(format!("{name}-net"))
            .spawn(move || {
                let _alive = alive;
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                rt.block_on(main_loop(rx, dispatch));
                rt.shutdown_timeout(SHUTDOWN_GRACE);
            });
        let net = match net {
            Ok(net) => net,
            Err(e) => {
                let _ = dispatcher.join();
                return Err(start_err(e));
            }
        };
        let started = ready_rx
            .recv()
            .unwrap_or_else(|_| Err("the runtime thread exited".into()));
        if let Err(e) = started {
            let _ = net.join();
            let _ = dispatcher.join();
            return Err(Error::Transport(format!("cannot start the runtime: {e}")));
        }
        Ok(Runtime {
            cmds: tx,
            threads: Mutex::new(Some(Threads { net, dispatcher })),
            next_session: AtomicU64::new(1),
            #[cfg(test)]
            net_alive,
        })
    }

    /// Opens a session. The configuration is checked and the store read on
    /// the calling thread (so mistakes come back here as
    /// [`Error::InvalidInput`] / [`Error::Storage`]); connecting, creating a
    /// key and everything after happen on the runtime thread. Requests may
    /// be sent at once: they wait for the connection.
    pub fn open_session(&self, config: SessionConfig) -> Result<ClientSession, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let prepared = config.prepare()?;
        let stored = prepared.store.load(prepared.store_dc)?;
        if stored.is_none() && prepared.rsa_keys.is_empty() {
            return Err(Error::InvalidInput(
                "no auth key is stored for this DC and no RSA public key was given to create one"
                    .into(),
            ));
        }
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(SessionShared::new(id, config.max_buffered_updates));
        let (tx, rx) = mpsc::unbounded_channel();
        let session = ClientSession::new(shared.clone(), tx, prepared.request_timeout);
        let open = OpenCmd {
            prepared,
            stored,
            shared,
            cmds: rx,
        };
        self.cmds
            .send(RuntimeCmd::Open(Box::new(open)))
            .map_err(|_| Error::Closed)?;
        Ok(session)
    }

    /// True once [`close`](Self::close) ran.
    pub fn is_closed(&self) -> bool {
        self.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// Closes every session (pending requests end with [`Error::Closed`]),
    /// stops the network thread and the dispatcher and joins them. Waits
    /// for a callback that is running to return. Idempotent. Called from a
    /// callback, it joins the network thread and lets the dispatcher end on
    /// its own once the callback returns.
    pub fn close(&self) {
        let threads = self
            .threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(threads) = threads else {
            return;
        };
        let _ = self.cmds.send(RuntimeCmd::Shutdown);
        let me = thread::current().id();
        if threads.net.thread().id() != me {
            let _ = threads.net.join();
        }
        if threads.dispatcher.thread().id() != me {
            let _ = threads.dispatcher.join();
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.close();
    }
}

/// The network thread's top level: spawns a task per session, and on
/// shutdown tells them all to end and waits (bounded) for them.
async fn main_loop(mut cmds: mpsc::UnboundedReceiver<RuntimeCmd>, dispatch: Dispatch) {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                Some(RuntimeCmd::Open(open)) => {
                    let OpenCmd { prepared, stored, shared, cmds } = *open;
                    let driver = Driver::new(
                        prepared,
                        stored,
                        shared,
                        cmds,
                        dispatch.clone(),
                        shutdown_rx.clone(),
                    );
                    tasks.spawn(driver.run());
                }
                Some(RuntimeCmd::Shutdown) | None => break,
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "session task failed");
                }
            }
        }
    }
    let _ = shutdown_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!("session tasks did not end in time; aborting them");
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives `fut` on the calling thread by parking it between wake-ups, for
/// at most `timeout`; `None` when the time ran out. Used for the blocking
/// forms of the API on threads outside tokio (a tokio oneshot needs no
/// runtime to be polled).
pub(crate) fn block_on_timeout<F: Future + Unpin>(
    mut fut: F,
    timeout: Duration,
) -> Option<F::Output> {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now().checked_add(timeout);
    loop {
        if let Poll::Ready(out) = Pin::new(&mut fut).poll(&mut cx) {
            return Some(out);
        }
        match deadline {
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return None;
                }
                thread::park_timeout(deadline - now);
            }
            None => thread::park(),
        }
    }
}
