#!/usr/bin/env bash
# The main job: starts a local data center (localdc) on loopback inside the
# demo process and runs a client against it: creates an auth key and stores
# it in SQLite (target/demo/client.db), invokes echo, receives pushed
# updates through the callback, survives a dropped connection, and prints
# each step with timings. Run it twice: the second run reuses the stored key.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --locked -p mtproto-tools --bin demo -- "$@"
