//! How long `sprs check` takes on every shipped file (experiments and stdlib), against the
//! 100 ms budget of the language-core issue. Run with `cargo bench --bench check`.
//!
//! Prints the median of repeated in-process checks of all files together, the same for one
//! `sprs check` process over all files (start-up included), and each figure's ratio to the budget.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BUDGET: Duration = Duration::from_millis(100);
const ROUNDS: usize = 30;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(root).unwrap();
    let files: Vec<PathBuf> = sprs::check::sprs_files(&root.join("experiments"))
        .unwrap()
        .iter()
        .map(|p| p.strip_prefix(root).unwrap().to_path_buf())
        .collect();
    let modules: Vec<&str> = sprs::check::stdlib::MODULES.iter().map(|(m, _)| *m).collect();

    let mut trials = 0;
    let in_process = median(
        (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                trials = 0;
                for file in &files {
                    let output = sprs::check::check_file(file).unwrap();
                    assert!(!output.has_errors(), "{} has errors", file.display());
                    trials += output.checked.map_or(0, |c| c.trials.len());
                }
                for module in &modules {
                    assert!(!sprs::check::check_std(module).unwrap().has_errors());
                }
                start.elapsed()
            })
            .collect(),
    );
    println!(
        "check, in process: {} files + {} stdlib modules ({trials} trials): {:.2} ms (median of {ROUNDS}), {:.3}x the {} ms budget",
        files.len(),
        modules.len(),
        in_process.as_secs_f64() * 1e3,
        in_process.as_secs_f64() / BUDGET.as_secs_f64(),
        BUDGET.as_millis()
    );

    let binary = env!("CARGO_BIN_EXE_sprs");
    let process = median(
        (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                let status =
                    Command::new(binary).arg("check").arg("--format").arg("short").args(&files).status().unwrap();
                assert!(status.success());
                start.elapsed()
            })
            .collect(),
    );
    println!(
        "check, one `sprs check` process over all files: {:.2} ms (median of {ROUNDS}), {:.3}x the {} ms budget",
        process.as_secs_f64() * 1e3,
        process.as_secs_f64() / BUDGET.as_secs_f64(),
        BUDGET.as_millis()
    );
}
