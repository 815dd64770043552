#!/usr/bin/env bash
# Kotlin (JVM) throughput next to the Rust figures of the same run:
#   - pipelined 64 B echo: N coroutines calling suspend invoke, against
#     `mtproto-load` (Rust futures, same window) as the reference;
#   - the update listener's dispatch rate on a test.pushUpdates stream,
#     against a Rust handler on the core (ffi/uniffi/examples/update_rate.rs)
#     on the same localdc.
# Options through the environment: REQUESTS (200000 for Rust; Kotlin runs
# KOTLIN_REQUESTS, 50000, three times and keeps the best), WINDOW (2048),
# UPDATES (100000, the most localdc pushes per call). Results: target/bench-kotlin.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REQUESTS=${REQUESTS:-200000}
KOTLIN_REQUESTS=${KOTLIN_REQUESTS:-50000}
WINDOW=${WINDOW:-2048}
UPDATES=${UPDATES:-100000}
WORK=$ROOT/target/bench-kotlin
OUT=$ROOT/target/bench-kotlin.txt
mkdir -p "$WORK"
: >"$OUT"

cargo build --release --locked -q -p mtproto-uniffi -p mtproto-localdc -p mtproto-tools
cargo build --release --locked -q -p mtproto-uniffi --example update_rate

LOCALDC_PID=
trap '[ -n "$LOCALDC_PID" ] && kill "$LOCALDC_PID" 2>/dev/null || true' EXIT
target/release/mtproto-localdc --rsa-key "$WORK/localdc.pem" --listen 127.0.0.1:0 \
    --public-key-out "$WORK/localdc.pub.pem" >"$WORK/localdc.out" &
LOCALDC_PID=$!
for _ in $(seq 600); do
    grep -q '^listening on ' "$WORK/localdc.out" 2>/dev/null && break
    sleep 0.1
done
ADDR=$(sed -n 's/^listening on //p' "$WORK/localdc.out" | head -1)
[ -n "$ADDR" ] || { echo "localdc did not start" >&2; exit 1; }

echo "== Rust references (same run)" | tee -a "$OUT"
target/release/mtproto-load --requests "$REQUESTS" --window "$WINDOW" --rtt 0 --idle 0 \
    | grep -E '^pipelined' | tee -a "$OUT"
target/release/examples/update_rate "$ADDR" "$WORK/localdc.pub.pem" "$UPDATES" | tee -a "$OUT"

echo "== Kotlin (JVM)" | tee -a "$OUT"
(cd bindings-kotlin && mvn -B -q --no-transfer-progress -Dstyle.color=never test 2>&1 \
    -Dmtproto.groups=bench -Dmtproto.excludedGroups=none -Dsurefire.failIfNoSpecifiedTests=false \
    -Dtest='Bench*' -DreuseForks=false -DargLine="-Dmtproto.benchAddress=$ADDR -Dmtproto.benchPem=$WORK/localdc.pub.pem \
-Dmtproto.benchRequests=$KOTLIN_REQUESTS -Dmtproto.benchWindow=$WINDOW -Dmtproto.benchUpdates=$UPDATES \
-Dmtproto.benchOut=$WORK/kotlin.txt")
cat "$WORK/kotlin.txt" | tee -a "$OUT"
rm -f "$WORK/kotlin.txt"

python3 - "$OUT" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def num(pattern):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None
rust_inv = num(r"pipelined 64 B echo.*?: (\d+) req/s")
rust_upd = num(r"rust handler: (\d+) updates/s")
lines = ["== ratios (Kotlin / Rust, same run)"]
for mode in ("JNA default", "kept attached"):
    for label, pat, ref in [
        ("invoke", r"invoke, \d+ coroutines: (\d+) req/s", rust_inv),
        ("invokeWithCallback", r"invokeWithCallback, window \d+: (\d+) req/s", rust_inv),
        ("update listener", r"update listener: (\d+) updates/s", rust_upd),
        ("nextUpdates pull", r"nextUpdates pull: (\d+) updates/s", rust_upd),
    ]:
        v = num(r"kotlin, " + mode + r": " + pat)
        if v and ref:
            lines.append(f"{mode}, {label}: {v / ref:.2f}")
print("\n".join(lines))
open(sys.argv[1], "a").write("\n".join(lines) + "\n")
PY
