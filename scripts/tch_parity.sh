#!/usr/bin/env bash
# One trial on flex and on LibTorch's CPU backend (tch): the same initial weights and batches, so
# the losses differ only by each backend's rounding. Trains a 60-step trial pruned to 50% on
# Shakespeare, in f32 and in bf16, on both, and prints the step-0 loss, the largest difference of
# the training loss over the steps, and the final held-out loss L of each.
#
#   bash scripts/tch_parity.sh                              # installs .venv-torch (setup_libtorch.sh)
#   TORCH_PYTHON=/path/to/python bash scripts/tch_parity.sh # a Python that has torch 2.9.0
#
# The tch build goes to target/tch (a first build compiles Burn again: about 15 minutes on 2
# cores); the default build is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${TORCH_PYTHON:-}" ]; then
    [ -x .venv-torch/bin/python ] || bash scripts/setup_libtorch.sh
    TORCH_PYTHON="$PWD/.venv-torch/bin/python"
fi
torch_lib="$("$TORCH_PYTHON" -c 'import torch, os; print(os.path.join(torch.__path__[0], "lib"))')"

# tch's build script asks this Python where LibTorch is.
PATH="$(dirname "$TORCH_PYTHON"):$PATH" LIBTORCH_USE_PYTORCH=1 \
    cargo build --release --locked --features tch --bin sprs --target-dir target/tch
sprs="$PWD/target/tch/release/sprs"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/.git"
cat > "$work/parity.sprs" <<'SPRS'
use std::models::llama
use std::data::shakespeare
use std::schedules::journey

/// Width 32, 60 steps of 16 sequences of 64 bytes, pruned to 50% from 25% to 75% of training.
train t {
    data      = shakespeare { context = 64 }
    model     = llama { width = 32, depth = 2 }
    optimizer = adamw { lr = 3e-3 }
    batch     = 16
    budget    = 60 steps
    prune     = journey { sparsity = 50%, every = 10% }
}

sweep precisions = t { precision in [f32, bf16] }
SPRS
for backend in flex tch; do
    LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$sprs" run "$work/parity.sprs" --backend "$backend" --out "$work/$backend" --no-weights
done

python3 - "$work" <<'PY'
import json, pathlib, sys

work = pathlib.Path(sys.argv[1])

def trials(backend):
    out = {}
    for result in sorted((work / backend).glob("*/result.json")):
        folder = result.parent
        trial = json.loads((folder / "trial.json").read_text())
        steps = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        out[folder.name] = (trial["config"]["precision"], json.loads(result.read_text()), [s["loss"] for s in steps])
    return out

flex, tch = trials("flex"), trials("tch")
assert flex.keys() == tch.keys(), "the two backends trained different trials"
print("| precision | trial | step 0: flex | step 0: tch | largest step difference | L: flex | L: tch | L difference |")
print("|---|---|--:|--:|--:|--:|--:|--:|")
for trial_id, (precision, a, a_steps) in flex.items():
    _, b, b_steps = tch[trial_id]
    assert (a["backend"], b["backend"]) == ("flex", "tch"), (a, b)
    largest = max(abs(x - y) for x, y in zip(a_steps, b_steps))
    print(f"| {precision} | {trial_id} | {a_steps[0]:.9f} | {b_steps[0]:.9f} | {largest:.2e} "
          f"| {a['L']:.6f} | {b['L']:.6f} | {abs(a['L'] - b['L']):.2e} |")
PY
