//! `mtproto`: a sans-IO implementation of Telegram's MTProto 2.0.
//!
//! The protocol layers are state machines over bytes and an explicit `now`;
//! they never touch sockets, clocks or threads (see `ARCHITECTURE.md`).
//!
//! - [`tl`]: TL binary codec, schema parser, generated service types, dynamic codec.
//! - [`dc`]: Telegram's published bootstrap addresses of its data centers.
//! - [`crypto`]: AES-IGE/CTR, SHA, MTProto key derivation, RSA, DH checks, pq factorization.
//! - [`transport`]: abridged / intermediate / padded / full framing, obfuscation, quick-ack.
//! - [`auth`]: the key exchange, client and server roles.
//! - [`mtp`]: encrypted message packing and unpacking with every receive check.
//! - [`runtime`]: the owned network thread and the callback dispatcher thread.
//! - [`client`]: the public API: sessions, requests as bytes, updates, state events.
//! - [`logging`]: the core's `tracing` events handed to a host language's logger.

#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod crypto;
pub mod dc;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod logging;
pub mod mtp;
pub(crate) mod net;
pub mod runtime;
pub mod storage;
pub mod tl;
pub mod transport;

/// The no-I/O rule, checked: the protocol layers never name a socket, a
/// file, a thread, a process, an async runtime or a clock (the driver
/// passes `now` in). A crate boundary would make the compiler say so (the
/// quinn-proto way); until the multi-DC work reshapes the upper layers this
/// test does, on every run (docs/DESIGN.md, "Layers").
#[cfg(test)]
#[test]
fn protocol_layers_do_no_io() {
    const LAYERS: &[&str] = &["tl", "crypto", "transport", "auth", "mtp"];
    const FORBIDDEN: &[&str] = &[
        "tokio::",
        "std::net",
        "std::fs",
        "std::process",
        "thread::spawn",
        "SystemTime::now",
        "Instant::now",
        "rusqlite",
    ];
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a source directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for layer in LAYERS {
        walk(&src.join(layer), &mut files);
    }
    assert!(files.len() > 20, "found the layers' sources");
    let mut found = Vec::new();
    for f in files {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        // Tests and their helpers may use the clock and threads.
        if name.contains("test") {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("a source file");
        for word in FORBIDDEN {
            if text.contains(word) {
                found.push(format!("{}: {word}", f.display()));
            }
        }
    }
    assert!(found.is_empty(), "I/O in a protocol layer: {found:#?}");
}
