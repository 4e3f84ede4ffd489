#!/usr/bin/env bash
# Builds the sprs binary for a GPU machine that has PyTorch but neither Rust nor a registry: linked
# against the LibTorch of one PyTorch version (default 2.11.0, what the lent GPU machines' image
# has in /opt/torch/.venv), stripped, at dist/gpu/sprs. Carry it to the machine and run it with
# that PyTorch's libraries on LD_LIBRARY_PATH (scripts/gpu_check.sh does).
#
#   bash scripts/build_gpu_binary.sh [TORCH_VERSION]
#
# Only torch's own wheel is installed (no dependencies, so none of the nvidia-* wheels): its
# headers and libraries are enough to compile and link. The nvidia libraries that libtorch_cuda
# needs are resolved at run time from the PyTorch install on the GPU machine, hence
# `--allow-shlib-undefined`. tch 0.22 expects PyTorch 2.9: LIBTORCH_BYPASS_VERSION_CHECK accepts
# another version, whose C++ API it uses (2.11.0 measured: builds and trains).
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-2.11.0}"

venv=.venv-gpu-build
prefix="$venv/torch-$version"
if [ ! -d "$prefix/torch/include" ]; then
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --no-deps --target "$prefix" "torch==$version"
fi

export LIBTORCH="$PWD/$prefix/torch"
export LIBTORCH_BYPASS_VERSION_CHECK=1
export RUSTFLAGS="-Clink-arg=-Wl,--allow-shlib-undefined"
cargo build --release --locked --features tch --bin sprs --target-dir "target/gpu-torch-$version"
mkdir -p dist/gpu
strip -o dist/gpu/sprs "target/gpu-torch-$version/release/sprs"
echo "$version" > dist/gpu/TORCH_VERSION
ls -l dist/gpu/sprs
