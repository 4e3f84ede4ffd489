//! Fits: checking a `fit` record into a [`FitSpec`]. The law's names are checked against the
//! observables, the declared parameters and the config paths, and the law is compiled
//! ([`Law`]), its variables resolved; the `where` conditions stay expressions.

use std::rc::Rc;

use super::builtins::{is_plain, Builtin};
use super::law::Law;
use super::observables::{mentions, observables_in, Names};
use super::schema::{Kind, Ty};
use super::value::{Loc, Obj, Val, V};
use super::{CheckError, Checker};
use crate::observables::Observable;
use crate::syntax::ast::Expr;

/// A checked fit.
#[derive(Debug, Clone)]
pub struct FitSpec {
    /// The fit's name.
    pub name: String,
    /// Where the fit is named, for diagnostics of the fit engine.
    pub at: Loc,
    /// The data it is fitted on (none for a template).
    pub sources: Vec<FitSource>,
    /// Points the fitted law predicts without being fitted to them (`predict = ..`).
    pub predict: Vec<FitSource>,
    /// The law, an expression over observables and the free parameters.
    pub law: Expr,
    /// The law compiled over `params`.
    pub compiled: Law,
    /// The law as written.
    pub law_text: String,
    /// Where the law was written.
    pub law_at: Loc,
    /// The free parameters with their start grids, in the order the law names them.
    pub params: Vec<Param>,
    /// The loss minimised over the log residuals.
    pub loss: Loss,
    /// Points kept out of the fit, to test extrapolation.
    pub holdout: Option<Holdout>,
    /// Bootstrap resamples for the confidence intervals (0: none).
    pub bootstrap: u64,
    /// Seed of the bootstrap.
    pub seed: u64,
}

/// One source of a fit's points (`on = [grid where S > 0, csv(..)]` has two).
#[derive(Debug, Clone)]
pub enum FitSource {
    /// The trials of a sweep or train of the file.
    Trials {
        /// The sweep or train.
        item: String,
        /// `where COND`, over the trials' observables and configuration.
        filter: Option<Expr>,
        /// Where the source is named.
        at: Loc,
    },
    /// Rows of a CSV file; `path` is relative to the checked file's directory.
    Csv {
        /// The file, relative to the checked file's directory.
        path: String,
        /// How the file's columns map to observables.
        columns: Vec<Column>,
        /// `where COND`, over the mapped observables.
        filter: Option<Expr>,
        /// Where the source is named.
        at: Loc,
    },
}

impl FitSource {
    /// Where the source is named.
    pub fn at(&self) -> Loc {
        match self {
            FitSource::Trials { at, .. } | FitSource::Csv { at, .. } => *at,
        }
    }
}

/// One observable of a CSV source: `N = "Model Size"` or `D = C / (6 * N)`.
#[derive(Debug, Clone)]
pub struct Column {
    /// The observable it fills.
    pub observable: Observable,
    /// Where its values come from.
    pub source: ColumnSource,
    /// The column name or expression as written.
    pub at: Loc,
}

/// Where a CSV observable's values come from.
#[derive(Debug, Clone)]
pub enum ColumnSource {
    /// A column of the CSV file.
    Name(String),
    /// An expression over observables mapped before this one.
    Expr(Expr),
}

/// A free parameter and its start grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The parameter's name in the law.
    pub name: String,
    /// The values the optimizer starts from (every combination of every parameter's starts).
    pub starts: Vec<f64>,
    /// Positive, fitted in log space; `starts` are logs.
    pub log: bool,
}

/// The loss a fit minimises over the residuals of log L.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// `huber(delta)`: quadratic within `delta`, linear beyond (Hoffmann et al. use 1e-3).
    Huber(f64),
    /// `mse`: the mean squared residual.
    Mse,
}

/// `largest(OBS, k)` or `smallest(OBS, k)`: the points kept out of a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Holdout {
    /// The observable the points are ranked by.
    pub observable: Observable,
    /// How many points are kept out.
    pub count: u64,
    /// Whether the largest (rather than the smallest) are kept out.
    pub largest: bool,
    /// Where the holdout was written.
    pub at: Loc,
}

impl Checker {
    /// Checks a fit. One without `on` is a template (a stdlib law, or a fit other fits derive
    /// from): its law and parameters are checked, and it has no sources.
    pub(super) fn check_fit(&mut self, obj: &Rc<Obj>, name: &str, fit_at: Loc) -> Option<FitSpec> {
        let at = obj.at;
        let params = self.params(obj);
        let law = self.required(obj, "law", at)?;
        let law_at = law.at;
        let mut compiled = None;
        let (law, law_text) = match law.v {
            V::Expr(expr) => {
                let names: Vec<String> = params.iter().flatten().map(|(p, _)| p.name.clone()).collect();
                let before = self.diags.len();
                self.check_names_in(&expr, law_at.file, &names, Names::Law);
                // What the checker accepts, the fit can evaluate: the law is compiled here, once
                // its names are known good, with the compiler the fit uses.
                if self.diags.len() == before {
                    let free: Vec<(String, bool)> =
                        params.iter().flatten().map(|(p, _)| (p.name.clone(), p.log)).collect();
                    match Law::compile(&expr, &free) {
                        Ok(law) => compiled = Some(law),
                        Err(error) => {
                            let at = Loc { file: law_at.file, span: error.span };
                            self.emit(at, |span| CheckError::NotALaw { message: error.message, span });
                        }
                    }
                }
                for (param, param_at) in params.iter().flatten() {
                    if !mentions(&expr, &param.name) {
                        let name = param.name.clone();
                        self.emit(*param_at, |span| CheckError::UnusedParam { name, span });
                    }
                }
                ((*expr).clone(), self.text(law_at))
            }
            _ => return None,
        };
        let loss = self.loss(obj)?;
        let holdout = self.holdout(obj)?;
        let bootstrap = self.count_field(obj, "bootstrap")?;
        let seed = self.count_field(obj, "seed")?;
        let sources = match self.field(obj, "on", at) {
            None => Vec::new(),
            Some(value) => self.sources(value?, &law)?,
        };
        let predict = match self.field(obj, "predict", at) {
            None => Vec::new(),
            Some(value) => self.sources(value?, &law)?,
        };
        let params: Vec<Param> = params?.into_iter().map(|(p, _)| p).collect();
        let starts = params.iter().try_fold(1u64, |count, p| count.checked_mul(p.starts.len() as u64));
        if starts.is_none_or(|starts| starts > self.limits.fit_starts) {
            let at = self.field_at(obj, "params");
            let (max, count) =
                (self.limits.fit_starts, starts.map_or_else(|| "2^64 or more".into(), |s| s.to_string()));
            let help = "L-BFGS runs from every point of the grid (the product of the parameters' start lists): use fewer starts per parameter, or raise the limit with `--max-fit-starts N`".to_string();
            self.emit(at, |span| CheckError::TooManyStarts { fit: name.to_string(), count, max, span, help });
            return None;
        }
        Some(FitSpec {
            name: name.to_string(),
            at: fit_at,
            sources,
            predict,
            law,
            // Not compiled only after an error.
            compiled: compiled?,
            law_text,
            law_at,
            params,
            loss,
            holdout,
            bootstrap,
            seed,
        })
    }

    fn required(&mut self, obj: &Rc<Obj>, field: &str, at: Loc) -> Option<Val> {
        match self.field(obj, field, at) {
            Some(value) => value,
            None => {
                let help = Kind::Fit.field(field).map(|f| format!("add `{field} = ..`: {}", f.doc));
                self.emit(at, |span| CheckError::MissingField {
                    field: field.into(),
                    kind: Kind::Fit.article(),
                    span,
                    help,
                });
                None
            }
        }
    }

    fn count_field(&mut self, obj: &Rc<Obj>, field: &str) -> Option<u64> {
        let spec = Kind::Fit.field(field)?;
        let value = self.field(obj, field, obj.at)??;
        self.coerce(&value, spec.ty, field, false)?.as_u64()
    }

    /// `params = { E = { log = [..] }, alpha = [..] }`
    fn params(&mut self, obj: &Rc<Obj>) -> Option<Vec<(Param, Loc)>> {
        let value = self.required(obj, "params", obj.at)?;
        let V::Record(params) = &value.v else {
            return self.mismatch(
                value.at,
                "a record of parameters",
                &value.v,
                Some("write `params = { alpha = grid(0, 2, 0.5), A = { log = grid(0, 25, 5) } }`".into()),
            );
        };
        let mut out = Vec::new();
        let mut ok = true;
        for slot in params.slots.clone() {
            let Some(Some(value)) = self.field(params, &slot.name, slot.at) else {
                ok = false;
                continue;
            };
            let (list, log) = match &value.v {
                V::Record(inner) if inner.slots.len() == 1 && inner.slot("log").is_some() => {
                    match self.field(inner, "log", slot.at) {
                        Some(Some(list)) => (list, true),
                        _ => {
                            ok = false;
                            continue;
                        }
                    }
                }
                _ => (value.clone(), false),
            };
            match self.starts(&list) {
                Some(starts) => out.push((Param { name: slot.name.clone(), starts, log }, slot.at)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn starts(&mut self, value: &Val) -> Option<Vec<f64>> {
        let items =
            match &value.v {
                V::List(items) if !items.is_empty() => items.to_vec(),
                V::Num(_) => vec![value.clone()],
                other => {
                    return self.mismatch(value.at, "a non-empty list of start values", &other, Some(
                        "for example `grid(0, 2, 0.5)` or `[0.3, 0.5]`, or `{ log = [..] }` for a positive parameter"
                            .into(),
                    ));
                }
            };
        let mut starts = Vec::new();
        for item in &items {
            match &item.v {
                V::Num(n) if is_plain(n) => starts.push(n.value),
                other => {
                    return self.mismatch(item.at, "a plain number", &other, None);
                }
            }
        }
        Some(starts)
    }

    fn loss(&mut self, obj: &Rc<Obj>) -> Option<Loss> {
        let value = self.field(obj, "loss", obj.at)??;
        match &value.v {
            V::Word(word) if word == "mse" => Some(Loss::Mse),
            V::Call { name: Builtin::Huber, args, .. } => match &args[0].v {
                V::Num(n) if is_plain(n) && n.value > 0.0 => Some(Loss::Huber(n.value)),
                _ => {
                    let value = self.text(args[0].at);
                    self.emit(args[0].at, |span| CheckError::OutOfRange {
                        field: "huber delta".into(),
                        range: "a plain number in (0, inf)".into(),
                        value,
                        span,
                        help: None,
                    });
                    None
                }
            },
            other => self.mismatch(value.at, "a loss", &other, Some("a loss is `huber(1e-3)` or `mse`".into())),
        }
    }

    fn holdout(&mut self, obj: &Rc<Obj>) -> Option<Option<Holdout>> {
        let Some(value) = self.field(obj, "holdout", obj.at) else { return Some(None) };
        let value = value?;
        match &value.v {
            V::Call { name: name @ (Builtin::Largest | Builtin::Smallest), args, .. } => {
                let V::Word(observable) = &args[0].v else { return None };
                // The checker reads `largest`'s first argument only as an observable's name.
                let observable = Observable::parse(observable)?;
                let count = self
                    .coerce(
                        &args[1],
                        Ty::Count { min: 1.0, max: 1e9, unit: super::units::Unit::NONE },
                        "holdout count",
                        false,
                    )?
                    .as_u64()?;
                Some(Some(Holdout { observable, count, largest: *name == Builtin::Largest, at: value.at }))
            }
            other => self.mismatch(
                value.at,
                "a holdout",
                &other,
                Some("a holdout is `largest(C, 3)` or `smallest(N, 2)`".into()),
            ),
        }
    }

    /// `on = grid where S == 0`, `on = [a, b]`, `on = csv(..)`.
    fn sources(&mut self, value: Val, law: &Expr) -> Option<Vec<FitSource>> {
        let items = match value.v {
            V::List(items) => items.to_vec(),
            _ => vec![value],
        };
        let mut sources = Vec::new();
        for item in items {
            let (base, cond) = match item.v {
                V::Filtered { base, cond } => (*base, Some(cond)),
                _ => (item, None),
            };
            let filter_file = base.at.file;
            let at = base.at;
            let source = match &base.v {
                V::Sweep(name) => FitSource::Trials { item: name.clone(), filter: None, at },
                V::Record(obj) if obj.kind == Some(Kind::Train) && obj.class.is_some() => {
                    FitSource::Trials { item: obj.class.clone().unwrap_or_default(), filter: None, at }
                }
                V::Call { name: Builtin::Csv, args, named } => {
                    let path = self.existing_path(&args[0])?;
                    let columns = csv_columns(named);
                    let mapped: Vec<String> = columns.iter().map(|c| c.observable.name().to_string()).collect();
                    if !mapped.iter().any(|m| m == "L") {
                        let help = Some("map the loss column: `columns = { L = \"loss\", .. }`".to_string());
                        self.emit(base.at, |span| CheckError::MissingField {
                            field: "L".into(),
                            kind: "the columns of `csv(..)`".into(),
                            span,
                            help,
                        });
                        return None;
                    }
                    for name in observables_in(law) {
                        if !mapped.contains(&name) {
                            let help = Some(format!("add `{name} = ..` to `columns`"));
                            self.emit(base.at, |span| CheckError::UnknownObservable { name: name.clone(), span, help });
                        }
                    }
                    FitSource::Csv { path, columns, filter: None, at }
                }
                other => {
                    return self.mismatch(base.at, "a sweep, a train or `csv(..)`", &other, None);
                }
            };
            let source = match (source, cond) {
                (source, None) => source,
                (FitSource::Trials { item, at, .. }, Some(cond)) => {
                    self.check_names_in(&cond, filter_file, &[], Names::Trials);
                    FitSource::Trials { item, filter: Some((*cond).clone()), at }
                }
                (FitSource::Csv { path, columns, at, .. }, Some(cond)) => {
                    let mapped: Vec<String> = columns.iter().map(|c| c.observable.name().to_string()).collect();
                    self.check_names_in(&cond, filter_file, &mapped, Names::Mapped(&mapped));
                    FitSource::Csv { path, columns, filter: Some((*cond).clone()), at }
                }
            };
            sources.push(source);
        }
        Some(sources)
    }
}

fn csv_columns(named: &[(String, Val)]) -> Vec<Column> {
    let Some((_, Val { v: V::List(columns), .. })) = named.iter().find(|(n, _)| n == "columns") else {
        return Vec::new();
    };
    columns
        .iter()
        .filter_map(|c| match &c.v {
            V::Tuple(pair) => match (&pair[0].v, &pair[1].v) {
                (V::Word(observable), V::Str(column)) => Some(Column {
                    observable: Observable::parse(observable)?,
                    source: ColumnSource::Name(column.clone()),
                    at: pair[1].at,
                }),
                (V::Word(observable), V::Expr(expr)) => Some(Column {
                    observable: Observable::parse(observable)?,
                    source: ColumnSource::Expr((**expr).clone()),
                    at: pair[1].at,
                }),
                _ => None,
            },
            _ => None,
        })
        .collect()
}
