//! The command-line contract of docs/language.md ("The command line"): exit codes and machine-readable output.

use crate::common::sprs;
use std::process::{Command, Output};

#[test]
fn check_exits_0_on_a_clean_file_and_1_on_errors() {
    let ok = sprs(&["check", "tests/ui/ok/late_binding.sprs"]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let bad = sprs(&["check", "tests/ui/types/out_of_range.sprs"]);
    assert_eq!(bad.status.code(), Some(1));
    let both = sprs(&["check", "tests/ui/ok/late_binding.sprs", "tests/ui/types/out_of_range.sprs"]);
    assert_eq!(both.status.code(), Some(1));
}

#[test]
fn warnings_alone_do_not_fail_a_check() {
    let out = sprs(&["check", "tests/ui/warnings/unused_item.sprs"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("W0001"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(sprs(&["check", "no/such/file.sprs"]).status.code(), Some(2));
    assert_eq!(sprs(&["check", "--format", "xml", "tests/ui/ok/late_binding.sprs"]).status.code(), Some(2));
    assert_eq!(sprs(&["check"]).status.code(), Some(2));
    assert_eq!(sprs(&["explain", "no_such_item"]).status.code(), Some(2));
}

#[test]
fn json_diagnostics_have_the_documented_keys() {
    let out = sprs(&["check", "--format", "json", "tests/ui/several/every_error_reported.sprs"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diagnostics = json["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 4);
    let text =
        std::fs::read_to_string(format!("{}/tests/ui/several/every_error_reported.sprs", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    for d in diagnostics {
        assert_eq!(d["severity"], "error");
        assert!(d["code"].as_str().unwrap().starts_with('E'));
        assert!(d["message"].is_string() && d["file"].is_string() && d.get("help").is_some());
        let (start, end) = (d["span"][0].as_u64().unwrap() as usize, d["span"][1].as_u64().unwrap() as usize);
        // line and column are 1-based and agree with the byte span.
        let line = text[..start].matches('\n').count() + 1;
        let column = text[..start].rsplit('\n').next().unwrap().chars().count() + 1;
        assert_eq!((d["line"].as_u64().unwrap() as usize, d["column"].as_u64().unwrap() as usize), (line, column));
        assert!(end >= start && end <= text.len());
    }
    // The first error is the unknown name `shakespear` on line 8.
    assert_eq!(diagnostics[0]["code"], "E0101");
    assert_eq!(
        &text[diagnostics[0]["span"][0].as_u64().unwrap() as usize
            ..diagnostics[0]["span"][1].as_u64().unwrap() as usize],
        "shakespear"
    );
}

#[test]
fn short_format_is_one_line_per_diagnostic() {
    let out = sprs(&["check", "--format", "short", "tests/ui/types/out_of_range.sprs"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        ["tests/ui/types/out_of_range.sprs:10:35: error[E0204]: `prune.sparsity` must be in [0, 1), found 120%"]
    );
}

#[test]
fn explain_prints_a_stdlib_record() {
    let out = sprs(&["explain", "journey"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("// std::schedules\n"));
    assert!(stdout.contains("schedule journey {"));
}

#[test]
fn fit_prints_json_with_the_documented_keys_and_writes_its_plot() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("N,D,L\n");
    for i in 0..12 {
        let (n, d) = (1e6 * 2f64.powi(i % 4), 1e8 * 2f64.powi(i / 4));
        csv.push_str(&format!("{n},{d},{}\n", 2.0 + 30.0 / n.powf(0.3) + 90.0 / d.powf(0.3)));
    }
    std::fs::write(dir.path().join("points.csv"), csv).unwrap();
    let file = dir.path().join("laws.sprs");
    std::fs::write(
        &file,
        "use std::laws::chinchilla\nfit small = chinchilla {\n  on = csv(\"points.csv\", columns = { N = \"N\", D = \"D\", L = \"L\" })\n  params = { E = { log = [0.5] }, A = { log = [3] }, B = { log = [4] }, alpha = [0.3], beta = [0.3] }\n  holdout = largest(N, 3)\n  bootstrap = 20\n}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let output = sprs(&["fit", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let fit = &json["fits"][0];
    for key in ["name", "law", "points", "objective", "params", "in_sample", "holdout"] {
        assert!(fit.get(key).is_some(), "no `{key}` in {fit}");
    }
    for key in ["value", "lo", "hi"] {
        assert!(fit["params"]["alpha"][key].is_f64(), "{key}");
    }
    for key in ["mae", "rmse_log"] {
        assert!(fit["in_sample"][key].is_f64() && fit["holdout"][key].is_f64(), "{key}");
    }
    assert_eq!((fit["points"].as_u64(), fit["holdout"]["points"].as_u64()), (Some(9), Some(3)));
    assert!(out.join("fits/small.json").exists());
    // `short`: one line per fit, with the same values.
    let short = sprs(&["fit", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--format", "short"]);
    let line = String::from_utf8_lossy(&short.stdout).trim_end().to_string();
    let e = fit["params"]["E"]["value"].as_f64().unwrap();
    assert!(line.starts_with("fit small: E ") && line.contains("held-out MAE") && !line.contains('\n'), "{line}");
    assert!(line.contains(&sprs::format::measured(e)), "{line} for E = {e}");
    let svg = std::fs::read_to_string(out.join("fits/small.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("<circle").count() >= 12);
    // A fit name that does not exist is a usage error.
    let output = sprs(&["fit", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--only", "nope"]);
    assert_eq!(output.status.code(), Some(2));
}

/// The trials of `sprs plan --format json` with these extra arguments.
fn planned_with(file: &str, extra: &[&str]) -> (Output, Vec<serde_json::Value>) {
    let mut args = vec!["plan", "--format", "json", file];
    args.extend(extra);
    let output = sprs(&args);
    let trials = serde_json::from_slice::<serde_json::Value>(&output.stdout)
        .ok()
        .and_then(|json| json["trials"].as_array().cloned())
        .unwrap_or_default();
    (output, trials)
}

#[test]
fn set_overrides_a_field_of_every_trial() {
    let file = "experiments/chinchilla_sweep.sprs";
    let (_, plain) = planned_with(file, &[]);
    let (output, set) = planned_with(file, &["--set", "model.depth=3", "--set", "seed = 7"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(set.len(), plain.len());
    for (a, b) in plain.iter().zip(&set) {
        assert_eq!(b["config"]["model"]["depth"], 3);
        assert_eq!(b["config"]["seed"], 7);
        // The sweep's own axes still vary, and a different configuration is a different trial.
        assert_eq!(a["config"]["model"]["width"], b["config"]["model"]["width"]);
        assert_ne!(a["id"], b["id"]);
        assert!(b["N"].as_u64() > a["N"].as_u64(), "a third block adds parameters");
    }
    // A value is an expression of the language, in the file's scope (`gradual` is the file's
    // schedule). Set over a swept field, it makes the trials of that axis one (with a warning).
    let (output, set) = planned_with(file, &["--set", "prune = gradual { sparsity = 30% }"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let sizes: std::collections::BTreeSet<String> =
        plain.iter().map(|t| format!("{} {}", t["config"]["model"]["width"], t["config"]["budget"])).collect();
    assert!(sizes.len() < plain.len());
    assert_eq!(set.len(), sizes.len(), "one trial per model and budget");
    assert!(set.iter().all(|t| t["config"]["prune"]["sparsity"] == 0.3));
    // In `--format json` the warning is among the JSON's diagnostics.
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(json["diagnostics"].as_array().unwrap().iter().any(|d| d["code"] == "W0003"), "{json}");
}

#[test]
fn a_bad_set_is_reported_where_it_was_written() {
    let file = "experiments/chinchilla_sweep.sprs";
    // The file alone is clean: every error below comes from the override.
    assert!(sprs(&["check", file]).status.success());
    let short = |set: &str| {
        let output = sprs(&["plan", file, "--format", "short", "--set", set]);
        assert_eq!(output.status.code(), Some(1), "--set {set}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let typo = short("model.widht=96");
    assert!(typo.contains("--set:1:7: error[E0102]: a model has no field `widht`"), "{typo}");
    let unit = short("budget = 10 steps + 1 tokens");
    assert!(unit.starts_with("--set:1:"), "{unit}");
    let syntax = short("model.width 96");
    assert!(syntax.starts_with("--set:1:") && syntax.contains("error[E0001]: expected `.` or `=`"), "{syntax}");
    // The human report shows the override itself, with the label under the mistake.
    let human = sprs(&["plan", file, "--set", "model.widht=96"]);
    let human = String::from_utf8_lossy(&human.stderr);
    assert!(human.contains("[--set:1:7]") && human.contains("did you mean `width`?"), "{human}");
}

/// The job script of `sprs submit --dry-run` (nothing is submitted, so no Slurm is needed): the
/// array, the signal before the time limit, the Slurm options, and a worker that forwards the
/// signal to `sprs run` and requeues its task.
#[test]
fn submit_dry_run_prints_the_job_script() {
    let out = sprs(&[
        "submit",
        "experiments/tiny.sprs",
        "--dry-run",
        "--out",
        "/shared/runs/tiny",
        "--workers",
        "3",
        "--partition",
        "gpu",
        "--time",
        "4:00:00",
        "--cpus-per-worker",
        "8",
        "--gpus-per-worker",
        "1",
        "--backend",
        "tch",
        "--mem",
        "32G",
        "--max-requeues",
        "5",
        "--signal-grace",
        "300",
        "--sbatch-arg=--constraint=a100",
        "--set",
        "seed = 2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let script = String::from_utf8_lossy(&out.stdout)
        .replace(env!("CARGO_BIN_EXE_sprs"), "<SPRS>")
        .replace(env!("CARGO_MANIFEST_DIR"), "<PROJECT>");
    insta::assert_snapshot!(script);
    let flex = sprs(&["submit", "experiments/tiny.sprs", "--dry-run", "--gpus-per-worker", "1"]);
    assert_eq!(flex.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&flex.stderr).contains("needs `--backend tch`"));
}

/// Without Slurm's commands, `sprs submit` says so (E0801) and points at `--dry-run`.
#[test]
fn submit_without_sbatch_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sprs"))
        .args(["submit", "experiments/tiny.sprs", "--out", dir.path().to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error[E0801]: `sbatch` is not on the PATH") && stderr.contains("--dry-run"), "{stderr}");
    assert!(!dir.path().join("slurm/jobs.jsonl").exists());
}

/// A results folder that cannot be written is E0803, before anything is submitted; a job Slurm
/// took whose record cannot be written is E0803 too, naming the job to cancel.
#[test]
fn submit_to_a_folder_it_cannot_write_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // A stand-in for Slurm's `sbatch --parsable`: it prints a job id and records its call.
    let sbatch = bin.join("sbatch");
    std::fs::write(&sbatch, format!("#!/bin/sh\necho called >> {}/calls\necho 4242\n", dir.path().display())).unwrap();
    std::fs::set_permissions(&sbatch, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join(".git")).unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/tiny.sprs"), project.join("tiny.sprs")).unwrap();
    std::fs::write(project.join("blocker"), "a file, not a folder").unwrap();
    let submit = |out: &str| {
        Command::new(env!("CARGO_BIN_EXE_sprs"))
            .args(["submit", "tiny.sprs", "--out", out])
            .current_dir(&project)
            .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
            .output()
            .unwrap()
    };
    let out = submit("blocker/runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error[E0803]: cannot write") && stderr.contains("blocker/runs/slurm"), "{stderr}");
    assert!(!dir.path().join("calls").exists(), "nothing was submitted");

    std::fs::create_dir_all(project.join("runs/slurm/jobs.jsonl")).unwrap();
    let out = submit("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error[E0803]: job 4242 was submitted") && stderr.contains("scancel 4242"), "{stderr}");
}

#[test]
fn fmt_rewrites_checks_and_leaves_a_broken_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let messy = dir.path().join("messy.sprs");
    let broken = dir.path().join("broken.sprs");
    std::fs::write(&messy, "train t {batch=16,\n seed = 1}\n").unwrap();
    std::fs::write(&broken, "train t { batch = }\n").unwrap();
    let (messy_arg, broken_arg) = (messy.to_str().unwrap(), broken.to_str().unwrap());

    let check = sprs(&["fmt", "--check", messy_arg]);
    assert_eq!(check.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(stdout.contains("-train t {batch=16,") && stdout.contains("+    batch = 16"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), "train t {batch=16,\n seed = 1}\n", "--check changes nothing");

    assert_eq!(sprs(&["fmt", messy_arg]).status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), "train t {\n    batch = 16\n    seed  = 1\n}\n");
    assert_eq!(sprs(&["fmt", "--check", dir.path().to_str().unwrap()]).status.code(), Some(1), "the broken file");

    let out = sprs(&["fmt", broken_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("E0001"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), "train t { batch = }\n");
}

#[test]
fn fmt_formats_standard_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sprs"))
        .args(["fmt", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"let  a=[1,2]  tokens // n\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "let a = [1, 2] tokens // n\n");
}

/// Nothing from a file's name or an option can run as a command in the job script: a control
/// character anywhere in it is refused (E0804), and the rest is quoted; the job's name keeps only
/// plain characters.
#[test]
fn submit_puts_no_command_in_the_job_script() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    let tiny = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/tiny.sprs")).unwrap();
    let submit = |file: &str, extra: &[&str]| {
        std::fs::write(dir.path().join(file), &tiny).unwrap();
        let mut args = vec!["submit", file, "--dry-run", "--out", "runs"];
        args.extend(extra);
        Command::new(env!("CARGO_BIN_EXE_sprs")).args(&args).current_dir(dir.path()).output().unwrap()
    };
    for (file, extra) in [
        ("a'\ntouch pwned\n'.sprs", &[][..]),
        ("ok.sprs", &["--partition", "gpu\ntouch pwned"][..]),
        ("ok.sprs", &["--account", "a\rb"][..]),
        ("ok.sprs", &["--sbatch-arg=--comment=x\ntouch pwned"][..]),
        ("ok.sprs", &["--set", "seed = 2 /*\ntouch pwned\n*/"][..]),
    ] {
        let out = submit(file, extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {stderr}");
        assert!(stderr.contains("error[E0804]"), "{stderr}");
        assert!(!stderr.lines().any(|l| l.starts_with("touch pwned")), "escaped: {stderr}");
        assert!(out.stdout.is_empty());
    }
    let out = submit("it's $(touch pwned).sprs", &["--partition", "a b'c"]);
    let script = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(script.contains("#SBATCH --job-name=sprs-it_s___touch_pwned_\n"), "{script}");
    assert!(script.contains(r"/it'\''s $(touch pwned).sprs'"), "{script}");
    let path = dir.path().join("job.sh");
    std::fs::write(&path, script.as_bytes()).unwrap();
    assert!(Command::new("bash").arg("-n").arg(&path).status().unwrap().success(), "the script parses");
    assert!(!dir.path().join("pwned").exists());
}

/// `sprs status` asks Slurm once for all the jobs of a results folder, however many it recorded
/// (once per job took 23 s for 3,000).
#[test]
fn status_asks_slurm_once_for_every_job() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    let tiny = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/tiny.sprs")).unwrap();
    std::fs::write(dir.path().join("tiny.sprs"), tiny).unwrap();
    std::fs::create_dir_all(dir.path().join("runs/slurm")).unwrap();
    let records: String = (100..3100)
        .map(|job| {
            format!("{}\n", serde_json::json!({ "job": job.to_string(), "workers": 1, "submitted": 0, "script": "" }))
        })
        .collect();
    std::fs::write(dir.path().join("runs/slurm/jobs.jsonl"), records).unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let count = dir.path().join("count");
    let fake = format!(
        "#!/bin/sh\necho call >> '{}'\nprintf 'JobId=101 ArrayJobId=100 ArrayTaskId=0 JobState=RUNNING Restarts=1 BatchHost=n1\\n'\n",
        count.display()
    );
    std::fs::write(bin.join("scontrol"), fake).unwrap();
    std::fs::set_permissions(bin.join("scontrol"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(env!("CARGO_BIN_EXE_sprs"))
        .args(["status", "tiny.sprs", "--out", "runs"])
        .current_dir(dir.path())
        .env("PATH", path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 1, "scontrol ran once");
    assert!(stdout.contains("slurm job 100 (1 worker):\n  100_0 RUNNING on n1, requeued 1x"), "{stdout}");
    assert_eq!(stdout.matches("unknown to scontrol").count(), 2999);
}

/// In `--format json`, `plan` and `fit` print their diagnostics as JSON on standard output, as
/// `check` does: a tool reads one object whatever happened.
#[test]
fn json_formats_carry_their_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    let file = dir.path().join("broken.sprs");
    std::fs::write(&file, "sprs 0.1\n\ntrain t {\n    data   = markov\n    budget = 20\n}\n").unwrap();
    for command in ["plan", "fit"] {
        let output = sprs(&[command, "--format", "json", file.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1), "{command}");
        let json: serde_json::Value =
            serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{command}: {e}"));
        let codes: Vec<&str> =
            json["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
        assert!(codes.contains(&"E0101") && codes.contains(&"E0203"), "{command}: {codes:?}");
        assert!(output.stderr.is_empty(), "{command}: {}", String::from_utf8_lossy(&output.stderr));
    }
    let plan = sprs(&["plan", "--format", "json", "experiments/tiny.sprs"]);
    let json: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(json["diagnostics"], serde_json::json!([]));
    assert_eq!(json["trials"].as_array().unwrap().len(), 1);
}

/// Output that cannot be written (`> /dev/full`) ends the command with one error line and exit
/// status 1, not a panic's report.
#[test]
fn an_unwritable_output_is_an_error_not_a_panic() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else { return };
    let output = crate::common::command().args(["plan", "experiments/tiny.sprs"]).stdout(full).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: cannot write to standard output") && !stderr.contains("panicked"), "{stderr}");
}
