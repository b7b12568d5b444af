#!/bin/sh
# Builds the seed corpus for `decode_book` from the shared Kraken fixtures (never committed):
# each v2 fixture file cut into runs of 40 frames, prefixed by a batch-size byte (`0`-`7`: the
# target reads the first byte as frames per batch).
# Usage: fuzz/seed.sh [FIXTURES_DIR [OUT_DIR]]   then
#        RUSTC_BOOTSTRAP=1 cargo fuzz run -s none decode_book fuzz/corpus/decode_book -- -max_total_time=600
# tests/fuzz_seed.rs checks what it writes.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${1:-$here/../../shared/kraken-fixtures}
out=${2:-$here/corpus/decode_book}
mkdir -p "$out"
n=0
for f in "$fixtures"/*.ndjson "$fixtures"/other-channels/*.ndjson; do
    [ -f "$f" ] || continue
    split -l 40 -d -a 4 "$f" "$out/tmp-"
    for part in "$out"/tmp-*; do
        n=$((n + 1))
        { printf '%s' "$((n % 8))"; cat "$part"; } > "$out/seed-$n"
        rm "$part"
    done
done
echo "$n seeds in $out"
