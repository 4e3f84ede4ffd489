//! Items and records: evaluating items once (with cycle detection), deriving records with
//! overrides and dotted patches, and evaluating fields lazily with `self` bound late.

use std::rc::Rc;

use super::builtins::Builtin;
use super::schema::{FieldDefault, Kind, Ty};
use super::value::{Cached, Def, Loc, Obj, Patch, Slot, Val, V};
use super::{stdlib, CheckError, Checker, Help};
use crate::syntax::ast::{self, ItemKind, RecordBody, RecordKind};
use crate::syntax::FileId;
use crate::syntax::Ident;

/// How long a chain of references (an item naming an item naming an item, or fields reading
/// fields) may be. Evaluation recurses along such chains; this keeps it far from the stack limit.
pub(super) const MAX_CHAIN: usize = 128;

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
                let help = self.word_help(other, value.at);
                self.mismatch(value.at, kind.article(), &other, help)
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
        let mut patched_here: Vec<String> = Vec::new();
        for entry in entries {
            let Some(first) = entry.path.first() else { continue };
            let first_at = Loc { file: entry.file, span: first.span };
            if let Some(kind) = kind {
                if kind.field(&first.node).is_none() {
                    let Help { text: help, fixes } =
                        Help::did_you_mean(&first.node, first.span, kind.fields().iter().map(|f| f.name), || {
                            Some(format!("the fields of {} are {}", kind.article(), field_list(kind)))
                        });
                    self.emit_fixed(first_at, fixes, |span| CheckError::UnknownField {
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
                // Patches of one record are applied together (where the same path twice is an
                // error, E0112); a patch of a field the base already patched is applied after
                // the base's patches, as an override (`--set data.source.tokens = ..` on a
                // `data = markov { source.tokens = .. }`).
                let ours = patched_here.contains(&name);
                patched_here.push(name.clone());
                match current {
                    Some(Def::Patch { base, mut patches }) if ours => {
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
        let spec = kind.field(field)?;
        let FieldDefault::Expr(_) = spec.default else { return None };
        if let Some(def) = self.default_defs.get(&(kind, spec.name)) {
            return Some(def.clone());
        }
        let file = self.defaults();
        let wanted = format!("{}__{field}", kind.name());
        let ast = self.module(file).ast.clone();
        let def = ast.items.iter().find_map(|item| match &item.kind {
            ItemKind::Let { name, value } if name.node == wanted => {
                Some(Def::Expr { expr: Rc::new(value.clone()), file })
            }
            _ => None,
        })?;
        self.default_defs.insert((kind, spec.name), def.clone());
        Some(def)
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
                    (V::Builtin(class @ (Builtin::Bpe | Builtin::Synthetic)), _) => {
                        let kind = if *class == Builtin::Bpe { Kind::Bpe } else { Kind::Synthetic };
                        Rc::new(Obj::new(Some(kind), Some(class.to_string()), Vec::new(), value.at))
                    }
                    _ => {
                        let first = &patches[0];
                        let at = Loc { file: first.file, span: first.path[0].span };
                        return self.mismatch(at, "a record to set fields in", &value.v, None);
                    }
                };
                let entries =
                    patches.iter().map(|p| Entry { path: p.path.clone(), def: p.def.clone(), file: p.file }).collect();
                let derived = self.derive(Some(&obj), obj.kind, obj.class.clone(), entries, obj.at);
                Some(Val { v: V::Record(derived), at: value.at })
            }
        }
    }
}

impl Checker {
    /// Help for an enum word used at `at` where a record was expected, when the stdlib has that
    /// record: the `use` that brings it in.
    pub(super) fn word_help(&self, value: &V, at: Loc) -> Help {
        let V::Word(word) = value else { return Help::default() };
        let Some(module) = stdlib::home_of(word) else { return Help::default() };
        Help {
            text: Some(format!("`{word}` here is an enum word; to use the record, add `use std::{module}::{word}`")),
            fixes: self.add_use(at.file, module, word).into_iter().collect(),
        }
    }
}

pub(super) fn field_list(kind: Kind) -> String {
    kind.fields().iter().map(|f| format!("`{}`", f.name)).collect::<Vec<_>>().join(", ")
}
