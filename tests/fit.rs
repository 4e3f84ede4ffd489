//! The fit engine against published and synthetic references.

use std::path::{Path, PathBuf};

use sprs::check::FitSpec;
use sprs::fit::data::Point;
use sprs::fit::{fit, Fitted};
use sprs::plan::plan_source;
use sprs::store::Store;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The checked fits of `text`, as if written in `dir/main.sprs`, and their points.
fn fits_in(dir: &Path, text: &str) -> Vec<(FitSpec, Vec<Point>)> {
    let output = plan_source(&dir.join("main.sprs"), text.to_string());
    let errors: Vec<_> = output.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.error.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let (checked, plan) = (output.checked.unwrap(), output.plan.unwrap());
    let store = Store::new(Some(&dir.join("runs")), &dir.join("main.sprs")).unwrap();
    checked
        .fits
        .into_iter()
        .map(|spec| {
            let mut diags = Vec::new();
            let points = sprs::fit::data::load(&spec, &plan, &store, &output.access, &mut diags).expect("points");
            (spec, points)
        })
        .collect()
}

fn param(fitted: &Fitted, name: &str) -> f64 {
    fitted.params.iter().find(|p| p.name == name).unwrap().value
}

/// PAPER.md: refitting Chinchilla's Approach 3 on Epoch AI's 240 points gives A = 477.8,
/// B = 2143.9, E = 1.8172, alpha = 0.3473, beta = 0.3672 and a summed Huber objective of
/// 0.0010183.
#[test]
fn reproduces_the_epoch_refit_of_chinchilla() {
    let text = "use std::laws::chinchilla\nfit epoch = chinchilla {\n  on = csv(\"tests/fixtures/chinchilla_epoch_svg.csv\", columns = { N = \"Model Size\", C = \"Training FLOP\", L = \"loss\", D = C / (6 * N) }) where L < 3.44\n}\n";
    let (spec, points) = fits_in(&root(), text).remove(0);
    assert_eq!(points.len(), 240);
    let fitted = fit(&spec, &points).unwrap();
    assert_eq!(fitted.starts, 4500);
    let near = |name: &str, want: f64, tol: f64| {
        let got = param(&fitted, name);
        assert!((got - want).abs() <= tol, "{name} = {got}, published {want}");
    };
    near("alpha", 0.3473, 1e-3);
    near("beta", 0.3672, 1e-3);
    near("E", 1.8172, 1e-3);
    near("A", 477.8, 477.8 * 0.01);
    near("B", 2143.9, 2143.9 * 0.03);
    assert!((fitted.objective - 0.0010183).abs() <= 1e-6, "objective {}", fitted.objective);
    // The closed-form allocation minimises the fitted law along C = 6 N D: a numeric search
    // over N agrees with it.
    let optimum = fitted.compute_optimal[0];
    assert_eq!(optimum.method, "closed form");
    let law = |n: f64, d: f64| {
        param(&fitted, "E")
            + param(&fitted, "A") / n.powf(param(&fitted, "alpha"))
            + param(&fitted, "B") / d.powf(param(&fitted, "beta"))
    };
    let c = optimum.c;
    let best = (0..20_000)
        .map(|i| optimum.n * (0.5 + i as f64 / 20_000.0))
        .min_by(|a, b| law(*a, c / (6.0 * a)).total_cmp(&law(*b, c / (6.0 * b))))
        .unwrap();
    assert!((best / optimum.n - 1.0).abs() < 1e-3, "grid minimum {best}, closed form {}", optimum.n);
    assert!((optimum.n * optimum.d * 6.0 / c - 1.0).abs() < 1e-9);
}

/// A seeded standard normal sequence (SplitMix64 and Box-Muller), independent of the engine.
struct Normal(u64);

impl Normal {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn sample(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

const TRUTH: [(&str, f64); 5] = [("E", 1.8), ("A", 400.0), ("B", 2000.0), ("alpha", 0.34), ("beta", 0.37)];

/// `points` runs at log-uniform N in [1e7, 1e10] and D in [1e9, 1e12], with losses from the
/// Chinchilla law at [`TRUTH`] times exp(sigma * noise), as a CSV file.
fn synthetic_csv(path: &Path, points: usize, sigma: f64, seed: u64) {
    let mut rng = Normal(seed);
    let [e, a, b, alpha, beta] = TRUTH.map(|(_, v)| v);
    let mut text = String::from("N,D,L\n");
    for _ in 0..points {
        let n = 10f64.powf(7.0 + 3.0 * rng.uniform());
        let d = 10f64.powf(9.0 + 3.0 * rng.uniform());
        let loss = (e + a / n.powf(alpha) + b / d.powf(beta)) * (sigma * rng.sample()).exp();
        text.push_str(&format!("{n},{d},{loss}\n"));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn recovers_the_parameters_of_synthetic_data() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_csv(&dir.path().join("points.csv"), 200, 0.002, 7);
    let text = "use std::laws::chinchilla\nfit f = chinchilla { on = csv(\"points.csv\", columns = { N = \"N\", D = \"D\", L = \"L\" }), holdout = largest(N, 10) }\n";
    let (spec, points) = fits_in(dir.path(), text).remove(0);
    let fitted = fit(&spec, &points).unwrap();
    for (name, truth) in TRUTH {
        let got = param(&fitted, name);
        let tolerance = if name == "A" || name == "B" { 0.25 * truth } else { 0.03 * truth };
        assert!((got - truth).abs() < tolerance, "{name}: {got} against {truth}");
    }
    // The noise is 0.2% of L; the law extrapolates to the ten largest models about as well.
    assert!(fitted.in_sample.rmse_log < 0.003, "{:?}", fitted.in_sample);
    let holdout = fitted.holdout.unwrap();
    assert_eq!((fitted.points, holdout.points), (190, 10));
    assert!(holdout.rmse_log < 0.005, "{holdout:?}");
}

/// Percentile intervals from 200 resamples cover the true value of each parameter in about 95%
/// of 40 independent datasets (200 intervals in all).
#[test]
fn bootstrap_intervals_cover_the_truth_at_about_the_nominal_rate() {
    let dir = tempfile::tempdir().unwrap();
    let (mut covered, mut total) = (0, 0);
    for seed in 0..40 {
        let csv = format!("points{seed}.csv");
        synthetic_csv(&dir.path().join(&csv), 60, 0.01, 1000 + seed);
        // Starts around the truth keep the test fast; the bootstrap starts from the optimum.
        let text = format!(
            "fit f {{\n  on = csv(\"{csv}\", columns = {{ N = \"N\", D = \"D\", L = \"L\" }})\n  law = E + A / N^alpha + B / D^beta\n  params = {{ E = {{ log = [0.5] }}, A = {{ log = [6] }}, B = {{ log = [7.5] }}, alpha = [0.3], beta = [0.4] }}\n  loss = mse\n  bootstrap = 200\n  seed = {seed}\n}}\n"
        );
        let (spec, points) = fits_in(dir.path(), &text).remove(0);
        let fitted = fit(&spec, &points).unwrap();
        for (name, truth) in TRUTH {
            let p = fitted.params.iter().find(|p| p.name == name).unwrap();
            assert!(p.lo <= p.value && p.value <= p.hi, "{p:?}");
            covered += usize::from(p.lo <= truth && truth <= p.hi);
            total += 1;
        }
    }
    let rate = covered as f64 / total as f64;
    // Binomial(200, 0.95) has a standard deviation of 1.5%; percentile intervals on 60 points run
    // a little narrow.
    assert!((0.85..=0.99).contains(&rate), "coverage {rate} ({covered} of {total})");
}

/// 72 trials of a small model: 8 widths x {dense, journey 50%, journey 80%} x 3 budgets.
const SWEEP: &str = "use std::models::llama\nuse std::data::markov\nuse std::schedules::journey\n\
    train base { data = markov, model = llama { width = 32, depth = 1, heads = 2, mlp = 64 }, batch = 4, budget = 100 steps }\n\
    sweep grid = base {\n  model.width in [16, 24, 32, 40, 48, 56, 64, 72]\n  prune in [dense, journey { sparsity = 50%, every = 5 steps }, journey { sparsity = 80%, every = 5 steps }]\n  budget in [100, 200, 400] steps\n}\n";

/// Writes the result of trial `t` with its planned observables: finished with `loss`, or failed
/// (the loss turned NaN) without one; trained on flex.
fn finish(store: &Store, t: &sprs::plan::PlannedTrial, loss: Option<f64>) {
    finish_on(store, t, loss, "flex", "cpu");
}

/// [`finish`], trained on `backend` and `device`.
fn finish_on(store: &Store, t: &sprs::plan::PlannedTrial, loss: Option<f64>, backend: &str, device: &str) {
    use sprs::store::{RanOn, TrialResult};
    let result = match loss {
        Some(loss) => TrialResult::finished(&t.id, t.observables, loss),
        None => TrialResult::failed(&t.id, t.observables, "the loss is NaN".into(), Some(3)),
    }
    .ran_on(&[RanOn { backend: backend.into(), device: device.into() }]);
    std::fs::create_dir_all(store.trial_dir(&t.id)).unwrap();
    store.finish(&result).unwrap();
}

/// A fit on a sweep's results on disk: the planned observables of each trial with a loss from
/// a known law in N_avg, written as `result.json` files; `where` filters on an observable and on
/// a config path; the failed trial and the one without a result are left out.
#[test]
fn fits_the_results_of_a_sweep_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let text = SWEEP.to_string()
        + "fit unified { on = grid where model.width != 72, law = E + A / N_avg^alpha + B / D^beta, params = { E = { log = [0, 0.5] }, A = { log = [2, 4] }, B = { log = [4, 6] }, alpha = [0.3, 0.6], beta = [0.3, 0.6] } }\n\
        fit dense_only { on = grid where S == 0 and model.width != 72, law = E + A / N^alpha + B / D^beta, params = { E = { log = [0, 0.5] }, A = { log = [2, 4] }, B = { log = [4, 6] }, alpha = [0.3, 0.6], beta = [0.3, 0.6] } }\n";
    let output = plan_source(&dir.path().join("main.sprs"), text);
    let plan = output.plan.unwrap();
    let store = Store::new(Some(&dir.path().join("runs")), &dir.path().join("main.sprs")).unwrap();
    let truth = |n: f64, d: f64| 1.5 + 50.0 / n.powf(0.4) + 300.0 / d.powf(0.35);
    for (i, t) in plan.trials.iter().enumerate() {
        let failed = i == 0;
        if i == 1 {
            continue; // not run yet
        }
        finish(&store, t, (!failed).then(|| truth(t.observables.n_avg, t.observables.d as f64)));
    }
    let checked = output.checked.unwrap();
    let mut diags = Vec::new();
    let fitted = sprs::fit::run_fits(&checked.fits, &plan, &store, &output.access, &mut diags);
    // The failed trial and the missing one: a warning for each fit, and no error.
    assert_eq!(diags.iter().map(|d| d.code()).collect::<Vec<_>>(), ["W0006", "W0006"]);
    let (unified, dense) = (&fitted[0], &fitted[1]);
    // 72 trials, less the width-72 ones (9), the failed and the missing one (both width 16).
    assert_eq!(unified.points, 72 - 9 - 2);
    assert_eq!(dense.points, 24 - 3 - 2);
    assert!(dense.predictions.iter().all(|p| p.sparsity == Some(0.0)));
    // The losses are exactly the law in N_avg, so the unified fit recovers it.
    for (name, want) in [("E", 1.5), ("A", 50.0), ("B", 300.0), ("alpha", 0.4), ("beta", 0.35)] {
        let got = param(unified, name);
        assert!((got / want - 1.0).abs() < 1e-3, "{name}: {got} against {want}");
    }
    assert!(unified.in_sample.rmse_log < 1e-6, "{:?}", unified.in_sample);
}

/// Chinchilla's law fitted on the dense runs of [`SWEEP`], predicting the pruned ones.
const DENSE_TO_SPARSE: &str = "fit dense_to_sparse { on = grid where S == 0, predict = grid where S > 0, law = E + A / N^alpha + B / D^beta, params = { E = { log = [0, 0.5] }, A = { log = [2, 4] }, B = { log = [4, 6] }, alpha = [0.3, 0.6], beta = [0.3, 0.6] } }\n";

/// `predict`: a law fitted on dense runs only, evaluated on the pruned runs it never saw, as
/// written (over N) and with N_avg and N_final in N's place. The losses are a known law in N_avg,
/// so the dense fit recovers it, and each count's error is what the formula gives at the
/// fitted parameters.
#[test]
fn a_dense_law_predicts_pruned_runs_with_each_count() {
    let dir = tempfile::tempdir().unwrap();
    let text = SWEEP.to_string() + DENSE_TO_SPARSE;
    let output = plan_source(&dir.path().join("main.sprs"), text);
    let plan = output.plan.unwrap();
    let store = Store::new(Some(&dir.path().join("runs")), &dir.path().join("main.sprs")).unwrap();
    let truth = |n: f64, d: f64| 1.5 + 50.0 / n.powf(0.4) + 300.0 / d.powf(0.35);
    for t in &plan.trials {
        finish(&store, t, Some(truth(t.observables.n_avg, t.observables.d as f64)));
    }
    let checked = output.checked.unwrap();
    let mut diags = Vec::new();
    let fitted = sprs::fit::run_fits(&checked.fits, &plan, &store, &output.access, &mut diags);
    assert!(diags.is_empty(), "{:?}", diags.iter().map(|d| d.error.to_string()).collect::<Vec<_>>());
    let fit = &fitted[0];
    assert_eq!(fit.points, 24, "the dense runs only");
    let predict = fit.predict.as_ref().expect("a prediction");
    let sparse: Vec<_> = plan.trials.iter().filter(|t| t.observables.s > 0.0).collect();
    assert_eq!(predict.errors.points, sparse.len());
    let mut ids: Vec<&str> = predict.rows.iter().map(|r| r.id.as_str()).collect();
    let mut want_ids: Vec<&str> = sparse.iter().map(|t| t.id.as_str()).collect();
    ids.sort_unstable();
    want_ids.sort_unstable();
    assert_eq!(ids, want_ids);

    // The law at the fitted parameters, with a count of each trial in N's place.
    let (e, a, b, alpha, beta) =
        (param(fit, "E"), param(fit, "A"), param(fit, "B"), param(fit, "alpha"), param(fit, "beta"));
    let law = |n: f64, d: f64| e + a / n.powf(alpha) + b / d.powf(beta);
    let mae = |count: fn(&sprs::plan::PlannedTrial) -> f64| {
        sparse
            .iter()
            .map(|t| (law(count(t), t.observables.d as f64) - truth(t.observables.n_avg, t.observables.d as f64)).abs())
            .sum::<f64>()
            / sparse.len() as f64
    };
    let counts: Vec<(&str, bool, f64)> =
        predict.counts.iter().map(|c| (c.count.as_str(), c.written, c.errors.mae)).collect();
    assert_eq!(
        counts.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(),
        [("N", true), ("N_avg", false), ("N_final", false)]
    );
    let expected =
        [mae(|t| t.observables.n as f64), mae(|t| t.observables.n_avg), mae(|t| t.observables.n_final as f64)];
    for ((name, _, got), want) in counts.iter().zip(expected) {
        assert!((got - want).abs() < 1e-9, "{name}: {got} against {want}");
    }
    assert!((predict.errors.mae - expected[0]).abs() < 1e-9, "as written, the law uses N");
    // By final sparsity, and the mean error (predicted minus observed): a pruned run is worse
    // than a dense one of its initial size N, so the law over N expects too low a loss.
    let n_count = &predict.counts[0];
    assert_eq!(n_count.by_sparsity.iter().map(|l| l.sparsity).collect::<Vec<_>>(), [0.5, 0.8]);
    for level in &n_count.by_sparsity {
        let at: Vec<_> = sparse.iter().filter(|t| (t.observables.s - level.sparsity).abs() < 0.005).collect();
        let residuals: Vec<f64> = at
            .iter()
            .map(|t| {
                law(t.observables.n as f64, t.observables.d as f64) - truth(t.observables.n_avg, t.observables.d as f64)
            })
            .collect();
        let (mae, bias) = (
            residuals.iter().map(|r| r.abs()).sum::<f64>() / at.len() as f64,
            residuals.iter().sum::<f64>() / at.len() as f64,
        );
        assert_eq!(level.errors.points, at.len());
        assert!((level.errors.mae - mae).abs() < 1e-9 && (level.bias - bias).abs() < 1e-9, "{level:?}");
        assert!(level.bias < 0.0, "{level:?}");
    }
    // The truth is the law in N_avg: N_avg predicts the pruned runs, N and N_final do not.
    assert!(expected[1] < 1e-3, "{expected:?}");
    assert!(expected[0] > 10.0 * expected[1] && expected[2] > 10.0 * expected[1], "{expected:?}");
}

/// `predict = csv(..)`: a law fitted on some CSV rows predicts others; the parameter counts the
/// rows do not have (N_avg, N_final: a CSV maps only N) are left out of the comparison, and said to
/// be, rather than failing the fit. The predictions are the law's, computed here.
#[test]
fn a_law_predicts_csv_points_with_the_counts_they_have() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    synthetic_csv(&dir.path().join("points.csv"), 120, 0.002, 11);
    let text = "use std::laws::chinchilla\nfit f = chinchilla {\n  on = csv(\"points.csv\", columns = { N = \"N\", D = \"D\", L = \"L\" }) where N < 1e9\n  predict = csv(\"points.csv\", columns = { N = \"N\", D = \"D\", L = \"L\" }) where N >= 1e9\n}\n";
    std::fs::write(dir.path().join("main.sprs"), text).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sprs"))
        .args(["fit", "main.sprs", "--format", "json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let fit = &json["fits"][0];
    let predict = &fit["predict"];
    let counts: Vec<&str> =
        predict["counts"].as_array().unwrap().iter().map(|c| c["count"].as_str().unwrap()).collect();
    assert_eq!(counts, ["N"]);
    assert_eq!(predict["counts_missing"], serde_json::json!(["N_avg", "N_final"]));
    let value = |name: &str| fit["params"][name]["value"].as_f64().unwrap();
    let rows = predict["rows"].as_array().unwrap();
    assert!(!rows.is_empty() && predict["points"].as_u64() == Some(rows.len() as u64));
    let csv = std::fs::read_to_string(dir.path().join("points.csv")).unwrap();
    let big: Vec<(f64, f64)> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse::<f64>().unwrap()).collect::<Vec<_>>())
        .filter(|v| v[0] >= 1e9)
        .map(|v| (v[0], v[1]))
        .collect();
    assert_eq!(big.len(), rows.len());
    for ((n, d), row) in big.iter().zip(rows) {
        let law = value("E") + value("A") / n.powf(value("alpha")) + value("B") / d.powf(value("beta"));
        assert!((row["predicted"].as_f64().unwrap() - law).abs() < 1e-9 * law, "{row}");
    }
    let table = std::process::Command::new(env!("CARGO_BIN_EXE_sprs"))
        .args(["fit", "main.sprs"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("N_avg and N_final not compared"),
        "{}",
        String::from_utf8_lossy(&table.stdout)
    );
}

/// W0008: a fit whose points (fitted or predicted) trained on different backends, or on CPU and
/// GPU, warns with the count of each, and still fits; two GPUs of one backend are one platform.
#[test]
fn a_fit_over_results_from_several_backends_warns() {
    let dir = tempfile::tempdir().unwrap();
    let text = SWEEP.to_string() + DENSE_TO_SPARSE;
    let output = plan_source(&dir.path().join("main.sprs"), text);
    let plan = output.plan.unwrap();
    let checked = output.checked.unwrap();
    let truth = |t: &sprs::plan::PlannedTrial| {
        1.5 + 50.0 / t.observables.n_avg.powf(0.4) + 300.0 / (t.observables.d as f64).powf(0.35)
    };
    let folders = std::cell::Cell::new(0);
    let fit = |place: &dyn Fn(usize, &sprs::plan::PlannedTrial) -> (&'static str, &'static str)| {
        folders.set(folders.get() + 1);
        let out = dir.path().join(format!("runs-{}", folders.get()));
        let store = Store::new(Some(&out), &dir.path().join("main.sprs")).unwrap();
        for (i, t) in plan.trials.iter().enumerate() {
            let (backend, device) = place(i, t);
            finish_on(&store, t, Some(truth(t)), backend, device);
        }
        let mut diags = Vec::new();
        let fitted = sprs::fit::run_fits(&checked.fits, &plan, &store, &output.access, &mut diags);
        assert_eq!(fitted.len(), 1, "the fit is made");
        diags.iter().map(|d| format!("{}: {}", d.code(), d.error)).collect::<Vec<_>>()
    };
    // The pruned runs (predicted) on two GPUs, the dense ones (fitted) on flex but one.
    let sparse = plan.trials.iter().filter(|t| t.observables.s > 0.0).count();
    let mixed = fit(&|i, t| match (t.observables.s > 0.0, i) {
        (true, _) if i % 2 == 0 => ("tch", "cuda:0"),
        (true, _) => ("tch", "cuda:1"),
        (false, 0) => ("ndarray", "cpu"),
        (false, _) => ("flex", "cpu"),
    });
    let dense = plan.trials.len() - sparse;
    assert_eq!(
        mixed,
        [format!(
            "W0008: the trials of `dense_to_sparse` trained on different backends: {sparse} on tch (cuda), {} on flex (cpu), 1 on ndarray (cpu)",
            dense - 1
        )]
    );
    assert!(fit(&|i, _| if i % 2 == 0 { ("tch", "cuda:0") } else { ("tch", "cuda:3") }).is_empty());
}
