//! `mtproto._native`: the extension module of the `mtproto` Python package.
//!
//! Thin by design: the core does the protocol; this crate converts values,
//! maps errors to Python exceptions, and bridges the core's dispatcher
//! thread to asyncio (`bridge`) and to callbacks (`hub`). The public
//! Python API lives in `python/mtproto/`.

use pyo3::prelude::*;

mod bridge;
mod errors;
mod hub;
mod logging;
mod schema;
mod session;
mod testing;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<session::Runtime>()?;
    m.add_class::<session::Session>()?;
    m.add_class::<bridge::LoopBridge>()?;
    m.add_class::<schema::Schema>()?;
    m.add_class::<testing::LocalDc>()?;
    m.add_function(wrap_pyfunction!(testing::test_echo, m)?)?;
    m.add_function(wrap_pyfunction!(testing::test_big_payload, m)?)?;
    m.add_function(wrap_pyfunction!(testing::test_error, m)?)?;
    m.add_function(wrap_pyfunction!(testing::test_sleep, m)?)?;
    m.add_function(wrap_pyfunction!(testing::test_push_updates, m)?)?;
    m.add_function(wrap_pyfunction!(testing::test_counter, m)?)?;
    m.add_function(wrap_pyfunction!(testing::test_drop_connection, m)?)?;
    m.add_function(wrap_pyfunction!(testing::test_cancelled_count, m)?)?;
    m.add_function(wrap_pyfunction!(testing::test_counter_slow, m)?)?;
    m.add_function(wrap_pyfunction!(testing::test_forget_session, m)?)?;
    m.add_function(wrap_pyfunction!(testing::test_parse_payload, m)?)?;
    m.add_function(wrap_pyfunction!(testing::test_parse_update, m)?)?;
    m.add_function(wrap_pyfunction!(testing::test_parse_count, m)?)?;
    m.add_function(wrap_pyfunction!(testing::test_parse_bool, m)?)?;
    m.add_function(wrap_pyfunction!(testing::test_update_data, m)?)?;
    m.add_function(wrap_pyfunction!(testing::test_big_payload_data, m)?)?;
    m.add_function(wrap_pyfunction!(logging::set_log_sink, m)?)?;
    m.add_function(wrap_pyfunction!(logging::set_log_level, m)?)?;
    m.add_function(wrap_pyfunction!(logging::flush_log, m)?)?;
    m.add_function(wrap_pyfunction!(logging::log_batches_delivered, m)?)?;
    m.add("TEST_TL", testing::TEST_TL)?;
    m.add("MAX_REQUEST_BYTES", mtproto::client::MAX_REQUEST_BYTES)?;
    m.add("DEFAULT_LAYER", mtproto::client::DEFAULT_LAYER)?;
    {
        use mtproto::client::defaults as d;
        let defaults = pyo3::types::PyDict::new(m.py());
        defaults.set_item("connect_timeout", d::CONNECT_TIMEOUT.as_secs_f64())?;
        defaults.set_item("request_timeout", d::REQUEST_TIMEOUT.as_secs_f64())?;
        defaults.set_item("ping_interval", d::PING_INTERVAL.as_secs_f64())?;
        defaults.set_item("max_buffered_updates", d::MAX_BUFFERED_UPDATES)?;
        m.add("DEFAULTS", defaults)?;
    }
    m.add(
        "GAP_MARKER",
        pyo3::types::PyBytes::new(m.py(), &mtproto::client::GAP_MARKER),
    )?;
    Ok(())
}
