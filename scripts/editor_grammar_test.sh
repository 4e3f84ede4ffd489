#!/usr/bin/env bash
# Tests the VS Code extension of editors/vscode/: its TextMate grammar
# (syntaxes/sprs.tmLanguage.json) on the annotated samples in tests/ with vscode-tmgrammar-test,
# then that `vsce package` builds a clean .vsix of it. Both tools come from npm at the versions of
# editors/vscode/package-lock.json. Node.js, npm and unzip come from Debian when they are missing
# and this runs as root (as in CI).
set -euo pipefail
cd "$(dirname "$0")/../editors/vscode"
need() { # need COMMAND PACKAGE...: install the Debian packages when COMMAND is missing
    local command=$1
    shift
    command -v "$command" >/dev/null && return
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq "$@" >/dev/null
    else
        echo "editor_grammar_test: $command is missing (install $*)" >&2
        exit 1
    fi
}
need npm nodejs npm
need unzip unzip
npm ci --no-audit --no-fund --loglevel=error
npm test

# The extension's LICENSE carries both texts of the repository's dual license, verbatim.
for text in ../../LICENSE-MIT ../../LICENSE-APACHE; do
    if [[ "$(cat LICENSE)" != *"$(cat "$text")"* ]]; then
        echo "editor_grammar_test: editors/vscode/LICENSE lacks the text of ${text#../../}" >&2
        exit 1
    fi
done

# Package the extension. vsce asks "Do you want to continue? [y/N]" on a missing repository
# field, a missing LICENSE or `*` activation; stdin from /dev/null makes any such question an
# abort instead of a hang. --allow-missing-repository: sprs has no public repository URL yet, and
# none is invented in package.json (so the README must not use relative links, which vsce would
# need that URL to rewrite).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vsix=$tmp/sprs.vsix
if ! npx --no-install vsce package --allow-missing-repository --out "$vsix" </dev/null >"$tmp/vsce.log" 2>&1; then
    cat "$tmp/vsce.log" >&2
    echo "editor_grammar_test: vsce package failed" >&2
    exit 1
fi
grep -E 'WARNING|DONE' "$tmp/vsce.log" || true

# What the .vsix must hold (vsce renames a bare LICENSE to LICENSE.txt), and what it must not:
# the samples and vsce, a devDependency.
unzip -Z1 "$vsix" >"$tmp/files"
status=0
for file in extension/package.json extension/extension.js extension/syntaxes/sprs.tmLanguage.json \
    extension/node_modules/vscode-languageclient/package.json 'extension/LICENSE*'; do
    if ! grep -q "^${file//\*/.*}\$" "$tmp/files"; then
        echo "editor_grammar_test: sprs.vsix lacks $file" >&2
        status=1
    fi
done
for prefix in extension/tests/ extension/node_modules/@vscode/vsce/ extension/node_modules/vscode-tmgrammar-test/ \
    extension/node_modules/.bin/; do
    if grep -qF "$prefix" "$tmp/files"; then
        echo "editor_grammar_test: sprs.vsix holds $prefix:" >&2
        grep -F "$prefix" "$tmp/files" | head -5 >&2
        status=1
    fi
done
bytes=$(stat -c %s "$vsix")
echo "sprs.vsix: $bytes bytes ($(( (bytes + 1023) / 1024 )) KiB), $(wc -l <"$tmp/files") files"
if [ "$status" != 0 ]; then
    exit 1
fi
