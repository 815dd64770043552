#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, and all tests.
# Needs ../shared beside the repository (the spec vectors, api.tl, keys).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f ../shared/tl/api.tl ]; then
  echo "error: ../shared (spec, api.tl, keys) must sit beside this repository" >&2
  exit 2
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

echo "== benchmarks compile"
cargo bench --workspace --locked --no-run >/dev/null
