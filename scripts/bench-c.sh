#!/usr/bin/env bash
# Benchmarks the C API against the Rust API in the same run, against one
# localdc child process: ffi/bench/bench_c.c (through libmtproto) and
# ffi/examples/bench_rust.rs (through mtproto::client), one after the other.
# Prints both figures and the C overhead. Figures go to docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cargo build --release --locked -q -p mtproto-ffi -p mtproto-localdc --example bench_rust

work=$(mktemp -d)
dc_pid=""
cleanup() {
  [ -n "$dc_pid" ] && kill "$dc_pid" 2>/dev/null && wait "$dc_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/lib"
ln -s "$root/target/release/libmtproto.so" "$work/lib/libmtproto.so.0"
ln -s "$root/target/release/libmtproto.so" "$work/lib/libmtproto.so"
cc -std=c99 -O2 -Wall -Wextra -Werror -Iinclude ffi/bench/bench_c.c -L"$work/lib" -lmtproto \
  -Wl,-rpath,"$work/lib" -lpthread -o "$work/bench_c"

target/release/mtproto-localdc --rsa-key "$work/key.pem" --listen 127.0.0.1:0 \
  --public-key-out "$work/pub.pem" >"$work/dc.out" 2>"$work/dc.err" &
dc_pid=$!
for _ in $(seq 100); do
  grep -q "^listening on " "$work/dc.out" 2>/dev/null && break
  sleep 0.1
done
address=$(sed -n 's/^listening on //p' "$work/dc.out" | head -n 1)
[ -n "$address" ] || { echo "localdc did not start" >&2; exit 1; }

# Alternate the two programs (Rust, C, Rust, C) so a slow phase of the VM
# does not land on one side only; keep each side's best figure.
for i in 1 2; do
  echo "== Rust API (mtproto::client), run $i"
  target/release/examples/bench_rust "$address" "$work/pub.pem" | tee -a "$work/rust.txt"
  echo "== C API (libmtproto), run $i"
  "$work/bench_c" "$address" "$work/pub.pem" | tee -a "$work/c.txt"
done
echo "== the C adapters in isolation (no network, no server)"
target/release/examples/bench_rust --dispatch-only | tee "$work/adapter.txt"

# Best of the runs: lowest time, highest rate.
get() {
  case "$2" in
    *_per_s*) awk -v k="$2" '$1 == k && $2 > m { m = $2 } END { print m }' "$1" ;;
    *) awk -v k="$2" '$1 == k && (m == "" || $2 < m) { m = $2 } END { print m }' "$1" ;;
  esac
}
echo
echo "| measurement | Rust API | C API | C − Rust | C / Rust |"
echo "| --- | ---: | ---: | ---: | ---: |"
for k in blocking_p50_us pipelined_us_per_req updates_per_s; do
  r=$(get "$work/rust.txt" $k)
  c=$(get "$work/c.txt" $k)
  awk -v k="$k" -v r="$r" -v c="$c" 'BEGIN { printf "| %s | %s | %s | %+.3f | %.3f |\n", k, r, c, c - r, c / r }'
done
r=$(get "$work/adapter.txt" invoke_adapter_rust_ns)
c=$(get "$work/adapter.txt" invoke_adapter_c_ns)
echo
echo "invoke adapter per request: Rust closure $r ns, C path $c ns, C − Rust $(awk -v r="$r" -v c="$c" 'BEGIN { printf "%.1f", c - r }') ns"
echo
echo "| update adapter, batch size | Rust handler updates/s | C callback updates/s | C / Rust |"
echo "| ---: | ---: | ---: | ---: |"
for b in 1 64 2000; do
  r=$(get "$work/adapter.txt" adapter_rust_updates_per_s_batch$b)
  c=$(get "$work/adapter.txt" adapter_c_updates_per_s_batch$b)
  awk -v b="$b" -v r="$r" -v c="$c" 'BEGIN { printf "| %s | %.0f | %.0f | %.3f |\n", b, r, c, c / r }'
done
