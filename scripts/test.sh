#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, and all tests.
# The repository stands alone: the schema, keys and vectors it needs are in
# it (core/tl, core/keys, docs/spec), and nothing may read outside it.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== the repository stands alone"
# No tracked file other than documentation may refer to a folder beside the
# repository (the pattern is spelt so that it does not match itself).
outside='[.][.]/([.][.]/)?shared'
if [ -d .git ] || git rev-parse --git-dir >/dev/null 2>&1; then
  refs=$(git grep -lE "$outside" -- ':!*.md' || true)
else
  refs=$(grep -rlE "$outside" --exclude='*.md' --exclude-dir=target . || true)
fi
if [ -n "$refs" ]; then
  echo "error: these files refer to a folder outside the repository:" >&2
  echo "$refs" >&2
  exit 1
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
# The fault-injection runs go separately, below, so their summaries show.
cargo test --workspace --locked -- --skip proxy_faults_

echo "== fault injection: a seeded proxy breaking connections, one line per configuration"
cargo test --locked -q -p mtproto-localdc --test fault_injection -- --nocapture --test-threads 1

echo "== fuzz smoke: every target for 10 s (cargo-fuzz, nightly, ASan), corpus replayed"
FUZZ_SMOKE=1 scripts/fuzz.sh 10

echo "== benchmarks compile"
# Only the core has criterion benches. `--workspace` would also build every
# binary in release, the bindings generators (cbindgen, the UniFFI CLI)
# included, which nothing here runs in release.
cargo bench --locked --no-run -p mtproto >/dev/null

echo "== examples run"
cargo run --locked -q -p mtproto --example inprocess >/dev/null
demo_dir=$(mktemp -d)
trap 'rm -rf "$demo_dir"' EXIT
cargo run --locked -q -p mtproto-tools --bin demo -- --data-dir "$demo_dir" | tail -n 3
second=$(cargo run --locked -q -p mtproto-tools --bin demo -- --data-dir "$demo_dir")
grep -q "reused from the store" <<<"$second" || { echo "demo: the second run did not reuse the stored key" >&2; echo "$second" >&2; exit 1; }
echo "demo: second run reused the stored key"

echo "== C ABI"
scripts/test-c.sh
echo "== Python"
scripts/test-python.sh
echo "== Kotlin and Swift"
scripts/test-kotlin.sh
