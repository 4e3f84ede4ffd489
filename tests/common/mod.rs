//! What the tests share: the program's runner, a wait with a deadline, a sweep of four short
//! trials, and readers of a results folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The `sprs` program, to be given arguments; no `SPRS_ALLOW_READ` comes from the environment
/// the tests run in.
pub fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sprs"));
    command.env_remove("SPRS_ALLOW_READ");
    command
}

/// Runs `sprs ARGS` in the package's root (where cargo runs the tests) and waits for it.
pub fn sprs(args: &[&str]) -> Output {
    command().args(args).output().unwrap()
}

/// Runs `sprs ARGS` in `dir` and waits for it.
pub fn sprs_in(dir: &Path, args: &[&str]) -> Output {
    command().args(args).current_dir(dir).output().unwrap()
}

/// Waits until `condition` holds, polling every few milliseconds; fails the test, naming `what`,
/// if it does not within `limit`.
pub fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "gave up after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Four trials of a few seconds each.
pub const SWEEP: &str = "use std::models::llama
use std::data::markov
use std::schedules::journey

train base {
    data   = markov { context = 16, source.tokens = 30k }
    model  = llama { width = 32, depth = 1, heads = 2, mlp = 64 }
    batch  = 4
    budget = 240 steps
    eval   = { every = 60 steps, tokens = 512 }
}

sweep s = base {
    model.width in [16, 32]
    prune in [dense, journey { sparsity = 60%, every = 10 steps }]
}
";

/// The trial folders of a results folder (those with a `trial.json`), sorted.
pub fn trial_dirs(out: &Path) -> Vec<PathBuf> {
    // Absent before a run makes it; entries may come and go while a run writes.
    let Ok(entries) = std::fs::read_dir(out) else { return Vec::new() };
    let mut dirs: Vec<_> =
        entries.filter_map(|e| Some(e.ok()?.path())).filter(|p| p.join("trial.json").exists()).collect();
    dirs.sort();
    dirs
}

/// A file's text, or a panic naming it.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The scalar curves of a results folder's TensorBoard runs, by run and tag: `(step, value)` in
/// the order of the event file.
pub fn curves(out: &Path) -> std::collections::BTreeMap<(String, String), Vec<(i64, f32)>> {
    use sprs::store::tensorboard::{read, What, FILE};
    let mut curves = std::collections::BTreeMap::new();
    let Ok(runs) = std::fs::read_dir(out.join("tensorboard")) else { return curves };
    for run in runs {
        let run = run.unwrap().path();
        let name = run.file_name().unwrap().to_string_lossy().into_owned();
        for event in read(&run.join(FILE)).unwrap() {
            let Some(What::Summary(summary)) = event.what else { continue };
            for value in summary.value {
                if let Some(v) = value.simple_value {
                    curves.entry((name.clone(), value.tag)).or_insert_with(Vec::new).push((event.step, v));
                }
            }
        }
    }
    curves
}
