#!/usr/bin/env bash
# The main job: an in-process client and server built from the same sans-IO
# state machines create an auth key and exchange encrypted messages.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --locked -p mtproto --example inprocess "$@"
