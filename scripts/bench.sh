#!/usr/bin/env bash
# Every protocol-core benchmark, printed as figures and ratios against a
# reference measured in the same run (OpenSSL) or the issue's target.
# Built without -C target-cpu=native (AES-NI / SHA-NI are detected at run time).
set -euo pipefail
cd "$(dirname "$0")/.."
crit="${CARGO_TARGET_DIR:-target}/criterion"

echo "== AES-256-IGE vs openssl speed -evp aes-256-cbc (same run)"
bash scripts/bench-ige.sh

echo
echo "== messages and transport"
cargo bench -p mtproto --bench mtp --bench transport -- --noplot >&2
have_auth=0
if grep -q 'name = "auth"' core/Cargo.toml; then
  cargo bench -p mtproto --bench auth -- --noplot >&2
  have_auth=1
fi

est() { # group/name -> ns per iteration (slope, else mean)
  local f="$crit/$1/new/estimates.json" k v
  for k in slope mean; do
    v=$(grep -o "\"$k\":{\"confidence_interval\":{[^}]*},\"point_estimate\":[0-9.e+-]*" "$f" | sed 's/.*"point_estimate"://') || true
    [[ -n "$v" ]] && { echo "$v"; return; }
  done
}

for b in pack_encrypt_352 decrypt_unpack_352; do
  ns=$(est "mtp/$b")
  awk -v b="$b" -v ns="$ns" 'BEGIN { r = 1e9 / ns; printf "%-22s %8.0f ns  %10.0f msg/s  %.2f x target (1,000,000/s/core)\n", b, ns, r, r / 1e6 }'
done
for b in intermediate_352 obfuscated_padded_352; do
  ns=$(est "transport/$b")
  awk -v b="$b" -v ns="$ns" 'BEGIN { printf "%-22s %8.0f ns  (client encode + server decode)\n", b, ns }'
done
if [[ $have_auth == 1 ]]; then
  for d in "$crit"/auth/*/; do
    n=$(basename "$d")
    ns=$(est "auth/$n")
    awk -v b="$n" -v ns="$ns" 'BEGIN { printf "%-22s %8.2f ms  client CPU per key exchange\n", b, ns / 1e6 }'
  done
fi
