//! Names in expressions over observables: laws, `where` conditions and derived CSV columns.

use super::builtins::observable_list;
use super::schema::{self, Kind};
use super::value::Loc;
use super::{CheckError, Checker};
use crate::observables::Observable;
use crate::syntax::ast::{Expr, ExprKind};
use crate::syntax::FileId;

/// What names an expression over observables may use.
#[derive(Clone, Copy)]
pub(super) enum Names<'a> {
    /// A law: observables, config paths and the parameters given as allowed names.
    Law,
    /// A condition on trials: observables, config paths and enum words.
    Trials,
    /// A condition on CSV rows, or a derived column: only these mapped observables.
    Mapped(&'a [String]),
}

impl Checker {
    /// Checks the names of an expression over observables.
    pub(super) fn check_names_in(&mut self, expr: &Expr, file: FileId, allowed: &[String], names: Names) {
        let at = Loc { file, span: expr.span };
        match &expr.kind {
            ExprKind::Name(name) => {
                let ok = allowed.contains(name)
                    || match names {
                        Names::Law => schema::is_observable(name) || Kind::Train.field(name).is_some(),
                        Names::Trials => {
                            schema::is_observable(name)
                                || Kind::Train.field(name).is_some()
                                || super::builtins::is_word(name)
                        }
                        Names::Mapped(_) => false,
                    };
                if ok {
                    return;
                }
                let mut candidates: Vec<&str> = Observable::ALL.iter().map(|o| o.name()).collect();
                candidates.extend(allowed.iter().map(String::as_str));
                let super::Help { text: help, fixes } =
                    super::Help::did_you_mean(name, expr.span, candidates.iter().copied(), || None);
                match names {
                    Names::Law => {
                        let help = help.or_else(|| {
                            Some(format!("declare it in `params`, or use an observable: {}", observable_list()))
                        });
                        self.emit_fixed(at, fixes, |span| CheckError::LawUnknownName {
                            name: name.clone(),
                            span,
                            help,
                        });
                    }
                    Names::Trials => {
                        let help = help.or_else(|| {
                            Some(format!(
                                "a condition may use the observables ({}) and config paths such as `model.width`",
                                observable_list()
                            ))
                        });
                        self.emit_fixed(at, fixes, |span| CheckError::UnknownObservable {
                            name: name.clone(),
                            span,
                            help,
                        });
                    }
                    Names::Mapped(mapped) => {
                        let help = help.or_else(|| {
                            Some(format!(
                                "only the observables mapped in `columns` can be used here: {}",
                                mapped.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                            ))
                        });
                        self.emit_fixed(at, fixes, |span| CheckError::UnknownObservable {
                            name: name.clone(),
                            span,
                            help,
                        });
                    }
                }
            }
            ExprKind::Field { .. } => match dotted(expr) {
                Some(path) if !matches!(names, Names::Mapped(_)) => {
                    let segments: Vec<&str> = path.split('.').collect();
                    if schema::path_type(Kind::Train, &segments).is_err() {
                        let help = Some(
                            "config paths name fields of a train, such as `model.width` or `prune.sparsity`"
                                .to_string(),
                        );
                        self.emit(at, |span| CheckError::UnknownObservable { name: path.clone(), span, help });
                    }
                }
                _ => {
                    let name = self.text(at);
                    self.emit(at, |span| CheckError::UnknownObservable {
                        name,
                        span,
                        help: Some("only observables can be used here".into()),
                    });
                }
            },
            ExprKind::Call { callee, args } => {
                match &callee.kind {
                    ExprKind::Name(f) if let Some(function) = super::builtins::Builtin::in_laws(f) => {
                        let positional = args.iter().filter(|a| a.name.is_none()).count();
                        let named = args.iter().filter_map(|a| a.name.as_ref().map(|n| n.node.as_str()));
                        if let Some(message) = function.bad_arguments(positional, named) {
                            self.emit(at, |span| CheckError::BadCall {
                                message,
                                span,
                                label: "wrong number of arguments".into(),
                                help: None,
                            });
                        }
                    }
                    _ => {
                        let name = self.text(Loc { file, span: callee.span });
                        let help = Some(format!(
                            "the functions available here are {}",
                            super::builtins::Builtin::ALL
                                .iter()
                                .filter(|b| super::builtins::Builtin::in_laws(b.name()).is_some())
                                .map(|b| format!("`{b}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                        self.emit(Loc { file, span: callee.span }, |span| CheckError::UnknownName { name, span, help });
                    }
                }
                for arg in args {
                    self.check_names_in(&arg.value, file, allowed, names);
                }
            }
            ExprKind::Unary { operand, .. } => self.check_names_in(operand, file, allowed, names),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.check_names_in(lhs, file, allowed, names);
                self.check_names_in(rhs, file, allowed, names);
            }
            ExprKind::List { items, .. } | ExprKind::Tuple(items) => {
                for item in items {
                    self.check_names_in(item, file, allowed, names);
                }
            }
            ExprKind::Number { .. } | ExprKind::Str(_) | ExprKind::Bool(_) => {}
            ExprKind::Of { value, .. } => self.check_names_in(value, file, allowed, names),
            ExprKind::SelfRef | ExprKind::Record(_) | ExprKind::Derive { .. } | ExprKind::Where { .. } => {
                let found = format!("`{}`", self.text(at));
                self.mismatch::<()>(at, "an expression over observables", &found, None);
            }
        }
    }
}

/// `a.b.c` as a string, if the expression is a chain of field accesses on a name.
pub(crate) fn dotted(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Name(name) => Some(name.clone()),
        ExprKind::Field { base, name } => Some(format!("{}.{}", dotted(base)?, name.node)),
        _ => None,
    }
}

/// Whether `name` occurs as a name in `expr`.
pub(crate) fn mentions(expr: &Expr, name: &str) -> bool {
    let mut found = false;
    visit_names(expr, &mut |n| found |= n == name);
    found
}

/// The observables an expression uses.
pub(super) fn observables_in(expr: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    visit_names(expr, &mut |n| {
        if schema::is_observable(n) && !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    });
    out
}

fn visit_names(expr: &Expr, f: &mut impl FnMut(&str)) {
    match &expr.kind {
        ExprKind::Name(name) => f(name),
        ExprKind::Field { base, .. } => visit_names(base, f),
        ExprKind::Call { args, .. } => args.iter().for_each(|a| visit_names(&a.value, f)),
        ExprKind::Unary { operand, .. } | ExprKind::Of { value: operand, .. } => visit_names(operand, f),
        ExprKind::Binary { lhs, rhs, .. } => {
            visit_names(lhs, f);
            visit_names(rhs, f);
        }
        ExprKind::List { items, .. } | ExprKind::Tuple(items) => items.iter().for_each(|i| visit_names(i, f)),
        _ => {}
    }
}
