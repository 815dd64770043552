//! The core's log at its most verbose level, over whole sessions against a
//! local DC, holds no secret: no auth key, nothing derived from it (key id,
//! salt, message keys), and no request or response body.
//!
//! Its own test binary, because the log sink is process-wide.

mod client_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use client_common::*;
use mtproto::client::{Error, SessionConfig};
use mtproto::logging::{self, LogLevel, LogRecord};
use mtproto::runtime::Runtime;
use mtproto::storage::{MemoryStore, SessionStore};
use mtproto_localdc::api::Call;

/// A payload no log line can contain by chance.
const MARKER: &[u8; 24] = b"P4yl0ad-N0t-F0r-L0gs-7q!";

fn capture_everything() -> Arc<Mutex<Vec<LogRecord>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    logging::set_sink(
        Some(LogLevel::Trace),
        Arc::new(move |batch: &[LogRecord]| sink.lock().unwrap().extend_from_slice(batch)),
    )
    .expect("the only subscriber of this test binary");
    seen
}

/// Every text form a byte string could take in a log line: hex (either
/// case, at any byte offset), base64 (at each of the three alignments),
/// Rust's `{:?}` of a byte slice, and the text itself when it is ASCII.
fn forms(secret: &[u8]) -> Vec<String> {
    assert!(secret.len() >= 16);
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut v = vec![
        hex::encode(&secret[..12]),
        hex::encode_upper(&secret[..12]),
        secret[..8]
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    ];
    for k in 0..3 {
        v.push(b64.encode(&secret[k..k + 12]));
        v.push(b64url.encode(&secret[k..k + 12]));
    }
    if secret.is_ascii() {
        v.push(String::from_utf8(secret.to_vec()).unwrap());
    }
    v
}

fn int_forms(n: i64) -> Vec<String> {
    vec![
        n.to_string(),
        (n as u64).to_string(),
        format!("{:x}", n as u64),
        format!("{:X}", n as u64),
        hex::encode(n.to_le_bytes()),
        hex::encode(n.to_be_bytes()),
    ]
}

/// No run of 32 or more hex digits, and no list of 16 or more numbers:
/// what any key, hash or body would look like printed, even one this test
/// does not know.
fn assert_no_blobs(line: &str) {
    let mut hex_run = 0;
    for c in line.chars() {
        hex_run = if c.is_ascii_hexdigit() {
            hex_run + 1
        } else {
            0
        };
        assert!(hex_run < 32, "a hex blob in the log: {line}");
    }
    let numbers_in_a_row = line.split(", ").collect::<Vec<_>>().windows(16).any(|w| {
        w.iter()
            .all(|p| p.trim_matches(['[', ']']).parse::<i64>().is_ok())
    });
    assert!(!numbers_in_a_row, "a number list in the log: {line}");
}

#[test]
fn a_whole_session_at_trace_level_logs_no_secret() {
    let seen = capture_everything();
    let dc = start_dc();
    let rt = Runtime::new().unwrap();
    let store = Arc::new(MemoryStore::new());
    let mut c: SessionConfig = config(&dc);
    c.store = store.clone();
    c.api_id = Some(12345);
    let s = rt.open_session(c).unwrap();

    // Key exchange, initConnection, a body that must not be logged, an RPC
    // error, a gzip-packed answer, pushed updates, a dropped connection and
    // the reconnect after it.
    let echoed_back = s.invoke_blocking(echo(MARKER), 30 * SEC).unwrap();
    assert_eq!(echoed(&echoed_back), MARKER);
    let err = s
        .invoke_blocking(
            Call::Error {
                code: 400,
                message: "MARKER_IS_NOT_SECRET".into(),
            }
            .to_bytes(),
            30 * SEC,
        )
        .unwrap_err();
    assert!(matches!(err, Error::Rpc { code: 400, .. }), "{err}");
    s.invoke_blocking(Call::BigPayload { size: 70_000 }.to_bytes(), 30 * SEC)
        .unwrap();
    let updates = Arc::new(Mutex::new(0usize));
    let counted = updates.clone();
    s.set_update_handler(move |batch| *counted.lock().unwrap() += batch.len());
    s.invoke_blocking(
        Call::PushUpdates { count: 5, size: 64 }.to_bytes(),
        30 * SEC,
    )
    .unwrap();
    wait_until("5 updates", 10 * SEC, || *updates.lock().unwrap() == 5);
    let _ = s.invoke_blocking(Call::DropConnection.to_bytes(), 5 * SEC);
    let again = s.invoke_blocking(echo(MARKER), 30 * SEC).unwrap();
    assert_eq!(echoed(&again), MARKER);
    s.close();
    rt.close();
    assert!(logging::flush(Duration::from_secs(10)));

    let state = store.load(dc.dc_id()).unwrap().expect("the key was stored");
    let key = state.auth_key.as_bytes();
    let mut forbidden = Vec::new();
    for chunk in key.chunks(32) {
        forbidden.extend(forms(chunk));
    }
    forbidden.extend(int_forms(state.auth_key.id_i64()));
    forbidden.extend(int_forms(state.salt));
    forbidden.extend(forms(MARKER));

    // The detector itself: each way the key could be printed is caught.
    let b64 = base64::engine::general_purpose::STANDARD;
    for printed in [
        format!("key={key:?}"),
        format!("key={}", hex::encode(key)),
        format!("key={}", b64.encode(&key[1..])),
        format!("id={:#x}", state.auth_key.id_i64()),
    ] {
        assert!(forbidden.iter().any(|f| printed.contains(f.as_str())));
    }
    assert!(std::panic::catch_unwind(|| assert_no_blobs(&hex::encode(&key[100..120]))).is_err());

    let log = seen.lock().unwrap();
    let ours = log
        .iter()
        .filter(|r| r.target.starts_with("mtproto::"))
        .count();
    assert!(
        ours >= 10,
        "too little was logged to prove anything: {log:#?}"
    );
    for level in [LogLevel::Debug, LogLevel::Trace] {
        assert!(log.iter().any(|r| r.level == level), "nothing at {level}");
    }
    assert!(
        log.iter().any(|r| r.message.starts_with("request failed")
            && r.message.contains("MARKER_IS_NOT_SECRET")),
        "RPC errors are logged with their text"
    );
    for r in log.iter() {
        let line = format!("{} {} {}", r.level, r.target, r.message);
        for f in &forbidden {
            assert!(!line.contains(f.as_str()), "secret form {f:?} in: {line}");
        }
        assert_no_blobs(&line);
    }
    eprintln!("{} log records checked", log.len());
}
