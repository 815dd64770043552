#!/usr/bin/env bash
# Generates the Kotlin and Swift bindings of mtproto-uniffi.
#
#   scripts/gen-uniffi.sh [OUT_ROOT]
#
# Builds target/release/libmtproto_uniffi.so, reads the UniFFI metadata
# embedded in it (library mode; config in ffi/uniffi/uniffi.toml) and writes
#   OUT_ROOT/bindings-kotlin/src/main/kotlin/dev/mtproto/mtproto_uniffi.kt
#   OUT_ROOT/bindings-swift/Sources/MTProto/MTProto.swift
#   OUT_ROOT/bindings-swift/Headers/MTProtoFFI.h
#   OUT_ROOT/bindings-swift/Headers/module.modulemap
# OUT_ROOT defaults to the repository root; CI generates into a temporary
# directory and diffs (scripts/test-kotlin.sh). The output depends only on
# the exported Rust API and the pinned UniFFI version: no paths, no dates,
# no formatter (--no-format, so an installed ktlint cannot change it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT_ROOT=${1:-$ROOT}
mkdir -p "$OUT_ROOT"
OUT_ROOT=$(cd "$OUT_ROOT" && pwd)

# The library is built in release (the tests load that one); the generator
# runs from the dev profile, whose dependencies compile unoptimised and fast.
cargo build --release --locked -q -p mtproto-uniffi
LIB=target/release/libmtproto_uniffi.so

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cargo run --locked -q -p uniffi-bindgen -- generate "$LIB" \
    --language kotlin --language swift --no-format --out-dir "$TMP" >/dev/null

KT_DIR=$OUT_ROOT/bindings-kotlin/src/main/kotlin/dev/mtproto
SWIFT_DIR=$OUT_ROOT/bindings-swift/Sources/MTProto
HDR_DIR=$OUT_ROOT/bindings-swift/Headers
mkdir -p "$KT_DIR" "$SWIFT_DIR" "$HDR_DIR"
cp "$TMP/dev/mtproto/mtproto_uniffi.kt" "$KT_DIR/mtproto_uniffi.kt"
cp "$TMP/MTProto.swift" "$SWIFT_DIR/MTProto.swift"
cp "$TMP/MTProtoFFI.h" "$HDR_DIR/MTProtoFFI.h"
# An XCFramework's Headers directory must hold `module.modulemap`.
cp "$TMP/MTProtoFFI.modulemap" "$HDR_DIR/module.modulemap"
echo "generated UniFFI bindings under $OUT_ROOT"
