//! `mtproto.testing`: the local data center, linked into the extension, and
//! builders/parsers of its test API (`localdc/test.tl`).
//!
//! It ships in the wheel so that users can test their own code (a bot, a
//! client library) against a real MTProto server on loopback, with no
//! account, network or separate binary. It is cheap to ship: its own code
//! is about 80 KiB of the extension, because the server state machines are
//! part of the core the client links anyway.

use std::sync::Mutex;

use mtproto_localdc::api::{self, Call};
use mtproto_localdc::LocalDc as CoreLocalDc;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::bridge::lock;
use crate::errors::invalid_input;
use crate::session::bytes_arg;

/// A running local data center (own thread, own tokio runtime).
#[pyclass(module = "mtproto._native", frozen)]
pub struct LocalDc {
    inner: Mutex<Option<CoreLocalDc>>,
    address: String,
    public_key: String,
    dc_id: i32,
}

impl LocalDc {
    fn with<T>(&self, py: Python<'_>, f: impl FnOnce(&CoreLocalDc) -> T) -> PyResult<T> {
        let guard = lock(&self.inner);
        match guard.as_ref() {
            Some(dc) => Ok(f(dc)),
            None => Err(crate::errors::to_pyerr(py, &mtproto::client::Error::Closed)),
        }
    }
}

#[pymethods]
impl LocalDc {
    /// Starts a data center listening on `127.0.0.1:<free port>`.
    /// `dc_id` is the DC number clients must name (default 2).
    #[new]
    #[pyo3(signature = (dc_id = 2))]
    fn new(py: Python<'_>, dc_id: i32) -> PyResult<Self> {
        if !(1..10_000).contains(&dc_id) {
            return Err(invalid_input(
                py,
                format!("dc_id {dc_id} is not within 1..=9999"),
                None,
            ));
        }
        // Generating the process-wide RSA key takes a moment the first time.
        let dc = py
            .detach(move || CoreLocalDc::builder().dc_id(dc_id).start_on_thread())
            .map_err(|e| {
                crate::errors::to_pyerr(
                    py,
                    &mtproto::client::Error::Transport(format!("cannot start localdc: {e}")),
                )
            })?;
        Ok(LocalDc {
            address: dc.addr().to_string(),
            public_key: dc.public_key_pem(),
            dc_id,
            inner: Mutex::new(Some(dc)),
        })
    }

    /// `"127.0.0.1:PORT"`.
    #[getter]
    fn address(&self) -> &str {
        &self.address
    }

    /// The server's RSA public key, PKCS#1 PEM.
    #[getter]
    fn public_key(&self) -> &str {
        &self.public_key
    }

    #[getter]
    fn dc_id(&self) -> i32 {
        self.dc_id
    }

    /// How many rpc_drop_answer the server received (all sessions).
    fn cancelled_count(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |dc| dc.cancelled_count())
    }

    /// The value of the server-wide `test.counter` named `key`.
    fn counter(&self, py: Python<'_>, key: &str) -> PyResult<i64> {
        self.with(py, |dc| dc.counter(key))
    }

    /// Connections currently open.
    fn connection_count(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |dc| dc.connection_count())
    }

    /// Auth keys the server knows.
    fn auth_key_count(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |dc| dc.auth_key_count())
    }

    /// Cuts every connection once it wrote `limit` bytes (None: off).
    fn set_drop_after_bytes(&self, py: Python<'_>, limit: Option<u64>) -> PyResult<()> {
        self.with(py, |dc| dc.set_drop_after_bytes(limit))
    }

    /// Forgets every session of every key (clients see new_session_created).
    fn forget_sessions(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |dc| dc.forget_sessions())
    }

    /// Stops the server and joins its thread. Idempotent.
    fn shutdown(&self, py: Python<'_>) {
        let dc = lock(&self.inner).take();
        if let Some(dc) = dc {
            py.detach(move || dc.shutdown());
        }
    }

    fn is_running(&self) -> bool {
        lock(&self.inner).is_some()
    }
}

fn call_bytes<'py>(py: Python<'py>, call: Call) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &call.to_bytes())
}

fn parsed<T>(py: Python<'_>, what: &str, r: Result<T, mtproto::tl::TlError>) -> PyResult<T> {
    r.map_err(|e| invalid_input(py, format!("not a {what}: {e}"), None))
}

/// `test.echo payload`.
#[pyfunction]
pub fn test_echo<'py>(
    py: Python<'py>,
    payload: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    Ok(call_bytes(py, Call::Echo(bytes_arg("payload", payload)?)))
}

/// `test.bigPayload size`.
#[pyfunction]
pub fn test_big_payload(py: Python<'_>, size: i32) -> Bound<'_, PyBytes> {
    call_bytes(py, Call::BigPayload { size })
}

/// `test.error code message`.
#[pyfunction]
pub fn test_error(py: Python<'_>, code: i32, message: String) -> Bound<'_, PyBytes> {
    call_bytes(py, Call::Error { code, message })
}

/// `test.sleep ms`.
#[pyfunction]
pub fn test_sleep(py: Python<'_>, ms: i32) -> Bound<'_, PyBytes> {
    call_bytes(py, Call::Sleep { ms })
}

/// `test.pushUpdates count size`.
#[pyfunction]
pub fn test_push_updates(py: Python<'_>, count: i32, size: i32) -> Bound<'_, PyBytes> {
    call_bytes(py, Call::PushUpdates { count, size })
}

/// `test.counter key`.
#[pyfunction]
pub fn test_counter(py: Python<'_>, key: String) -> Bound<'_, PyBytes> {
    call_bytes(py, Call::Counter { key })
}

/// `test.dropConnection`.
#[pyfunction]
pub fn test_drop_connection(py: Python<'_>) -> Bound<'_, PyBytes> {
    call_bytes(py, Call::DropConnection)
}

/// `test.counterSlow key ms cut` (cut: 0 never, 1 after it ran, 2 after
/// the answer left).
#[pyfunction]
pub fn test_counter_slow(
    py: Python<'_>,
    key: String,
    ms: i32,
    cut: i32,
) -> PyResult<Bound<'_, PyBytes>> {
    let cut = match cut {
        0 => api::Cut::Never,
        1 => api::Cut::AfterRun,
        2 => api::Cut::AfterAnswer,
        _ => {
            return Err(crate::errors::invalid_input(
                py,
                "cut must be 0, 1 or 2",
                None,
            ))
        }
    };
    Ok(call_bytes(py, Call::CounterSlow { key, ms, cut }))
}

/// `test.forgetSession`.
#[pyfunction]
pub fn test_forget_session(py: Python<'_>) -> Bound<'_, PyBytes> {
    call_bytes(py, Call::ForgetSession)
}

/// `test.cancelledCount`.
#[pyfunction]
pub fn test_cancelled_count(py: Python<'_>) -> Bound<'_, PyBytes> {
    call_bytes(py, Call::CancelledCount)
}

/// The data of a `test.payload`.
#[pyfunction]
pub fn test_parse_payload<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let b = parsed(
        py,
        "test.payload",
        api::parse_payload(&bytes_arg("data", data)?),
    )?;
    Ok(PyBytes::new(py, &b))
}

/// `(seq, data)` of a `test.update`.
#[pyfunction]
pub fn test_parse_update<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
) -> PyResult<(i32, Bound<'py, PyBytes>)> {
    let (seq, b) = parsed(
        py,
        "test.update",
        api::parse_update(&bytes_arg("data", data)?),
    )?;
    Ok((seq, PyBytes::new(py, &b)))
}

/// The value of a `test.count`.
#[pyfunction]
pub fn test_parse_count(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<i64> {
    parsed(
        py,
        "test.count",
        api::parse_count(&bytes_arg("data", data)?),
    )
}

/// A boxed `Bool`.
#[pyfunction]
pub fn test_parse_bool(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<bool> {
    parsed(py, "Bool", api::parse_bool(&bytes_arg("data", data)?))
}

/// The data the server puts in update `seq` of `test.pushUpdates`.
#[pyfunction]
pub fn test_update_data(py: Python<'_>, seq: i32, size: usize) -> Bound<'_, PyBytes> {
    PyBytes::new(py, &api::update_data(seq, size))
}

/// The data of `test.bigPayload size`.
#[pyfunction]
pub fn test_big_payload_data(py: Python<'_>, size: usize) -> Bound<'_, PyBytes> {
    PyBytes::new(py, &api::big_payload_data(size))
}

/// The text of `test.tl`.
pub const TEST_TL: &str = api::TEST_TL;
