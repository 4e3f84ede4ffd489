//! `sprs submit FILE`: checks and plans the file, then hands its trials to Slurm as one job array
//! of workers ([`sprs::launch::slurm`]); prints the job id and how to follow it.

use std::path::PathBuf;

use sprs::diagnostic::Format;
use sprs::launch::slurm::{self, Submission};

use super::{CliError, Study};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    study: Study,
    /// Workers (array tasks); default: one per trial still to run, at most the cluster's
    /// MaxArraySize and 64.
    #[arg(long, value_name = "K")]
    workers: Option<usize>,
    /// The results folder, on a file system every node shares, with working `flock`
    /// (default: `runs/<file stem>`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The backend the workers train with.
    #[arg(long, default_value_t = Submission::default().backend)]
    backend: sprs::train::backend::Backend,
    /// Slurm partition.
    #[arg(long)]
    partition: Option<String>,
    /// Time limit per task, as Slurm takes it (`4:00:00`, `1-00:00:00`).
    #[arg(long)]
    time: Option<String>,
    /// CPU cores per worker (its trial's threads).
    #[arg(long, default_value_t = Submission::default().cpus_per_worker, value_name = "N")]
    cpus_per_worker: usize,
    /// GPUs per worker; a worker trains on the GPU Slurm gives it (`cuda:0` in its
    /// allocation). Use with `--backend tch`.
    #[arg(long, default_value_t = Submission::default().gpus_per_worker, value_name = "N")]
    gpus_per_worker: usize,
    /// Memory per worker, as Slurm takes it (`16G`).
    #[arg(long)]
    mem: Option<String>,
    /// Slurm account.
    #[arg(long)]
    account: Option<String>,
    /// Slurm quality of service.
    #[arg(long)]
    qos: Option<String>,
    /// Another `#SBATCH` argument, passed through (repeatable): `--sbatch-arg=--constraint=a100`.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    sbatch_args: Vec<String>,
    /// Times a task requeues itself after a preemption or its time limit.
    #[arg(long, default_value_t = Submission::default().max_requeues, value_name = "N")]
    max_requeues: u32,
    /// Seconds before the time limit at which a worker is told to checkpoint.
    #[arg(long, default_value_t = Submission::default().signal_grace, value_name = "SECONDS")]
    signal_grace: u64,
    /// The workers keep no weights (`sprs run --no-weights`).
    #[arg(long)]
    no_weights: bool,
    /// Print the job script; submit nothing.
    #[arg(long)]
    dry_run: bool,
}

impl Args {
    /// The submission the flags describe, before it is pointed at the file and its folder.
    fn submission(&self) -> Submission {
        let mut run_args = self.study.project.args();
        if self.no_weights {
            run_args.push("--no-weights".into());
        }
        Submission {
            set: self.study.set.clone(),
            run_args,
            backend: self.backend,
            cpus_per_worker: self.cpus_per_worker,
            gpus_per_worker: self.gpus_per_worker,
            partition: self.partition.clone(),
            time: self.time.clone(),
            mem: self.mem.clone(),
            account: self.account.clone(),
            qos: self.qos.clone(),
            sbatch_args: self.sbatch_args.clone(),
            max_requeues: self.max_requeues,
            signal_grace: self.signal_grace,
            ..Submission::default()
        }
    }

    pub fn run(self, color: bool) -> Result<(), CliError> {
        let mut submission = self.submission();
        submission.validate().map_err(CliError::Usage)?;
        let check = self.study.options()?;
        let path = &self.study.file;
        let super::Planned { plan, .. } = super::planned(path, &check, Format::Human, color)?;
        let store = self.study.store(self.out.as_deref())?;
        let program = std::env::current_exe()
            .map_err(|error| CliError::Usage(format!("cannot find the sprs program to run: {error}")))?;
        submission.locate(path, &store.root, program);
        // The workers run elsewhere: the folder as they see it, absolute.
        let store = sprs::store::Store { root: submission.out.clone() };
        let pending = slurm::pending(&plan, &store);
        if pending == 0 && !self.dry_run {
            eprintln!(
                "every trial of `{}` has its result in {}: nothing to submit",
                sprs::escape::path(path),
                sprs::escape::path(&store.root)
            );
            return Ok(());
        }
        let max_array = if self.dry_run { None } else { slurm::max_array_size() };
        submission.workers = slurm::workers(self.workers, pending, max_array);
        if self.dry_run {
            print!("{}", slurm::script(&submission).map_err(CliError::coded)?);
            return Ok(());
        }
        let record = slurm::submit(&submission, &store).map_err(CliError::coded)?;
        let out = sprs::escape::path(&store.root);
        let file = sprs::escape::path(path);
        let job = sprs::escape::controls(&record.job);
        println!(
            "submitted job {job}: {} worker{} for {pending} trial{} of {file}",
            record.workers,
            super::plural(record.workers),
            super::plural(pending)
        );
        println!("  status:  sprs status {file} --out {out}");
        println!("  queue:   squeue -j {job}");
        println!("  logs:    {out}/slurm/{job}_<task>.log");
        println!("  cancel:  scancel {job}  (each worker checkpoints its trial first)");
        Ok(())
    }
}
