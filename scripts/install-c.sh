#!/usr/bin/env bash
# Builds libmtproto (release) and installs the C library under PREFIX:
#   PREFIX/lib/libmtproto.so.X.Y.Z (+ libmtproto.so.0, libmtproto.so links)
#   PREFIX/lib/libmtproto.a
#   PREFIX/include/mtproto.h
#   PREFIX/lib/pkgconfig/mtproto.pc
#   PREFIX/lib/cmake/mtproto/mtprotoConfig.cmake (+ ConfigVersion)
# Usage: scripts/install-c.sh PREFIX
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 1 ]; then
  echo "usage: $0 PREFIX" >&2
  exit 2
fi
prefix=$1
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac

cargo build --release --locked -q -p mtproto-ffi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' ffi/Cargo.toml | head -n 1)
major=${version%%.*}

install -d "$prefix/lib/pkgconfig" "$prefix/lib/cmake/mtproto" "$prefix/include"
# The release profile keeps line tables for profiling; installed copies drop
# them (the library shrinks from ~30 MB to a few MB).
install -m 0755 target/release/libmtproto.so "$prefix/lib/libmtproto.so.$version"
install -m 0644 target/release/libmtproto.a "$prefix/lib/libmtproto.a"
if command -v strip >/dev/null; then
  strip --strip-debug "$prefix/lib/libmtproto.so.$version" "$prefix/lib/libmtproto.a"
fi
ln -sfn "libmtproto.so.$version" "$prefix/lib/libmtproto.so.$major"
ln -sfn "libmtproto.so.$major" "$prefix/lib/libmtproto.so"
install -m 0644 include/mtproto.h "$prefix/include/mtproto.h"
sed "s/@VERSION@/$version/" ffi/pkg/mtproto.pc.in >"$prefix/lib/pkgconfig/mtproto.pc"
install -m 0644 ffi/pkg/mtprotoConfig.cmake "$prefix/lib/cmake/mtproto/mtprotoConfig.cmake"
pointer_size=$(getconf LONG_BIT)
sed -e "s/@VERSION@/$version/" -e "s/@SIZEOF_VOID_P@/$((pointer_size / 8))/" \
  ffi/pkg/mtprotoConfigVersion.cmake.in >"$prefix/lib/cmake/mtproto/mtprotoConfigVersion.cmake"
echo "installed libmtproto $version to $prefix"
