//! `sprs run` end to end on a tiny generated-language sweep: the files of SPEC.md section 7, the
//! measured observables against the plan, and a rerun that skips what is finished.

use std::process::Command;

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

fn sprs(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sprs")).args(args).output().unwrap()
}

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
    }

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
    let mut dirs: Vec<_> = std::fs::read_dir(out).unwrap().map(|e| e.unwrap().path()).collect();
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
    let started = std::time::Instant::now();
    loop {
        let checkpoint = std::fs::read_dir(&killed)
            .ok()
            .and_then(|mut d| d.next())
            .map(|e| e.unwrap().path().join("checkpoint.bin"));
        if checkpoint.is_some_and(|c| c.exists()) || started.elapsed().as_secs() > 60 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
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
}
