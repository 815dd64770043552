//! The bridge from the dispatcher thread to an asyncio event loop.
//!
//! Request completions, wake-ups of `async for` iterators and update/state
//! callbacks registered from async code all end on the loop's thread. The
//! dispatcher thread does not take the GIL for each of them: it appends to
//! a Rust queue, and only the push that finds the queue idle schedules one
//! `loop.call_soon_threadsafe(drain)` (the one moment it needs the GIL).
//! The drain then runs on the loop and handles everything queued by then in
//! one go. Under load a drain resolves hundreds of futures, so the GIL
//! hand-over and the loop wake-up are paid once per batch, not per request.

use std::sync::{Arc, Mutex, MutexGuard};

use mtproto::client::{Error, RequestResult, StateEvent};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::{intern, PyTraverseError, PyVisit};

use crate::errors::{error_value, log_callback_error};
use crate::hub::state_event_value;

/// Locks a mutex whose data stays consistent even if a holder panicked
/// (every critical section here is a push or a take).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a callback receives when it runs on the loop.
pub(crate) enum Delivery {
    Updates(Vec<Vec<u8>>),
    States(Vec<StateEvent>),
}

/// Work for the loop's thread.
pub(crate) enum Item {
    /// Resolve an `asyncio.Future` with a request's result.
    Resolve(Py<PyAny>, RequestResult),
    /// Resolve an `asyncio.Future` with `None` (an iterator may look again).
    Wake(Py<PyAny>),
    /// Call a callback once per delivered item.
    Deliver(Arc<Py<PyAny>>, Delivery),
}

#[derive(Default)]
struct Queue {
    items: Vec<Item>,
    /// A drain is scheduled and has not yet taken the queue.
    scheduled: bool,
    /// A byte is in the wake socket and has not yet been read.
    woken: bool,
}

/// A socket pair whose read end the loop watches (`loop.add_reader`): a
/// producer on any thread wakes the loop by writing one byte, with no GIL.
/// The loop then drains on its own thread, where the GIL is free to take.
#[cfg(unix)]
mod wake {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    pub struct Waker {
        read: UnixStream,
        write: UnixStream,
    }

    impl Waker {
        pub fn new() -> Option<Waker> {
            let (read, write) = UnixStream::pair().ok()?;
            read.set_nonblocking(true).ok()?;
            write.set_nonblocking(true).ok()?;
            Some(Waker { read, write })
        }

        /// The descriptor the loop watches.
        pub fn fd(&self) -> i32 {
            self.read.as_raw_fd()
        }

        /// WouldBlock: the socket is full of wake-ups the loop has not read
        /// yet; one more adds nothing.
        pub fn wake(&self) {
            let _ = (&self.write).write(&[1]);
        }

        pub fn clear(&self) {
            let mut buf = [0u8; 256];
            while matches!((&self.read).read(&mut buf), Ok(n) if n > 0) {}
        }
    }
}

/// Elsewhere the loop cannot watch a socket pair the same way; completions
/// go through the dispatcher and `call_soon_threadsafe`.
#[cfg(not(unix))]
mod wake {
    pub struct Waker;

    impl Waker {
        pub fn new() -> Option<Waker> {
            None
        }
        pub fn fd(&self) -> i32 {
            -1
        }
        pub fn wake(&self) {}
        pub fn clear(&self) {}
    }
}

use wake::Waker;

/// The shared part of a [`LoopBridge`]; producers on any thread hold an `Arc`.
pub(crate) struct BridgeInner {
    call_soon_threadsafe: Py<PyAny>,
    queue: Mutex<Queue>,
    /// `None` where the loop cannot watch a file descriptor (Windows'
    /// proactor loop): completions then go through the dispatcher.
    waker: Option<Waker>,
}

impl BridgeInner {
    /// Appends items. Returns true when the caller must call
    /// [`schedule`](Self::schedule) (after releasing its own locks: that
    /// takes the GIL, and no lock may be held while waiting for it).
    #[must_use]
    pub fn enqueue(&self, items: impl IntoIterator<Item = Item>) -> bool {
        let mut q = lock(&self.queue);
        q.items.extend(items);
        !q.items.is_empty() && !std::mem::replace(&mut q.scheduled, true)
    }

    /// Whether [`push_inline`](Self::push_inline) may be used.
    pub fn wakes_without_gil(&self) -> bool {
        self.waker.is_some()
    }

    /// Appends an item from any thread, the network thread included: never
    /// takes the GIL and never blocks (a short queue lock and, when the loop
    /// is not already woken, one non-blocking write). Only with a waker.
    pub fn push_inline(&self, item: Item) {
        let wake = {
            let mut q = lock(&self.queue);
            q.items.push(item);
            !std::mem::replace(&mut q.woken, true)
        };
        if let (true, Some(w)) = (wake, &self.waker) {
            w.wake();
        }
    }

    /// [`enqueue`](Self::enqueue) then, if needed, [`schedule`](Self::schedule).
    pub fn push(self: &Arc<Self>, item: Item) {
        if self.enqueue([item]) {
            self.schedule();
        }
    }

    /// Asks the loop to run a drain soon. Takes the GIL (this is the only
    /// place the dispatcher does so for async callers).
    pub fn schedule(self: &Arc<Self>) {
        // None: the interpreter is shutting down; nothing can run any more.
        let _ = Python::try_attach(|py| {
            let scheduled = Py::new(
                py,
                Drain {
                    bridge: self.clone(),
                },
            )
            .and_then(|drain| self.call_soon_threadsafe.call1(py, (drain,)));
            if scheduled.is_err() {
                // The loop is closed. Its futures can never be awaited:
                // drop them. Callbacks registered on it still get their
                // updates and events, here, so none is lost.
                let items = {
                    let mut q = lock(&self.queue);
                    q.scheduled = false;
                    std::mem::take(&mut q.items)
                };
                for item in items {
                    if let Item::Deliver(callback, delivery) = item {
                        deliver(py, callback.bind(py), delivery);
                    }
                }
            }
        });
    }

    /// Runs on the loop: handles everything queued so far.
    fn drain(&self, py: Python<'_>) {
        if let Some(w) = &self.waker {
            // Read the wake-ups first: a push after this writes a new one.
            w.clear();
        }
        let items = {
            let mut q = lock(&self.queue);
            q.scheduled = false;
            q.woken = false;
            std::mem::take(&mut q.items)
        };
        for item in items {
            match item {
                Item::Resolve(fut, result) => resolve(py, fut.bind(py), result),
                Item::Wake(fut) => {
                    // Err: the waiter was cancelled meanwhile; nothing to wake.
                    let _ = fut
                        .bind(py)
                        .call_method1(intern!(py, "set_result"), (py.None(),));
                }
                Item::Deliver(callback, delivery) => deliver(py, callback.bind(py), delivery),
            }
        }
    }
}

/// Sets a future's result or exception. A future whose task was cancelled
/// is already done: `set_result` then raises `InvalidStateError`, which is
/// ignored (cheaper than asking `done()` first for every request).
fn resolve(py: Python<'_>, fut: &Bound<'_, PyAny>, result: Result<Vec<u8>, Error>) {
    let _ = match result {
        Ok(bytes) => fut.call_method1(intern!(py, "set_result"), (PyBytes::new(py, &bytes),)),
        Err(e) => fut.call_method1(intern!(py, "set_exception"), (error_value(py, &e),)),
    };
}

/// Calls `callback` once per item, in order. An exception is logged and the
/// next item is delivered all the same.
pub(crate) fn deliver(py: Python<'_>, callback: &Bound<'_, PyAny>, delivery: Delivery) {
    match delivery {
        Delivery::Updates(batch) => {
            for update in batch {
                if let Err(e) = callback.call1((PyBytes::new(py, &update),)) {
                    log_callback_error(py, "the update handler", e);
                }
            }
        }
        Delivery::States(events) => {
            for event in events {
                let r = state_event_value(py, &event).and_then(|v| callback.call1((v,)));
                if let Err(e) = r {
                    log_callback_error(py, "the state handler", e);
                }
            }
        }
    }
}

/// The drain callable handed to `call_soon_threadsafe`.
#[pyclass(module = "mtproto._native", frozen)]
struct Drain {
    bridge: Arc<BridgeInner>,
}

#[pymethods]
impl Drain {
    fn __call__(&self, py: Python<'_>) {
        self.bridge.drain(py);
    }
}

/// Connects sessions to one asyncio event loop. Create one per loop
/// (`LoopBridge(loop)`); the `mtproto` package does this for you.
#[pyclass(module = "mtproto._native", frozen)]
pub struct LoopBridge {
    pub(crate) inner: Arc<BridgeInner>,
    event_loop: Py<PyAny>,
    /// The descriptor registered with `add_reader`, removed on drop.
    reader: Option<i32>,
}

impl Drop for LoopBridge {
    /// Unregisters the reader, through the loop (drop may run on any
    /// thread). The loop's handle keeps the sockets open until then. A
    /// closed loop refuses the call; its reader went with its selector.
    fn drop(&mut self) {
        if let Some(fd) = self.reader {
            let _ = Python::try_attach(|py| {
                let event_loop = self.event_loop.bind(py);
                if let Ok(remove) = event_loop.getattr("remove_reader") {
                    let _ = self.inner.call_soon_threadsafe.call1(py, (remove, fd));
                }
            });
        }
    }
}

#[pymethods]
impl LoopBridge {
    /// Must be created on the loop's thread (it registers a reader).
    #[new]
    fn new(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Self> {
        let call_soon_threadsafe = event_loop.getattr("call_soon_threadsafe")?.unbind();
        let waker = Waker::new();
        let fd = waker.as_ref().map(Waker::fd);
        let inner = Arc::new(BridgeInner {
            call_soon_threadsafe,
            queue: Mutex::new(Queue::default()),
            waker,
        });
        let mut registered = false;
        if let Some(fd) = fd {
            let drain = Py::new(
                py,
                Drain {
                    bridge: inner.clone(),
                },
            )?;
            // NotImplementedError on loops that cannot watch descriptors.
            registered = event_loop.call_method1("add_reader", (fd, drain)).is_ok();
        }
        let inner = if registered {
            inner
        } else {
            // No reader: the waker would wake nobody.
            let BridgeInner {
                call_soon_threadsafe,
                queue,
                ..
            } = Arc::try_unwrap(inner)
                .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("bridge still shared"))?;
            Arc::new(BridgeInner {
                call_soon_threadsafe,
                queue,
                waker: None,
            })
        };
        Ok(LoopBridge {
            reader: registered.then_some(fd).flatten(),
            inner,
            event_loop: event_loop.clone().unbind(),
        })
    }

    /// The event loop this bridge resolves futures on.
    #[getter(event_loop)]
    fn event_loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.clone_ref(py)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.event_loop)
    }
}
