#!/usr/bin/env bash
# sprs's trained models against the reference implementations the field uses: transformers,
# tokenizers and TensorBoard (CPU, float32). Trains eight small trials on a multilingual text:
# LLaMA with each kind of tokenizer (bytes, a trained bpe, a file(..) tokenizer made by Python's
# tokenizers with its own pipeline) and GPT-2 with bytes, each dense and pruned to 60%; exports
# them with `sprs export` and checks, in scripts/hf_check.py:
#   - transformers loads every folder with no custom code (AutoModelForCausalLM, AutoTokenizer);
#   - its mean loss on a held-out text equals `sprs score`'s within 1e-4 relative;
#   - the exported tokenizer (tokenizers.Tokenizer.from_file and AutoTokenizer) gives sprs's ids;
#   - TensorBoard's EventAccumulator reads every eval point of metrics.jsonl, and the HParams data.
# The reference stack is installed once into .venv-hf (about 7 GB: torch from PyPI brings its
# CUDA libraries, even for the CPU), in about 3.5 minutes.
#
#   bash scripts/hf_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-hf
packages=("torch==2.9.0" "transformers==5.24.0" "tokenizers==0.23.3" "tensorboard==2.21.0" "safetensors==0.8.0")
if ! "$venv/bin/python" -c 'import torch, transformers, tokenizers, tensorboard, safetensors' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet "${packages[@]}"
fi
python="$venv/bin/python"
# Everything is local: no hub, no progress bars.
export HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error HF_HUB_DISABLE_PROGRESS_BARS=1

cargo build --locked --quiet --bin sprs
sprs="$PWD/target/debug/sprs"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/.git"
"$python" scripts/hf_check.py prepare "$work"
cat > "$work/study.sprs" <<'EOF'
use std::models::{llama, gpt}
use std::schedules::journey

/// Multilingual text, byte tokens; the same text with a trained BPE and with a tokenizer file.
data bytes_data {
    source    = text("corpus.txt")
    tokenizer = bytes
    context   = 32
    holdout   = 10%
}
data bpe_data = bytes_data { tokenizer = bpe { vocab = 512 } }
data file_data = bytes_data { tokenizer = file("tokenizer.json") }

train base {
    data   = bytes_data
    model  = llama { width = 48, depth = 2, heads = 3, mlp = 128 }
    batch  = 8
    budget = 150 steps
    eval   = { every = 25 steps, tokens = 4k }
}

schedule pruned = journey { sparsity = 60%, every = 10 steps }

sweep kinds = base {
    (data, model.vocab) in [(bytes_data, 256), (bpe_data, 512), (file_data, 512)]
    prune in [dense, pruned]
}

sweep gpt2 = base {
    model = gpt { width = 48, depth = 2, heads = 3, mlp = 128 }
    prune in [dense, pruned]
}
EOF
out="$work/runs"
if ! "$sprs" run "$work/study.sprs" --out "$out" 2> "$work/run.log"; then
    cat "$work/run.log"
    exit 1
fi
grep -E "^[0-9]+ trials?:" "$work/run.log"
"$sprs" plan "$work/study.sprs" --format json > "$work/plan.json"
for id in $("$python" -c 'import json, sys; print(" ".join(t["id"] for t in json.load(open(sys.argv[1]))["trials"]))' "$work/plan.json"); do
    "$sprs" export "$work/study.sprs" --out "$out" --trial "$id" --to "$work/hf/$id" > /dev/null 2>&1
    "$sprs" score "$work/study.sprs" --out "$out" --trial "$id" --text "$work/heldout.txt" \
        --format json --per-token > "$work/hf/$id/score.json"
done
"$python" scripts/hf_check.py check "$work"
