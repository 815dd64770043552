#!/usr/bin/env bash
# Compares AES-256-IGE (criterion bench `crypto`) with OpenSSL's AES-256-CBC
# encryption, the closest sequential mode, at the same message sizes.
# Built without `-C target-cpu=native`: the `aes` crate picks AES-NI at run
# time. Usage: scripts/bench-ige.sh [--no-run]  (--no-run: reuse the last
# criterion results in target/criterion).
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=(64 352 4096 65536 1048576)

if [[ "${1:-}" != "--no-run" ]]; then
    RUSTFLAGS="${RUSTFLAGS:-}" cargo bench -p mtproto --bench crypto -- --noplot >&2
fi

crit_dir="${CARGO_TARGET_DIR:-target}/criterion"

# Time per iteration in ns from criterion's estimates.json: the slope
# estimate when present (what criterion prints as "time"), else the mean.
estimate_ns() {
    local f="$crit_dir/$1/$2/new/estimates.json" kind v
    [[ -f "$f" ]] || { echo "missing $f (run without --no-run)" >&2; exit 1; }
    for kind in slope mean; do
        v=$(grep -o "\"$kind\":{\"confidence_interval\":{[^}]*},\"point_estimate\":[0-9.e+-]*" "$f" |
            sed 's/.*"point_estimate"://') || true
        [[ -n "$v" ]] && { echo "$v"; return; }
    done
    echo "no estimate in $f" >&2
    exit 1
}

# Bytes per second from `openssl speed -mr` ("+F:<n>:AES-256-CBC:<bytes/s>").
# -elapsed: wall-clock time like criterion (the default is user CPU time,
# which flatters OpenSSL on a busy machine).
openssl_bps() {
    openssl speed -elapsed -evp aes-256-cbc -bytes "$1" -seconds 1 -mr 2>/dev/null |
        awk -F: '/^\+F:/ { print $4 }'
}

printf '%-9s %14s %14s %18s %10s %10s\n' size "IGE enc MB/s" "IGE dec MB/s" "openssl CBC MB/s" "enc/CBC" "dec/CBC"
for n in "${sizes[@]}"; do
    enc_ns=$(estimate_ns ige_encrypt "$n")
    dec_ns=$(estimate_ns ige_decrypt "$n")
    cbc_bps=$(openssl_bps "$n")
    awk -v n="$n" -v e="$enc_ns" -v d="$dec_ns" -v c="$cbc_bps" 'BEGIN {
        enc = n * 1000 / e; dec = n * 1000 / d; cbc = c / 1e6;
        printf "%-9d %14.1f %14.1f %18.1f %10.2f %10.2f\n", n, enc, dec, cbc, enc / cbc, dec / cbc
    }'
done
