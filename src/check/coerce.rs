//! Checking one value against a field's type, unit and range, into its canonical JSON.

use std::rc::Rc;

use serde_json::{json, Value as Json};

use super::builtins::{is_plain, Builtin};
use super::schema::{Bound, Bounds, Kind, Ty};
use super::units::Unit;
use super::value::{Num, Obj, Val, V};
use super::{CheckError, Checker, Help};
use crate::access::Denied;
use crate::diagnostic::Fix;

impl Checker {
    /// Checks one value against a type.
    pub(super) fn coerce(&mut self, val: &Val, ty: Ty, field: &str, partial: bool) -> Option<Json> {
        match ty {
            Ty::Count { min, max, unit } => {
                let n = self.number(val, field, &[Unit::NONE, unit])?;
                let n = self.whole(val, field, n)?;
                self.range(val, field, n, Bounds::closed(min, max))?;
                Some(json!(n as u64))
            }
            Ty::Real(bounds) | Ty::Fraction(bounds) => {
                let n = self.number(val, field, &[Unit::NONE])?;
                self.range(val, field, n, bounds)?;
                Some(json!(n))
            }
            Ty::Word(words) => self.word(val, field, words),
            Ty::Bool => match val.v {
                V::Bool(b) => Some(json!(b)),
                _ => self.wrong(val, "a boolean (`true` or `false`)", None),
            },
            Ty::Record(kind) => {
                let val = self.expect_record(val.clone(), kind)?;
                let V::Record(obj) = &val.v else { return None };
                self.coerce_record(obj, kind, field, partial)
            }
            Ty::Words(words) => match &val.v {
                V::List(items) => {
                    let words: Vec<Json> = items.iter().filter_map(|item| self.word(item, field, words)).collect();
                    (words.len() == items.len()).then_some(Json::Array(words))
                }
                _ => self.wrong(val, "a list of words", Some(format!("for example `[{}]`", words.join(", ")))),
            },
            Ty::Source => self.source(val, field, partial),
            Ty::Tokenizer => self.tokenizer(val, field, partial),
            Ty::Point => self.point(val, field),
            Ty::Interval => self.interval(val, field),
            Ty::Budget => self.budget(val, field),
            Ty::Betas => match &val.v {
                V::Tuple(items) if items.len() == 2 => {
                    let mut betas = Vec::new();
                    for item in items.iter() {
                        let n = self.number(item, field, &[Unit::NONE])?;
                        self.range(item, field, n, Bounds::PROPER_FRACTION)?;
                        betas.push(json!(n));
                    }
                    Some(Json::Array(betas))
                }
                _ => self.wrong(val, "a pair of numbers", Some("for example `(0.9, 0.95)`".into())),
            },
            // Fit fields are checked by `fit.rs`, which keeps their expressions.
            Ty::FitOn | Ty::Law | Ty::Params | Ty::Loss | Ty::Holdout => Some(Json::Null),
        }
    }

    fn wrong(&mut self, val: &Val, expected: &str, help: impl Into<Help>) -> Option<Json> {
        self.mismatch(val.at, expected, &val.v, help)
    }

    /// A number in one of the allowed units (no `of` qualifier).
    fn number(&mut self, val: &Val, field: &str, units: &[Unit]) -> Option<f64> {
        match &val.v {
            V::Num(n) if n.of.is_none() && units.contains(&n.unit) => Some(n.value),
            V::Num(n) if n.of.is_some() => {
                let message = format!("`{field}` cannot be qualified with `of`");
                self.emit(val.at, |span| CheckError::BadQualifier {
                    message,
                    span,
                    label: "qualified fraction".into(),
                });
                None
            }
            V::Num(n) => {
                let expected = unit_list(units);
                let found = n.unit.to_string();
                let help = units
                    .iter()
                    .find(|u| !u.is_none())
                    .map(|u| format!("write the value in {u}, or as a plain number"));
                self.emit(val.at, |span| CheckError::FieldUnit {
                    field: field.to_string(),
                    expected,
                    found,
                    span,
                    help,
                });
                None
            }
            _ => {
                self.wrong(val, "a number", None);
                None
            }
        }
    }

    fn whole(&mut self, val: &Val, field: &str, n: f64) -> Option<f64> {
        if n.fract() == 0.0 {
            return Some(n);
        }
        let help = (!self.sources.get(val.at.file).is_user() || self.anchor.is_some())
            .then(|| format!("`{field}` is computed as {}; choose values that make it whole", crate::format::number(n)))
            .or_else(|| Some("use `round(..)`, `floor(..)` or `ceil(..)` if the value is computed".into()));
        self.emit(val.at, |span| CheckError::NotWhole {
            field: field.to_string(),
            value: crate::format::number(n),
            span,
            help,
        });
        None
    }

    fn range(&mut self, val: &Val, field: &str, n: f64, bounds: Bounds) -> Option<()> {
        if bounds.contains(n) {
            return Some(());
        }
        let range = format!("in {bounds}");
        let value = match &val.v {
            V::Num(num) => num.to_string(),
            _ => crate::format::number(n),
        };
        self.emit(val.at, |span| CheckError::OutOfRange { field: field.to_string(), range, value, span, help: None });
        None
    }

    fn word(&mut self, val: &Val, field: &str, words: &[&str]) -> Option<Json> {
        let list = words.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ");
        match &val.v {
            V::Word(word) if words.contains(&word.as_str()) => Some(json!(word)),
            V::Word(word) => {
                let help = Help::did_you_mean(word, val.at.span, words.iter().copied(), || {
                    Some(format!("`{field}` is one of {list}"))
                });
                self.wrong(val, &format!("one of {list}"), help)
            }
            _ => self.wrong(val, &format!("one of {list}"), None),
        }
    }

    /// A string argument of a call, as a path the file may read (see [`crate::access`]),
    /// relative to the checked file's folder.
    pub(super) fn existing_path(&mut self, val: &Val) -> Option<String> {
        let V::Str(path) = &val.v else {
            self.wrong(val, "a path string", None);
            return None;
        };
        let written = self.sources.get(val.at.file).dir().join(path);
        match self.access.locate(&written) {
            Ok(place) => Some(relative_to(&place.path, &self.entry_dir).display().to_string()),
            // A data file that is not here yet: everything that can be known without it is still
            // checked and planned (see `Missing`).
            Err(Denied::NotFound) => {
                let looked = super::load::normalize(&written);
                let at = self.user_loc(val.at);
                // Each trial that uses the data names it again: once per place is enough.
                if !self.missing.iter().any(|m| m.at == at && m.looked == looked) {
                    self.missing.push(super::Missing { at, path: path.clone(), looked: looked.clone() });
                }
                Some(relative_to(&looked, &self.entry_dir).display().to_string())
            }
            Err(denied) => {
                self.refuse(val.at, path, &written, denied, false);
                None
            }
        }
    }

    fn source(&mut self, val: &Val, field: &str, partial: bool) -> Option<Json> {
        match &val.v {
            V::Call { name: Builtin::Text, args, .. } => {
                let paths = match &args[0].v {
                    V::List(items) if !items.is_empty() => items.to_vec(),
                    V::List(_) => return self.wrong(&args[0], "at least one path", None),
                    _ => vec![args[0].clone()],
                };
                let resolved: Vec<String> = paths.iter().filter_map(|p| self.existing_path(p)).collect();
                (resolved.len() == paths.len()).then(|| json!({ "text": { "paths": resolved } }))
            }
            V::Call { name: Builtin::Tokens, args, named } => {
                let path = self.existing_path(&args[0]);
                let dtype = match named.iter().find(|(n, _)| n == "dtype") {
                    Some((_, dtype)) => self.word(dtype, "dtype", super::schema::DTYPES)?,
                    None => json!("u16"),
                };
                Some(json!({ "tokens": { "path": path?, "dtype": dtype } }))
            }
            V::Call { name: Builtin::Bundled, args, .. } => match &args[0].v {
                V::Str(name) if crate::data::corpus::find(name).is_some() => Some(json!({ "bundled": { "name": name } })),
                _ => {
                    let help = Some(format!("the bundled corpora are {}", crate::data::corpus::ALL.iter().map(|b| format!("\"{}\"", b.name)).collect::<Vec<_>>().join(", ")));
                    let message = format!("no bundled corpus {}", self.text(args[0].at));
                    self.emit(args[0].at, |span| CheckError::BadCall { message, span, label: "unknown corpus".into(), help });
                    None
                }
            },
            V::Builtin(Builtin::Synthetic) => {
                let obj = Rc::new(Obj::new(Some(Kind::Synthetic), Some("synthetic".into()), Vec::new(), val.at));
                Some(json!({ "synthetic": self.coerce_record(&obj, Kind::Synthetic, field, partial)? }))
            }
            V::Record(obj) if obj.kind == Some(Kind::Synthetic) => Some(json!({ "synthetic": self.coerce_record(obj, Kind::Synthetic, field, partial)? })),
            _ => self.wrong(val, "a source", Some("a source is `text(\"path\")`, `tokens(\"path\", dtype = u16)`, `bundled(\"shakespeare\")` or `synthetic { .. }`".into())),
        }
    }

    fn tokenizer(&mut self, val: &Val, field: &str, partial: bool) -> Option<Json> {
        match &val.v {
            V::Word(word) if word == "bytes" => Some(json!("bytes")),
            V::Builtin(Builtin::Bpe) => {
                let obj = Rc::new(Obj::new(Some(Kind::Bpe), Some("bpe".into()), Vec::new(), val.at));
                Some(json!({ "bpe": self.coerce_record(&obj, Kind::Bpe, field, partial)? }))
            }
            V::Record(obj) if obj.kind == Some(Kind::Bpe) => {
                Some(json!({ "bpe": self.coerce_record(obj, Kind::Bpe, field, partial)? }))
            }
            V::Call { name: Builtin::File, args, .. } => {
                Some(json!({ "file": { "path": self.existing_path(&args[0])? } }))
            }
            _ => self.wrong(
                val,
                "a tokenizer",
                Some("a tokenizer is `bytes`, `bpe { vocab = 4096 }` or `file(\"tokenizer.json\")`".into()),
            ),
        }
    }

    fn point(&mut self, val: &Val, field: &str) -> Option<Json> {
        let V::Num(n) = &val.v else { return self.wrong(val, "a fraction, steps or tokens", None) };
        match (n.of, n.unit) {
            (Some(_), _) | (None, Unit::NONE) => {
                let basis = n.of.unwrap_or(super::value::Basis::Steps);
                if !(0.0..=1.0).contains(&n.value) {
                    let help =
                        Some("for an absolute point write a quantity such as `500 steps` or `10M tokens`".into());
                    self.emit(val.at, |span| CheckError::OutOfRange {
                        field: field.to_string(),
                        range: "in [0, 1]".into(),
                        value: n.to_string(),
                        span,
                        help,
                    });
                    return None;
                }
                Some(json!({ "fraction": { "value": n.value, "of": basis } }))
            }
            (None, unit) if unit == Unit::STEPS || unit == Unit::TOKENS => {
                let plain = Val { v: V::Num(Num { unit: Unit::NONE, ..*n }), at: val.at };
                let count = self.whole(&plain, field, n.value)?;
                self.range(&plain, field, count, Bounds::new(Bound::Closed(0.0), Bound::Open(f64::INFINITY)))?;
                let key = if unit == Unit::STEPS { "steps" } else { "tokens" };
                Some(json!({ key: count as u64 }))
            }
            (None, unit) => {
                let help =
                    Some("write a fraction (`25%`, `25% of compute`) or a quantity (`500 steps`, `10M tokens`)".into());
                self.emit(val.at, |span| CheckError::FieldUnit {
                    field: field.to_string(),
                    expected: "a fraction, steps or tokens".into(),
                    found: unit.to_string(),
                    span,
                    help,
                });
                None
            }
        }
    }

    fn interval(&mut self, val: &Val, field: &str) -> Option<Json> {
        let V::Num(n) = &val.v else { return self.wrong(val, "a fraction or steps", None) };
        if n.of.is_some() {
            let message =
                format!("`{field}` is a fraction of training or a number of steps; it cannot be qualified with `of`");
            self.emit(val.at, |span| CheckError::BadQualifier { message, span, label: "qualified fraction".into() });
            return None;
        }
        // A zero-length warmup is meaningful; a zero update or evaluation interval is not.
        let zero_ok = field.ends_with("warmup");
        if is_plain(n) {
            if !(0.0..=1.0).contains(&n.value) || (!zero_ok && n.value == 0.0) {
                let help = Some(format!("for a number of steps write `{} steps`", crate::format::number(n.value)));
                let range = if zero_ok { "in [0, 1]" } else { "in (0, 1]" };
                self.emit(val.at, |span| CheckError::OutOfRange {
                    field: field.to_string(),
                    range: range.into(),
                    value: n.to_string(),
                    span,
                    help,
                });
                return None;
            }
            return Some(json!({ "fraction": n.value }));
        }
        if n.unit == Unit::STEPS {
            let count = self.whole(val, field, n.value)?;
            let min = if zero_ok { 0.0 } else { 1.0 };
            self.range(val, field, count, Bounds::new(Bound::Closed(min), Bound::Open(f64::INFINITY)))?;
            return Some(json!({ "steps": count as u64 }));
        }
        let help = Some("write a fraction of training (`10%`) or a number of steps (`100 steps`)".into());
        self.emit(val.at, |span| CheckError::FieldUnit {
            field: field.to_string(),
            expected: "a fraction or steps".into(),
            found: n.unit.to_string(),
            span,
            help,
        });
        None
    }

    fn budget(&mut self, val: &Val, field: &str) -> Option<Json> {
        let units = [Unit::TOKENS, Unit::STEPS, Unit::FLOPS, Unit::TOKENS_PER_PARAM];
        let value = match &val.v {
            V::Num(n) if n.of.is_none() && units.contains(&n.unit) => *n,
            V::Num(n) if n.of.is_none() => {
                let found = n.unit.to_string();
                let help = Some("add a unit: `20 tokens/param`, `10M tokens`, `5000 steps` or `1e18 flops`".into());
                // A plain number written as one: the unit goes after it.
                let written = self.text(val.at);
                let plain = n.unit == Unit::NONE && written.parse::<f64>().is_ok();
                let fixes = ["tokens/param", "tokens", "steps", "flops"]
                    .iter()
                    .filter(|_| plain)
                    .map(|unit| Fix {
                        title: format!("add the unit `{unit}`"),
                        span: [val.at.span.start, val.at.span.end],
                        text: format!("{written} {unit}"),
                    })
                    .collect();
                self.emit_fixed(val.at, fixes, |span| CheckError::FieldUnit {
                    field: field.to_string(),
                    expected: unit_list(&units),
                    found,
                    span,
                    help,
                });
                return None;
            }
            _ => {
                return self.wrong(
                    val,
                    "a budget",
                    Some("a budget is `20 tokens/param`, `10M tokens`, `5000 steps` or `1e18 flops`".into()),
                )
            }
        };
        self.range(val, field, value.value, Bounds::new(Bound::Open(0.0), Bound::Open(f64::INFINITY)))?;
        Some(match value.unit {
            u if u == Unit::TOKENS => json!({ "tokens": value.value }),
            u if u == Unit::STEPS => json!({ "steps": self.whole(val, field, value.value)? as u64 }),
            u if u == Unit::FLOPS => json!({ "flops": value.value }),
            _ => json!({ "tokens_per_param": value.value }),
        })
    }
}

fn unit_list(units: &[Unit]) -> String {
    let words: Vec<String> =
        units.iter().map(|u| if u.is_none() { "a plain number".into() } else { u.to_string() }).collect();
    match words.as_slice() {
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
        [] => String::new(),
    }
}

/// `path` relative to the directory `base` (with `..` where it lies outside), so that paths in a
/// resolved config mean the same from any working directory; absolute where the two share no
/// root.
fn relative_to(path: &std::path::Path, base: &std::path::Path) -> std::path::PathBuf {
    use std::path::{Component, PathBuf};
    let absolute = |p: &std::path::Path| {
        let p = if p.as_os_str().is_empty() { std::path::Path::new(".") } else { p };
        p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
    };
    let (path, base) = (absolute(path), absolute(base));
    let (mut ours, mut theirs) = (path.components().peekable(), base.components().peekable());
    if ours.peek() != theirs.peek() {
        return path;
    }
    while ours.peek().is_some() && ours.peek() == theirs.peek() {
        ours.next();
        theirs.next();
    }
    let mut out: PathBuf = theirs.map(|_| Component::ParentDir).collect();
    out.extend(ours);
    out
}
