//! Gives the shared library an ELF SONAME carrying the ABI major version,
//! so a program linked against `libmtproto.so.0` keeps loading only ABI
//! compatible builds (see the ABI stance in `ffi/README.md`).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" || os.ends_with("bsd") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmtproto.so.0");
    }
}
