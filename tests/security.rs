//! A `.sprs` file from someone else is as safe to open as a PDF (docs/language.md, "What a file may touch";
//! docs/security.md): it reads nothing outside its project and shows nothing of what it may not
//! read, cannot exhaust the machine, writes only under the results folder and never through a
//! link, and cannot end in a quietly wrong result. Each test is a way a file did one of these
//! things, run through the `sprs` binary as a user would.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::sprs_in;

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A project folder (it holds `.git`, so it is the root) with `name` in it, and a folder beside
/// the project with a secret file.
fn project(name: &str, source: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    fs::create_dir_all(project.join(".git")).unwrap();
    fs::create_dir_all(dir.path().join("outside")).unwrap();
    fs::write(dir.path().join("outside/secret.txt"), "the-secret-value\n").unwrap();
    fs::write(dir.path().join("outside/secret.sprs"), "let secret_value = 1\nlet hidden_value_xyz = 2\n").unwrap();
    fs::write(project.join(name), source).unwrap();
    (dir, project)
}

/// Runs `sprs` with `args` in `dir`, failing the test if it takes longer than a minute (a hang).
fn sprs_within_a_minute(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sprs"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("`sprs {}` hangs", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

const TRAIN: &str = "use std::models::llama
use std::data::markov

train t {
    data   = markov { context = 16, source.tokens = 20k }
    model  = llama { width = 16, depth = 1, heads = 2, mlp = 32 }
    batch  = 4
    budget = 12 steps
    eval   = { every = 6 steps, tokens = 256 }
}
";

const PRUNED: &str = "use std::models::llama
use std::data::markov
use std::schedules::journey

train t {
    data   = markov { context = 16, source.tokens = 20k }
    model  = llama { width = 16, depth = 1, heads = 2, mlp = 32 }
    prune  = journey { sparsity = 50%, every = 2 steps }
    batch  = 4
    budget = 12 steps
    eval   = { every = 6 steps, tokens = 256 }
}
";

#[test]
fn imports_outside_the_project_are_refused_without_showing_them() {
    let source = "use \"/proc/self/environ\"::{x}\nuse \"/etc/passwd\"::{y}\nuse \"../outside/secret.sprs\"::{z}\nuse \"../outside/secret.txt\"::{w}\n";
    let (_dir, project) = project("main.sprs", source);
    let out = Command::new(env!("CARGO_BIN_EXE_sprs"))
        .args(["check", "main.sprs"])
        .current_dir(&project)
        .env("SPRS_TEST_SECRET", "hunter2-in-the-environment")
        .output()
        .unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert_eq!(shown.matches("sprs::E0115").count(), 4, "{shown}");
    for secret in ["hunter2", "root:x:0:0", "hidden_value_xyz", "the-secret-value"] {
        assert!(!shown.contains(secret), "`{secret}` shown:\n{shown}");
    }
}

#[test]
fn data_paths_outside_the_project_are_refused_whether_or_not_they_exist() {
    let source = format!(
        "{TRAIN}train a {{ data = {{ source = text(\"/etc/passwd\") }}, model = llama {{ width = 16, depth = 1 }}, budget = 10 steps }}\n\
         train b {{ data = {{ source = text(\"../outside/secret.txt\") }}, model = llama {{ width = 16, depth = 1 }}, budget = 10 steps }}\n\
         train c {{ data = {{ source = text(\"../outside/missing.txt\") }}, model = llama {{ width = 16, depth = 1 }}, budget = 10 steps }}\n\
         train d {{ data = {{ source = text(\"link.txt\") }}, model = llama {{ width = 16, depth = 1 }}, budget = 10 steps }}\n\
         train e {{ data = {{ source = tokens(\"/dev/zero\"), context = 16 }}, model = llama {{ width = 16, depth = 1, vocab = 256 }}, budget = 10 steps }}\n"
    );
    let (dir, project) = project("main.sprs", &source);
    std::os::unix::fs::symlink(dir.path().join("outside/secret.txt"), project.join("link.txt")).unwrap();
    let out = sprs_in(&project, &["check", "--format", "json", "main.sprs"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diagnostics = json["diagnostics"].as_array().unwrap();
    let codes: Vec<&str> = diagnostics.iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["E0115"; 5], "{json}");
    // The existing and the missing file outside get the same words: no W0005 size, no E0209.
    let message = |i: usize| diagnostics[i]["message"].as_str().unwrap().replace("secret", "X").replace("missing", "X");
    assert_eq!(message(1), message(2));
}

#[test]
fn allowed_folders_are_read_and_the_root_can_be_narrowed() {
    let source = "use \"../outside/secret.sprs\"::{secret_value}\nlet x = secret_value\n";
    let (dir, project) = project("main.sprs", source);
    let outside = dir.path().join("outside");
    let allowed = sprs_in(&project, &["check", "main.sprs", "--allow-read", outside.to_str().unwrap()]);
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed));
    let by_env = Command::new(env!("CARGO_BIN_EXE_sprs"))
        .args(["check", "main.sprs"])
        .current_dir(&project)
        .env("SPRS_ALLOW_READ", &outside)
        .output()
        .unwrap();
    assert_eq!(by_env.status.code(), Some(0), "{}", text(&by_env));
    // The file's own folder as the root: a file of the project above it is then outside.
    fs::create_dir_all(project.join("sub")).unwrap();
    fs::write(project.join("common.sprs"), "let c = 1\n").unwrap();
    fs::write(project.join("sub/main.sprs"), "use \"../common.sprs\"::{c}\nlet x = c\n").unwrap();
    assert_eq!(sprs_in(&project, &["check", "sub/main.sprs"]).status.code(), Some(0));
    let narrowed = sprs_in(&project, &["check", "sub/main.sprs", "--root", "sub"]);
    assert!(text(&narrowed).contains("E0115"), "{}", text(&narrowed));
    // A root the file is not in is a usage error.
    assert_eq!(sprs_in(&project, &["check", "main.sprs", "--root", "sub"]).status.code(), Some(2));
}

#[test]
fn a_csv_outside_the_root_shows_neither_its_header_nor_its_rows() {
    let source = "fit f {\n    on     = csv(\"../outside/points.csv\", columns = { N = \"model\", L = \"user:secret\" })\n    law    = E + A / N^alpha\n    params = { E = [1], A = [1], alpha = [0.3] }\n}\n";
    let (dir, project) = project("main.sprs", source);
    fs::write(dir.path().join("outside/points.csv"), "user:secret,hidden-header\nrow-value-1,x\n").unwrap();
    let outside = dir.path().join("outside");
    let refused = sprs_in(&project, &["fit", "main.sprs"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused).contains("E0115"));
    let allowed =
        sprs_in(&project, &["fit", "main.sprs", "--allow-read", outside.to_str().unwrap(), "--out", "runs/x"]);
    let shown = text(&allowed);
    assert_eq!(allowed.status.code(), Some(1), "{shown}");
    assert!(shown.contains("E0602") || shown.contains("E0603"), "{shown}");
    for secret in ["hidden-header", "row-value-1"] {
        assert!(!shown.contains(secret), "`{secret}` shown:\n{shown}");
    }
}

#[test]
fn devices_pipes_and_huge_imports_are_refused_without_hanging() {
    let (_dir, project) =
        project("main.sprs", "use \"pipe.sprs\"::{a}\nuse \"big.sprs\"::{b}\nuse \"zero.sprs\"::{c}\n");
    let pipe = std::ffi::CString::new(project.join("pipe.sprs").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(pipe.as_ptr(), 0o600) }, 0);
    fs::write(project.join("big.sprs"), " ".repeat(2 << 20)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", project.join("zero.sprs")).unwrap();
    let out = sprs_within_a_minute(&project, &["check", "--format", "short", "main.sprs"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("pipe.sprs`: it is a named pipe"), "{shown}");
    assert!(shown.contains("more than the 1048576 that are read"), "{shown}");
    assert!(shown.contains("main.sprs:3:5: error[E0115]"), "{shown}");
    // Named on the command line, a pipe or device is a usage error, at once.
    for entry in ["pipe.sprs", "/dev/stdin", "/dev/zero"] {
        let out = sprs_within_a_minute(&project, &["check", entry]);
        assert_eq!(out.status.code(), Some(2), "{entry}: {}", text(&out));
    }
}

#[test]
fn sizes_a_small_file_could_blow_up_are_refused_with_exact_counts() {
    let source = "use std::models::llama\nuse std::data::shakespeare\n\
        train base { data = shakespeare, model = llama { width = 16, depth = 1 }, budget = 100 steps }\n\
        let g = grid(0, 65535, 1)\n\
        sweep wraps = base {\n  seed in g\n  eval.tokens in g\n  batch in g\n  data.context in g\n}\n\
        sweep huge = base {\n  seed in grid(0, 999, 1)\n  batch in grid(1, 1000, 1)\n  optimizer.lr in grid(1, 1000, 1)\n}\n\
        let nested = [[g], [g]]\n";
    let (_dir, project) = project("main.sprs", source);
    let out = sprs_within_a_minute(&project, &["check", "--format", "short", "main.sprs"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("`wraps` has 2^64 or more trials"), "{shown}");
    assert!(shown.contains("`huge` has 1000000000 trials"), "{shown}");
    assert!(shown.contains("this list has 131072 elements"), "{shown}");
    // The limit can be raised, and counts each trial.
    let two = "use std::models::llama\nuse std::data::shakespeare\n\
        train base { data = shakespeare, model = llama { width = 16, depth = 1 }, budget = 100 steps }\n\
        sweep s = base { seed in [1, 2, 3] }\n";
    fs::write(project.join("two.sprs"), two).unwrap();
    assert_eq!(sprs_in(&project, &["check", "two.sprs", "--max-trials", "2"]).status.code(), Some(1));
    assert_eq!(sprs_in(&project, &["check", "two.sprs", "--max-trials", "3"]).status.code(), Some(0));
}

#[test]
fn diagnostics_on_very_long_lines_render_with_their_real_column() {
    let (_dir, project) = project("long.sprs", &format!("{}nope\n", " ".repeat(65_540)));
    fs::write(project.join("comments.sprs"), "/*".repeat(100_000)).unwrap();
    let long = sprs_in(&project, &["check", "long.sprs"]);
    let shown = text(&long);
    assert_eq!(long.status.code(), Some(1), "{shown}");
    assert!(shown.contains("[long.sprs:1:65541]"), "{shown}");
    assert!(shown.lines().all(|l| l.chars().count() < 300), "a line of the excerpt was not cut");
    let comments = sprs_in(&project, &["check", "comments.sprs"]);
    assert_eq!(comments.status.code(), Some(1), "{}", text(&comments));
}

#[test]
fn a_run_writes_through_no_link_in_its_results_folder() {
    let (dir, project) = project("tiny.sprs", TRAIN);
    let plan: serde_json::Value =
        serde_json::from_slice(&sprs_in(&project, &["plan", "--format", "json", "tiny.sprs"]).stdout).unwrap();
    let id = plan["trials"][0]["id"].as_str().unwrap();
    let victim = dir.path().join("outside/secret.txt");
    // A project that ships its results folder with links in it.
    let trial = project.join("runs/tiny").join(id);
    fs::create_dir_all(&trial).unwrap();
    std::os::unix::fs::symlink(&victim, trial.join("metrics.jsonl")).unwrap();
    let run = sprs_in(&project, &["run", "tiny.sprs"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(text(&run).contains("symbolic link"), "{}", text(&run));
    fs::remove_file(trial.join("metrics.jsonl")).unwrap();
    fs::remove_file(trial.join("lock")).unwrap();
    std::os::unix::fs::symlink(&victim, trial.join("lock")).unwrap();
    assert_eq!(sprs_in(&project, &["run", "tiny.sprs"]).status.code(), Some(1));
    fs::remove_dir_all(project.join("runs")).unwrap();
    // The trial's folder itself as a link, to a folder with a finished result and a checkpoint:
    // neither is taken for the trial's, and nothing there is removed.
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let result = format!(
        r#"{{"id": "{id}", "status": "ok", "N": 1, "N_final": 1, "N_avg": 1.0, "S": 0.0, "D": 1, "C": 1.0, "C_dense": 1.0, "L": 1.0}}"#
    );
    fs::write(elsewhere.join("result.json"), result).unwrap();
    fs::write(elsewhere.join("checkpoint.bin"), "keep").unwrap();
    fs::create_dir_all(project.join("runs/tiny")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, project.join("runs/tiny").join(id)).unwrap();
    assert_eq!(sprs_in(&project, &["run", "tiny.sprs"]).status.code(), Some(1));
    assert_eq!(fs::read_to_string(elsewhere.join("checkpoint.bin")).unwrap(), "keep");
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 2, "nothing was written there");
    fs::remove_dir_all(project.join("runs")).unwrap();
    fs::create_dir_all(project.join("runs")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside"), project.join("runs/tiny")).unwrap();
    assert_eq!(sprs_in(&project, &["run", "tiny.sprs"]).status.code(), Some(2));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "the-secret-value\n");
    assert_eq!(fs::read_dir(dir.path().join("outside")).unwrap().count(), 2, "nothing was written outside");
}

#[test]
fn a_file_without_a_plain_stem_has_no_default_results_folder() {
    let (_dir, project) = project("...sprs", TRAIN);
    let run = sprs_in(&project, &["run", "...sprs"]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    let left: Vec<String> =
        fs::read_dir(&project).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(left.iter().all(|n| n == ".git" || n == "...sprs"), "{left:?}");
}

#[test]
fn names_show_each_value_and_reach_the_terminal_and_report_escaped() {
    let (_dir, project) = project("seeds.sprs", &format!("{TRAIN}sweep s = t {{ seed in grid(1, 40, 1) }}\n"));
    let plan = sprs_in(&project, &["plan", "--format", "json", "seeds.sprs"]);
    let json: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let names: Vec<&str> = json["trials"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 40);
    assert_eq!(names[6], "s[seed=7]");

    // Axis values that hold escape sequences and HTML, and two that show alike once cut short.
    let weird = "a\u{1b}[2J<img src=x onerror=alert(1)>|`.txt";
    let long = "l".repeat(70);
    let source = format!(
        "{TRAIN}sweep w = t {{ data.source in [text(\"{weird}\"), text(\"{long}1.txt\"), text(\"{long}2.txt\")] }}\n"
    );
    fs::write(project.join("weird.sprs"), source).unwrap();
    let text_file: String = (0..3000).map(|i| format!("line {i} of some text\n")).collect();
    for name in [weird.to_string(), format!("{long}1.txt"), format!("{long}2.txt")] {
        fs::write(project.join(name), &text_file).unwrap();
    }
    let plan = sprs_in(&project, &["plan", "--format", "json", "weird.sprs"]);
    assert!(plan.status.success(), "{}", text(&plan));
    let json: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let names: Vec<&str> = json["trials"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(
        names[1].ends_with("…]") && names[2] == format!("{}#{}", names[1], json["trials"][2]["id"].as_str().unwrap()),
        "{names:?}"
    );
    let table = sprs_in(&project, &["plan", "weird.sprs"]);
    assert!(!text(&table).contains('\u{1b}'), "an escape sequence reached the terminal");

    let run = sprs_in(&project, &["run", "weird.sprs"]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(!text(&run).contains('\u{1b}'), "an escape sequence reached the terminal");
    let report = fs::read_to_string(project.join("runs/weird/report.md")).unwrap();
    let row = report.lines().find(|l| l.contains("onerror")).unwrap_or_else(|| panic!("no row in\n{report}"));
    assert!(
        row.starts_with("| ``w[data.source=text(\"a\\u{1b}[2J<img src=x onerror=alert(1)>\\|`.txt\")]`` |"),
        "{row}"
    );
    assert!(!report.contains('\u{1b}'));
}

#[test]
fn overflowing_counts_are_errors_not_wrapped_numbers() {
    let source = "use std::models::llama\n\
        train t { data = { source = synthetic, context = 1048576 }, model = llama { width = 16, depth = 1 }, batch = 16777216, budget = 2M steps }\n";
    let (_dir, project) = project("main.sprs", source);
    let out = sprs_in(&project, &["plan", "--format", "short", "main.sprs"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("more tokens than a 64-bit count holds"), "{}", text(&out));
}

#[test]
fn a_trial_too_large_for_the_machine_is_refused_before_it_starts() {
    let source = "use std::models::llama\n\
        train t { data = { source = synthetic { tokens = 9e15 } }, model = llama { width = 16, depth = 1 }, budget = 10 steps }\n";
    let (_dir, project) = project("main.sprs", source);
    let out = sprs_within_a_minute(&project, &["run", "main.sprs"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("E0401"), "{}", text(&out));
}

/// The estimate is an upper bound of the peak the process reports, and not a loose one.
#[test]
fn the_memory_estimate_bounds_the_measured_peak() {
    let source = "use std::models::llama\nuse std::data::markov\n\
        train t { data = markov { context = 256, source.tokens = 40k }, model = llama { width = 64, depth = 2 }, batch = 32, budget = 2 steps, eval = { every = 1 steps, tokens = 512 } }\n";
    let (_dir, project) = project("main.sprs", source);
    let plan: serde_json::Value =
        serde_json::from_slice(&sprs_in(&project, &["plan", "--format", "json", "main.sprs"]).stdout).unwrap();
    let estimate = plan["trials"][0]["memory"]["total"].as_f64().unwrap();
    let run = sprs_in(&project, &["run", "main.sprs"]);
    let shown = text(&run);
    assert!(run.status.success(), "{shown}");
    let peak = shown.split("peak memory ").nth(1).and_then(|rest| rest.split(" (").next()).expect("a peak");
    let mib = |s: &str| -> f64 {
        let (value, unit) = s.split_once(' ').unwrap();
        value.parse::<f64>().unwrap() * if unit == "GiB" { 1024.0 } else { 1.0 }
    };
    let (peak, estimate) = (mib(peak), estimate / (1 << 20) as f64);
    assert!(peak <= estimate && peak >= estimate / 4.0, "peak {peak} MiB, estimate {estimate} MiB");
}

#[test]
fn fits_that_cannot_be_written_fail() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = "fit f {\n    on     = csv(\"points.csv\", columns = { N = \"Model Size\", L = \"loss\" })\n    law    = E + A / N^alpha\n    params = { E = [1], A = [100], alpha = [0.3] }\n    bootstrap = 0\n}\n";
    let (dir, project) = project("main.sprs", source);
    fs::copy(root.join("tests/fixtures/chinchilla_epoch_svg.csv"), project.join("points.csv")).unwrap();
    fs::create_dir_all(project.join("runs/main")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside"), project.join("runs/main/fits")).unwrap();
    let out = sprs_in(&project, &["fit", "main.sprs"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(fs::read_dir(dir.path().join("outside")).unwrap().count(), 2, "nothing was written outside");
}

#[test]
fn a_trial_that_fails_before_training_has_its_row_in_the_results() {
    let source = "use std::models::llama\n\
        train t { data = { source = text(\"t.txt\"), tokenizer = file(\"tokenizer.json\"), context = 16 }, model = llama { width = 16, depth = 1, vocab = 300 }, batch = 4, budget = 5 steps }\n";
    let (_dir, project) = project("main.sprs", source);
    let text_file: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    fs::write(project.join("t.txt"), text_file).unwrap();
    fs::write(project.join("tokenizer.json"), "not a tokenizer").unwrap();
    let out = sprs_in(&project, &["run", "main.sprs"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let csv = fs::read_to_string(project.join("runs/main/results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.lines().nth(1).unwrap().contains(",failed,"), "{csv}");
}

/// A full disk, as `ulimit -f` makes it: every write past a few kilobytes fails. The run fails
/// with exit code 1 and leaves no temporary file behind.
#[test]
fn a_full_disk_fails_the_run_and_leaves_no_temporary_files() {
    let (_dir, project) = project("tiny.sprs", TRAIN);
    let command =
        format!("trap '' XFSZ; ulimit -f 2; exec {} run tiny.sprs --checkpoint-every 0", env!("CARGO_BIN_EXE_sprs"));
    let out = Command::new("bash").args(["-c", &command]).current_dir(&project).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let mut stack = vec![project.join("runs")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            assert!(!path.to_string_lossy().ends_with(".tmp"), "left behind: {}", path.display());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
}

/// A checkpoint that does not fit its trial (masks of other sizes, a step outside the run) is set
/// aside with a warning; the trial starts over and ends as an uninterrupted run does.
#[test]
fn an_invalid_checkpoint_is_set_aside_and_the_trial_starts_over() {
    let (_dir, project) = project("tiny.sprs", PRUNED);
    let clean = sprs_in(&project, &["run", "tiny.sprs", "--out", "clean"]);
    assert!(clean.status.success(), "{}", text(&clean));
    let output = sprs::plan::plan_file(&project.join("tiny.sprs")).unwrap();
    let planned = output.plan.unwrap().trials.remove(0);
    let tokens = sprs::data::tokens::Tokens::load(&planned.config.data, &output.access, None).unwrap();
    let mut trainer = sprs::train::trainer::Trainer::new(&planned, &tokens, &sprs::train::backend::cpu()).unwrap();
    let mut sum = 0u128;
    for step in 0..4 {
        sum += u128::from(trainer.step(step).unwrap().nonzero);
    }
    let valid = trainer.checkpoint(4, sum, &[]).unwrap();
    let decoded = || sprs::train::checkpoint::Checkpoint::decode(&valid).unwrap();
    let mut wrong_masks = decoded();
    wrong_masks.masks.keep.pop();
    wrong_masks.header.mask_sizes.pop();
    let mut wrong_step = decoded();
    wrong_step.header.step = 1_000_000;
    for (name, bytes) in
        [("masks", wrong_masks.encode()), ("step", wrong_step.encode()), ("bytes", b"garbage".to_vec())]
    {
        let out = project.join(format!("out-{name}"));
        let trial = out.join(&planned.id);
        fs::create_dir_all(&trial).unwrap();
        fs::write(trial.join("checkpoint.bin"), bytes).unwrap();
        let run = sprs_in(&project, &["run", "tiny.sprs", "--out", out.to_str().unwrap()]);
        assert!(run.status.success(), "{name}: {}", text(&run));
        assert!(text(&run).contains("cannot be continued from"), "{name}: {}", text(&run));
        assert!(trial.join("checkpoint.bin.invalid").exists());
        let read = |dir: &Path| fs::read_to_string(dir.join(&planned.id).join("result.json")).unwrap();
        assert_eq!(read(&out), read(&project.join("clean")), "{name}");
    }
}

/// A project of many files, each importing the next: the chain is bounded like a chain of
/// references, and the stack is never exhausted.
#[test]
fn a_long_chain_of_imports_is_bounded() {
    let (_dir, project) = project("f0.sprs", "use \"f1.sprs\"::{v1}\nlet v0 = v1\n");
    for i in 1..2000 {
        fs::write(
            project.join(format!("f{i}.sprs")),
            format!("use \"f{}.sprs\"::{{v{}}}\nlet v{i} = v{}\n", i + 1, i + 1, i + 1),
        )
        .unwrap();
    }
    fs::write(project.join("f2000.sprs"), "let v2000 = 1\n").unwrap();
    let out = sprs_within_a_minute(&project, &["check", "--format", "short", "f0.sprs"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("E0113"), "{}", text(&out));
}

/// The weights and the TensorBoard events of a shipped results folder: links there are replaced
/// or refused, never written through; the run is not failed by its curves; a planted weights file
/// is refused by its size before it is read.
#[test]
fn weights_and_curves_are_written_through_no_link_and_read_only_when_they_fit() {
    let (dir, project) = project("tiny.sprs", TRAIN);
    let plan: serde_json::Value =
        serde_json::from_slice(&sprs_in(&project, &["plan", "--format", "json", "tiny.sprs"]).stdout).unwrap();
    let id = plan["trials"][0]["id"].as_str().unwrap();
    let victim = dir.path().join("outside/secret.txt");
    let trial = project.join("runs/tiny").join(id);
    fs::create_dir_all(&trial).unwrap();
    std::os::unix::fs::symlink(&victim, trial.join("model.safetensors")).unwrap();
    let board = project.join("runs/tiny/tensorboard");
    fs::create_dir_all(&board).unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside"), board.join(format!("t-{}", &id[..8]))).unwrap();
    let run = sprs_in(&project, &["run", "tiny.sprs"]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("warning: no TensorBoard events"), "{}", text(&run));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "the-secret-value\n");
    assert_eq!(fs::read_dir(dir.path().join("outside")).unwrap().count(), 2, "nothing was written outside");
    let weights = trial.join("model.safetensors");
    assert!(fs::symlink_metadata(&weights).unwrap().is_file(), "the link was replaced by the weights");

    // Weights far larger than the trial's shapes need (sparse: no disk is spent) are refused
    // before they are read.
    let planted = fs::File::create(&weights).unwrap();
    planted.set_len(2 << 30).unwrap();
    let export = sprs_in(&project, &["export", "tiny.sprs", "--trial", "t", "--to", "hf"]);
    assert!(text(&export).contains("error[E0904]") && text(&export).contains("more than"), "{}", text(&export));
}

/// Every value of a token file's manifest is checked with the file: a vocabulary no model can
/// have (0, 1, 2^40: a plan of 17.6T parameters, and an abort in `run --force`), more ids than
/// u16 names, an end token outside it, a count of ids the file does not hold.
#[test]
fn a_token_files_manifest_is_checked_value_by_value() {
    let (_dir, project) = project(
        "t.sprs",
        "use std::models::llama\ntrain t {\n    data   = { source = tokens(\"ids.bin\"), context = 16 }\n    model  = llama { width = 16, depth = 1, heads = 2, mlp = 32 }\n    budget = 10 steps\n}\n",
    );
    fs::write(project.join("ids.bin"), vec![1u8; 200_000]).unwrap();
    let manifest = |vocab: u64, tokens: u64, eos: Option<u32>| {
        serde_json::json!({
            "format": "sprs-tokens 1", "dtype": "u16", "vocab": vocab, "tokenizer": "bytes", "eos": eos,
            "field": "text", "documents": 1, "tokens": tokens, "inputs": [], "complete": true,
        })
    };
    let check = |manifest: serde_json::Value| {
        fs::write(project.join("ids.bin.json"), manifest.to_string()).unwrap();
        sprs_in(&project, &["check", "t.sprs"])
    };
    let ok = check(manifest(300, 100_000, None));
    assert!(ok.status.success(), "{}", text(&ok));
    for (bad, says) in [
        (manifest(0, 100_000, None), "vocabulary of 0"),
        (manifest(1, 100_000, None), "vocabulary of 1"),
        (manifest(1 << 40, 100_000, None), "vocabulary of 1099511627776"),
        (manifest(70_000, 100_000, None), "more than u16"),
        (manifest(300, 100_000, Some(300)), "end token 300"),
        (manifest(300, 99_999, None), "counts 99999 ids"),
    ] {
        let output = check(bad);
        assert_eq!(output.status.code(), Some(1), "{says}: {}", text(&output));
        assert!(text(&output).contains("E0217") && text(&output).contains(says), "{says}: {}", text(&output));
    }
}

/// What a results folder or a file holds reaches the terminal escaped: job ids and a claim's
/// host in `status`, a file's name in `check`, `status` and `fmt`, and the lines `fmt --check`
/// shows.
#[test]
fn what_a_folder_or_a_file_holds_reaches_the_terminal_escaped() {
    let name = "e\u{1b}[2Jvil.sprs";
    let (_dir, project) = project(name, TRAIN);
    let plan: serde_json::Value =
        serde_json::from_slice(&sprs_in(&project, &["plan", "--format", "json", name]).stdout).unwrap();
    let id = plan["trials"][0]["id"].as_str().unwrap();
    let out = project.join("out");
    let trial = out.join(id);
    fs::create_dir_all(&trial).unwrap();
    let host = "host\u{1b}]0;pwned\u{7}\nfake: done";
    let claim = serde_json::json!({ "host": host, "pid": 1, "since": 0, "from_step": 0 });
    fs::write(trial.join("claim.json"), claim.to_string()).unwrap();
    // The trial is running: its lock is held here.
    let lock = fs::File::create(trial.join("lock")).unwrap();
    lock.try_lock().unwrap();
    fs::create_dir_all(out.join("slurm")).unwrap();
    let job = serde_json::json!({ "job": "42\u{1b}[31m\nslurm job 43 (1 worker):", "workers": 1, "submitted": 0, "script": "" });
    fs::write(out.join("slurm/jobs.jsonl"), format!("{job}\n")).unwrap();
    let outputs = [
        sprs_in(&project, &["status", name, "--out", "out"]),
        sprs_in(&project, &["check", name]),
        sprs_in(&project, &["check", name, "--format", "short"]),
    ];
    fs::write(project.join(name), format!("// a comment \u{1b}[2J\n{}", TRAIN.replace("    budget", "  budget")))
        .unwrap();
    let fmt = sprs_in(&project, &["fmt", "--check", name]);
    assert_eq!(fmt.status.code(), Some(1), "{}", text(&fmt));
    for output in outputs.iter().chain([&fmt]) {
        let shown = text(output);
        assert!(!shown.contains('\u{1b}') && !shown.contains('\u{7}'), "{shown:?}");
        assert!(!shown.lines().any(|l| l.starts_with("fake: done") || l.starts_with("slurm job 43")), "{shown}");
    }
    assert!(text(&outputs[0]).contains("running"), "{}", text(&outputs[0]));
    drop(lock);
}

/// `sprs fmt DIR` reads as `check` does: a link (to a file outside or inside) is neither shown
/// nor replaced, a pipe named `*.sprs` does not hang it, and a link to a parent folder does not
/// make it walk forever.
#[test]
fn fmt_follows_no_link_and_waits_on_no_pipe() {
    let (dir, project) = project("ok.sprs", "train t { batch=4 }\n");
    let outside = dir.path().join("outside/secret.sprs");
    let secret = fs::read_to_string(&outside).unwrap();
    fs::write(&outside, format!("{secret}train leaked_secret_line {{ batch=4 }}\n")).unwrap();
    let before = fs::read_to_string(&outside).unwrap();
    let folder = project.join("src");
    fs::create_dir_all(&folder).unwrap();
    std::os::unix::fs::symlink(&outside, folder.join("leak.sprs")).unwrap();
    std::os::unix::fs::symlink(&project, folder.join("loop")).unwrap();
    let fifo = folder.join("pipe.sprs");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads a valid C string and has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
    let check = sprs_within_a_minute(&project, &["fmt", "--check", "."]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(!text(&check).contains("leaked_secret_line"), "{}", text(&check));
    assert!(text(&check).contains("symbolic link") && text(&check).contains("not a regular file"), "{}", text(&check));
    let write = sprs_within_a_minute(&project, &["fmt", "."]);
    assert_eq!(write.status.code(), Some(1), "{}", text(&write));
    assert_eq!(fs::read_to_string(&outside).unwrap(), before);
    assert!(
        fs::symlink_metadata(folder.join("leak.sprs")).unwrap().file_type().is_symlink(),
        "the link is left as it is"
    );
    assert_eq!(fs::read_to_string(project.join("ok.sprs")).unwrap(), "train t { batch = 4 }\n");
}

/// The largest resident set of this process's finished children, in bytes.
fn children_peak() -> u64 {
    // SAFETY: getrusage writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct it is given.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    usage.ru_maxrss as u64 * 1024
}

/// Planted large files in a results folder are not read whole: a 2 GiB checkpoint is set aside
/// by its size (a trial's shapes bound it), and a 1 GiB `metrics.jsonl` of one line is read a
/// MiB at most, for the report's curves.
#[test]
fn planted_large_files_in_a_results_folder_are_not_read_whole() {
    let (_dir, project) = project("tiny.sprs", TRAIN);
    let plan: serde_json::Value =
        serde_json::from_slice(&sprs_in(&project, &["plan", "--format", "json", "tiny.sprs"]).stdout).unwrap();
    let id = plan["trials"][0]["id"].as_str().unwrap();
    let trial = project.join("runs/tiny").join(id);
    fs::create_dir_all(&trial).unwrap();
    fs::File::create(trial.join("checkpoint.bin")).unwrap().set_len(2 << 30).unwrap();
    let run = sprs_in(&project, &["run", "tiny.sprs"]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("cannot be continued from") && text(&run).contains("more than"), "{}", text(&run));
    fs::File::create(trial.join("metrics.jsonl")).unwrap().set_len(1 << 30).unwrap();
    let rerun = sprs_in(&project, &["run", "tiny.sprs"]);
    assert!(rerun.status.success(), "{}", text(&rerun));
    assert!(children_peak() < 1 << 30, "a child's peak was {} bytes", children_peak());
}
