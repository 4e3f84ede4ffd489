#!/usr/bin/env bash
# Installs the LibTorch that the `tch` feature links against: PyTorch 2.9.0 from PyPI, in a
# virtual environment at .venv-torch (about 3.5 GB with its nvidia-* wheels, even for CPU use).
# burn-tch 0.22.1 uses tch 0.22, which accepts PyTorch 2.9.0 and no other version.
#
#   bash scripts/setup_libtorch.sh
#   source scripts/libtorch_env.sh          # LIBTORCH_USE_PYTORCH, LD_LIBRARY_PATH
#   cargo build --release --features tch
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-torch
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install "torch==2.9.0"
"$venv/bin/python" -c 'import torch; print("torch", torch.__version__, "at", torch.__path__[0])'
