//! Where a session's updates and state events go: a callback (on the
//! dispatcher thread, or on an event loop), or a bounded buffer that
//! `async for` iterators take from.
//!
//! The binding installs its core handlers once, when the session opens, and
//! routes from there, so every item is handed over exactly once, in order,
//! whichever consumer is current: items that arrive while nobody listens
//! wait in the buffer and go to the next consumer first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use mtproto::client::StateEvent;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::{PyTraverseError, PyVisit};

use crate::bridge::{deliver, lock, BridgeInner, Delivery, Item};
use crate::errors::invalid_input;

/// Something a hub carries: an update (TL bytes) or a state event.
pub(crate) trait Payload: Send + Sized + 'static {
    fn wrap(items: Vec<Self>) -> Delivery;
}

impl Payload for Vec<u8> {
    fn wrap(items: Vec<Self>) -> Delivery {
        Delivery::Updates(items)
    }
}

impl Payload for StateEvent {
    fn wrap(items: Vec<Self>) -> Delivery {
        Delivery::States(items)
    }
}

static MAKE_STATE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `mtproto.StateEvent` for a core event (built by `mtproto._types`).
pub(crate) fn state_event_value<'py>(
    py: Python<'py>,
    e: &StateEvent,
) -> PyResult<Bound<'py, PyAny>> {
    let make = MAKE_STATE.get_or_try_init(py, || {
        Ok::<_, PyErr>(
            py.import("mtproto._types")?
                .getattr("_state_event")?
                .unbind(),
        )
    })?;
    let (name, delay) = match e {
        StateEvent::Connecting => ("connecting", None),
        StateEvent::Connected => ("connected", None),
        StateEvent::WaitingToReconnect { delay } => {
            ("waiting_to_reconnect", Some(delay.as_secs_f64()))
        }
        StateEvent::KeyCreated => ("key_created", None),
        StateEvent::ServerSessionCreated => ("server_session_created", None),
        StateEvent::AuthKeyUnregistered => ("auth_key_unregistered", None),
        StateEvent::AuthKeyDuplicated => ("auth_key_duplicated", None),
        StateEvent::AuthKeyLost => ("auth_key_lost", None),
        StateEvent::Closed => ("closed", None),
    };
    make.bind(py).call1((name, delay))
}

/// Who receives a hub's items.
pub(crate) enum Consumer {
    /// Nobody: items wait in the buffer for an iterator.
    Buffer,
    /// A callback run on the dispatcher thread (registered outside a loop).
    Thread(Arc<Py<PyAny>>),
    /// A callback run on an event loop (registered from async code).
    Loop(Arc<Py<PyAny>>, Arc<BridgeInner>),
}

struct State<T> {
    consumer: Consumer,
    buffer: VecDeque<T>,
    /// Futures of iterators waiting for the next item.
    waiters: Vec<(Py<PyAny>, Arc<BridgeInner>)>,
    closed: bool,
    /// A thread is calling the `Thread` callback; others only append.
    delivering: bool,
}

/// See the module documentation. `limit` bounds the buffer: beyond it the
/// oldest items are dropped, as the core does for unclaimed updates.
pub(crate) struct Hub<T> {
    state: Mutex<State<T>>,
    limit: usize,
    what: &'static str,
}

/// What [`Hub::take`] found.
pub(crate) enum Taken<T> {
    Item(T),
    /// Nothing yet; the future will be woken.
    Waiting,
}

impl<T: Payload> Hub<T> {
    pub fn new(limit: usize, what: &'static str) -> Arc<Self> {
        Arc::new(Hub {
            state: Mutex::new(State {
                consumer: Consumer::Buffer,
                buffer: VecDeque::new(),
                waiters: Vec::new(),
                closed: false,
                delivering: false,
            }),
            limit: limit.max(1),
            what,
        })
    }

    fn bound(&self, st: &mut State<T>) {
        let excess = st.buffer.len().saturating_sub(self.limit);
        if excess > 0 {
            st.buffer.drain(..excess);
            eprintln_once(self.what);
        }
    }

    /// New items from the core (dispatcher thread, GIL not held).
    pub fn push(&self, items: Vec<T>) {
        if items.is_empty() {
            return;
        }
        let mut st = lock(&self.state);
        match &st.consumer {
            Consumer::Loop(cb, bridge) => {
                let bridge = bridge.clone();
                let need = bridge.enqueue([Item::Deliver(cb.clone(), T::wrap(items))]);
                drop(st);
                if need {
                    bridge.schedule();
                }
            }
            Consumer::Thread(_) => {
                st.buffer.extend(items);
                self.bound(&mut st);
                drop(st);
                self.deliver_on_this_thread();
            }
            Consumer::Buffer => {
                st.buffer.extend(items);
                self.bound(&mut st);
                let wake = wake_all(&mut st);
                drop(st);
                schedule_all(wake);
            }
        }
    }

    /// Calls the `Thread` callback with everything buffered, until the
    /// buffer stays empty. Only one thread delivers at a time (the
    /// `delivering` flag), so items keep their order even when the thread
    /// that sets a callback hands it the buffered items while the
    /// dispatcher brings new ones.
    fn deliver_on_this_thread(&self) {
        loop {
            let (cb, items) = {
                let mut st = lock(&self.state);
                if st.delivering || st.buffer.is_empty() {
                    return;
                }
                let Consumer::Thread(cb) = &st.consumer else {
                    return;
                };
                let cb = cb.clone();
                st.delivering = true;
                (cb, st.buffer.drain(..).collect::<Vec<T>>())
            };
            // Interpreter shutting down (None): the items cannot be delivered.
            let _ = Python::try_attach(|py| deliver(py, cb.bind(py), T::wrap(items)));
            lock(&self.state).delivering = false;
        }
    }

    /// Sets who receives items; buffered items go to the new consumer first.
    pub fn set_consumer(&self, consumer: Consumer) {
        let mut st = lock(&self.state);
        st.consumer = consumer;
        // Iterators waiting for items will not get any now: let them look
        // again (and learn that a callback took over).
        let mut wake = wake_all(&mut st);
        let thread = match &st.consumer {
            Consumer::Loop(cb, bridge) if !st.buffer.is_empty() => {
                let (cb, bridge) = (cb.clone(), bridge.clone());
                let items: Vec<T> = st.buffer.drain(..).collect();
                if bridge.enqueue([Item::Deliver(cb, T::wrap(items))]) {
                    wake.push(bridge);
                }
                false
            }
            Consumer::Thread(_) => true,
            _ => false,
        };
        drop(st);
        schedule_all(wake);
        if thread {
            self.deliver_on_this_thread();
        }
    }

    /// The next buffered item for an iterator; `Waiting` registers `fut`
    /// to be resolved when there is news. Raises `StopAsyncIteration` once
    /// the session closed and the buffer is empty, and `InvalidInput` while
    /// a callback receives the items (they would never reach the iterator).
    pub fn take(
        &self,
        py: Python<'_>,
        fut: Py<PyAny>,
        bridge: &Arc<BridgeInner>,
    ) -> PyResult<Taken<T>> {
        let mut st = lock(&self.state);
        if !matches!(st.consumer, Consumer::Buffer) {
            drop(st);
            return Err(invalid_input(
                py,
                format!(
                    "a {} handler is set: iterate only after clear_{}_handler()",
                    self.what, self.what
                ),
                None,
            ));
        }
        if let Some(item) = st.buffer.pop_front() {
            return Ok(Taken::Item(item));
        }
        if st.closed {
            return Err(PyStopAsyncIteration::new_err(()));
        }
        st.waiters.push((fut, bridge.clone()));
        Ok(Taken::Waiting)
    }

    /// Drops a waiter whose iterator was cancelled, so a loop of timed-out
    /// waits does not grow the list. Compares identities only: no Python
    /// code runs while the hub is locked.
    pub fn forget(&self, fut: &Bound<'_, PyAny>) {
        let ptr = fut.as_ptr();
        lock(&self.state).waiters.retain(|(f, _)| f.as_ptr() != ptr);
    }

    /// No more items will come: iterators end once the buffer is empty.
    pub fn close(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        let wake = wake_all(&mut st);
        drop(st);
        schedule_all(wake);
    }

    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Shows the garbage collector the Python objects the hub owns (the
    /// callback and waiting futures), so a handler that references its own
    /// session does not keep an unclosed session alive forever. Skipped if
    /// the hub is busy: traversal must not block.
    pub fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        let Ok(st) = self.state.try_lock() else {
            return Ok(());
        };
        match &st.consumer {
            Consumer::Thread(cb) | Consumer::Loop(cb, _) => visit.call(&**cb)?,
            Consumer::Buffer => {}
        }
        for (fut, _) in &st.waiters {
            visit.call(fut)?;
        }
        Ok(())
    }

    /// Drops the hub's Python references (the collector breaking a cycle).
    pub fn clear(&self) {
        let (consumer, waiters) = {
            let mut st = lock(&self.state);
            (
                std::mem::replace(&mut st.consumer, Consumer::Buffer),
                std::mem::take(&mut st.waiters),
            )
        };
        drop((consumer, waiters));
    }
}

/// Queues a wake-up for every waiting iterator; returns the bridges that
/// need a drain scheduled (done after the hub lock is released).
fn wake_all<T>(st: &mut State<T>) -> Vec<Arc<BridgeInner>> {
    let mut out: Vec<Arc<BridgeInner>> = Vec::new();
    for (fut, bridge) in st.waiters.drain(..) {
        if bridge.enqueue([Item::Wake(fut)]) && !out.iter().any(|b| Arc::ptr_eq(b, &bridge)) {
            out.push(bridge);
        }
    }
    out
}

fn schedule_all(bridges: Vec<Arc<BridgeInner>>) {
    for b in bridges {
        b.schedule();
    }
}

/// Tells once per process that a buffer overflowed. Printed rather than
/// logged through Python: this runs on the dispatcher thread, which must
/// not wait for the GIL for bookkeeping.
fn eprintln_once(what: &str) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static TOLD: AtomicBool = AtomicBool::new(false);
    if !TOLD.swap(true, Ordering::Relaxed) {
        eprintln!(
            "mtproto: {what} buffer full, oldest dropped: set a {what} handler or iterate {what}s"
        );
    }
}
