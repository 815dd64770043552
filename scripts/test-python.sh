#!/usr/bin/env bash
# The Python binding's CI: builds the wheel with maturin, installs it into a
# fresh virtual environment, runs the pytest suite, mypy --strict on the
# tests and examples, and the examples (against an in-process LocalDc and
# against the mtproto-localdc binary).
#
# Installs its tools from PyPI into target/py-ci-venv (recreated each run,
# versions pinned below). Needs python3 >= 3.9 with venv.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV="$PWD/target/py-ci-venv"
start=$(date +%s)

"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 9):
    sys.exit(f"python >= 3.9 needed, found {sys.version.split()[0]}")
PY

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== python: fresh venv ($VENV) with pinned tools"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  maturin==1.16.0 pytest==9.2.0 pytest-timeout==2.4.0 mypy==2.4.1 \
  ziglang==0.17.0 auditwheel==6.8.2

echo "== python: build the wheel (maturin, release, locked, manylinux2014 through zig)"
cargo build --release --locked -q -p mtproto-localdc
# zig links against glibc 2.17 whatever this machine's glibc is, so the
# wheel installs on every manylinux2014 system. maturin finds zig through
# the venv's python -m ziglang.
PATH="$VENV/bin:$PATH" "$VENV/bin/maturin" build --release --locked --quiet \
  --zig --compatibility manylinux2014 \
  --manifest-path bindings-python/Cargo.toml --interpreter "$VENV/bin/python" --out "$work/wheels"
wheel=$(ls "$work"/wheels/mtproto-*.whl)
"$VENV/bin/auditwheel" show "$wheel" >"$work/audit.txt"
if ! grep -q '"manylinux_2_17_x86_64"' "$work/audit.txt"; then
  cat "$work/audit.txt" >&2
  echo "auditwheel: the wheel is not manylinux_2_17 (manylinux2014) compatible" >&2
  exit 1
fi
echo "wheel: $(basename "$wheel"), $(( $(stat -c %s "$wheel") / 1024 )) KiB; auditwheel: manylinux_2_17_x86_64"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "$wheel"
# The tests must exercise the installed wheel, not the source tree.
(cd "$work" && "$VENV/bin/python" -c 'import mtproto, sys; p = mtproto.__file__; print("installed:", p); sys.exit(0 if "site-packages" in p else 1)')

echo "== python: pytest"
(cd bindings-python && "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests)

echo "== python: mypy --strict (tests, examples)"
"$VENV/bin/mypy" --strict --no-incremental --config-file bindings-python/pyproject.toml \
  bindings-python/tests examples/python bindings-python/bench

echo "== python: examples"
"$VENV/bin/python" examples/python/echo_async.py | tail -n 4
"$VENV/bin/python" examples/python/blocking.py | tail -n 2
# The same example against the localdc binary, as a user would run it.
target/release/mtproto-localdc --listen 127.0.0.1:0 --rsa-key "$work/rsa.pem" \
  --public-key-out "$work/pub.pem" >"$work/localdc.out" &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q "listening on" "$work/localdc.out" 2>/dev/null && break
  sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$work/localdc.out" | head -n 1)
[ -n "$addr" ] || { echo "mtproto-localdc did not start" >&2; exit 1; }
"$VENV/bin/python" examples/python/blocking.py --address "$addr" --public-key "$work/pub.pem" | tail -n 2

echo "== python: the sdist builds and installs"
"$VENV/bin/maturin" sdist --manifest-path bindings-python/Cargo.toml --out "$work/sdist" 2>/dev/null
# Built the way pip builds it for a user without a wheel for their platform
# (the same maturin, no network; the shared target directory keeps the
# crates.io dependencies from compiling twice).
CARGO_TARGET_DIR="$PWD/target" PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m pip wheel -q \
  --disable-pip-version-check --no-deps --no-build-isolation \
  -w "$work/sdist-wheel" "$work"/sdist/mtproto-*.tar.gz
"$PYTHON" -m venv "$work/sdist-venv"
"$work/sdist-venv/bin/python" -m pip install -q --disable-pip-version-check "$work"/sdist-wheel/mtproto-*.whl
(cd "$work" && "$work/sdist-venv/bin/python" -c '
import mtproto
s = mtproto.Schema.telegram()
assert s.encode({"_": "help.getConfig"}) == bytes.fromhex("6b18f9c4")
print("sdist: built, installed, Schema.telegram() layer", s.layer)')

echo "== python: done in $(( $(date +%s) - start )) s"
