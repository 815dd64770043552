//! Load tool: measures the client against a local data center on this
//! machine and prints figures next to the targets of the project.
//!
//! - pipelined 64-byte echo on one session (requests per second)
//! - unpipelined round trip (p50 / p99)
//! - heap per idle connected session (N sessions sharing one stored key)
//!
//! The data center runs in a child process (`mtproto-localdc`, built beside
//! this binary) so that client and server sockets do not share one file
//! descriptor limit, and so that the heap figure is the client's alone.
//!
//! ```text
//! cargo build --release -p mtproto-localdc -p mtproto-tools
//! target/release/mtproto-load [--requests N] [--window W] [--rtt N] [--idle N]
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mtproto::client::{ClientSession, SessionConfig};
use mtproto::runtime::Runtime;
use mtproto::storage::MemoryStore;
use mtproto_localdc::api::{self, Call};
use mtproto_tools::{live_heap_bytes, rss_bytes, CountingAlloc};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

struct Args {
    requests: usize,
    window: usize,
    rtt: usize,
    idle: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        requests: 100_000,
        window: 2048,
        rtt: 5_000,
        idle: 10_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = || -> Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{flag} needs a number"))
        };
        match flag.as_str() {
            "--requests" => a.requests = num()?,
            "--window" => a.window = num()?.max(1),
            "--rtt" => a.rtt = num()?,
            "--idle" => a.idle = num()?,
            "--help" | "-h" => {
                return Err(
                    "usage: mtproto-load [--requests N] [--window W] [--rtt N] [--idle N]".into(),
                )
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(a)
}

/// Starts `mtproto-localdc` from the directory of this binary.
struct Server {
    child: Child,
    addr: String,
    public_key: String,
    dir: std::path::PathBuf,
}

impl Server {
    fn start() -> Result<Server, Box<dyn std::error::Error>> {
        let exe = std::env::current_exe()?.with_file_name("mtproto-localdc");
        if !exe.exists() {
            return Err(format!(
                "{} not found: build it with `cargo build --release -p mtproto-localdc`",
                exe.display()
            )
            .into());
        }
        let dir = std::env::temp_dir().join(format!("mtproto-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let pem = dir.join("public.pem");
        let mut child = Command::new(exe)
            .args(["--listen", "127.0.0.1:0", "--rsa-key"])
            .arg(dir.join("rsa.pem"))
            .arg("--public-key-out")
            .arg(&pem)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("unexpected first line: {line:?}"))?
            .to_string();
        let public_key = std::fs::read_to_string(&pem)?;
        Ok(Server {
            child,
            addr,
            public_key,
            dir,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A 64-byte echo whose payload carries `n`, so each reply can be matched
/// to its request.
fn echo64(n: u64) -> Vec<u8> {
    Call::Echo(payload64(n).to_vec()).to_bytes()
}

fn payload64(n: u64) -> [u8; 64] {
    let mut p = [0x42u8; 64];
    p[..8].copy_from_slice(&n.to_le_bytes());
    p[56..].copy_from_slice(&(!n).to_le_bytes());
    p
}

/// Every reply is checked, in release builds too: a benchmark that counts
/// wrong answers as done would measure nothing.
fn check_echo(reply: &[u8], n: u64) -> Result<(), String> {
    match api::parse_payload(reply) {
        Ok(p) if p == payload64(n) => Ok(()),
        Ok(p) => Err(format!("echo {n}: wrong payload ({} bytes)", p.len())),
        Err(e) => Err(format!("echo {n}: not a test.payload: {e}")),
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("mtproto-load: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let in_process;
    let server = if std::env::var_os("MTPROTO_LOAD_INPROCESS").is_some() {
        in_process = mtproto_localdc::LocalDc::builder().start_on_thread()?;
        Server {
            child: Command::new("true").spawn()?,
            addr: in_process.addr().to_string(),
            public_key: in_process.public_key_pem(),
            dir: std::env::temp_dir().join("mtproto-load-none"),
        }
    } else {
        Server::start()?
    };
    println!("localdc at {}", server.addr);
    let runtime = Runtime::new()?;
    let store = Arc::new(MemoryStore::new());
    let config = || {
        let mut c = SessionConfig::new(server.addr.clone(), 2, server.public_key.clone());
        c.store = store.clone();
        c.ping_interval = None;
        c
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    // Warm-up: creates the key the other sessions reuse.
    let session = runtime.open_session(config())?;
    let t = Instant::now();
    check_echo(
        &session.invoke_blocking(echo64(0), Duration::from_secs(30))?,
        0,
    )?;
    println!(
        "key exchange + first echo: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    // 1. Pipelined echo.
    let rate = tokio.block_on(pipelined(&session, args.requests, args.window))?;
    println!(
        "pipelined 64 B echo, 1 session, window {}: {:.0} req/s  ({:.2} x target 100,000)",
        args.window,
        rate,
        rate / 100_000.0
    );

    // 2. Unpipelined round trips.
    let mut rtts = Vec::with_capacity(args.rtt);
    for i in 0..args.rtt as u64 {
        let t = Instant::now();
        let reply = session.invoke_blocking(echo64(i), Duration::from_secs(10))?;
        rtts.push(t.elapsed());
        check_echo(&reply, i)?;
    }
    rtts.sort();
    if !rtts.is_empty() {
        let p = |q: f64| rtts[((rtts.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
        let base = raw_tcp_p50(args.rtt.max(100))?;
        println!(
            "unpipelined round trip over {} calls: p50 {:.1} us, p99 {:.1} us  (p50 target <= 60 us: {:.2} x; \
             raw 64 B TCP ping-pong between two threads, same run: p50 {:.1} us, ratio {:.2})",
            rtts.len(),
            p(0.5),
            p(0.99),
            p(0.5) / 60.0,
            base,
            p(0.5) / base
        );
    }

    // 3. Idle sessions.
    if args.idle > 0 {
        let heap0 = live_heap_bytes();
        let rss0 = rss_bytes().unwrap_or(0);
        let t = Instant::now();
        let mut sessions: Vec<ClientSession> = Vec::with_capacity(args.idle);
        // Opened in waves, each proven connected by one round trip, so the
        // server's accept backlog is not flooded with thousands of SYNs at
        // once (which would only measure the kernel's SYN retry timers).
        while sessions.len() < args.idle {
            let wave = (args.idle - sessions.len()).min(250);
            let start = sessions.len();
            for _ in 0..wave {
                sessions.push(runtime.open_session(config())?);
            }
            tokio
                .block_on(async {
                    let pending: Vec<_> = sessions[start..]
                        .iter()
                        .enumerate()
                        .map(|(i, s)| (i as u64, s.invoke(echo64(i as u64))))
                        .collect();
                    for (i, f) in pending {
                        check_echo(&f.await.map_err(|e| e.to_string())?, i)?;
                    }
                    Ok::<_, String>(())
                })
                .map_err(|e| format!("after {} sessions: {e}", sessions.len()))?;
        }
        println!(
            "{} sessions connected (one echo each) in {:.1} s",
            sessions.len(),
            t.elapsed().as_secs_f64()
        );
        std::thread::sleep(Duration::from_secs(1));
        let heap = live_heap_bytes().saturating_sub(heap0);
        let rss = rss_bytes().unwrap_or(0).saturating_sub(rss0);
        let per = heap as f64 / args.idle as f64;
        println!(
            "idle connected sessions: {} -> heap {:.1} KiB/session ({:.2} x target 20 KiB), RSS {:.1} KiB/session",
            args.idle,
            per / 1024.0,
            per / 20480.0,
            rss as f64 / args.idle as f64 / 1024.0
        );
        for s in &sessions {
            s.close();
        }
    }
    session.close();
    runtime.close();
    Ok(())
}

/// The floor under any round trip here: 64 bytes bounced over loopback TCP
/// between two blocked threads (two wake-ups per round trip; ours has more,
/// through the runtime and dispatcher threads). p50 in microseconds.
fn raw_tcp_p50(n: usize) -> std::io::Result<f64> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; 64];
        while s.read_exact(&mut buf).is_ok() {
            s.write_all(&buf)?;
        }
        Ok(())
    });
    let mut c = std::net::TcpStream::connect(addr)?;
    c.set_nodelay(true)?;
    let mut buf = [0u8; 64];
    let mut times = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let sent = payload64(i);
        let t = Instant::now();
        c.write_all(&sent)?;
        c.read_exact(&mut buf)?;
        times.push(t.elapsed());
        if buf != sent {
            return Err(std::io::Error::other("raw TCP echo returned other bytes"));
        }
    }
    drop(c);
    let _ = echo.join();
    times.sort();
    Ok(times[times.len() / 2].as_secs_f64() * 1e6)
}

async fn pipelined(
    session: &ClientSession,
    total: usize,
    window: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    // Bodies are built before the clock starts; each carries its index.
    let bodies: Vec<Vec<u8>> = (0..total as u64).map(echo64).collect();
    let t = Instant::now();
    let mut in_flight = std::collections::VecDeque::with_capacity(window);
    let mut sent = 0;
    let mut done = 0;
    while done < total {
        while sent < total && in_flight.len() < window {
            in_flight.push_back((sent as u64, session.invoke(bodies[sent].clone())));
            sent += 1;
        }
        if let Some((n, f)) = in_flight.pop_front() {
            check_echo(&f.await?, n)?;
            done += 1;
        }
    }
    Ok(total as f64 / t.elapsed().as_secs_f64())
}
