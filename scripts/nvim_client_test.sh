#!/usr/bin/env bash
# Drives a real Neovim (headless, no config, no plugins: its built-in LSP client, the API of 0.7
# and later) against `sprs lsp` on a small two-file project, as the editor's users would: a
# misspelt name's diagnostic, its quick fix, a rename across files, inlay hints and a clean
# shutdown (the checks are in editors/neovim/client_test.lua). Catches what the Rust tests of the
# server cannot: a real client's framing, capabilities, URIs and edit application.
#
#   scripts/nvim_client_test.sh [SPRS_BINARY]     (default: target/debug/sprs)
#
# Neovim comes from Debian (0.7.2 on Debian 12) when it is missing and this runs as root (as in
# CI); otherwise a missing Neovim fails the test when CI=true and skips it elsewhere.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd -P)"
binary="${1:-target/debug/sprs}"
case "$binary" in
    /*) ;;
    *) binary="$root/$binary" ;;
esac
if [ ! -x "$binary" ]; then
    echo "nvim_client_test: no sprs binary at $binary (run cargo build)" >&2
    exit 1
fi

if ! command -v nvim >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq neovim >/dev/null
    elif [ "${CI:-}" = true ]; then
        echo "nvim_client_test: nvim is missing (install Neovim 0.7 or later)" >&2
        exit 1
    else
        echo "SKIPPED: nvim_client_test: nvim is missing, the Neovim client test did not run" >&2
        exit 0
    fi
fi

project="$(mktemp -d)"
trap 'rm -rf "$project"' EXIT
project="$(cd "$project" && pwd -P)" # the server names files by their canonical paths
git -C "$project" init -q             # a project root, as the server finds one

cat >"$project/lib.sprs" <<'EOF'
sprs 0.1

use std::models::llama

/// The model every train starts from.
model base = llama { width = 64, depth = 2 }
EOF

# `bsae` is a deliberate typo of `base`: the diagnostic and quick fix under test.
cat >"$project/main.sprs" <<'EOF'
sprs 0.1

use std::data::markov
use "lib.sprs"::{base}

train t {
    data   = markov
    model  = bsae
    batch  = 4
    budget = 2 tokens/param
    prune  = dense
}

sweep widths = t { model.width in grid(32, 64, 32) }
train solo = t { batch = 8, budget = 3 tokens/param }
EOF

start=$(date +%s%N)
status=0
# The Lua exits by itself (0 or 1); a Lua file that does not even load exits 1 here, and
# `timeout` guards against a Neovim that hangs anyway.
SPRS_BINARY="$binary" SPRS_PROJECT="$project" SPRS_NVIM_TEST="$root/editors/neovim/client_test.lua" \
    timeout 120 nvim --headless -u NONE -i NONE --noplugin \
    -c 'lua local ok, e = pcall(dofile, os.getenv("SPRS_NVIM_TEST")) if not ok then io.stdout:write("nvim client test: FAILED to load: " .. tostring(e) .. "\n") os.exit(1) end' \
    </dev/null || status=$?
elapsed="$(( ($(date +%s%N) - start) / 1000000 )) ms"
if [ "$status" -ne 0 ]; then
    if [ "$status" -eq 124 ]; then echo "nvim_client_test: Neovim did not finish within 120 s" >&2; fi
    echo "nvim_client_test: FAILED (exit $status) after $elapsed" >&2
    exit 1
fi
echo "nvim_client_test: passed in $elapsed"
