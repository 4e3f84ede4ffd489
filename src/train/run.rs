//! Running one planned trial to its result: steps, evaluations at `eval.every` and at the end,
//! a line of `metrics.jsonl` per step, and the observables measured on the weights.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use burn::tensor::Device;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::checkpoint::MAX_RAN_ON;
use super::trainer::{Failure, Resumed, StepReport, Trainer};
use crate::access::Access;
use crate::config::Interval;
use crate::data::text::Coder;
use crate::data::tokens::{eval_windows, Tokens};
use crate::observables::training_flops;
use crate::plan::PlannedTrial;
use crate::store::tensorboard::{Ending, Events};
use crate::store::{weights, GpuPeak, RanOn, Speed, Status, Store, TrialResult};

/// One line of `metrics.jsonl`.
#[derive(Debug, Serialize)]
pub struct MetricsLine {
    /// The step just taken, from 1.
    pub step: u64,
    /// Its training loss, in nats per token.
    pub loss: f64,
    /// The learning rate it used.
    pub lr: f64,
    /// The masks' sparsity after it.
    pub sparsity: f64,
    /// Prunable weights left after it.
    pub nonzero: u64,
    /// Held-out loss, on the steps that evaluate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_loss: Option<f64>,
}

impl MetricsLine {
    /// The line's scalars for TensorBoard, with the step's measured speed.
    fn scalars(&self, tokens_per_second: f64) -> Vec<(&'static str, f64)> {
        let mut scalars = vec![
            ("train/loss", self.loss),
            ("train/lr", self.lr),
            ("train/sparsity", self.sparsity),
            ("train/nonzero", self.nonzero as f64),
            ("train/tokens_per_second", tokens_per_second),
        ];
        scalars.extend(self.eval_loss.map(|l| ("eval/loss", l)));
        scalars
    }
}

/// How a trial runs, beside what it is.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often a running trial saves a checkpoint.
    pub checkpoint_every: Duration,
    /// Whether a finished trial keeps its weights (`model.safetensors`; `sprs run --no-weights`
    /// turns it off).
    pub keep_weights: bool,
    /// The trial's hyperparameters for TensorBoard's HParams tab: the configuration paths that
    /// differ between the trials of its file, with its values (see [`crate::store::varying`]).
    pub hparams: BTreeMap<String, serde_json::Value>,
}

/// How a call of [`run`] ended.
#[derive(Debug)]
pub enum Ran {
    /// The trial has its result (a failure is a result too).
    Done(TrialResult),
    /// A stop was requested: the trial saved a checkpoint to continue from at `step`.
    Stopped {
        /// The first step the next run takes.
        step: u64,
    },
}

/// Where a trial runs: the data it may read, the device, the results folder.
pub struct Place<'a> {
    /// What its data files may be.
    pub access: &'a Access,
    /// The backend's device.
    pub device: &'a Device,
    /// The backend and device by name, for the result to say where it trained.
    pub ran_on: RanOn,
    /// The results folder.
    pub store: &'a Store,
}

/// What a running trial asks and tells its caller.
pub struct Hooks<'a> {
    /// Whether to checkpoint and stop now.
    pub stop: &'a dyn Fn() -> bool,
    /// Called after each step.
    pub progress: &'a mut dyn FnMut(&StepReport),
    /// A message that does not fail the trial (a checkpoint set aside, TensorBoard unwritable).
    pub warn: &'a mut dyn FnMut(String),
}

/// Trains `planned` at `place`, calling `hooks.progress` after each step. Continues from the
/// trial's checkpoint if there is one that fits the trial (one that does not is renamed
/// `checkpoint.bin.invalid`, with a warning, and the trial starts over), and saves one every
/// `settings.checkpoint_every`, and at once when `hooks.stop` says so (then it returns
/// [`Ran::Stopped`]). The steps go to `metrics.jsonl` and to the trial's TensorBoard run (a
/// failure to write that is a warning, not the trial's failure); a finished trial keeps its
/// weights unless `settings` says not to.
pub fn run(planned: &PlannedTrial, place: &Place, settings: &Settings, hooks: Hooks) -> Ran {
    let Hooks { stop, progress, warn } = hooks;
    let mut board = Board { events: None, warn };
    let ran = train(planned, place, settings, stop, progress, &mut board).unwrap_or_else(|failure| {
        let result = TrialResult::failed(&planned.id, planned.observables, failure.error, failure.step);
        Ran::Done(result.ran_on(std::slice::from_ref(&place.ran_on)))
    });
    if let Ran::Done(result) = &ran {
        board.finish(planned, result);
    }
    ran
}

/// A trial's TensorBoard run, while it can be written: the first error is a warning, and the
/// trial goes on without it.
struct Board<'w> {
    events: Option<Events>,
    warn: &'w mut dyn FnMut(String),
}

impl Board<'_> {
    /// Opens the trial's run to write from `step`.
    fn open(
        &mut self,
        store: &Store,
        planned: &PlannedTrial,
        step: u64,
        hparams: &BTreeMap<String, serde_json::Value>,
    ) {
        let dir = store.tensorboard(&planned.name, &planned.id);
        let opened = dir.and_then(|dir| {
            Events::open(&dir, step, hparams)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))
        });
        match opened {
            Ok((events, lost)) => {
                if lost {
                    (self.warn)(format!(
                        "its TensorBoard events before step {step} are missing or damaged; its curves start there"
                    ));
                }
                self.events = Some(events);
            }
            Err(error) => (self.warn)(format!("no TensorBoard events: {error}")),
        }
    }

    /// Writes with `write`, or after an error warns and stops writing.
    fn write(&mut self, write: impl FnOnce(&mut Events) -> std::io::Result<()>) {
        if let Some(events) = &mut self.events {
            if let Err(error) = write(events) {
                (self.warn)(format!("TensorBoard events are no longer written: {error}"));
                self.events = None;
            }
        }
    }

    /// The result's scalars and the session's end.
    fn finish(&mut self, planned: &PlannedTrial, result: &TrialResult) {
        match (result.status, result.l) {
            (Status::Ok, Some(l)) => {
                let step = planned.steps - 1;
                self.write(|events| {
                    events.scalars(
                        step,
                        &[
                            ("result/L", l),
                            ("result/N_avg", result.observables.n_avg),
                            ("result/S", result.observables.s),
                        ],
                    )?;
                    events.end(step, Ending::Success)
                });
            }
            _ => self.write(|events| events.end(result.step.unwrap_or(0), Ending::Failure)),
        }
    }
}

/// Why a trial failed, and at which step if at a step: its result says so.
struct Failed {
    error: String,
    step: Option<u64>,
}

fn failed(error: String, step: Option<u64>) -> Failed {
    Failed { error, step }
}

/// The stages of a trial; a failure ends it early as `Err`.
fn train(
    planned: &PlannedTrial,
    place: &Place,
    settings: &Settings,
    stop: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(&StepReport),
    board: &mut Board,
) -> Result<Ran, Failed> {
    // What the trial is goes to disk before anything can fail, so that a failed trial has its
    // row in `results.csv` (which is built from `trial.json` and `result.json`).
    if let Err(error) = place.store.describe(&planned.id, planned) {
        return Err(failed(format!("cannot write trial.json: {error}"), None));
    }
    let tokens = Tokens::load(&planned.config.data, place.access, Some(&place.store.root.join("tokenizers")))
        .map_err(|error| failed(error, None))?;
    let mut started = start(planned, place, &tokens, board)?;
    let windows = eval_windows(&tokens, planned.config.data.context as usize, planned.config.eval.tokens);
    if windows.is_empty() {
        let error = "the held-out split has no evaluation window; raise `holdout` or `eval.tokens`, or lower `context`";
        return Err(failed(error.into(), None));
    }
    board.open(place.store, planned, started.first_step, &settings.hparams);
    let stepped = steps(planned, place, settings, &mut started, &windows, stop, progress, board)?;
    let Some((report, loss)) = stepped else { return Ok(Ran::Stopped { step: started.first_step }) };
    finish(planned, place.store, settings, &tokens, started, report, loss)
}

/// A trainer ready at its first step, with the sum of non-zero parameters over the steps before
/// it, the backends and devices of those steps and this one, and the open `metrics.jsonl`.
struct Started<'a> {
    trainer: Trainer<'a>,
    first_step: u64,
    nonzero_sum: u128,
    ran_on: Vec<RanOn>,
    metrics: crate::store::Metrics,
}

/// The trainer from the trial's checkpoint, or a new one.
fn start<'a>(
    planned: &'a PlannedTrial,
    place: &Place,
    tokens: &'a Tokens,
    board: &mut Board,
) -> Result<Started<'a>, Failed> {
    let store = place.store;
    let started = match resume(planned, place, tokens, board)? {
        Some(Resumed { trainer, step, nonzero_sum, mut ran_on }) => {
            if !ran_on.contains(&place.ran_on) {
                // A checkpoint names at most MAX_RAN_ON; past that, this one replaces the last.
                ran_on.truncate(MAX_RAN_ON - 1);
                ran_on.push(place.ran_on.clone());
            }
            store
                .resume_metrics(&planned.id, step)
                .map(|metrics| Started { trainer, first_step: step, nonzero_sum, ran_on, metrics })
                .map_err(|e| format!("cannot reopen metrics.jsonl: {e}"))
        }
        None => Trainer::new(planned, tokens, place.device).map_err(|failure| describe(&failure)).and_then(|trainer| {
            let ran_on = vec![place.ran_on.clone()];
            store
                .begin(&planned.id)
                .map(|metrics| Started { trainer, first_step: 0, nonzero_sum: 0, ran_on, metrics })
                .map_err(|e| format!("cannot write metrics.jsonl: {e}"))
        }),
    };
    started.map_err(|error| failed(error, None))
}

/// The run continued from the trial's checkpoint; `None` without one, or when it cannot be
/// continued from (it is moved aside, with a warning).
fn resume<'a>(
    planned: &'a PlannedTrial,
    place: &Place,
    tokens: &'a Tokens,
    board: &mut Board,
) -> Result<Option<Resumed<'a>>, Failed> {
    let checkpoint = place.store.checkpoint(&planned.id);
    // A checkpoint is read only up to what the trial's shapes can need: a larger file is not its.
    let prunable: u64 =
        crate::plan::Shape::of(&planned.config.model).prunable(&planned.config.prune.targets).map(|m| m.size()).sum();
    let most = super::checkpoint::max_bytes(planned.params.total, prunable);
    let resumed = match crate::fs::read(&checkpoint, most) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => Err(Failure::Checkpoint(error.to_string())),
        Ok(bytes) => Trainer::resume(planned, tokens, place.device, &bytes),
    };
    match resumed {
        Ok(resumed) => Ok(Some(resumed)),
        Err(Failure::Checkpoint(reason)) => {
            let aside = checkpoint.with_extension("bin.invalid");
            match std::fs::rename(&checkpoint, &aside) {
                Ok(()) => {
                    (board.warn)(format!(
                        "its checkpoint cannot be continued from ({reason}); moved to {} and starting over",
                        aside.display()
                    ));
                    Ok(None)
                }
                Err(error) => Err(failed(
                    format!("its checkpoint is invalid ({reason}) and cannot be moved aside: {error}"),
                    None,
                )),
            }
        }
        Err(failure) => Err(failed(describe(&failure), None)),
    }
}

/// Takes the steps from `started.first_step`, logging, evaluating and checkpointing; the last
/// step's report and held-out loss, or `None` when a stop was asked for and a checkpoint saved
/// (`started.first_step` is then where the next run begins).
#[allow(clippy::too_many_arguments)]
fn steps(
    planned: &PlannedTrial,
    place: &Place,
    settings: &Settings,
    started: &mut Started,
    windows: &[usize],
    stop: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(&StepReport),
    board: &mut Board,
) -> Result<Option<(StepReport, f64)>, Failed> {
    let every = match planned.config.eval.every {
        Interval::Steps(n) => n.max(1),
        Interval::Fraction(f) => ((f * planned.steps as f64).round() as u64).max(1),
    };
    let checkpoint = place.store.checkpoint(&planned.id);
    let Started { trainer, first_step, nonzero_sum, ran_on, metrics } = started;
    let mut saved = Instant::now();
    let mut speed = SpeedMeter::new(planned, place.device, *first_step);
    let mut clock = Instant::now();
    for step in *first_step..planned.steps {
        let report = trainer.step(step).map_err(|failure| {
            let step = match failure {
                Failure::NonFinite { step, .. } => Some(step),
                Failure::Data(_) | Failure::Checkpoint(_) => None,
            };
            let _ = metrics.flush();
            failed(describe(&failure), step)
        })?;
        *nonzero_sum += u128::from(report.nonzero);
        let is_last = step + 1 == planned.steps;
        let eval_loss = ((step + 1) % every == 0 || is_last).then(|| trainer.evaluate(windows));
        let line = MetricsLine {
            step,
            loss: report.loss,
            lr: report.lr,
            sparsity: report.sparsity,
            nonzero: report.nonzero,
            eval_loss,
        };
        metrics.log(&line).map_err(|error| failed(format!("cannot write metrics.jsonl: {error}"), Some(step)))?;
        let seconds = std::mem::replace(&mut clock, Instant::now()).elapsed().as_secs_f64();
        board.write(|events| events.scalars(step, &line.scalars(planned.tokens_per_step as f64 / seconds.max(1e-9))));
        progress(&report);
        // Timing goes to speed.json only; a failure to write it does not fail the trial.
        if let Some(measured) = speed.step(step, report.nonzero, is_last) {
            let _ = place.store.write_speed(&planned.id, &measured);
        }
        let stopping = stop();
        if is_last {
            let _ = metrics.flush();
            return match eval_loss {
                Some(loss) => Ok(Some((report, loss))),
                None => Err(failed("the run has no steps".into(), None)),
            };
        }
        if stopping || saved.elapsed() >= settings.checkpoint_every {
            // Metrics first: a checkpoint never refers to steps whose lines are not on disk.
            board.write(Events::flush);
            let saving = metrics
                .flush()
                .map_err(|e| e.to_string())
                .and_then(|()| trainer.checkpoint(step + 1, *nonzero_sum, ran_on));
            match saving.and_then(|bytes| crate::fs::write_atomic(&checkpoint, &bytes).map_err(|e| e.to_string())) {
                Ok(()) if stopping => {
                    *first_step = step + 1;
                    return Ok(None);
                }
                Ok(()) => saved = Instant::now(),
                Err(error) => return Err(failed(format!("cannot save a checkpoint: {error}"), Some(step))),
            }
        }
    }
    let _ = metrics.flush();
    Err(failed("the run has no steps".into(), None))
}

/// The result of a trial whose last step gave `report` and held-out `loss`: its weights kept,
/// its observables measured on the weights (the planner's prediction is checked in the tests).
fn finish(
    planned: &PlannedTrial,
    store: &Store,
    settings: &Settings,
    tokens: &Tokens,
    started: Started,
    report: StepReport,
    loss: f64,
) -> Result<Ran, Failed> {
    if !loss.is_finite() {
        return Err(failed(format!("the final held-out loss is {loss}"), Some(report.step)));
    }
    if settings.keep_weights {
        keep(planned, store, tokens, started.trainer.model()).map_err(|e| failed(e, Some(report.step)))?;
    }
    let observables = crate::observables::Observables {
        n_final: report.nonzero,
        n_avg: started.nonzero_sum as f64 / planned.steps as f64,
        s: started.trainer.sparsity(),
        c: training_flops(started.nonzero_sum as f64, planned.tokens_per_step as f64),
        ..planned.observables
    };
    Ok(Ran::Done(TrialResult::finished(&planned.id, observables, loss).ran_on(&started.ran_on)))
}

/// Keeps a finished trial's model: the tokenizer its text goes through, where that is a Hugging
/// Face one (`tokenizer.json`, so that it is the one the trial trained with whatever becomes of
/// its data), then the weights, which name it (see [`weights::metadata`]).
fn keep(planned: &PlannedTrial, store: &Store, tokens: &Tokens, model: &super::model::Decoder) -> Result<(), String> {
    let tokenizer = match &tokens.coder {
        None => "none".to_string(),
        Some(Ok(Coder::Bytes)) => "bytes".to_string(),
        Some(Ok(coder)) => {
            let json = coder.json()?;
            let path = store.tokenizer(&planned.id);
            crate::fs::write_atomic(&path, json.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            format!("sha256:{}", crate::data::hash::hex(&Sha256::digest(json.as_bytes())))
        }
        Some(Err(reason)) => format!("unavailable: {reason}"),
    };
    let tensors = model.tensors(&planned.config.model)?;
    let metadata = weights::metadata(&planned.id, &planned.config.model, &tokenizer);
    weights::write(&store.weights(&planned.id), &metadata, &tensors)
        .map_err(|e| format!("cannot write {}: {e}", weights::FILE))
}

/// Measures a trial's speed as it trains, for `speed.json` every 10 seconds and at the end.
struct SpeedMeter {
    device: String,
    tokens_per_step: f64,
    /// Attention FLOPs per token (PaLM's 12 x depth x width x context).
    attention: f64,
    started: Instant,
    first_step: u64,
    /// The start of the recent window, and the step then.
    window: (Instant, u64),
    written: Instant,
    /// Training FLOPs of the steps taken here, each with its own non-zero count.
    flops: f64,
    /// The GPU's peak, for the MFU.
    gpu: Option<GpuPeak>,
}

impl SpeedMeter {
    const EVERY: Duration = Duration::from_secs(10);

    fn new(planned: &PlannedTrial, device: &Device, first_step: u64) -> SpeedMeter {
        let model = &planned.config.model;
        let now = Instant::now();
        SpeedMeter {
            device: format!(
                "{device:?}, {} thread{}",
                rayon::current_num_threads(),
                if rayon::current_num_threads() == 1 { "" } else { "s" }
            ),
            tokens_per_step: planned.tokens_per_step as f64,
            attention: 12.0 * (model.depth * model.width * planned.config.data.context) as f64,
            started: now,
            first_step,
            window: (now, first_step),
            written: now,
            flops: 0.0,
            // The table's peaks are FP32's: a tf32 or bf16 trial's MFU is left to scripts/gpu_check.sh.
            gpu: (planned.config.precision == crate::config::Precision::F32)
                .then(|| super::peaks::of(device))
                .flatten()
                .map(|peak| GpuPeak {
                    name: peak.name,
                    peak_flops_per_second: peak.flops_per_second,
                    source: peak.source.to_string(),
                }),
        }
    }

    /// After step `step`: the speed to write, every [`Self::EVERY`] and at the last step.
    fn step(&mut self, step: u64, nonzero: u64, is_last: bool) -> Option<Speed> {
        self.flops += (training_flops(nonzero as f64, 1.0) + self.attention) * self.tokens_per_step;
        let now = Instant::now();
        if !is_last && now.duration_since(self.written) < Self::EVERY {
            return None;
        }
        let steps = step + 1 - self.first_step;
        let seconds = now.duration_since(self.started).as_secs_f64().max(1e-9);
        let tokens_per_second = steps as f64 * self.tokens_per_step / seconds;
        let (since, from) = self.window;
        let window_seconds = now.duration_since(since).as_secs_f64().max(1e-9);
        let recent = (step + 1 - from) as f64 * self.tokens_per_step / window_seconds;
        self.window = (now, step + 1);
        self.written = now;
        Some(Speed {
            device: self.device.clone(),
            steps,
            seconds,
            tokens_per_second,
            recent_tokens_per_second: recent,
            flops_per_second: self.flops / seconds,
            mfu: self.gpu.as_ref().map(|gpu| self.flops / seconds / gpu.peak_flops_per_second),
            gpu: self.gpu.clone(),
            updated: crate::store::unix_now(),
        })
    }
}

fn describe(failure: &Failure) -> String {
    match failure {
        Failure::NonFinite { step, loss } => format!("the training loss became {loss} at step {step}"),
        Failure::Data(error) => error.clone(),
        Failure::Checkpoint(reason) => format!("its checkpoint cannot be continued from: {reason}"),
    }
}
