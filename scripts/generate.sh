#!/usr/bin/env bash
# Regenerates every generated file of the repository with one command:
#   include/mtproto.h                          (cbindgen, scripts/gen-header.sh)
#   bindings-kotlin/src/main/kotlin/dev/mtproto (UniFFI, scripts/gen-uniffi.sh)
#   bindings-swift/Sources, bindings-swift/Headers
#
#   scripts/generate.sh           write them in place
#   scripts/generate.sh --check   generate into a temporary directory and fail
#                                 when anything differs from what is checked in
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/include"
  scripts/gen-header.sh "$tmp/include/mtproto.h"
  scripts/gen-uniffi.sh "$tmp" >/dev/null
  status=0
  # Hand-written files sit beside the generated ones (MtprotoJvm.kt, the
  # testing helpers): compare exactly the files the generators wrote.
  while IFS= read -r f; do
    diff -u "$f" "$tmp/$f" || status=1
  done < <(cd "$tmp" && find . -type f | sed 's|^\./||' | sort)
  if [ $status -ne 0 ]; then
    echo "generated files are stale: run scripts/generate.sh and commit the result" >&2
    exit 1
  fi
  echo "generated files are current"
else
  scripts/gen-header.sh
  scripts/gen-uniffi.sh
fi
