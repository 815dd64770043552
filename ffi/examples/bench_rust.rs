//! The Rust-API reference of `scripts/bench-c.sh`: the same three
//! measurements as `ffi/bench/bench_c.c`, made through `mtproto::client`
//! directly, against the same localdc in the same run, so the C figures can
//! be given as overhead over these.
//!
//! Usage: bench_rust ADDRESS PUBLIC_KEY_PEM_FILE
//! Prints `name value` lines (see bench_c.c for their meaning).

use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use mtproto_core::client::SessionConfig;
use mtproto_core::runtime::Runtime;

// The C update adapter itself (the code libmtproto runs on the dispatcher
// thread for every batch), compiled from the same source files, so its cost
// can be measured without the network and the server in the way.
#[path = "../src/callback.rs"]
#[allow(dead_code)]
mod callback;
#[path = "../src/error.rs"]
#[allow(dead_code)]
mod error;
#[path = "../src/handle.rs"]
#[allow(dead_code)]
mod handle;

const ROUND_TRIPS: usize = 3000;
const PIPELINED: usize = 100_000;
const WINDOW: usize = 256;
const UPDATES: i32 = 100_000;
const ROUNDS: usize = 3;

fn echo(payload: &[u8; 64]) -> Vec<u8> {
    let mut v = 0x8f5c_7b19u32.to_le_bytes().to_vec();
    v.push(64);
    v.extend_from_slice(payload);
    v.extend_from_slice(&[0, 0, 0]);
    v
}

fn push_updates(count: i32, size: i32) -> Vec<u8> {
    let mut v = 0x0e84_1a3cu32.to_le_bytes().to_vec();
    v.extend_from_slice(&count.to_le_bytes());
    v.extend_from_slice(&size.to_le_bytes());
    v
}

#[derive(Default)]
struct Counter {
    n: Mutex<usize>,
    cv: Condvar,
}

impl Counter {
    fn add(&self, k: usize) {
        *self.n.lock().unwrap() += k;
        self.cv.notify_all();
    }
    fn wait_at_least(&self, target: usize) {
        let guard = self.n.lock().unwrap();
        let (_g, t) = self
            .cv
            .wait_timeout_while(guard, Duration::from_secs(60), |n| *n < target)
            .unwrap();
        assert!(!t.timed_out(), "timed out waiting for {target}");
    }
    fn get(&self) -> usize {
        *self.n.lock().unwrap()
    }
}

/// A C-ABI callback defined in Rust, standing in for the C program's.
/// Like a C consumer, it looks at every update (sums their lengths).
unsafe extern "C" fn count_c(
    userdata: *mut c_void,
    updates: *const callback::mtp_bytes,
    count: usize,
) {
    // SAFETY: `userdata` is the `AtomicUsize` passed below, alive for the
    // run; `updates` points to `count` items during the call.
    let (n, items) = unsafe {
        (
            &*(userdata as *const AtomicUsize),
            std::slice::from_raw_parts(updates, count),
        )
    };
    let bytes: usize = items.iter().map(|u| u.len).sum();
    n.fetch_add(bytes, Ordering::Relaxed);
}

/// Updates per second through a handler called with `batch`-sized batches,
/// best of ROUNDS.
fn handler_rate(handler: &dyn Fn(&[Vec<u8>]), batch: usize) -> f64 {
    let updates: Vec<Vec<u8>> = (0..batch).map(|i| vec![i as u8; 28]).collect();
    let calls = (2_000_000 / batch).max(1);
    let mut best = 0f64;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..calls {
            handler(std::hint::black_box(&updates));
        }
        best = best.max((calls * batch) as f64 / t.elapsed().as_secs_f64());
    }
    best
}

unsafe extern "C" fn done_c(
    userdata: *mut c_void,
    result: error::mtp_result,
    _data: *const u8,
    len: usize,
) {
    // SAFETY: `userdata` is the `AtomicUsize` passed below, alive for the run.
    let n = unsafe { &*(userdata as *const AtomicUsize) };
    if result == error::mtp_result::MTP_OK {
        n.fetch_add(len, Ordering::Relaxed);
    }
}

/// What `mtp_session_invoke` adds around the core's `invoke_with_callback`
/// for one request, without the network: the handle lookup, the copy of
/// the request, the boxed exactly-once callback, and its completion
/// (last-error slot + the C call), against a boxed Rust closure completed
/// with the same result. Nanoseconds per request, best of ROUNDS.
fn invoke_adapter_in_isolation() {
    const N: usize = 1_000_000;
    struct Entry(#[allow(dead_code)] u64);
    let registry: handle::Registry<Entry> = handle::Registry::new(handle::tag::SESSION);
    let token = registry.insert(Arc::new(Entry(1))).expect("insert");
    let request = echo(&[7u8; 64]);
    let answer = vec![9u8; 76];
    let total = AtomicUsize::new(0);
    let mut best_c = f64::MAX;
    let mut best_rust = f64::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..N {
            let entry = registry.get(std::hint::black_box(token)).expect("live");
            let body = std::hint::black_box(&request[..]).to_vec();
            let cb =
                callback::InvokeCallback::new(done_c, &total as *const AtomicUsize as *mut c_void);
            let boxed: Box<dyn FnOnce(Vec<u8>) + Send> = Box::new(move |r| cb.call(Ok(r)));
            std::hint::black_box(&body);
            boxed(answer.clone());
            drop(entry);
        }
        best_c = best_c.min(t.elapsed().as_secs_f64() * 1e9 / N as f64);
        let t = Instant::now();
        for _ in 0..N {
            let body = std::hint::black_box(&request[..]).to_vec();
            let total = &total;
            let boxed: Box<dyn FnOnce(Vec<u8>) + Send + '_> = Box::new(move |r: Vec<u8>| {
                total.fetch_add(r.len(), Ordering::Relaxed);
            });
            std::hint::black_box(&body);
            boxed(answer.clone());
        }
        best_rust = best_rust.min(t.elapsed().as_secs_f64() * 1e9 / N as f64);
    }
    println!("invoke_adapter_rust_ns {best_rust:.1}");
    println!("invoke_adapter_c_ns {best_c:.1}");
}

fn dispatch_in_isolation() {
    invoke_adapter_in_isolation();
    let c_count = Box::new(AtomicUsize::new(0));
    let c_handler = callback::updates_handler(
        count_c,
        &*c_count as *const AtomicUsize as *mut c_void,
        None,
    );
    let rust_count = AtomicUsize::new(0);
    let rust_handler = |batch: &[Vec<u8>]| {
        let bytes: usize = batch.iter().map(Vec::len).sum();
        rust_count.fetch_add(bytes, Ordering::Relaxed);
    };
    for batch in [1usize, 64, 2000] {
        let r = handler_rate(&rust_handler, batch);
        let c = handler_rate(&c_handler, batch);
        println!("adapter_rust_updates_per_s_batch{batch} {r:.0}");
        println!("adapter_c_updates_per_s_batch{batch} {c:.0}");
    }
    assert_eq!(
        c_count.load(Ordering::Relaxed),
        rust_count.load(Ordering::Relaxed)
    );
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--dispatch-only") {
        dispatch_in_isolation();
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: bench_rust ADDRESS PUBLIC_KEY_PEM_FILE");
        std::process::exit(2);
    }
    let pem = std::fs::read_to_string(&args[2]).expect("read the PEM file");
    let runtime = Runtime::new().expect("runtime");
    let session = runtime
        .open_session(SessionConfig::new(args[1].clone(), 2, pem))
        .expect("session");
    let req = echo(&[7u8; 64]);
    let timeout = Duration::from_secs(30);
    session
        .invoke_blocking(req.clone(), timeout)
        .expect("warm-up");

    // 1. Unpipelined blocking round trips: the median.
    let mut best_p50 = f64::MAX;
    for _ in 0..ROUNDS {
        let mut times = Vec::with_capacity(ROUND_TRIPS);
        for _ in 0..ROUND_TRIPS {
            let t = Instant::now();
            session.invoke_blocking(req.clone(), timeout).expect("echo");
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
        times.sort_by(f64::total_cmp);
        best_p50 = best_p50.min(times[times.len() / 2]);
    }
    println!("blocking_p50_us {best_p50:.2}");

    // 2. Pipelined completion callbacks, WINDOW in flight: time per request.
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let done = Arc::new(Counter::default());
        let t = Instant::now();
        for sent in 0..PIPELINED {
            if sent >= WINDOW {
                done.wait_at_least(sent - WINDOW + 1);
            }
            let d = done.clone();
            session.invoke_with_callback(req.clone(), timeout, move |r| {
                assert!(r.is_ok());
                d.add(1);
            });
        }
        done.wait_at_least(PIPELINED);
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / PIPELINED as f64);
    }
    println!("pipelined_us_per_req {best:.3}");

    // 3. Pushed updates delivered to a handler: updates per second from
    // the request to the last update.
    let mut best_rate = 0f64;
    let mut batches_total = 0usize;
    for _ in 0..ROUNDS {
        let got = Arc::new(Counter::default());
        let batches = Arc::new(Counter::default());
        let (g, b) = (got.clone(), batches.clone());
        session.set_update_handler(move |batch| {
            b.add(1);
            g.add(batch.len());
        });
        let t = Instant::now();
        session
            .invoke_blocking(push_updates(UPDATES, 16), timeout)
            .expect("pushUpdates");
        got.wait_at_least(UPDATES as usize);
        let rate = f64::from(UPDATES) / t.elapsed().as_secs_f64();
        if rate > best_rate {
            best_rate = rate;
            batches_total = batches.get();
        }
        session.clear_update_handler();
    }
    println!("updates_per_s {best_rate:.0}");
    println!("update_batches {batches_total}");
    session.close();
    runtime.close();
}
