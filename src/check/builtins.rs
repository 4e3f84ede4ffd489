//! The prelude's builtin functions and enum words.

use std::rc::Rc;

use super::schema::{self, Ty};
use super::units::Unit;
use super::value::{fmt_number, Items, Loc, Num, Obj, Val, V};
use super::{CheckError, Checker};
use crate::syntax::ast::{Arg, ExprKind};
use crate::syntax::FileId;

/// Every builtin function, and the two record constructors `bpe` and `synthetic`.
pub const FUNCTIONS: &[&str] = &[
    "text",
    "tokens",
    "bundled",
    "file",
    "csv",
    "huber",
    "largest",
    "smallest",
    "grid",
    "min",
    "max",
    "round",
    "floor",
    "ceil",
    "exp",
    "log",
    "sqrt",
    "bpe",
    "synthetic",
];

/// Every enum word of section 4.
pub const WORDS: &[&str] = &[
    "llama",
    "gpt",
    "none",
    "magnitude",
    "random",
    "cubic",
    "geometric",
    "linear",
    "one_shot",
    "global",
    "layerwise",
    "attention",
    "mlp",
    "head",
    "cosine",
    "constant",
    "non_embedding",
    "total",
    "bytes",
    "mse",
    "u16",
    "u32",
];

pub fn function(name: &str) -> Option<&'static str> {
    FUNCTIONS.iter().find(|f| **f == name).copied()
}

pub fn is_word(name: &str) -> bool {
    WORDS.contains(&name)
}

/// Limit on `grid(..)` sizes: a start grid this large is a typo, not a plan.
const MAX_GRID: f64 = 100_000.0;

impl Checker {
    /// Calls a builtin function.
    pub(super) fn call(
        &mut self,
        function: &'static str,
        args: &[Arg],
        file: FileId,
        this: Option<&Rc<Obj>>,
        at: Loc,
    ) -> Option<Val> {
        let (positional, named) = match function {
            "text" | "bundled" | "file" | "huber" | "round" | "floor" | "ceil" | "exp" | "log" | "sqrt" => {
                (1..=1, &[][..])
            }
            "tokens" => (1..=1, &["dtype"][..]),
            "csv" => (1..=1, &["columns"][..]),
            "largest" | "smallest" => (2..=2, &[][..]),
            "grid" => (3..=3, &[][..]),
            "min" | "max" => (1..=usize::MAX, &[][..]),
            // `bpe` and `synthetic` are records.
            _ => {
                let help = Some(format!(
                    "`{function}` is a record: write `{function} {{ .. }}`, or `{function}` alone for its defaults"
                ));
                self.emit(at, |span| CheckError::BadCall {
                    message: format!("`{function}` is not a function"),
                    span,
                    label: "not callable".into(),
                    help,
                });
                return None;
            }
        };
        let count = args.iter().filter(|a| a.name.is_none()).count();
        if !positional.contains(&count) {
            let expected = match (positional.start(), positional.end()) {
                (a, b) if a == b => format!("{a}"),
                (a, _) => format!("at least {a}"),
            };
            let message = format!(
                "`{function}` takes {expected} argument{}, found {count}",
                if expected == "1" { "" } else { "s" }
            );
            self.emit(at, |span| CheckError::BadCall {
                message,
                span,
                label: "wrong number of arguments".into(),
                help: None,
            });
            return None;
        }
        let mut values = Vec::new();
        let mut keywords = Vec::new();
        for arg in args {
            let arg_at = Loc { file, span: arg.value.span };
            match &arg.name {
                Some(name) if !named.contains(&name.node.as_str()) => {
                    let help = match named {
                        [] => Some(format!("`{function}` takes no named arguments")),
                        names => Some(format!(
                            "`{function}` takes {}",
                            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                        )),
                    };
                    let at = Loc { file, span: name.span };
                    self.emit(at, |span| CheckError::BadCall {
                        message: format!("`{function}` has no argument `{}`", name.node),
                        span,
                        label: "unknown argument".into(),
                        help,
                    });
                    return None;
                }
                Some(name) if name.node == "columns" => {
                    keywords.push((name.node.clone(), self.columns(&arg.value, file)?))
                }
                Some(name) => {
                    let want = (name.node == "dtype").then_some(Ty::Word(schema::DTYPES));
                    keywords.push((name.node.clone(), self.eval(&arg.value, file, this, want)?));
                }
                // `largest(C, 3)`: the first argument names an observable.
                None if matches!(function, "largest" | "smallest") && values.is_empty() => match &arg.value.kind {
                    ExprKind::Name(name) if schema::is_observable(name) => {
                        values.push(Val { v: V::Word(name.clone()), at: arg_at })
                    }
                    _ => {
                        let found = self.text(arg_at);
                        let help = Some(format!("the observables are {}", observable_list()));
                        self.emit(arg_at, |span| CheckError::UnknownObservable { name: found, span, help });
                        return None;
                    }
                },
                None => values.push(self.eval(&arg.value, file, this, None)?),
            }
        }
        match function {
            "min" | "max" | "round" | "floor" | "ceil" | "exp" | "log" | "sqrt" | "grid" => {
                self.math(function, values, at)
            }
            _ => Some(Val { v: V::Call { name: function, args: values, named: keywords }, at }),
        }
    }

    /// `columns = { N = "Model Size", D = C / (6 * N) }`: strings name CSV columns, anything else
    /// is an expression over observables mapped before it.
    fn columns(&mut self, expr: &crate::syntax::ast::Expr, file: FileId) -> Option<Val> {
        let at = Loc { file, span: expr.span };
        let ExprKind::Record(record) = &expr.kind else {
            self.emit(at, |span| CheckError::WrongType {
                expected: "a record of columns".into(),
                found: "something else".into(),
                span,
                help: Some("write `columns = { N = \"Model Size\", L = \"loss\" }`".into()),
            });
            return None;
        };
        let mut columns = Vec::new();
        for field in &record.fields {
            let name = field.path.dotted();
            let name_at = Loc { file, span: field.path.span };
            if !schema::is_observable(&name) {
                let help = super::did_you_mean(&name, schema::OBSERVABLES.iter().map(|(o, _)| *o))
                    .or_else(|| Some(format!("the observables are {}", observable_list())));
                self.emit(name_at, |span| CheckError::UnknownObservable { name: name.clone(), span, help });
                continue;
            }
            let value_at = Loc { file, span: field.value.span };
            let value = match &field.value.kind {
                ExprKind::Str(column) => V::Str(column.clone()),
                _ => {
                    let mapped: Vec<String> = columns
                        .iter()
                        .filter_map(|c: &Val| match &c.v {
                            V::Tuple(pair) => match &pair[0].v {
                                V::Word(w) => Some(w.clone()),
                                _ => None,
                            },
                            _ => None,
                        })
                        .collect();
                    self.check_names_in(&field.value, file, &mapped, super::observables::Names::Mapped(&mapped));
                    V::Expr(Rc::new(field.value.clone()))
                }
            };
            columns.push(Val {
                v: V::Tuple(Items::new(vec![Val { v: V::Word(name), at: name_at }, Val { v: value, at: value_at }])),
                at: name_at,
            });
        }
        Some(Val { v: V::List(Items::new(columns)), at })
    }

    fn math(&mut self, function: &'static str, values: Vec<Val>, at: Loc) -> Option<Val> {
        let mut nums = Vec::new();
        for value in &values {
            match &value.v {
                V::Num(n) if n.of.is_none() => nums.push(*n),
                other => {
                    let found = other.describe();
                    self.emit(value.at, |span| CheckError::WrongType {
                        expected: "a number".into(),
                        found,
                        span,
                        help: None,
                    });
                    return None;
                }
            }
        }
        let plain = |checker: &mut Checker, n: &Num, i: usize| {
            if n.unit.is_none() {
                return true;
            }
            let found = format!("a quantity in {}", n.unit);
            checker.emit(values[i].at, |span| CheckError::WrongType {
                expected: "a plain number".into(),
                found,
                span,
                help: Some(format!("`{function}` takes plain numbers")),
            });
            false
        };
        let result = match function {
            "min" | "max" => {
                let unit = nums[0].unit;
                if let Some(i) = nums.iter().position(|n| n.unit != unit) {
                    let message = CheckError::UnitMismatch {
                        verb: "compare",
                        lhs: unit.to_string(),
                        rhs: nums[i].unit.to_string(),
                        span: values[i].at.span.into(),
                        op: "vs",
                    };
                    self.emit(values[i].at, |_| message);
                    return None;
                }
                let pick = if function == "min" { f64::min } else { f64::max };
                Num { value: nums.iter().map(|n| n.value).fold(nums[0].value, pick), unit, of: None, percent: false }
            }
            "round" | "floor" | "ceil" => {
                let n = nums[0];
                let value = match function {
                    "round" => n.value.round(),
                    "floor" => n.value.floor(),
                    _ => n.value.ceil(),
                };
                Num { value, ..n }
            }
            "exp" | "log" | "sqrt" => {
                if !plain(self, &nums[0], 0) {
                    return None;
                }
                let x = nums[0].value;
                let value = match function {
                    "exp" => x.exp(),
                    "log" => x.ln(),
                    _ => x.sqrt(),
                };
                if !value.is_finite() {
                    let what = format!("`{function}({})` is not a finite number", fmt_number(x));
                    self.emit(at, |span| CheckError::BadArithmetic { what, span });
                    return None;
                }
                Num::plain(value)
            }
            _ => return self.grid(&nums, &values, at),
        };
        Some(Val { v: V::Num(result), at })
    }

    /// `grid(from, to, step)`: `from, from + step, ...` up to `to` inclusive.
    fn grid(&mut self, nums: &[Num], values: &[Val], at: Loc) -> Option<Val> {
        for (i, n) in nums.iter().enumerate() {
            if !n.unit.is_none() {
                let found = format!("a quantity in {}", n.unit);
                self.emit(values[i].at, |span| CheckError::WrongType {
                    expected: "a plain number".into(),
                    found,
                    span,
                    help: None,
                });
                return None;
            }
        }
        let (from, to, step) = (nums[0].value, nums[1].value, nums[2].value);
        let count = ((to - from) / step + 1e-9).floor() + 1.0;
        if step <= 0.0 || !(1.0..=MAX_GRID).contains(&count) {
            let message = format!(
                "`grid({}, {}, {})` must have a positive step and between 1 and {MAX_GRID} points",
                fmt_number(from),
                fmt_number(to),
                fmt_number(step)
            );
            self.emit(at, |span| CheckError::BadCall { message, span, label: "empty or too large".into(), help: None });
            return None;
        }
        let items = (0..count as usize).map(|i| Val { v: V::Num(Num::plain(from + step * i as f64)), at }).collect();
        Some(Val { v: V::List(Items::new(items)), at })
    }
}

pub(super) fn observable_list() -> String {
    schema::OBSERVABLES.iter().map(|(o, _)| format!("`{o}`")).collect::<Vec<_>>().join(", ")
}

/// Unit helper for `Unit::NONE` checks elsewhere.
pub(super) fn is_plain(n: &Num) -> bool {
    n.unit == Unit::NONE && n.of.is_none()
}
