#!/usr/bin/env bash
# Updates the bundled Telegram API schema, core/tl/api.tl, to another layer.
#
#   scripts/update-schema.sh PATH [LAYER]
#
# PATH is the new api.tl. LAYER is its layer number; it may be left out when
# the file already ends with a `// LAYER N` line (Telegram's own copies do).
# The script
#   1. writes PATH to core/tl/api.tl with exactly one `// LAYER N` line at the
#      end (the build script reads the layer from it: Schema::telegram(),
#      API_LAYER and DEFAULT_LAYER all follow);
#   2. checks every constructor id by the CRC32 rule (B-12; only the preamble
#      before the first `---types---` may keep historical ids) and runs the
#      codec round-trip tests over every definition;
#   3. regenerates what depends on it (scripts/generate.sh: the C header and
#      the Kotlin/Swift bindings);
# and puts the old schema back if any step fails. Commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 PATH [LAYER]" >&2
  exit 2
fi
src=$1
[ -f "$src" ] || { echo "$src: no such file" >&2; exit 2; }
layer=${2:-$(sed -n 's|^[[:space:]]*//[[:space:]]*LAYER[[:space:]]*\([0-9][0-9]*\)[[:space:]]*$|\1|p' "$src" | tail -n 1)}
case "$layer" in
  ''|*[!0-9]*) echo "$src has no '// LAYER N' line: give the layer as the second argument" >&2; exit 2 ;;
esac
old_layer=$(sed -n 's|^// LAYER \([0-9]*\)$|\1|p' core/tl/api.tl | tail -n 1)

backup=$(mktemp)
cp core/tl/api.tl "$backup"
restore() {
  echo "update-schema: failed; core/tl/api.tl is back at layer $old_layer" >&2
  cp "$backup" core/tl/api.tl
  rm -f "$backup"
}
trap restore ERR

# The text without any LAYER line, then ours.
grep -v -E '^[[:space:]]*//[[:space:]]*LAYER[[:space:]]*[0-9]+[[:space:]]*$' "$src" >core/tl/api.tl.new
printf '\n// LAYER %s\n' "$layer" >>core/tl/api.tl.new
mv core/tl/api.tl.new core/tl/api.tl
echo "== core/tl/api.tl: layer $old_layer -> $layer ($(grep -c '#[0-9a-f]' core/tl/api.tl) declarations with ids)"

echo "== ids by the CRC32 rule, codec round trips of every definition"
cargo test --locked -q -p mtproto --lib tl::schema

echo "== regenerating what depends on the schema"
scripts/generate.sh

trap - ERR
rm -f "$backup"
echo "== done: layer $layer. Review 'git diff --stat' and commit."
git diff --stat -- core/tl/api.tl include bindings-kotlin bindings-swift || true
