//! Turning core errors into the Python exceptions of `mtproto._errors`.
//!
//! The exception classes are written in Python (`python/mtproto/_errors.py`)
//! because one of them must derive from two bases (`mtproto.TimeoutError` is
//! also the builtin `TimeoutError`) and all of them carry docstrings and
//! attributes users read; the extension imports them on first use.

use mtproto::client::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    ERRORS
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("mtproto._errors")?.unbind())
        })
        .map(|m| m.bind(py))
}

/// The exception instance for a core error (e.g. `RpcError(420, "FLOOD_WAIT_3")`).
pub fn error_value<'py>(py: Python<'py>, e: &Error) -> Bound<'py, PyAny> {
    let made = (|| -> PyResult<Bound<'py, PyAny>> {
        let m = errors_module(py)?;
        match e {
            Error::Rpc { code, message } => m.getattr("RpcError")?.call1((*code, message)),
            Error::Transport(s) => m.getattr("TransportError")?.call1((s,)),
            Error::Timeout => m.getattr("TimeoutError")?.call1(("request timed out",)),
            Error::Cancelled => m.getattr("Cancelled")?.call1(("request cancelled",)),
            Error::Closed => m.getattr("Closed")?.call1(("session closed",)),
            Error::InvalidInput(s) => m.getattr("InvalidInput")?.call1((s,)),
            Error::Auth(s) => m.getattr("AuthError")?.call1((s,)),
            Error::Storage(s) => m.getattr("StorageError")?.call1((s,)),
            other => m.getattr("Error")?.call1((other.to_string(),)),
        }
    })();
    // Only reachable if the pure-Python part of the package is broken.
    made.unwrap_or_else(|err| {
        PyRuntimeError::new_err(format!("{e} (and mtproto._errors failed: {err})"))
            .into_value(py)
            .into_bound(py)
            .into_any()
    })
}

/// The `PyErr` for a core error, to raise.
pub fn to_pyerr(py: Python<'_>, e: &Error) -> PyErr {
    PyErr::from_value(error_value(py, e))
}

/// `mtproto.InvalidInput(message)` with its `path` attribute set.
pub fn invalid_input(py: Python<'_>, message: impl Into<String>, path: Option<&str>) -> PyErr {
    let message = message.into();
    let made = (|| -> PyResult<PyErr> {
        let cls = errors_module(py)?.getattr("InvalidInput")?;
        let v = cls.call1((message.clone(), path))?;
        Ok(PyErr::from_value(v))
    })();
    made.unwrap_or_else(|_| pyo3::exceptions::PyValueError::new_err(message))
}

/// Logs an exception raised by a user callback through Python's `logging`
/// (logger `mtproto`), with its traceback. A callback that raises must not
/// stop the delivery of later updates or end the session.
pub fn log_callback_error(py: Python<'_>, what: &str, err: PyErr) {
    let logged = (|| -> PyResult<()> {
        let logger = LOGGER.get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.import("logging")?
                    .getattr("getLogger")?
                    .call1(("mtproto",))?
                    .unbind(),
            )
        })?;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("exc_info", err.value(py))?;
        logger
            .bind(py)
            .call_method("error", ("%s raised an exception", what), Some(&kwargs))?;
        Ok(())
    })();
    if logged.is_err() {
        // logging itself failed (interpreter shutting down, or a broken
        // handler): fall back to sys.unraisablehook's path.
        err.write_unraisable(py, None);
    }
}
