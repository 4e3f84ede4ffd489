//! `sprs run` end to end on a tiny generated-language sweep: the files of docs/language.md ("Results on disk"), the
//! measured observables against the plan, and a rerun that skips what is finished.

use std::process::Command;

use std::time::Duration;

use crate::common::{read, sprs, trial_dirs, wait_until, SWEEP};

const FILE: &str = "use std::models::llama
use std::data::markov
use std::schedules::journey

train base {
    data   = markov { context = 16, source.tokens = 30k }
    model  = llama { width = 32, depth = 1, heads = 2, mlp = 64 }
    batch  = 4
    budget = 30 steps
    eval   = { every = 10 steps, tokens = 512 }
}

sweep s = base {
    prune in [dense, journey { sparsity = 50%, every = 3 steps }]
}
";

#[test]
fn runs_a_sweep_to_results_on_disk_and_skips_them_on_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.sprs");
    std::fs::write(&file, FILE).unwrap();
    let out = dir.path().join("runs");
    let (file, out) = (file.to_str().unwrap(), out.to_str().unwrap());

    let run = sprs(&["run", file, "--out", out]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&sprs(&["plan", "--format", "json", file]).stdout).unwrap();
    for trial in plan["trials"].as_array().unwrap() {
        let dir = std::path::Path::new(out).join(trial["id"].as_str().unwrap());
        let result: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
        assert_eq!(result["status"], "ok");
        assert_eq!((&result["backend"], &result["device"]), (&"flex".into(), &"cpu".into()), "{result}");
        for key in ["N", "N_final", "N_avg", "S", "D", "C", "C_dense", "L"] {
            assert!(result[key].is_number(), "{key} in {result}");
        }
        // Measured on the weights, the counts are exactly the planned ones.
        for key in ["N", "N_final", "N_avg", "D", "C"] {
            assert_eq!(result[key].as_f64(), trial[key].as_f64(), "{key}");
        }
        assert!(result["L"].as_f64().unwrap() < (256f64).ln());
        let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 30);
        assert_eq!(lines.iter().filter(|l| l.get("eval_loss").is_some()).count(), 3);
        let trial_json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("trial.json")).unwrap()).unwrap();
        assert_eq!(trial_json["id"], trial["id"]);
        // The speed of the run, apart from the results: every step here, and the FLOP/s of PaLM's
        // count (6 x each step's non-zero parameters + 12 x depth x width x context per token).
        let speed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("speed.json")).unwrap()).unwrap();
        assert_eq!(speed["steps"], 30);
        let rate = speed["tokens_per_second"].as_f64().unwrap();
        assert!(rate > 0.0 && speed["seconds"].as_f64().unwrap() > 0.0);
        let mean_nonzero = lines.iter().map(|l| l["nonzero"].as_f64().unwrap()).sum::<f64>() / 30.0;
        let per_token = 6.0 * mean_nonzero + 12.0 * 1.0 * 32.0 * 16.0;
        let flops = speed["flops_per_second"].as_f64().unwrap();
        assert!((flops / rate - per_token).abs() < 1e-6 * per_token, "{speed}");
    }
    assert!(String::from_utf8_lossy(&run.stderr).contains(" tokens/s"));
    let csv = std::fs::read_to_string(std::path::Path::new(out).join("results.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains(",error,backend,device,"), "{csv}");
    assert!(csv.lines().skip(1).all(|row| row.contains(",flex,cpu,")), "{csv}");
    let report = std::fs::read_to_string(std::path::Path::new(out).join("report.md")).unwrap();
    assert!(report.contains("| ran on |") && report.contains("| flex, cpu |"), "{report}");
    assert!(!report.contains("different backends"), "{report}");

    let rerun = sprs(&["run", file, "--out", out]);
    assert!(rerun.status.success());
    assert!(String::from_utf8_lossy(&rerun.stderr).contains("0 trained, 2 already done, 0 failed"));
}

const LONG: &str = "use std::models::llama
use std::data::markov
use std::schedules::journey

train t {
    data   = markov { context = 16, source.tokens = 30k }
    model  = llama { width = 32, depth = 1, heads = 2, mlp = 64 }
    prune  = journey { sparsity = 60%, every = 10 steps }
    batch  = 4
    budget = 400 steps
    eval   = { every = 50 steps, tokens = 512 }
}
";

fn only_trial_dir(out: &std::path::Path) -> std::path::PathBuf {
    let mut dirs = trial_dirs(out);
    assert_eq!(dirs.len(), 1);
    dirs.remove(0)
}

/// SIGKILL in the middle of a trial, then a rerun: it resumes from the checkpoint and ends with
/// exactly the result, and the metrics, of an uninterrupted run (the flex backend is
/// deterministic on one machine).
#[test]
fn a_killed_run_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.sprs");
    std::fs::write(&file, LONG).unwrap();
    let file = file.to_str().unwrap();
    let (whole, killed) = (dir.path().join("whole"), dir.path().join("killed"));

    assert!(sprs(&["run", file, "--out", whole.to_str().unwrap()]).status.success());

    let mut child = Command::new(env!("CARGO_BIN_EXE_sprs"))
        .args(["run", file, "--out", killed.to_str().unwrap(), "--checkpoint-every", "0"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(120), "the first checkpoint", || {
        trial_dirs(&killed).first().is_some_and(|c| c.join("checkpoint.bin").exists())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let trial = only_trial_dir(&killed);
    assert!(!trial.join("result.json").exists(), "the kill came after the trial finished");

    let rerun = sprs(&["run", file, "--out", killed.to_str().unwrap()]);
    assert!(rerun.status.success());
    assert!(String::from_utf8_lossy(&rerun.stderr).contains("resuming from its checkpoint"));
    assert!(!trial.join("checkpoint.bin").exists());
    let read = |dir: &std::path::Path, name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let whole_trial = only_trial_dir(&whole);
    assert_eq!(read(&trial, "result.json"), read(&whole_trial, "result.json"));
    assert_eq!(read(&trial, "metrics.jsonl"), read(&whole_trial, "metrics.jsonl"));
    assert_eq!(
        std::fs::read(trial.join("model.safetensors")).unwrap(),
        std::fs::read(whole_trial.join("model.safetensors")).unwrap()
    );
    resumed_curves_go_forward(&killed, &trial);
}

/// A resumed trial's TensorBoard curves: every step once, in order, with the values of its
/// `metrics.jsonl` (the steps the killed process wrote after its checkpoint were dropped).
fn resumed_curves_go_forward(out: &std::path::Path, trial: &std::path::Path) {
    let curves = crate::common::curves(out);
    let metrics: Vec<serde_json::Value> =
        read(&trial.join("metrics.jsonl")).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for tag in ["train/loss", "train/lr", "train/sparsity", "train/nonzero", "eval/loss"] {
        let (_, curve) = curves.iter().find(|((_, t), _)| t == tag).unwrap_or_else(|| panic!("no curve {tag}"));
        let key = tag.split('/').nth(1).map(|k| if tag == "eval/loss" { "eval_loss" } else { k }).unwrap();
        let expected: Vec<(i64, f64)> =
            metrics.iter().filter_map(|m| Some((m["step"].as_i64().unwrap(), m.get(key)?.as_f64()?))).collect();
        // Each value is the f32 of the line's: within an f32 rounding of it (a value at a tie
        // between two f32s may round either way once JSON's shortest form is parsed back).
        let steps = |c: &[(i64, f32)]| c.iter().map(|p| p.0).collect::<Vec<_>>();
        assert_eq!(steps(curve), expected.iter().map(|p| p.0).collect::<Vec<_>>(), "{tag}: steps");
        for (&(step, got), &(_, want)) in curve.iter().zip(&expected) {
            let tolerance = f64::from(f32::EPSILON) * want.abs();
            assert!((f64::from(got) - want).abs() <= tolerance, "{tag} at step {step}: {got} against {want}");
        }
    }
}

/// The rows of `results.csv`, by id.
fn csv_ids(out: &std::path::Path) -> Vec<String> {
    let mut reader = csv::Reader::from_path(out.join("results.csv")).unwrap();
    reader.records().map(|r| r.unwrap()[0].to_string()).collect()
}

/// SIGKILL after the first finished trial of a sweep, with others half done, then a rerun: every
/// trial appears exactly once, and every result and loss curve is bit for bit that of an
/// uninterrupted run (flex on one machine is deterministic, also with trials side by side: each
/// initialises its model under the backend's seed alone).
#[test]
fn a_sweep_killed_after_its_first_trial_reruns_to_the_uninterrupted_results() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sweep.sprs");
    std::fs::write(&file, SWEEP).unwrap();
    let file = file.to_str().unwrap();
    let (whole, killed) = (dir.path().join("whole"), dir.path().join("killed"));
    let run = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["run", file, "--out", out.to_str().unwrap(), "--jobs", "2"];
        args.extend(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };

    let uninterrupted = Command::new(env!("CARGO_BIN_EXE_sprs")).args(run(&whole, &[])).output().unwrap();
    assert!(uninterrupted.status.success(), "{}", String::from_utf8_lossy(&uninterrupted.stderr));

    let mut child = Command::new(env!("CARGO_BIN_EXE_sprs"))
        .args(run(&killed, &["--checkpoint-every", "0"]))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The kill comes once a trial has finished and another is half done (it has a checkpoint and
    // no result): both are states on disk that the run reaches whatever the machine's speed.
    let finished = || trial_dirs(&killed).iter().filter(|d| d.join("result.json").exists()).count();
    let in_flight =
        || trial_dirs(&killed).iter().any(|d| d.join("checkpoint.bin").exists() && !d.join("result.json").exists());
    wait_until(Duration::from_secs(300), "a finished trial and one in flight, or the run's end", || {
        (finished() > 0 && in_flight()) || child.try_wait().unwrap().is_some()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = finished();
    assert!((1..4).contains(&at_kill), "{at_kill} trials had finished when the kill came");
    // The trial in flight may have finished between the look and the kill; if not, it resumes.
    let resumes = in_flight();

    let rerun = Command::new(env!("CARGO_BIN_EXE_sprs")).args(run(&killed, &[])).output().unwrap();
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert!(rerun.status.success(), "{stderr}");
    assert_eq!(stderr.contains("resuming from its checkpoint"), resumes, "{stderr}");
    assert!(stderr.contains(&format!("{} trained, {at_kill} already done, 0 failed", 4 - at_kill)), "{stderr}");

    let (ours, theirs) = (trial_dirs(&killed), trial_dirs(&whole));
    assert_eq!(ours.len(), 4);
    assert_eq!(
        ours.iter().map(|d| d.file_name()).collect::<Vec<_>>(),
        theirs.iter().map(|d| d.file_name()).collect::<Vec<_>>()
    );
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(read(&a.join("result.json")), read(&b.join("result.json")), "{}", a.display());
        assert_eq!(read(&a.join("metrics.jsonl")), read(&b.join("metrics.jsonl")), "{}", a.display());
        assert!(!a.join("checkpoint.bin").exists());
    }
    let mut ids = csv_ids(&killed);
    assert_eq!(ids.len(), 4);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "every trial once in results.csv");
    assert_eq!(read(&killed.join("results.csv")), read(&whole.join("results.csv")));
}

/// Counts what one `sprs run` says it trained: "N trials: K trained, ...".
fn trained(stderr: &str) -> usize {
    let summary = stderr.lines().rev().find(|l| l.contains(" trained, ")).unwrap_or_else(|| panic!("{stderr}"));
    let (_, rest) = summary.split_once(": ").unwrap();
    rest.split(' ').next().unwrap().parse().unwrap()
}

/// Two `--shard` processes on one folder at once cover every trial exactly once; so do two
/// processes without shards, which the per-trial locks keep apart.
#[test]
fn processes_sharing_a_folder_train_every_trial_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sweep.sprs");
    std::fs::write(&file, SWEEP).unwrap();
    let file = file.to_str().unwrap();
    for (name, shards) in [("sharded", [Some("1/2"), Some("2/2")]), ("locked", [None, None])] {
        let out = dir.path().join(name);
        let children: Vec<_> = shards
            .iter()
            .map(|shard| {
                let mut args = vec!["run", file, "--out", out.to_str().unwrap(), "--jobs", "1"];
                args.extend(["--set", "budget = 60 steps", "--set", "eval.every = 30 steps"]);
                if let Some(shard) = shard {
                    args.extend(["--shard", shard]);
                }
                Command::new(env!("CARGO_BIN_EXE_sprs"))
                    .args(args)
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        let stderrs: Vec<String> = outputs.iter().map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).collect();
        for (output, stderr) in outputs.iter().zip(&stderrs) {
            assert!(output.status.success(), "{name}: {stderr}");
        }
        assert_eq!(stderrs.iter().map(|s| trained(s)).sum::<usize>(), 4, "{name}: {stderrs:?}");
        if name == "sharded" {
            assert_eq!(stderrs.iter().map(|s| trained(s)).collect::<Vec<_>>(), [2, 2]);
        }
        let dirs = trial_dirs(&out);
        assert_eq!(dirs.len(), 4);
        assert!(dirs.iter().all(|d| d.join("result.json").exists()));
        assert_eq!(csv_ids(&out).len(), 4);
        // Whichever process finished last saw every result and wrote the report.
        assert!(out.join("report.md").exists(), "{name}: {stderrs:?}");
    }
}

/// Eight trials of a few steps each, and the Journey law on them.
const LAWS: &str = "use std::models::llama
use std::data::markov
use std::schedules::journey
use std::laws::journey_law

train base {
    data   = markov { context = 16, source.tokens = 30k }
    model  = llama { width = 32, depth = 1, heads = 2, mlp = 64 }
    batch  = 4
    budget = 240 steps
    eval   = { every = 60 steps, tokens = 512 }
}

sweep s = base {
    model.width in [16, 24, 32, 40]
    prune in [dense, journey { sparsity = 60%, every = 10 steps }]
}

fit unified = journey_law { on = s, holdout = largest(C, 1), bootstrap = 0 }
";

/// After its trials, `sprs run` fits the file's laws and writes the report: the trials, the loss
/// curves, loss against N and N_avg, the fit, and the Journey law against N and N_final.
#[test]
fn a_finished_sweep_is_fitted_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("laws.sprs");
    std::fs::write(&file, LAWS).unwrap();
    let out = dir.path().join("runs");
    let set = ["--set", "budget = 40 steps", "--set", "eval.every = 20 steps"];
    let run = sprs(&[&["run", file.to_str().unwrap(), "--out", out.to_str().unwrap()], &set[..]].concat());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("report: {}", out.join("report.md").display())), "{stderr}");
    assert!(String::from_utf8_lossy(&run.stdout).contains("fit unified: E "));

    let report = read(&out.join("report.md"));
    assert_eq!(report.matches("| `s[model.width=").count(), 8, "a row per trial:\n{report}");
    for needle in [
        "![loss curves](report/loss_curves.svg)",
        "![loss against N and N_avg](report/loss_vs_size.svg)",
        "### `unified`: L = `E + A / N_avg^alpha + B / D^beta`",
        "Held out: 1 points",
        "## Which parameter count? `unified` over N_avg, N and N_final",
        "\n| N_avg | ",
        "\n| N | ",
        "\n| N_final | ",
    ] {
        assert!(report.contains(needle), "no `{needle}` in\n{report}");
    }
    for svg in ["report/loss_curves.svg", "report/loss_vs_size.svg", "fits/unified.svg"] {
        assert!(read(&out.join(svg)).starts_with("<svg"), "{svg}");
    }
    let fitted: serde_json::Value = serde_json::from_str(&read(&out.join("fits/unified.json"))).unwrap();
    assert_eq!(fitted["points"], 7);
    // The three counts differ on the sparse runs, so the three fits are three different fits:
    // the rows of the comparison (objective and errors) are not copies of one another.
    let row = |count: &str| {
        let start = report.find(&format!("\n| {count} | ")).unwrap() + 1;
        report[start..].lines().next().unwrap().split(" | ").skip(1).collect::<Vec<_>>().join(" | ")
    };
    let (average, dense, last) = (row("N_avg"), row("N"), row("N_final"));
    assert!(average != dense && average != last && dense != last, "{average}\n{dense}\n{last}");
}

/// Ctrl-C on a local run: the running trial saves a checkpoint at once (not at the next
/// `--checkpoint-every`), the run says so and exits 130, and a rerun continues it to the result
/// of an uninterrupted run.
#[test]
fn an_interrupted_run_checkpoints_and_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.sprs");
    std::fs::write(&file, LONG).unwrap();
    let file = file.to_str().unwrap();
    let (whole, stopped) = (dir.path().join("whole"), dir.path().join("stopped"));
    let longer = ["--set", "budget = 2000 steps", "--set", "data = markov { context = 16, source.tokens = 300k }"];
    let run = |out: &std::path::Path| {
        let mut args = vec!["run", file, "--out", out.to_str().unwrap()];
        args.extend(longer);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let uninterrupted = Command::new(env!("CARGO_BIN_EXE_sprs")).args(run(&whole)).output().unwrap();
    assert!(uninterrupted.status.success(), "{}", String::from_utf8_lossy(&uninterrupted.stderr));

    // A checkpoint interval longer than the test: the one on disk is the interrupt's.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sprs"))
        .args(run(&stopped))
        .args(["--checkpoint-every", "3600"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = || trial_dirs(&stopped).first().map(|d| d.join("metrics.jsonl"));
    wait_until(Duration::from_secs(120), "the first metrics", || {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be interrupted");
        metrics().is_some_and(|m| std::fs::metadata(m).is_ok_and(|m| m.len() > 0))
    });
    // SAFETY: kill has no memory preconditions; the pid is our live child's.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopped by SIGINT: 1 trial checkpointed"), "{stderr}");
    let trial = only_trial_dir(&stopped);
    assert!(trial.join("checkpoint.bin").exists() && !trial.join("result.json").exists());

    let rerun = Command::new(env!("CARGO_BIN_EXE_sprs")).args(run(&stopped)).output().unwrap();
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert!(rerun.status.success(), "{stderr}");
    assert!(stderr.contains("resuming from its checkpoint"), "{stderr}");
    let read = |dir: &std::path::Path, name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let whole_trial = only_trial_dir(&whole);
    assert_eq!(read(&trial, "result.json"), read(&whole_trial, "result.json"));
    assert_eq!(read(&trial, "metrics.jsonl"), read(&whole_trial, "metrics.jsonl"));
    resumed_curves_go_forward(&stopped, &trial);
}

/// A trial checkpointed on flex and finished on ndarray says both (result.json, results.csv),
/// and a folder with it beside a flex-only trial says that its trials ran on different backends
/// (the report, and W0008 from the fit of both).
#[cfg(feature = "ndarray")]
#[test]
fn a_trial_resumed_on_another_backend_names_both_and_a_mixed_folder_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.sprs");
    let fit = "fit f { on = s, law = E, params = { E = [0.1, 10] } }\n";
    std::fs::write(&file, format!("{FILE}\n{fit}")).unwrap();
    let out = dir.path().join("runs");
    let output = sprs::plan::plan_file(&file).unwrap();
    let plan = output.plan.unwrap();
    let pruned = plan.trials.iter().find(|t| t.observables.s > 0.0).unwrap();
    let dense = plan.trials.iter().find(|t| t.observables.s == 0.0).unwrap();

    // Four steps of the pruned trial on flex, checkpointed as a run stopped there would be.
    let tokens = sprs::data::tokens::Tokens::load(&pruned.config.data, &output.access, None).unwrap();
    let mut trainer = sprs::train::trainer::Trainer::new(pruned, &tokens, &sprs::train::backend::cpu()).unwrap();
    let mut sum = 0u128;
    for step in 0..4 {
        sum += u128::from(trainer.step(step).unwrap().nonzero);
    }
    let flex = sprs::store::RanOn { backend: "flex".into(), device: "cpu".into() };
    let bytes = trainer.checkpoint(4, sum, &[flex]).unwrap();
    let trial = out.join(&pruned.id);
    std::fs::create_dir_all(&trial).unwrap();
    std::fs::write(trial.join("checkpoint.bin"), bytes).unwrap();
    let lines: Vec<String> = (0..4).map(|step| format!("{{\"step\":{step}}}")).collect();
    std::fs::write(trial.join("metrics.jsonl"), lines.join("\n") + "\n").unwrap();

    let (file, out_arg) = (file.to_str().unwrap(), out.to_str().unwrap());
    let only = |trial: &str, backend: &str| {
        let run = sprs(&["run", file, "--out", out_arg, "--only", trial, "--backend", backend]);
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        assert!(run.status.success(), "{stderr}");
        stderr
    };
    assert!(only(&pruned.name, "ndarray").contains("resuming from its checkpoint"));
    let result: serde_json::Value = serde_json::from_str(&read(&trial.join("result.json"))).unwrap();
    assert_eq!((&result["backend"], &result["device"]), (&"flex+ndarray".into(), &"cpu".into()), "{result}");

    let stderr = only(&dense.name, "flex");
    assert!(stderr.contains("W0008") && stderr.contains("1 on flex (cpu), 1 on flex+ndarray (cpu)"), "{stderr}");
    let report = read(&out.join("report.md"));
    assert!(
        report.contains("**These trials ran on different backends** (1 on flex (cpu), 1 on flex+ndarray (cpu))"),
        "{report}"
    );
    let csv = read(&out.join("results.csv"));
    assert!(csv.contains(",flex+ndarray,cpu,") && csv.contains(",flex,cpu,"), "{csv}");
}

/// A pruned trial of 20 steps, small enough to emulate.
const EMULATED: &str = "use std::models::llama
use std::data::markov
use std::schedules::journey

train t {
    data   = markov { context = 16 }
    model  = llama { width = 32, depth = 1 }
    batch  = 4
    budget = 20 steps
    prune  = journey { sparsity = 50%, every = 20% }
    eval   = { every = 50%, tokens = 256 }
}
";

/// The kernels are chosen at run time by what the CPU has: AVX-512 here, AVX2 and FMA on a
/// Haswell, SSE4.2 only on a Nehalem. The same trial on each (the older two emulated by
/// `qemu-x86_64`) writes the same `metrics.jsonl` and `result.json`, byte for byte: the kernels
/// sum in the same order, and a fused multiply-add without the FMA instruction is computed
/// exactly (`f32::mul_add`). As root (CI) the test installs qemu-user if it is missing; elsewhere,
/// without it, it says that it did not run, and under `CI=true` it fails.
#[cfg(target_arch = "x86_64")]
#[test]
fn a_trial_is_the_same_on_cpus_with_and_without_avx512_and_avx2() {
    let installed = || Command::new("qemu-x86_64").arg("--version").output().is_ok();
    // SAFETY: geteuid has no preconditions.
    if !installed() && unsafe { libc::geteuid() } == 0 {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/qemu_user.sh");
        let _ = Command::new("bash").arg(script).status();
    }
    if !installed() {
        let message = "qemu-x86_64 is not installed and this process cannot install it (run `scripts/qemu_user.sh` as root): the older CPUs' kernels were not run";
        if std::env::var_os("CI").is_some_and(|v| v == "true") {
            panic!("{message}");
        }
        eprintln!("\n!!!!! {message} !!!!!\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.sprs");
    std::fs::write(&file, EMULATED).unwrap();
    let run = |cpu: Option<&str>| {
        let out = dir.path().join(cpu.unwrap_or("native"));
        let mut command = match cpu {
            None => Command::new(env!("CARGO_BIN_EXE_sprs")),
            Some(cpu) => {
                // What the emulated CPU offers, as glibc's loader reads it: x86-64-v3 (AVX2)
                // or v2, never v4 (AVX-512).
                let loader = Command::new("qemu-x86_64")
                    .args(["-cpu", cpu, "/lib64/ld-linux-x86-64.so.2", "--list-diagnostics"])
                    .output()
                    .unwrap();
                let levels = String::from_utf8_lossy(&loader.stdout)
                    .lines()
                    .find_map(|l| l.strip_prefix("x86.cpu_features.isa_1=").map(str::to_string));
                let want = if cpu == "Haswell" { "0x7" } else { "0x3" };
                assert_eq!(levels.as_deref(), Some(want), "{cpu}: the levels of x86-64 it offers");
                let mut command = Command::new("qemu-x86_64");
                command.args(["-cpu", cpu, env!("CARGO_BIN_EXE_sprs")]);
                command
            }
        };
        let output = command.args(["run", file.to_str().unwrap(), "--out", out.to_str().unwrap()]).output().unwrap();
        assert!(output.status.success(), "{cpu:?}: {}", String::from_utf8_lossy(&output.stderr));
        let trial = only_trial_dir(&out);
        (read(&trial.join("metrics.jsonl")), read(&trial.join("result.json")))
    };
    let native = run(None);
    assert_eq!(native.0.lines().count(), 20);
    for cpu in ["Haswell", "Nehalem"] {
        assert!(run(Some(cpu)) == native, "{cpu} trained the trial differently");
    }
}
