#!/usr/bin/env bash
# Fuzzing at scale: runs the property tests of tests/fuzz.rs in release mode with N inputs in
# all (default 10,000,000), shared among the generators by how fast each runs, all generators
# at once: `.sprs` text for the checker and the formatter, `sprs tokenize` inputs (JSON lines,
# gzip, zstd, Parquet) and the language server's messages. Prints each generator's inputs, time and result, and exits 1 if any input made sprs
# panic (proptest then prints the smallest such input).
#
#   bash scripts/fuzz.sh            # 10 million inputs: about 50 minutes on 2 cores
#   bash scripts/fuzz.sh 100000     # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."

total=${1:-10000000}
# Shares per thousand inputs: the fast generators take most of them.
shares=(
  "arbitrary_text_never_panics 400"
  "arbitrary_bytes_never_panic 300"
  "edited_valid_files_never_panic 120"
  "formatting_never_panics 80"
  "arbitrary_set_overrides_never_panic 35"
  "the_audits_shapes_never_panic 20"
  "tokenize_inputs_never_panic 25"
  "language_server_messages_never_panic 20"
)

cargo build --release --tests --locked --quiet
logs=$(mktemp -d)
started=$(date +%s)
for entry in "${shares[@]}"; do
  read -r name share <<<"$entry"
  cases=$((total * share / 1000))
  (
    begin=$(date +%s)
    if PROPTEST_CASES=$cases cargo test --release --locked --quiet --test integration "fuzz::$name" -- --exact >"$logs/$name.log" 2>&1; then
      result=ok
    else
      result=FAILED
    fi
    echo "$name $cases $(( $(date +%s) - begin )) $result" >"$logs/$name.result"
  ) &
done
wait

failed=0
inputs=0
printf '%-40s %12s %8s  %s\n' generator inputs seconds result
for entry in "${shares[@]}"; do
  read -r name _ <<<"$entry"
  read -r _ cases seconds result <"$logs/$name.result"
  printf '%-40s %12s %8s  %s\n' "$name" "$cases" "$seconds" "$result"
  inputs=$((inputs + cases))
  if [ "$result" != ok ]; then
    failed=$((failed + 1))
    sed -n '/minimal failing input/,$p' "$logs/$name.log" | head -40
  fi
done
echo "$inputs inputs in $(( $(date +%s) - started )) s, $failed generator(s) found a panic"
[ "$failed" -eq 0 ]
