//! Evaluation of expressions and items. Evaluation is type-directed in one respect: a bare name
//! assigned to a field whose type is a set of enum words is that word (`arch = llama` is the
//! architecture even where `llama` also names a model), as SPEC.md section 3 says.

use std::rc::Rc;

use super::schema::{FieldDefault, Kind, Ty};
use super::source::FileId;
use super::units::Unit;
use super::value::{Basis, Cached, Def, Loc, Num, Obj, Patch, Slot, Val, V};
use super::{builtins, did_you_mean, stdlib, CheckError, Checker, Target};
use crate::syntax::ast::{self, BinaryOp, Expr, ExprKind, ItemKind, RecordBody, RecordKind, UnaryOp};
use crate::syntax::Ident;

/// How long a chain of references (an item naming an item naming an item, or fields reading
/// fields) may be. Evaluation recurses along such chains; this keeps it far from the stack limit.
pub(super) const MAX_CHAIN: usize = 128;

/// Unit words, for suggestions when one is misspelled after `/`.
const UNIT_WORDS: &[&str] = &["tokens", "token", "params", "param", "flops", "steps", "step", "sequences", "sequence"];

/// One override of a derivation: `path = def`.
pub(super) struct Entry {
    pub path: Vec<Ident>,
    pub def: Def,
    pub file: FileId,
}

pub(super) fn record_kind(kind: RecordKind) -> Kind {
    match kind {
        RecordKind::Data => Kind::Data,
        RecordKind::Model => Kind::Model,
        RecordKind::Schedule => Kind::Schedule,
        RecordKind::Optimizer => Kind::Optimizer,
        RecordKind::Train => Kind::Train,
    }
}

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
    /// The value of the item at `index` of `file`, evaluated once. `use_at` is the reference
    /// that asked for it, where a cycle is reported.
    pub(super) fn item(&mut self, file: FileId, index: usize, use_at: Loc) -> Option<Val> {
        match self.items.get(&(file, index)) {
            Some(Cached::Done(value)) => return value.clone(),
            Some(Cached::InProgress) => {
                let pos = self.item_stack.iter().position(|i| *i == (file, index)).unwrap_or(0);
                let mut chain: Vec<String> =
                    self.item_stack[pos..].iter().map(|(f, i)| self.item_name(*f, *i)).collect();
                let name = self.item_name(file, index);
                chain.push(name.clone());
                let chain = chain.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" -> ");
                self.emit(use_at, |span| CheckError::ItemCycle { name, chain, span });
                return None;
            }
            None => {}
        }
        if self.item_stack.len() + self.field_stack.len() >= MAX_CHAIN {
            self.emit(use_at, |span| CheckError::TooDeep { max: MAX_CHAIN, span });
            return None;
        }
        self.items.insert((file, index), Cached::InProgress);
        self.item_stack.push((file, index));
        let value = self.eval_item(file, index);
        self.item_stack.pop();
        self.items.insert((file, index), Cached::Done(value.clone()));
        value
    }

    pub(super) fn item_name(&self, file: FileId, index: usize) -> String {
        self.module(file).ast.items[index].name().map(|n| n.node.clone()).unwrap_or_default()
    }

    fn eval_item(&mut self, file: FileId, index: usize) -> Option<Val> {
        let ast = self.module(file).ast.clone();
        let item = &ast.items[index];
        let at = Loc { file, span: item.span };
        match &item.kind {
            ItemKind::Use(_) => None,
            ItemKind::Let { value, .. } => self.eval(value, file, None, None),
            ItemKind::Record { kind, name, body } => {
                let kind = record_kind(*kind);
                match body {
                    RecordBody::Fields(record) => {
                        let entries = self.entries(&record.fields, file);
                        let obj = self.derive(None, Some(kind), Some(name.node.clone()), entries, at);
                        Some(Val { v: V::Record(obj), at })
                    }
                    RecordBody::Expr(expr) => {
                        let value = self.eval(expr, file, None, Some(Ty::Record(kind)))?;
                        self.expect_record(value, kind)
                    }
                }
            }
            ItemKind::Sweep(sweep) => Some(Val { v: V::Sweep(sweep.name.node.clone()), at }),
            ItemKind::Fit(fit) => {
                let base = match &fit.base {
                    Some(base) => {
                        let base_at = Loc { file, span: base.span };
                        let value = self.name(&base.node, file, base_at, Some(Ty::Record(Kind::Fit)))?;
                        Some(self.expect_record(value, Kind::Fit)?)
                    }
                    None => None,
                };
                let base = base.and_then(|b| match b.v {
                    V::Record(obj) => Some(obj),
                    _ => None,
                });
                let entries = self.entries(&fit.body.fields, file);
                let obj = self.derive(base.as_ref(), Some(Kind::Fit), Some(fit.name.node.clone()), entries, at);
                Some(Val { v: V::Record(obj), at })
            }
        }
    }

    /// Checks that a value is a record of `kind`, giving an anonymous record that kind.
    pub(super) fn expect_record(&mut self, value: Val, kind: Kind) -> Option<Val> {
        match &value.v {
            V::Record(obj) if obj.kind == Some(kind) => Some(value),
            V::Record(obj) if obj.kind.is_none() => {
                let entries = obj
                    .slots
                    .iter()
                    .map(|s| Entry {
                        path: vec![Ident { node: s.name.clone(), span: s.at.span }],
                        def: s.def.clone(),
                        file: s.at.file,
                    })
                    .collect();
                let retagged = self.derive(None, Some(kind), obj.class.clone(), entries, obj.at);
                Some(Val { v: V::Record(retagged), at: value.at })
            }
            other => {
                let found = other.describe();
                let help = word_help(other);
                self.emit(value.at, |span| CheckError::WrongType { expected: kind.article(), found, span, help });
                None
            }
        }
    }

    pub(super) fn entries(&self, fields: &[ast::Field], file: FileId) -> Vec<Entry> {
        fields
            .iter()
            .map(|f| Entry {
                path: f.path.segments.clone(),
                def: Def::Expr { expr: Rc::new(f.value.clone()), file },
                file,
            })
            .collect()
    }

    /// A new record: `base`'s fields (if any) with `entries` applied. Single-segment entries
    /// replace a field; dotted ones patch the nested record in their first segment.
    pub(super) fn derive(
        &mut self,
        base: Option<&Rc<Obj>>,
        kind: Option<Kind>,
        class: Option<String>,
        entries: Vec<Entry>,
        at: Loc,
    ) -> Rc<Obj> {
        let mut slots: Vec<Slot> = base.map(|b| b.slots.clone()).unwrap_or_default();
        let mut written: Vec<(String, Loc)> = Vec::new();
        for entry in entries {
            let Some(first) = entry.path.first() else { continue };
            let first_at = Loc { file: entry.file, span: first.span };
            if let Some(kind) = kind {
                if kind.field(&first.node).is_none() {
                    let help = did_you_mean(&first.node, kind.fields().iter().map(|f| f.name))
                        .or_else(|| Some(format!("the fields of {} are {}", kind.article(), field_list(kind))));
                    self.emit(first_at, |span| CheckError::UnknownField {
                        field: first.node.clone(),
                        kind: kind.article(),
                        span,
                        help,
                    });
                    continue;
                }
            }
            let dotted: Vec<&str> = entry.path.iter().map(|s| s.node.as_str()).collect();
            let dotted = dotted.join(".");
            if let Some((_, first_loc)) = written.iter().find(|(p, _)| *p == dotted) {
                let first_span = first_loc.span;
                self.emit(first_at, |span| CheckError::DuplicateField {
                    field: dotted.clone(),
                    span,
                    first: first_span.into(),
                });
                continue;
            }
            written.push((dotted, first_at));
            let name = first.node.clone();
            let existing = slots.iter().position(|s| s.name == name);
            let def = if entry.path.len() == 1 {
                entry.def
            } else {
                let patch = Patch { path: entry.path[1..].to_vec(), def: entry.def, file: entry.file };
                let current = existing.map(|i| slots[i].def.clone()).or_else(|| self.default_def(kind, &name));
                match current {
                    Some(Def::Patch { base, mut patches }) => {
                        patches.push(patch);
                        Def::Patch { base, patches }
                    }
                    Some(other) => Def::Patch { base: Box::new(other), patches: vec![patch] },
                    None => {
                        let empty = Rc::new(Obj::new(None, None, Vec::new(), first_at));
                        Def::Patch {
                            base: Box::new(Def::Val(Val { v: V::Record(empty), at: first_at })),
                            patches: vec![patch],
                        }
                    }
                }
            };
            let slot = Slot { name, def, at: first_at };
            match existing {
                Some(i) => slots[i] = slot,
                None => slots.push(slot),
            }
        }
        Rc::new(Obj::new(kind, class, slots, at))
    }

    /// The schema default of a field, as a definition evaluated like a written one.
    pub(super) fn default_def(&mut self, kind: Option<Kind>, field: &str) -> Option<Def> {
        let kind = kind?;
        let FieldDefault::Expr(_) = kind.field(field)?.default else { return None };
        let file = self.defaults();
        let wanted = format!("{}__{field}", kind.name());
        let ast = self.module(file).ast.clone();
        ast.items.iter().find_map(|item| match &item.kind {
            ItemKind::Let { name, value } if name.node == wanted => {
                Some(Def::Expr { expr: Rc::new(value.clone()), file })
            }
            _ => None,
        })
    }

    /// The definition of a field: the record's own, or the schema default.
    pub(super) fn field_def(&mut self, obj: &Rc<Obj>, name: &str) -> Option<Def> {
        match obj.slot(name) {
            Some(slot) => Some(slot.def.clone()),
            None => self.default_def(obj.kind, name),
        }
    }

    /// The value of field `name` of `obj`, evaluated once with `self` bound to `obj`.
    /// `None` without a diagnostic if the field has no definition; the caller reports that.
    pub(super) fn field(&mut self, obj: &Rc<Obj>, name: &str, use_at: Loc) -> Option<Option<Val>> {
        let cached = obj.cache.borrow().get(name).cloned();
        match cached {
            Some(Cached::Done(value)) => return Some(value),
            Some(Cached::InProgress) => {
                self.field_cycle(obj, name, use_at);
                return Some(None);
            }
            None => {}
        }
        let def = self.field_def(obj, name)?;
        if self.item_stack.len() + self.field_stack.len() >= MAX_CHAIN {
            self.emit(use_at, |span| CheckError::TooDeep { max: MAX_CHAIN, span });
            return Some(None);
        }
        let want = obj.kind.and_then(|k| k.field(name)).map(|f| f.ty);
        obj.cache.borrow_mut().insert(name.to_string(), Cached::InProgress);
        self.field_stack.push((Rc::as_ptr(obj), name.to_string(), use_at));
        let value = self.eval_def(&def, obj, want);
        self.field_stack.pop();
        obj.cache.borrow_mut().insert(name.to_string(), Cached::Done(value.clone()));
        Some(value)
    }

    /// Reports a field that depends on itself, at the first reference of the cycle that the
    /// user wrote (a cycle may pass through stdlib defaults such as `heads = self.width / 16`).
    fn field_cycle(&mut self, obj: &Rc<Obj>, name: &str, use_at: Loc) {
        let start = self.field_stack.iter().position(|(o, n, _)| *o == Rc::as_ptr(obj) && n == name).unwrap_or(0);
        let links: Vec<Loc> = self.field_stack[start + 1..].iter().map(|(_, _, at)| *at).chain([use_at]).collect();
        let at = links.iter().copied().find(|at| self.sources.get(at.file).is_user()).unwrap_or(use_at);
        let mut chain: Vec<String> = self.field_stack[start..].iter().map(|(_, n, _)| format!("`{n}`")).collect();
        chain.push(format!("`{name}`"));
        let chain = chain.join(" -> ");
        self.emit(at, |span| CheckError::FieldCycle { field: name.to_string(), chain, span });
    }

    pub(super) fn eval_def(&mut self, def: &Def, this: &Rc<Obj>, want: Option<Ty>) -> Option<Val> {
        match def {
            Def::Expr { expr, file } => self.eval(expr, *file, Some(this), want),
            Def::Val(value) => Some(value.clone()),
            Def::Patch { base, patches } => {
                let value = self.eval_def(base, this, want)?;
                let inner_kind = match want {
                    Some(Ty::Record(kind)) => Some(kind),
                    Some(Ty::Source) => Some(Kind::Synthetic),
                    Some(Ty::Tokenizer) => Some(Kind::Bpe),
                    _ => None,
                };
                let obj = match (&value.v, inner_kind) {
                    (V::Record(obj), _) => obj.clone(),
                    (V::Builtin(class @ ("bpe" | "synthetic")), _) => {
                        let kind = if *class == "bpe" { Kind::Bpe } else { Kind::Synthetic };
                        Rc::new(Obj::new(Some(kind), Some(class.to_string()), Vec::new(), value.at))
                    }
                    _ => {
                        let first = &patches[0];
                        let at = Loc { file: first.file, span: first.path[0].span };
                        let found = value.v.describe();
                        self.emit(at, |span| CheckError::WrongType {
                            expected: "a record to set fields in".into(),
                            found,
                            span,
                            help: None,
                        });
                        return None;
                    }
                };
                let entries =
                    patches.iter().map(|p| Entry { path: p.path.clone(), def: p.def.clone(), file: p.file }).collect();
                let derived = self.derive(Some(&obj), obj.kind, obj.class.clone(), entries, obj.at);
                Some(Val { v: V::Record(derived), at: value.at })
            }
        }
    }

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
                V::List(values)
            }
            ExprKind::Tuple(items) => {
                let values: Vec<Val> = items.iter().filter_map(|i| self.eval(i, file, this, None)).collect();
                if values.len() < items.len() {
                    return None;
                }
                V::Tuple(values)
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
                        let found = other.describe();
                        self.emit(callee.at, |span| CheckError::WrongType {
                            expected: "a function".into(),
                            found,
                            span,
                            help: None,
                        });
                        return None;
                    }
                }
            }
            ExprKind::Derive { base, record } => {
                let base = self.eval(base, file, this, want)?;
                let entries = self.entries(&record.fields, file);
                match base.v {
                    V::Record(obj) => V::Record(self.derive(Some(&obj), obj.kind, obj.class.clone(), entries, at)),
                    V::Builtin(class @ ("bpe" | "synthetic")) => {
                        let kind = if class == "bpe" { Kind::Bpe } else { Kind::Synthetic };
                        V::Record(self.derive(None, Some(kind), Some(class.to_string()), entries, at))
                    }
                    other => {
                        let found = other.describe();
                        let help = word_help(&other);
                        self.emit(base.at, |span| CheckError::WrongType {
                            expected: "a record to derive from".into(),
                            found,
                            span,
                            help,
                        });
                        return None;
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
                            format!("only a plain fraction can be qualified with `of`, found {}", other.describe());
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
                        let found = other.describe();
                        self.emit(value.at, |span| CheckError::WrongType {
                            expected: expected.into(),
                            found,
                            span,
                            help: None,
                        });
                        return None;
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

    /// `base.name`
    fn access(&mut self, base: Val, name: &Ident, file: FileId) -> Option<Val> {
        let at = Loc { file, span: name.span };
        let V::Record(obj) = &base.v else {
            let found = base.v.describe();
            self.emit(base.at, |span| CheckError::WrongType {
                expected: "a record".into(),
                found,
                span,
                help: Some(format!("only records have fields such as `{}`", name.node)),
            });
            return None;
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
                let help = did_you_mean(&name.node, names.iter().map(String::as_str));
                self.emit(at, |span| CheckError::UnknownField { field: name.node.clone(), kind, span, help });
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
        self.used.insert((file, name.to_string()));
        match target {
            // The value is labeled where it is used: that is where a mismatch is to be fixed.
            Some(Target::Item(item_file, index)) => self.item(item_file, index, at).map(|v| Val { at, ..v }),
            Some(Target::Builtin(function)) => Some(Val { v: V::Builtin(function), at }),
            Some(Target::Word(word)) => Some(Val { v: V::Word(word), at }),
            Some(Target::Broken) => None,
            None if !enum_words(want).is_empty() => {
                let words = enum_words(want);
                let list = words.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ");
                let help = did_you_mean(name, words.iter().copied());
                self.emit(at, |span| CheckError::WrongType {
                    expected: format!("one of {list}"),
                    found: format!("`{name}`"),
                    span,
                    help,
                });
                None
            }
            None => {
                let names = self.names_in_scope(file);
                let help = match stdlib::home_of(name) {
                    Some(module) => {
                        Some(format!("`{name}` is in the standard library: add `use std::{module}::{name}`"))
                    }
                    None => did_you_mean(
                        name,
                        names
                            .iter()
                            .map(String::as_str)
                            .chain(builtins::WORDS.iter().copied())
                            .chain(UNIT_WORDS.iter().copied()),
                    )
                    .map(|help| {
                        match UNIT_WORDS.iter().find(|u| help.contains(&format!("`{u}`"))) {
                            Some(unit) => format!("did you mean the unit `{unit}`, as in `20 tokens/{unit}`?"),
                            None => help,
                        }
                    }),
                };
                self.emit(at, |span| CheckError::UnknownName { name: name.to_string(), span, help });
                None
            }
        }
    }

    fn binary(&mut self, op: BinaryOp, lhs: Val, rhs: Val, at: Loc) -> Option<Val> {
        let v = match (op, &lhs.v, &rhs.v) {
            (BinaryOp::And | BinaryOp::Or, V::Bool(a), V::Bool(b)) => {
                V::Bool(if op == BinaryOp::And { *a && *b } else { *a || *b })
            }
            (BinaryOp::Eq | BinaryOp::Ne, V::Str(a), V::Str(b)) => V::Bool((a == b) == (op == BinaryOp::Eq)),
            (BinaryOp::Eq | BinaryOp::Ne, V::Word(a), V::Word(b)) => V::Bool((a == b) == (op == BinaryOp::Eq)),
            (BinaryOp::Eq | BinaryOp::Ne, V::Bool(a), V::Bool(b)) => V::Bool((a == b) == (op == BinaryOp::Eq)),
            (_, V::Num(a), V::Num(b)) => return self.numeric(op, *a, *b, at),
            _ => {
                let expected = match op {
                    BinaryOp::And | BinaryOp::Or => "booleans",
                    BinaryOp::Eq | BinaryOp::Ne => "two values of the same type",
                    _ => "numbers",
                };
                let found = format!("{} and {}", lhs.v.describe(), rhs.v.describe());
                let help = Some(format!("`{}` takes {expected}", op.symbol()));
                self.emit(at, |span| CheckError::WrongType { expected: expected.into(), found, span, help });
                return None;
            }
        };
        Some(Val { v, at })
    }

    fn numeric(&mut self, op: BinaryOp, a: Num, b: Num, at: Loc) -> Option<Val> {
        if a.of.is_some() || b.of.is_some() {
            let message = "a qualified fraction such as `25% of compute` cannot be used in arithmetic".to_string();
            self.emit(at, |span| CheckError::BadQualifier {
                message,
                span,
                label: "qualified fraction in arithmetic".into(),
            });
            return None;
        }
        let mismatch = |verb: &'static str| CheckError::UnitMismatch {
            verb,
            lhs: a.unit.to_string(),
            rhs: b.unit.to_string(),
            span: at.span.into(),
            op: op.symbol(),
        };
        let same_unit = a.unit == b.unit;
        let (value, unit) = match op {
            BinaryOp::Add | BinaryOp::Sub if !same_unit => {
                let verb = if op == BinaryOp::Add { "add" } else { "subtract" };
                self.emit(at, |_| mismatch(verb));
                return None;
            }
            BinaryOp::Add => (a.value + b.value, a.unit),
            BinaryOp::Sub => (a.value - b.value, a.unit),
            BinaryOp::Mul => (a.value * b.value, a.unit.times(b.unit)?),
            BinaryOp::Div => {
                if b.value == 0.0 {
                    self.emit(at, |span| CheckError::BadArithmetic { what: "division by zero".into(), span });
                    return None;
                }
                (a.value / b.value, a.unit.per(b.unit)?)
            }
            BinaryOp::Pow => {
                if !b.unit.is_none() {
                    self.emit(at, |span| CheckError::WrongType {
                        expected: "a plain exponent".into(),
                        found: format!("a quantity in {}", b.unit),
                        span,
                        help: None,
                    });
                    return None;
                }
                let unit = if a.unit.is_none() {
                    Unit::NONE
                } else if b.value.fract() == 0.0 && b.value.abs() <= 8.0 {
                    a.unit.pow(b.value as i32)?
                } else {
                    let help = Some("a quantity with a unit can only be raised to a whole power".to_string());
                    self.emit(at, |span| CheckError::WrongType {
                        expected: "a whole exponent".into(),
                        found: super::value::fmt_number(b.value),
                        span,
                        help,
                    });
                    return None;
                };
                (a.value.powf(b.value), unit)
            }
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                if !same_unit {
                    self.emit(at, |_| mismatch("compare"));
                    return None;
                }
                let result = match op {
                    BinaryOp::Eq => a.value == b.value,
                    BinaryOp::Ne => a.value != b.value,
                    BinaryOp::Lt => a.value < b.value,
                    BinaryOp::Le => a.value <= b.value,
                    BinaryOp::Gt => a.value > b.value,
                    _ => a.value >= b.value,
                };
                return Some(Val { v: V::Bool(result), at });
            }
            BinaryOp::And | BinaryOp::Or => {
                let found = "numbers".to_string();
                self.emit(at, |span| CheckError::WrongType { expected: "booleans".into(), found, span, help: None });
                return None;
            }
        };
        if !value.is_finite() {
            self.emit(at, |span| CheckError::BadArithmetic { what: "the result is not a finite number".into(), span });
            return None;
        }
        Some(Val { v: V::Num(Num { value, unit, of: None, percent: false }), at })
    }

    /// Applies a list's unit (`[10, 20] tokens/param`) to one element.
    pub(super) fn apply_unit(&mut self, value: Val, unit: &ast::UnitAst, file: FileId) -> Option<Val> {
        let numerator = Unit::word(&unit.numerator.node)?;
        let unit_value = match &unit.denominator {
            Some(den) => numerator.per(Unit::word(&den.node)?)?,
            None => numerator,
        };
        match value.v {
            V::Num(n) if super::builtins::is_plain(&n) => {
                Some(Val { v: V::Num(Num { unit: unit_value, ..n }), at: value.at })
            }
            other => {
                let found = other.describe();
                let help = Some(format!(
                    "the unit `{}` after the list applies to every element",
                    self.text(Loc { file, span: unit.span })
                ));
                self.emit(value.at, |span| CheckError::WrongType {
                    expected: "a plain number".into(),
                    found,
                    span,
                    help,
                });
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

fn unit_of(unit: &ast::UnitAst) -> Option<Unit> {
    // The grammar admits only unit words, so both lookups succeed.
    let numerator = Unit::word(&unit.numerator.node)?;
    match &unit.denominator {
        Some(den) => numerator.per(Unit::word(&den.node)?),
        None => Some(numerator),
    }
}

/// Help for an enum word used where a record was expected, when the stdlib has that record.
fn word_help(value: &V) -> Option<String> {
    match value {
        V::Word(word) => stdlib::home_of(word)
            .map(|module| format!("`{word}` here is an enum word; to use the record, add `use std::{module}::{word}`")),
        _ => None,
    }
}

pub(super) fn field_list(kind: Kind) -> String {
    kind.fields().iter().map(|f| format!("`{}`", f.name)).collect::<Vec<_>>().join(", ")
}
