//! Clocks over real sockets (M-4, M-5): a stored time offset that no longer
//! matches the server's clock is corrected, whichever way it is off.

mod client_common;

use std::sync::Arc;

use client_common::*;
use mtproto::runtime::Runtime;
use mtproto::storage::{MemoryStore, SessionStore};

/// The clock livelock of issue 12: a key created while the clocks agreed,
/// then reused after the server's clock moved (or the phone's was stepped).
/// With the server 30–300 s ahead of the stored offset the client used to
/// reject every server message as too new while the server accepted all
/// of the client's, so no bad_msg ever corrected it and the session
/// reconnected forever. Each offset here must give a working session.
#[test]
fn m4_stored_offset_off_by_30_100_299_3600_s_either_way_recovers() {
    let dc = start_dc();
    let rt = Runtime::new().unwrap();
    let store = Arc::new(MemoryStore::new());
    let mut c = config(&dc);
    c.store = store.clone();
    let s = rt.open_session(c.clone()).unwrap();
    s.invoke_blocking(echo(b"key"), 30 * SEC).unwrap();
    s.close();
    let stored = || store.load(dc.dc_id()).unwrap().unwrap().time_offset;
    // `server_ahead`: how far the server's clock is ahead of what the client
    // stored (the phone's clock was stepped back by that much after the key
    // was made, or forward for a negative value).
    for server_ahead in [31i64, 100, 299, 3600, -31, -100, -299, -3600] {
        store.save_time_offset(dc.dc_id(), -server_ahead).unwrap();
        let s = rt.open_session(c.clone()).unwrap();
        let r = s.invoke_blocking(echo(b"in step"), 15 * SEC);
        assert_eq!(
            echoed(&r.unwrap_or_else(|e| panic!("server {server_ahead:+} s: {e}"))),
            b"in step"
        );
        // The correction is persisted (off the network thread: shortly).
        wait_until(
            &format!("server {server_ahead:+} s: offset stored"),
            5 * SEC,
            || stored().abs() <= 30,
        );
        s.close();
    }
    // And the reproduction as reported: the server's clock moves 100 s
    // ahead while the client keeps the offset it stored.
    dc.set_clock_offset(100);
    let s = rt.open_session(c.clone()).unwrap();
    assert_eq!(
        echoed(&s.invoke_blocking(echo(b"+100"), 15 * SEC).unwrap()),
        b"+100"
    );
    wait_until("offset +100 stored", 5 * SEC, || {
        (stored() - 100).abs() <= 30
    });
    s.close();
    assert_eq!(dc.auth_key_count(), 1, "the key survived every correction");
}
