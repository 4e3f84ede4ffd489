//! `results.csv`: one row per trial folder that holds a result, rebuilt from the folders each time
//! (never appended to), so it cannot disagree with them.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use serde_json::Value;

use super::{write_atomic, Store, TrialResult};
use crate::observables::Observable;

/// One trial on disk: its result and the `trial.json` written when it started.
#[derive(Debug, Clone)]
pub struct Row {
    /// The trial's observables.
    pub result: TrialResult,
    /// The trial's name.
    pub name: String,
    /// The sweep it comes from, if any.
    pub sweep: Option<String>,
    /// The resolved configuration, as `trial.json` holds it.
    pub config: Value,
    /// Tokens per optimizer step (absent from a `trial.json` written by hand).
    pub tokens_per_step: Option<f64>,
}

impl Store {
    /// Every trial folder with a readable `result.json` and `trial.json`: the trials of `order`
    /// first, in that order, then any others by id.
    pub fn rows(&self, order: &[&str]) -> Vec<Row> {
        let Ok(entries) = fs::read_dir(&self.root) else { return Vec::new() };
        let mut rows: Vec<Row> = entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                // A trial folder is a folder, not a link to one elsewhere.
                if !entry.file_type().ok()?.is_dir() {
                    return None;
                }
                let id = entry.file_name().to_str()?.to_string();
                let result = self.result(&id)?;
                let trial: Value = serde_json::from_str(
                    &crate::fs::read_to_string(&entry.path().join("trial.json"), crate::fs::MAX_JSON_BYTES).ok()?,
                )
                .ok()?;
                // A folder renamed or copied by hand is not taken for the trial it names.
                (result.id == id).then(|| Row {
                    result,
                    name: trial["name"].as_str().unwrap_or(&id).to_string(),
                    sweep: trial["sweep"].as_str().map(str::to_string),
                    config: trial["config"].clone(),
                    tokens_per_step: trial["tokens_per_step"].as_f64(),
                })
            })
            .collect();
        let rank = |id: &str| order.iter().position(|o| *o == id).unwrap_or(order.len());
        rows.sort_by(|a, b| rank(&a.result.id).cmp(&rank(&b.result.id)).then_with(|| a.result.id.cmp(&b.result.id)));
        rows
    }
}

/// Rewrites `results.csv` from the trial folders (atomically, see [`write_atomic`]) and returns
/// its path and the rows. Columns: `id`, `name`, `sweep`, `status`, the observables (in the order
/// of [`Observable::ALL`]), `error`, `backend` and `device` (where it trained), then every configuration field whose value differs between rows (the swept
/// values), as dotted paths such as `model.width`.
pub fn rebuild_results(store: &Store, order: &[&str]) -> io::Result<(PathBuf, Vec<Row>)> {
    let rows = store.rows(order);
    let leaves: Vec<BTreeMap<String, Value>> = rows.iter().map(|row| leaves(&row.config)).collect();
    let paths = varying(&leaves);
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = vec!["id", "name", "sweep", "status"];
    header.extend(Observable::ALL.iter().map(|o| o.name()));
    header.extend(["error", "backend", "device"]);
    header.extend(paths.iter().map(String::as_str));
    out.write_record(&header)?;
    for (row, leaf) in rows.iter().zip(&leaves) {
        let r = &row.result;
        let status = match r.status {
            super::Status::Ok => "ok",
            super::Status::Failed => "failed",
        };
        let mut record = vec![r.id.clone(), row.name.clone(), row.sweep.clone().unwrap_or_default(), status.into()];
        record.extend(Observable::ALL.iter().map(|&o| r.cell(o)));
        record.extend([&r.error, &r.backend, &r.device].map(|cell| cell.clone().unwrap_or_default()));
        record.extend(paths.iter().map(|p| leaf.get(p).map(cell).unwrap_or_default()));
        out.write_record(&record)?;
    }
    let bytes = out.into_inner().map_err(|e| io::Error::other(e.to_string()))?;
    let path = store.root.join("results.csv");
    write_atomic(&path, &bytes)?;
    Ok((path, rows))
}

/// The leaves of a configuration (as `trial.json` holds it) under dotted paths such as
/// `model.width`; a list is one leaf.
pub fn leaves(config: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    flatten(config, String::new(), &mut out);
    out
}

/// The paths whose leaves differ between configurations (the swept fields), in first-seen order.
pub fn varying(leaves: &[BTreeMap<String, Value>]) -> Vec<String> {
    let mut paths: Vec<&String> = Vec::new();
    for leaf in leaves {
        for path in leaf.keys() {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    paths.retain(|path| {
        let mut values = leaves.iter().map(|l| l.get(*path));
        let first = values.next().flatten();
        values.any(|v| v != first)
    });
    paths.into_iter().cloned().collect()
}

fn flatten(value: &Value, path: String, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                flatten(value, path, out);
            }
        }
        other => {
            out.insert(path, other.clone());
        }
    }
}

/// A leaf as a CSV cell: a string as it is, anything else as JSON.
fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{RanOn, Status};
    use super::*;

    fn finished(store: &Store, id: &str, width: u64, loss: Option<f64>, backend: &str) {
        let trial = serde_json::json!({
            "id": id, "name": format!("grid[w={width}]"), "sweep": "grid",
            "config": { "model": { "width": width, "depth": 2 }, "budget": { "tokens": 1000.0 } },
        });
        store.describe(id, &trial).unwrap();
        let result = TrialResult {
            id: id.into(),
            status: if loss.is_some() { Status::Ok } else { Status::Failed },
            error: loss.is_none().then(|| "the training loss became NaN, at step 3".into()),
            step: None,
            observables: crate::observables::Observables {
                n: width * 100,
                n_final: width * 50,
                n_avg: width as f64 * 75.0,
                s: 0.5,
                d: 1000,
                c: 1.0,
                c_dense: 2.0,
            },
            l: loss,
            backend: None,
            device: None,
        }
        .ran_on(&[RanOn { backend: backend.into(), device: "cpu".into() }]);
        store.finish(&result).unwrap();
    }

    #[test]
    fn results_csv_has_a_row_per_finished_trial_and_the_fields_that_differ() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(Some(dir.path()), std::path::Path::new("x.sprs")).unwrap();
        finished(&store, "bbbb", 64, Some(2.5), "flex");
        finished(&store, "aaaa", 32, None, "ndarray");
        // A trial that started and has no result yet, and a folder that is not a trial.
        store.describe("cccc", &serde_json::json!({ "id": "cccc", "name": "x", "config": {} })).unwrap();
        fs::create_dir_all(dir.path().join("tokenizers")).unwrap();

        let (path, rows) = rebuild_results(&store, &["bbbb"]).unwrap();
        assert_eq!(rows.len(), 2);
        let mut reader = csv::Reader::from_path(path).unwrap();
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
        assert_eq!(
            header,
            [
                "id",
                "name",
                "sweep",
                "status",
                "N",
                "N_final",
                "N_avg",
                "S",
                "D",
                "C",
                "C_dense",
                "L",
                "error",
                "backend",
                "device",
                "model.width"
            ]
        );
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        // The order asked for first, then by id.
        assert_eq!(&records[0][0], "bbbb");
        assert_eq!(&records[0][3], "ok");
        assert_eq!(&records[0][11], "2.5");
        assert_eq!((&records[0][13], &records[0][14]), ("flex", "cpu"));
        assert_eq!(&records[0][15], "64");
        assert_eq!(&records[1][0], "aaaa");
        assert_eq!(&records[1][3], "failed");
        assert_eq!(&records[1][11], "");
        assert!(records[1][12].contains("NaN, at step 3"), "a comma inside a field is quoted");
        assert_eq!(&records[1][13], "ndarray", "a failed trial says where it failed");
    }
}
