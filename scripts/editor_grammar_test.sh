#!/usr/bin/env bash
# Tests the VS Code extension's TextMate grammar (editors/vscode/syntaxes/sprs.tmLanguage.json)
# on the annotated samples in editors/vscode/tests/ with vscode-tmgrammar-test, installed from npm
# at the versions of editors/vscode/package-lock.json. Node.js and npm come from Debian when they
# are missing and this runs as root (as in CI).
set -euo pipefail
cd "$(dirname "$0")/../editors/vscode"
if ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
    else
        echo "editor_grammar_test: npm is missing (install Node.js and npm)" >&2
        exit 1
    fi
fi
npm ci --no-audit --no-fund --loglevel=error
npm test
