//! Exactly once over connections that break at the worst moments: every
//! request completes, and the server ran each one once (M-3, M-10, S-24).
//! `test.counter` with a unique key per request counts server-side runs.

mod client_common;

use std::time::{Duration, Instant};

use client_common::*;
use mtproto::runtime::Runtime;
use mtproto_localdc::api;

/// The livelock of issue 12: the server cuts every connection after 4000
/// bytes, with 64 counters in flight. Before in-doubt messages kept their
/// msg_ids, every reconnect ran each of them again and no request ever
/// completed; now each completes, having run once.
#[test]
fn m3_s24_64_counters_through_connections_cut_every_4000_bytes_run_once() {
    let dc = mtproto_localdc::LocalDc::builder()
        .drop_after_bytes(4000)
        .start_on_thread()
        .unwrap();
    let rt = Runtime::new().unwrap();
    let mut c = config(&dc);
    c.request_timeout = Duration::from_secs(60);
    let s = rt.open_session(c).unwrap();
    let started = Instant::now();
    let keys: Vec<String> = (0..64).map(|i| format!("cut-4000-{i}")).collect();
    let results = caller().block_on(async {
        let pending: Vec<_> = keys.iter().map(|k| s.invoke(counter(k))).collect();
        let mut out = Vec::new();
        for f in pending {
            out.push(f.await);
        }
        out
    });
    dc.set_drop_after_bytes(None);
    for (key, r) in keys.iter().zip(results) {
        let reply = r.unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(
            api::parse_count(&reply).unwrap(),
            1,
            "{key}: the caller saw a later run"
        );
        assert_eq!(dc.counter(key), 1, "{key} ran {} times", dc.counter(key));
    }
    eprintln!(
        "64 counters through 4000-byte connections in {:?}",
        started.elapsed()
    );
}
