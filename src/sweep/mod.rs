//! Running a plan's trials, several side by side, into a results folder; then, once every trial
//! of the file has a result, its fits and its report ([`conclude`]). The command line, a Slurm
//! worker and a language server call these and show the [`Event`]s as they like.
//!
//! Each trial is claimed with a lock in its folder before it trains ([`Store::claim`]), so
//! processes that share a results folder (`--shard I/N` on many machines, or a rerun started by
//! mistake beside a running one) never train one trial twice.

mod conclude;
mod options;
mod stop;

pub use conclude::{conclude, Conclusion};
pub use options::{Jobs, Options, Shard};
pub use stop::{signal_name, Stop, REQUEUE};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use crate::access::Access;
use crate::config::Precision;
use crate::plan::{Plan, PlannedTrial};
use crate::store::{RanOn, Status, Store, TrialResult};
use crate::train::backend::{Backend, Device, Target};
use crate::train::run::Ran;
use crate::train::trainer::StepReport;

/// What happens while trials train, for whoever shows it.
#[derive(Debug)]
pub enum Event<'a> {
    /// Training begins: `pending` of the `total` trials given, `jobs.jobs` at a time.
    Start {
        /// Trials not finished yet.
        pending: usize,
        /// Trials given.
        total: usize,
        /// Trials at once and threads each.
        jobs: Jobs,
    },
    /// Another process holds the trial: it is left to it.
    Busy(&'a PlannedTrial),
    /// A trial begins, or continues from its checkpoint; `position` counts from 0 among `count`.
    Begin {
        /// The trial.
        trial: &'a PlannedTrial,
        /// Its position among the trials this process trains.
        position: usize,
        /// How many trials this process trains.
        count: usize,
        /// Whether it continues from a checkpoint.
        resuming: bool,
    },
    /// A step of a trial was taken (reported every few steps and at evaluations).
    Step {
        /// The trial.
        trial: &'a PlannedTrial,
        /// What the step measured.
        report: &'a StepReport,
    },
    /// Something about a trial worth knowing that does not stop it.
    Warning {
        /// The trial.
        trial: &'a PlannedTrial,
        /// The warning.
        message: String,
    },
    /// A trial is over.
    End {
        /// The trial.
        trial: &'a PlannedTrial,
        /// How it ended.
        outcome: Outcome<'a>,
    },
    /// `results.csv` could not be rebuilt during the sweep (it is tried again at the end).
    ResultsUnwritten(String),
}

/// How a trial ended.
#[derive(Debug)]
pub enum Outcome<'a> {
    /// It trained to the end.
    Trained {
        /// Its observables.
        result: &'a TrialResult,
        /// Wall-clock seconds this process spent on it.
        seconds: f64,
    },
    /// It failed, for this reason (kept in its `result.json`).
    Failed(String),
    /// Another process finished it first.
    AlreadyDone,
    /// A stop was requested: it saved a checkpoint to continue from at `step`.
    Stopped {
        /// The first step the next run takes.
        step: u64,
    },
}

/// Shows the events of a sweep; called from the threads that train.
pub trait Progress: Sync {
    /// Shows one event.
    fn event(&self, event: Event<'_>);
}

/// What became of the trials given.
#[derive(Debug, Default)]
pub struct Tally {
    /// Trials given.
    pub trials: usize,
    /// The names of the trials this process trained.
    pub trained: Vec<String>,
    /// Finished before (by this or another process).
    pub skipped: usize,
    /// Held by another process.
    pub busy: Vec<String>,
    /// Names and errors.
    pub failed: Vec<(String, String)>,
    /// Stopped with a checkpoint, to continue in the next run.
    pub stopped: Vec<String>,
    /// Not begun because a stop was requested.
    pub unstarted: usize,
}

/// The trials of `plan` that `options` select (`--only`, then `--shard`); an error names what
/// `--only` asked for when nothing has that name.
pub fn select<'p>(plan: &'p Plan, options: &Options) -> Result<Vec<&'p PlannedTrial>, String> {
    let named: Vec<&PlannedTrial> = plan
        .trials
        .iter()
        .filter(|t| options.only.as_deref().is_none_or(|only| t.name == only || t.sweep.as_deref() == Some(only)))
        .collect();
    if named.is_empty() {
        return Err(format!("no trial is named `{}`", options.only.as_deref().unwrap_or_default()));
    }
    Ok(match options.shard {
        Some(shard) => named.iter().enumerate().filter(|(i, _)| shard.takes(*i)).map(|(_, t)| *t).collect(),
        None => named,
    })
}

/// Trains every one of `trials` that has no result yet into `store`, reading data through
/// `access`, on the devices of `options` (trial slots go round them), and tells `progress` what
/// happens. `results.csv` (in the plan's trial order) is rebuilt after a trial at most every
/// 30 s, since a rebuild reads every folder. `Err` if the machine cannot start the threads.
pub fn train(
    plan: &Plan,
    trials: &[&PlannedTrial],
    store: &Store,
    access: &Access,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Tally, String> {
    let pending = pending(trials, store);
    precision_fits(pending.iter().map(|(_, t)| *t), options)?;
    let cores = options.cores.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let jobs = Jobs::choose(options.jobs, pending.len(), cores, options.backend, &options.devices);
    let tally = Tally { trials: trials.len(), skipped: trials.len() - pending.len(), ..Tally::default() };
    if pending.is_empty() {
        return Ok(tally);
    }
    progress.event(Event::Start { pending: pending.len(), total: trials.len(), jobs });
    let slots = Slot::start(jobs, options)?;
    let sweep = Sweep {
        store,
        access,
        options,
        progress,
        order: plan.trials.iter().map(|t| t.id.as_str()).collect(),
        hparams: hparams(plan),
        count: trials.len(),
        queue: Mutex::new(VecDeque::from(pending)),
        tally: Mutex::new(tally),
        rebuilt: Mutex::new(None),
    };
    std::thread::scope(|scope| {
        for slot in &slots {
            scope.spawn(|| sweep.work(slot));
        }
    });
    let mut tally = lock_into(sweep.tally);
    tally.unstarted = lock_into(sweep.queue).len();
    Ok(tally)
}

/// The variable that makes LibTorch compute f32 matrix products in TF32 on CUDA: read once, when
/// LibTorch starts, for the whole process.
pub const TF32_VARIABLE: &str = "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE";

/// Whether `trials` can run as their `precision` asks on the devices of `options`: `tf32` only
/// on CUDA, where it is a setting of the whole LibTorch process ([`TF32_VARIABLE`]), so the
/// variable must be set for `tf32` trials and unset for `f32` ones; `bf16` wherever the backend
/// has bf16 tensors (flex and LibTorch).
fn precision_fits<'p>(trials: impl Iterator<Item = &'p PlannedTrial>, options: &Options) -> Result<(), String> {
    let cuda = options.backend == Backend::Tch && options.devices.targets().iter().all(|t| *t != Target::Cpu);
    let tf32_on = std::env::var_os(TF32_VARIABLE).is_some_and(|v| v == "1");
    for trial in trials {
        let name = &trial.name;
        match trial.config.precision {
            Precision::Tf32 if !cuda => {
                return Err(format!(
                    "trial `{name}` has `precision = tf32`, which only CUDA devices compute: run it with `--backend tch --device cuda:N`, or write `precision = f32`"
                ))
            }
            Precision::Tf32 if !tf32_on => {
                return Err(format!(
                    "trial `{name}` has `precision = tf32`: LibTorch computes TF32 for the whole process when it starts with {TF32_VARIABLE}=1 in its environment; set it (and run f32 trials apart, with `--only`)"
                ))
            }
            Precision::F32 if cuda && tf32_on => {
                return Err(format!(
                    "trial `{name}` has `precision = f32`, but {TF32_VARIABLE}=1 makes LibTorch compute TF32: unset it for f32 trials, or run them apart with `--only`"
                ))
            }
            Precision::Bf16 if options.backend == Backend::Ndarray => {
                return Err(format!(
                    "trial `{name}` has `precision = bf16`, which the ndarray backend does not compute: use `--backend flex` or `--backend tch`"
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The trials without a result, each with its position among `trials`, longest first (by dense
/// compute, 6 N D), so that side by side no job is left with one long trial at the end while
/// the others idle.
fn pending<'p>(trials: &[&'p PlannedTrial], store: &Store) -> Vec<(usize, &'p PlannedTrial)> {
    let mut pending: Vec<(usize, &PlannedTrial)> =
        trials.iter().copied().enumerate().filter(|(_, t)| !finished(store, t)).collect();
    pending.sort_by(|a, b| b.1.observables.c_dense.total_cmp(&a.1.observables.c_dense).then(a.0.cmp(&b.0)));
    pending
}

/// Whether a trial has its result; a finished trial's leftover checkpoint is removed.
fn finished(store: &Store, trial: &PlannedTrial) -> bool {
    let done = store.done(&trial.id).is_some();
    if done {
        let _ = store.drop_checkpoint(&trial.id);
    }
    done
}

/// One place trials train side by side: a device and a thread pool of its own.
struct Slot {
    device: Device,
    /// The backend and device by name.
    ran_on: RanOn,
    pool: rayon::ThreadPool,
}

impl Slot {
    /// `jobs.jobs` slots of `jobs.threads` threads each, going round the devices of `options`.
    fn start(jobs: Jobs, options: &Options) -> Result<Vec<Slot>, String> {
        (0..jobs.jobs)
            .map(|slot| {
                let target = options.devices.of_slot(slot);
                let device = options.backend.device(target)?;
                let ran_on = RanOn { backend: options.backend.name().into(), device: target.to_string() };
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(jobs.threads)
                    .build()
                    .map_err(|error| format!("cannot start a thread pool: {error}"))?;
                Ok(Slot { device, ran_on, pool })
            })
            .collect()
    }
}

/// What the slots of one call of [`train`] share.
struct Sweep<'a> {
    store: &'a Store,
    access: &'a Access,
    options: &'a Options,
    progress: &'a dyn Progress,
    /// The plan's trial ids in order, for `results.csv`.
    order: Vec<&'a str>,
    hparams: HashMap<&'a str, BTreeMap<String, serde_json::Value>>,
    /// How many trials this process was given.
    count: usize,
    /// The trials not yet taken; its lock is held only while taking the next one.
    queue: Mutex<VecDeque<(usize, &'a PlannedTrial)>>,
    tally: Mutex<Tally>,
    /// When `results.csv` was last rebuilt.
    rebuilt: Mutex<Option<Instant>>,
}

impl Sweep<'_> {
    /// Trains trials from the queue on `slot` until it is empty or a stop is requested (which
    /// leaves the trials not begun to the next run).
    fn work(&self, slot: &Slot) {
        let next = || if self.options.stop.requested().is_some() { None } else { lock(&self.queue).pop_front() };
        while let Some((position, trial)) = next() {
            self.one(slot, position, trial);
        }
    }

    /// Claims, trains and records one trial.
    fn one(&self, slot: &Slot, position: usize, trial: &PlannedTrial) {
        let end = |outcome| self.progress.event(Event::End { trial, outcome });
        let claim = match claim(self.store, &trial.id) {
            Ok(Some(claim)) => claim,
            Ok(None) => {
                lock(&self.tally).busy.push(trial.name.clone());
                self.progress.event(Event::Busy(trial));
                return;
            }
            Err(error) => {
                let error = format!("cannot lock its folder: {error}");
                lock(&self.tally).failed.push((trial.name.clone(), error.clone()));
                return end(Outcome::Failed(error));
            }
        };
        // Another process may have finished it between the first look and the claim.
        if finished(self.store, trial) {
            lock(&self.tally).skipped += 1;
            return end(Outcome::AlreadyDone);
        }
        let resuming = self.store.checkpoint(&trial.id).exists();
        self.progress.event(Event::Begin { trial, position, count: self.count, resuming });
        let clock = Instant::now();
        let result = match slot.pool.install(|| self.run(slot, trial)) {
            Ran::Done(result) => result,
            Ran::Stopped { step } => {
                drop(claim);
                lock(&self.tally).stopped.push(trial.name.clone());
                return end(Outcome::Stopped { step });
            }
        };
        let written = self.store.finish(&result);
        drop(claim);
        let outcome = match (written, result.status) {
            (Err(error), _) => Outcome::Failed(format!("cannot write its result: {error}")),
            (Ok(()), Status::Ok) => Outcome::Trained { result: &result, seconds: clock.elapsed().as_secs_f64() },
            (Ok(()), Status::Failed) => Outcome::Failed(result.error.clone().unwrap_or_default()),
        };
        match &outcome {
            Outcome::Failed(error) => lock(&self.tally).failed.push((trial.name.clone(), error.clone())),
            _ => lock(&self.tally).trained.push(trial.name.clone()),
        }
        end(outcome);
        self.rebuild_results();
    }

    /// Trains `trial` on `slot`'s device, passing its steps and warnings on as events.
    fn run(&self, slot: &Slot, trial: &PlannedTrial) -> Ran {
        let settings = crate::train::run::Settings {
            checkpoint_every: self.options.checkpoint_every,
            keep_weights: self.options.keep_weights,
            hparams: self.hparams.get(trial.id.as_str()).cloned().unwrap_or_default(),
        };
        let place = crate::train::run::Place {
            access: self.access,
            device: &slot.device,
            ran_on: slot.ran_on.clone(),
            store: self.store,
        };
        let hooks = crate::train::run::Hooks {
            stop: &|| self.options.stop.requested().is_some(),
            progress: &mut |report| self.progress.event(Event::Step { trial, report }),
            warn: &mut |message| self.progress.event(Event::Warning { trial, message }),
        };
        crate::train::run::run(trial, &place, &settings, hooks)
    }

    /// Rebuilds `results.csv` unless that was done less than 30 s ago.
    fn rebuild_results(&self) {
        let mut last = lock(&self.rebuilt);
        if last.is_none_or(|at| at.elapsed().as_secs() >= 30) {
            if let Err(error) = crate::store::rebuild_results(self.store, &self.order) {
                self.progress.event(Event::ResultsUnwritten(error.to_string()));
            }
            *last = Some(Instant::now());
        }
    }
}

/// Each trial's hyperparameters for TensorBoard, by id: the configuration paths whose values
/// differ between the plan's trials (as `results.csv` has them), and the sweep or train it comes from.
fn hparams(plan: &Plan) -> HashMap<&str, BTreeMap<String, serde_json::Value>> {
    let leaves: Vec<BTreeMap<String, serde_json::Value>> = plan
        .trials
        .iter()
        .map(|t| crate::store::leaves(&serde_json::to_value(&t.config).unwrap_or_default()))
        .collect();
    let paths = crate::store::varying(&leaves);
    plan.trials
        .iter()
        .zip(&leaves)
        .map(|(trial, leaf)| {
            let mut hparams: BTreeMap<String, serde_json::Value> =
                paths.iter().filter_map(|p| Some((p.clone(), leaf.get(p)?.clone()))).collect();
            let group = trial.sweep.clone().unwrap_or_else(|| trial.name.clone());
            hparams.insert("sweep".into(), serde_json::Value::String(group));
            (trial.id.as_str(), hparams)
        })
        .collect()
}

/// Claims a trial, trying again twice over 100 ms when it is held: `sprs status` holds a trial's
/// lock for an instant to see whether a process runs it, and a worker that met that probe must
/// not leave the trial to nobody.
fn claim(store: &Store, id: &str) -> std::io::Result<Option<crate::store::Claim>> {
    for _ in 0..2 {
        match store.claim(id)? {
            Some(claim) => return Ok(Some(claim)),
            None => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    store.claim(id)
}

/// A mutex's value, also after a thread panicked while holding it (the tallies stay usable).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn lock_into<T>(mutex: Mutex<T>) -> T {
    mutex.into_inner().unwrap_or_else(|e| e.into_inner())
}
