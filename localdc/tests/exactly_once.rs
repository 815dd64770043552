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

fn counter_slow(key: &str, ms: i32, cut: api::Cut) -> Vec<u8> {
    api::Call::CounterSlow {
        key: key.into(),
        ms,
        cut,
    }
    .to_bytes()
}

/// Runs `calls` counters at once on one session and checks that each
/// completed with 1 and ran exactly once on the server.
fn run_once_each(dc: &mtproto_localdc::LocalDc, calls: Vec<(String, Vec<u8>)>) {
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config(dc)).unwrap();
    // A key first, so the cuts hit encrypted traffic.
    s.invoke_blocking(echo(b"warm"), Duration::from_secs(10))
        .unwrap();
    let results = caller().block_on(async {
        let pending: Vec<_> = calls.iter().map(|(_, b)| s.invoke(b.clone())).collect();
        let mut out = Vec::new();
        for f in pending {
            out.push(f.await);
        }
        out
    });
    for ((key, _), r) in calls.iter().zip(results) {
        let reply = r.unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(api::parse_count(&reply).unwrap(), 1, "{key}");
        assert_eq!(dc.counter(key), 1, "{key} ran {} times", dc.counter(key));
    }
}

/// Eight test.counterSlow calls at once, half answered at once and half
/// after 200 ms, each cutting the connection at `cut`.
fn eight_slow_counters_run_once(prefix: &str, cut: api::Cut) {
    let dc = mtproto_localdc::LocalDc::builder()
        .start_on_thread()
        .unwrap();
    let calls = (0..8)
        .map(|i| {
            let key = format!("{prefix}-{i}");
            let body = counter_slow(&key, if i % 2 == 0 { 0 } else { 200 }, cut);
            (key, body)
        })
        .collect();
    run_once_each(&dc, calls);
}

/// M-10, S-24: the server cuts the connection after each query ran but
/// before its answer left (test.counterSlow cut 1, at once and after
/// 200 ms): the answer comes on the next connection, and nothing ran twice.
#[test]
fn m10_cut_after_run_before_the_answer_left_runs_once() {
    eight_slow_counters_run_once("after-run", api::Cut::AfterRun);
}

/// M-10, S-24: the answer left the server but the connection died before
/// the client read it (cut 2): the server resends it as unacknowledged on
/// the next connection; the request completes once, having run once.
#[test]
fn m10_cut_after_the_answer_left_runs_once() {
    eight_slow_counters_run_once("after-answer", api::Cut::AfterAnswer);
}

/// M-3, S-24: the connection is cut before the server reads the packets
/// carrying the requests (the knob drops the next 3 encrypted packets
/// unread): they are sent again, and run once.
#[test]
fn m3_cut_before_the_request_was_read_runs_once() {
    let dc = mtproto_localdc::LocalDc::builder()
        .start_on_thread()
        .unwrap();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config(&dc)).unwrap();
    s.invoke_blocking(echo(b"warm"), Duration::from_secs(10))
        .unwrap();
    dc.set_cut_before_read(3);
    for i in 0..4 {
        let key = format!("before-read-{i}");
        let reply = s
            .invoke_blocking(counter(&key), Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(api::parse_count(&reply).unwrap(), 1, "{key}");
        assert_eq!(dc.counter(&key), 1, "{key}");
    }
}

/// M-10: the client-to-server direction cut mid-stream (every connection
/// is cut after reading 3000 bytes, often inside a frame) with 48 counters
/// of 100-byte keys in flight: each runs once and completes.
#[test]
fn m10_connections_cut_after_3000_bytes_read_run_once() {
    let dc = mtproto_localdc::LocalDc::builder()
        .drop_after_read_bytes(3000)
        .start_on_thread()
        .unwrap();
    let calls = (0..48)
        .map(|i| {
            let key = format!("read-cut-{i}-{}", "k".repeat(100));
            let body = counter(&key);
            (key, body)
        })
        .collect();
    run_once_each(&dc, calls);
}
