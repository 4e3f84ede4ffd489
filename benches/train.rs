//! Training throughput of each backend in this build, side by side with PyTorch, and the cost of
//! mask updates. Run with `cargo bench --bench train` (add `--features ndarray,tch` for the other
//! backends; see the README for LibTorch).
//!
//! Two LLaMA decoders (RMSNorm, SwiGLU, rotary positions, untied head, vocabulary 256), context
//! 128, batch 16, trained with AdamW and global gradient clipping: 918,656 parameters (width 128,
//! 4 layers, 4 heads, feed-forward 384) and 3,541,248 (width 256, 4 layers, 4 heads,
//! feed-forward 768). `benches/reference_train.py` trains the same models the same way in PyTorch
//! eager mode on as many threads as this machine has cores; the python that runs it is
//! `$SPRS_TORCH_PYTHON`, else `.venv-torch/bin/python` (from `scripts/setup_libtorch.sh`), else
//! `python3`. Without torch the ratio is left out.
//!
//! Mask updates (the smaller model): a trial pruned to 80% with an update every 4 steps is timed
//! step by step; the update steps, less a plain masked step, give the cost of one update.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use sprs::data::tokens::Tokens;
use sprs::plan::{plan_source, PlannedTrial};
use sprs::train::backend::{Backend, Target};
use sprs::train::trainer::Trainer;

const WARMUP: u64 = 3;

fn steps() -> u64 {
    std::env::var("SPRS_BENCH_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(40)
}

/// A model size of the bench: width, depth, heads, feed-forward width.
#[derive(Clone, Copy)]
struct Size {
    width: u64,
    depth: u64,
    heads: u64,
    mlp: u64,
}

const SIZES: [Size; 2] =
    [Size { width: 128, depth: 4, heads: 4, mlp: 384 }, Size { width: 256, depth: 4, heads: 4, mlp: 768 }];

/// The dense trial of `size`, and one pruned to 80% with a mask update every 4 steps.
fn trials(size: Size) -> Vec<PlannedTrial> {
    let steps = WARMUP + steps();
    let Size { width, depth, heads, mlp } = size;
    let common = format!(
        "data = markov {{ context = 128, source.tokens = 400k, source.vocab = 256 }}, model = llama {{ width = {width}, depth = {depth}, heads = {heads}, mlp = {mlp} }}, batch = 16, budget = {steps} steps"
    );
    let text = format!(
        "use std::models::llama\nuse std::data::markov\nuse std::schedules::journey\n\
         train dense {{ {common} }}\n\
         train pruned {{ {common}, prune = journey {{ sparsity = 80%, start = {WARMUP} steps, end = 100%, every = 4 steps }} }}\n"
    );
    let output = plan_source(Path::new("bench.sprs"), text);
    let errors: Vec<_> = output.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.error.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    output.plan.expect("the bench's trials plan").trials
}

/// Seconds of each step after the warmup.
fn time_steps(planned: &PlannedTrial, tokens: &Tokens, backend: Backend) -> Vec<f64> {
    let device = backend.device(Target::Cpu).expect("an available backend");
    let mut trainer = Trainer::new(planned, tokens, &device).expect("the bench's trial starts");
    let mut out = Vec::new();
    for step in 0..planned.steps {
        let started = Instant::now();
        trainer.step(step).expect("a finite step");
        if step >= WARMUP {
            out.push(started.elapsed().as_secs_f64());
        }
    }
    out
}

fn mean(xs: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = xs.into_iter().fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    sum / n.max(1) as f64
}

/// PyTorch's tokens/s on the same model, or why there is none.
fn torch_rate(size: Size, threads: usize) -> Result<f64, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/reference_train.py");
    let output = Command::new(common::python("SPRS_TORCH_PYTHON"))
        .arg(script)
        .args(["--steps", &steps().to_string(), "--warmup", &WARMUP.to_string(), "--threads", &threads.to_string()])
        .args(["--width", &size.width.to_string(), "--depth", &size.depth.to_string()])
        .args(["--heads", &size.heads.to_string(), "--mlp", &size.mlp.to_string()])
        .output()
        .map_err(|e| format!("cannot start python: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(line).map_err(|_| {
        format!("no torch result: {}", String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or(""))
    })?;
    eprintln!("  torch {} on {} threads, {} parameters", json["torch"], json["threads"], json["params"]);
    json["tokens_per_s"].as_f64().ok_or_else(|| "no tokens_per_s in torch's output".into())
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (i, size) in SIZES.into_iter().enumerate() {
        let trials = trials(size);
        let (dense, pruned) = (&trials[0], &trials[1]);
        let tokens =
            Tokens::load(&dense.config.data, &sprs::access::Access::default(), None).expect("generated tokens");
        let per_step = (dense.config.batch * dense.config.data.context) as f64;
        println!(
            "model: {} parameters ({} in linear layers), context 128, batch 16; {} timed steps after {WARMUP}",
            dense.params.total,
            dense.params.linear,
            steps()
        );
        let torch = torch_rate(size, threads);
        match &torch {
            Ok(rate) => println!("{:<10} {rate:>9.0} tokens/s", "pytorch"),
            Err(why) => println!("pytorch: left out ({why})"),
        }
        for backend in Backend::available() {
            let dense_times = time_steps(dense, &tokens, backend);
            let rate = per_step / mean(dense_times.iter().copied());
            let ratio = torch.as_ref().map_or(String::new(), |t| format!("  {:.2}x pytorch", rate / t));
            println!("{:<10} {rate:>9.0} tokens/s{ratio}", backend.name());
            if i == 0 {
                mask_updates(pruned, &tokens, backend, mean(dense_times));
            }
        }
    }
}

/// The cost of a mask update, against a masked step and a dense one (`dense` seconds).
fn mask_updates(pruned: &PlannedTrial, tokens: &Tokens, backend: Backend, dense: f64) {
    let updates: Vec<u64> = pruned.prune.updates.iter().map(|(step, _)| *step).collect();
    let pruned_times = time_steps(pruned, tokens, backend);
    let at = |update: bool| {
        mean(
            pruned_times
                .iter()
                .enumerate()
                .filter(|(i, _)| updates.contains(&(*i as u64 + WARMUP)) == update)
                .map(|(_, t)| *t),
        )
    };
    let (plain, update) = (at(false), at(true));
    let cost = update - plain;
    println!(
        "{:<10} masked step {:.1} ms (dense {:.1} ms); a mask update adds {:.1} ms = {:.2} steps, {:.1}% of this run's time at one update per 4 steps, {:.2}% at one per 100",
        "",
        plain * 1e3,
        dense * 1e3,
        cost * 1e3,
        cost / plain,
        100.0 * cost / (4.0 * plain + cost),
        100.0 * cost / (100.0 * plain + cost),
    );
}
