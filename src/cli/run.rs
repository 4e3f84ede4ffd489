//! `sprs run FILE`: trains every trial of the file whose result is missing, several side by side,
//! then fits the file's laws and writes the report.
//!
//! Each trial is claimed with a lock in its folder before it trains ([`Store::claim`]), so
//! processes that share a results folder (`--shard I/N` on many machines, or a rerun started by
//! mistake beside a running one) never train one trial twice.

use std::collections::VecDeque;
use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sprs::diagnostic::Format;
use sprs::plan::PlannedTrial;
use sprs::store::{Status, Store, TrialResult};
use sprs::train::backend::{Backend, Target};

pub struct Options<'a> {
    pub only: Option<&'a str>,
    pub out: Option<&'a Path>,
    pub backend: Backend,
    pub device: Target,
    pub checkpoint_every: std::time::Duration,
    /// Trials trained side by side; `None` chooses (see [`Jobs::choose`]).
    pub jobs: Option<usize>,
    pub shard: Option<Shard>,
    /// How the file is checked (`--set`, `--root`, `--allow-read`, limits).
    pub check: &'a sprs::check::Options,
}

/// `--shard I/N`: the trials whose position in the file's plan is I-1 modulo N. Positions are
/// stable for a given file and `--set`, so N machines given 1/N ... N/N cover every trial once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    fn takes(self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let usage = || format!("`{text}` is not a shard: write I/N with 1 <= I <= N, as in `--shard 2/4`");
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let index: usize = index.trim().parse().map_err(|_| usage())?;
        let count: usize = count.trim().parse().map_err(|_| usage())?;
        if index == 0 || index > count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

/// How trials share the machine: `jobs` trials at once, each with `threads` compute threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Jobs {
    jobs: usize,
    threads: usize,
}

impl Jobs {
    /// With the pure-Rust backends on the CPU, one trial per core by default: the toy models of a
    /// laptop sweep keep one core busy each and gain little from a second (measured: 95 ms a step
    /// at width 80 on one thread, 90 ms on two), so trials side by side finish sooner than trials
    /// one after another with every thread. LibTorch keeps its own threads, and an accelerator
    /// its own queue: there, one trial at a time unless asked.
    fn choose(asked: Option<usize>, pending: usize, cores: usize, backend: Backend, target: Target) -> Jobs {
        let jobs = match (asked, backend, target) {
            (Some(jobs), ..) => jobs,
            (None, Backend::Flex | Backend::Ndarray, Target::Cpu) => cores,
            (None, ..) => 1,
        };
        let jobs = jobs.clamp(1, pending.max(1));
        Jobs { jobs, threads: (cores / jobs).max(1) }
    }
}

/// What became of the trials this process was given.
#[derive(Default)]
struct Tally {
    trained: Vec<String>,
    skipped: usize,
    /// Held by another process.
    busy: Vec<String>,
    failed: Vec<(String, String)>,
}

pub fn run(path: &Path, options: Options, color: bool) -> ExitCode {
    let super::Planned { plan, fits, sources, access } = match super::planned(path, options.check, Format::Human, color)
    {
        Ok(planned) => planned,
        Err(code) => return code,
    };
    let device = match options.backend.device(options.device) {
        Ok(device) => device,
        Err(error) => return super::usage_error(&error),
    };
    let named: Vec<&PlannedTrial> = plan
        .trials
        .iter()
        .filter(|t| options.only.is_none_or(|only| t.name == only || t.sweep.as_deref() == Some(only)))
        .collect();
    if named.is_empty() {
        return super::usage_error(&format!(
            "no trial of `{}` is named `{}`",
            path.display(),
            options.only.unwrap_or_default()
        ));
    }
    let trials: Vec<&PlannedTrial> = match options.shard {
        Some(shard) => named.iter().enumerate().filter(|(i, _)| shard.takes(*i)).map(|(_, t)| *t).collect(),
        None => named,
    };
    let store = match Store::new(options.out, path) {
        Ok(store) => store,
        Err(error) => return super::usage_error(&error.to_string()),
    };
    let order: Vec<&str> = plan.trials.iter().map(|t| t.id.as_str()).collect();

    let finished = |t: &PlannedTrial| {
        let done = store.result(&t.id).is_some_and(|r| r.status == Status::Ok);
        if done {
            let _ = store.drop_checkpoint(&t.id);
        }
        done
    };
    let mut pending: Vec<(usize, &PlannedTrial)> =
        trials.iter().copied().enumerate().filter(|(_, t)| !finished(t)).collect();
    // Longest first (by dense compute, 6 N D), so that side by side no job is left with one long
    // trial at the end while the others idle.
    pending.sort_by(|a, b| b.1.c_dense.total_cmp(&a.1.c_dense).then(a.0.cmp(&b.0)));
    let pending = VecDeque::from(pending);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let jobs = Jobs::choose(options.jobs, pending.len(), cores, options.backend, options.device);
    let started = Instant::now();
    let shared = Mutex::new(Tally { skipped: trials.len() - pending.len(), ..Tally::default() });
    if !pending.is_empty() {
        eprintln!(
            "training {} of {} trials, {} at a time ({} thread{} each), into {}",
            pending.len(),
            trials.len(),
            jobs.jobs,
            jobs.threads,
            if jobs.threads == 1 { "" } else { "s" },
            store.root.display()
        );
    }
    let bars = MultiProgress::with_draw_target(if color {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    // Lines can hold what a file wrote (a path in an error): escaped for the terminal.
    let say = |line: String| {
        let line = sprs::escape::controls(&line).into_owned();
        if bars.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = bars.println(line);
        }
    };
    // The whole sweep on top, a bar per running trial below it.
    let overall = bars.add(
        ProgressBar::new(pending.len() as u64).with_style(
            ProgressStyle::with_template("trials {pos}/{len}  elapsed {elapsed}  eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
    );
    let queue = Mutex::new(pending);
    let rebuilt: Mutex<Option<Instant>> = Mutex::new(None);
    let count = trials.len();
    std::thread::scope(|scope| {
        for _ in 0..jobs.jobs {
            scope.spawn(|| {
                let pool = match rayon::ThreadPoolBuilder::new().num_threads(jobs.threads).build() {
                    Ok(pool) => pool,
                    Err(error) => return say(format!("error: cannot start a thread pool: {error}")),
                };
                // The queue's lock is held only while taking the next trial.
                let next = || lock(&queue).pop_front();
                while let Some((index, planned)) = next() {
                    let claim = match store.claim(&planned.id) {
                        Ok(Some(claim)) => claim,
                        Ok(None) => {
                            say(format!("{}: running in another process, left to it", planned.name));
                            lock(&shared).busy.push(planned.name.clone());
                            overall.inc(1);
                            continue;
                        }
                        Err(error) => {
                            let error = format!("cannot lock its folder: {error}");
                            say(format!("{}: failed: {error}", planned.name));
                            lock(&shared).failed.push((planned.name.clone(), error));
                            overall.inc(1);
                            continue;
                        }
                    };
                    // Another process may have finished it between the first look and the claim.
                    if finished(planned) {
                        lock(&shared).skipped += 1;
                        overall.inc(1);
                        continue;
                    }
                    let bar = bars.add(trial_bar(planned, index, count));
                    if store.checkpoint(&planned.id).exists() {
                        say(format!("{}: resuming from its checkpoint", planned.name));
                    }
                    let clock = Instant::now();
                    let result =
                        pool.install(|| train(planned, &access, &device, &store, options.checkpoint_every, &bar, &say));
                    bar.finish_and_clear();
                    bars.remove(&bar);
                    let written = store.finish(&result);
                    drop(claim);
                    let mut tally = lock(&shared);
                    match (written, result.status, result.l) {
                        (Err(error), ..) => {
                            let error = format!("cannot write its result: {error}");
                            say(format!("{}: failed: {error}", planned.name));
                            tally.failed.push((planned.name.clone(), error));
                        }
                        (Ok(()), Status::Ok, Some(loss)) => {
                            say(format!(
                                "{}: loss {loss:.4}, N_avg {}, {:.1}s",
                                planned.name,
                                sprs::plan::si(result.n_avg),
                                clock.elapsed().as_secs_f64()
                            ));
                            tally.trained.push(planned.name.clone());
                        }
                        (Ok(()), ..) => {
                            let error = result.error.clone().unwrap_or_default();
                            say(format!("{}: failed: {error}", planned.name));
                            tally.failed.push((planned.name.clone(), error));
                        }
                    }
                    drop(tally);
                    overall.inc(1);
                    // Kept current while a long sweep runs: rebuilt after a trial, at most every
                    // 30 s (a rebuild reads every folder), and once more at the end.
                    let mut last = lock(&rebuilt);
                    if last.is_none_or(|at| at.elapsed().as_secs() >= 30) {
                        if let Err(error) = sprs::store::rebuild_results(&store, &order) {
                            say(format!("error: cannot write results.csv: {error}"));
                        }
                        *last = Some(Instant::now());
                    }
                }
            });
        }
    });
    overall.finish_and_clear();
    let _ = bars.clear();
    let tally = shared.into_inner().unwrap_or_else(|e| e.into_inner());
    let results = sprs::store::rebuild_results(&store, &order);
    let mut summary = format!(
        "{} trial{}: {} trained, {} already done, {} failed",
        trials.len(),
        if trials.len() == 1 { "" } else { "s" },
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
            sprs::plan::memory::bytes(peak),
            sprs::plan::memory::bytes(estimate)
        ));
    }
    eprintln!("{summary} ({:.1} min)", started.elapsed().as_secs_f64() / 60.0);
    for (name, error) in &tally.failed {
        eprintln!("  failed: {name}: {error}");
    }
    let results = match results {
        Ok((csv, rows)) => {
            eprintln!("results: {}", csv.display());
            rows
        }
        Err(error) => {
            eprintln!("error: cannot write results.csv: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Fits and the report need every trial of the file: a shard, `--only`, or a trial another
    // process is running leaves them to the process that finishes last (or to `sprs fit`).
    let on_disk: std::collections::HashSet<&str> = results.iter().map(|r| r.result.id.as_str()).collect();
    let missing = plan.trials.iter().filter(|t| !on_disk.contains(t.id.as_str())).count();
    let mut fits_failed = false;
    if missing > 0 {
        eprintln!(
            "{missing} trial{} of the file {} no result yet: the fits and the report wait for them",
            if missing == 1 { "" } else { "s" },
            if missing == 1 { "has" } else { "have" }
        );
    } else {
        let renderer = sprs::diagnostic::Renderer { sources: &sources, color, width: 100 };
        let print = |diags: &[sprs::diagnostic::Diag]| diags.iter().for_each(|d| eprintln!("{}", renderer.human(d)));
        let (fitted, unwritten) = super::fit::fit_and_write(&fits, &plan, &store, &access, false, &print);
        fits_failed = fitted.len() < fits.len() || unwritten > 0;
        let comparisons = super::fit::comparisons(&fits, &fitted, &plan, &store, &access, &print);
        match sprs::report::write(&store, &plan, &results, &fitted, &comparisons) {
            Ok(report) => {
                for fitted in &fitted {
                    println!("{}", super::fit::summary(fitted));
                }
                if !fitted.is_empty() {
                    eprintln!("fits: {}", store.fits_dir().display());
                }
                eprintln!("report: {}", report.display());
            }
            Err(error) => {
                eprintln!("error: cannot write the report: {error}");
                fits_failed = true;
            }
        }
    }
    if tally.failed.is_empty() && !fits_failed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Trains one trial, showing its steps on `bar`.
fn train(
    planned: &PlannedTrial,
    access: &sprs::access::Access,
    device: &sprs::train::backend::Device,
    store: &Store,
    checkpoint_every: std::time::Duration,
    bar: &ProgressBar,
    say: &dyn Fn(String),
) -> TrialResult {
    let started = Instant::now();
    let mut first = None;
    let tokens_per_step = planned.tokens_per_step as f64;
    sprs::train::run::run(
        planned,
        access,
        device,
        store,
        checkpoint_every,
        &mut |report| {
            // The rate counts the steps of this process only, not those before a resume.
            let first = *first.get_or_insert(report.step);
            let steps = (report.step + 1 - first) as f64;
            bar.set_position(report.step + 1);
            bar.set_message(format!(
                "loss {:.3}  {:.0} tokens/s  sparsity {:.0}%",
                report.loss,
                steps * tokens_per_step / started.elapsed().as_secs_f64().max(1e-9),
                report.sparsity * 100.0
            ));
        },
        &mut |warning| say(format!("{}: warning: {warning}", planned.name)),
    )
}

fn trial_bar(planned: &PlannedTrial, index: usize, count: usize) -> ProgressBar {
    let style = ProgressStyle::with_template("{prefix}\n  [{bar:30}] {pos}/{len} steps  {msg}  eta {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = ProgressBar::new(planned.steps).with_style(style);
    bar.set_prefix(format!("[{}/{count}] {}", index + 1, planned.name));
    bar
}

/// A mutex's value, also after a thread panicked while holding it (the tallies stay usable).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_cover_every_position_once() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "1", "a/b", "1/0", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let shards: Vec<Shard> = (1..=3).map(|i| Shard { index: i, count: 3 }).collect();
        for position in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.takes(position)).count(), 1);
        }
    }

    #[test]
    fn jobs_divide_the_cores() {
        let (flex, tch, cpu) = (Backend::Flex, Backend::Tch, Target::Cpu);
        assert_eq!(Jobs::choose(None, 24, 2, flex, cpu), Jobs { jobs: 2, threads: 1 });
        assert_eq!(Jobs::choose(None, 1, 16, flex, cpu), Jobs { jobs: 1, threads: 16 });
        assert_eq!(Jobs::choose(Some(4), 24, 16, flex, cpu), Jobs { jobs: 4, threads: 4 });
        assert_eq!(Jobs::choose(None, 24, 16, tch, Target::Cuda(0)), Jobs { jobs: 1, threads: 16 });
        assert_eq!(Jobs::choose(None, 24, 16, tch, cpu), Jobs { jobs: 1, threads: 16 });
        assert_eq!(Jobs::choose(Some(0), 24, 2, flex, cpu), Jobs { jobs: 1, threads: 2 });
        assert_eq!(Jobs::choose(Some(8), 24, 2, flex, cpu), Jobs { jobs: 8, threads: 1 });
    }
}
