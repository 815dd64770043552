//! Writes `include/mtproto.h` from the `mtproto-ffi` crate with cbindgen.
//!
//! Usage: `mtproto-header-gen [OUT_FILE]` (default: `include/mtproto.h` of
//! the repository). `scripts/gen-header.sh` runs it; the C test script runs
//! it into a temporary file and fails when the checked-in header differs.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let crate_dir = repo.join("ffi");
    let out = match std::env::args_os().nth(1) {
        Some(path) => PathBuf::from(path),
        None => repo.join("include/mtproto.h"),
    };
    let config = match cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mtproto-header-gen: ffi/cbindgen.toml: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bindings = match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(b) => b,
        Err(e) => {
            eprintln!("mtproto-header-gen: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("mtproto-header-gen: {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    bindings.write_to_file(&out);
    println!("wrote {}", out.display());
    ExitCode::SUCCESS
}
