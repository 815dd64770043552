#!/usr/bin/env bash
# The C ABI checks (called from scripts/test.sh):
#   1. the checked-in include/mtproto.h equals a freshly generated one;
#   2. the header compiles as C99 and C++17 with -Wall -Wextra -Werror -pedantic;
#   3. the C tests (ffi/tests/c) under AddressSanitizer + UBSan;
#   4. the same tests, plain build, under valgrind memcheck (zero errors, zero
#      definitely/indirectly lost bytes);
#   5. scripts/install-c.sh into a temporary prefix, examples/c built from it
#      with CMake (find_package) and with pkg-config, run against a localdc.
# The tests start target/release/mtproto-localdc themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s)

need=()
command -v cc >/dev/null || need+=(gcc)
command -v c++ >/dev/null || need+=(g++)
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v valgrind >/dev/null || need+=(valgrind)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "== C ABI: build (release)"
cargo build --release --locked -q -p mtproto-ffi -p mtproto-localdc

work=$(mktemp -d)
dc_pid=""
cleanup() {
  [ -n "$dc_pid" ] && kill "$dc_pid" 2>/dev/null && wait "$dc_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "== C ABI: header is up to date"
scripts/gen-header.sh "$work/mtproto.h" >/dev/null
if ! diff -u include/mtproto.h "$work/mtproto.h"; then
  echo "include/mtproto.h is stale: run scripts/gen-header.sh and commit it" >&2
  exit 1
fi

echo "== C ABI: header compiles as C99 and C++17"
strict=(-Wall -Wextra -Werror -pedantic)
printf '#include "mtproto.h"\nint main(void) { return mtp_version() == 0; }\n' >"$work/h.c"
cp "$work/h.c" "$work/h.cpp"
cc -std=c99 "${strict[@]}" -Iinclude -c "$work/h.c" -o "$work/h_c.o"
c++ -std=c++17 "${strict[@]}" -Iinclude -c "$work/h.cpp" -o "$work/h_cpp.o"

# The tests link the freshly built shared library; its SONAME is
# libmtproto.so.0, so give the loader that name.
mkdir -p "$work/lib"
ln -s "$root/target/release/libmtproto.so" "$work/lib/libmtproto.so.0"
ln -s "$root/target/release/libmtproto.so" "$work/lib/libmtproto.so"
srcs=(ffi/tests/c/harness.c ffi/tests/c/test_mtproto.c)
link=(-Iinclude -L"$work/lib" -lmtproto -Wl,-rpath,"$work/lib" -lpthread)
run_tests() { # scratch-dir command...
  local dir=$1
  shift
  mkdir -p "$dir"
  "$@" "$root/target/release/mtproto-localdc" "$dir" "$root/localdc/test.tl"
}

echo "== C ABI: tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cc -std=c99 -g -O1 "${strict[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer \
  -fno-sanitize-recover=all "${srcs[@]}" "${link[@]}" -o "$work/test_asan"
ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  MTP_TEST_SCALE=4 run_tests "$work/asan" "$work/test_asan"

echo "== C ABI: tests under valgrind memcheck"
cc -std=c99 -g -O1 "${strict[@]}" "${srcs[@]}" "${link[@]}" -o "$work/test_plain"
if ! MTP_TEST_SCALE=2 run_tests "$work/valgrind" valgrind -q --tool=memcheck --leak-check=full \
  --errors-for-leak-kinds=definite,indirect --error-exitcode=1 "$work/test_plain" \
  >"$work/valgrind.log" 2>&1; then
  cat "$work/valgrind.log"
  echo "valgrind found errors or leaks" >&2
  exit 1
fi
grep -E "^(ok|FAIL|all)" "$work/valgrind.log" | tail -n 1
if grep -q "definitely lost\|indirectly lost" "$work/valgrind.log"; then
  grep -A2 "LEAK SUMMARY" "$work/valgrind.log"
  echo "valgrind reported lost blocks" >&2
  exit 1
fi

echo "== C ABI: install, build examples/c from the prefix, run it"
prefix="$work/prefix"
scripts/install-c.sh "$prefix" >/dev/null
cmake -S examples/c -B "$work/example" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/example" >/dev/null
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" cc -std=c99 "${strict[@]}" examples/c/main.c \
  $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs mtproto) -lpthread \
  -Wl,-rpath,"$prefix/lib" -o "$work/example_pkgconfig"
readelf -d "$prefix/lib/libmtproto.so" | grep -q "SONAME.*libmtproto.so.0" ||
  { echo "libmtproto.so has no SONAME libmtproto.so.0" >&2; exit 1; }

mkdir -p "$work/dc"
target/release/mtproto-localdc --rsa-key "$work/dc/key.pem" --listen 127.0.0.1:0 \
  --public-key-out "$work/dc/pub.pem" >"$work/dc/out" 2>"$work/dc/err" &
dc_pid=$!
for _ in $(seq 100); do
  grep -q "^listening on " "$work/dc/out" 2>/dev/null && break
  sleep 0.1
done
address=$(sed -n 's/^listening on //p' "$work/dc/out" | head -n 1)
[ -n "$address" ] || { echo "localdc did not start" >&2; cat "$work/dc/err" >&2; exit 1; }
timeout 60 "$work/example/mtproto_example" "$address" "$work/dc/pub.pem"
timeout 60 "$work/example_pkgconfig" "$address" "$work/dc/pub.pem" >/dev/null
echo "C ABI: all checks passed in $(($(date +%s) - start)) s"
