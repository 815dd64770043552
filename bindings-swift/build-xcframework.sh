#!/usr/bin/env bash
# Builds bindings-swift/MTProtoFFI.xcframework on macOS (Xcode + rustup):
# the static library libmtproto_uniffi.a for
#   aarch64-apple-ios       (devices)
#   aarch64-apple-ios-sim   (simulator on Apple silicon)
#   aarch64-apple-darwin    (macOS, e.g. `swift build` / `swift test`)
# with the generated C header and module map (bindings-swift/Headers, from
# scripts/gen-uniffi.sh), assembled by `xcodebuild -create-xcframework`.
# Not run on Linux CI: there is no Apple toolchain there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bindings-swift/MTProtoFFI.xcframework
TARGETS=(aarch64-apple-ios aarch64-apple-ios-sim aarch64-apple-darwin)

if [ "$(uname -s)" != Darwin ]; then
    echo "build-xcframework.sh runs on macOS (needs xcodebuild)" >&2
    exit 1
fi
command -v xcodebuild >/dev/null || { echo "xcodebuild not found: install Xcode" >&2; exit 1; }

rustup target add "${TARGETS[@]}"
# No debug info in the shipped archives (the workspace's release profile
# keeps line tables for profiling on Linux).
export CARGO_PROFILE_RELEASE_DEBUG=0
export IPHONEOS_DEPLOYMENT_TARGET=15.0
export MACOSX_DEPLOYMENT_TARGET=12.0
for t in "${TARGETS[@]}"; do
    cargo build --release --locked -p mtproto-uniffi --target "$t"
done

# Headers/MTProtoFFI/{MTProtoFFI.h,module.modulemap}: the module map sits in
# a subdirectory named after the module, so it cannot collide with another
# XCFramework's module.modulemap in the app's include path.
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/include/MTProtoFFI"
cp bindings-swift/Headers/MTProtoFFI.h bindings-swift/Headers/module.modulemap "$STAGE/include/MTProtoFFI/"

rm -rf "$OUT"
args=()
for t in "${TARGETS[@]}"; do
    args+=(-library "target/$t/release/libmtproto_uniffi.a" -headers "$STAGE/include")
done
xcodebuild -create-xcframework "${args[@]}" -output "$OUT"
echo "built $OUT"
