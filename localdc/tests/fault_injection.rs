//! Exactly once through a hostile network (M-3, M-10, S-24): a seeded
//! proxy on loopback sits between the client runtime and a local DC and
//! breaks connections the way mobile networks do: resets and FINs after N
//! bytes in either direction, stalls, delays, and writes of 1–16 bytes.
//! Every request is a `test.counter` with a key of its own, so the server
//! counts how often each one ran. One summary line per configuration:
//! issued, exactly once, ran twice or more, lost, hung, reconnects. All but
//! "exactly once" and "reconnects" must be 0.

mod client_common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use client_common::*;
use mtproto::client::ClientSession;
use mtproto::runtime::Runtime;
use mtproto_localdc::{api, LocalDc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the proxy treats each connection.
#[derive(Clone, Copy, Debug)]
struct Faults {
    /// Chance that a connection is broken at all.
    break_chance: f64,
    /// A broken connection ends after this many bytes (drawn uniformly) in
    /// one direction, chosen at random.
    cut_after: (usize, usize),
    /// Cut every connection after this many bytes in either direction.
    cut_every: Option<usize>,
    /// Chance per chunk of a stall of up to 300 ms.
    stall_chance: f64,
    /// Chance that a connection splits its writes into 1–16-byte pieces.
    tiny_writes: f64,
}

/// The seeded proxy. Each accepted connection draws its fate from the seed
/// and its index, so a failing run can be repeated.
struct Proxy {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    /// Connections the proxy broke (budget spent).
    cuts: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

impl Proxy {
    fn start(upstream: SocketAddr, faults: Faults, seed: u64) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicU64::new(0));
        let cuts = Arc::new(AtomicU64::new(0));
        let count = accepted.clone();
        let cut = cuts.clone();
        runtime.spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let n = count.fetch_add(1, Ordering::Relaxed);
                let rng = StdRng::seed_from_u64(seed ^ (n.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
                tokio::spawn(relay(client, upstream, faults, rng, cut.clone()));
            }
        });
        Proxy {
            addr,
            accepted,
            cuts,
            _runtime: runtime,
        }
    }
}

/// The fate of one connection: how many bytes each direction may carry
/// before the link breaks, and how it breaks.
struct Plan {
    budget: [usize; 2],
    reset: bool,
}

async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    faults: Faults,
    mut rng: StdRng,
    cuts: Arc<AtomicU64>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut plan = Plan {
        budget: [usize::MAX, usize::MAX],
        reset: rng.gen_bool(0.5),
    };
    if let Some(n) = faults.cut_every {
        plan.budget = [n, n];
    } else if rng.gen_bool(faults.break_chance) {
        let n = rng.gen_range(faults.cut_after.0..=faults.cut_after.1);
        plan.budget[rng.gen_range(0..2)] = n;
    }
    if plan.reset {
        // SO_LINGER 0: closing sends RST instead of FIN.
        let _ = client.set_linger(Some(Duration::ZERO));
    }
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let seeds: [u64; 2] = [rng.gen(), rng.gen()];
    let tiny = rng.gen_bool(faults.tiny_writes);
    let up = pump(cr, sw, plan.budget[0], faults, tiny, seeds[0]);
    let down = pump(sr, cw, plan.budget[1], faults, tiny, seeds[1]);
    // When one direction breaks, the whole link goes.
    let broke = tokio::select! {
        b = up => b,
        b = down => b,
    };
    if broke {
        cuts.fetch_add(1, Ordering::Relaxed);
    }
}

/// Copies one direction until EOF, an error, or the byte budget runs out
/// (then true: the proxy broke the link).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut budget: usize,
    faults: Faults,
    tiny: bool,
    seed: u64,
) -> bool {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let take = n.min(budget);
        let mut chunk = &buf[..take];
        while !chunk.is_empty() {
            let piece = if tiny {
                rng.gen_range(1..=16).min(chunk.len())
            } else {
                chunk.len()
            };
            if rng.gen_bool(faults.stall_chance) {
                tokio::time::sleep(Duration::from_millis(rng.gen_range(1..300))).await;
            }
            if to.write_all(&chunk[..piece]).await.is_err() {
                return false;
            }
            chunk = &chunk[piece..];
        }
        budget -= take;
        if budget == 0 {
            return true;
        }
    }
}

#[derive(Default, Debug)]
struct Tally {
    issued: usize,
    exactly_once: usize,
    ran_twice: usize,
    lost: usize,
    hung: usize,
    reconnects: u64,
    cuts: u64,
}

/// Runs `total` counters split over `sessions` sessions with `window` in
/// flight each, through a proxy with `faults`, and tallies the outcome.
fn run(name: &str, sessions: usize, window: usize, total: usize, faults: Faults) -> Tally {
    let dc = LocalDc::builder().start_on_thread().unwrap();
    let proxy = Proxy::start(dc.addr(), faults, 0x5EED_0000 ^ total as u64);
    let rt = Runtime::new().unwrap();
    let store = Arc::new(mtproto::storage::MemoryStore::new());
    // One key made on a clean link, shared by the sessions (what an app
    // restarting with a stored key does).
    {
        let mut c = config(&dc);
        c.store = store.clone();
        let s = rt.open_session(c).unwrap();
        s.invoke_blocking(echo(b"key"), 30 * SEC).unwrap();
        s.close();
    }
    let open = || -> ClientSession {
        let mut c = config(&dc);
        c.address = proxy.addr.to_string();
        c.store = store.clone();
        c.request_timeout = Duration::from_secs(120);
        rt.open_session(c).unwrap()
    };
    let all: Vec<ClientSession> = (0..sessions).map(|_| open()).collect();
    let per = total / sessions;
    let keys = |s: usize| (0..per).map(move |i| format!("{name}-{s}-{i}"));
    let outcomes: Vec<(String, Option<Result<i64, String>>)> = caller().block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for (si, session) in all.iter().enumerate() {
            let session = session.clone();
            let mine: Vec<String> = keys(si).collect();
            tasks.spawn(async move {
                let mut out = Vec::with_capacity(mine.len());
                let mut in_flight = std::collections::VecDeque::new();
                let mut next = 0;
                while next < mine.len() || !in_flight.is_empty() {
                    while next < mine.len() && in_flight.len() < window {
                        let key = mine[next].clone();
                        let f = session.invoke(counter(&key));
                        in_flight.push_back((key, f));
                        next += 1;
                    }
                    let (key, f) = in_flight.pop_front().unwrap();
                    let r = tokio::time::timeout(Duration::from_secs(90), f).await;
                    out.push((
                        key,
                        r.ok().map(|r| {
                            r.map_err(|e| e.to_string())
                                .and_then(|b| api::parse_count(&b).map_err(|e| e.to_string()))
                        }),
                    ));
                }
                out
            });
        }
        let mut all = Vec::new();
        while let Some(done) = tasks.join_next().await {
            all.extend(done.unwrap());
        }
        all
    });
    let mut t = Tally {
        issued: outcomes.len(),
        ..Tally::default()
    };
    for (key, outcome) in &outcomes {
        let ran = dc.counter(key);
        match outcome {
            None => t.hung += 1,
            _ if ran >= 2 => t.ran_twice += 1,
            Some(Ok(1)) if ran == 1 => t.exactly_once += 1,
            _ => {
                t.lost += 1;
                if t.lost <= 3 {
                    eprintln!("{name}: {key} ran {ran} times, caller got {outcome:?}");
                }
            }
        }
    }
    t.reconnects = proxy
        .accepted
        .load(Ordering::Relaxed)
        .saturating_sub(sessions as u64);
    t.cuts = proxy.cuts.load(Ordering::Relaxed);
    for s in &all {
        s.close();
    }
    println!(
        "{name}: issued {}, exactly once {}, ran twice or more {}, lost {}, hung {}, reconnects {} ({} links cut)",
        t.issued, t.exactly_once, t.ran_twice, t.lost, t.hung, t.reconnects, t.cuts
    );
    t
}

fn assert_exactly_once(t: &Tally) {
    assert_eq!(t.exactly_once, t.issued, "{t:?}");
    assert_eq!((t.ran_twice, t.lost, t.hung), (0, 0, 0), "{t:?}");
    assert!(t.reconnects > 0, "the proxy broke nothing: {t:?}");
}

/// Every connection reset or FINed after 100 B – 32 KiB in one direction,
/// stalls of up to 300 ms, and 1–16-byte writes on three connections in
/// ten: one session, 256 in flight.
#[test]
fn proxy_faults_1_session_256_in_flight() {
    let faults = Faults {
        break_chance: 1.0,
        cut_after: (100, 32 * 1024),
        cut_every: None,
        stall_chance: 0.0005,
        tiny_writes: 0.3,
    };
    assert_exactly_once(&run("1x256", 1, 256, 45_000, faults));
}

/// The same faults, eight sessions of 32 in flight sharing one key.
#[test]
fn proxy_faults_8_sessions_32_in_flight() {
    let faults = Faults {
        break_chance: 1.0,
        cut_after: (100, 32 * 1024),
        cut_every: None,
        stall_chance: 0.0005,
        tiny_writes: 0.0,
    };
    assert_exactly_once(&run("8x32", 8, 32, 45_000, faults));
}

/// Every connection is cut once 4 KiB have gone either way: the livelock
/// configuration of issue 12.
#[test]
fn proxy_faults_link_cut_every_4_kib() {
    let faults = Faults {
        break_chance: 0.0,
        cut_after: (0, 0),
        cut_every: Some(4096),
        stall_chance: 0.0,
        tiny_writes: 0.0,
    };
    assert_exactly_once(&run("cut-4KiB", 1, 64, 10_000, faults));
}
