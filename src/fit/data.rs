//! The points a fit is made on: rows of a CSV file, or the results of a file's trials, each a
//! set of named values (observables and config paths), filtered by `where` conditions.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::error::FitError;
use crate::access::{Access, MAX_CSV_BYTES};
use crate::check::builtins::Builtin;
use crate::check::law::Variable;
use crate::check::observables::dotted;
use crate::check::{ColumnSource, FitSource, FitSpec};
use crate::diagnostic::Diag;
use crate::observables::Observable;
use crate::plan::Plan;
use crate::store::Store;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use crate::syntax::Loc;

/// One data point: its observables, a trial's configuration, and what to call it in messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The trial's name or the CSV row's number, for tables and diagnostics.
    pub label: String,
    /// The trial's id, or for a CSV row its label: what tells two points apart.
    pub id: String,
    /// The observables it has, in the order of [`Observable::ALL`]: every one for a trial's
    /// result, the mapped ones for a CSV row.
    observables: [Option<f64>; Observable::ALL.len()],
    /// A trial's configuration by dotted path (`model.width`, `batch`); empty for a CSV row.
    config: BTreeMap<String, Json>,
    /// Where a trial trained ([`crate::store::TrialResult::platform`]); `None` for a CSV row.
    pub platform: Option<String>,
}

impl Point {
    /// The point of a finished trial: its measured observables and its configuration.
    pub fn trial(trial: &crate::plan::PlannedTrial, result: &crate::store::TrialResult) -> Point {
        let config = serde_json::to_value(&trial.config).map(|c| crate::store::leaves(&c)).unwrap_or_default();
        Point {
            label: format!("trial `{}`", trial.name),
            id: trial.id.clone(),
            observables: Observable::ALL.map(|o| result.get(o)),
            config,
            platform: result.platform(),
        }
    }

    /// A CSV row's point, with no observable yet.
    pub fn row(label: String) -> Point {
        Point {
            id: label.clone(),
            label,
            observables: [None; Observable::ALL.len()],
            config: BTreeMap::new(),
            platform: None,
        }
    }

    /// Gives the point `observable`.
    pub fn set(&mut self, observable: Observable, value: f64) {
        self.observables[index(observable)] = Some(value);
    }

    /// The value of `observable`, if the point has it.
    pub fn observable(&self, observable: Observable) -> Option<f64> {
        self.observables[index(observable)]
    }

    /// The value of an observable or a config path; `None` if the point has neither, an error
    /// if the path holds no single value.
    pub fn get(&self, name: &str) -> Option<Result<Value, String>> {
        match Observable::parse(name) {
            Some(observable) => self.observable(observable).map(|v| Ok(Value::Num(v))),
            None => self.config(name),
        }
    }

    /// The value of a law's variable, if the point has it and it is a number.
    pub fn variable(&self, variable: &Variable) -> Option<f64> {
        match variable {
            Variable::Observable(observable) => self.observable(*observable),
            Variable::Config(path) => match self.config(path)? {
                Ok(Value::Num(n)) => Some(n),
                _ => None,
            },
        }
    }

    /// The value at a config path; `None` if the point has none, an error if the path holds no
    /// single value.
    fn config(&self, name: &str) -> Option<Result<Value, String>> {
        Some(match self.config.get(name)? {
            Json::Number(n) => Ok(Value::Num(n.as_f64().unwrap_or(f64::NAN))),
            Json::String(s) => Ok(Value::Str(s.clone())),
            Json::Bool(b) => Ok(Value::Bool(*b)),
            Json::Null => Err(format!("`{name}` has no value")),
            Json::Array(_) | Json::Object(_) => Err(format!("`{name}` is a list, not a value")),
        })
    }
}

/// Where `observable` is in [`Observable::ALL`].
fn index(observable: Observable) -> usize {
    Observable::ALL.iter().position(|o| *o == observable).unwrap_or_default()
}

/// The most rows a fit reads from one CSV file.
pub const MAX_CSV_ROWS: usize = 1_000_000;

/// A value while evaluating a condition or a derived column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number.
    Num(f64),
    /// A string (a configuration word, a CSV cell).
    Str(String),
    /// A truth value.
    Bool(bool),
}

impl Value {
    fn describe(&self) -> String {
        match self {
            Value::Num(n) => format!("the number {n}"),
            Value::Str(s) => format!("`{s}`"),
            Value::Bool(b) => format!("`{b}`"),
        }
    }
}

/// Evaluates a condition or a derived column at a point. A bare name that the point lacks is an
/// enum word (`cosine`, `llama`), as in the file.
pub fn evaluate(expr: &Expr, point: &Point) -> Result<Value, String> {
    let num = |e: &Expr| match evaluate(e, point)? {
        Value::Num(n) => Ok(n),
        other => Err(format!("{} is not a number", other.describe())),
    };
    let boolean = |e: &Expr| match evaluate(e, point)? {
        Value::Bool(b) => Ok(b),
        other => Err(format!("{} is not true or false", other.describe())),
    };
    Ok(match &expr.kind {
        ExprKind::Number { value, .. } => Value::Num(*value),
        ExprKind::Str(s) => Value::Str(s.clone()),
        ExprKind::Bool(b) => Value::Bool(*b),
        ExprKind::Name(_) | ExprKind::Field { .. } => {
            let name = dotted(expr).ok_or("not a name")?;
            match point.get(&name) {
                Some(value) => value?,
                None if matches!(expr.kind, ExprKind::Name(_)) => Value::Str(name),
                None => return Err(format!("`{name}` is not set")),
            }
        }
        ExprKind::Unary { op: UnaryOp::Neg, operand } => Value::Num(-num(operand)?),
        ExprKind::Unary { op: UnaryOp::Not, operand } => Value::Bool(!boolean(operand)?),
        ExprKind::Binary { op: op @ (BinaryOp::And | BinaryOp::Or), lhs, rhs } => {
            let l = boolean(lhs)?;
            Value::Bool(if *op == BinaryOp::And { l && boolean(rhs)? } else { l || boolean(rhs)? })
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let (l, r) = (evaluate(lhs, point)?, evaluate(rhs, point)?);
            match (op, &l, &r) {
                (BinaryOp::Eq, _, _) => Value::Bool(l == r),
                (BinaryOp::Ne, _, _) => Value::Bool(l != r),
                (_, Value::Num(a), Value::Num(b)) => {
                    let (a, b) = (*a, *b);
                    match op {
                        BinaryOp::Add => Value::Num(a + b),
                        BinaryOp::Sub => Value::Num(a - b),
                        BinaryOp::Mul => Value::Num(a * b),
                        BinaryOp::Div => Value::Num(a / b),
                        BinaryOp::Pow => Value::Num(a.powf(b)),
                        BinaryOp::Lt => Value::Bool(a < b),
                        BinaryOp::Le => Value::Bool(a <= b),
                        BinaryOp::Gt => Value::Bool(a > b),
                        BinaryOp::Ge => Value::Bool(a >= b),
                        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::And | BinaryOp::Or => unreachable!("matched above"),
                    }
                }
                _ => return Err(format!("cannot apply `{}` to {} and {}", op.symbol(), l.describe(), r.describe())),
            }
        }
        ExprKind::Call { callee, args } => {
            let name = dotted(callee).unwrap_or_default();
            let values = args.iter().map(|a| num(&a.value)).collect::<Result<Vec<_>, _>>()?;
            let function = Builtin::in_laws(&name).ok_or_else(|| format!("`{name}` is not a function here"))?;
            if let Some(error) = function
                .bad_arguments(values.len(), args.iter().filter_map(|a| a.name.as_ref().map(|n| n.node.as_str())))
            {
                return Err(error);
            }
            Value::Num(function.apply(&values).ok_or_else(|| format!("`{name}` is not a function of numbers"))?)
        }
        _ => return Err("not an expression over observables".into()),
    })
}

/// Whether `point` passes the condition.
fn passes(cond: &Expr, point: &Point, at: Loc, diags: &mut Vec<Diag>) -> bool {
    match evaluate(cond, point) {
        Ok(Value::Bool(b)) => b,
        Ok(other) => {
            let error = format!("the condition is {}, not true or false", other.describe());
            diags.push(evaluation(at, cond, "the condition", point, error));
            false
        }
        Err(error) => {
            diags.push(evaluation(at, cond, "the condition", point, error));
            false
        }
    }
}

/// A diagnostic for `expr`, written in the file of `at`.
fn evaluation(at: Loc, expr: &Expr, what: &str, point: &Point, error: String) -> Diag {
    Diag::new(
        at.file,
        FitError::Evaluation { what: what.into(), point: point.label.clone(), error, span: expr.span.into() },
    )
}

/// The points of a fit from all its sources. Errors and warnings go to `diags`; the points are
/// `None` after an error.
pub fn load(spec: &FitSpec, plan: &Plan, store: &Store, access: &Access, diags: &mut Vec<Diag>) -> Option<Vec<Point>> {
    load_sources(spec, &spec.sources, plan, store, access, diags)
}

/// The points of `sources`, a fit's `on` or its `predict`; as [`load`].
pub fn load_sources(
    spec: &FitSpec,
    sources: &[FitSource],
    plan: &Plan,
    store: &Store,
    access: &Access,
    diags: &mut Vec<Diag>,
) -> Option<Vec<Point>> {
    let errors_before = diags.iter().filter(|d| d.is_error()).count();
    let mut points = Vec::new();
    for source in sources {
        match source {
            FitSource::Csv { path, columns, filter, at } => {
                let Some(rows) = csv_points(path, columns, access, *at, diags) else { continue };
                points.extend(rows.into_iter().filter(|p| filter.as_ref().is_none_or(|c| passes(c, p, *at, diags))));
            }
            FitSource::Trials { item, filter, at } => {
                let trials: Vec<_> =
                    plan.trials.iter().filter(|t| t.name == *item || t.sweep.as_deref() == Some(item)).collect();
                let mut found = 0;
                for trial in &trials {
                    let Some(result) = store.done(&trial.id) else { continue };
                    found += 1;
                    let point = Point::trial(trial, &result);
                    if filter.as_ref().is_none_or(|c| passes(c, &point, *at, diags)) {
                        points.push(point);
                    }
                }
                if found < trials.len() {
                    diags.push(Diag::new(
                        at.file,
                        FitError::MissingResults {
                            fit: spec.name.clone(),
                            item: item.clone(),
                            missing: trials.len() - found,
                            total: trials.len(),
                            found,
                            span: at.span.into(),
                        },
                    ));
                }
            }
        }
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    (errors == errors_before).then_some(points)
}

/// The rows of a CSV file as points of the mapped observables.
fn csv_points(
    path: &str,
    columns: &[crate::check::Column],
    access: &Access,
    at: Loc,
    diags: &mut Vec<Diag>,
) -> Option<Vec<Point>> {
    let unreadable = |error: String| {
        Diag::new(at.file, FitError::CsvUnreadable { path: path.to_string(), error, span: at.span.into() })
    };
    // What the file holds is shown in diagnostics (its header, a cell that is not a number) only
    // when it lies inside the project root, not in a folder allowed with `--allow-read`.
    let (bytes, in_root) = match access.read(&access.base().join(path), MAX_CSV_BYTES) {
        Ok((bytes, place)) => (bytes, place.in_root),
        Err(error) => {
            diags.push(unreadable(error.to_string()));
            return None;
        }
    };
    let csv = Csv { path, in_root };
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let headers: Vec<String> = match reader.headers() {
        Ok(headers) => headers.iter().map(str::to_string).collect(),
        Err(error) => {
            diags.push(unreadable(error.to_string()));
            return None;
        }
    };
    let sources = csv.sources(columns, &headers).map_err(|diag| diags.push(diag)).ok()?;
    let mut points = Vec::new();
    for (row, record) in reader.records().enumerate() {
        if row >= MAX_CSV_ROWS {
            diags.push(unreadable(format!("it has more than {MAX_CSV_ROWS} rows")));
            return None;
        }
        let record = record.map_err(|error| diags.push(unreadable(error.to_string()))).ok()?;
        points.push(csv.point(row, &record, &sources).map_err(|diag| diags.push(diag)).ok()?);
    }
    Some(points)
}

/// A CSV file being read: its path as written, and whether its contents may be shown.
struct Csv<'a> {
    path: &'a str,
    in_root: bool,
}

/// Where a mapped observable's values come from: a column's cells, or an expression.
enum Cell<'a> {
    Column { column: &'a crate::check::Column, name: &'a str, index: usize },
    Derived { column: &'a crate::check::Column, expr: &'a Expr },
}

impl<'a> Csv<'a> {
    /// Each mapped observable's source, the named columns found among `headers`.
    fn sources(&self, columns: &'a [crate::check::Column], headers: &[String]) -> Result<Vec<Cell<'a>>, Diag> {
        columns
            .iter()
            .map(|column| match &column.source {
                ColumnSource::Expr(expr) => Ok(Cell::Derived { column, expr }),
                ColumnSource::Name(name) => match headers.iter().position(|h| h == name) {
                    Some(index) => Ok(Cell::Column { column, name, index }),
                    None => {
                        let help = if self.in_root {
                            crate::check::did_you_mean(name, headers.iter().map(String::as_str))
                                .or_else(|| Some(format!("its columns are {}", quoted(headers))))
                        } else {
                            Some("the file is outside the project root, so its columns are not shown".into())
                        };
                        let span = column.at.span.into();
                        let column_name = name.clone();
                        let path = self.path.to_string();
                        Err(Diag::new(
                            column.at.file,
                            FitError::MissingColumn { path, column: column_name, span, help },
                        ))
                    }
                },
            })
            .collect()
    }

    /// The point of row `row` (from 0, after the header).
    fn point(&self, row: usize, record: &csv::StringRecord, sources: &[Cell]) -> Result<Point, Diag> {
        // Rows count from 1 after the header, as a spreadsheet shows them less one.
        let mut point = Point::row(format!("row {} of `{}`", row + 1, self.path));
        for source in sources {
            let (column, value) = match source {
                Cell::Column { column, name, index } => {
                    let text = record.get(*index).unwrap_or("").trim();
                    let value = text.parse::<f64>().map_err(|_| {
                        let value = if self.in_root { format!("`{text}`") } else { "a value".into() };
                        let (path, column_name) = (self.path.to_string(), name.to_string());
                        let span = column.at.span.into();
                        Diag::new(
                            column.at.file,
                            FitError::NotANumber { path, row: row + 1, column: column_name, value, span },
                        )
                    })?;
                    (column, value)
                }
                Cell::Derived { column, expr } => {
                    let what = format!("`{}`", column.observable);
                    let value = match evaluate(expr, &point) {
                        Ok(Value::Num(value)) => value,
                        Ok(other) => {
                            let error = format!("it is {}, not a number", other.describe());
                            return Err(evaluation(column.at, expr, &what, &point, error));
                        }
                        Err(error) => return Err(evaluation(column.at, expr, &what, &point, error)),
                    };
                    (column, value)
                }
            };
            point.set(column.observable, value);
        }
        Ok(point)
    }
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}
