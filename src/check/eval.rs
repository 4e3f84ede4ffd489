//! Evaluation of expressions and items. Evaluation is type-directed in one respect: a bare name
//! assigned to a field whose type is a set of enum words is that word (`arch = llama` is the
//! architecture even where `llama` also names a model), as docs/language.md says ("The prelude and enum words").

use std::rc::Rc;

use super::arith::unit_of;
use super::builtins::{self, Builtin};
use super::schema::{Kind, Ty};
use super::units::Unit;
use super::value::{Basis, Found, Items, Loc, Num, Obj, Val, MAX_ELEMENTS, V};
use super::{stdlib, CheckError, Checker, Help, Target};
use crate::syntax::ast::{Expr, ExprKind, UnaryOp};
use crate::syntax::Ident;
use crate::syntax::{FileId, UNIT_WORDS};

/// The enum words a bare name may stand for in a value of this type.
fn enum_words(want: Option<Ty>) -> &'static [&'static str] {
    match want {
        Some(Ty::Word(words)) => words,
        Some(Ty::Tokenizer) => super::schema::TOKENIZER_WORDS,
        Some(Ty::Loss) => super::schema::LOSS_WORDS,
        _ => &[],
    }
}

impl Checker {
    /// Evaluates `expr`, written in `file`, with `self` bound to `this`. `want` is the type the
    /// value will be checked against, used only to resolve enum words and record kinds.
    pub(super) fn eval(&mut self, expr: &Expr, file: FileId, this: Option<&Rc<Obj>>, want: Option<Ty>) -> Option<Val> {
        let at = Loc { file, span: expr.span };
        if want == Some(Ty::Law) {
            return Some(Val { v: V::Expr(Rc::new(expr.clone())), at });
        }
        let v = match &expr.kind {
            ExprKind::Number { value, percent, unit } => {
                let unit = match unit {
                    Some(unit) => unit_of(unit)?,
                    None => Unit::NONE,
                };
                V::Num(Num { value: *value, unit, of: None, percent: *percent })
            }
            ExprKind::List { items, unit } => {
                let elem_want = match want {
                    Some(Ty::Words(words)) => Some(Ty::Word(words)),
                    _ => None,
                };
                let mut values = Vec::new();
                for item in items {
                    let value = self.eval(item, file, this, elem_want);
                    values.extend(match (value, unit) {
                        (Some(value), Some(unit)) => self.apply_unit(value, unit, file),
                        (value, _) => value,
                    });
                }
                if values.len() < items.len() {
                    return None;
                }
                V::List(self.items(values, "this list", at)?)
            }
            ExprKind::Tuple(items) => {
                let values: Vec<Val> = items.iter().filter_map(|i| self.eval(i, file, this, None)).collect();
                if values.len() < items.len() {
                    return None;
                }
                V::Tuple(self.items(values, "this tuple", at)?)
            }
            ExprKind::Str(s) => V::Str(s.clone()),
            ExprKind::Bool(b) => V::Bool(*b),
            ExprKind::SelfRef => match this {
                Some(obj) => V::Record(obj.clone()),
                None => {
                    self.emit(at, |span| CheckError::SelfOutsideRecord { span });
                    return None;
                }
            },
            ExprKind::Name(name) => return self.name(name, file, at, want),
            ExprKind::Record(record) => {
                let kind = match want {
                    Some(Ty::Record(kind)) => Some(kind),
                    _ => None,
                };
                let entries = self.entries(&record.fields, file);
                V::Record(self.derive(None, kind, None, entries, at))
            }
            ExprKind::Field { base, name } => {
                let base = self.eval(base, file, this, None)?;
                return self.access(base, name, file);
            }
            ExprKind::Call { callee, args } => {
                let callee = self.eval(callee, file, this, None)?;
                match callee.v {
                    V::Builtin(function) => return self.call(function, args, file, this, at),
                    other => {
                        return self.mismatch(callee.at, "a function", &other, None);
                    }
                }
            }
            ExprKind::Derive { base, record } => {
                let base = self.eval(base, file, this, want)?;
                let entries = self.entries(&record.fields, file);
                match base.v {
                    V::Record(obj) => V::Record(self.derive(Some(&obj), obj.kind, obj.class.clone(), entries, at)),
                    V::Builtin(class @ (Builtin::Bpe | Builtin::Synthetic)) => {
                        let kind = if class == Builtin::Bpe { Kind::Bpe } else { Kind::Synthetic };
                        V::Record(self.derive(None, Some(kind), Some(class.to_string()), entries, at))
                    }
                    other => {
                        let help = self.word_help(&other, base.at);
                        return self.mismatch(base.at, "a record to derive from", &other, help);
                    }
                }
            }
            ExprKind::Of { value, basis } => {
                let value = self.eval(value, file, this, None)?;
                let Some(of) = Basis::word(&basis.node) else {
                    let message = format!("unknown basis `{}`", basis.node);
                    self.emit(Loc { file, span: basis.span }, |span| CheckError::BadQualifier {
                        message,
                        span,
                        label: "expected `steps`, `tokens` or `compute`".into(),
                    });
                    return None;
                };
                match value.v {
                    V::Num(n) if n.unit.is_none() && n.of.is_none() => V::Num(Num { of: Some(of), ..n }),
                    other => {
                        let message =
                            format!("only a plain fraction can be qualified with `of`, found {}", other.found());
                        self.emit(value.at, |span| CheckError::BadQualifier {
                            message,
                            span,
                            label: "not a plain fraction".into(),
                        });
                        return None;
                    }
                }
            }
            ExprKind::Unary { op, operand } => {
                let value = self.eval(operand, file, this, None)?;
                match (op, value.v) {
                    (UnaryOp::Neg, V::Num(n)) if n.of.is_none() => V::Num(Num { value: -n.value, ..n }),
                    (UnaryOp::Not, V::Bool(b)) => V::Bool(!b),
                    (op, other) => {
                        let expected = if *op == UnaryOp::Neg { "a number" } else { "a boolean" };
                        return self.mismatch(value.at, expected, &other, None);
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let lhs = self.eval(lhs, file, this, None);
                let rhs = self.eval(rhs, file, this, None);
                return self.binary(*op, lhs?, rhs?, at);
            }
            ExprKind::Where { value, cond } => {
                let base = self.eval(value, file, this, want)?;
                V::Filtered { base: Box::new(base), cond: Rc::new((**cond).clone()) }
            }
        };
        Some(Val { v, at })
    }

    /// The elements of a list or tuple, if they are few enough ([`MAX_ELEMENTS`]).
    pub(super) fn items(&mut self, values: Vec<Val>, what: &str, at: Loc) -> Option<Items> {
        let items = Items::new(values);
        if items.weight() > MAX_ELEMENTS {
            let (what, count) = (what.to_string(), items.weight().to_string());
            self.emit(at, |span| CheckError::TooManyElements { what, count, max: MAX_ELEMENTS, span });
            return None;
        }
        Some(items)
    }

    /// `base.name`
    fn access(&mut self, base: Val, name: &Ident, file: FileId) -> Option<Val> {
        let at = Loc { file, span: name.span };
        let V::Record(obj) = &base.v else {
            return self.mismatch(
                base.at,
                "a record",
                &base.v,
                Some(format!("only records have fields such as `{}`", name.node)),
            );
        };
        if let Some(value) = self.field(obj, &name.node, at) {
            return value;
        }
        match obj.kind.and_then(|k| k.field(&name.node).map(|_| k)) {
            Some(kind) => {
                let help = Some(format!("set `{}` explicitly in the record", name.node));
                self.emit(at, |span| CheckError::MissingField {
                    field: name.node.clone(),
                    kind: kind.article(),
                    span,
                    help,
                });
            }
            None => {
                let kind = obj.kind.map_or_else(|| "the record".to_string(), |k| k.article());
                let names: Vec<String> = match obj.kind {
                    Some(k) => k.fields().iter().map(|f| f.name.to_string()).collect(),
                    None => obj.slots.iter().map(|s| s.name.clone()).collect(),
                };
                let Help { text: help, fixes } = self.suggest(&name.node, at.span, names.iter().map(String::as_str));
                self.emit_fixed(at, fixes, |span| CheckError::UnknownField {
                    field: name.node.clone(),
                    kind,
                    span,
                    help,
                });
            }
        }
        None
    }

    /// A name in an expression.
    pub(super) fn name(&mut self, name: &str, file: FileId, at: Loc, want: Option<Ty>) -> Option<Val> {
        if let Some(word) = enum_words(want).iter().find(|w| **w == name) {
            return Some(Val { v: V::Word(word.to_string()), at });
        }
        let target = self.resolve(file, name);
        self.used.insert((self.scope(file), name.to_string()));
        match target {
            // The value is labeled where it is used: that is where a mismatch is to be fixed.
            Some(Target::Item(item_file, index)) => self.item(item_file, index, at).map(|v| Val { at, ..v }),
            Some(Target::Builtin(function)) => Some(Val { v: V::Builtin(function), at }),
            Some(Target::Word(word)) => Some(Val { v: V::Word(word), at }),
            Some(Target::Broken) => None,
            None if !enum_words(want).is_empty() => {
                let words = enum_words(want);
                let list = words.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ");
                let help = Help::did_you_mean(name, at.span, words.iter().copied(), || None);
                self.mismatch(at, format!("one of {list}"), &format!("`{name}`"), help)
            }
            None => {
                let names = self.names_in_scope(file);
                let Help { text: help, fixes } = match stdlib::home_of(name) {
                    Some(module) => Help {
                        text: Some(format!("`{name}` is in the standard library: add `use std::{module}::{name}`")),
                        fixes: self.add_use(file, module, name).into_iter().collect(),
                    },
                    None => {
                        let candidates = names
                            .iter()
                            .map(String::as_str)
                            .chain(builtins::WORDS.iter().copied())
                            .chain(UNIT_WORDS.iter().copied());
                        let mut help = self.suggest(name, at.span, candidates);
                        if let Some(unit) = help.fixes.first().and_then(|f| UNIT_WORDS.iter().find(|u| **u == f.text)) {
                            help.text = Some(format!("did you mean the unit `{unit}`, as in `20 tokens/{unit}`?"));
                        }
                        help
                    }
                };
                self.emit_fixed(at, fixes, |span| CheckError::UnknownName { name: name.to_string(), span, help });
                None
            }
        }
    }

    /// The first line of a location: a record's header rather than its whole body.
    pub(super) fn first_line(&self, at: Loc) -> Loc {
        let text = self.text(at);
        let len = text.find('\n').map_or(text.len(), |i| text[..i].trim_end().len());
        Loc { file: at.file, span: crate::syntax::Span::new(at.span.start, at.span.start + len) }
    }

    /// The source text at a location.
    pub(super) fn text(&self, at: Loc) -> String {
        let text = &self.sources.get(at.file).text;
        text.get(at.span.start..at.span.end).unwrap_or("").to_string()
    }
}
