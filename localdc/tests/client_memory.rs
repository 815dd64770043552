//! Heap held by idle connected client sessions. The local DC runs as a
//! separate process (the crate's binary) so that only the client's
//! allocations are counted, by a counting global allocator.

mod client_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use client_common::*;
use mtproto::client::SessionConfig;
use mtproto::runtime::Runtime;
use mtproto::storage::MemoryStore;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call forwards to the system allocator unchanged; the
// counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

struct Server {
    child: Child,
    addr: String,
    pem: String,
    _files: (TempDb, TempDb),
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server_process() -> Server {
    let key = TempDb::new("rsa-key");
    let public = TempDb::new("rsa-pub");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mtproto-localdc"))
        .arg("--rsa-key")
        .arg(&key.0)
        .arg("--public-key-out")
        .arg(&public.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mtproto-localdc");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_owned();
    let pem = std::fs::read_to_string(&public.0).expect("public key written");
    Server {
        child,
        addr,
        pem,
        _files: (key, public),
    }
}

#[test]
fn client_idle_session_memory() {
    let server = start_server_process();
    let rt = Runtime::new().unwrap();
    let store = Arc::new(MemoryStore::new());
    let config = || {
        let mut c = SessionConfig::new(server.addr.clone(), 2, server.pem.clone());
        c.store = store.clone();
        c
    };
    // The first session creates the key; the others reuse it, each with
    // its own session id and connection.
    let first = rt.open_session(config()).unwrap();
    echoed(&first.invoke_blocking(echo(b"key"), 60 * SEC).unwrap());
    std::thread::sleep(Duration::from_secs(1));
    let before = LIVE.load(Ordering::SeqCst);
    let n = 200;
    let sessions: Vec<_> = (0..n).map(|_| rt.open_session(config()).unwrap()).collect();
    for s in &sessions {
        echoed(&s.invoke_blocking(echo(b"hi"), 30 * SEC).unwrap());
    }
    // Let acknowledgements go out and buffers shrink back.
    std::thread::sleep(Duration::from_millis(1500));
    let after = LIVE.load(Ordering::SeqCst);
    let per_session = (after - before) as f64 / n as f64;
    eprintln!(
        "heap per idle connected session: {:.1} KiB ({} sessions, {} bytes total)",
        per_session / 1024.0,
        n,
        after - before
    );
    assert!(
        per_session <= 20.0 * 1024.0,
        "{per_session:.0} bytes per idle session exceed 20 KiB"
    );
    drop(sessions);
    drop(first);
}
