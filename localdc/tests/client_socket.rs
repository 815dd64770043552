//! The client runtime (`mtproto::runtime` / `mtproto::client`) against a
//! real local DC over loopback TCP: key exchange, pipelining, updates,
//! faults, reconnects, timeouts, cancellation, close, callbacks and key
//! storage.

mod client_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client_common::*;
use mtproto::client::{Error, Framing, SessionConfig, StateEvent, TransportKind};
use mtproto::crypto::AuthKey;
use mtproto::runtime::Runtime;
use mtproto::storage::{DcState, MemoryStore, SessionStore, SqliteStore};
use mtproto_localdc::api::{self, Call};

/// Every transport: four framings plain, three obfuscated (full cannot be).
fn all_transports() -> Vec<TransportKind> {
    let mut v: Vec<_> = Framing::ALL
        .iter()
        .map(|&framing| TransportKind {
            framing,
            obfuscated: false,
        })
        .collect();
    v.extend(
        Framing::ALL
            .iter()
            .filter(|f| **f != Framing::Full)
            .map(|&framing| TransportKind {
                framing,
                obfuscated: true,
            }),
    );
    v
}

#[test]
fn client_key_exchange_over_each_transport() {
    let dc = start_dc();
    let rt = Runtime::new().unwrap();
    for transport in all_transports() {
        let store = Arc::new(MemoryStore::new());
        let mut c = config(&dc);
        c.transport = transport;
        c.store = store.clone();
        let s = rt.open_session(c).unwrap();
        let states = record_states(&s);
        let r = s.invoke_blocking(echo(b"hello"), 30 * SEC);
        assert_eq!(echoed(&r.unwrap()), b"hello", "{transport:?}");
        assert!(
            store.load(dc.dc_id()).unwrap().is_some(),
            "{transport:?}: key saved"
        );
        wait_until("KeyCreated", 5 * SEC, || {
            has_state(&states, &StateEvent::KeyCreated)
        });
        s.close();
    }
    assert_eq!(dc.auth_key_count(), all_transports().len());
}

#[test]
fn client_10000_pipelined_echoes_all_answered_and_matched() {
    let dc = start_dc();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config(&dc)).unwrap();
    s.invoke_blocking(echo(b"warm up"), 30 * SEC).unwrap();
    let n = 10_000u32;
    let start = Instant::now();
    caller().block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            let f = s.invoke(echo(&i.to_le_bytes()));
            set.spawn(async move { (i, f.await) });
        }
        let mut answered = 0;
        while let Some(done) = set.join_next().await {
            let (i, r) = done.unwrap();
            assert_eq!(echoed(&r.unwrap()), i.to_le_bytes());
            answered += 1;
        }
        assert_eq!(answered, n);
    });
    let took = start.elapsed();
    eprintln!(
        "{n} pipelined echoes in {took:?} ({:.0} requests/s)",
        n as f64 / took.as_secs_f64()
    );
}

#[test]
fn client_round_trip_latency() {
    let dc = start_dc();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config(&dc)).unwrap();
    s.invoke_blocking(echo(b"warm up"), 30 * SEC).unwrap();
    let mut times = Vec::new();
    for i in 0..300u32 {
        let t = Instant::now();
        s.invoke_blocking(echo(&i.to_le_bytes()), 5 * SEC).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    eprintln!(
        "blocking echo round trip over loopback: p50 {:?}, p90 {:?}, p99 {:?}",
        at(0.5),
        at(0.9),
        at(0.99)
    );
    assert!(at(0.5) < Duration::from_millis(50));
}

#[test]
fn client_pushed_updates_exactly_once_in_order() {
    let dc = start_dc();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config(&dc)).unwrap();
    let seqs = Arc::new(Mutex::new(Vec::new()));
    let sink = seqs.clone();
    s.set_update_handler(move |batch| {
        let mut seqs = sink.lock().unwrap();
        for u in batch {
            let (seq, data) = api::parse_update(u).expect("a test.update");
            assert_eq!(data, api::update_data(seq, 32));
            seqs.push(seq);
        }
    });
    let count = 2000;
    let r = s.invoke_blocking(Call::PushUpdates { count, size: 32 }.to_bytes(), 30 * SEC);
    assert!(api::parse_bool(&r.unwrap()).unwrap());
    wait_until("every update", 20 * SEC, || {
        seqs.lock().unwrap().len() >= count as usize
    });
    // Nothing more arrives (no duplicates after acks and pings).
    std::thread::sleep(Duration::from_millis(300));
    let seqs = seqs.lock().unwrap();
    assert_eq!(*seqs, (1..=count).collect::<Vec<_>>());
}

#[test]
fn client_bad_server_salt_is_invisible_to_the_caller() {
    let dc = start_dc();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config(&dc)).unwrap();
    s.invoke_blocking(echo(b"key"), 30 * SEC).unwrap();
    dc.set_force_bad_salt(3);
    for i in 0..5u32 {
        let r = s.invoke_blocking(echo(&i.to_le_bytes()), 10 * SEC);
        assert_eq!(
            echoed(&r.unwrap()),
            i.to_le_bytes(),
            "after bad_server_salt"
        );
    }
}

#[test]
fn client_server_clock_an_hour_off_is_invisible_to_the_caller() {
    let rt = Runtime::new().unwrap();
    for skew in [3600i64, -3600] {
        // The client holds a key whose stored clock offset is 0, while the
        // server runs an hour ahead or behind: the first messages get
        // bad_msg_notification 16/17 and the session corrects itself.
        let dc = mtproto_localdc::LocalDc::builder()
            .clock_offset_secs(skew)
            .start_on_thread()
            .unwrap();
        let key = AuthKey::from_bytes(&[skew.unsigned_abs() as u8; 256]);
        assert!(dc.add_auth_key(key.clone(), 0x1234));
        let store = Arc::new(MemoryStore::new());
        store
            .save(&DcState {
                dc_id: dc.dc_id(),
                auth_key: key,
                salt: 0x1234,
                future_salts: Vec::new(),
                time_offset: 0,
            })
            .unwrap();
        let mut c = config(&dc);
        c.store = store.clone();
        let s = rt.open_session(c).unwrap();
        for i in 0..3u32 {
            let r = s.invoke_blocking(echo(&i.to_le_bytes()), 10 * SEC);
            let r = r.unwrap_or_else(|e| panic!("server clock {skew:+} s: {e}"));
            assert_eq!(echoed(&r), i.to_le_bytes());
        }
        wait_until("the corrected offset in the store", 5 * SEC, || {
            (store.load(dc.dc_id()).unwrap().unwrap().time_offset - skew).abs() <= 2
        });
        // A jump of the server clock later on is absorbed too.
        dc.set_clock_offset(skew + 600);
        let r = s.invoke_blocking(echo(b"after the jump"), 10 * SEC);
        assert_eq!(echoed(&r.unwrap()), b"after the jump");
        s.close();
    }
}

#[test]
fn client_reconnect_after_drop_loses_nothing_and_runs_nothing_twice() {
    let dc = start_dc();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config(&dc)).unwrap();
    let states = record_states(&s);
    s.invoke_blocking(echo(b"key"), 30 * SEC).unwrap();
    let per_round = 200;
    let rounds = 3;
    let mut values = Vec::new();
    caller().block_on(async {
        for _ in 0..rounds {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..per_round {
                if i == per_round / 2 {
                    let f = s.invoke(Call::DropConnection.to_bytes());
                    set.spawn(async move { f.await.map(|_| None) });
                }
                let f = s.invoke(counter("drops"));
                set.spawn(async move { f.await.map(|r| Some(api::parse_count(&r).unwrap())) });
            }
            while let Some(done) = set.join_next().await {
                if let Some(v) = done.unwrap().expect("every request is answered") {
                    values.push(v);
                }
            }
        }
    });
    let n = (per_round * rounds) as i64;
    values.sort();
    assert_eq!(
        values,
        (1..=n).collect::<Vec<_>>(),
        "each counter call ran once"
    );
    assert_eq!(dc.counter("drops"), n);
    // State events reach the handler through the dispatcher thread, which
    // may still be delivering the last Connected when the results are in.
    let connected = || {
        states
            .lock()
            .unwrap()
            .iter()
            .filter(|e| **e == StateEvent::Connected)
            .count()
    };
    wait_until("a reconnect after each drop", 10 * SEC, || {
        connected() > rounds
    });
}

#[test]
fn client_timeout_and_cancel_send_rpc_drop_answer() {
    let dc = start_dc();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config(&dc)).unwrap();
    s.invoke_blocking(echo(b"key"), 30 * SEC).unwrap();
    let start = Instant::now();
    let r = s.invoke_blocking(sleep(10_000), Duration::from_millis(300));
    assert_eq!(r, Err(Error::Timeout));
    assert!(start.elapsed() < 2 * SEC);
    wait_until("the server cancels the sleep", 5 * SEC, || {
        dc.cancelled_count() == 1
    });

    caller().block_on(async {
        let f = s.invoke(sleep(10_000));
        let id = f.id();
        let waiter = tokio::spawn(f);
        tokio::time::sleep(Duration::from_millis(200)).await;
        s.cancel(id);
        assert_eq!(waiter.await.unwrap(), Err(Error::Cancelled));
        // Dropping the future cancels as well.
        let f = s.invoke(sleep(10_000));
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(f);
    });
    wait_until("three cancellations", 5 * SEC, || dc.cancelled_count() == 3);
    let r = s.invoke_blocking(echo(b"still fine"), 5 * SEC);
    assert_eq!(echoed(&r.unwrap()), b"still fine");
    // Foreign-language tests read the same figure over the wire.
    let r = s.invoke_blocking(Call::CancelledCount.to_bytes(), 5 * SEC);
    assert_eq!(api::parse_count(&r.unwrap()), Ok(3));
}

#[test]
fn client_close_ends_pending_requests_with_closed() {
    let dc = start_dc();
    let rt = Runtime::new().unwrap();
    let s = rt.open_session(config(&dc)).unwrap();
    s.invoke_blocking(echo(b"key"), 30 * SEC).unwrap();
    let states = record_states(&s);
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || s.invoke_blocking(sleep(30_000), 60 * SEC))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    s.close();
    for w in waiters {
        assert_eq!(w.join().unwrap(), Err(Error::Closed));
    }
    assert!(start.elapsed() < 2 * SEC);
    wait_until("Closed", 5 * SEC, || {
        has_state(&states, &StateEvent::Closed)
    });
    assert_eq!(s.invoke_blocking(echo(b"x"), SEC), Err(Error::Closed));
}

#[test]
fn client_blocking_callback_does_not_delay_another_session() {
    let dc = start_dc();
    let rt = Runtime::new().unwrap();
    let a = rt.open_session(config(&dc)).unwrap();
    let b = rt.open_session(config(&dc)).unwrap();
    a.invoke_blocking(echo(b"key a"), 30 * SEC).unwrap();
    b.invoke_blocking(echo(b"key b"), 30 * SEC).unwrap();
    let blocked = Arc::new(AtomicBool::new(false));
    let flag = blocked.clone();
    a.set_update_handler(move |_| {
        flag.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_secs(1));
        flag.store(false, Ordering::SeqCst);
    });
    a.invoke_blocking(Call::PushUpdates { count: 1, size: 8 }.to_bytes(), 10 * SEC)
        .unwrap();
    wait_until("the callback to block", 5 * SEC, || {
        blocked.load(Ordering::SeqCst)
    });
    let start = Instant::now();
    for i in 0..20u32 {
        let r = b.invoke_blocking(echo(&i.to_le_bytes()), 5 * SEC);
        assert_eq!(echoed(&r.unwrap()), i.to_le_bytes());
    }
    let took = start.elapsed();
    assert!(
        blocked.load(Ordering::SeqCst),
        "the callback returned too early"
    );
    assert!(
        took < Duration::from_millis(600),
        "20 round trips took {took:?}"
    );
}

#[test]
fn client_stored_key_is_reused_on_second_open() {
    let dc = start_dc();
    let db = TempDb::new("reuse");
    let rt = Runtime::new().unwrap();
    let open = || {
        let mut c: SessionConfig = config(&dc);
        c.store = Arc::new(SqliteStore::open(&db.0).unwrap());
        let s = rt.open_session(c).unwrap();
        let states = record_states(&s);
        let r = s.invoke_blocking(echo(b"hi"), 30 * SEC);
        assert_eq!(echoed(&r.unwrap()), b"hi");
        s.close();
        wait_until("Closed", 5 * SEC, || {
            has_state(&states, &StateEvent::Closed)
        });
        has_state(&states, &StateEvent::KeyCreated)
    };
    assert!(open(), "the first open creates a key");
    let key = SqliteStore::open(&db.0)
        .unwrap()
        .load(dc.dc_id())
        .unwrap()
        .unwrap();
    assert!(!open(), "the second open reuses it");
    let again = SqliteStore::open(&db.0)
        .unwrap()
        .load(dc.dc_id())
        .unwrap()
        .unwrap();
    assert_eq!(again.auth_key, key.auth_key);
    assert_eq!(dc.auth_key_count(), 1);
}

/// Sessions opened at once on one empty store make one key per DC between
/// them (the others wait for it and use it), whether they share the store
/// object or name the same SQLite file; before, 8 sessions made 8 keys.
#[test]
fn client_sessions_opened_at_once_on_one_store_make_one_key() {
    let dc = start_dc();
    let db = TempDb::new("one-key");
    let rt = Runtime::new().unwrap();
    let sessions: Vec<_> = (0..8)
        .map(|_| {
            let mut c: SessionConfig = config(&dc);
            c.store = SqliteStore::shared(&db.0).unwrap();
            rt.open_session(c).unwrap()
        })
        .collect();
    let threads: Vec<_> = sessions
        .iter()
        .cloned()
        .map(|s| std::thread::spawn(move || s.invoke_blocking(echo(b"k"), 30 * SEC)))
        .collect();
    for t in threads {
        assert_eq!(echoed(&t.join().unwrap().unwrap()), b"k");
    }
    assert_eq!(dc.auth_key_count(), 1, "one key for eight sessions");
    let memory: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let more: Vec<_> = (0..4)
        .map(|_| {
            let mut c: SessionConfig = config(&dc);
            c.store = memory.clone();
            rt.open_session(c).unwrap()
        })
        .collect();
    for s in &more {
        assert_eq!(
            echoed(&s.invoke_blocking(echo(b"m"), 30 * SEC).unwrap()),
            b"m"
        );
    }
    assert_eq!(
        dc.auth_key_count(),
        2,
        "and one for the shared memory store"
    );
}

#[test]
fn client_init_connection_wraps_the_first_request() {
    let dc = start_dc();
    let rt = Runtime::new().unwrap();
    let mut c = config(&dc);
    c.api_id = Some(12345);
    let s = rt.open_session(c).unwrap();
    // The server unwraps invokeWithLayer(initConnection(...)) and
    // answers the inner query.
    for i in 0..3u32 {
        let r = s.invoke_blocking(echo(&i.to_le_bytes()), 30 * SEC);
        assert_eq!(echoed(&r.unwrap()), i.to_le_bytes());
    }
}

#[test]
fn client_rpc_errors_and_auth_key_events() {
    let dc = start_dc();
    let rt = Runtime::new().unwrap();
    let store = Arc::new(MemoryStore::new());
    let mut c = config(&dc);
    c.store = store.clone();
    let s = rt.open_session(c).unwrap();
    let states = record_states(&s);
    let error = |code: i32, message: &str| {
        Call::Error {
            code,
            message: message.into(),
        }
        .to_bytes()
    };
    let r = s.invoke_blocking(error(400, "BAD_THING"), 30 * SEC);
    assert_eq!(
        r,
        Err(Error::Rpc {
            code: 400,
            message: "BAD_THING".into()
        })
    );
    let r = s.invoke_blocking(error(401, "AUTH_KEY_UNREGISTERED"), 5 * SEC);
    assert!(matches!(r, Err(Error::Rpc { code: 401, .. })));
    wait_until("AuthKeyUnregistered", 5 * SEC, || {
        has_state(&states, &StateEvent::AuthKeyUnregistered)
    });
    // Not terminal.
    assert_eq!(
        echoed(&s.invoke_blocking(echo(b"x"), 5 * SEC).unwrap()),
        b"x"
    );
    // AUTH_KEY_DUPLICATED is: the key is deleted and the session ends.
    let r = s.invoke_blocking(error(406, "AUTH_KEY_DUPLICATED"), 5 * SEC);
    assert!(matches!(r, Err(Error::Rpc { code: 406, .. })));
    wait_until("Closed", 5 * SEC, || {
        has_state(&states, &StateEvent::Closed)
    });
    assert!(has_state(&states, &StateEvent::AuthKeyDuplicated));
    assert_eq!(store.load(dc.dc_id()).unwrap(), None);
    assert_eq!(s.invoke_blocking(echo(b"x"), SEC), Err(Error::Closed));
}

#[test]
fn client_lost_key_ends_the_session_or_is_recreated() {
    let dc = start_dc();
    let rt = Runtime::new().unwrap();
    for recreate in [false, true] {
        let store = Arc::new(MemoryStore::new());
        let mut c = config(&dc);
        c.store = store.clone();
        c.recreate_lost_key = recreate;
        let s = rt.open_session(c).unwrap();
        let states = record_states(&s);
        s.invoke_blocking(echo(b"key"), 30 * SEC).unwrap();
        let key = store.load(dc.dc_id()).unwrap().unwrap().auth_key;
        assert!(dc.forget_auth_key(key.id_i64()));
        let r = s.invoke_blocking(echo(b"after"), 30 * SEC);
        wait_until("AuthKeyLost", 5 * SEC, || {
            has_state(&states, &StateEvent::AuthKeyLost)
        });
        if recreate {
            // The request that met −404 fails; the session goes on with a new key.
            assert!(matches!(r, Err(Error::Auth(_))), "{r:?}");
            let r = s.invoke_blocking(echo(b"new key"), 30 * SEC);
            assert_eq!(echoed(&r.unwrap()), b"new key");
            let new_key = store.load(dc.dc_id()).unwrap().unwrap().auth_key;
            assert_ne!(new_key, key);
            s.close();
        } else {
            assert!(matches!(r, Err(Error::Auth(_))), "{r:?}");
            wait_until("Closed", 5 * SEC, || {
                has_state(&states, &StateEvent::Closed)
            });
            assert_eq!(store.load(dc.dc_id()).unwrap(), None);
        }
    }
}

/// The first reconnect after a connection that worked is immediate; only
/// repeated failures wait for the backoff.
#[test]
fn client_first_reconnect_after_a_healthy_connection_is_immediate() {
    let dc = start_dc();
    let rt = Runtime::new().unwrap();
    let mut c = config(&dc);
    c.reconnect.initial_delay = Duration::from_secs(2);
    c.reconnect.max_delay = Duration::from_secs(10);
    let s = rt.open_session(c).unwrap();
    let states = record_states(&s);
    s.invoke_blocking(echo(b"up"), 30 * SEC).unwrap();
    let _ = s.invoke_blocking(Call::DropConnection.to_bytes(), 5 * SEC);
    assert_eq!(
        echoed(&s.invoke_blocking(echo(b"again"), 30 * SEC).unwrap()),
        b"again"
    );
    let waits: Vec<_> = states
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            StateEvent::WaitingToReconnect { delay } => Some(*delay),
            _ => None,
        })
        .collect();
    assert_eq!(waits, vec![Duration::ZERO], "one reconnect, without delay");
}
