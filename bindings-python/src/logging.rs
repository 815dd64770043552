//! The core's log records, handed to Python's `logging` (see
//! `python/mtproto/_logging.py`, which owns the policy).
//!
//! The core delivers records on its `mtproto-log` thread in batches; this
//! sink takes the GIL once per batch and calls the Python handler with a
//! list of `(level, target, message)` tuples. Records below the level set
//! here never leave the core, so a disabled level costs no GIL acquisition:
//! [`log_batches_delivered`] counts the acquisitions so a test can prove it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mtproto::logging::{self, LogLevel, LogRecord};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::errors::invalid_input;

static BATCHES: AtomicU64 = AtomicU64::new(0);

fn level_of(py: Python<'_>, level: Option<u8>) -> PyResult<Option<LogLevel>> {
    match level {
        None => Ok(None),
        Some(n) => LogLevel::from_number(n)
            .map(Some)
            .ok_or_else(|| invalid_input(py, format!("log level {n} is not 1..=5"), None)),
    }
}

/// Installs `handler` (called with a list of `(level, target, message)`,
/// level 1 = error … 5 = trace) at `level`; `None` for either turns
/// forwarding off.
#[pyfunction]
#[pyo3(signature = (level, handler))]
pub fn set_log_sink(py: Python<'_>, level: Option<u8>, handler: Option<Py<PyAny>>) -> PyResult<()> {
    let level = level_of(py, level)?;
    let (Some(level), Some(handler)) = (level, handler) else {
        py.detach(logging::clear_sink);
        return Ok(());
    };
    let handler = Arc::new(handler);
    let sink = move |batch: &[LogRecord]| {
        let _ = Python::try_attach(|py| {
            BATCHES.fetch_add(1, Ordering::Relaxed);
            let items: Vec<(u8, &str, &str)> = batch
                .iter()
                .map(|r| (r.level as u8, r.target, r.message.as_str()))
                .collect();
            let list = PyList::new(py, items)?;
            // A handler that raises loses this batch only (and Python's
            // logging reports handler errors itself).
            if let Err(e) = handler.call1(py, (list,)) {
                e.print(py);
            }
            PyResult::Ok(())
        });
    };
    // Replacing a sink waits for the old one to return, which may need the
    // GIL: wait without it.
    py.detach(|| logging::set_sink(Some(level), Arc::new(sink)))
        .map_err(|e| invalid_input(py, e.to_string(), None))
}

/// Changes the level without replacing the handler (`None`: off).
#[pyfunction]
pub fn set_log_level(py: Python<'_>, level: Option<u8>) -> PyResult<()> {
    logging::set_max_level(level_of(py, level)?);
    Ok(())
}

/// Waits (without the GIL) up to `timeout` seconds until every record
/// emitted so far reached the handler; False if some are still queued.
#[pyfunction]
pub fn flush_log(py: Python<'_>, timeout: f64) -> bool {
    let timeout = Duration::from_secs_f64(timeout.clamp(0.0, 3600.0));
    py.detach(|| logging::flush(timeout))
}

/// How many times the log thread took the GIL to deliver a batch.
#[pyfunction]
pub fn log_batches_delivered() -> u64 {
    BATCHES.load(Ordering::Relaxed)
}
