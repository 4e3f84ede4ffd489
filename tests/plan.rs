//! The planner against independent values: the paper's released 1B run, the closed form of
//! PAPER.md, TF-MOT's worked example, hand-computed budgets, and properties every plan obeys.

use std::path::Path;

use sprs::plan::{plan_source, PlannedTrial};

fn plan(text: &str) -> Vec<PlannedTrial> {
    let output = plan_source(Path::new("main.sprs"), text.to_string());
    let renderer = sprs::diagnostic::Renderer { sources: &output.sources, color: false, width: 100 };
    // The shared header imports more than each test uses, and these tests are about schedule
    // arithmetic, not whether the 5 MB bundled corpus suffices (W0005).
    let ignored = ["W0002", "W0005"];
    let report: Vec<String> = output
        .diagnostics
        .iter()
        .filter(|d| !ignored.contains(&d.code().as_str()))
        .map(|d| renderer.short(d))
        .collect();
    assert!(report.is_empty(), "unexpected diagnostics:\n{}", report.join("\n"));
    output.plan.unwrap().trials
}

/// Linear parameters of `llama { width = 64, depth = 2 }` with byte tokens, by hand: two blocks
/// of 4 * 64^2 attention and 3 * 64 * 256 SwiGLU weights, plus a 256 x 64 head.
const N64: u64 = 2 * (4 * 64 * 64 + 3 * 64 * 256) + 256 * 64;

const HEADER: &str =
    "use std::models::{llama, llama_1b}\nuse std::schedules::{journey, gmp}\nuse std::data::shakespeare\n";

/// The authors' released 1B, 80%-sparse run: 25,050 steps, pruning from step 2,500 to 12,600
/// every 100 steps, on a budget of 10,000 dense steps of compute (PAPER.md).
#[test]
fn reproduces_the_released_1b_run() {
    let trial = &plan(&format!(
        "{HEADER}train run {{ data = shakespeare {{ context = 2048 }}, model = llama_1b, prune = journey {{ sparsity = 80% }}, batch = 256, budget = 6 * 1139277824 * 256 * 2048 * 10000 flops }}\n"
    ))[0];
    assert_eq!(trial.observables.n, 1_139_277_824);
    assert_eq!(trial.steps, 25_050);
    assert_eq!(
        (trial.prune.start_step, trial.prune.end_step, trial.prune.every),
        (Some(2_500), Some(12_600), Some(100))
    );
    assert_eq!(trial.prune.updates.len(), 102);
    assert!((trial.observables.s - 0.8).abs() < 1e-6);
    // The budget is spent: reached, and by less than one more (fully sparse) step.
    let budget = 6.0 * 1_139_277_824.0 * 256.0 * 2048.0 * 10_000.0;
    let last_step = 6.0 * trial.tokens_per_step as f64 * trial.observables.n_final as f64;
    assert!(
        trial.observables.c >= budget * (1.0 - 1e-12) && trial.observables.c - budget < last_step,
        "C = {:e}",
        trial.observables.c
    );
}

/// PAPER.md: with the geometric curve and boundaries at 25% / 75% of compute C (in dense steps),
/// there are 0.25 C dense steps, 0.5 C (-ln(1 - s)) / s pruning steps and 0.25 C / (1 - s)
/// recovery steps. With an update every step the discrete plan approaches that continuum.
#[test]
fn approaches_the_closed_form_of_the_journey_schedule() {
    for sparsity in [0.2, 0.5, 0.8] {
        let dense_steps = 20_000.0;
        let trial = &plan(&format!(
            "{HEADER}train run {{ data = shakespeare {{ context = 64 }}, model = llama {{ width = 64, depth = 2 }}, prune = journey {{ sparsity = {}%, every = 1 steps }}, batch = 4, budget = 6 * {N64} * 4 * 64 * {dense_steps} flops }}\n",
            sparsity * 100.0
        ))[0];
        assert_eq!(trial.observables.n, N64);
        let c = dense_steps;
        let (start, end, total) =
            (trial.prune.start_step.unwrap() as f64, trial.prune.end_step.unwrap() as f64, trial.steps as f64);
        let expect_pruning = 0.5 * c * -(1.0_f64 - sparsity).ln() / sparsity;
        let expect_recovery = 0.25 * c / (1.0 - sparsity);
        let close = |got: f64, want: f64| (got - want).abs() / want < 0.005;
        assert!(close(start, 0.25 * c), "s = {sparsity}: dense {start} vs {}", 0.25 * c);
        assert!(close(end - start, expect_pruning), "s = {sparsity}: pruning {} vs {expect_pruning}", end - start);
        assert!(close(total - end, expect_recovery), "s = {sparsity}: recovery {} vs {expect_recovery}", total - end);
    }
}

/// TF-MOT's PolynomialDecay(0 -> 0.8, begin 250, end 750, power 3, frequency 100) through the
/// planner, with N_avg recomputed here from the formula, step by step.
#[test]
fn cubic_schedule_and_n_avg_follow_tf_mot() {
    let trial = &plan(&format!(
        "{HEADER}train run {{ data = shakespeare, model = llama {{ width = 64, depth = 2 }}, prune = gmp {{ sparsity = 80%, start = 250 steps, end = 750 steps, every = 100 steps }}, budget = 1000 steps }}\n"
    ))[0];
    let steps: Vec<u64> = trial.prune.updates.iter().map(|u| u.0).collect();
    assert_eq!(steps, [250, 350, 450, 550, 650, 750]);
    let n = trial.observables.n as f64;
    let mut sum = 0.0;
    for t in 0..1000u64 {
        // The mask in force at t comes from the last update at or before t.
        let last_update = if t < 250 { None } else { Some(250 + (t.min(750) - 250) / 100 * 100) };
        let s = last_update.map_or(0.0, |u| 0.8 * (1.0 - (1.0 - (u - 250) as f64 / 500.0).powi(3)));
        sum += n - (s * n).round();
    }
    assert_eq!(trial.observables.n_avg, sum / 1000.0);
    assert_eq!(trial.observables.n_final as f64, n - (0.8 * n).round());
}

/// The geometric curve over a window given in fractions of steps: N_avg from the closed form
/// of each update's kept fraction.
#[test]
fn geometric_n_avg_matches_its_formula() {
    let trial = &plan(&format!(
        "{HEADER}train run {{ data = shakespeare, model = llama {{ width = 64, depth = 2 }}, prune = journey {{ sparsity = 60%, start = 20%, end = 60% }}, budget = 2000 steps }}\n"
    ))[0];
    // start = 20% of 2000 = step 400; end = first update at or after step 1200: 400 + 8 * 100.
    assert_eq!((trial.prune.start_step, trial.prune.end_step), (Some(400), Some(1200)));
    let n = trial.observables.n as f64;
    let updates = 9.0;
    let mut sum = 400.0 * n;
    for k in 0..9 {
        let kept = (1.0_f64 - 0.6).powf((k + 1) as f64 / updates);
        let length = if k < 8 { 100.0 } else { 2000.0 - 1200.0 };
        sum += length * (n - ((1.0 - kept) * n).round());
    }
    assert_eq!(trial.observables.n_avg, sum / 2000.0);
}

#[test]
fn budgets_become_steps_by_hand() {
    let budget = |budget: &str| {
        plan(&format!("{HEADER}train run {{ data = shakespeare, model = llama {{ width = 64, depth = 2 }}, batch = 32, budget = {budget} }}\n"))[0].clone()
    };
    // 32 sequences of 128 tokens: 4096 tokens per step.
    let tokens = budget("1M tokens");
    assert_eq!((tokens.tokens_per_step, tokens.steps, tokens.observables.d), (4096, 245, 245 * 4096));
    let ratio = budget("20 tokens/param");
    assert_eq!(ratio.observables.n, N64);
    assert_eq!(ratio.steps, (20 * N64).div_ceil(4096));
    assert_eq!(budget("300 steps").steps, 300);
    let flops = budget(&format!("6 * {N64} * 4096 * 123 flops"));
    assert_eq!(flops.steps, 123);
    assert_eq!(flops.observables.c, flops.observables.c_dense);
}

#[test]
fn every_plan_obeys_the_inequalities_and_compute_grows_with_the_budget() {
    let mut text = String::from(HEADER);
    text.push_str("train base { data = shakespeare { context = 64 }, model = llama { width = 32, depth = 2 }, batch = 8, budget = 10 tokens/param }\n");
    text.push_str("sweep s = base {\n  prune in [dense, journey { sparsity = 30% }, journey { sparsity = 90%, scope = layerwise }, gmp { sparsity = 50%, every = 2% }, gmp { sparsity = 70%, targets = [mlp], curve = linear }]\n  count in [linear, non_embedding, total]\n  budget in [5, 10, 20, 40] tokens/param\n}\n");
    let trials = plan(&text);
    assert_eq!(trials.len(), 5 * 3 * 4);
    for t in &trials {
        assert!(
            t.observables.n_final as f64 <= t.observables.n_avg + 1e-9 && t.observables.n_avg <= t.observables.n as f64,
            "{}: {} {} {}",
            t.name,
            t.observables.n_final,
            t.observables.n_avg,
            t.observables.n
        );
        assert!(t.observables.c <= t.observables.c_dense * (1.0 + 1e-12), "{}", t.name);
        assert_eq!(t.observables.d, t.steps * t.tokens_per_step);
        assert!((t.observables.c - 6.0 * t.observables.n_avg * t.observables.d as f64).abs() <= 1e-6 * t.observables.c);
        let sparsities: Vec<f64> = t.prune.updates.iter().map(|u| u.1).collect();
        assert!(sparsities.windows(2).all(|w| w[0] <= w[1]), "{}: masks must only grow", t.name);
    }
    // Same schedule and count, growing budget: more steps and more compute.
    for group in trials.chunks(4) {
        assert!(
            group.windows(2).all(|w| w[0].steps < w[1].steps && w[0].observables.c < w[1].observables.c),
            "{}",
            group[0].name
        );
    }
}

#[test]
fn plan_json_has_the_documented_keys() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sprs"))
        .args(["plan", "--format", "json", "experiments/chinchilla_sweep.sprs"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let trials = json["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 32, "the grid's 24 and 8 more dense runs");
    for key in ["id", "name", "sweep", "config", "N", "N_avg", "D", "steps", "tokens_per_step", "C", "C_dense", "prune"]
    {
        assert!(trials[0].get(key).is_some(), "missing `{key}`");
    }
    for key in ["start_step", "end_step", "updates"] {
        assert!(trials[2]["prune"].get(key).is_some(), "missing `prune.{key}`");
    }
    let update = &trials[2]["prune"]["updates"][0];
    assert!(update[0].is_u64() && update[1].is_f64());
}

/// Plans a file of the repository, allowing warnings; panics with the diagnostics on an error.
fn plan_path(path: &Path) -> Vec<PlannedTrial> {
    let output = sprs::plan::plan_file(path).unwrap();
    let renderer = sprs::diagnostic::Renderer { sources: &output.sources, color: false, width: 100 };
    let errors: Vec<String> = output.diagnostics.iter().filter(|d| d.is_error()).map(|d| renderer.short(d)).collect();
    assert!(errors.is_empty(), "{}:\n{}", path.display(), errors.join("\n"));
    output.plan.unwrap().trials
}

/// The schedule grid of the paper at toy scale: the 10 (start, end) pairs of compute that fit,
/// times 4 sparsities. Each boundary is a share of the run's own (sparse-aware) compute: the
/// dense steps before `start` spend that share of C, to within one step.
#[test]
fn the_schedule_search_plans_its_40_schedules() {
    let trials = plan_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/schedule_search.sprs"));
    assert_eq!(trials.len(), 40);
    let mut pairs: Vec<(u64, u64)> = Vec::new();
    for t in &trials {
        let fraction = |b: &sprs::config::Point| match b {
            sprs::config::Point::Fraction { value, .. } => *value,
            other => panic!("{other:?}"),
        };
        let (start, end) = (fraction(&t.config.prune.start), fraction(&t.config.prune.end));
        assert!(start < end && end <= 1.0, "{}", t.name);
        let pair = ((start * 100.0).round() as u64, (end * 100.0).round() as u64);
        if !pairs.contains(&pair) {
            pairs.push(pair);
        }
        let step = 6.0 * t.observables.n as f64 * t.tokens_per_step as f64;
        let start_step = t.prune.start_step.unwrap() as f64;
        // Exact to a step where the boundaries have a fixed point. Where moving `start` changes the
        // number of updates that fit before the end (and with it the compute), there may be
        // none: the planner takes a member of the cycle it finds (75% to 100% of compute at 80%:
        // start at step 1679 where 75% of C is 1699.7 steps), so allow 1% of the run.
        let slack = step.max(0.01 * t.steps as f64 * step);
        assert!(
            (start_step * step - start * t.observables.c).abs() <= slack,
            "{}: dense compute before pruning: {start_step} steps for {}",
            t.name,
            start * t.observables.c / step
        );
        assert!((t.observables.s - t.config.prune.sparsity).abs() < 0.01, "{}", t.name);
    }
    pairs.sort();
    let expected: Vec<(u64, u64)> = [0, 25, 50, 75]
        .iter()
        .flat_map(|&s| [25, 50, 75, 100].into_iter().filter(move |&e| e > s).map(move |e| (s, e)))
        .collect();
    assert_eq!(pairs, expected);
}

/// The paper's 58M, 162M and 468M configurations check and plan, with small stand-in token files
/// in place of C4 (which is not shipped).
#[test]
fn the_paper_configurations_check_and_plan() {
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/paper");
    for file in sprs::check::sprs_files(&source).unwrap() {
        std::fs::copy(&file, dir.path().join(file.file_name().unwrap())).unwrap();
    }
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let tokens: Vec<u8> = (0..100_000u32).flat_map(|i| ((i * 7919 % 32_000) as u16).to_le_bytes()).collect();
    for name in ["c4_train.u16", "c4_valid.u16"] {
        std::fs::write(dir.path().join("data").join(name), &tokens).unwrap();
    }
    // Linear parameters (the count the paper's N_avg uses): blocks of 4 w^2 attention and 3 w m
    // SwiGLU weights, plus the untied head w x 32000.
    let linear = |w: u64, depth: u64, mlp: u64| depth * (4 * w * w + 3 * w * mlp) + w * 32_000;
    let sizes = [
        ("llama_58m.sprs", linear(512, 6, 2048)),
        ("llama_162m.sprs", linear(768, 12, 3072)),
        ("llama_468m.sprs", linear(1024, 24, 4096)),
    ];
    assert_eq!(sizes[1].1, 137_822_208, "PAPER.md and std::models");
    for (file, n) in sizes {
        let trials = plan_path(&dir.path().join(file));
        assert_eq!(trials.len(), 10, "{file}");
        for t in &trials {
            assert_eq!(t.observables.n, n, "{file}");
            assert_eq!(t.tokens_per_step, 256 * 2048);
            // The journey schedule updates every 100 steps; dense runs have no updates.
            let updates: Vec<u64> = t.prune.updates.iter().map(|u| u.0).collect();
            assert!(updates.windows(2).all(|w| w[1] - w[0] == 100), "{}", t.name);
            assert_eq!(updates.is_empty(), t.config.prune.sparsity == 0.0, "{}", t.name);
        }
    }
    let all = plan_path(&dir.path().join("journey.sprs"));
    assert_eq!(all.len(), 30);
    let output = sprs::check::check_file(&dir.path().join("journey.sprs")).unwrap();
    assert_eq!(output.checked.unwrap().fits.len(), 2);
}

/// Without their C4 files, the paper's configurations still plan (as `sprs plan` plans them, with
/// one W0007), and the same trials as with the files: a study can be sized before its data is
/// downloaded. Checking them (as `check` and `run` do) reports the missing files.
#[test]
fn the_paper_configurations_plan_without_their_data() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/paper");
    for name in ["llama_58m.sprs", "llama_162m.sprs", "llama_468m.sprs", "journey.sprs"] {
        let path = dir.join(name);
        let options = sprs::check::Options { require_data: false, ..sprs::check::Options::new(&path) };
        let output = sprs::plan::plan_file_with(&path, &options).unwrap();
        let codes: Vec<String> = output.diagnostics.iter().map(|d| d.code()).collect();
        assert_eq!(codes, ["W0007"], "{name}");
        let trials = output.plan.expect("a plan").trials;
        assert_eq!(trials.len(), if name == "journey.sprs" { 30 } else { 10 }, "{name}");
        let checked = sprs::plan::plan_file(&path).unwrap();
        assert!(checked.plan.is_none() && checked.diagnostics.iter().all(|d| d.code() == "E0209"), "{name}");
    }
}
