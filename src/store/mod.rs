//! Results on disk (docs/language.md, "Results on disk"): `runs/<file stem>/<trial id>/` holds `trial.json`
//! (what the trial is), `metrics.jsonl` (one line per logged step) and `result.json` (its
//! observables), written atomically and last, so a `result.json` that exists is complete.
//! A process trains a trial only while it holds the trial's `lock` ([`Store::claim`]), so several
//! processes can share one folder. `results.csv` is rebuilt from the trial folders.

mod results;
pub mod tensorboard;
pub mod weights;

use crate::fs::write_atomic;
pub use results::{leaves, rebuild_results, varying, Row};

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::observables::{Observable, Observables};
use serde::{Deserialize, Serialize};

/// The observables of a finished (or failed) trial: the keys of `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    /// The trial's id.
    pub id: String,
    /// Whether it trained to the end.
    pub status: Status,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The step a failure happened at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    /// What its shape, schedule and budget determined (`N` to `C_dense`).
    #[serde(flatten)]
    pub observables: Observables,
    /// Final held-out loss, nats per token; absent for a failed trial.
    #[serde(rename = "L")]
    pub l: Option<f64>,
    /// The backend that trained it (`flex`, `ndarray`, `tch`); when a resumed trial continued on
    /// another, each in turn, joined with `+`. Absent from a result written before sprs kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// The device it trained on (`cpu`, `cuda:0`), joined as `backend` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

impl TrialResult {
    /// The result of a trial that trained to the end with held-out loss `l`.
    pub fn finished(id: &str, observables: Observables, l: f64) -> TrialResult {
        TrialResult {
            id: id.to_string(),
            status: Status::Ok,
            error: None,
            step: None,
            observables,
            l: Some(l),
            backend: None,
            device: None,
        }
    }

    /// The result of a trial that failed with `error` (at `step`, if at a step): its planned
    /// observables, no loss.
    pub fn failed(id: &str, observables: Observables, error: String, step: Option<u64>) -> TrialResult {
        TrialResult {
            id: id.to_string(),
            status: Status::Failed,
            error: Some(error),
            step,
            observables,
            l: None,
            backend: None,
            device: None,
        }
    }

    /// The result, recorded as trained on each of `places` in turn (see [`RanOn`]).
    pub fn ran_on(self, places: &[RanOn]) -> TrialResult {
        let join = |part: fn(&RanOn) -> &str| {
            let mut parts: Vec<&str> = Vec::new();
            for place in places {
                if !parts.contains(&part(place)) {
                    parts.push(part(place));
                }
            }
            (!parts.is_empty()).then(|| parts.join("+"))
        };
        TrialResult { backend: join(|p| &p.backend), device: join(|p| &p.device), ..self }
    }

    /// Its backend and device, when it names them as sprs writes them: a result is a file that
    /// may have been edited, so these are words of at most 64 characters.
    pub fn trained_on(&self) -> Option<(&str, &str)> {
        fn name(text: &Option<String>) -> Option<&str> {
            text.as_deref().filter(|t| {
                t.len() <= 64 && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+:_-".contains(&b))
            })
        }
        Some((name(&self.backend)?, name(&self.device)?))
    }

    /// Where it trained, for telling backends apart: the backend and the kind of device
    /// (`flex (cpu)`, `tch (cuda)`; which CUDA device does not matter).
    pub fn platform(&self) -> Option<String> {
        let (backend, device) = self.trained_on()?;
        let mut kinds: Vec<&str> = Vec::new();
        for kind in device.split('+').map(|d| d.split(':').next().unwrap_or(d)) {
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Some(format!("{backend} ({})", kinds.join("+")))
    }

    /// The value of `observable`: the loss once measured, the others as planned.
    pub fn get(&self, observable: Observable) -> Option<f64> {
        match observable {
            Observable::L => self.l,
            other => self.observables.get(other),
        }
    }

    /// The value of `observable` as `results.csv` writes it; empty for a loss not measured.
    pub fn cell(&self, observable: Observable) -> String {
        match observable {
            Observable::L => self.l.map(|l| l.to_string()).unwrap_or_default(),
            other => self.observables.cell(other),
        }
    }
}

/// A backend and device that took steps of a trial, by their `--backend` and `--device` names.
/// A checkpoint keeps the ones before it, so a result names every one its steps ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RanOn {
    /// `flex`, `ndarray` or `tch`.
    pub backend: String,
    /// `cpu` or `cuda:N`.
    pub device: String,
}

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It trained to the end of its budget.
    Ok,
    /// It stopped with an error; its result keeps why.
    Failed,
}

/// The results folder of one `.sprs` file.
pub struct Store {
    /// The output folder.
    pub root: PathBuf,
}

impl Store {
    /// `out`, or `runs/<stem of file>` under the working directory. The stem must be a plain
    /// name (a file called `...sprs` has the stem `..`). Folders of the default path that exist
    /// must be real folders, not links: a project could otherwise ship `runs/<stem>` pointing
    /// anywhere. An `--out` folder is the user's choice and may be a link.
    pub fn new(out: Option<&Path>, file: &Path) -> io::Result<Store> {
        if let Some(out) = out {
            return Ok(Store { root: out.to_path_buf() });
        }
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let plain = Path::new(&stem).components().count() == 1
            && matches!(Path::new(&stem).components().next(), Some(std::path::Component::Normal(_)));
        if !plain || stem.starts_with('.') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "`{}` has no name to file its results under (its stem is `{stem}`); rename it, or choose a folder with `--out DIR`",
                    file.display()
                ),
            ));
        }
        let root = Path::new("runs").join(stem);
        for dir in [Path::new("runs"), root.as_path()] {
            if fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "`{}` is a symbolic link; sprs does not write through it (choose a folder with `--out DIR`)",
                        dir.display()
                    ),
                ));
            }
        }
        Ok(Store { root })
    }

    /// The folder of the trial `id`.
    pub fn trial_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Creates the results folder and the folder `name` inside it (neither may be a link).
    pub fn folder(&self, name: &str) -> io::Result<PathBuf> {
        fs::create_dir_all(&self.root)?;
        let dir = self.root.join(name);
        crate::fs::create_dir(&dir)?;
        Ok(dir)
    }

    /// The result of a trial, if one was written (in a real folder: a trial folder that is a link
    /// is not taken for the trial).
    pub fn result(&self, id: &str) -> Option<TrialResult> {
        let dir = self.trial_dir(id);
        if !crate::fs::is_real_dir(&dir) {
            return None;
        }
        let text = crate::fs::read_to_string(&dir.join("result.json"), crate::fs::MAX_JSON_BYTES).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The result of a trial that trained to the end: whether it is done, the one question every
    /// phase asks of a results folder (a failed trial is to be trained again).
    pub fn done(&self, id: &str) -> Option<TrialResult> {
        self.result(id).filter(|r| r.status == Status::Ok)
    }

    /// Writes a trial's `trial.json` (what it is), first thing, so that a trial that fails before
    /// it trains still has a row in `results.csv`.
    pub fn describe(&self, id: &str, trial: &impl Serialize) -> io::Result<()> {
        let dir = self.folder(id)?;
        write_atomic(&dir.join("trial.json"), &to_json(trial)?)
    }

    /// Starts a trial's `metrics.jsonl`, empty, to append to.
    pub fn begin(&self, id: &str) -> io::Result<Metrics> {
        let file = crate::fs::create(&self.folder(id)?.join("metrics.jsonl"))?;
        Ok(Metrics { out: io::BufWriter::new(file) })
    }

    /// Reopens `metrics.jsonl` to continue a run at `step`: lines of later steps (run after the
    /// checkpoint, and to be run again) are dropped.
    pub fn resume_metrics(&self, id: &str, step: u64) -> io::Result<Metrics> {
        let path = self.trial_dir(id).join("metrics.jsonl");
        let lines = match crate::fs::lines(&path) {
            Ok(lines) => Some(lines),
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) => return Err(error),
        };
        crate::fs::write_atomic_with(&path, |out| {
            for line in lines.into_iter().flatten() {
                let line = line?;
                let before = serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|v| v["step"].as_u64())
                    .is_some_and(|s| s < step);
                if before {
                    writeln!(out, "{line}")?;
                }
            }
            Ok(())
        })?;
        Ok(Metrics { out: io::BufWriter::new(crate::fs::append(&path)?) })
    }

    /// Where fits write `<name>.json` and `<name>.svg`.
    pub fn fits_dir(&self) -> PathBuf {
        self.root.join("fits")
    }

    /// Where a finished trial's weights live (see [`weights`]).
    pub fn weights(&self, id: &str) -> PathBuf {
        self.trial_dir(id).join(weights::FILE)
    }

    /// Where a finished trial keeps the Hugging Face tokenizer its text goes through.
    pub fn tokenizer(&self, id: &str) -> PathBuf {
        self.trial_dir(id).join("tokenizer.json")
    }

    /// The TensorBoard run folder of the trial `name` with `id` (not created), in the results
    /// folder's `tensorboard/`, which is created (neither may be a link).
    pub fn tensorboard(&self, name: &str, id: &str) -> io::Result<PathBuf> {
        Ok(self.folder("tensorboard")?.join(tensorboard::run_name(name, id)))
    }

    /// Where a trial's checkpoint lives.
    pub fn checkpoint(&self, id: &str) -> PathBuf {
        self.trial_dir(id).join("checkpoint.bin")
    }

    /// Claims the trial `id` for this process: `None` if another process holds it. The claim is
    /// an advisory lock on `<id>/lock` (`flock` on Unix), which the system releases when the
    /// claim is dropped or the process ends in any way, SIGKILL included: no stale lock is left
    /// behind by a crash. (Advisory locks on network file systems are only as good as the
    /// file system's support for them.)
    ///
    /// A claim also writes `<id>/claim.json` ([`ClaimInfo`]: host, process, Slurm task, when and
    /// from which step), for `sprs status`; it means something only while the lock is held.
    pub fn claim(&self, id: &str) -> io::Result<Option<Claim>> {
        let dir = self.folder(id)?;
        let file = crate::fs::lock_file(&dir.join("lock"))?;
        match file.try_lock() {
            Ok(()) => {
                let info = ClaimInfo::here(self.last_step(id).map_or(0, |step| step + 1));
                write_atomic(&dir.join("claim.json"), &to_json(&info)?)?;
                Ok(Some(Claim { _file: file }))
            }
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(error)) => Err(error),
        }
    }

    /// Whether another process holds the trial `id` now (without creating its folder).
    pub fn is_claimed(&self, id: &str) -> bool {
        let lock = self.trial_dir(id).join("lock");
        if !crate::fs::is_real_dir(&self.trial_dir(id)) || !lock.is_file() {
            return false;
        }
        match crate::fs::lock_file(&lock).map(|file| file.try_lock()) {
            Ok(Err(fs::TryLockError::WouldBlock)) => true,
            // Taken here for a moment and released when the file closes.
            _ => false,
        }
    }

    /// Writes the trial's `speed.json`.
    pub fn write_speed(&self, id: &str, speed: &Speed) -> io::Result<()> {
        write_atomic(&self.folder(id)?.join("speed.json"), &to_json(speed)?)
    }

    /// The trial's `speed.json`, if it has one.
    pub fn speed(&self, id: &str) -> Option<Speed> {
        let text = crate::fs::read_to_string(&self.trial_dir(id).join("speed.json"), crate::fs::MAX_JSON_BYTES).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Who holds (or last held) the trial `id`, from its `claim.json`.
    pub fn claim_info(&self, id: &str) -> Option<ClaimInfo> {
        let text = crate::fs::read_to_string(&self.trial_dir(id).join("claim.json"), crate::fs::MAX_JSON_BYTES).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The last step in the trial's `metrics.jsonl`, read from the file's end (the file of a long
    /// run is large).
    pub fn last_step(&self, id: &str) -> Option<u64> {
        use std::io::{Read, Seek, SeekFrom};
        let dir = self.trial_dir(id);
        if !crate::fs::is_real_dir(&dir) {
            return None;
        }
        let mut file = crate::fs::open_regular(&dir.join("metrics.jsonl")).ok()?;
        let len = file.metadata().ok()?.len();
        let tail = len.min(8192);
        file.seek(SeekFrom::Start(len - tail)).ok()?;
        let mut bytes = Vec::with_capacity(tail as usize);
        file.take(tail).read_to_end(&mut bytes).ok()?;
        let text = String::from_utf8_lossy(&bytes);
        #[derive(Deserialize)]
        struct Step {
            step: u64,
        }
        text.lines().rev().find_map(|line| serde_json::from_str::<Step>(line).ok()).map(|s| s.step)
    }

    /// Writes `result.json` atomically (a reader sees the whole result or none), then drops the
    /// checkpoint, which the result supersedes.
    pub fn finish(&self, result: &TrialResult) -> io::Result<()> {
        let dir = self.folder(&result.id)?;
        write_atomic(&dir.join("result.json"), &to_json(result)?)?;
        self.drop_checkpoint(&result.id)
    }

    /// Removes a finished trial's checkpoint: one is left behind when a process dies between
    /// writing the result and removing it. Safe without the trial's lock, since nothing resumes a
    /// trial that has a result.
    pub fn drop_checkpoint(&self, id: &str) -> io::Result<()> {
        if !crate::fs::is_real_dir(&self.trial_dir(id)) {
            return Ok(());
        }
        crate::fs::remove(&self.checkpoint(id))
    }
}

/// `speed.json`: how fast a trial trained in the process that last ran it, rewritten as it
/// trains. Timing lives here only: `result.json` and `metrics.jsonl` stay functions of the trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speed {
    /// The backend and device, with the trial's threads.
    pub device: String,
    /// Steps this process took.
    pub steps: u64,
    /// Wall-clock seconds of those steps (evaluations included).
    pub seconds: f64,
    /// Training tokens per second over them.
    pub tokens_per_second: f64,
    /// Training tokens per second over about the last 10 seconds.
    pub recent_tokens_per_second: f64,
    /// Achieved training FLOP/s: per token, 6 x the non-zero prunable parameters of its step + 12
    /// x depth x width x context for attention, PaLM's count (Chowdhery et al. 2022, appendix B).
    pub flops_per_second: f64,
    /// On a GPU the table knows: the card, its peak FP32 FLOP/s and the datasheet it comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuPeak>,
    /// Model FLOP utilisation: `flops_per_second` over the GPU's peak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfu: Option<f64>,
    /// When it was written, in seconds since the Unix epoch.
    pub updated: u64,
}

/// A GPU and the peak that its MFU is measured against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuPeak {
    /// The card, as `nvidia-smi` names it.
    pub name: String,
    /// Its dense FP32 FLOP/s.
    pub peak_flops_per_second: f64,
    /// Where the peak comes from.
    pub source: String,
}

/// Who claimed a trial, written beside its lock (`claim.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimInfo {
    /// The machine.
    pub host: String,
    /// The process.
    pub pid: u32,
    /// The Slurm array task (`JOB_TASK`) or job, when the process runs in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<String>,
    /// When the claim was made, in seconds since the Unix epoch.
    pub since: u64,
    /// The first step this process takes (the metrics already on disk when it began).
    pub from_step: u64,
}

impl ClaimInfo {
    fn here(from_step: u64) -> ClaimInfo {
        let host = fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "unknown".into());
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let slurm = match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID"), var("SLURM_JOB_ID")) {
            (Some(job), Some(task), _) => Some(format!("{job}_{task}")),
            (_, _, Some(job)) => Some(job),
            _ => None,
        };
        ClaimInfo { host, pid: std::process::id(), slurm, since: unix_now(), from_step }
    }
}

/// How many trials ran on each of `platforms` ([`TrialResult::platform`]), most first (then by
/// name): more than one is a folder or a fit that mixes backends.
pub fn platforms(platforms: impl IntoIterator<Item = String>) -> Vec<(String, usize)> {
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for platform in platforms {
        *counts.entry(platform).or_default() += 1;
    }
    let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A trial claimed by this process (see [`Store::claim`]); dropping it releases the trial.
#[derive(Debug)]
pub struct Claim {
    _file: fs::File,
}

/// `metrics.jsonl`: one JSON object per line.
pub struct Metrics {
    out: io::BufWriter<fs::File>,
}

impl Metrics {
    /// Appends one JSON line.
    pub fn log(&mut self, line: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, line)?;
        self.out.write_all(b"\n")
    }

    /// Writes what was appended through to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn to_json(value: &impl Serialize) -> io::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip_and_are_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(Some(dir.path()), Path::new("x.sprs")).unwrap();
        store.describe("abc", &serde_json::json!({ "id": "abc" })).unwrap();
        let mut metrics = store.begin("abc").unwrap();
        metrics.log(&serde_json::json!({ "step": 0, "loss": 5.5 })).unwrap();
        metrics.flush().unwrap();
        assert!(store.result("abc").is_none());
        let result = TrialResult {
            id: "abc".into(),
            status: Status::Ok,
            error: None,
            step: None,
            observables: crate::observables::Observables {
                n: 10,
                n_final: 5,
                n_avg: 7.5,
                s: 0.5,
                d: 100,
                c: 4500.0,
                c_dense: 6000.0,
            },
            l: Some(2.0),
            backend: None,
            device: None,
        }
        .ran_on(&[RanOn { backend: "flex".into(), device: "cpu".into() }]);
        store.finish(&result).unwrap();
        assert_eq!(store.result("abc"), Some(result));
        let left: Vec<_> = fs::read_dir(store.trial_dir("abc")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.iter().all(|name| !name.to_string_lossy().ends_with(".tmp")), "{left:?}");
        let json: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(store.trial_dir("abc").join("result.json")).unwrap()).unwrap();
        for key in ["id", "status", "N", "N_final", "N_avg", "S", "D", "C", "C_dense", "L", "backend", "device"] {
            assert!(json.get(key).is_some(), "{key}");
        }
        // A result written before sprs kept the backend still reads, and does not say.
        let old = r#"{"id": "abc", "status": "ok", "N": 10, "N_final": 5, "N_avg": 7.5, "S": 0.5, "D": 100, "C": 4500.0, "C_dense": 6000.0, "L": 2.0}"#;
        fs::write(store.trial_dir("abc").join("result.json"), old).unwrap();
        assert_eq!(store.result("abc").map(|r| (r.platform(), r.backend)), Some((None, None)));
    }

    #[test]
    fn a_result_names_each_backend_and_device_once_and_its_platform() {
        let on = |backend: &str, device: &str| RanOn { backend: backend.into(), device: device.into() };
        let observables =
            crate::observables::Observables { n: 10, n_final: 10, n_avg: 10.0, s: 0.0, d: 100, c: 6e3, c_dense: 6e3 };
        let result = |places: &[RanOn]| TrialResult::finished("a", observables, 2.0).ran_on(places);
        let one = result(&[on("tch", "cuda:1")]);
        assert_eq!((one.backend.as_deref(), one.device.as_deref()), (Some("tch"), Some("cuda:1")));
        assert_eq!(one.platform().as_deref(), Some("tch (cuda)"), "which GPU does not matter");
        assert_eq!(result(&[on("tch", "cuda:0")]).platform(), one.platform());
        let moved = result(&[on("flex", "cpu"), on("tch", "cuda:0"), on("tch", "cuda:1")]);
        assert_eq!((moved.backend.as_deref(), moved.device.as_deref()), (Some("flex+tch"), Some("cpu+cuda:0+cuda:1")));
        assert_eq!(moved.platform().as_deref(), Some("flex+tch (cpu+cuda)"));
        assert_eq!(result(&[]).backend, None);
        // Names edited into a result are not repeated anywhere unless they are words sprs writes.
        for backend in ["FLEX", "flex\u{1b}[2J", &"x".repeat(65), "a b"] {
            let edited = TrialResult { backend: Some(backend.into()), ..one.clone() };
            assert_eq!(edited.trained_on(), None, "{backend:?}");
            assert_eq!(edited.platform(), None);
        }
    }

    #[test]
    fn a_claimed_trial_cannot_be_claimed_again_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(Some(dir.path()), Path::new("x.sprs")).unwrap();
        let claim = store.claim("abc").unwrap();
        assert!(claim.is_some());
        // flock locks belong to the open file: a second open, as by another process, is refused.
        assert!(store.claim("abc").unwrap().is_none());
        assert!(store.claim("def").unwrap().is_some());
        drop(claim);
        assert!(store.claim("abc").unwrap().is_some());
    }
}
