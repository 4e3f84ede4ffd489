//! The prelude's builtin functions and enum words.

use crate::observables::Observable;
use std::rc::Rc;

use super::schema::{self, Ty};
use super::units::Unit;
use super::value::{Items, Loc, Num, Obj, Val, V};
use super::{CheckError, Checker};
use crate::syntax::ast::{Arg, ExprKind};
use crate::syntax::FileId;

/// Every builtin of the prelude: its functions, and the two record constructors `bpe` and
/// `synthetic`. Each is named, given its arguments and evaluated here, and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    Text,
    Tokens,
    Bundled,
    File,
    Csv,
    Huber,
    Largest,
    Smallest,
    Grid,
    Min,
    Max,
    Round,
    Floor,
    Ceil,
    Exp,
    Log,
    Sqrt,
    Bpe,
    Synthetic,
}

/// What a builtin call is once evaluated.
enum Eval {
    /// A number, now (`min`, `round`, `grid`, ...).
    Math,
    /// A value a field's type reads (`text(..)`, `huber(..)`, `largest(..)`, `csv(..)`).
    Value,
    /// Not a function: `bpe { .. }` and `synthetic { .. }` are records.
    Record,
}

impl Builtin {
    pub const ALL: [Builtin; 19] = [
        Builtin::Text,
        Builtin::Tokens,
        Builtin::Bundled,
        Builtin::File,
        Builtin::Csv,
        Builtin::Huber,
        Builtin::Largest,
        Builtin::Smallest,
        Builtin::Grid,
        Builtin::Min,
        Builtin::Max,
        Builtin::Round,
        Builtin::Floor,
        Builtin::Ceil,
        Builtin::Exp,
        Builtin::Log,
        Builtin::Sqrt,
        Builtin::Bpe,
        Builtin::Synthetic,
    ];

    /// The builtin called `name`.
    pub fn get(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Text => "text",
            Builtin::Tokens => "tokens",
            Builtin::Bundled => "bundled",
            Builtin::File => "file",
            Builtin::Csv => "csv",
            Builtin::Huber => "huber",
            Builtin::Largest => "largest",
            Builtin::Smallest => "smallest",
            Builtin::Grid => "grid",
            Builtin::Min => "min",
            Builtin::Max => "max",
            Builtin::Round => "round",
            Builtin::Floor => "floor",
            Builtin::Ceil => "ceil",
            Builtin::Exp => "exp",
            Builtin::Log => "log",
            Builtin::Sqrt => "sqrt",
            Builtin::Bpe => "bpe",
            Builtin::Synthetic => "synthetic",
        }
    }

    /// Its parameters as a call writes them and what it gives, for an editor's signature help
    /// (docs/language.md, "Builtins and enum words", says the same).
    pub fn signature(self) -> (&'static [&'static str], &'static str) {
        match self {
            Builtin::Bundled => (&["name"], "a corpus inside the binary: `\"shakespeare\"`"),
            Builtin::Text => (&["path or [paths]"], "UTF-8 text files"),
            Builtin::Tokens => (&["path", "dtype = u16"], "a little-endian token file (`dtype`: `u16` or `u32`)"),
            Builtin::File => (&["path"], "a Hugging Face `tokenizer.json`"),
            Builtin::Csv => (&["path", "columns = {..}"], "points from a CSV file, its columns mapped to observables"),
            Builtin::Huber => (&["delta"], "Huber loss on the residuals of log L"),
            Builtin::Largest => (&["OBS", "k"], "the k points with the largest observable OBS"),
            Builtin::Smallest => (&["OBS", "k"], "the k points with the smallest observable OBS"),
            Builtin::Grid => (&["from", "to", "step"], "the list `from, from + step, ...` up to `to` inclusive"),
            Builtin::Min => (&["x", ".."], "the least of one or more numbers of one unit"),
            Builtin::Max => (&["x", ".."], "the greatest of one or more numbers of one unit"),
            Builtin::Round => (&["x"], "to the nearest whole number, keeping the unit"),
            Builtin::Floor => (&["x"], "down to a whole number, keeping the unit"),
            Builtin::Ceil => (&["x"], "up to a whole number, keeping the unit"),
            Builtin::Exp => (&["x"], "e to the power of a plain number"),
            Builtin::Log => (&["x"], "the natural logarithm of a plain number"),
            Builtin::Sqrt => (&["x"], "the square root of a plain number"),
            Builtin::Bpe => (&[], "a record: a byte-level BPE trained on the training split"),
            Builtin::Synthetic => (&[], "a record: a generated language"),
        }
    }

    /// The positional arguments it takes and the names of its named ones.
    fn arity(self) -> (std::ops::RangeInclusive<usize>, &'static [&'static str]) {
        match self {
            Builtin::Tokens => (1..=1, &["dtype"]),
            Builtin::Csv => (1..=1, &["columns"]),
            Builtin::Largest | Builtin::Smallest => (2..=2, &[]),
            Builtin::Grid => (3..=3, &[]),
            Builtin::Min | Builtin::Max => (1..=usize::MAX, &[]),
            _ => (1..=1, &[]),
        }
    }

    fn eval(self) -> Eval {
        match self {
            Builtin::Grid
            | Builtin::Min
            | Builtin::Max
            | Builtin::Round
            | Builtin::Floor
            | Builtin::Ceil
            | Builtin::Exp
            | Builtin::Log
            | Builtin::Sqrt => Eval::Math,
            Builtin::Text
            | Builtin::Tokens
            | Builtin::Bundled
            | Builtin::File
            | Builtin::Csv
            | Builtin::Huber
            | Builtin::Largest
            | Builtin::Smallest => Eval::Value,
            Builtin::Bpe | Builtin::Synthetic => Eval::Record,
        }
    }

    /// The functions a law, a `where` condition or a derived CSV column may call, on plain
    /// numbers: `exp`, `log` and `sqrt` of one, `min` and `max` of one or more.
    pub fn in_laws(name: &str) -> Option<Builtin> {
        Builtin::get(name)
            .filter(|b| matches!(b, Builtin::Exp | Builtin::Log | Builtin::Sqrt | Builtin::Min | Builtin::Max))
    }

    /// What is wrong with a call of `positional` positional arguments and these named ones, by
    /// the one table of [`Builtin::arity`]: every place that calls a builtin asks here.
    pub fn bad_arguments<'a>(self, positional: usize, named: impl IntoIterator<Item = &'a str>) -> Option<String> {
        let (range, allowed) = self.arity();
        if let Some(name) = named.into_iter().find(|n| !allowed.contains(n)) {
            return Some(format!("`{self}` has no argument `{name}`"));
        }
        if range.contains(&positional) {
            return None;
        }
        let expected = match (*range.start(), *range.end()) {
            (1, 1) => "1 argument".to_string(),
            (a, b) if a == b => format!("{a} arguments"),
            (a, _) => format!("at least {a} argument{}", if a == 1 { "" } else { "s" }),
        };
        Some(format!("`{self}` takes {expected}, found {positional}"))
    }

    /// The value of a numeric builtin at `args` (as many as [`Builtin::arity`] admits): the one
    /// evaluator of `min`, `max`, `round`, `floor`, `ceil`, `exp`, `log` and `sqrt`, which the
    /// checker, the fit's laws and a CSV's derived columns share. `None` for any other builtin or
    /// a wrong count.
    pub fn apply(self, args: &[f64]) -> Option<f64> {
        match (self, args) {
            (Builtin::Min, [first, rest @ ..]) => Some(rest.iter().fold(*first, |a, &b| a.min(b))),
            (Builtin::Max, [first, rest @ ..]) => Some(rest.iter().fold(*first, |a, &b| a.max(b))),
            (Builtin::Round, [x]) => Some(x.round()),
            (Builtin::Floor, [x]) => Some(x.floor()),
            (Builtin::Ceil, [x]) => Some(x.ceil()),
            (Builtin::Exp, [x]) => Some(x.exp()),
            (Builtin::Log, [x]) => Some(x.ln()),
            (Builtin::Sqrt, [x]) => Some(x.sqrt()),
            _ => None,
        }
    }
}

impl std::fmt::Display for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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
    "f32",
    "tf32",
    "bf16",
];

pub fn is_word(name: &str) -> bool {
    WORDS.contains(&name)
}

/// Limit on `grid(..)` sizes: a start grid this large is a typo, not a plan.
const MAX_GRID: f64 = 100_000.0;

impl Checker {
    /// Calls a builtin function.
    pub(super) fn call(
        &mut self,
        function: Builtin,
        args: &[Arg],
        file: FileId,
        this: Option<&Rc<Obj>>,
        at: Loc,
    ) -> Option<Val> {
        if let Eval::Record = function.eval() {
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
        let count = args.iter().filter(|a| a.name.is_none()).count();
        let named = function.arity().1;
        if let Some(message) = function.bad_arguments(count, named.iter().copied()) {
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
                None if matches!(function, Builtin::Largest | Builtin::Smallest) && values.is_empty() => {
                    match &arg.value.kind {
                        ExprKind::Name(name) if schema::is_observable(name) => {
                            values.push(Val { v: V::Word(name.clone()), at: arg_at })
                        }
                        _ => {
                            let found = self.text(arg_at);
                            let help = Some(format!("the observables are {}", observable_list()));
                            self.emit(arg_at, |span| CheckError::UnknownObservable { name: found, span, help });
                            return None;
                        }
                    }
                }
                None => values.push(self.eval(&arg.value, file, this, None)?),
            }
        }
        match function.eval() {
            Eval::Math => self.math(function, values, at),
            Eval::Value | Eval::Record => {
                Some(Val { v: V::Call { name: function, args: values, named: keywords }, at })
            }
        }
    }

    /// `columns = { N = "Model Size", D = C / (6 * N) }`: strings name CSV columns, anything else
    /// is an expression over observables mapped before it.
    fn columns(&mut self, expr: &crate::syntax::ast::Expr, file: FileId) -> Option<Val> {
        let at = Loc { file, span: expr.span };
        let ExprKind::Record(record) = &expr.kind else {
            return self.mismatch(
                at,
                "a record of columns",
                "something else",
                Some("write `columns = { N = \"Model Size\", L = \"loss\" }`".into()),
            );
        };
        let mut columns = Vec::new();
        for field in &record.fields {
            let name = field.path.dotted();
            let name_at = Loc { file, span: field.path.span };
            if !schema::is_observable(&name) {
                let super::Help { text: help, fixes } =
                    super::Help::did_you_mean(&name, name_at.span, Observable::ALL.iter().map(|o| o.name()), || {
                        Some(format!("the observables are {}", observable_list()))
                    });
                self.emit_fixed(name_at, fixes, |span| CheckError::UnknownObservable {
                    name: name.clone(),
                    span,
                    help,
                });
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

    fn math(&mut self, function: Builtin, values: Vec<Val>, at: Loc) -> Option<Val> {
        let mut nums = Vec::new();
        for value in &values {
            match &value.v {
                V::Num(n) if n.of.is_none() => nums.push(*n),
                other => {
                    return self.mismatch(value.at, "a number", &other, None);
                }
            }
        }
        let plain = |checker: &mut Checker, n: &Num, i: usize| {
            if n.unit.is_none() {
                return true;
            }
            checker.mismatch::<()>(
                values[i].at,
                "a plain number",
                &n.unit,
                Some(format!("`{function}` takes plain numbers")),
            );
            false
        };
        if function == Builtin::Grid {
            return self.grid(&nums, &values, at);
        }
        let unit = nums[0].unit;
        match function {
            Builtin::Min | Builtin::Max => {
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
            }
            Builtin::Exp | Builtin::Log | Builtin::Sqrt if !plain(self, &nums[0], 0) => return None,
            _ => {}
        }
        let args: Vec<f64> = nums.iter().map(|n| n.value).collect();
        let Some(value) = function.apply(&args) else {
            let what = format!("`{function}` has no numeric evaluator");
            self.emit(at, |span| CheckError::Internal { what, span });
            return None;
        };
        if !value.is_finite() {
            let shown = args.iter().map(|x| crate::format::number(*x)).collect::<Vec<_>>().join(", ");
            let what = format!("`{function}({shown})` is not a finite number");
            self.emit(at, |span| CheckError::BadArithmetic { what, span });
            return None;
        }
        // `round(50%)` stays a percentage, as `round` keeps its argument's unit.
        let percent = matches!(function, Builtin::Round | Builtin::Floor | Builtin::Ceil) && nums[0].percent;
        let result = Num { value, unit, of: None, percent };
        Some(Val { v: V::Num(result), at })
    }

    /// `grid(from, to, step)`: `from, from + step, ...` up to `to` inclusive.
    fn grid(&mut self, nums: &[Num], values: &[Val], at: Loc) -> Option<Val> {
        for (i, n) in nums.iter().enumerate() {
            if !n.unit.is_none() {
                return self.mismatch(values[i].at, "a plain number", &n.unit, None);
            }
        }
        let (from, to, step) = (nums[0].value, nums[1].value, nums[2].value);
        let count = ((to - from) / step + 1e-9).floor() + 1.0;
        if step <= 0.0 || !(1.0..=MAX_GRID).contains(&count) {
            let message = format!(
                "`grid({}, {}, {})` must have a positive step and between 1 and {MAX_GRID} points",
                crate::format::number(from),
                crate::format::number(to),
                crate::format::number(step)
            );
            self.emit(at, |span| CheckError::BadCall { message, span, label: "empty or too large".into(), help: None });
            return None;
        }
        let items = (0..count as usize).map(|i| Val { v: V::Num(Num::plain(from + step * i as f64)), at }).collect();
        Some(Val { v: V::List(Items::new(items)), at })
    }
}

pub(super) fn observable_list() -> String {
    Observable::ALL.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", ")
}

/// Unit helper for `Unit::NONE` checks elsewhere.
pub(super) fn is_plain(n: &Num) -> bool {
    n.unit == Unit::NONE && n.of.is_none()
}
