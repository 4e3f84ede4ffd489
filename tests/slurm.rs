//! `sprs submit` on a real Slurm: the single-node cluster of `scripts/slurm_dev_cluster.sh`,
//! which these tests bring up themselves when they run as root (CI does). Elsewhere, without
//! Slurm, they say loudly that they skip; under `CI=true` a missing Slurm fails them.
//!
//! The tests share the cluster's two CPUs, so they run one at a time.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common::{read, sprs, trial_dirs, SWEEP};

static CLUSTER: Mutex<()> = Mutex::new(());

fn ok(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn slurm_is_up() -> bool {
    Command::new("scontrol").arg("ping").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("UP"))
}

/// Whether a cluster is up, bringing the project's own up when this process may.
fn cluster() -> bool {
    if slurm_is_up() {
        return true;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm_dev_cluster.sh");
        let up = Command::new("bash").arg(script).arg("up").status();
        if up.is_ok_and(|s| s.success()) && slurm_is_up() {
            return true;
        }
    }
    let message = "Slurm is not running here and this process cannot start it (run `scripts/slurm_dev_cluster.sh up` as root): the Slurm tests did not run";
    if std::env::var_os("CI").is_some_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("\n!!!!! {message} !!!!!\n");
    false
}

/// One trial long enough to be caught mid-way (several seconds).
const LONG: &str = "use std::models::llama
use std::data::markov
use std::schedules::journey

train t {
    data   = markov { context = 16, source.tokens = 300k }
    model  = llama { width = 32, depth = 1, heads = 2, mlp = 64 }
    prune  = journey { sparsity = 60%, every = 10 steps }
    batch  = 4
    budget = 4000 steps
    eval   = { every = 500 steps, tokens = 512 }
}
";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// The job id `sprs submit` recorded.
fn job_id(out: &Path) -> String {
    let line = read(&out.join("slurm/jobs.jsonl"));
    let record: serde_json::Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    record["job"].as_str().unwrap().to_string()
}

/// Waits until `squeue` no longer lists the job, releasing a requeued task's two-minute
/// `BeginTime` hold (Slurm's own delay before a requeued batch job may start again).
fn wait_for_job(job: &str, limit: Duration) {
    let started = Instant::now();
    loop {
        let queue = Command::new("squeue").args(["-h", "-j", job, "-o", "%i %T %r"]).output().unwrap();
        let queue = String::from_utf8_lossy(&queue.stdout).into_owned();
        if queue.trim().is_empty() {
            return;
        }
        for line in queue.lines().filter(|l| l.ends_with("BeginTime")) {
            let task = line.split_whitespace().next().unwrap();
            let _ = Command::new("scontrol").args(["update", &format!("JobId={task}"), "StartTime=now"]).output();
        }
        assert!(started.elapsed() < limit, "job {job} still queued after {limit:?}:\n{queue}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn assert_same_trials(ours: &Path, theirs: &Path) {
    let (a, b) = (trial_dirs(ours), trial_dirs(theirs));
    assert_eq!(
        a.iter().map(|d| d.file_name()).collect::<Vec<_>>(),
        b.iter().map(|d| d.file_name()).collect::<Vec<_>>()
    );
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(read(&a.join("result.json")), read(&b.join("result.json")), "{}", a.display());
        assert_eq!(read(&a.join("metrics.jsonl")), read(&b.join("metrics.jsonl")), "{}", a.display());
        assert!(!a.join("checkpoint.bin").exists());
    }
}

#[test]
fn a_sweep_submitted_as_two_workers_ends_as_a_local_run_does() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "sweep.sprs", SWEEP);
    let (local, cluster) = (dir.path().join("local"), dir.path().join("cluster"));
    ok(&sprs(&["run", &file, "--out", local.to_str().unwrap()]));

    let submitted = ok(&sprs(&["submit", &file, "--out", cluster.to_str().unwrap(), "--workers", "2"]));
    let job = job_id(&cluster);
    assert!(submitted.starts_with(&format!("submitted job {job}: 2 workers for 4 trials")), "{submitted}");
    assert!(cluster.join("slurm/job.sh").exists());
    wait_for_job(&job, Duration::from_secs(120));

    assert_same_trials(&cluster, &local);
    assert_eq!(read(&cluster.join("results.csv")), read(&local.join("results.csv")));
    assert_eq!(read(&cluster.join("results.csv")).lines().count(), 5, "a header and 4 rows");
    assert!(cluster.join("report.md").exists());
    // Each task logged its own trials, and together they trained each trial once.
    let logs: String = (0..2).map(|task| read(&cluster.join(format!("slurm/{job}_{task}.log")))).collect();
    assert_eq!(logs.matches(": loss ").count(), 4, "{logs}");

    let status = ok(&sprs(&["status", &file, "--out", cluster.to_str().unwrap(), "--format", "json"]));
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["counts"]["done"], 4);
    assert_eq!(status["jobs"][0]["job"], job.as_str());
}

/// Slurm's warning before a preemption or the time limit (USR1 to the batch shell): the worker
/// checkpoints, its task requeues itself, the requeued task resumes the trial, and the result is
/// bit for bit that of an uninterrupted run.
#[test]
fn a_preempted_worker_checkpoints_requeues_and_resumes_to_the_same_result() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "long.sprs", LONG);
    let (local, cluster) = (dir.path().join("local"), dir.path().join("cluster"));
    ok(&sprs(&["run", &file, "--out", local.to_str().unwrap()]));

    let out = cluster.to_str().unwrap();
    ok(&sprs(&["submit", &file, "--out", out, "--workers", "1"]));
    let job = job_id(&cluster);

    // Mid-trial: `sprs status` sees it running, with its worker's Slurm task.
    let started = Instant::now();
    let running = loop {
        let status: serde_json::Value =
            serde_json::from_str(&ok(&sprs(&["status", &file, "--out", out, "--format", "json"]))).unwrap();
        let trial = &status["trials"][0];
        if trial["state"] == "running" && trial["step"].as_u64().is_some_and(|s| s > 0) {
            break trial.clone();
        }
        assert!(status["counts"]["done"] == 0, "the trial finished before it could be preempted");
        assert!(started.elapsed() < Duration::from_secs(60), "the trial never ran: {status}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(running["holder"].as_str().unwrap().contains(&format!("slurm {job}_0")), "{running}");

    let signal = Command::new("scancel").args(["--signal=USR1", "--batch", &format!("{job}_0")]).output().unwrap();
    assert!(signal.status.success(), "{}", String::from_utf8_lossy(&signal.stderr));
    wait_for_job(&job, Duration::from_secs(180));

    let log = read(&cluster.join(format!("slurm/{job}_0.log")));
    assert!(log.contains("stopped by SIGUSR1: 1 trial checkpointed"), "{log}");
    assert!(log.contains("requeued (1 of 3)"), "{log}");
    assert!(log.contains("resuming from its checkpoint"), "{log}");
    assert_same_trials(&cluster, &local);

    let status = ok(&sprs(&["status", &file, "--out", out]));
    assert!(status.contains("1 done"), "{status}");
    assert!(status.contains(&format!("{job}_0 COMPLETED")) && status.contains("requeued 1x"), "{status}");
}

#[test]
fn a_rejected_submission_shows_slurms_message() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "sweep.sprs", SWEEP);
    let out = dir.path().join("out");
    let submit = sprs(&["submit", &file, "--out", out.to_str().unwrap(), "--partition", "no_such_partition"]);
    assert!(!submit.status.success());
    let stderr = String::from_utf8_lossy(&submit.stderr);
    assert!(
        stderr.contains("error[E0802]: sbatch refused the job") && stderr.contains("invalid partition"),
        "{stderr}"
    );
    assert!(!out.join("slurm/jobs.jsonl").exists());
}

/// `scancel` (SIGTERM to the job) checkpoints the running trial, but the task does not requeue
/// itself: a cancelled job stays cancelled, and its trial is left resumable.
#[test]
fn a_cancelled_job_checkpoints_and_stays_cancelled() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !cluster() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "long.sprs", LONG);
    let cluster = dir.path().join("cluster");
    let out = cluster.to_str().unwrap();
    ok(&sprs(&["submit", &file, "--out", out, "--workers", "1"]));
    let job = job_id(&cluster);
    let started = Instant::now();
    while !trial_dirs(&cluster).first().is_some_and(|d| d.join("metrics.jsonl").exists()) {
        assert!(started.elapsed() < Duration::from_secs(60), "the trial never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    let cancel = Command::new("scancel").arg(&job).output().unwrap();
    assert!(cancel.status.success(), "{}", String::from_utf8_lossy(&cancel.stderr));
    wait_for_job(&job, Duration::from_secs(60));

    let log = read(&cluster.join(format!("slurm/{job}_0.log")));
    assert!(log.contains("stopped by SIGTERM: 1 trial checkpointed"), "{log}");
    assert!(!log.contains("requeued"), "{log}");
    let trial = trial_dirs(&cluster).remove(0);
    assert!(trial.join("checkpoint.bin").exists() && !trial.join("result.json").exists());
    let status = ok(&sprs(&["status", &file, "--out", out]));
    assert!(status.contains("0 done, 0 running, 0 failed, 1 pending"), "{status}");
}
