//! The points a fit is made on: rows of a CSV file, or the results of a file's trials, each a
//! set of named values (observables and config paths), filtered by `where` conditions.

use serde_json::{Map, Value as Json};

use super::error::FitError;
use crate::access::{Access, MAX_CSV_BYTES};
use crate::check::builtins::Builtin;
use crate::check::observables::dotted;
use crate::check::{ColumnSource, FitSource, FitSpec};
use crate::diagnostic::Diag;
use crate::plan::Plan;
use crate::store::Store;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use crate::syntax::Loc;

/// One data point: its values by name, and what to call it in messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The trial's name or the CSV row's number, for tables and diagnostics.
    pub label: String,
    /// The trial's id, or for a CSV row its label: what tells two points apart.
    pub id: String,
    /// Observables (`N`, `L`, ..) and, for trials, `config`: the resolved configuration.
    pub values: Map<String, Json>,
}

impl Point {
    /// The value of an observable or a config path (`model.width`, or a top-level field such as
    /// `batch`).
    pub fn get(&self, name: &str) -> Option<&Json> {
        if let Some(value) = self.values.get(name) {
            return Some(value);
        }
        let mut value = self.values.get("config")?;
        for segment in name.split('.') {
            value = value.get(segment)?;
        }
        Some(value)
    }

    /// The observable `name` of the point, if it is a number.
    pub fn number(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(Json::as_f64)
    }
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
                Some(Json::Number(n)) => Value::Num(n.as_f64().unwrap_or(f64::NAN)),
                Some(Json::String(s)) => Value::Str(s.clone()),
                Some(Json::Bool(b)) => Value::Bool(*b),
                Some(Json::Null) => return Err(format!("`{name}` has no value")),
                Some(_) => return Err(format!("`{name}` is a record, not a value")),
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
                    let Ok(Json::Object(mut values)) = serde_json::to_value(&result) else { continue };
                    for key in ["id", "status", "error", "step"] {
                        values.remove(key);
                    }
                    values.insert("config".into(), serde_json::to_value(&trial.config).unwrap_or(Json::Null));
                    let point = Point { label: format!("trial `{}`", trial.name), id: trial.id.clone(), values };
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
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let headers: Vec<String> = match reader.headers() {
        Ok(headers) => headers.iter().map(str::to_string).collect(),
        Err(error) => {
            diags.push(unreadable(error.to_string()));
            return None;
        }
    };
    let mut indices = Vec::new();
    for column in columns {
        if let ColumnSource::Name(name) = &column.source {
            match headers.iter().position(|h| h == name) {
                Some(i) => indices.push(Some(i)),
                None => {
                    let help = if in_root {
                        crate::check::did_you_mean(name, headers.iter().map(String::as_str))
                            .or_else(|| Some(format!("its columns are {}", quoted(&headers))))
                    } else {
                        Some("the file is outside the project root, so its columns are not shown".into())
                    };
                    diags.push(Diag::new(
                        column.at.file,
                        FitError::MissingColumn {
                            path: path.to_string(),
                            column: name.clone(),
                            span: column.at.span.into(),
                            help,
                        },
                    ));
                    return None;
                }
            }
        } else {
            indices.push(None);
        }
    }
    let mut points = Vec::new();
    for (row, record) in reader.records().enumerate() {
        if row >= MAX_CSV_ROWS {
            diags.push(unreadable(format!("it has more than {MAX_CSV_ROWS} rows")));
            return None;
        }
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                diags.push(unreadable(error.to_string()));
                return None;
            }
        };
        // Rows count from 1 after the header, as a spreadsheet shows them less one.
        let label = format!("row {} of `{path}`", row + 1);
        let mut point = Point { id: label.clone(), label, values: Map::new() };
        for (column, index) in columns.iter().zip(&indices) {
            let value = match (&column.source, index) {
                (ColumnSource::Name(name), Some(i)) => {
                    let text = record.get(*i).unwrap_or("").trim();
                    match text.parse::<f64>() {
                        Ok(value) => value,
                        Err(_) => {
                            diags.push(Diag::new(
                                column.at.file,
                                FitError::NotANumber {
                                    path: path.to_string(),
                                    row: row + 1,
                                    column: name.clone(),
                                    value: if in_root { format!("`{text}`") } else { "a value".into() },
                                    span: column.at.span.into(),
                                },
                            ));
                            return None;
                        }
                    }
                }
                (ColumnSource::Expr(expr), _) => match evaluate(expr, &point) {
                    Ok(Value::Num(value)) => value,
                    Ok(other) => {
                        let error = format!("it is {}, not a number", other.describe());
                        diags.push(evaluation(column.at, expr, &format!("`{}`", column.observable), &point, error));
                        return None;
                    }
                    Err(error) => {
                        diags.push(evaluation(column.at, expr, &format!("`{}`", column.observable), &point, error));
                        return None;
                    }
                },
                (ColumnSource::Name(_), None) => unreachable!("every named column has an index"),
            };
            point.values.insert(column.observable.clone(), Json::from(value));
        }
        points.push(point);
    }
    Some(points)
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}
