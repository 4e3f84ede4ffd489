//! Slurm: `sprs submit` writes a job script that runs one array of workers (`sprs run --worker`
//! on a shared results folder) and hands it to `sbatch`; `sprs status` asks `scontrol` how the
//! array's tasks are doing.
//!
//! Time limits and preemption: the array is submitted with `--signal=B:USR1@GRACE` and
//! `--requeue`. Before a task's time limit Slurm sends USR1 to the batch shell, which passes it to
//! `sprs run`; the worker checkpoints its trial, releases it and exits with
//! [`crate::sweep::REQUEUE`]; the script then requeues its own task (`scontrol requeue JOB_TASK`)
//! up to `--max-requeues` times. A preemption (SIGTERM, then Slurm's own requeue of a
//! `--requeue` job) and `scancel` (SIGTERM) also checkpoint at once, but the script does not
//! requeue after them: a cancelled job stays cancelled. A requeued task is a new worker: it takes
//! the longest trial no one holds, the checkpointed one among them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use miette::Diagnostic;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::store::{unix_now, Store};
use crate::sweep::REQUEUE;
use crate::train::backend::{Backend, Target};

/// The most workers `sprs submit` starts unless asked for more: beyond this, a sweep's tail is
/// left to a few long trials and the other tasks only wait in the queue.
pub const DEFAULT_MAX_WORKERS: usize = 64;

/// What `sprs submit` hands to Slurm.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The `sprs` program every worker runs (on a file system the nodes share).
    pub program: PathBuf,
    /// The `.sprs` file, absolute.
    pub file: PathBuf,
    /// The results folder, absolute, on a file system the nodes share.
    pub out: PathBuf,
    /// The workers: the array's tasks.
    pub workers: usize,
    /// `--set` overrides, passed to every worker.
    pub set: Vec<String>,
    /// Other flags of `sprs run` passed to every worker (`--root`, `--allow-read`, limits).
    pub run_args: Vec<String>,
    /// The backend the workers train with.
    pub backend: Backend,
    /// CPU cores per worker (`--cpus-per-task`).
    pub cpus_per_worker: usize,
    /// GPUs per worker (`--gpus-per-task`); a worker with one trains on `cuda:0`, the GPU Slurm
    /// gave it.
    pub gpus_per_worker: usize,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time`, as Slurm writes it (`1-00:00:00`, `90`).
    pub time: Option<String>,
    /// `--mem` per worker (`16G`).
    pub mem: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// Further `#SBATCH` arguments, passed through as written.
    pub sbatch_args: Vec<String>,
    /// How many times a task requeues itself after a time limit or a preemption.
    pub max_requeues: u32,
    /// Seconds before the time limit at which Slurm signals a worker to checkpoint.
    pub signal_grace: u64,
    /// The job's name.
    pub name: String,
}

impl Default for Submission {
    /// Slurm's defaults of `sprs submit`: one worker of one core, no GPU, flex, three requeues,
    /// the checkpoint signal two minutes before the time limit.
    fn default() -> Submission {
        Submission {
            program: PathBuf::new(),
            file: PathBuf::new(),
            out: PathBuf::new(),
            workers: 1,
            set: Vec::new(),
            run_args: Vec::new(),
            backend: Backend::Flex,
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
}

impl Submission {
    /// Points the submission at `file` and the results folder `out`, run by `program`: absolute
    /// paths, since the workers run on other nodes, and the job named after the file (in plain
    /// characters, as Slurm only shows it) unless it has a name.
    pub fn locate(&mut self, file: &Path, out: &Path, program: PathBuf) {
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        self.file = absolute(file);
        self.out = absolute(out);
        self.program = program;
        if self.name.is_empty() {
            let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let plain: String =
                stem.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
            self.name = format!("sprs-{plain}");
        }
    }

    /// Checks what the options cannot say alone: GPUs need the LibTorch backend.
    pub fn validate(&self) -> Result<(), String> {
        if self.gpus_per_worker > 0 && self.backend != Backend::Tch {
            return Err(format!(
                "`--gpus-per-worker {}` needs `--backend tch` (the `{}` backend runs on the CPU)",
                self.gpus_per_worker, self.backend
            ));
        }
        Ok(())
    }
}

/// How many of the plan's trials have no finished result in `store`: the work to hand out.
pub fn pending(plan: &crate::plan::Plan, store: &Store) -> usize {
    plan.trials.iter().filter(|t| store.done(&t.id).is_none()).count()
}

/// Why a submission failed (codes E08xx).
#[derive(Debug, Error, Diagnostic)]
pub enum SlurmError {
    /// `sbatch` or `scontrol` is not installed here.
    #[error("`{program}` is not on the PATH")]
    #[diagnostic(
        code(sprs::E0801),
        help(
            "`sprs submit` runs where Slurm's commands do, on a login node; `--dry-run` prints the job script anywhere"
        )
    )]
    Missing {
        /// The command.
        program: &'static str,
    },
    /// Slurm refused the job.
    #[error("sbatch refused the job: {message}")]
    #[diagnostic(
        code(sprs::E0802),
        help("Slurm's own message says why: a partition, account, QOS or limit it does not accept")
    )]
    Rejected {
        /// What `sbatch` said.
        message: String,
    },
    /// A word that would reach the job script holds a control character.
    #[error("{what} holds a control character ({value}); it would reach the job script")]
    #[diagnostic(
        code(sprs::E0804),
        help("a job script is shell code: the names, paths and options in it may hold no control character (a line end would start a command)")
    )]
    Unsafe {
        /// Which option or name.
        what: String,
        /// Its value, escaped.
        value: String,
    },
    /// The results folder or the job script cannot be written.
    #[error("cannot write `{path}`: {error}")]
    #[diagnostic(code(sprs::E0803), help("the results folder must be writable, on a file system every node shares"))]
    Write {
        /// The file or folder.
        path: String,
        /// Why.
        error: io::Error,
    },
    /// Slurm took the job, and its record could not be written.
    #[error("job {job} was submitted, but `{path}` cannot record it: {error}")]
    #[diagnostic(
        code(sprs::E0803),
        help("`sprs status` does not know of the job: cancel it with `scancel {job}`, make the folder writable and submit again")
    )]
    Unrecorded {
        /// Slurm's job id.
        job: String,
        /// The record file.
        path: String,
        /// Why.
        error: io::Error,
    },
}

/// A word safe in a shell command line: unchanged when it is plain, single-quoted otherwise.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The job script: `#SBATCH` lines for the array, then a worker that checkpoints on Slurm's
/// signal and requeues its task. Every word in it is quoted for the shell, and a word with a
/// control character is refused ([`SlurmError::Unsafe`]): a line end in an `#SBATCH` line, which
/// bash reads as a comment, would start a command of its own.
pub fn script(submission: &Submission) -> Result<String, SlurmError> {
    let s = submission;
    let named: [(&str, Option<&str>); 6] = [
        ("the job's name (the file's name)", Some(&s.name)),
        ("`--partition`", s.partition.as_deref()),
        ("`--time`", s.time.as_deref()),
        ("`--mem`", s.mem.as_deref()),
        ("`--account`", s.account.as_deref()),
        ("`--qos`", s.qos.as_deref()),
    ];
    let paths = [("`--out`", &s.out), ("the file's path", &s.file), ("the sprs program's path", &s.program)];
    let words = named
        .into_iter()
        .filter_map(|(what, word)| Some((what, word?.to_string())))
        .chain(paths.map(|(what, path)| (what, path.display().to_string())))
        .chain(s.sbatch_args.iter().map(|arg| ("`--sbatch-arg`", arg.clone())))
        .chain(s.set.iter().map(|set| ("`--set`", set.clone())))
        .chain(s.run_args.iter().map(|arg| ("a flag for the workers", arg.clone())));
    for (what, word) in words {
        if word.chars().any(char::is_control) {
            return Err(SlurmError::Unsafe { what: what.into(), value: crate::escape::line(&word) });
        }
    }
    let out = s.out.display().to_string();
    let mut sbatch = vec![
        format!("--job-name={}", s.name),
        format!("--array=0-{}", s.workers.saturating_sub(1)),
        format!("--output={out}/slurm/%A_%a.log"),
        "--open-mode=append".to_string(),
        "--requeue".to_string(),
        format!("--signal=B:USR1@{}", s.signal_grace),
        "--ntasks=1".to_string(),
        format!("--cpus-per-task={}", s.cpus_per_worker.max(1)),
    ];
    if s.gpus_per_worker > 0 {
        sbatch.push(format!("--gpus-per-task={}", s.gpus_per_worker));
    }
    for (flag, value) in
        [("partition", &s.partition), ("time", &s.time), ("mem", &s.mem), ("account", &s.account), ("qos", &s.qos)]
    {
        if let Some(value) = value {
            sbatch.push(format!("--{flag}={value}"));
        }
    }
    sbatch.extend(s.sbatch_args.iter().cloned());

    let device = if s.gpus_per_worker > 0 { Target::Cuda(0) } else { Target::Cpu };
    let mut command =
        vec![s.program.display().to_string(), "run".into(), s.file.display().to_string(), "--worker".into()];
    command.extend(["--out".into(), out.clone(), "--backend".into(), s.backend.name().into()]);
    command.extend(["--device".into(), device.to_string()]);
    for set in &s.set {
        command.extend(["--set".into(), set.clone()]);
    }
    command.extend(s.run_args.iter().cloned());
    let command: Vec<String> = command.iter().map(|w| quote(w)).collect();

    let mut text = String::new();
    text.push_str("#!/usr/bin/env bash\n");
    text.push_str("# Written by `sprs submit`: one Slurm array task per worker, all sharing one results\n");
    text.push_str("# folder. Submit it again by hand with `sbatch` on this file.\n");
    for arg in &sbatch {
        let _ = writeln!(text, "#SBATCH {}", quote(arg));
    }
    let _ = write!(
        text,
        r#"
set -u
max_requeues={max_requeues}
restarts=${{SLURM_RESTART_COUNT:-0}}
task="${{SLURM_ARRAY_JOB_ID:-${{SLURM_JOB_ID:-local}}}}_${{SLURM_ARRAY_TASK_ID:-0}}"
echo "sprs worker $task on $(hostname), start $((restarts + 1)), $(date -u +%FT%TZ)"

# Slurm signals this shell (B:USR1) before the time limit; scancel and a preemption send TERM.
# Bash runs a trap only once its foreground command ends, so sprs runs in the background and the
# trap passes the signal on: sprs checkpoints its trial and exits, {requeue} after USR1 (requeue
# this task), 143 after TERM (stay stopped).
{command} &
child=$!
signalled=0
trap 'signalled=1; kill -USR1 "$child" 2>/dev/null' USR1
trap 'signalled=1; kill -TERM "$child" 2>/dev/null' TERM
wait "$child"
status=$?
while [ "$signalled" = 1 ]; do
    signalled=0
    wait "$child"
    code=$?
    [ "$code" -eq 127 ] || status=$code
done

if [ "$status" -eq {requeue} ]; then
    if [ "$restarts" -lt "$max_requeues" ]; then
        echo "sprs worker $task: checkpointed; requeued ($((restarts + 1)) of $max_requeues)"
        scontrol requeue "$task"
        exit 0
    fi
    echo "sprs worker $task: checkpointed; not requeued, $max_requeues requeues used (\`sprs submit\` again continues)"
fi
exit "$status"
"#,
        max_requeues = s.max_requeues,
        requeue = REQUEUE,
        command = command.join(" "),
    );
    Ok(text)
}

/// The CPUs Slurm allocated to this task (`SLURM_CPUS_PER_TASK`), when running in one.
pub fn allocated_cpus() -> Option<usize> {
    std::env::var("SLURM_CPUS_PER_TASK").ok()?.trim().parse().ok().filter(|&n| n > 0)
}

/// The cluster's `MaxArraySize` (the largest array index is one less), from `scontrol`.
pub fn max_array_size() -> Option<usize> {
    let output = Command::new("scontrol").args(["show", "config"]).output().ok()?;
    String::from_utf8_lossy(&output.stdout).lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "MaxArraySize").then(|| value.trim().parse().ok()).flatten()
    })
}

/// The number of workers: `asked`, or one per trial still to run, at most the cluster's array
/// size and [`DEFAULT_MAX_WORKERS`].
pub fn workers(asked: Option<usize>, pending: usize, max_array: Option<usize>) -> usize {
    let workers = asked.unwrap_or_else(|| pending.min(DEFAULT_MAX_WORKERS));
    workers.min(max_array.unwrap_or(usize::MAX)).max(1)
}

/// `<out>/slurm`: the job script, the job ids and each task's log.
pub fn folder(store: &Store) -> PathBuf {
    store.root.join("slurm")
}

/// One submitted job, a line of `<out>/slurm/jobs.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Slurm's job id.
    pub job: String,
    /// The array's tasks.
    pub workers: usize,
    /// When it was submitted, in seconds since the Unix epoch.
    pub submitted: u64,
    /// The job script.
    pub script: String,
}

/// Writes the script to `<out>/slurm/job.sh`, submits it with `sbatch --parsable`, and records
/// the job in `jobs.jsonl`. Returns the job id.
pub fn submit(submission: &Submission, store: &Store) -> Result<JobRecord, SlurmError> {
    let dir = folder(store);
    let write_error = |path: &Path| {
        let path = path.display().to_string();
        move |error| SlurmError::Write { path, error }
    };
    let text = script(submission)?;
    store.folder("slurm").map_err(write_error(&dir))?;
    let path = dir.join("job.sh");
    crate::fs::write_atomic(&path, text.as_bytes()).map_err(write_error(&path))?;
    let output = Command::new("sbatch").arg("--parsable").arg(&path).output().map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => SlurmError::Missing { program: "sbatch" },
        _ => SlurmError::Rejected { message: error.to_string() },
    })?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(SlurmError::Rejected { message: crate::escape::controls(&message).into_owned() });
    }
    // `--parsable` prints `JOBID` or `JOBID;CLUSTER`.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let job = stdout.trim().split(';').next().unwrap_or_default().to_string();
    if job.is_empty() || !job.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SlurmError::Rejected { message: format!("sbatch printed no job id: `{}`", stdout.trim()) });
    }
    let record =
        JobRecord { job, workers: submission.workers, submitted: unix_now(), script: path.display().to_string() };
    let jobs = dir.join("jobs.jsonl");
    let mut line = serde_json::to_string(&record).unwrap_or_default();
    line.push('\n');
    append(&jobs, line.as_bytes()).map_err(|error| SlurmError::Unrecorded {
        job: record.job.clone(),
        path: jobs.display().to_string(),
        error,
    })?;
    Ok(record)
}

fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut file = match crate::fs::append(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => crate::fs::create(path)?,
        other => other?,
    };
    file.write_all(bytes)
}

/// The jobs submitted for this results folder, oldest first.
pub fn jobs(store: &Store) -> Vec<JobRecord> {
    let path = folder(store).join("jobs.jsonl");
    let Ok(text) = crate::fs::read_to_string(&path, crate::fs::MAX_JSON_BYTES) else { return Vec::new() };
    text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
}

/// One array task as `scontrol` sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskState {
    /// `JOB_TASK`, or `JOB_[3-7]` for tasks not started yet.
    pub task: String,
    /// `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLED`, ...
    pub state: String,
    /// How many times the task was requeued.
    pub restarts: u32,
    /// The node, once it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// The tasks of every job Slurm knows, by job id (an array's own id), from one run of
/// `scontrol show job -o`: one process however many jobs a results folder records. `None` when
/// `scontrol` is not here; a job Slurm no longer knows (it forgets finished jobs after
/// `MinJobAge`) is absent.
pub fn known_tasks() -> Option<HashMap<String, Vec<TaskState>>> {
    let output = Command::new("scontrol").args(["show", "job", "-o"]).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let mut jobs: HashMap<String, Vec<TaskState>> = HashMap::new();
    for (job, task) in parse_job_tasks(&String::from_utf8_lossy(&output.stdout)) {
        jobs.entry(job).or_default().push(task);
    }
    Some(jobs)
}

/// Parses `scontrol show job -o`: a line per task of `Key=Value` words, each with its job's id.
pub fn parse_job_tasks(text: &str) -> Vec<(String, TaskState)> {
    text.lines()
        .filter_map(|line| {
            let field = |key: &str| {
                line.split_whitespace().find_map(|word| word.strip_prefix(key)?.strip_prefix('=').map(str::to_string))
            };
            let job = field("ArrayJobId").or_else(|| field("JobId"))?;
            let task = match field("ArrayTaskId") {
                Some(index) => format!("{job}_{index}"),
                None => job.clone(),
            };
            let node = field("BatchHost").filter(|h| !h.is_empty() && h != "(null)");
            let state = TaskState {
                task,
                state: field("JobState").unwrap_or_default(),
                restarts: field("Restarts").and_then(|r| r.parse().ok()).unwrap_or(0),
                node,
            };
            Some((job, state))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(quote("runs/tiny"), "runs/tiny");
        assert_eq!(quote("prune=journey { sparsity = 30% }"), "'prune=journey { sparsity = 30% }'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$(rm -rf ~)"), "'$(rm -rf ~)'");
    }

    #[test]
    fn workers_are_one_per_pending_trial_within_the_caps() {
        assert_eq!(workers(None, 4, Some(1001)), 4);
        assert_eq!(workers(None, 500, Some(1001)), DEFAULT_MAX_WORKERS);
        assert_eq!(workers(Some(300), 500, Some(128)), 128);
        assert_eq!(workers(None, 0, None), 1);
    }

    #[test]
    fn scontrol_lines_give_each_task_its_state_and_restarts() {
        let text = "JobId=41 ArrayJobId=40 ArrayTaskId=1 JobName=sprs-tiny JobState=RUNNING Reason=None Restarts=2 BatchHost=vm NumNodes=1\n\
                    JobId=40 ArrayJobId=40 ArrayTaskId=2-3 JobName=sprs-tiny JobState=PENDING Reason=Resources Restarts=0 BatchHost=(null)\n";
        let tasks = parse_job_tasks(text);
        assert_eq!(tasks.len(), 2);
        assert_eq!(
            tasks[0],
            (
                "40".to_string(),
                TaskState { task: "40_1".into(), state: "RUNNING".into(), restarts: 2, node: Some("vm".into()) }
            )
        );
        assert_eq!(tasks[1].1.task, "40_2-3");
        assert_eq!(tasks[1].1.node, None);
    }
}
