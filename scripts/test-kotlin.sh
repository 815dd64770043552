#!/usr/bin/env bash
# The Kotlin and Swift bindings (UniFFI), as CI runs them:
#   1. builds the release libraries (mtproto-uniffi, localdc, uniffi-bindgen),
#   2. regenerates the Kotlin and Swift sources into a temporary directory and
#      fails when they differ from the checked-in ones (drift check),
#   3. runs the Kotlin JUnit tests on the JVM against a localdc child process
#      (and installs the bindings jar into the local Maven repository),
#   4. builds examples/kotlin-jvm and runs it against a localdc it starts.
# Swift is generated and drift-checked only: there is no Swift toolchain here.
# Needs Java 17+ and Maven (installed with apt-get when missing); Maven
# downloads its artifacts from Maven Central on the first run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$(date +%s)
say() { echo "== kotlin: $*"; }

if ! command -v mvn >/dev/null || ! command -v java >/dev/null; then
    say "installing Java and Maven"
    apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless maven >/dev/null
fi

say "building the release libraries"
cargo build --release --locked -q -p mtproto-uniffi -p mtproto-localdc

say "drift check of the generated Kotlin and Swift sources"
GEN=$(mktemp -d)
WORK=$ROOT/target/kotlin-ci
LOCALDC_PID=
cleanup() {
    [ -n "$LOCALDC_PID" ] && kill "$LOCALDC_PID" 2>/dev/null || true
    rm -rf "$GEN"
}
trap cleanup EXIT
scripts/gen-uniffi.sh "$GEN" >/dev/null
drift=0
while IFS= read -r f; do
    if ! diff -u "$ROOT/$f" "$GEN/$f" >/dev/null 2>&1; then
        echo "generated file differs from the checked-in one: $f" >&2
        diff -u "$ROOT/$f" "$GEN/$f" 2>&1 | head -20 >&2 || true
        drift=1
    fi
done < <(cd "$GEN" && find . -type f | sed 's|^\./||' | sort)
if [ "$drift" != 0 ]; then
    echo "run scripts/gen-uniffi.sh and commit the result" >&2
    exit 1
fi

MVN=(mvn -B -q --no-transfer-progress -Dstyle.color=never)
# Maven 3.8 prints stray colour resets even in batch mode; keep the log clean.
mvnq() { "${MVN[@]}" "$@" 2>&1 | sed 's/\x1b\[[0-9;]*m//g'; }
say "JUnit tests (bindings-kotlin)"
# Reports of an earlier run (e.g. the benchmark's) must not be counted.
rm -rf bindings-kotlin/target/surefire-reports
(cd bindings-kotlin && mvnq install)
python3 - "$ROOT/bindings-kotlin/target/surefire-reports" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
t = f = e = s = 0
for p in glob.glob(sys.argv[1] + "/TEST-*.xml"):
    r = ET.parse(p).getroot()
    t += int(r.get("tests")); f += int(r.get("failures")); e += int(r.get("errors")); s += int(r.get("skipped"))
if t == 0:
    sys.exit("no Kotlin test ran")
print(f"kotlin: {t - f - e - s} passed, {f + e} failed, {s} skipped")
if f + e:
    sys.exit(1)
PY

say "examples/kotlin-jvm"
(cd examples/kotlin-jvm && mvnq package dependency:build-classpath -Dmdep.outputFile=target/classpath.txt)
mkdir -p "$WORK"
rm -f "$WORK/localdc.out"
target/release/mtproto-localdc --rsa-key "$WORK/localdc.pem" --listen 127.0.0.1:0 \
    --public-key-out "$WORK/localdc.pub.pem" >"$WORK/localdc.out" &
LOCALDC_PID=$!
for _ in $(seq 600); do
    grep -q '^listening on ' "$WORK/localdc.out" 2>/dev/null && break
    sleep 0.1
done
ADDR=$(sed -n 's/^listening on //p' "$WORK/localdc.out" | head -1)
[ -n "$ADDR" ] || { echo "localdc did not start" >&2; exit 1; }
CP="examples/kotlin-jvm/target/classes:$(cat examples/kotlin-jvm/target/classpath.txt)"
timeout 60 java -Djna.library.path="$ROOT/target/release" -cp "$CP" dev.mtproto.example.MainKt \
    "$ADDR" "$WORK/localdc.pub.pem" 5 | tee "$WORK/example.out"
grep -q '^received all 5 updates$' "$WORK/example.out"
kill "$LOCALDC_PID" && wait "$LOCALDC_PID" 2>/dev/null || true
LOCALDC_PID=

say "done in $(( $(date +%s) - START )) s (Swift: generated and drift-checked only, no Swift toolchain here)"
