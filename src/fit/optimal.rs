//! The compute-optimal allocation of a fitted law: the N and D that minimise the loss at a given
//! compute C = 6 N D. Closed form for laws of Chinchilla's shape (PAPER.md), otherwise a Brent
//! search over log N for laws in one parameter count and D.

use argmin::core::{CostFunction, Error, Executor, State};
use argmin::solver::brent::BrentOpt;
use serde::Serialize;

use crate::check::law::Law;
use crate::observables::training_flops;
use crate::observables::Observable;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind};

/// The compute-optimal model size and data at compute `C`, and the loss the law predicts there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Optimum {
    /// The compute budget, in FLOPs.
    #[serde(rename = "C")]
    pub c: f64,
    /// The parameter count the law is in (`N`, `N_avg` or `N_final`).
    #[serde(rename = "N")]
    pub n: f64,
    /// The compute-optimal number of training tokens.
    #[serde(rename = "D")]
    pub d: f64,
    /// The loss the law predicts at the optimum.
    #[serde(rename = "L")]
    pub l: f64,
    /// `closed form` or `numeric`.
    pub method: &'static str,
}

/// Chinchilla's allocation for L = E + A / N^alpha + B / D^beta at compute C:
/// N = G (C/6)^(beta/(alpha+beta)), D = (1/G) (C/6)^(alpha/(alpha+beta)),
/// G = (alpha A / (beta B))^(1/(alpha+beta)).
pub fn chinchilla_optimum(a: f64, b: f64, alpha: f64, beta: f64, c: f64) -> (f64, f64) {
    let g = (alpha * a / (beta * b)).powf(1.0 / (alpha + beta));
    let n = g * (c / 6.0).powf(beta / (alpha + beta));
    let d = (c / 6.0).powf(alpha / (alpha + beta)) / g;
    (n, d)
}

/// The optimum at `c` for the fitted `values` of `law` (compiled from `expr`), if the law is in
/// one parameter count and `D`.
pub(super) fn optimum(expr: &Expr, law: &Law, values: &[f64], c: f64) -> Option<Optimum> {
    let count = Observable::COUNTS.into_iter().find(|&count| law.vars.iter().any(|v| v.is(count)))?;
    if law.vars.len() != 2 || !law.vars.iter().any(|v| v.is(Observable::D)) {
        return None;
    }
    let value_of = |name: &str| law.params.iter().position(|(p, _)| p == name).map(|i| values[i]);
    let predict = |n: f64, d: f64| {
        let row: Vec<f64> = law.vars.iter().map(|v| if v.is(Observable::D) { d } else { n }).collect();
        law.eval(&row, values, &mut Vec::new())
    };
    if let Some([_, a, alpha, b, beta]) = chinchilla_shape(expr, count.name()) {
        let [a, alpha, b, beta] = [value_of(&a)?, value_of(&alpha)?, value_of(&b)?, value_of(&beta)?];
        if a > 0.0 && b > 0.0 && alpha > 0.0 && beta > 0.0 {
            let (n, d) = chinchilla_optimum(a, b, alpha, beta, c);
            return Some(Optimum { c, n, d, l: predict(n, d), method: "closed form" });
        }
    }
    let n = numeric(&predict, c)?;
    let d = c / training_flops(n, 1.0);
    Some(Optimum { c, n, d, l: predict(n, d), method: "numeric" })
}

/// Brent's method over ln N in [0, ln(C/6)] (at least one parameter and one token).
fn numeric(predict: &dyn Fn(f64, f64) -> f64, c: f64) -> Option<f64> {
    struct Along<'a> {
        predict: &'a dyn Fn(f64, f64) -> f64,
        c: f64,
    }
    impl CostFunction for Along<'_> {
        type Param = f64;
        type Output = f64;
        fn cost(&self, log_n: &f64) -> Result<f64, Error> {
            let n = log_n.exp();
            Ok((self.predict)(n, self.c / training_flops(n, 1.0)))
        }
    }
    let top = (c / 6.0).ln();
    if top.is_nan() || top <= 0.0 {
        return None;
    }
    let solver = BrentOpt::new(0.0, top).set_tolerance(1e-12, 1e-12);
    let result = Executor::new(Along { predict, c }, solver).configure(|s| s.max_iters(500)).run().ok()?;
    result.state().get_best_param().map(|log_n| log_n.exp()).filter(|n| n.is_finite())
}

/// The names `[E, A, alpha, B, beta]` if `law` is `E + A / count^alpha + B / D^beta` (terms in
/// any order).
pub(super) fn chinchilla_shape(law: &Expr, count: &str) -> Option<[String; 5]> {
    let mut terms = Vec::new();
    flatten_sum(law, &mut terms);
    if terms.len() != 3 {
        return None;
    }
    let (mut e, mut n_term, mut d_term) = (None, None, None);
    for term in terms {
        match &term.kind {
            ExprKind::Name(name) => e = Some(name.clone()),
            ExprKind::Binary { op: BinaryOp::Div, lhs, rhs } => {
                let (ExprKind::Name(coefficient), ExprKind::Binary { op: BinaryOp::Pow, lhs: base, rhs: exponent }) =
                    (&lhs.kind, &rhs.kind)
                else {
                    return None;
                };
                let (ExprKind::Name(base), ExprKind::Name(exponent)) = (&base.kind, &exponent.kind) else {
                    return None;
                };
                if base == count {
                    n_term = Some((coefficient.clone(), exponent.clone()));
                } else if base == "D" {
                    d_term = Some((coefficient.clone(), exponent.clone()));
                } else {
                    return None;
                }
            }
            _ => return None,
        }
    }
    let ((a, alpha), (b, beta)) = (n_term?, d_term?);
    Some([e?, a, alpha, b, beta])
}

fn flatten_sum<'a>(expr: &'a Expr, out: &mut Vec<&'a Expr>) {
    match &expr.kind {
        ExprKind::Binary { op: BinaryOp::Add, lhs, rhs } => {
            flatten_sum(lhs, out);
            flatten_sum(rhs, out);
        }
        _ => out.push(expr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::law::tests::expr;

    const PARAMS: [(&str, bool); 5] = [("E", true), ("A", true), ("B", true), ("alpha", false), ("beta", false)];

    fn compiled(text: &str) -> (Expr, Law) {
        let expr = expr(text);
        let params: Vec<(String, bool)> = PARAMS.iter().map(|(p, l)| (p.to_string(), *l)).collect();
        let law = Law::compile(&expr, &params).unwrap();
        (expr, law)
    }

    #[test]
    fn the_numeric_search_agrees_with_the_closed_form() {
        let values = [1.8172, 477.8, 2143.9, 0.3473, 0.3672];
        let (shaped, law) = compiled("E + A / N^alpha + B / D^beta");
        // The same law written otherwise is not recognised, so it is searched numerically.
        let (other, other_law) = compiled("B * D^(-beta) + (E + A * N^(-alpha))");
        for c in [1e18, 5.76e23, 1e26] {
            let closed = optimum(&shaped, &law, &values, c).unwrap();
            let numeric = optimum(&other, &other_law, &values, c).unwrap();
            assert_eq!((closed.method, numeric.method), ("closed form", "numeric"));
            assert!((numeric.n / closed.n - 1.0).abs() < 1e-5, "{numeric:?} against {closed:?}");
            assert!((numeric.l - closed.l).abs() < 1e-12);
        }
    }

    #[test]
    fn laws_in_more_than_n_and_d_have_no_optimum() {
        let (expr, law) = compiled("E + A / N^alpha + B / D^beta + S");
        assert!(optimum(&expr, &law, &[1.8, 400.0, 400.0, 0.3, 0.3], 1e21).is_none());
    }
}
