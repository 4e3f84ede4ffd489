//! Results on disk (SPEC.md, section 7): `runs/<file stem>/<trial id>/` holds `trial.json`
//! (what the trial is), `metrics.jsonl` (one line per logged step) and `result.json` (its
//! observables), written atomically and last, so a `result.json` that exists is complete.
//! A process trains a trial only while it holds the trial's `lock` ([`Store::claim`]), so several
//! processes can share one folder. `results.csv` is rebuilt from the trial folders.

mod results;

pub use results::{rebuild_results, Row};

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The observables of a finished (or failed) trial: the keys of `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    pub id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The step a failure happened at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    #[serde(rename = "N")]
    pub n: u64,
    #[serde(rename = "N_final")]
    pub n_final: u64,
    #[serde(rename = "N_avg")]
    pub n_avg: f64,
    #[serde(rename = "S")]
    pub s: f64,
    #[serde(rename = "D")]
    pub d: u64,
    #[serde(rename = "C")]
    pub c: f64,
    #[serde(rename = "C_dense")]
    pub c_dense: f64,
    /// Final held-out loss, nats per token; absent for a failed trial.
    #[serde(rename = "L")]
    pub l: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Failed,
}

/// The results folder of one `.sprs` file.
pub struct Store {
    pub root: PathBuf,
}

impl Store {
    /// `out`, or `runs/<stem of file>` next to the working directory.
    pub fn new(out: Option<&Path>, file: &Path) -> Store {
        let stem = file.file_stem().map_or_else(|| "sprs".into(), |s| s.to_string_lossy().into_owned());
        Store { root: out.map_or_else(|| Path::new("runs").join(stem), Path::to_path_buf) }
    }

    pub fn trial_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// The result of a trial, if one was written.
    pub fn result(&self, id: &str) -> Option<TrialResult> {
        let text = fs::read_to_string(self.trial_dir(id).join("result.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Starts a trial's folder: `trial.json`, and an empty `metrics.jsonl` to append to.
    pub fn begin(&self, id: &str, trial: &impl Serialize) -> io::Result<Metrics> {
        let dir = self.trial_dir(id);
        fs::create_dir_all(&dir)?;
        write_atomic(&dir.join("trial.json"), &to_json(trial)?)?;
        let file = fs::File::create(dir.join("metrics.jsonl"))?;
        Ok(Metrics { out: io::BufWriter::new(file) })
    }

    /// Reopens `metrics.jsonl` to continue a run at `step`: lines of later steps (run after the
    /// checkpoint, and to be run again) are dropped.
    pub fn resume_metrics(&self, id: &str, step: u64) -> io::Result<Metrics> {
        let path = self.trial_dir(id).join("metrics.jsonl");
        let text = fs::read_to_string(&path).unwrap_or_default();
        let kept: String = text
            .lines()
            .filter(|line| {
                serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v["step"].as_u64())
                    .is_some_and(|s| s < step)
            })
            .map(|line| format!("{line}\n"))
            .collect();
        write_atomic(&path, kept.as_bytes())?;
        let file = fs::OpenOptions::new().append(true).open(path)?;
        Ok(Metrics { out: io::BufWriter::new(file) })
    }

    /// Where fits write `<name>.json` and `<name>.svg`.
    pub fn fits_dir(&self) -> PathBuf {
        self.root.join("fits")
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
    pub fn claim(&self, id: &str) -> io::Result<Option<Claim>> {
        let dir = self.trial_dir(id);
        fs::create_dir_all(&dir)?;
        let file = fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("lock"))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Claim { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(error)) => Err(error),
        }
    }

    /// Writes `result.json` atomically (a reader sees the whole result or none), then drops the
    /// checkpoint, which the result supersedes.
    pub fn finish(&self, result: &TrialResult) -> io::Result<()> {
        write_atomic(&self.trial_dir(&result.id).join("result.json"), &to_json(result)?)?;
        self.drop_checkpoint(&result.id)
    }

    /// Removes a finished trial's checkpoint: one is left behind when a process dies between
    /// writing the result and removing it. Safe without the trial's lock, since nothing resumes a
    /// trial that has a result.
    pub fn drop_checkpoint(&self, id: &str) -> io::Result<()> {
        match fs::remove_file(self.checkpoint(id)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
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
    pub fn log(&mut self, line: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, line)?;
        self.out.write_all(b"\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn to_json(value: &impl Serialize) -> io::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes to a temporary file in the same folder, syncs it, and renames it into place: a reader
/// sees the old file or the new one, never part of one. The temporary name holds the process id,
/// so that processes writing the same shared file (`results.csv`, a fit) do not collide; one
/// left by a killed process is ignored by every reader.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    // The rename itself reaches the disk when the folder is synced (where the system allows it).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip_and_are_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(Some(dir.path()), Path::new("x.sprs"));
        let mut metrics = store.begin("abc", &serde_json::json!({ "id": "abc" })).unwrap();
        metrics.log(&serde_json::json!({ "step": 0, "loss": 5.5 })).unwrap();
        metrics.flush().unwrap();
        assert!(store.result("abc").is_none());
        let result = TrialResult {
            id: "abc".into(),
            status: Status::Ok,
            error: None,
            step: None,
            n: 10,
            n_final: 5,
            n_avg: 7.5,
            s: 0.5,
            d: 100,
            c: 4500.0,
            c_dense: 6000.0,
            l: Some(2.0),
        };
        store.finish(&result).unwrap();
        assert_eq!(store.result("abc"), Some(result));
        let left: Vec<_> = fs::read_dir(store.trial_dir("abc")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.iter().all(|name| !name.to_string_lossy().ends_with(".tmp")), "{left:?}");
        let json: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(store.trial_dir("abc").join("result.json")).unwrap()).unwrap();
        for key in ["id", "status", "N", "N_final", "N_avg", "S", "D", "C", "C_dense", "L"] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn a_claimed_trial_cannot_be_claimed_again_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(Some(dir.path()), Path::new("x.sprs"));
        let claim = store.claim("abc").unwrap();
        assert!(claim.is_some());
        // flock locks belong to the open file: a second open, as by another process, is refused.
        assert!(store.claim("abc").unwrap().is_none());
        assert!(store.claim("def").unwrap().is_some());
        drop(claim);
        assert!(store.claim("abc").unwrap().is_some());
    }
}
