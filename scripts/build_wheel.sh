#!/usr/bin/env bash
# Builds the sprs wheel into dist/: the `sprs` program (release profile, the default features:
# the flex CPU backend, no LibTorch; stripped) and the `sprs` Python package of python/, with
# maturin and zig (the `ziglang` package) from PyPI installed once into .venv-wheel. zig links
# against glibc 2.17, so the wheel is manylinux2014: it runs on any x86_64 Linux since 2014
# (CentOS 7, Ubuntu 14.04 and later). No CPU-specific code: the matrix kernels pick AVX2 or
# AVX-512 at run time. The wheel's version is the crate's. The build is its own release build,
# under target/x86_64-unknown-linux-gnu (about 9 minutes from scratch on 2 cores).
#
#   bash scripts/build_wheel.sh    # -> dist/sprs-VERSION-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
set -euo pipefail
cd "$(dirname "$0")/.."

MATURIN_VERSION=1.13.1
ZIG_VERSION=0.17.1
venv=.venv-wheel
if [ ! -x "$venv/bin/maturin" ] || [ "$("$venv/bin/maturin" --version)" != "maturin $MATURIN_VERSION" ] ||
    [ "$("$venv/bin/python" -m ziglang version 2>/dev/null)" != "$ZIG_VERSION" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "maturin==$MATURIN_VERSION" "ziglang==$ZIG_VERSION"
fi
# maturin runs zig through the environment's python.
export PATH="$PWD/$venv/bin:$PATH"
if [[ "${RUSTFLAGS:-}" == *target-cpu* ]]; then
    echo "build_wheel: RUSTFLAGS sets a target CPU ($RUSTFLAGS); unset it for a portable wheel" >&2
    exit 1
fi
rm -rf dist
maturin build --locked --release --zig --compatibility manylinux2014 --out dist
wheel=$(ls dist/sprs-*.whl)
echo "wheel: $wheel ($(du -h "$wheel" | cut -f1))"
