//! `sprs explain`: a named record, resolved (every field, defaults filled in), printed as sprs
//! with its docs, so the output can be pasted into a file.

use std::path::Path;
use std::rc::Rc;

use super::schema::{FieldDefault, Kind};
use super::value::{Loc, Obj, Val, V};
use super::{stdlib, Checker, FileId, Target};
use crate::syntax::ast::ItemKind;

/// What `explain` found.
pub struct Explanation {
    /// Where the item is defined: `std::schedules` or a file name.
    pub home: String,
    /// The item's definition as written, with its docs, and its kind's fields.
    pub text: String,
}

/// Explains `name`: an item of `file` (checked with its options) if given, else a stdlib item
/// (`journey` or `std::schedules::journey`). `Err` says why nothing was found.
pub fn explain(name: &str, file: Option<(&Path, &super::Options)>) -> Result<Explanation, String> {
    let source = match file {
        Some((path, options)) => {
            let text =
                crate::access::read_source(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            Some((path, text, options))
        }
        None => None,
    };
    explain_source(name, source)
}

/// [`explain`] with the file's text given (an editor's buffer, which may differ from the disk).
pub fn explain_source(name: &str, file: Option<(&Path, String, &super::Options)>) -> Result<Explanation, String> {
    let mut checker = Checker::default();
    let mut places: Vec<FileId> = Vec::new();
    let shown = file.as_ref().map(|(path, ..)| path.display().to_string());
    let mut entry = None;
    if let Some((path, text, options)) = file {
        checker.access = options.access.clone();
        checker.buffers = options.buffers.clone();
        checker.limits = options.limits;
        entry = checker.load_entry(path, text);
    }
    let (module, item) = match name.strip_prefix("std::").and_then(|rest| rest.split_once("::")) {
        Some((module, item)) => (Some(module), item),
        None => (None, name),
    };
    // A name of the file, or one it imports (from a project file or the stdlib, under an alias
    // too), is the item it resolves to, as the checker resolves it.
    if let (Some(entry), None) = (entry, module) {
        if let Some(Target::Item(file, index)) = checker.resolve(entry, item) {
            return Ok(checker.explain_item(file, index));
        }
    }
    for (std_module, _) in stdlib::MODULES {
        if module.is_none_or(|m| m == *std_module) {
            places.extend(checker.load_std(std_module));
        }
    }
    for file in places {
        if let Some(Target::Item(file, index)) = checker.module(file).names.get(item).and_then(|b| match b {
            super::Binding::Item(i) => Some(Target::Item(file, *i)),
            _ => None,
        }) {
            return Ok(checker.explain_item(file, index));
        }
    }
    Err(format!("no item `{name}` in {}the standard library", shown.map(|f| format!("`{f}` or ")).unwrap_or_default()))
}

/// A record derived in a file (`llama { width = 64 }`) and the fields its base computes from
/// `self` that it does not write, with their values: what an editor shows beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct LateBound {
    /// The derived record's `{ .. }`.
    pub record: crate::syntax::Span,
    /// Each field's name and value, as sprs.
    pub fields: Vec<(String, String)>,
}

/// The [`LateBound`] fields of every record the file at `path` (its text given) derives, in
/// file order; none for a record with errors.
pub fn late_bound(path: &Path, text: String, options: &super::Options) -> Vec<LateBound> {
    let mut checker = Checker {
        access: options.access.clone(),
        limits: options.limits,
        buffers: options.buffers.clone(),
        ..Checker::default()
    };
    let Some(file) = checker.load_entry(path, text) else { return Vec::new() };
    let ast = checker.module(file).ast.clone();
    let mut derives = Vec::new();
    let mut stack: Vec<&crate::syntax::ast::Expr> = ast.items.iter().flat_map(item_exprs).collect();
    while let Some(expr) = stack.pop() {
        if let crate::syntax::ast::ExprKind::Derive { record, .. } = &expr.kind {
            derives.push((expr, record.span));
        }
        stack.extend(expr.children());
    }
    derives.sort_by_key(|(_, span)| span.start);
    let mut out = Vec::new();
    for (expr, record) in derives {
        // Evaluated on its own: a derive's base is a name of the file, and `self` in it is
        // the derived record.
        let before = checker.diags.len();
        let Some(Val { v: V::Record(obj), .. }) = checker.eval(expr, file, None, None) else { continue };
        let inherited: Vec<String> = obj
            .slots
            .iter()
            .filter(|s| !(s.at.file == file && record.start <= s.at.span.start && s.at.span.end <= record.end))
            .filter(|s| matches!(&s.def, super::value::Def::Expr { expr, .. } if expr.uses_self()))
            .map(|s| s.name.clone())
            .collect();
        let fields: Vec<(String, String)> = inherited
            .into_iter()
            .filter_map(|name| {
                let value = checker.field(&obj, &name, obj.at)??;
                let shown = checker.show(&value);
                Some((name, shown))
            })
            .collect();
        if checker.diags.len() == before && !fields.is_empty() {
            out.push(LateBound { record, fields });
        }
    }
    out
}

/// The expressions an item holds at its top.
fn item_exprs(item: &crate::syntax::ast::Item) -> Vec<&crate::syntax::ast::Expr> {
    use crate::syntax::ast::{RecordBody, SweepEntry};
    match &item.kind {
        ItemKind::Use(_) => Vec::new(),
        ItemKind::Let { value, .. } | ItemKind::Record { body: RecordBody::Expr(value), .. } => vec![value],
        ItemKind::Record { body: RecordBody::Fields(record), .. } => record.fields.iter().map(|f| &f.value).collect(),
        ItemKind::Sweep(sweep) => sweep
            .entries
            .iter()
            .map(|e| match e {
                SweepEntry::Axis(axis) => &axis.values,
                SweepEntry::Override(field) => &field.value,
            })
            .collect(),
        ItemKind::Fit(fit) => fit.body.fields.iter().map(|f| &f.value).collect(),
    }
}

impl Checker {
    fn explain_item(&mut self, file: FileId, index: usize) -> Explanation {
        let ast = self.module(file).ast.clone();
        let item = &ast.items[index];
        let home = self.sources.get(file).name.clone();
        let mut text: String = item.docs.iter().map(|d| format!("/// {d}\n")).collect();
        let at = Loc { file, span: item.span };
        let value = self.item(file, index, at);
        let keyword = match &item.kind {
            ItemKind::Record { kind, .. } => kind.keyword(),
            ItemKind::Fit(_) => "fit",
            ItemKind::Sweep(_) => "sweep",
            _ => "let",
        };
        let name = item.name().map(|n| n.node.clone()).unwrap_or_default();
        match value.map(|v| v.v) {
            Some(V::Record(obj)) => {
                text.push_str(&format!("{keyword} {name} "));
                text.push_str(&self.show_record(&obj, 0, true));
            }
            Some(V::Sweep(_)) => text.push_str(&self.text(at)),
            Some(other) => text.push_str(&format!("let {name} = {}", self.show(&Val { v: other, at }))),
            None => text.push_str("(this item has errors: run `sprs check` on its file)"),
        }
        text.push('\n');
        Explanation { home, text }
    }

    /// A record with every field of its kind, each with its doc, indented by `depth` levels.
    fn show_record(&mut self, obj: &Rc<Obj>, depth: usize, docs: bool) -> String {
        let indent = "    ".repeat(depth + 1);
        let mut out = String::from("{\n");
        let names: Vec<(String, Option<&'static str>)> = match obj.kind {
            Some(kind) => kind.fields().iter().map(|f| (f.name.to_string(), Some(f.doc))).collect(),
            None => obj.slots.iter().map(|s| (s.name.clone(), None)).collect(),
        };
        let width = names.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (name, doc) in names {
            let value = match self.field(obj, &name, obj.at) {
                Some(Some(value)) => match &value.v {
                    V::Record(inner) if obj.kind.is_some() && inner.kind.is_some() && inner.kind != Some(Kind::Fit) => {
                        let class = inner.class.clone().map(|c| format!("{c} ")).unwrap_or_default();
                        format!("{class}{}", self.show_record(inner, depth + 1, false))
                    }
                    _ => self.show(&value),
                },
                Some(None) => "<error>".into(),
                None => match obj.kind.and_then(|k| k.field(&name)).map(|f| f.default) {
                    Some(FieldDefault::Required) => "<required>".into(),
                    // Unset optional fields (`valid`, a model's `vocab` and `context`) are shown
                    // as comments: the output stays valid sprs.
                    _ => {
                        out.push_str(&format!("{indent}// {name}: not set\n"));
                        continue;
                    }
                },
            };
            if let (true, Some(doc)) = (docs, doc) {
                out.push_str(&format!("{indent}/// {doc}\n"));
            }
            out.push_str(&format!("{indent}{name:width$} = {value}\n"));
        }
        out.push_str(&"    ".repeat(depth));
        out.push('}');
        out
    }

    /// A value as sprs source.
    pub(super) fn show(&mut self, val: &Val) -> String {
        match &val.v {
            V::Num(n) => n.to_string(),
            V::Str(s) => format!("{s:?}"),
            V::Bool(b) => b.to_string(),
            V::Word(w) => w.clone(),
            V::List(items) => format!("[{}]", items.iter().map(|i| self.show(i)).collect::<Vec<_>>().join(", ")),
            V::Tuple(items) => {
                let shown: Vec<String> = items.iter().map(|i| self.show(i)).collect();
                // A tuple of one keeps its comma: `(5)` is the number 5.
                let comma = if shown.len() == 1 { "," } else { "" };
                format!("({}{comma})", shown.join(", "))
            }
            V::Record(obj) => {
                let class = obj.class.clone().map(|c| format!("{c} ")).unwrap_or_default();
                let fields: Vec<String> = obj
                    .slots
                    .clone()
                    .iter()
                    .map(|s| {
                        let value = match self.field(obj, &s.name, obj.at) {
                            Some(Some(v)) => self.show(&v),
                            _ => "<error>".into(),
                        };
                        format!("{} = {value}", s.name)
                    })
                    .collect();
                if fields.is_empty() {
                    class.trim_end().to_string()
                } else {
                    format!("{class}{{ {} }}", fields.join(", "))
                }
            }
            V::Builtin(name) => name.to_string(),
            V::Call { .. } | V::Expr(_) | V::Filtered { .. } => self.text(val.at),
            V::Sweep(name) => name.clone(),
        }
    }
}
