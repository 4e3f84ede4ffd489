"""The Python half of scripts/hf_check.sh.

    python scripts/hf_check.py prepare WORK   # the training text, a held-out text, a tokenizer file
    python scripts/hf_check.py check WORK     # sprs's exports, scores and events against
                                              # transformers, tokenizers and TensorBoard

`check` prints one row per trial and exits 1 if any check fails.
"""

import gzip
import json
import math
import pathlib
import sys

TRAIN_LINES = [
    "Le renard brun rapide saute par-dessus le chien paresseux.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.",
    "Быстрая коричневая лиса прыгает через ленивую собаку.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "素早い茶色の狐がのろまな犬を飛び越える。",
    "الثعلب البني السريع يقفز فوق الكلب الكسول.",
    "🦊 jumps over 🐕 — naïve café, déjà vu, São Paulo, Kraków.",
]

HELD_OUT_LINES = [
    "La vie est belle, et le soleil brille sur la mer.",
    "Ich habe heute keine Zeit, aber morgen vielleicht.",
    "Καλημέρα σας, τι κάνετε σήμερα;",
    "Я люблю читать книги по вечерам.",
    "今天天气很好，我们去公园散步吧。",
    "今日はとても暑いですね、水を飲みましょう。",
    "مرحبا بالعالم، كيف حالك اليوم؟",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "Tabs\tand  double  spaces, numbers 3.14159 and 2026-12-02 🎉",
]

# transformers' loss must equal sprs score's within this, relative (float32 on both sides).
TOLERANCE = 1e-4


def mixed(shakespeare, lines, every):
    """Shakespeare's lines with one of `lines` after every `every` of them."""
    out = []
    for i, line in enumerate(shakespeare.splitlines(keepends=True)):
        out.append(line)
        if i % every == every - 1:
            out.append(f"{lines[(i // every) % len(lines)]} {i}\n")
    return "".join(out)


def prepare(work):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    shakespeare = gzip.open("data/shakespeare.txt.gz", "rt", encoding="utf-8").read()
    corpus = mixed(shakespeare[:300_000], TRAIN_LINES, 8)
    (work / "corpus.txt").write_text(corpus, encoding="utf-8")
    (work / "heldout.txt").write_text(mixed(shakespeare[-15_000:], HELD_OUT_LINES, 3), encoding="utf-8")
    # A tokenizer made by Python's tokenizers with a pipeline of its own (NFC, digits split,
    # then byte-level), for the `file(..)` trials.
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator(corpus.splitlines(keepends=True), trainer)
    tokenizer.save(str(work / "tokenizer.json"))


def transformers_losses(model, ids, context):
    """Each token's loss, in nats, in consecutive windows of `context` ids (None where a window
    starts), as transformers computes it in float32."""
    import torch

    losses = []
    with torch.no_grad():
        for start in range(0, len(ids), context):
            window = ids[start : start + context]
            losses.append(None)
            if len(window) < 2:
                continue
            logits = model(torch.tensor([window[:-1]])).logits[0]
            log_probs = torch.log_softmax(logits, dim=-1)
            targets = torch.tensor(window[1:])
            losses.extend((-log_probs[torch.arange(len(targets)), targets]).tolist())
    return losses


def events(run, metrics):
    """(eval points in the event file, eval points in metrics.jsonl, equal, hparams keys)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    accumulator = EventAccumulator(str(run), size_guidance={"scalars": 0})
    accumulator.Reload()
    logged = [(e.step, e.value) for e in accumulator.Scalars("eval/loss")]
    expected = [(m["step"], m["eval_loss"]) for m in metrics if "eval_loss" in m]
    same = len(logged) == len(expected) and all(
        a[0] == b[0] and abs(a[1] - b[1]) <= 1e-6 * abs(b[1]) for a, b in zip(logged, expected)
    )
    content = accumulator.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    end = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_end_info"])
    ok = same and end.session_end_info.status == 1
    return len(logged), len(expected), ok, sorted(start.session_start_info.hparams.keys())


def check(work):
    import torch
    import tokenizers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import transformers

    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(2)
    plan = json.loads((work / "plan.json").read_text())
    text = (work / "heldout.txt").read_text(encoding="utf-8")
    failures = []
    header = ("trial", "arch", "tokenizer", "S", "tokens", "sprs loss", "transformers", "rel diff", "max |d log p|", "ids", "TB eval")
    rows = [header]
    for trial in plan["trials"]:
        id_, config = trial["id"], trial["config"]
        folder = work / "hf" / id_
        scored = json.loads((folder / "score.json").read_text())
        model = AutoModelForCausalLM.from_pretrained(folder)
        model.eval()
        auto = AutoTokenizer.from_pretrained(folder)
        raw = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        ours = scored["per_token"]["ids"]
        ids_equal = raw.encode(text, add_special_tokens=False).ids == ours and auto(text)["input_ids"] == ours
        context = config["model"]["context"]
        theirs = transformers_losses(model, ours, context)
        predicted = [(a, b) for a, b in zip(scored["per_token"]["losses"], theirs) if a is not None]
        mean = math.fsum(b for _, b in predicted) / len(predicted)
        relative = abs(mean - scored["loss"]) / scored["loss"]
        largest = max(abs(a - b) for a, b in predicted)
        run = next((work / "runs" / "tensorboard").glob(f"*-{id_[:8]}"))
        metrics = [json.loads(line) for line in (work / "runs" / id_ / "metrics.jsonl").read_text().splitlines()]
        logged, expected, events_ok, hparams = events(run, metrics)
        tokenizer = next(iter(config["data"]["tokenizer"])) if isinstance(config["data"]["tokenizer"], dict) else config["data"]["tokenizer"]
        rows.append((
            id_, type(model).__name__, tokenizer, f"{trial['S']:.2f}", str(len(predicted)),
            f"{scored['loss']:.6f}", f"{mean:.6f}", f"{relative:.1e}", f"{largest:.1e}",
            "equal" if ids_equal else "DIFFER", f"{logged}/{expected}" + ("" if events_ok else " DIFFER"),
        ))
        if relative > TOLERANCE:
            failures.append(f"{id_}: transformers' loss {mean} against sprs score's {scored['loss']}")
        if not ids_equal:
            failures.append(f"{id_}: the exported tokenizer's ids differ from sprs's")
        if not events_ok:
            failures.append(f"{id_}: TensorBoard's eval points ({logged}) are not metrics.jsonl's ({expected})")
        if len(predicted) != scored["tokens"]:
            failures.append(f"{id_}: {len(predicted)} predicted tokens against sprs's {scored['tokens']}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(f"hyperparameters in TensorBoard's HParams tab: {', '.join(hparams)}")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
    for failure in failures:
        print(f"FAILED: {failure}")
    if failures:
        sys.exit(1)
    print(f"every check passed: {len(plan['trials'])} trials, losses within {TOLERANCE:g} relative")


if __name__ == "__main__":
    command, work = sys.argv[1], pathlib.Path(sys.argv[2])
    {"prepare": prepare, "check": check}[command](work)
