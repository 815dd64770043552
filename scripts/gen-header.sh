#!/usr/bin/env bash
# Regenerates the C header from ffi/src with cbindgen (ffi/cbindgen.toml).
# Usage: scripts/gen-header.sh [OUT_FILE]   (default: include/mtproto.h)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-include/mtproto.h}
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
cargo run --locked -q -p mtproto-header-gen -- "$out"
