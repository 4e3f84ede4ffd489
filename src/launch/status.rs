//! `sprs status`: every trial of a plan as its results folder shows it (done, running, failed,
//! pending), with the Slurm jobs submitted for the folder. Read-only: it creates nothing.

use serde::Serialize;

use super::slurm::{self, JobRecord, TaskState};
use crate::plan::{Plan, PlannedTrial};
use crate::store::{unix_now, Status, Store};

/// Where a trial stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// It has its result.
    Done,
    /// A process holds it now.
    Running,
    /// It stopped with an error; `sprs run` does not retry it until its folder is removed.
    Failed,
    /// Nobody has run it to the end, and nobody holds it (it may have a checkpoint).
    Pending,
}

/// One trial's line of the status.
#[derive(Debug, Clone, Serialize)]
pub struct TrialStatus {
    /// The trial's id.
    pub id: String,
    /// The trial's name.
    pub name: String,
    /// Where it stands.
    pub state: State,
    /// Steps taken (running or pending with a checkpoint: the last step in its metrics).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    /// Its planned steps.
    pub steps: u64,
    /// Its final held-out loss, once done.
    #[serde(rename = "L", skip_serializing_if = "Option::is_none")]
    pub l: Option<f64>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Who runs it: `host:pid`, and the Slurm task when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Training tokens per second since the holder began it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_second: Option<f64>,
    /// Seconds left at that rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<f64>,
}

/// How many trials stand where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// With their result.
    pub done: usize,
    /// Held now.
    pub running: usize,
    /// Stopped with an error.
    pub failed: usize,
    /// Neither.
    pub pending: usize,
}

/// A Slurm job of the folder with its tasks' states (`None` when `scontrol` cannot tell).
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    /// The job as submitted.
    #[serde(flatten)]
    pub record: JobRecord,
    /// Its tasks, from `scontrol show job`.
    pub tasks: Option<Vec<TaskState>>,
}

/// The status of a results folder: `sprs status --format json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every trial of the plan, in plan order.
    pub trials: Vec<TrialStatus>,
    /// The totals.
    pub counts: Counts,
    /// The Slurm jobs submitted for the folder, oldest first.
    pub jobs: Vec<JobStatus>,
}

/// The status of every trial of `plan` in `store`; with `slurm`, also the states of the folder's
/// Slurm jobs (running `scontrol`).
pub fn status(plan: &Plan, store: &Store, slurm: bool) -> Report {
    let trials: Vec<TrialStatus> = plan.trials.iter().map(|trial| trial_status(trial, store)).collect();
    let mut counts = Counts::default();
    for trial in &trials {
        match trial.state {
            State::Done => counts.done += 1,
            State::Running => counts.running += 1,
            State::Failed => counts.failed += 1,
            State::Pending => counts.pending += 1,
        }
    }
    let records = slurm::jobs(store);
    // Slurm is asked once for every job, not once per record.
    let known = if slurm && !records.is_empty() { slurm::known_tasks() } else { None };
    let jobs = records
        .into_iter()
        .map(|record| {
            let tasks = known.as_ref().and_then(|known| known.get(&record.job).cloned());
            JobStatus { record, tasks }
        })
        .collect();
    Report { trials, counts, jobs }
}

fn trial_status(trial: &PlannedTrial, store: &Store) -> TrialStatus {
    let mut status = TrialStatus {
        id: trial.id.clone(),
        name: trial.name.clone(),
        state: State::Pending,
        step: None,
        steps: trial.steps,
        l: None,
        error: None,
        holder: None,
        tokens_per_second: None,
        eta_seconds: None,
    };
    if let Some(result) = store.result(&trial.id) {
        status.state = if result.status == Status::Ok { State::Done } else { State::Failed };
        status.l = result.l;
        status.error = result.error;
        status.step = result.step.or((result.status == Status::Ok).then_some(trial.steps));
        return status;
    }
    // Steps on disk: `last_step` is 0-based.
    let taken = store.last_step(&trial.id).map(|step| step + 1);
    status.step = taken;
    if !store.is_claimed(&trial.id) {
        return status;
    }
    status.state = State::Running;
    if let Some(info) = store.claim_info(&trial.id) {
        let mut holder = format!("{}:{}", info.host, info.pid);
        if let Some(task) = &info.slurm {
            holder.push_str(&format!(" (slurm {task})"));
        }
        status.holder = Some(holder);
        let elapsed = unix_now().saturating_sub(info.since) as f64;
        let done_here = taken.unwrap_or(0).saturating_sub(info.from_step) as f64;
        if elapsed >= 1.0 && done_here > 0.0 {
            let steps_per_second = done_here / elapsed;
            status.tokens_per_second = Some(steps_per_second * trial.tokens_per_step as f64);
            let left = trial.steps.saturating_sub(taken.unwrap_or(0)) as f64;
            status.eta_seconds = Some(left / steps_per_second);
        }
    }
    status
}
