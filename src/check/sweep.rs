//! Sweep expansion: the Cartesian product of a sweep's axes, in the order written (first axis
//! slowest), each combination a trial with a stable id.

use std::rc::Rc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::records::Entry;
use super::schema::{self, Kind, Ty};
use super::value::{Def, Items, Loc, Obj, Val, V};
use super::{CheckError, Checker};
use crate::config::TrialConfig;
use crate::diagnostic::Fix;
use crate::syntax::ast::{self, ExprKind, SweepEntry};
use crate::syntax::FileId;
use crate::syntax::LANGUAGE_VERSION;

/// One concrete run: a fully resolved configuration and its id.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// 16 hex digits of SHA-256 over the language version and the canonical configuration.
    pub id: String,
    /// The train's name, or `sweep[path=value, ...]`.
    pub name: String,
    /// The sweep it came from, if any.
    pub sweep: Option<String>,
    /// The resolved configuration, every default filled in: what the id hashes.
    pub config: TrialConfig,
    /// The swept paths and their values as written, in axis order.
    pub axes: Vec<(String, String)>,
    /// Where the trial comes from, for diagnostics of later phases: the sweep value that made
    /// it, or the train's name.
    #[serde(skip_serializing)]
    pub at: Loc,
    /// Where the fields that planning validates were written, in the user's files.
    #[serde(skip_serializing)]
    pub sites: Sites,
}

/// Locations of a trial's budget and schedule fields, for plan diagnostics.
#[derive(Debug, Clone, Copy)]
pub struct Sites {
    /// The trial's `data`.
    pub data: Loc,
    /// The trial's `model`.
    pub model: Loc,
    /// The trial's `budget`.
    pub budget: Loc,
    /// The trial's `eval`.
    pub eval: Loc,
    /// The schedule's `sparsity`.
    pub sparsity: Loc,
    /// The schedule's `start`.
    pub start: Loc,
    /// The schedule's `end`.
    pub end: Loc,
    /// The schedule's `every`.
    pub every: Loc,
}

/// The id of a configuration: independent of formatting, comments, field order and file name,
/// since it hashes only the resolved values (struct fields serialize in declaration order).
pub fn trial_id(config: &TrialConfig) -> String {
    config_digest(config)[..16].to_string()
}

/// The whole SHA-256 of a configuration as [`trial_id`] hashes it (the id keeps 8 bytes of it):
/// what a trial's checkpoint must have been made for.
pub fn config_digest(config: &TrialConfig) -> String {
    // Invariant: a TrialConfig is plain data whose serialization cannot fail.
    let canonical = serde_json::to_string(config).expect("a trial config serializes");
    let mut hasher = Sha256::new();
    hasher.update(format!("sprs {LANGUAGE_VERSION}\n").as_bytes());
    hasher.update(canonical.as_bytes());
    crate::data::hash::hex(&hasher.finalize())
}

/// One value of an axis: a value per path, and how it is shown in trial names.
struct AxisValue {
    values: Vec<Val>,
    text: String,
}

struct AxisSpec {
    paths: Vec<ast::Path>,
    values: Vec<AxisValue>,
}

impl Checker {
    /// The trial of a `train` item that no sweep derives from.
    pub(super) fn train_trial(&mut self, obj: &Rc<Obj>, name: &str, at: Loc) -> Option<Trial> {
        if !self.count_trials(1) {
            self.too_many_trials(Some(1), at, name);
            return None;
        }
        let derived;
        let obj = if self.set.is_empty() {
            obj
        } else {
            let set = self.set_entries();
            derived = self.derive(Some(obj), Some(Kind::Train), obj.class.clone(), set, at);
            &derived
        };
        let json = self.coerce_record(obj, Kind::Train, "", false)?;
        let config = self.config(json, obj.at)?;
        let sites = self.sites(obj, at);
        Some(Trial { id: trial_id(&config), name: name.to_string(), sweep: None, config, axes: Vec::new(), at, sites })
    }

    /// Counts `count` more trials against the file's limit; `false` if they do not fit.
    pub(super) fn count_trials(&mut self, count: u64) -> bool {
        let left = self.limits.trials.saturating_sub(self.trials_counted);
        if count > left {
            return false;
        }
        self.trials_counted += count;
        true
    }

    /// The error for a sweep or train whose trials exceed the file's limit (`count` is `None`
    /// when the count overflows 64 bits).
    pub(super) fn too_many_trials(&mut self, count: Option<u64>, at: Loc, name: &str) {
        let max = self.limits.trials;
        let count = count.map_or_else(|| "2^64 or more".to_string(), |c| c.to_string());
        let before = self.trials_counted;
        let help = if before > 0 {
            format!("the file's items before it already make {before} trials; sweep fewer values, or raise the limit with `--max-trials N`")
        } else {
            "sweep fewer values (each axis multiplies the trials), or raise the limit with `--max-trials N`".to_string()
        };
        self.emit(at, |span| CheckError::TooManyTrials { sweep: name.to_string(), count, max, span, help });
    }

    /// The `--set` overrides, last of a trial's entries: they override the file's fields and axes.
    fn set_entries(&self) -> Vec<Entry> {
        self.set.iter().map(|e| Entry { path: e.path.clone(), def: e.def.clone(), file: e.file }).collect()
    }

    fn config(&mut self, json: serde_json::Value, at: Loc) -> Option<TrialConfig> {
        match serde_json::from_value(json) {
            Ok(config) => Some(config),
            Err(error) => {
                // The checks above make this unreachable; report rather than panic if they miss.
                let what = format!("a checked configuration does not fit the trial schema ({error})");
                self.emit(at, |span| CheckError::Internal { what, span });
                None
            }
        }
    }

    pub(super) fn expand_sweep(&mut self, file: FileId, sweep: &ast::Sweep) -> Vec<Trial> {
        let sweep_at = Loc { file, span: sweep.name.span };
        let base_at = Loc { file, span: sweep.base.span };
        let Some(base) = self.name(&sweep.base.node, file, base_at, Some(Ty::Record(Kind::Train))) else {
            return Vec::new();
        };
        let Some(Val { v: V::Record(base), .. }) = self.expect_record(base, Kind::Train) else { return Vec::new() };
        let mut overrides = Vec::new();
        let mut axes = Vec::new();
        let mut ok = true;
        for entry in &sweep.entries {
            match entry {
                SweepEntry::Override(field) => overrides.push(Entry {
                    path: field.path.segments.clone(),
                    def: Def::Expr { expr: Rc::new(field.value.clone()), file },
                    file,
                }),
                // An axis keeps the values that evaluated, so that the trials still expand
                // and their own errors are reported too.
                SweepEntry::Axis(axis) => match self.axis(file, axis) {
                    Some(spec) if !spec.values.is_empty() => axes.push(spec),
                    _ => ok = false,
                },
            }
        }
        if !ok && axes.len() < sweep.entries.iter().filter(|e| matches!(e, SweepEntry::Axis(_))).count() {
            return Vec::new();
        }
        let total = axes.iter().try_fold(1u64, |count, axis| count.checked_mul(axis.values.len() as u64));
        let total = match total {
            Some(total) if self.count_trials(total) => total as usize,
            _ => {
                self.too_many_trials(total, sweep_at, &sweep.name.node);
                return Vec::new();
            }
        };
        let mut trials = Vec::with_capacity(total);
        let mut index = vec![0; axes.len()];
        for _ in 0..total {
            let mut entries: Vec<Entry> =
                overrides.iter().map(|e| Entry { path: e.path.clone(), def: e.def.clone(), file }).collect();
            let mut named = Vec::new();
            for (axis, &i) in axes.iter().zip(&index) {
                let value = &axis.values[i];
                for (path, val) in axis.paths.iter().zip(&value.values) {
                    entries.push(Entry { path: path.segments.clone(), def: Def::Val(val.clone()), file });
                }
                let paths: Vec<String> = axis.paths.iter().map(ast::Path::dotted).collect();
                let label = if paths.len() == 1 { paths[0].clone() } else { format!("({})", paths.join(", ")) };
                named.push((label, value.text.clone()));
            }
            let anchor = axes.first().map(|a| a.values[index[0]].values[0].at).unwrap_or(sweep_at);
            let mut obj = self.derive(Some(&base), Some(Kind::Train), base.class.clone(), entries, sweep_at);
            if !self.set.is_empty() {
                // A layer of its own: `--set` may override what the sweep sets or sweeps.
                let set = self.set_entries();
                obj = self.derive(Some(&obj), Some(Kind::Train), obj.class.clone(), set, sweep_at);
            }
            self.anchor = Some(anchor);
            let config = self.coerce_record(&obj, Kind::Train, "", false).and_then(|json| self.config(json, anchor));
            self.anchor = None;
            if let Some(config) = config {
                let name = match named.is_empty() {
                    true => sweep.name.node.clone(),
                    false => format!(
                        "{}[{}]",
                        sweep.name.node,
                        named.iter().map(|(p, v)| format!("{p}={v}")).collect::<Vec<_>>().join(", ")
                    ),
                };
                self.anchor = Some(anchor);
                let sites = self.sites(&obj, anchor);
                self.anchor = None;
                let trial = Trial {
                    id: trial_id(&config),
                    name,
                    sweep: Some(sweep.name.node.clone()),
                    config,
                    axes: named,
                    at: anchor,
                    sites,
                };
                trials.push((anchor, trial));
            }
            // The odometer: the last axis varies fastest.
            for k in (0..axes.len()).rev() {
                index[k] += 1;
                if index[k] < axes[k].values.len() {
                    break;
                }
                index[k] = 0;
            }
        }
        let mut trials = self.dedup(trials);
        super::shown::unique_names(&mut trials);
        trials
    }

    /// Where a checked trial's budget and schedule fields were written, moved into the user's
    /// files (a stdlib default such as journey's `start` is reported at the trial's own site).
    fn sites(&self, train: &Rc<Obj>, at: Loc) -> Sites {
        let here = |loc: Loc| if self.sources.get(loc.file).is_user() { loc } else { self.user_loc(loc) };
        let prune = match train.cache.borrow().get("prune") {
            Some(super::value::Cached::Done(Some(Val { v: V::Record(prune), .. }))) => Some(prune.clone()),
            _ => None,
        };
        let prune_at = |field: &str| prune.as_ref().map_or(at, |p| here(self.field_at(p, field)));
        let fallback = |loc: Loc| if self.sources.get(loc.file).is_user() { loc } else { at };
        Sites {
            data: fallback(here(self.field_at(train, "data"))),
            model: fallback(here(self.field_at(train, "model"))),
            budget: fallback(here(self.field_at(train, "budget"))),
            eval: fallback(here(self.field_at(train, "eval"))),
            sparsity: fallback(prune_at("sparsity")),
            start: fallback(prune_at("start")),
            end: fallback(prune_at("end")),
            every: fallback(prune_at("every")),
        }
    }

    /// Keeps the first of several trials with the same id, warning about the others.
    pub(super) fn dedup(&mut self, trials: Vec<(Loc, Trial)>) -> Vec<Trial> {
        let mut kept: Vec<Trial> = Vec::with_capacity(trials.len());
        let mut ids: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for (at, trial) in trials {
            if let Some(&first) = ids.get(&trial.id) {
                let other = kept[first].name.clone();
                let name = trial.name.clone();
                let same =
                    if other == name { "an earlier trial of the same name".to_string() } else { format!("`{other}`") };
                self.emit(at, |span| CheckError::DuplicateTrial { name, other: same, span });
                continue;
            }
            ids.insert(trial.id.clone(), kept.len());
            kept.push(trial);
        }
        kept
    }

    /// Checks an axis's paths and evaluates its values, each against its path's type.
    fn axis(&mut self, file: FileId, axis: &ast::Axis) -> Option<AxisSpec> {
        let mut types = Vec::new();
        for path in &axis.paths {
            types.push(self.axis_path(file, path)?);
        }
        let items: Vec<Option<Val>> = match &axis.values.kind {
            ExprKind::List { items, unit } => items
                .iter()
                .map(|item| {
                    let want = if axis.tuple { None } else { Some(types[0]) };
                    let value = match (&item.kind, axis.tuple) {
                        (ExprKind::Tuple(elems), true) if elems.len() == types.len() => {
                            let values: Vec<Option<Val>> =
                                elems.iter().zip(&types).map(|(e, t)| self.eval(e, file, None, Some(*t))).collect();
                            values
                                .into_iter()
                                .collect::<Option<Vec<_>>>()
                                .map(|vs| Val { v: V::Tuple(Items::new(vs)), at: Loc { file, span: item.span } })
                        }
                        _ => self.eval(item, file, None, want),
                    };
                    match (value, unit) {
                        (Some(value), Some(unit)) => self.apply_unit(value, unit, file),
                        (value, _) => value,
                    }
                })
                .collect(),
            _ => {
                let value = self.eval(&axis.values, file, None, None)?;
                match value.v {
                    V::List(values) => values.iter().cloned().map(Some).collect(),
                    other => {
                        return self.mismatch(
                            value.at,
                            "a list of values",
                            &other,
                            Some("an axis takes a list: `model.width in [64, 128]`".into()),
                        );
                    }
                }
            }
        };
        if items.is_empty() {
            self.emit(Loc { file, span: axis.values.span }, |span| CheckError::EmptyAxis { span });
            return None;
        }
        let mut values = Vec::new();
        for value in items.into_iter().flatten() {
            let text = self.shown(&value);
            let per_path = if axis.tuple {
                match value.v {
                    V::Tuple(elems) if elems.len() == axis.paths.len() => elems.to_vec(),
                    V::Tuple(elems) => {
                        let (expected, found) = (axis.paths.len(), elems.len());
                        self.emit(value.at, |span| CheckError::AxisArity { expected, found, span });
                        continue;
                    }
                    _ => {
                        let expected = axis.paths.len();
                        self.emit(value.at, |span| CheckError::AxisArity { expected, found: 1, span });
                        continue;
                    }
                }
            } else {
                vec![value]
            };
            values.push(AxisValue { values: per_path, text });
        }
        Some(AxisSpec { paths: axis.paths.clone(), values })
    }

    /// The type at an axis path, or an error naming the first segment that does not exist.
    fn axis_path(&mut self, file: FileId, path: &ast::Path) -> Option<Ty> {
        let segments: Vec<&str> = path.segments.iter().map(|s| s.node.as_str()).collect();
        match schema::path_type(Kind::Train, &segments) {
            Ok(ty) => Some(ty),
            Err(bad) => {
                let bad = bad.min(segments.len() - 1);
                let kind = kind_at(&segments[..bad]);
                let span = path.segments[bad].span;
                let best = kind.and_then(|k| super::closest(segments[bad], k.fields().iter().map(|f| f.name)));
                let fixes: Vec<Fix> = best.map(|best| Fix::replace(span, best)).into_iter().collect();
                let help = kind.zip(best).map(|(k, best)| {
                    format!("did you mean `{best}`? ({} has {})", k.article(), super::records::field_list(k))
                });
                let help = help.or_else(|| match kind {
                    Some(k) => Some(format!("{} has {}", k.article(), super::records::field_list(k))),
                    None => Some(format!("`{}` is not a record, so it has no fields", segments[..bad].join("."))),
                });
                self.emit_fixed(Loc { file, span }, fixes, |span| CheckError::UnknownAxisPath {
                    path: path.dotted(),
                    span,
                    help,
                });
                None
            }
        }
    }
}

/// The kind of record at a path from a train, if it is a record.
fn kind_at(path: &[&str]) -> Option<Kind> {
    if path.is_empty() {
        return Some(Kind::Train);
    }
    match schema::path_type(Kind::Train, path) {
        Ok(Ty::Record(kind)) => Some(kind),
        Ok(Ty::Source) => Some(Kind::Synthetic),
        Ok(Ty::Tokenizer) => Some(Kind::Bpe),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_16_hex_digits_and_differ_with_the_config() {
        let json = serde_json::json!({
            "data": { "source": { "bundled": { "name": "shakespeare" } }, "tokenizer": "bytes", "context": 128, "holdout": 0.01 },
            "model": { "arch": "llama", "width": 64, "depth": 2, "heads": 4, "mlp": 256, "vocab": 256, "context": 128, "tie_embeddings": false },
            "prune": { "method": "none", "sparsity": 0.0, "start": { "fraction": { "value": 0.0, "of": "steps" } }, "end": { "fraction": { "value": 1.0, "of": "steps" } }, "every": { "steps": 100 }, "curve": "cubic", "scope": "global", "targets": ["attention", "mlp", "head"] },
            "optimizer": { "lr": 0.003, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1, "grad_clip": 1.0, "warmup": { "fraction": 0.01 }, "decay": "cosine", "min_lr": 0.1 },
            "batch": 32, "budget": { "tokens_per_param": 20.0 }, "seed": 1, "eval": { "every": { "fraction": 0.1 }, "tokens": 256000 }, "count": "linear", "precision": "f32"
        });
        let config: TrialConfig = serde_json::from_value(json).unwrap();
        let id = trial_id(&config);
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        let mut other = config.clone();
        other.seed = 2;
        assert_ne!(trial_id(&other), id);
        assert_eq!(trial_id(&config.clone()), id);
    }
}
