#!/usr/bin/env bash
# Installs the sprs wheel (dist/sprs-*.whl, from scripts/build_wheel.sh, or the one given) into a
# fresh virtual environment and tests it as a user meets it, with no Rust on PATH: `sprs
# --version`, `check` and `plan` of a shipped file, a small run, and the Python package on its
# results (python/tests/test_wheel.py with pytest), first without pandas (lists of dicts), then
# with it (DataFrames). Prints the install time and the wheel's size.
#
#   bash scripts/wheel_test.sh [WHEEL]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd -P)"
wheel="${1:-$(ls "$repo"/dist/sprs-*.whl 2>/dev/null | head -1)}"
if [ -z "$wheel" ] || [ ! -f "$wheel" ]; then
    echo "wheel_test: no wheel (run scripts/build_wheel.sh)" >&2
    exit 1
fi
wheel="$(cd "$(dirname "$wheel")" && pwd -P)/$(basename "$wheel")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
# Only the environment, the system's tools and no Rust: what a user with Python has.
export PATH="$work/venv/bin:/usr/local/bin:/usr/bin:/bin"
start=$(date +%s%N)
pip install --quiet "$wheel"
echo "wheel_test: installed $(basename "$wheel") ($(du -h "$wheel" | cut -f1)) in $(( ($(date +%s%N) - start) / 1000000 )) ms"
sprs --version
pip install --quiet pytest==8.4.2
cd "$work"
SPRS_REPO="$repo" python -m pytest -q -p no:cacheprovider "$repo/python/tests"
pip install --quiet "pandas==2.3.3"
SPRS_REPO="$repo" python -m pytest -q -p no:cacheprovider "$repo/python/tests" -k "pandas or results"
