//! Tests of the runtime, the network driver and the public client API
//! against the in-process [`FakeServer`] (real loopback sockets, the real
//! session and transport state machines on both ends, a pre-shared key).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::fake_server::*;
use super::*;
use crate::runtime::Runtime;
use crate::storage::{MemoryStore, SessionStore};

fn fast_reconnect() -> ReconnectPolicy {
    ReconnectPolicy {
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        jitter: 0.0,
        flood_delay: Duration::from_millis(100),
    }
}

fn config_for(server: &FakeServer) -> SessionConfig {
    let mut c = SessionConfig::new(server.addr.to_string(), DC, "");
    c.store = server.store();
    c.reconnect = fast_reconnect();
    c.request_timeout = Duration::from_secs(10);
    c
}

/// A session on `server` whose store the test keeps, to look at the key.
fn open_keeping_store(rt: &Runtime, server: &FakeServer) -> (ClientSession, Arc<MemoryStore>) {
    let mut c = config_for(server);
    let store = server.store();
    c.store = store.clone();
    (rt.open_session(c).unwrap(), store)
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Records state events.
fn record_states(session: &ClientSession) -> Arc<Mutex<Vec<StateEvent>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    session.set_state_handler(move |e| sink.lock().unwrap().push(e.clone()));
    events
}

const SEC: Duration = Duration::from_secs(1);

// ---- backoff and configuration -------------------------------------------

#[test]
fn client_backoff_doubles_and_caps() {
    let p = ReconnectPolicy {
        initial_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(16),
        jitter: 0.0,
        flood_delay: Duration::from_secs(8),
    };
    let got: Vec<u64> = (0..8)
        .map(|n| p.delay_with(n, false, 0.5).as_millis() as u64)
        .collect();
    assert_eq!(got, [500, 1000, 2000, 4000, 8000, 16000, 16000, 16000]);
    // Huge attempt counts neither overflow nor exceed the cap.
    assert_eq!(p.delay_with(u32::MAX, false, 0.0), Duration::from_secs(16));
}

#[test]
fn client_backoff_jitter_stays_within_bounds() {
    let p = ReconnectPolicy {
        jitter: 0.25,
        ..ReconnectPolicy::desktop()
    };
    for attempt in 0..10 {
        let base = p.delay_with(attempt, false, 0.0);
        assert!(base <= p.max_delay);
        let low = p.delay_with(attempt, false, 0.999_999);
        assert!(low >= base.mul_f64(0.75) - Duration::from_millis(1));
        assert!(low <= base);
        for _ in 0..20 {
            let d = p.delay(attempt, false);
            assert!(d <= base && d >= base.mul_f64(0.75) - Duration::from_millis(1));
        }
    }
}

#[test]
fn client_backoff_flood_waits_at_least_flood_delay() {
    let p = ReconnectPolicy {
        jitter: 0.0,
        ..ReconnectPolicy::desktop()
    };
    assert_eq!(p.delay_with(0, true, 0.0), p.flood_delay);
    assert_eq!(p.delay_with(10, true, 0.0), p.max_delay);
    let tight = ReconnectPolicy {
        max_delay: Duration::from_secs(2),
        ..p
    };
    assert_eq!(tight.delay_with(0, true, 0.0), Duration::from_secs(2));
}

#[test]
fn client_handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Runtime>();
    check::<ClientSession>();
    check::<Error>();
    fn check_send<T: Send>() {}
    check_send::<Invoke>();
}

#[test]
fn client_reconnect_presets() {
    assert_eq!(
        ReconnectPolicy::desktop().max_delay,
        Duration::from_secs(16)
    );
    assert_eq!(
        ReconnectPolicy::mobile().max_delay,
        Duration::from_secs(300)
    );
    assert_eq!(ReconnectPolicy::default(), ReconnectPolicy::desktop());
    let t = TransportKind::default();
    assert_eq!(
        (t.framing, t.obfuscated),
        (Framing::PaddedIntermediate, true)
    );
}

#[test]
fn client_parse_addresses() {
    assert_eq!(
        parse_address("127.0.0.1:443").unwrap(),
        Address::Socket("127.0.0.1:443".parse().unwrap())
    );
    assert_eq!(
        parse_address("[::1]:80").unwrap(),
        Address::Socket("[::1]:80".parse().unwrap())
    );
    assert_eq!(
        parse_address("dc2.example.org:443").unwrap(),
        Address::Host("dc2.example.org".into(), 443)
    );
    for bad in [
        "",
        "host",
        "host:",
        ":443",
        "host:0",
        "host:65536",
        "1.2.3.4:0",
        "a b:1",
        "h:-1",
    ] {
        assert!(
            matches!(parse_address(bad), Err(Error::InvalidInput(_))),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn client_config_validation() {
    let rt = Runtime::new().unwrap();
    let base = || {
        let mut c = SessionConfig::new("127.0.0.1:1", 2, "");
        let store = Arc::new(MemoryStore::new());
        store
            .save(&crate::storage::DcState {
                dc_id: 2,
                auth_key: test_key(),
                salt: 0,
                future_salts: Vec::new(),
                time_offset: 0,
            })
            .unwrap();
        c.store = store;
        c
    };
    type Mutation = Box<dyn Fn(&mut SessionConfig)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("address", Box::new(|c| c.address = "nonsense".into())),
        ("dc 0", Box::new(|c| c.dc_id = 0)),
        ("dc negative", Box::new(|c| c.dc_id = -2)),
        ("dc too big", Box::new(|c| c.dc_id = 10_000)),
        (
            "pem",
            Box::new(|c| {
                c.rsa_public_keys_pem =
                    "-----BEGIN RSA PUBLIC KEY-----\nnot base64!\n-----END RSA PUBLIC KEY-----\n"
                        .into()
            }),
        ),
        (
            "pem garbage",
            Box::new(|c| c.rsa_public_keys_pem = "hello".into()),
        ),
        (
            "full obfuscated",
            Box::new(|c| {
                c.transport = TransportKind {
                    framing: Framing::Full,
                    obfuscated: true,
                }
            }),
        ),
        (
            "connect timeout",
            Box::new(|c| c.connect_timeout = Duration::ZERO),
        ),
        (
            "request timeout",
            Box::new(|c| c.request_timeout = Duration::ZERO),
        ),
        (
            "ping",
            Box::new(|c| c.ping_interval = Some(Duration::from_millis(10))),
        ),
        ("jitter", Box::new(|c| c.reconnect.jitter = 1.5)),
        ("jitter nan", Box::new(|c| c.reconnect.jitter = f64::NAN)),
        (
            "initial delay",
            Box::new(|c| c.reconnect.initial_delay = Duration::ZERO),
        ),
        (
            "max < initial",
            Box::new(|c| c.reconnect.max_delay = Duration::from_millis(1)),
        ),
        ("layer", Box::new(|c| c.layer = 0)),
        (
            "huge request timeout",
            Box::new(|c| c.request_timeout = Duration::MAX),
        ),
        (
            "huge connect timeout",
            Box::new(|c| c.connect_timeout = Duration::MAX),
        ),
        (
            "huge ping",
            Box::new(|c| c.ping_interval = Some(Duration::MAX)),
        ),
        (
            "huge backoff",
            Box::new(|c| c.reconnect.max_delay = Duration::MAX),
        ),
    ];
    for (name, mutate) in cases {
        let mut c = base();
        mutate(&mut c);
        match rt.open_session(c) {
            Err(Error::InvalidInput(_)) => {}
            other => panic!("{name}: expected InvalidInput, got {other:?}"),
        }
    }
    // The unchanged base is fine; full framing without obfuscation too.
    rt.open_session(base()).unwrap().close();
    let mut c = base();
    c.transport = TransportKind {
        framing: Framing::Full,
        obfuscated: false,
    };
    rt.open_session(c).unwrap().close();
}

#[test]
fn client_open_without_key_or_rsa_key_is_invalid_input() {
    let rt = Runtime::new().unwrap();
    let c = SessionConfig::new("127.0.0.1:1", 2, "");
    assert!(matches!(rt.open_session(c), Err(Error::InvalidInput(_))));
}

#[test]
fn client_bad_request_bytes_are_invalid_input() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config_for(&server)).unwrap();
    for bad in [
        vec![],
        vec![1, 2, 3],
        vec![0; 5],
        vec![0; MAX_REQUEST_BYTES + 4],
    ] {
        let r = s.invoke_blocking(bad.clone(), SEC);
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "{} bytes: {r:?}",
            bad.len()
        );
    }
    assert!(matches!(
        s.invoke_blocking(request(OP_ECHO, 1), Duration::ZERO),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        s.invoke_blocking(request(OP_ECHO, 1), Duration::MAX),
        Err(Error::InvalidInput(_))
    ));
    // The callback form reports it through the callback, at once.
    let got = Arc::new(Mutex::new(None));
    let sink = got.clone();
    s.invoke_with_callback(vec![1], SEC, move |r| *sink.lock().unwrap() = Some(r));
    assert!(matches!(
        *got.lock().unwrap(),
        Some(Err(Error::InvalidInput(_)))
    ));
}

// ---- runtime lifecycle --------------------------------------------------

#[test]
fn client_runtime_close_joins_threads() {
    let server = FakeServer::start();
    let rt = Runtime::with_name("lifecycle").unwrap();
    let s = rt.open_session(config_for(&server)).unwrap();
    assert_eq!(
        s.invoke_blocking(request(OP_ECHO, 5), 5 * SEC).unwrap(),
        request(OP_ECHO, 5)
    );
    let alive = rt.net_alive.clone();
    assert!(alive.upgrade().is_some());
    rt.close();
    // close() returned only after the network thread ended.
    assert!(alive.upgrade().is_none());
    assert!(rt.is_closed());
    rt.close(); // idempotent
    assert!(matches!(
        rt.open_session(config_for(&server)),
        Err(Error::Closed)
    ));
    assert!(s.is_closed());
    assert_eq!(
        s.invoke_blocking(request(OP_ECHO, 1), SEC),
        Err(Error::Closed)
    );
}

#[test]
fn client_runtime_drop_ends_pending_requests_with_closed() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config_for(&server)).unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..5 {
        let sink = got.clone();
        s.invoke_with_callback(request(OP_HOLD, 0), 60 * SEC, move |r| {
            sink.lock().unwrap().push(r)
        });
    }
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    drop(rt);
    assert!(start.elapsed() < 3 * SEC);
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 5, "every callback ran before drop returned");
    assert!(got.iter().all(|r| *r == Err(Error::Closed)));
}

#[test]
fn client_invoke_on_closed_session_is_closed() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config_for(&server)).unwrap();
    let states = record_states(&s);
    s.close();
    assert!(s.is_closed());
    assert_eq!(
        s.invoke_blocking(request(OP_ECHO, 1), SEC),
        Err(Error::Closed)
    );
    let rt2 = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(
        rt2.block_on(s.invoke(request(OP_ECHO, 1))),
        Err(Error::Closed)
    );
    wait_until("Closed state", 5 * SEC, || {
        states.lock().unwrap().last() == Some(&StateEvent::Closed)
    });
    assert_eq!(
        s.next_updates(10, Duration::from_millis(10)),
        Err(Error::Closed)
    );
}

// ---- requests ----------------------------------------------------------

#[test]
fn client_echo_round_trip_every_form() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config_for(&server)).unwrap();
    // Blocking, from this plain thread.
    assert_eq!(
        s.invoke_blocking(request(OP_ECHO, 1), 5 * SEC).unwrap(),
        request(OP_ECHO, 1)
    );
    // Async, from a foreign tokio runtime.
    let caller = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = caller.block_on(s.invoke(request(OP_ECHO, 2))).unwrap();
    assert_eq!(r, request(OP_ECHO, 2));
    // Callback, on the dispatcher thread.
    let (tx, rx) = std::sync::mpsc::channel();
    s.invoke_with_callback(request(OP_ECHO, 3), 5 * SEC, move |r| {
        let name = std::thread::current().name().map(str::to_owned);
        tx.send((r, name)).unwrap();
    });
    let (r, thread) = rx.recv_timeout(5 * SEC).unwrap();
    assert_eq!(r.unwrap(), request(OP_ECHO, 3));
    assert_eq!(thread.as_deref(), Some("mtproto-dispatch"));
    // Large bodies go gzip_packed both ways.
    let mut big = request(OP_ECHO, 4);
    big.extend(std::iter::repeat_n(0x61, 100_000));
    assert_eq!(s.invoke_blocking(big.clone(), 5 * SEC).unwrap(), big);
}

#[test]
fn client_pipelined_requests_all_answered_and_matched() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config_for(&server)).unwrap();
    let caller = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // More than one command batch (4096) of the session task.
    let n = 5000u32;
    let started = Instant::now();
    caller.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            let f = s.invoke(request(OP_ECHO, i));
            set.spawn(async move { (i, f.await) });
        }
        let mut seen = 0;
        while let Some(done) = set.join_next().await {
            let (i, r) = done.unwrap();
            assert_eq!(r.unwrap(), request(OP_ECHO, i));
            seen += 1;
        }
        assert_eq!(seen, n);
    });
    eprintln!("{n} pipelined echoes in {:?}", started.elapsed());
    // Containers, not one packet per request: far fewer packets than queries.
    assert_eq!(server.stats.queries.load(Ordering::SeqCst), n as usize);
}

#[test]
fn client_timeout_cancels_on_the_server() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config_for(&server)).unwrap();
    s.invoke_blocking(request(OP_ECHO, 0), 5 * SEC).unwrap();
    let start = Instant::now();
    let r = s.invoke_blocking(request(OP_HOLD, 0), Duration::from_millis(300));
    assert_eq!(r, Err(Error::Timeout));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < 2 * SEC,
        "{took:?}"
    );
    wait_until("rpc_drop_answer", 5 * SEC, || {
        server.stats.cancelled.load(Ordering::SeqCst) == 1
    });
    // The session still works.
    s.invoke_blocking(request(OP_ECHO, 1), 5 * SEC).unwrap();
}

#[test]
fn client_cancel_explicit_and_by_drop() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config_for(&server)).unwrap();
    s.invoke_blocking(request(OP_ECHO, 0), 5 * SEC).unwrap();
    let caller = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    caller.block_on(async {
        let f = s.invoke(request(OP_HOLD, 1));
        let id = f.id();
        let waiter = tokio::spawn(f);
        tokio::time::sleep(Duration::from_millis(100)).await;
        s.cancel(id);
        assert_eq!(waiter.await.unwrap(), Err(Error::Cancelled));
        // Dropping a future that is in flight cancels it too.
        let f = s.invoke(request(OP_HOLD, 2));
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(f);
    });
    wait_until("two rpc_drop_answer", 5 * SEC, || {
        server.stats.cancelled.load(Ordering::SeqCst) == 2
    });
    // Cancelling unknown or finished ids is harmless.
    s.cancel(RequestId(987_654));
    s.invoke_blocking(request(OP_ECHO, 3), 5 * SEC).unwrap();
}

#[test]
fn client_close_ends_pending_requests() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config_for(&server)).unwrap();
    let states = record_states(&s);
    let waiters: Vec<_> = (0..10)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || s.invoke_blocking(request(OP_HOLD, i), 60 * SEC))
        })
        .collect();
    wait_until("queries on the server", 5 * SEC, || {
        server.stats.queries.load(Ordering::SeqCst) == 10
    });
    let start = Instant::now();
    s.close();
    for w in waiters {
        assert_eq!(w.join().unwrap(), Err(Error::Closed));
    }
    assert!(start.elapsed() < 2 * SEC);
    wait_until("Closed", 5 * SEC, || {
        states.lock().unwrap().last() == Some(&StateEvent::Closed)
    });
}

#[test]
fn client_requests_wait_for_the_connection_and_time_out() {
    // Nothing listens there: requests queue, then time out; never hang.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let rt = Runtime::new().unwrap();
    let server_key_store = FakeServer::start().store();
    let mut c = SessionConfig::new(addr.to_string(), DC, "");
    c.store = server_key_store;
    c.reconnect = fast_reconnect();
    let s = rt.open_session(c).unwrap();
    let states = record_states(&s);
    let start = Instant::now();
    assert_eq!(
        s.invoke_blocking(request(OP_ECHO, 1), Duration::from_millis(400)),
        Err(Error::Timeout)
    );
    assert!(start.elapsed() < 2 * SEC);
    let seen = states.lock().unwrap().clone();
    assert!(seen
        .iter()
        .any(|e| matches!(e, StateEvent::WaitingToReconnect { .. })));
    assert!(!seen.contains(&StateEvent::Connected));
}

// ---- updates and callbacks --------------------------------------------

#[test]
fn client_updates_in_order_exactly_once_through_the_handler() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config_for(&server)).unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let batches = Arc::new(AtomicUsize::new(0));
    let (sink, count) = (got.clone(), batches.clone());
    s.set_update_handler(move |batch| {
        count.fetch_add(1, Ordering::SeqCst);
        sink.lock().unwrap().extend_from_slice(batch);
    });
    s.invoke_blocking(request(OP_PUSH, 500), 5 * SEC).unwrap();
    wait_until("500 updates", 5 * SEC, || got.lock().unwrap().len() >= 500);
    std::thread::sleep(Duration::from_millis(100));
    let got = got.lock().unwrap();
    let expected: Vec<Vec<u8>> = (0..500).map(|i| request(OP_UPDATE, i)).collect();
    assert_eq!(*got, expected);
    assert!(batches.load(Ordering::SeqCst) < 500, "delivered in batches");
}

#[test]
fn client_updates_pull_api_and_late_handler() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config_for(&server)).unwrap();
    s.invoke_blocking(request(OP_PUSH, 30), 5 * SEC).unwrap();
    let mut got = Vec::new();
    while got.len() < 10 {
        got.extend(s.next_updates(10 - got.len(), SEC).unwrap());
    }
    assert_eq!(got.len(), 10);
    assert_eq!(s.next_updates(5, SEC).unwrap().len(), 5);
    // The async form.
    let caller = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    got.extend(caller.block_on(s.recv_updates(5)).unwrap());
    // A handler set later receives what is still buffered first, in order.
    let rest = Arc::new(Mutex::new(Vec::new()));
    let sink = rest.clone();
    s.set_update_handler(move |b| sink.lock().unwrap().extend_from_slice(b));
    wait_until("the buffered rest", 5 * SEC, || {
        rest.lock().unwrap().len() == 10
    });
    let expected: Vec<Vec<u8>> = (20..30).map(|i| request(OP_UPDATE, i)).collect();
    assert_eq!(*rest.lock().unwrap(), expected);
    assert_eq!(
        s.next_updates(5, Duration::from_millis(20)).unwrap(),
        Vec::<Vec<u8>>::new()
    );
}

#[test]
fn client_blocking_callback_does_not_block_the_runtime() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let a = rt.open_session(config_for(&server)).unwrap();
    let b = rt.open_session(config_for(&server)).unwrap();
    let blocked = Arc::new(AtomicBool::new(false));
    let flag = blocked.clone();
    a.set_update_handler(move |_| {
        flag.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_secs(1));
        flag.store(false, Ordering::SeqCst);
    });
    a.invoke_blocking(request(OP_PUSH, 1), 5 * SEC).unwrap();
    wait_until("the handler to block", 5 * SEC, || {
        blocked.load(Ordering::SeqCst)
    });
    // While the dispatcher sits in a one-second callback, both sessions'
    // requests are answered promptly.
    let start = Instant::now();
    for i in 0..20 {
        b.invoke_blocking(request(OP_ECHO, i), 5 * SEC).unwrap();
        a.invoke_blocking(request(OP_ECHO, i), 5 * SEC).unwrap();
    }
    let took = start.elapsed();
    assert!(
        blocked.load(Ordering::SeqCst),
        "the handler returned too early"
    );
    assert!(took < Duration::from_millis(700), "requests took {took:?}");
}

#[test]
fn client_panicking_callbacks_are_contained() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config_for(&server)).unwrap();
    s.set_update_handler(|_| panic!("handler bug"));
    s.set_state_handler(|_| panic!("handler bug"));
    s.invoke_with_callback(request(OP_ECHO, 0), 5 * SEC, |_| panic!("handler bug"));
    s.invoke_blocking(request(OP_PUSH, 3), 5 * SEC).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // The dispatcher survived: callbacks still run.
    let (tx, rx) = std::sync::mpsc::channel();
    s.invoke_with_callback(request(OP_ECHO, 1), 5 * SEC, move |r| tx.send(r).unwrap());
    assert_eq!(
        rx.recv_timeout(5 * SEC).unwrap().unwrap(),
        request(OP_ECHO, 1)
    );
}

// ---- connection events ---------------------------------------------------

#[test]
fn client_reconnects_and_loses_nothing() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config_for(&server)).unwrap();
    let states = record_states(&s);
    s.invoke_blocking(request(OP_ECHO, 0), 5 * SEC).unwrap();
    // Requests before and after a connection drop, all in flight at once:
    // what the server did not process is resent on the next connection.
    let caller = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    caller.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..41u32 {
            if i == 21 {
                // These go out while the server ignores the connection.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let op = if i == 20 { OP_DROP } else { OP_ECHO };
            let f = s.invoke(request(op, i));
            set.spawn(async move { (op, i, f.await) });
        }
        while let Some(done) = set.join_next().await {
            let (op, i, r) = done.unwrap();
            assert_eq!(r.unwrap(), request(op, i));
        }
    });
    assert!(server.stats.connections.load(Ordering::SeqCst) >= 2);
    // Nothing ran twice.
    assert_eq!(server.stats.queries.load(Ordering::SeqCst), 42);
    // State events reach the handler through the dispatcher thread, so
    // the second Connected may trail the last answer a little.
    let count_connected = || {
        states
            .lock()
            .unwrap()
            .iter()
            .filter(|e| **e == StateEvent::Connected)
            .count()
    };
    wait_until("a second Connected", 5 * SEC, || count_connected() >= 2);
    let seen = states.lock().unwrap().clone();
    let waiting = seen
        .iter()
        .position(|e| matches!(e, StateEvent::WaitingToReconnect { .. }))
        .unwrap_or_else(|| panic!("no reconnect: {seen:?}"));
    assert!(seen[waiting..].contains(&StateEvent::Connected), "{seen:?}");
}

#[test]
fn client_auth_key_unregistered_is_reported() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config_for(&server)).unwrap();
    let states = record_states(&s);
    let r = s.invoke_blocking(request(OP_UNREGISTERED, 0), 5 * SEC);
    assert_eq!(
        r,
        Err(Error::Rpc {
            code: 401,
            message: "AUTH_KEY_UNREGISTERED".into()
        })
    );
    wait_until("AuthKeyUnregistered", 5 * SEC, || {
        states
            .lock()
            .unwrap()
            .contains(&StateEvent::AuthKeyUnregistered)
    });
    // Not terminal: the login flow continues on the same session.
    s.invoke_blocking(request(OP_ECHO, 1), 5 * SEC).unwrap();
}

#[test]
fn client_transport_404_forgets_the_key_and_closes() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let (s, store) = open_keeping_store(&rt, &server);
    let states = record_states(&s);
    s.invoke_blocking(request(OP_ECHO, 0), 5 * SEC).unwrap();
    let other = {
        let s = s.clone();
        std::thread::spawn(move || s.invoke_blocking(request(OP_HOLD, 0), 30 * SEC))
    };
    wait_until("the held query", 5 * SEC, || {
        server.stats.queries.load(Ordering::SeqCst) == 2
    });
    let r = s.invoke_blocking(request(OP_404, 0), 5 * SEC);
    assert!(matches!(r, Err(Error::Auth(_))), "{r:?}");
    assert!(matches!(other.join().unwrap(), Err(Error::Auth(_))));
    assert_eq!(store.load(DC).unwrap(), None, "the dead key was deleted");
    wait_until("Closed", 5 * SEC, || {
        states.lock().unwrap().last() == Some(&StateEvent::Closed)
    });
    assert!(states.lock().unwrap().contains(&StateEvent::AuthKeyLost));
    assert_eq!(
        s.invoke_blocking(request(OP_ECHO, 1), SEC),
        Err(Error::Closed)
    );
}

/// E-11, T-11: one −404 is not proof that the key is gone (a server
/// restart or a proxy can send one): the key is kept, the connection is
/// replaced, and the request completes with its answer from the server.
#[test]
fn client_single_404_is_confirmed_before_the_key_is_forgotten() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let (s, store) = open_keeping_store(&rt, &server);
    let states = record_states(&s);
    let r = s.invoke_blocking(request(OP_404_ONCE, 3), 10 * SEC);
    assert_eq!(r, Ok(request(OP_404_ONCE, 3)));
    assert!(store.load(DC).unwrap().is_some(), "the key is kept");
    assert!(!states.lock().unwrap().contains(&StateEvent::AuthKeyLost));
    assert_eq!(server.stats.queries.load(Ordering::SeqCst), 1, "ran once");
    assert!(server.stats.connections.load(Ordering::SeqCst) >= 2);
}

/// S-21: liveness counts complete packets and pongs, not bytes: a peer that
/// starts a 1 MiB frame and trickles it at 20 KiB/s is dropped after the
/// keepalive limit (1.5 × the ping interval), not kept for 50 s.
#[test]
fn client_trickling_peer_is_dropped_within_the_keepalive() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let mut c = config_for(&server);
    c.ping_interval = Some(SEC);
    let s = rt.open_session(c).unwrap();
    s.invoke_blocking(request(OP_ECHO, 0), 5 * SEC).unwrap();
    let states = record_states(&s);
    let started = Instant::now();
    let pending = {
        let s = s.clone();
        std::thread::spawn(move || s.invoke_blocking(request(OP_TRICKLE, 0), 20 * SEC))
    };
    wait_until("a reconnect", 6 * SEC, || {
        states
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, StateEvent::WaitingToReconnect { .. }))
    });
    let took = started.elapsed();
    assert!(took < 5 * SEC, "dropped after {took:?}");
    s.close();
    let _ = pending.join();
}

/// S-17: when the server re-creates the session (here it forgets every
/// session, as after a restart), the update stream carries GAP_MARKER at
/// that point, after the updates delivered before it; the first
/// new_session_created of a session is not marked. The new salt is
/// persisted.
#[test]
fn client_server_session_recreated_puts_a_gap_marker_in_the_stream() {
    let server = FakeServer::start();
    let rt = Runtime::new().unwrap();
    let (s, store) = open_keeping_store(&rt, &server);
    s.invoke_blocking(request(OP_PUSH, 2), 5 * SEC).unwrap();
    s.invoke_blocking(request(OP_FORGET, 0), 5 * SEC).unwrap();
    s.invoke_blocking(request(OP_PUSH, 1), 5 * SEC).unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        let batch = s.next_updates(16, 5 * SEC).unwrap();
        assert!(!batch.is_empty(), "timed out after {got:?}");
        got.extend(batch);
    }
    assert_eq!(
        got,
        vec![
            request(OP_UPDATE, 0),
            request(OP_UPDATE, 1),
            GAP_MARKER.to_vec(),
            request(OP_UPDATE, 0),
        ]
    );
    wait_until("the salt persisted", 5 * SEC, || {
        store.load(DC).unwrap().is_some_and(|st| st.salt != 0)
    });
}
