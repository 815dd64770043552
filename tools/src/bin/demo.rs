//! The main job: start a local data center on loopback, then use it as an
//! app would — create (or reuse) an auth key stored in SQLite, invoke echo,
//! receive pushed updates through the callback, survive a dropped
//! connection — printing each step with its timing.
//!
//! Run it twice: the second run reuses the key stored by the first.
//!
//! ```text
//! cargo run --release -p mtproto-tools --bin demo [-- --data-dir DIR]
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mtproto::client::{SessionConfig, StateEvent};
use mtproto::crypto::RsaPrivateKey;
use mtproto::runtime::Runtime;
use mtproto::storage::{SessionStore, SqliteStore};
use mtproto_localdc::api::{self, Call};
use mtproto_localdc::LocalDc;

fn main() {
    if let Err(e) = run() {
        eprintln!("demo failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut data_dir = PathBuf::from("target/demo");
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data-dir" => data_dir = PathBuf::from(args.next().ok_or("--data-dir needs a path")?),
            "--help" | "-h" => {
                println!("usage: demo [--data-dir DIR]   (default target/demo)");
                return Ok(());
            }
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    std::fs::create_dir_all(&data_dir)?;
    let t0 = Instant::now();
    let step = |what: &str| println!("[{:>9.3} ms] {what}", t0.elapsed().as_secs_f64() * 1e3);

    // The data center: its RSA key and its permanent keys persist in the
    // data dir, as a production DC's would.
    let rsa_path = data_dir.join("dc-rsa-key.pem");
    let rsa = match std::fs::read_to_string(&rsa_path) {
        Ok(pem) => RsaPrivateKey::from_pkcs1_pem(&pem)?,
        Err(_) => {
            step("generating the data center's 2048-bit RSA key");
            let key = RsaPrivateKey::generate(2048, &mut rand::thread_rng())?;
            std::fs::write(&rsa_path, key.to_pkcs1_pem())?;
            key
        }
    };
    let dc = LocalDc::builder()
        .rsa_key(rsa)
        .key_db(data_dir.join("dc-keys.db"))
        .start_on_thread()?;
    step(&format!("local data center listening on {}", dc.addr()));

    // The client: one runtime thread, one session, keys in SQLite.
    let store_path = data_dir.join("client.db");
    let store = SqliteStore::shared(&store_path)?;
    let had_key = store.load(2)?.is_some();
    step(&format!(
        "client store {} ({})",
        store_path.display(),
        if had_key {
            "holds a key from an earlier run"
        } else {
            "empty: a key will be created"
        }
    ));
    let runtime = Runtime::new()?;
    let mut config = SessionConfig::new(dc.addr().to_string(), 2, dc.public_key_pem());
    config.store = store.clone();
    config.api_id = Some(1);

    let session = runtime.open_session(config)?;
    session.set_state_handler(move |e: &StateEvent| {
        println!(
            "[{:>9.3} ms] state: {e:?}",
            t0.elapsed().as_secs_f64() * 1e3
        );
    });
    let updates = Arc::new(AtomicUsize::new(0));
    {
        let updates = updates.clone();
        session.set_update_handler(move |batch: &[Vec<u8>]| {
            for u in batch {
                if let Ok((seq, data)) = api::parse_update(u) {
                    let n = updates.fetch_add(1, Ordering::SeqCst) + 1;
                    println!(
                        "[{:>9.3} ms] update #{n}: seq {seq}, {} bytes (callback, dispatcher thread)",
                        t0.elapsed().as_secs_f64() * 1e3,
                        data.len()
                    );
                }
            }
        });
    }

    let timeout = Duration::from_secs(30);
    let t = Instant::now();
    let reply = session.invoke_blocking(
        Call::Echo(b"hello, data center".to_vec()).to_bytes(),
        timeout,
    )?;
    step(&format!(
        "echo answered in {:.3} ms: {:?}",
        t.elapsed().as_secs_f64() * 1e3,
        String::from_utf8_lossy(&api::parse_payload(&reply)?)
    ));
    let key = store.load(2)?.ok_or("the key was not stored")?;
    step(&format!(
        "auth key {:02x?} {}",
        key.auth_key.id(),
        if had_key {
            "reused from the store"
        } else {
            "created, and stored before its first use"
        }
    ));

    let t = Instant::now();
    session.invoke_blocking(Call::PushUpdates { count: 3, size: 16 }.to_bytes(), timeout)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while updates.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    step(&format!(
        "{} pushed updates received in {:.3} ms",
        updates.load(Ordering::SeqCst),
        t.elapsed().as_secs_f64() * 1e3
    ));

    let t = Instant::now();
    let before =
        session.invoke_blocking(Call::Counter { key: "demo".into() }.to_bytes(), timeout)?;
    let _ = session.invoke_blocking(Call::DropConnection.to_bytes(), timeout);
    step("asked the server to drop the connection");
    let after =
        session.invoke_blocking(Call::Counter { key: "demo".into() }.to_bytes(), timeout)?;
    step(&format!(
        "request after the drop answered in {:.3} ms (counter {} -> {}: each ran once)",
        t.elapsed().as_secs_f64() * 1e3,
        api::parse_count(&before)?,
        api::parse_count(&after)?
    ));

    session.close();
    runtime.close();
    dc.shutdown();
    step("closed; run again to reuse the stored key");
    Ok(())
}
