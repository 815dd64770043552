//! `Runtime` and `Session`: thin wrappers of the core's `Runtime` and
//! `ClientSession`. The Python package (`mtproto/_client.py`) builds the
//! public API (async `invoke`, iterators, context managers) on top.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use mtproto::client::{
    ClientInfo, ClientSession, Error, Framing, ReconnectPolicy, RequestResult, SessionConfig,
    StateEvent, TransportKind, DEFAULT_LAYER,
};
use mtproto::runtime::Runtime as CoreRuntime;
use mtproto::storage::{MemoryStore, SessionStore, SqliteStore};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};
use pyo3::{PyTraverseError, PyVisit};

use crate::bridge::{lock, Item, LoopBridge};
use crate::errors::{invalid_input, to_pyerr};
use crate::hub::{Consumer, Hub, Taken};

/// How many state events wait for a consumer (as in the core).
const MAX_PENDING_STATES: usize = 64;

/// Extra time `invoke_sync` waits beyond the request's own timeout before
/// giving up on the runtime thread itself (the session ends every request
/// at its deadline; this only guards against a runtime that stopped).
const SYNC_GRACE: Duration = Duration::from_secs(5);

/// How often a blocked `invoke_sync` takes the GIL back to let Python run
/// signal handlers (Ctrl-C interrupts it and cancels the request).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Copies a bytes-like argument (`bytes`, `bytearray`, `memoryview`).
pub(crate) fn bytes_arg(what: &str, value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = value.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if value.is_instance_of::<pyo3::types::PyMemoryView>() {
        let b = value.call_method0("tobytes")?;
        return Ok(b.cast::<PyBytes>()?.as_bytes().to_vec());
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes, bytearray or memoryview, not {}",
        value.get_type().name()?
    )))
}

/// Seconds (a float) as a `Duration`; negative, NaN or huge values are
/// `InvalidInput` naming the argument.
pub(crate) fn seconds_arg(py: Python<'_>, what: &str, secs: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(secs).map_err(|_| {
        invalid_input(
            py,
            format!("{what} must be a non-negative number of seconds, got {secs}"),
            None,
        )
    })
}

fn framing_arg(py: Python<'_>, name: &str) -> PyResult<Framing> {
    Ok(match name {
        "abridged" => Framing::Abridged,
        "intermediate" => Framing::Intermediate,
        "padded_intermediate" => Framing::PaddedIntermediate,
        "full" => Framing::Full,
        other => {
            return Err(invalid_input(
                py,
                format!(
                    "transport {other:?} is not one of \"abridged\", \"intermediate\", \
                     \"padded_intermediate\", \"full\""
                ),
                None,
            ))
        }
    })
}

/// Owns the core runtime: its network thread and its dispatcher thread.
#[pyclass(module = "mtproto._native", frozen)]
pub struct Runtime {
    inner: Mutex<Option<CoreRuntime>>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let rt = lock(&self.inner).take();
        if let Some(rt) = rt {
            // Reached from the garbage collector, with the GIL held. Closing
            // joins the dispatcher thread, which may be waiting for the GIL
            // to run a callback: join from a thread of its own instead.
            if let Err(e) = thread::Builder::new()
                .name("mtproto-close".into())
                .spawn(move || drop(rt))
            {
                eprintln!("mtproto: cannot start a thread to close a runtime ({e}); leaking it");
            }
        }
    }
}

#[pymethods]
impl Runtime {
    #[new]
    #[pyo3(signature = (name = "mtproto"))]
    fn new(py: Python<'_>, name: &str) -> PyResult<Self> {
        let rt = CoreRuntime::with_name(name).map_err(|e| to_pyerr(py, &e))?;
        Ok(Runtime {
            inner: Mutex::new(Some(rt)),
        })
    }

    /// Closes every session of the runtime (pending requests raise
    /// `Closed`) and joins its threads. The GIL is released meanwhile, so
    /// callbacks that are running can finish. Idempotent.
    fn close(&self, py: Python<'_>) {
        let rt = lock(&self.inner).take();
        if let Some(rt) = rt {
            py.detach(move || rt.close());
        }
    }

    fn is_closed(&self) -> bool {
        lock(&self.inner).as_ref().is_none_or(|rt| rt.is_closed())
    }

    /// Opens a session; see `mtproto.Runtime.open_session`.
    #[pyo3(signature = (
        address, dc_id, public_key = String::new(), *, test_dc = false, media = false,
        transport = "padded_intermediate", obfuscated = None, connect_timeout = 10.0,
        request_timeout = 30.0, reconnect = "desktop", store = None, api_id = None,
        device_model = None, system_version = None, app_version = None,
        system_lang_code = None, lang_pack = None, lang_code = None, layer = DEFAULT_LAYER,
        ping_interval = Some(60.0), recreate_lost_key = false, max_buffered_updates = 10_000,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn open_session(
        &self,
        py: Python<'_>,
        address: String,
        dc_id: i32,
        public_key: String,
        test_dc: bool,
        media: bool,
        transport: &str,
        obfuscated: Option<bool>,
        connect_timeout: f64,
        request_timeout: f64,
        reconnect: &str,
        store: Option<std::path::PathBuf>,
        api_id: Option<i32>,
        device_model: Option<String>,
        system_version: Option<String>,
        app_version: Option<String>,
        system_lang_code: Option<String>,
        lang_pack: Option<String>,
        lang_code: Option<String>,
        layer: i32,
        ping_interval: Option<f64>,
        recreate_lost_key: bool,
        max_buffered_updates: usize,
    ) -> PyResult<Session> {
        let mut config = SessionConfig::new(address, dc_id, public_key);
        config.test_dc = test_dc;
        config.media = media;
        let framing = framing_arg(py, transport)?;
        config.transport = TransportKind {
            framing,
            obfuscated: obfuscated.unwrap_or(framing != Framing::Full),
        };
        config.connect_timeout = seconds_arg(py, "connect_timeout", connect_timeout)?;
        config.request_timeout = seconds_arg(py, "request_timeout", request_timeout)?;
        config.reconnect = match reconnect {
            "desktop" => ReconnectPolicy::desktop(),
            "mobile" => ReconnectPolicy::mobile(),
            other => {
                return Err(invalid_input(
                    py,
                    format!("reconnect {other:?} is not \"desktop\" or \"mobile\""),
                    None,
                ))
            }
        };
        config.api_id = api_id;
        let mut info = ClientInfo::default();
        let fields = [
            (&mut info.device_model, device_model),
            (&mut info.system_version, system_version),
            (&mut info.app_version, app_version),
            (&mut info.system_lang_code, system_lang_code),
            (&mut info.lang_pack, lang_pack),
            (&mut info.lang_code, lang_code),
        ];
        for (field, value) in fields {
            if let Some(v) = value {
                *field = v;
            }
        }
        config.client_info = info;
        config.layer = layer;
        config.ping_interval = match ping_interval {
            Some(s) => Some(seconds_arg(py, "ping_interval", s)?),
            None => None,
        };
        config.recreate_lost_key = recreate_lost_key;
        if max_buffered_updates == 0 {
            return Err(invalid_input(
                py,
                "max_buffered_updates must be at least 1",
                None,
            ));
        }
        config.max_buffered_updates = max_buffered_updates;
        let request_timeout = config.request_timeout;

        // Opening a SQLite file and reading the stored key is I/O: done
        // without the GIL.
        let opened = py.detach(move || -> Result<ClientSession, Error> {
            if let Some(path) = store {
                let sqlite: Arc<dyn SessionStore> = SqliteStore::shared(path)?;
                config.store = sqlite;
            } else {
                config.store = Arc::new(MemoryStore::new());
            }
            let guard = lock(&self.inner);
            let rt = guard.as_ref().ok_or(Error::Closed)?;
            rt.open_session(config)
        });
        let session = opened.map_err(|e| to_pyerr(py, &e))?;
        Ok(Session::new(session, request_timeout, max_buffered_updates))
    }
}

/// One session: one auth key on one DC.
#[pyclass(module = "mtproto._native", frozen)]
pub struct Session {
    session: ClientSession,
    request_timeout: Duration,
    updates: Arc<Hub<Vec<u8>>>,
    states: Arc<Hub<StateEvent>>,
}

impl Session {
    fn new(session: ClientSession, request_timeout: Duration, max_updates: usize) -> Self {
        let updates = Hub::<Vec<u8>>::new(max_updates, "update");
        let states = Hub::<StateEvent>::new(MAX_PENDING_STATES, "state");
        // Installed once, for the life of the session: the hubs route to
        // whichever consumer Python sets later (see hub.rs).
        let u = updates.clone();
        session.set_update_handler(move |batch| u.push(batch.to_vec()));
        let (s, u) = (states.clone(), updates.clone());
        session.set_state_handler(move |event| {
            s.push(vec![event.clone()]);
            if *event == StateEvent::Closed {
                // Last event: the session's updates were all handed over
                // before it. Iterators end; callbacks are released (they
                // often reference the session, a cycle the GC cannot see
                // through Rust).
                u.close();
                s.close();
                u.set_consumer(Consumer::Buffer);
                s.set_consumer(Consumer::Buffer);
            }
        });
        Session {
            session,
            request_timeout,
            updates,
            states,
        }
    }

    fn timeout_arg(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Duration> {
        match timeout {
            None => Ok(self.request_timeout),
            Some(t) => seconds_arg(py, "timeout", t),
        }
    }

    fn consumer(callback: Option<Py<PyAny>>, bridge: Option<&Bound<'_, LoopBridge>>) -> Consumer {
        match (callback, bridge) {
            (None, _) => Consumer::Buffer,
            (Some(cb), None) => Consumer::Thread(Arc::new(cb)),
            (Some(cb), Some(b)) => Consumer::Loop(Arc::new(cb), b.get().inner.clone()),
        }
    }
}

#[pymethods]
impl Session {
    /// A number identifying the session within its runtime.
    #[getter]
    fn id(&self) -> u64 {
        self.session.id()
    }

    /// The configured request timeout, in seconds.
    #[getter]
    fn request_timeout(&self) -> f64 {
        self.request_timeout.as_secs_f64()
    }

    fn is_closed(&self) -> bool {
        self.session.is_closed()
    }

    /// Closes the session; pending requests end with `Closed`. Returns at once.
    fn close(&self) {
        self.session.close();
    }

    /// Sends a request whose end resolves `future` on `bridge`'s loop.
    /// Returns the request id for `cancel`.
    #[pyo3(signature = (data, timeout, future, bridge))]
    fn submit(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
        future: Py<PyAny>,
        bridge: &Bound<'_, LoopBridge>,
    ) -> PyResult<u64> {
        let body = bytes_arg("data", data)?;
        let timeout = self.timeout_arg(py, timeout)?;
        let bridge = bridge.get().inner.clone();
        // Straight from the network thread to the loop when the loop can
        // be woken without the GIL: one thread hand-over, as for
        // invoke_sync, instead of network → dispatcher (GIL) → loop.
        let id = if bridge.wakes_without_gil() {
            self.session
                .invoke_with_inline_callback(body, timeout, move |result| {
                    bridge.push_inline(Item::Resolve(future, result));
                })
        } else {
            self.session
                .invoke_with_callback(body, timeout, move |result| {
                    bridge.push(Item::Resolve(future, result));
                })
        };
        Ok(id.0)
    }

    /// Cancels a request sent with `submit` (the server is asked to drop
    /// the answer). Unknown or finished ids are ignored.
    fn cancel(&self, request_id: u64) {
        self.session.cancel(mtproto::client::RequestId(request_id));
    }

    /// Sends a request and waits for its result with the GIL released.
    #[pyo3(signature = (data, timeout = None))]
    fn invoke_sync<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let body = bytes_arg("data", data)?;
        let timeout = self.timeout_arg(py, timeout)?;
        let invoke = self.session.invoke_with_timeout(body, timeout);
        let result = wait_interruptibly(py, invoke, timeout.saturating_add(SYNC_GRACE))?;
        match result {
            Ok(bytes) => Ok(PyBytes::new(py, &bytes)),
            Err(e) => Err(to_pyerr(py, &e)),
        }
    }

    /// Routes updates to `callback` (on the dispatcher thread, or on
    /// `bridge`'s loop when given), or back to the buffer when `None`.
    #[pyo3(signature = (callback, bridge = None))]
    fn set_update_callback(
        &self,
        callback: Option<Py<PyAny>>,
        bridge: Option<&Bound<'_, LoopBridge>>,
    ) {
        self.updates.set_consumer(Self::consumer(callback, bridge));
    }

    /// Like `set_update_callback`, for state events.
    #[pyo3(signature = (callback, bridge = None))]
    fn set_state_callback(
        &self,
        callback: Option<Py<PyAny>>,
        bridge: Option<&Bound<'_, LoopBridge>>,
    ) {
        self.states.set_consumer(Self::consumer(callback, bridge));
    }

    /// The next buffered update, or `None` after registering `future` to be
    /// resolved when there is news. Raises `StopAsyncIteration` once the
    /// session closed and everything was taken.
    fn take_update<'py>(
        &self,
        py: Python<'py>,
        future: Py<PyAny>,
        bridge: &Bound<'py, LoopBridge>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        Ok(match self.updates.take(py, future, &bridge.get().inner)? {
            Taken::Item(u) => Some(PyBytes::new(py, &u)),
            Taken::Waiting => None,
        })
    }

    /// Like `take_update`, for state events.
    fn take_state<'py>(
        &self,
        py: Python<'py>,
        future: Py<PyAny>,
        bridge: &Bound<'py, LoopBridge>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.states.take(py, future, &bridge.get().inner)? {
            Taken::Item(e) => Ok(Some(crate::hub::state_event_value(py, &e)?)),
            Taken::Waiting => Ok(None),
        }
    }

    /// Forgets a waiter registered by `take_update`/`take_state` whose
    /// iterator was cancelled.
    fn forget_waiter(&self, future: &Bound<'_, PyAny>) {
        self.updates.forget(future);
        self.states.forget(future);
    }

    /// True once the session closed and its update stream ended.
    fn updates_closed(&self) -> bool {
        self.updates.is_closed()
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.updates.traverse(&visit)?;
        self.states.traverse(&visit)
    }

    fn __clear__(&self) {
        self.updates.clear();
        self.states.clear();
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

/// Waits for a request without the GIL, taking it back every
/// [`SIGNAL_CHECK`] to run Python's signal handlers: Ctrl-C raises
/// `KeyboardInterrupt` and, by dropping the request's future, cancels it.
fn wait_interruptibly<F>(py: Python<'_>, fut: F, limit: Duration) -> PyResult<RequestResult>
where
    F: Future<Output = RequestResult> + Unpin + Send,
{
    let deadline = Instant::now().checked_add(limit);
    let mut fut = fut;
    loop {
        let (returned, out) = py.detach(move || {
            let waker = Waker::from(Arc::new(Unpark(thread::current())));
            let mut cx = Context::from_waker(&waker);
            let slice_end = Instant::now() + SIGNAL_CHECK;
            loop {
                if let Poll::Ready(out) = Pin::new(&mut fut).poll(&mut cx) {
                    return (fut, Some(out));
                }
                let now = Instant::now();
                let end = match deadline {
                    Some(d) if d < slice_end => d,
                    _ => slice_end,
                };
                if now >= end {
                    return (fut, None);
                }
                thread::park_timeout(end - now);
            }
        });
        fut = returned;
        if let Some(out) = out {
            return Ok(out);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Err(Error::Timeout));
        }
        py.check_signals()?;
    }
}
