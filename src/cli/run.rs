//! `sprs run FILE`: the library trains the file's trials ([`sprs::sweep::train`]) and, once all
//! have results, writes its fits and report ([`sprs::sweep::conclude`]); this shows their progress
//! with indicatif and prints the summary.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sprs::diagnostic::{Diag, Format, Renderer};
use sprs::plan::PlannedTrial;
use sprs::store::Store;
use sprs::sweep::{Event, Outcome, Progress};

use super::{CliError, Results};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    results: Results,
    /// Only this train, sweep, or trial (by name).
    #[arg(long)]
    only: Option<String>,
    /// The backend: `flex` (default), `ndarray` or `tch` (each when built with its feature).
    #[arg(long, default_value = "flex")]
    backend: sprs::train::backend::Backend,
    /// Where the backend runs: `cpu`, or with `--backend tch` `cuda:N`, a list
    /// `cuda:0,cuda:1` or `cuda:all` (one trial per GPU by default).
    #[arg(long, default_value = "cpu")]
    device: sprs::train::backend::Devices,
    /// Save a checkpoint of the running trial this often, in seconds.
    #[arg(long, default_value_t = 120)]
    checkpoint_every: u64,
    /// Trials to train side by side (default: one per core on the CPU, one on a GPU); the
    /// cores are divided between them.
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Run only share I of N (1-based) of the trials, for N machines sharing one results folder.
    #[arg(long, value_name = "I/N")]
    shard: Option<sprs::sweep::Shard>,
    /// Train trials whose estimated memory exceeds the machine's (see `sprs plan`).
    #[arg(long)]
    force: bool,
    /// Keep no weights: finished trials do not write `model.safetensors` (`sprs export`,
    /// `score` and `generate` then cannot use them).
    #[arg(long)]
    no_weights: bool,
    /// Run as one of several workers sharing the results folder (as `sprs submit`'s Slurm
    /// tasks do): one trial at a time on the cores Slurm allocated (`SLURM_CPUS_PER_TASK`),
    /// taking the longest trial no other worker holds.
    #[arg(long, conflicts_with = "shard")]
    worker: bool,
}

impl Args {
    /// The sweep's options from the flags: signals handled, a worker's cores from Slurm.
    fn sweep(&self) -> Result<sprs::sweep::Options, CliError> {
        // Ctrl-C, SIGTERM and Slurm's SIGUSR1 checkpoint the running trials and stop.
        let stop = sprs::sweep::Stop::on_signals()
            .map_err(|error| CliError::Usage(format!("cannot handle signals: {error}")))?;
        Ok(sprs::sweep::Options {
            only: self.only.clone(),
            shard: self.shard,
            jobs: if self.worker { self.jobs.or(Some(1)) } else { self.jobs },
            backend: self.backend,
            devices: self.device.clone(),
            checkpoint_every: std::time::Duration::from_secs(self.checkpoint_every),
            keep_weights: !self.no_weights,
            cores: self.worker.then(sprs::launch::slurm::allocated_cpus).flatten(),
            stop,
        })
    }

    pub fn run(self, color: bool) -> Result<(), CliError> {
        let mut check = self.results.study.options()?;
        // The machine's memory bounds a CPU trial; a GPU's is not known here.
        if !self.force && self.device.is_cpu() {
            check.limits.memory = sprs::plan::memory::machine();
        }
        let sweep = self.sweep()?;
        let path = &self.results.study.file;
        let super::Planned { plan, fits, sources, access, .. } = super::planned(path, &check, Format::Human, color)?;
        // The devices are made again per trial slot; this refuses a backend or device that cannot
        // be used before anything is written.
        for target in sweep.devices.targets() {
            sweep.backend.device(*target).map_err(CliError::Usage)?;
        }
        let trials = sprs::sweep::select(&plan, &sweep)
            .map_err(|error| CliError::Usage(format!("{error} in `{}`", path.display())))?;
        let store = self.results.store()?;
        let started = Instant::now();
        let bars = Bars::new(color, store.root.clone());
        let tally = sprs::sweep::train(&plan, &trials, &store, &access, &sweep, &bars).map_err(CliError::Failed)?;
        bars.clear();
        eprintln!("{} ({:.1} min)", summary(&tally, &trials), started.elapsed().as_secs_f64() / 60.0);
        for (name, error) in &tally.failed {
            eprintln!("  failed: {name}: {}", sprs::escape::controls(error));
        }
        let stopped = !tally.stopped.is_empty() || tally.unstarted > 0;
        if let (true, Some(signal), Some(code)) = (stopped, sweep.stop.requested(), sweep.stop.exit_code()) {
            // Nothing is concluded: the trials stopped are not done, and results.csv is rebuilt by
            // the run that finishes them.
            eprintln!(
                "stopped by {}: {} trial{} checkpointed; `sprs run` again continues {}",
                sprs::sweep::signal_name(signal),
                tally.stopped.len(),
                super::plural(tally.stopped.len()),
                if tally.stopped.len() == 1 { "it" } else { "them" },
            );
            return Err(CliError::Stopped(code));
        }
        let concluded = conclude(&plan, &fits, &store, &access, &sources, color);
        if tally.failed.is_empty() && concluded {
            Ok(())
        } else {
            Err(CliError::Reported)
        }
    }
}

/// Writes `results.csv`, the fits and the report once every trial has a result, and prints where
/// they are and what went wrong; `false` if anything failed.
fn conclude(
    plan: &sprs::plan::Plan,
    fits: &[sprs::check::FitSpec],
    store: &Store,
    access: &sprs::access::Access,
    sources: &sprs::check::SourceMap,
    color: bool,
) -> bool {
    let conclusion = sprs::sweep::conclude(plan, fits, store, access);
    match &conclusion.results {
        Ok((csv, _)) => eprintln!("results: {}", sprs::escape::path(csv)),
        Err(error) => eprintln!("error: cannot write results.csv: {}", sprs::escape::controls(&error.to_string())),
    }
    if conclusion.results.is_ok() && conclusion.missing > 0 {
        let missing = conclusion.missing;
        eprintln!(
            "{missing} trial{} of the file {} no result yet: the fits and the report wait for them",
            super::plural(missing),
            if missing == 1 { "has" } else { "have" }
        );
    }
    let renderer = Renderer { sources, color, width: 100 };
    let print = |diags: &[Diag]| diags.iter().for_each(|d| eprintln!("{}", renderer.human(d)));
    for outcome in &conclusion.fits {
        print(&outcome.diagnostics);
        if let Some(Err(error)) = &outcome.written {
            eprintln!("error: {}", sprs::escape::controls(&error.to_string()));
        }
    }
    print(&conclusion.diagnostics);
    match &conclusion.report {
        Some(Ok(report)) => {
            for fitted in conclusion.fits.iter().filter_map(|o| o.fitted.as_ref()) {
                println!("{}", sprs::fit::table::summary(fitted));
            }
            if conclusion.fits.iter().any(|o| o.fitted.is_some()) {
                eprintln!("fits: {}", sprs::escape::path(&store.fits_dir()));
            }
            eprintln!("report: {}", sprs::escape::path(report));
        }
        Some(Err(error)) => {
            eprintln!("error: cannot write the report: {}", sprs::escape::controls(&error.to_string()))
        }
        None => {}
    }
    !conclusion.failed()
}

/// `24 trials: 20 trained, 3 already done, 1 failed; peak memory ..`
fn summary(tally: &sprs::sweep::Tally, trials: &[&PlannedTrial]) -> String {
    let mut summary = format!(
        "{} trial{}: {} trained, {} already done, {} failed",
        tally.trials,
        if tally.trials == 1 { "" } else { "s" },
        tally.trained.len(),
        tally.skipped,
        tally.failed.len()
    );
    if !tally.busy.is_empty() {
        summary.push_str(&format!(", {} running in another process", tally.busy.len()));
    }
    if let (false, Some(peak)) = (tally.trained.is_empty(), sprs::plan::memory::process_peak()) {
        let estimate = trials.iter().map(|t| t.memory.total).max().unwrap_or(0);
        summary.push_str(&format!(
            "; peak memory {} (largest estimate {})",
            sprs::format::bytes(peak),
            sprs::format::bytes(estimate)
        ));
    }
    summary
}

/// A running trial's bar, when it started here, and the first step it ran here.
type Running = (ProgressBar, Instant, Option<u64>);

/// The sweep on a terminal: a bar for the whole sweep, one per running trial below it, and a line
/// per event worth keeping. Without a terminal, the lines alone.
struct Bars {
    bars: MultiProgress,
    overall: ProgressBar,
    /// Each running trial, by id.
    running: Mutex<HashMap<String, Running>>,
    root: PathBuf,
}

impl Bars {
    fn new(color: bool, root: PathBuf) -> Bars {
        let target = if color { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let bars = MultiProgress::with_draw_target(target);
        let style = ProgressStyle::with_template("trials {pos}/{len}  elapsed {elapsed}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let overall = bars.add(ProgressBar::new(0).with_style(style));
        Bars { bars, overall, running: Mutex::new(HashMap::new()), root }
    }

    /// A line above the bars. Lines can hold what a file wrote (a path in an error): escaped.
    fn say(&self, line: String) {
        let line = sprs::escape::controls(&line).into_owned();
        if self.bars.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.bars.println(line);
        }
    }

    fn clear(&self) {
        self.overall.finish_and_clear();
        let _ = self.bars.clear();
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Progress for Bars {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Start { pending, total, jobs } => {
                self.overall.set_length(pending as u64);
                eprintln!(
                    "training {pending} of {total} trials, {} at a time ({} thread{} each), into {}",
                    jobs.jobs,
                    jobs.threads,
                    if jobs.threads == 1 { "" } else { "s" },
                    sprs::escape::path(&self.root)
                );
            }
            Event::Busy(trial) => {
                self.say(format!("{}: running in another process, left to it", trial.name));
                self.overall.inc(1);
            }
            Event::Begin { trial, position, count, resuming } => {
                let bar = self.bars.add(trial_bar(trial, position, count));
                self.running().insert(trial.id.clone(), (bar, Instant::now(), None));
                if resuming {
                    self.say(format!("{}: resuming from its checkpoint", trial.name));
                }
            }
            Event::Step { trial, report } => {
                let mut running = self.running();
                let Some((bar, started, first)) = running.get_mut(&trial.id) else { return };
                // The rate counts the steps of this process only, not those before a resume.
                let first = *first.get_or_insert(report.step);
                let steps = (report.step + 1 - first) as f64;
                bar.set_position(report.step + 1);
                bar.set_message(format!(
                    "loss {:.3}  {:.0} tokens/s  sparsity {:.0}%",
                    report.loss,
                    steps * trial.tokens_per_step as f64 / started.elapsed().as_secs_f64().max(1e-9),
                    report.sparsity * 100.0
                ));
            }
            Event::Warning { trial, message } => self.say(format!("{}: warning: {message}", trial.name)),
            Event::End { trial, outcome } => {
                if let Some((bar, ..)) = self.running().remove(&trial.id) {
                    bar.finish_and_clear();
                    self.bars.remove(&bar);
                }
                // The trial's speed as its `speed.json` has it (the report shows the same).
                let store = Store { root: self.root.clone() };
                let speed = store.speed(&trial.id).filter(|speed| speed.tokens_per_second > 0.0);
                match outcome {
                    Outcome::Trained { result, seconds } => self.say(format!(
                        "{}: loss {:.4}, N_avg {}, {seconds:.1}s{}",
                        trial.name,
                        result.l.unwrap_or(f64::NAN),
                        sprs::format::si(result.observables.n_avg),
                        speed
                            .map(|s| format!(
                                ", {} tokens/s{}",
                                sprs::format::si(s.tokens_per_second),
                                s.mfu.map(|mfu| format!(" ({:.1}% MFU)", mfu * 100.0)).unwrap_or_default()
                            ))
                            .unwrap_or_default()
                    )),
                    Outcome::Failed(error) => self.say(format!("{}: failed: {error}", trial.name)),
                    Outcome::AlreadyDone => {}
                    Outcome::Stopped { step } => {
                        self.say(format!("{}: checkpointed at step {step} of {}", trial.name, trial.steps))
                    }
                }
                self.overall.inc(1);
            }
            Event::ResultsUnwritten(error) => self.say(format!("error: cannot write results.csv: {error}")),
        }
    }
}

fn trial_bar(planned: &PlannedTrial, index: usize, count: usize) -> ProgressBar {
    let style = ProgressStyle::with_template("{prefix}\n  [{bar:30}] {pos}/{len} steps  {msg}  eta {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = ProgressBar::new(planned.steps).with_style(style);
    bar.set_prefix(format!("[{}/{count}] {}", index + 1, planned.name));
    bar
}
