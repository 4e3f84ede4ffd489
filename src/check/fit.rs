//! Fits: checking a `fit` record into a [`FitSpec`]. The law and the `where` conditions stay
//! expressions (the fit engine compiles them); here their names are checked against the
//! observables, the declared parameters and the config paths.

use std::rc::Rc;

use super::builtins::{is_plain, observable_list};
use super::schema::{self, Kind, Ty};
use super::source::FileId;
use super::value::{Loc, Obj, Val, V};
use super::{did_you_mean, CheckError, Checker};
use crate::syntax::ast::{Expr, ExprKind};

/// A checked fit.
#[derive(Debug, Clone)]
pub struct FitSpec {
    pub name: String,
    pub sources: Vec<FitSource>,
    pub law: Expr,
    /// The law as written.
    pub law_text: String,
    pub params: Vec<Param>,
    pub loss: Loss,
    pub holdout: Option<Holdout>,
    pub bootstrap: u64,
    pub seed: u64,
}

#[derive(Debug, Clone)]
pub enum FitSource {
    /// The trials of a sweep or train of the file.
    Trials { item: String, filter: Option<Expr> },
    /// Rows of a CSV file; `path` is relative to the checked file's directory.
    Csv { path: String, columns: Vec<Column>, filter: Option<Expr> },
}

#[derive(Debug, Clone)]
pub struct Column {
    pub observable: String,
    pub source: ColumnSource,
}

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
    pub name: String,
    pub starts: Vec<f64>,
    /// Positive, fitted in log space; `starts` are logs.
    pub log: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    Huber(f64),
    Mse,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Holdout {
    pub observable: String,
    pub count: u64,
    pub largest: bool,
}

/// Math functions a law or condition may call.
const LAW_FUNCTIONS: &[&str] = &["exp", "log", "sqrt", "min", "max"];

/// What names an expression over observables may use.
#[derive(Clone, Copy)]
pub(super) enum Names<'a> {
    /// A law: observables, these parameters and config paths.
    Law(&'a [String]),
    /// A condition on trials: observables, config paths and enum words.
    Trials,
    /// A condition on CSV rows, or a derived column: only these mapped observables.
    Mapped(&'a [String]),
}

impl Checker {
    /// Checks a fit. A template (a stdlib law, or a fit other fits derive from) needs no `on`.
    pub(super) fn check_fit(&mut self, obj: &Rc<Obj>, name: &str, template: bool) -> Option<FitSpec> {
        let at = obj.at;
        let params = self.params(obj);
        let law = self.required(obj, "law", at)?;
        let law_at = law.at;
        let (law, law_text) = match law.v {
            V::Expr(expr) => {
                let names: Vec<String> = params.iter().flatten().map(|(p, _)| p.name.clone()).collect();
                self.check_names_in(&expr, law_at.file, &names, Names::Law(&names));
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
            None if template => Vec::new(),
            None => {
                let help = Some(
                    "add `on = SWEEP` (a sweep or train of this file), or `on = csv(\"points.csv\", columns = { .. })`"
                        .to_string(),
                );
                self.emit(at, |span| CheckError::MissingField {
                    field: "on".into(),
                    kind: Kind::Fit.article(),
                    span,
                    help,
                });
                return None;
            }
            Some(value) => self.sources(value?, &law)?,
        };
        let params = params?.into_iter().map(|(p, _)| p).collect();
        Some(FitSpec { name: name.to_string(), sources, law, law_text, params, loss, holdout, bootstrap, seed })
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
            let found = value.v.describe();
            self.emit(value.at, |span| CheckError::WrongType {
                expected: "a record of parameters".into(),
                found,
                span,
                help: Some("write `params = { alpha = grid(0, 2, 0.5), A = { log = grid(0, 25, 5) } }`".into()),
            });
            return None;
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
        let items = match &value.v {
            V::List(items) if !items.is_empty() => items.clone(),
            V::Num(_) => vec![value.clone()],
            other => {
                let found = other.describe();
                self.emit(value.at, |span| CheckError::WrongType {
                    expected: "a non-empty list of start values".into(),
                    found,
                    span,
                    help: Some(
                        "for example `grid(0, 2, 0.5)` or `[0.3, 0.5]`, or `{ log = [..] }` for a positive parameter"
                            .into(),
                    ),
                });
                return None;
            }
        };
        let mut starts = Vec::new();
        for item in &items {
            match &item.v {
                V::Num(n) if is_plain(n) => starts.push(n.value),
                other => {
                    let found = other.describe();
                    self.emit(item.at, |span| CheckError::WrongType {
                        expected: "a plain number".into(),
                        found,
                        span,
                        help: None,
                    });
                    return None;
                }
            }
        }
        Some(starts)
    }

    fn loss(&mut self, obj: &Rc<Obj>) -> Option<Loss> {
        let value = self.field(obj, "loss", obj.at)??;
        match &value.v {
            V::Word(word) if word == "mse" => Some(Loss::Mse),
            V::Call { name: "huber", args, .. } => match &args[0].v {
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
            other => {
                let found = other.describe();
                self.emit(value.at, |span| CheckError::WrongType {
                    expected: "a loss".into(),
                    found,
                    span,
                    help: Some("a loss is `huber(1e-3)` or `mse`".into()),
                });
                None
            }
        }
    }

    fn holdout(&mut self, obj: &Rc<Obj>) -> Option<Option<Holdout>> {
        let Some(value) = self.field(obj, "holdout", obj.at) else { return Some(None) };
        let value = value?;
        match &value.v {
            V::Call { name: name @ ("largest" | "smallest"), args, .. } => {
                let V::Word(observable) = &args[0].v else { return None };
                let count = self
                    .coerce(
                        &args[1],
                        Ty::Count { min: 1.0, max: 1e9, unit: super::units::Unit::NONE },
                        "holdout count",
                        false,
                    )?
                    .as_u64()?;
                Some(Some(Holdout { observable: observable.clone(), count, largest: *name == "largest" }))
            }
            other => {
                let found = other.describe();
                self.emit(value.at, |span| CheckError::WrongType {
                    expected: "a holdout".into(),
                    found,
                    span,
                    help: Some("a holdout is `largest(C, 3)` or `smallest(N, 2)`".into()),
                });
                None
            }
        }
    }

    /// `on = grid where S == 0`, `on = [a, b]`, `on = csv(..)`.
    fn sources(&mut self, value: Val, law: &Expr) -> Option<Vec<FitSource>> {
        let items = match value.v {
            V::List(items) => items,
            _ => vec![value],
        };
        let mut sources = Vec::new();
        for item in items {
            let (base, cond) = match item.v {
                V::Filtered { base, cond } => (*base, Some(cond)),
                _ => (item, None),
            };
            let filter_file = base.at.file;
            let source = match &base.v {
                V::Sweep(name) => FitSource::Trials { item: name.clone(), filter: None },
                V::Record(obj) if obj.kind == Some(Kind::Train) && obj.class.is_some() => {
                    FitSource::Trials { item: obj.class.clone().unwrap_or_default(), filter: None }
                }
                V::Call { name: "csv", args, named } => {
                    let path = self.csv_path(&args[0])?;
                    let columns = csv_columns(named);
                    let mapped: Vec<String> = columns.iter().map(|c| c.observable.clone()).collect();
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
                    FitSource::Csv { path, columns, filter: None }
                }
                other => {
                    let found = other.describe();
                    self.emit(base.at, |span| CheckError::WrongType {
                        expected: "a sweep, a train or `csv(..)`".into(),
                        found,
                        span,
                        help: None,
                    });
                    return None;
                }
            };
            let source = match (source, cond) {
                (source, None) => source,
                (FitSource::Trials { item, .. }, Some(cond)) => {
                    self.check_names_in(&cond, filter_file, &[], Names::Trials);
                    FitSource::Trials { item, filter: Some((*cond).clone()) }
                }
                (FitSource::Csv { path, columns, .. }, Some(cond)) => {
                    let mapped: Vec<String> = columns.iter().map(|c| c.observable.clone()).collect();
                    self.check_names_in(&cond, filter_file, &mapped, Names::Mapped(&mapped));
                    FitSource::Csv { path, columns, filter: Some((*cond).clone()) }
                }
            };
            sources.push(source);
        }
        Some(sources)
    }

    fn csv_path(&mut self, value: &Val) -> Option<String> {
        let V::Str(path) = &value.v else {
            let found = value.v.describe();
            self.emit(value.at, |span| CheckError::WrongType {
                expected: "a path string".into(),
                found,
                span,
                help: None,
            });
            return None;
        };
        let resolved = super::load::normalize(&self.sources.get(value.at.file).dir().join(path));
        if !resolved.exists() {
            let help =
                Some(format!("paths are relative to the file that names them; looked for `{}`", resolved.display()));
            self.emit(value.at, |span| CheckError::FileNotFound { path: path.clone(), span, help });
            return None;
        }
        Some(resolved.strip_prefix(&self.entry_dir).map(|p| p.to_path_buf()).unwrap_or(resolved).display().to_string())
    }

    /// Checks the names of an expression over observables.
    pub(super) fn check_names_in(&mut self, expr: &Expr, file: FileId, allowed: &[String], names: Names) {
        let at = Loc { file, span: expr.span };
        match &expr.kind {
            ExprKind::Name(name) => {
                let ok = allowed.contains(name)
                    || match names {
                        Names::Law(_) => schema::is_observable(name) || Kind::Train.field(name).is_some(),
                        Names::Trials => {
                            schema::is_observable(name)
                                || Kind::Train.field(name).is_some()
                                || super::builtins::is_word(name)
                        }
                        Names::Mapped(_) => false,
                    };
                if ok {
                    return;
                }
                let mut candidates: Vec<&str> = schema::OBSERVABLES.iter().map(|(o, _)| *o).collect();
                candidates.extend(allowed.iter().map(String::as_str));
                let help = did_you_mean(name, candidates.iter().copied());
                match names {
                    Names::Law(params) => {
                        let help = help.or_else(|| {
                            Some(format!("declare it in `params`, or use an observable: {}", observable_list()))
                        });
                        let _ = params;
                        self.emit(at, |span| CheckError::LawUnknownName { name: name.clone(), span, help });
                    }
                    Names::Trials => {
                        let help = help.or_else(|| {
                            Some(format!(
                                "a condition may use the observables ({}) and config paths such as `model.width`",
                                observable_list()
                            ))
                        });
                        self.emit(at, |span| CheckError::UnknownObservable { name: name.clone(), span, help });
                    }
                    Names::Mapped(mapped) => {
                        let help = help.or_else(|| {
                            Some(format!(
                                "only the observables mapped in `columns` can be used here: {}",
                                mapped.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                            ))
                        });
                        self.emit(at, |span| CheckError::UnknownObservable { name: name.clone(), span, help });
                    }
                }
            }
            ExprKind::Field { .. } => match dotted(expr) {
                Some(path) if !matches!(names, Names::Mapped(_)) => {
                    let segments: Vec<&str> = path.split('.').collect();
                    if schema::path_type(Kind::Train, &segments).is_err() {
                        let help = Some(
                            "config paths name fields of a train, such as `model.width` or `prune.sparsity`"
                                .to_string(),
                        );
                        self.emit(at, |span| CheckError::UnknownObservable { name: path.clone(), span, help });
                    }
                }
                _ => {
                    let name = self.text(at);
                    self.emit(at, |span| CheckError::UnknownObservable {
                        name,
                        span,
                        help: Some("only observables can be used here".into()),
                    });
                }
            },
            ExprKind::Call { callee, args } => {
                match &callee.kind {
                    ExprKind::Name(f) if LAW_FUNCTIONS.contains(&f.as_str()) => {}
                    _ => {
                        let name = self.text(Loc { file, span: callee.span });
                        let help = Some(format!(
                            "the functions available here are {}",
                            LAW_FUNCTIONS.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
                        ));
                        self.emit(Loc { file, span: callee.span }, |span| CheckError::UnknownName { name, span, help });
                    }
                }
                for arg in args {
                    self.check_names_in(&arg.value, file, allowed, names);
                }
            }
            ExprKind::Unary { operand, .. } => self.check_names_in(operand, file, allowed, names),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.check_names_in(lhs, file, allowed, names);
                self.check_names_in(rhs, file, allowed, names);
            }
            ExprKind::List { items, .. } | ExprKind::Tuple(items) => {
                for item in items {
                    self.check_names_in(item, file, allowed, names);
                }
            }
            ExprKind::Number { .. } | ExprKind::Str(_) | ExprKind::Bool(_) => {}
            ExprKind::Of { value, .. } => self.check_names_in(value, file, allowed, names),
            ExprKind::SelfRef | ExprKind::Record(_) | ExprKind::Derive { .. } | ExprKind::Where { .. } => {
                let found = self.text(at);
                self.emit(at, |span| CheckError::WrongType {
                    expected: "an expression over observables".into(),
                    found: format!("`{found}`"),
                    span,
                    help: None,
                });
            }
        }
    }
}

/// `a.b.c` as a string, if the expression is a chain of field accesses on a name.
fn dotted(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Name(name) => Some(name.clone()),
        ExprKind::Field { base, name } => Some(format!("{}.{}", dotted(base)?, name.node)),
        _ => None,
    }
}

/// Whether `name` occurs as a name in `expr`.
fn mentions(expr: &Expr, name: &str) -> bool {
    let mut found = false;
    visit_names(expr, &mut |n| found |= n == name);
    found
}

/// The observables an expression uses.
fn observables_in(expr: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    visit_names(expr, &mut |n| {
        if schema::is_observable(n) && !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    });
    out
}

fn visit_names(expr: &Expr, f: &mut impl FnMut(&str)) {
    match &expr.kind {
        ExprKind::Name(name) => f(name),
        ExprKind::Field { base, .. } => visit_names(base, f),
        ExprKind::Call { args, .. } => args.iter().for_each(|a| visit_names(&a.value, f)),
        ExprKind::Unary { operand, .. } | ExprKind::Of { value: operand, .. } => visit_names(operand, f),
        ExprKind::Binary { lhs, rhs, .. } => {
            visit_names(lhs, f);
            visit_names(rhs, f);
        }
        ExprKind::List { items, .. } | ExprKind::Tuple(items) => items.iter().for_each(|i| visit_names(i, f)),
        _ => {}
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
                (V::Word(observable), V::Str(column)) => {
                    Some(Column { observable: observable.clone(), source: ColumnSource::Name(column.clone()) })
                }
                (V::Word(observable), V::Expr(expr)) => {
                    Some(Column { observable: observable.clone(), source: ColumnSource::Expr((**expr).clone()) })
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}
