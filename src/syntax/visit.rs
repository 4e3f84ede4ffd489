//! Every name a file writes, in file order, with what it is: what an editor's references,
//! rename, highlighting and semantic tokens are made from.

use super::ast::{Arg, Expr, ExprKind, File, Item, ItemKind, Path, Record, RecordBody, SweepEntry, UseOrigin};
use super::Span;

/// What a written name is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Role<'a> {
    /// The name an item defines.
    Definition(&'a Item),
    /// A name a `use` imports, as the imported file calls it.
    Imported(&'a UseOrigin),
    /// The name a `use` binds it to, after `as`.
    Alias,
    /// A segment of a `use`'s module path (`std`, `schedules`).
    Module,
    /// A name in an expression, or the train a sweep varies, or the law a fit derives from:
    /// an item, an import, a builtin, an enum word, an observable or a fit parameter.
    Reference,
    /// A field: set in a record (`width = 64`), read after a dot, or on a sweep axis.
    Field,
    /// A unit word after a number (`tokens/param`).
    Unit,
    /// A name inside a fit's `law`: an observable, a parameter or a config path.
    LawName,
}

/// One written name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Name<'a> {
    /// The name as written.
    pub text: &'a str,
    /// Where.
    pub span: Span,
    /// What it is.
    pub role: Role<'a>,
}

/// Every name `file` writes, in file order.
pub fn names(file: &File) -> Vec<Name<'_>> {
    let mut out = Vec::new();
    for item in &file.items {
        item_names(item, &mut out);
    }
    out.sort_by_key(|n| (n.span.start, n.span.end));
    out
}

fn item_names<'a>(item: &'a Item, out: &mut Vec<Name<'a>>) {
    let mut push = |text: &'a str, span: Span, role: Role<'a>| out.push(Name { text, span, role });
    if let Some(name) = item.name() {
        push(&name.node, name.span, Role::Definition(item));
    }
    match &item.kind {
        ItemKind::Use(usage) => {
            if let UseOrigin::Module { segments, span } = &usage.origin {
                // The segments are not spanned one by one: find each in order within the path.
                let mut from = span.start;
                for segment in segments {
                    push(segment, Span::new(from, from + segment.len()), Role::Module);
                    from += segment.len() + "::".len();
                }
            }
            for name in &usage.names {
                push(&name.name.node, name.name.span, Role::Imported(&usage.origin));
                if let Some(alias) = &name.alias {
                    push(&alias.node, alias.span, Role::Alias);
                }
            }
        }
        ItemKind::Let { value, .. } => expr_names(value, out),
        ItemKind::Record { body: RecordBody::Fields(record), .. } => record_names(record, out),
        ItemKind::Record { body: RecordBody::Expr(expr), .. } => expr_names(expr, out),
        ItemKind::Sweep(sweep) => {
            push(&sweep.base.node, sweep.base.span, Role::Reference);
            for entry in &sweep.entries {
                match entry {
                    SweepEntry::Axis(axis) => {
                        for path in &axis.paths {
                            path_names(path, out);
                        }
                        expr_names(&axis.values, out);
                    }
                    SweepEntry::Override(field) => {
                        path_names(&field.path, out);
                        expr_names(&field.value, out);
                    }
                }
            }
        }
        ItemKind::Fit(fit) => {
            if let Some(base) = &fit.base {
                push(&base.node, base.span, Role::Reference);
            }
            for field in &fit.body.fields {
                path_names(&field.path, out);
                if field.path.dotted() == "law" {
                    law_names(&field.value, out);
                } else {
                    expr_names(&field.value, out);
                }
            }
        }
    }
}

fn path_names<'a>(path: &'a Path, out: &mut Vec<Name<'a>>) {
    out.extend(path.segments.iter().map(|s| Name { text: &s.node, span: s.span, role: Role::Field }));
}

fn record_names<'a>(record: &'a Record, out: &mut Vec<Name<'a>>) {
    for field in &record.fields {
        path_names(&field.path, out);
        expr_names(&field.value, out);
    }
}

fn args_names<'a>(args: &'a [Arg], out: &mut Vec<Name<'a>>) {
    for arg in args {
        if let Some(name) = &arg.name {
            out.push(Name { text: &name.node, span: name.span, role: Role::Field });
        }
        expr_names(&arg.value, out);
    }
}

fn expr_names<'a>(expr: &'a Expr, out: &mut Vec<Name<'a>>) {
    walk(expr, out, Role::Reference);
}

/// The names of a law: variables and parameters, not items.
fn law_names<'a>(expr: &'a Expr, out: &mut Vec<Name<'a>>) {
    walk(expr, out, Role::LawName);
}

fn walk<'a>(expr: &'a Expr, out: &mut Vec<Name<'a>>, bare: Role<'a>) {
    let visit = |e: &'a Expr, out: &mut Vec<Name<'a>>| walk(e, out, bare);
    match &expr.kind {
        ExprKind::Name(name) => out.push(Name { text: name, span: expr.span, role: bare }),
        ExprKind::Number { unit, .. } | ExprKind::List { unit, .. } => {
            if let Some(unit) = unit {
                out.push(Name { text: &unit.numerator.node, span: unit.numerator.span, role: Role::Unit });
                if let Some(denominator) = &unit.denominator {
                    out.push(Name { text: &denominator.node, span: denominator.span, role: Role::Unit });
                }
            }
            if let ExprKind::List { items, .. } = &expr.kind {
                items.iter().for_each(|i| visit(i, out));
            }
        }
        ExprKind::Tuple(items) => items.iter().for_each(|i| visit(i, out)),
        ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::SelfRef => {}
        ExprKind::Record(record) => record_names(record, out),
        ExprKind::Field { base, name } => {
            visit(base, out);
            // In a law, `model.width` is one config path: its segments are fields.
            out.push(Name { text: &name.node, span: name.span, role: Role::Field });
        }
        ExprKind::Call { callee, args } => {
            // A callee is a builtin, whatever the expression around it.
            walk(callee, out, Role::Reference);
            args_names(args, out);
        }
        ExprKind::Derive { base, record } => {
            visit(base, out);
            record_names(record, out);
        }
        ExprKind::Of { value, basis } => {
            visit(value, out);
            out.push(Name { text: &basis.node, span: basis.span, role: Role::Unit });
        }
        ExprKind::Unary { operand, .. } => visit(operand, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            visit(lhs, out);
            visit(rhs, out);
        }
        ExprKind::Where { value, cond } => {
            visit(value, out);
            // A condition's bare names are observables, config paths and words.
            walk(cond, out, Role::LawName);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_found_with_its_role() {
        let text = "sprs 0.1\nuse std::schedules::{journey as j}\nmodel m = llama { width = 64 }\n\
                    train t { model = m, budget = 20 tokens/param, prune = j }\n\
                    sweep s = t { model.width in [32, 64] }\n\
                    fit f { law = E + A / N^alpha, on = s where S > 0 }\n";
        let file = crate::syntax::parse(text).unwrap();
        let found: Vec<(&str, &str)> = names(&file)
            .iter()
            .map(|n| {
                assert_eq!(&text[n.span.start..n.span.end], n.text);
                let role = match n.role {
                    Role::Definition(_) => "def",
                    Role::Imported(_) => "imported",
                    Role::Alias => "alias",
                    Role::Module => "module",
                    Role::Reference => "ref",
                    Role::Field => "field",
                    Role::Unit => "unit",
                    Role::LawName => "law",
                };
                (n.text, role)
            })
            .collect();
        #[rustfmt::skip]
        let expected = [
            ("std", "module"), ("schedules", "module"), ("journey", "imported"), ("j", "alias"),
            ("m", "def"), ("llama", "ref"), ("width", "field"),
            ("t", "def"), ("model", "field"), ("m", "ref"), ("budget", "field"), ("tokens", "unit"),
            ("param", "unit"), ("prune", "field"), ("j", "ref"),
            ("s", "def"), ("t", "ref"), ("model", "field"), ("width", "field"),
            ("f", "def"), ("law", "field"), ("E", "law"), ("A", "law"), ("N", "law"), ("alpha", "law"),
            ("on", "field"), ("s", "ref"), ("S", "law"),
        ];
        assert_eq!(found, expected);
    }
}
