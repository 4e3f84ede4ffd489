#!/usr/bin/env bash
# GPU readiness: builds sprs with LibTorch, trains the tiny trial and a 162M-shaped trial (the
# paper's llama_162m on synthetic tokens, vocabulary 32,000, context 1,024, batch 8) for 300
# steps on cuda:0, and prints each one's tokens/s, MFU and final loss from its speed.json and
# result.json. Meant for a fresh GPU machine with the PyPI torch wheel: about 10 minutes, most
# of them the LibTorch download and the build.
#
#   bash scripts/gpu_check.sh [DEVICE]        # DEVICE: cuda:0 by default
set -euo pipefail
cd "$(dirname "$0")/.."
device="${1:-cuda:0}"

[ -x .venv-torch/bin/python ] || bash scripts/setup_libtorch.sh
# shellcheck source=libtorch_env.sh
source scripts/libtorch_env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
cargo build --release --features tch --bin sprs

work="runs/gpu-check"
rm -rf "$work"
mkdir -p "$work"
cat > "$work/gpu_check.sprs" <<'EOF'
sprs 0.1

use std::models::llama_162m
use std::data::markov

/// The paper's 162M model on synthetic tokens, for 300 steps: throughput, not a result.
train llama_162m_shape {
    data   = markov { context = 1024, source.tokens = 4M, source.vocab = 32000 }
    model  = llama_162m
    batch  = 8
    budget = 300 steps
    eval   = { every = 50%, tokens = 64k }
}
EOF

run() { # FILE OUT
    ./target/release/sprs run "$1" --backend tch --device "$device" --out "$2"
}
start=$SECONDS
run experiments/tiny.sprs "$work/tiny"
run "$work/gpu_check.sprs" "$work/llama_162m"
echo "trained in $((SECONDS - start)) s"

.venv-torch/bin/python - "$work" <<'EOF'
import json, pathlib, sys
for speed_file in sorted(pathlib.Path(sys.argv[1]).glob("*/*/speed.json")):
    speed = json.loads(speed_file.read_text())
    result = json.loads((speed_file.parent / "result.json").read_text())
    mfu = speed.get("mfu")
    print(f"{speed_file.parent.parent.name}: {speed['tokens_per_second']:,.0f} tokens/s, "
          f"{speed['flops_per_second'] / 1e12:.1f} TFLOP/s"
          + (f", MFU {100 * mfu:.1f}% of {speed['gpu']['name']} ({speed['gpu']['source']})" if mfu else ", MFU unknown")
          + f", loss {result.get('L')}, on {speed['device']}")
EOF
