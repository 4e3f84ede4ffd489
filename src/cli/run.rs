//! `sprs run FILE`: the library trains the file's trials ([`sprs::sweep::train`]) and, once all
//! have results, writes its fits and report ([`sprs::sweep::conclude`]); this shows their progress
//! with indicatif and prints the summary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sprs::diagnostic::{Diag, Format, Renderer};
use sprs::plan::PlannedTrial;
use sprs::store::Store;
use sprs::sweep::{Event, Outcome, Progress};

pub struct Options<'a> {
    pub out: Option<&'a Path>,
    pub sweep: sprs::sweep::Options,
    /// How the file is checked (`--set`, `--root`, `--allow-read`, limits).
    pub check: &'a sprs::check::Options,
}

pub fn run(path: &Path, options: Options, color: bool) -> ExitCode {
    let super::Planned { plan, fits, sources, access } = match super::planned(path, options.check, Format::Human, color)
    {
        Ok(planned) => planned,
        Err(code) => return code,
    };
    // The devices are made again per trial slot; this refuses a backend or device that cannot
    // be used before anything is written.
    for target in options.sweep.devices.targets() {
        if let Err(error) = options.sweep.backend.device(*target) {
            return super::usage_error(&error);
        }
    }
    let trials = match sprs::sweep::select(&plan, &options.sweep) {
        Ok(trials) => trials,
        Err(error) => return super::usage_error(&format!("{error} in `{}`", path.display())),
    };
    let store = match Store::new(options.out, path) {
        Ok(store) => store,
        Err(error) => return super::usage_error(&error.to_string()),
    };
    let started = Instant::now();
    let bars = Bars::new(color, store.root.clone());
    let tally = match sprs::sweep::train(&plan, &trials, &store, &access, &options.sweep, &bars) {
        Ok(tally) => tally,
        Err(error) => {
            eprintln!("error: {}", sprs::escape::controls(&error));
            return ExitCode::FAILURE;
        }
    };
    bars.clear();
    eprintln!("{} ({:.1} min)", summary(&tally, &trials), started.elapsed().as_secs_f64() / 60.0);
    for (name, error) in &tally.failed {
        eprintln!("  failed: {name}: {}", sprs::escape::controls(error));
    }
    let stopped = !tally.stopped.is_empty() || tally.unstarted > 0;
    if let (true, Some(signal), Some(code)) = (stopped, options.sweep.stop.requested(), options.sweep.stop.exit_code())
    {
        // Nothing is concluded: the trials stopped are not done, and results.csv is rebuilt by
        // the run that finishes them.
        eprintln!(
            "stopped by {}: {} trial{} checkpointed; `sprs run` again continues {}",
            sprs::sweep::signal_name(signal),
            tally.stopped.len(),
            if tally.stopped.len() == 1 { "" } else { "s" },
            if tally.stopped.len() == 1 { "it" } else { "them" },
        );
        return ExitCode::from(code);
    }

    let conclusion = sprs::sweep::conclude(&plan, &fits, &store, &access);
    match &conclusion.results {
        Ok((csv, _)) => eprintln!("results: {}", sprs::escape::path(csv)),
        Err(error) => eprintln!("error: cannot write results.csv: {}", sprs::escape::controls(&error.to_string())),
    }
    if conclusion.results.is_ok() && conclusion.missing > 0 {
        let missing = conclusion.missing;
        eprintln!(
            "{missing} trial{} of the file {} no result yet: the fits and the report wait for them",
            if missing == 1 { "" } else { "s" },
            if missing == 1 { "has" } else { "have" }
        );
    }
    let renderer = Renderer { sources: &sources, color, width: 100 };
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
    if tally.failed.is_empty() && !conclusion.failed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
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
