//! The Rust reference for scripts/bench-kotlin.sh: how fast a Rust update
//! handler on the core receives a `test.pushUpdates` stream, measured the
//! same way as the Kotlin listener (from sending the request to the last
//! update handled).
//!
//! cargo run --release -p mtproto-uniffi --example update_rate -- ADDRESS PUBKEY.pem COUNT

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use mtproto::client::SessionConfig;
use mtproto::runtime::Runtime;

fn push_updates(count: i32, size: i32) -> Vec<u8> {
    let mut v = 0x0e84_1a3cu32.to_le_bytes().to_vec();
    v.extend_from_slice(&count.to_le_bytes());
    v.extend_from_slice(&size.to_le_bytes());
    v
}

fn echo() -> Vec<u8> {
    let mut v = 0x8f5c_7b19u32.to_le_bytes().to_vec();
    v.extend_from_slice(&[1, 7, 0, 0]);
    v
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        return Err("usage: update_rate ADDRESS PUBKEY.pem COUNT".into());
    }
    let count: usize = args[3].parse()?;
    let runtime = Runtime::new()?;
    let mut config = SessionConfig::new(args[1].clone(), 2, std::fs::read_to_string(&args[2])?);
    config.request_timeout = Duration::from_secs(120);
    let session = runtime.open_session(config)?;
    session.invoke_blocking(echo(), Duration::from_secs(30))?;

    let seen = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<()>();
    let target = Arc::new(AtomicUsize::new(usize::MAX));
    {
        let (seen, calls, target) = (seen.clone(), calls.clone(), target.clone());
        session.set_update_handler(move |batch| {
            calls.fetch_add(1, Ordering::Relaxed);
            let n = seen.fetch_add(batch.len(), Ordering::Relaxed) + batch.len();
            if n >= target.load(Ordering::Relaxed) {
                let _ = tx.send(());
            }
        });
    }
    let run = |n: usize| -> Result<(f64, usize), Box<dyn std::error::Error>> {
        seen.store(0, Ordering::Relaxed);
        calls.store(0, Ordering::Relaxed);
        target.store(n, Ordering::Relaxed);
        while rx.try_recv().is_ok() {}
        let t = Instant::now();
        session.invoke_blocking(push_updates(n as i32, 16), Duration::from_secs(60))?;
        rx.recv_timeout(Duration::from_secs(300))?;
        Ok((
            n as f64 / t.elapsed().as_secs_f64(),
            calls.load(Ordering::Relaxed),
        ))
    };
    run(20_000)?; // warm-up, as the Kotlin run
    let (rate, calls) = run(count)?;
    println!(
        "rust handler: {rate:.0} updates/s, {calls} calls, {:.1} updates/call",
        count as f64 / calls as f64
    );
    session.close();
    runtime.close();
    Ok(())
}
