#!/usr/bin/env bash
# GPU readiness: trains the tiny trial, then a 162M-shaped trial (the paper's llama_162m on
# synthetic tokens, vocabulary 32,000, context 1,024, batch 8) for 300 steps in each precision
# (f32, tf32, bf16) on cuda:0, and prints each one's tokens/s, TFLOP/s, MFU against that
# precision's peak, and final loss, from its speed.json and result.json.
#
#   bash scripts/gpu_check.sh [DEVICE]        # DEVICE: cuda:0 by default
#
# Two ways to get the binary:
# - carried (no Rust, no registry on the GPU machine): `bash scripts/build_gpu_binary.sh` here,
#   then carry dist/gpu; the script runs dist/gpu/sprs with the libraries of the PyTorch in
#   $TORCH_PYTHON (default /opt/torch/.venv/bin/python), whose version must be the one in
#   dist/gpu/TORCH_VERSION. Offline, within one call of under 10 minutes on an H200.
# - built here: without dist/gpu/sprs, installs LibTorch (scripts/setup_libtorch.sh) and builds.
set -euo pipefail
cd "$(dirname "$0")/.."
device="${1:-cuda:0}"

if [ -x dist/gpu/sprs ]; then
    sprs=dist/gpu/sprs
    python="${TORCH_PYTHON:-/opt/torch/.venv/bin/python}"
    have="$("$python" -c 'import torch; print(torch.__version__.split("+")[0])')"
    want="$(cat dist/gpu/TORCH_VERSION)"
    if [ "$have" != "$want" ]; then
        echo "dist/gpu/sprs was built for torch $want, and $python has torch $have" >&2
        exit 1
    fi
    torch_lib="$("$python" -c 'import torch, os; print(os.path.join(torch.__path__[0], "lib"))')"
    export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
    [ -x .venv-torch/bin/python ] || bash scripts/setup_libtorch.sh
    # shellcheck source=libtorch_env.sh
    source scripts/libtorch_env.sh
    cargo build --release --features tch --bin sprs
    sprs=./target/release/sprs
    python=.venv-torch/bin/python
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$sprs" --version

work="runs/gpu-check"
rm -rf "$work"
mkdir -p "$work"
cat > "$work/gpu_check.sprs" <<'SPRS'
sprs 0.1

use std::models::llama_162m
use std::data::markov

/// The paper's 162M model on synthetic tokens, for 300 steps: throughput, not a result.
train shape {
    data   = markov { context = 1024, source.tokens = 4M, source.vocab = 32000 }
    model  = llama_162m
    batch  = 8
    budget = 300 steps
    eval   = { every = 50%, tokens = 64k }
}

train f32 = shape { precision = f32 }
train tf32 = shape { precision = tf32 }
train bf16 = shape { precision = bf16 }
SPRS

run() { # FILE OUT [ARGS]
    local file="$1" out="$2"
    shift 2
    "$sprs" run "$file" --backend tch --device "$device" --out "$out" --no-weights "$@"
}
start=$SECONDS
run experiments/tiny.sprs "$work/tiny"
run "$work/gpu_check.sprs" "$work/llama_162m" --only f32
run "$work/gpu_check.sprs" "$work/llama_162m" --only bf16
# TF32 is a setting of the whole LibTorch process, read when it starts.
TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1 run "$work/gpu_check.sprs" "$work/llama_162m" --only tf32
echo "trained in $((SECONDS - start)) s"

"$python" - "$work" <<'PY'
import json, pathlib, subprocess, sys
# Dense (no sparsity) peaks per precision, TFLOP/s: NVIDIA H100 and H200 SXM datasheets.
PEAKS = {"H200": {"f32": 67.0, "tf32": 494.7, "bf16": 989.4}, "H100": {"f32": 67.0, "tf32": 494.7, "bf16": 989.4}}
for speed_file in sorted(pathlib.Path(sys.argv[1]).glob("*/*/speed.json")):
    speed = json.loads(speed_file.read_text())
    trial = json.loads((speed_file.parent / "trial.json").read_text())
    result = json.loads((speed_file.parent / "result.json").read_text())
    precision = trial.get("config", {}).get("precision", "f32")
    index = speed["device"].split("Cuda(")[-1].split(")")[0] if "Cuda(" in speed["device"] else "0"
    name = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", index],
                          capture_output=True, text=True).stdout.strip()
    peak = next((p[precision] for key, p in PEAKS.items() if key in name and "NVL" not in name), None)
    mfu = speed["flops_per_second"] / (peak * 1e12) if peak else None
    print(f"{speed_file.parent.parent.name} {trial.get('name')} ({precision}): {speed['tokens_per_second']:,.0f} tokens/s, "
          f"{speed['flops_per_second'] / 1e12:.1f} TFLOP/s"
          + (f", MFU {100 * mfu:.1f}% of {peak:g} TFLOP/s {precision}" if mfu else ", MFU unknown")
          + f", loss {result.get('L')}, on {speed['device']}")
PY
