//! `sprs submit FILE`: checks and plans the file, then hands its trials to Slurm as one job array
//! of workers ([`sprs::launch::slurm`]); prints the job id and how to follow it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sprs::diagnostic::Format;
use sprs::launch::slurm::{self, Submission};
use sprs::store::Store;

/// What `sprs submit` was asked, beside the Slurm options of the submission.
pub struct Options<'a> {
    /// The results folder (default: `runs/<file stem>`).
    pub out: Option<&'a Path>,
    /// Workers asked for (default: one per trial still to run, within the caps).
    pub workers: Option<usize>,
    /// How the file is checked (`--set`, `--root`, `--allow-read`, limits).
    pub check: &'a sprs::check::Options,
    /// Print the script, submit nothing.
    pub dry_run: bool,
}

pub fn run(path: &Path, options: Options, mut submission: Submission, color: bool) -> ExitCode {
    if submission.gpus_per_worker > 0 && submission.backend != sprs::train::backend::Backend::Tch {
        return super::usage_error(&format!(
            "`--gpus-per-worker {}` needs `--backend tch` (the `{}` backend runs on the CPU)",
            submission.gpus_per_worker, submission.backend
        ));
    }
    let super::Planned { plan, .. } = match super::planned(path, options.check, Format::Human, color) {
        Ok(planned) => planned,
        Err(code) => return code,
    };
    let store = match Store::new(options.out, path) {
        Ok(store) => store,
        Err(error) => return super::usage_error(&error.to_string()),
    };
    // The workers run elsewhere: every path they are given is absolute.
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let store = Store { root: absolute(&store.root) };
    submission.file = absolute(path);
    submission.out = store.root.clone();
    submission.program = match std::env::current_exe() {
        Ok(program) => program,
        Err(error) => return super::usage_error(&format!("cannot find the sprs program to run: {error}")),
    };
    let pending = plan.trials.iter().filter(|t| store.done(&t.id).is_none()).count();
    if pending == 0 && !options.dry_run {
        eprintln!(
            "every trial of `{}` has its result in {}: nothing to submit",
            sprs::escape::path(path),
            sprs::escape::path(&store.root)
        );
        return ExitCode::SUCCESS;
    }
    let max_array = if options.dry_run { None } else { slurm::max_array_size() };
    submission.workers = slurm::workers(options.workers, pending, max_array);
    if submission.name.is_empty() {
        // The job's name is only shown by Slurm: plain characters of the file's name.
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let plain: String =
            stem.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
        submission.name = format!("sprs-{plain}");
    }
    if options.dry_run {
        return match slurm::script(&submission) {
            Ok(script) => {
                print!("{script}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                super::print_error(&error);
                ExitCode::FAILURE
            }
        };
    }
    match slurm::submit(&submission, &store) {
        Ok(record) => {
            let out = sprs::escape::path(&store.root);
            let file = sprs::escape::path(path);
            let job = sprs::escape::controls(&record.job);
            println!(
                "submitted job {job}: {} worker{} for {pending} trial{} of {file}",
                record.workers,
                if record.workers == 1 { "" } else { "s" },
                if pending == 1 { "" } else { "s" }
            );
            println!("  status:  sprs status {file} --out {out}");
            println!("  queue:   squeue -j {job}");
            println!("  logs:    {out}/slurm/{job}_<task>.log");
            println!("  cancel:  scancel {job}  (each worker checkpoints its trial first)");
            ExitCode::SUCCESS
        }
        Err(error) => {
            super::print_error(&error);
            ExitCode::FAILURE
        }
    }
}

/// A submission with Slurm's defaults; `run` fills in the program, the file, the folder and the
/// workers.
pub fn submission() -> Submission {
    Submission {
        program: PathBuf::new(),
        file: PathBuf::new(),
        out: PathBuf::new(),
        workers: 1,
        set: Vec::new(),
        run_args: Vec::new(),
        backend: sprs::train::backend::Backend::Flex,
        cpus_per_worker: 1,
        gpus_per_worker: 0,
        partition: None,
        time: None,
        mem: None,
        account: None,
        qos: None,
        sbatch_args: Vec::new(),
        max_requeues: 3,
        signal_grace: 120,
        name: String::new(),
    }
}
