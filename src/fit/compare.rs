//! The paper's test of its own law: a law over `N_avg` against the same law over `N` (the dense
//! size) and over `N_final` (the size at the end), fitted to the same points with the same held-out
//! points. The better count has the lower in-sample and held-out error.

use super::{data, fit, Fitted};
use crate::access::Access;
use crate::check::law::Law;
use crate::check::FitSpec;
use crate::diagnostic::Diag;
use crate::observables::Observable;
use crate::plan::Plan;
use crate::store::Store;
use crate::syntax::ast::{Expr, ExprKind};

/// The parameter count of the Journey law.
pub const AVERAGE: &str = Observable::NAvg.name();
/// The counts it is compared with: the dense size and the size at the end.
pub const ALTERNATIVES: [&str; 2] = [Observable::N.name(), Observable::NFinal.name()];

/// One fit over `N_avg` and its refits with each alternative count, in that order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Comparison {
    pub fit: String,
    /// `(count, fit)`: `N_avg` first.
    pub variants: Vec<(String, Fitted)>,
}

/// The fit `spec` with `count` in place of `N_avg` in its law, named `<fit> with <count>`, and
/// without bootstrap (only its errors are compared). `None` if the law does not use `N_avg`.
pub fn variant(spec: &FitSpec, count: &str) -> Option<FitSpec> {
    let mut law = spec.law.clone();
    if !rename(&mut law, AVERAGE, count) {
        return None;
    }
    Some(FitSpec {
        name: format!("{} with {count}", spec.name),
        // Renaming one observable to another keeps a law that compiled a law.
        compiled: Law::compile(&law, &spec.compiled.params).ok()?,
        law,
        law_text: rename_text(&spec.law_text, AVERAGE, count),
        bootstrap: 0,
        ..spec.clone()
    })
}

/// The law of `spec` compiled with the count `to` in place of the count `from`.
pub(super) fn with_count(spec: &FitSpec, from: Observable, to: Observable) -> Result<Law, Diag> {
    let mut law = spec.law.clone();
    rename(&mut law, from.name(), to.name());
    Law::compile(&law, &spec.compiled.params).map_err(|error| super::evaluation(spec, "any point", error.message))
}

/// Compares each fit of `fitted` whose law uses `N_avg` with its alternatives, on the same data.
pub fn compare(
    specs: &[FitSpec],
    fitted: &[Fitted],
    plan: &Plan,
    store: &Store,
    access: &Access,
    diags: &mut Vec<Diag>,
) -> Vec<Comparison> {
    let mut out = Vec::new();
    for done in fitted {
        let Some(spec) = specs.iter().find(|s| s.name == done.name) else { continue };
        let variants: Vec<FitSpec> = ALTERNATIVES.iter().filter_map(|count| variant(spec, count)).collect();
        if variants.is_empty() {
            continue;
        }
        let Some(points) = data::load(spec, plan, store, access, diags) else { continue };
        let mut comparison = Comparison { fit: spec.name.clone(), variants: vec![(AVERAGE.into(), done.clone())] };
        for (count, variant) in ALTERNATIVES.iter().zip(&variants) {
            match fit(variant, &points) {
                Ok(fitted) => comparison.variants.push((count.to_string(), fitted)),
                Err(diag) => diags.push(diag),
            }
        }
        out.push(comparison);
    }
    out
}

/// Renames the name `from` to `to` throughout `expr`; whether there was one.
pub(crate) fn rename(expr: &mut Expr, from: &str, to: &str) -> bool {
    let mut found = false;
    let mut visit = |e: &mut Expr| found |= rename(e, from, to);
    match &mut expr.kind {
        ExprKind::Name(name) if name == from => {
            *name = to.to_string();
            return true;
        }
        ExprKind::List { items, .. } | ExprKind::Tuple(items) => items.iter_mut().for_each(visit),
        ExprKind::Field { base, .. } => visit(base),
        ExprKind::Call { callee, args } => {
            visit(callee);
            args.iter_mut().for_each(|a| visit(&mut a.value));
        }
        ExprKind::Of { value, .. } => visit(value),
        ExprKind::Unary { operand, .. } => visit(operand),
        ExprKind::Binary { lhs, rhs, .. } => {
            visit(lhs);
            visit(rhs);
        }
        ExprKind::Where { value, cond } => {
            visit(value);
            visit(cond);
        }
        ExprKind::Derive { base, record } => {
            visit(base);
            record.fields.iter_mut().for_each(|f| visit(&mut f.value));
        }
        ExprKind::Record(record) => record.fields.iter_mut().for_each(|f| visit(&mut f.value)),
        ExprKind::Name(_) | ExprKind::Number { .. } | ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::SelfRef => {}
    }
    found
}

/// Replaces the word `from` (not a part of a longer name) with `to` in a law as written.
fn rename_text(text: &str, from: &str, to: &str) -> String {
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + from.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(is_name) || after.is_some_and(is_name) {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::law::tests::expr;

    #[test]
    fn renames_every_use_of_the_average_count_and_nothing_else() {
        let params: Vec<(String, bool)> = ["E", "A", "alpha", "B", "beta"].map(|p| (p.to_string(), false)).into();
        let mut law = expr("E + A / N_avg^alpha + B / D^beta + 0 * N_avg");
        assert!(rename(&mut law, "N_avg", "N_final"));
        let vars = crate::check::law::Law::compile(&law, &params).unwrap().vars;
        assert_eq!(vars.iter().map(ToString::to_string).collect::<Vec<_>>(), ["N_final", "D"]);
        let mut dense = expr("E + A / N^alpha");
        assert!(!rename(&mut dense, "N_avg", "N"));
        assert_eq!(rename_text("E + A / N_avg^alpha + N_avgx", "N_avg", "N"), "E + A / N^alpha + N_avgx");
    }
}
