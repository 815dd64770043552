#!/usr/bin/env bash
# Fuzzes every decoder and both session roles with cargo-fuzz (libFuzzer,
# AddressSanitizer, nightly toolchain).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Default: 300 s per target, every target, new interesting inputs kept in
# fuzz/corpus/<target>/ (commit them: the stable test run replays that
# corpus through mtproto::fuzzing). A crash leaves its input in
# fuzz/artifacts/<target>/; reproduce it with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>
# and, once fixed, copy the input into the corpus.
#
# With FUZZ_SMOKE=1 (CI), the corpus is read but not written, and the run
# ends at the first crash with the failing input printed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-300}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "== fuzz: installing cargo-fuzz (crates.io)"
  cargo install --locked cargo-fuzz --version 0.13.1
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: a nightly toolchain is needed (rustup toolchain install nightly)" >&2
  exit 1
fi

echo "== fuzz: build (nightly, ASan, release with debug assertions)"
if [ $# -eq 0 ]; then
  cargo +nightly fuzz build -O --fuzz-dir fuzz
else
  for t in "${targets[@]}"; do cargo +nightly fuzz build -O --fuzz-dir fuzz "$t"; done
fi
for t in "${targets[@]}"; do
  if [ "${FUZZ_SMOKE:-0}" = 1 ]; then
    scratch=$(mktemp -d)
    corpus=("$scratch" "fuzz/corpus/$t")
  else
    corpus=("fuzz/corpus/$t")
  fi
  start=$(date +%s)
  log=$(mktemp)
  if ! cargo +nightly fuzz run -O --fuzz-dir fuzz "$t" "${corpus[@]}" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $t failed" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  echo "fuzz: $t: $runs runs in $(( $(date +%s) - start )) s, no crash"
  rm -f "$log"
  if [ "${FUZZ_SMOKE:-0}" = 1 ]; then rm -rf "$scratch"; fi
done
if [ "${FUZZ_SMOKE:-0}" != 1 ]; then
  echo "fuzz: new inputs are in fuzz/corpus/; minimise before committing:"
  echo "  for t in ${targets[*]}; do cargo +nightly fuzz cmin -O --fuzz-dir fuzz \$t; done"
fi
