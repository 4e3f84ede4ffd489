//! A law compiled from its expression into a tape: evaluated on `f64` with exact gradients by
//! reverse-mode differentiation. Parameters marked `log` are optimised as their logarithm
//! (A = e^a), as Chinchilla does.

use std::fmt;

use super::builtins::Builtin;
use super::observables::dotted;
use crate::observables::Observable;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use crate::syntax::Span;

/// One tape entry; operands index earlier entries.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Const(f64),
    /// A variable of the point, by its index in [`Law::vars`].
    Var(usize),
    /// A free parameter, in its natural scale.
    Param(usize),
    Neg(usize),
    Add(usize, usize),
    Sub(usize, usize),
    Mul(usize, usize),
    Div(usize, usize),
    Pow(usize, usize),
    /// `exp`, `log` or `sqrt` of one operand, by [`Builtin::apply`].
    Call1(Builtin, usize),
    /// `min` or `max` of two operands (one of more is a chain of these), by [`Builtin::apply`].
    Call2(Builtin, usize, usize),
}

/// What a law's variable reads from a point, resolved once when the law is compiled.
#[derive(Debug, Clone, PartialEq)]
pub enum Variable {
    /// An observable (`N_avg`, `D`).
    Observable(Observable),
    /// A value of the trial's configuration, by its path (`batch`, `model.width`).
    Config(String),
}

impl Variable {
    /// The variable a name in a law stands for.
    fn named(name: String) -> Variable {
        Observable::parse(&name).map_or(Variable::Config(name), Variable::Observable)
    }

    /// Whether this is `observable`.
    pub fn is(&self, observable: Observable) -> bool {
        *self == Variable::Observable(observable)
    }
}

impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Variable::Observable(observable) => f.write_str(observable.name()),
            Variable::Config(path) => f.write_str(path),
        }
    }
}

/// A compiled law.
#[derive(Debug, Clone)]
pub struct Law {
    tape: Vec<Op>,
    /// The variables a point must provide, in `Var` order.
    pub vars: Vec<Variable>,
    /// The free parameters, in `Param` order, and whether each is fitted in log space.
    pub params: Vec<(String, bool)>,
}

/// Why an expression is not a law: what is wrong, and the part of the expression it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct LawError {
    /// What is wrong.
    pub message: String,
    /// The part of the law it is about.
    pub span: Span,
}

impl Law {
    /// Compiles `expr` with these free parameters; every other name is a variable of the points.
    /// The checker compiles every law it accepts, so the fit never meets one it cannot evaluate.
    pub fn compile(expr: &Expr, params: &[(String, bool)]) -> Result<Law, LawError> {
        let mut law = Law { tape: Vec::new(), vars: Vec::new(), params: params.to_vec() };
        law.emit(expr)?;
        Ok(law)
    }

    fn push(&mut self, op: Op) -> usize {
        self.tape.push(op);
        self.tape.len() - 1
    }

    fn emit(&mut self, expr: &Expr) -> Result<usize, LawError> {
        let error = |message: String| LawError { message, span: expr.span };
        Ok(match &expr.kind {
            ExprKind::Number { value, unit: None, .. } => self.push(Op::Const(*value)),
            ExprKind::Name(_) | ExprKind::Field { .. } => {
                let name = dotted(expr).ok_or_else(|| error("a name or a config path such as `model.width`".into()))?;
                if let Some(i) = self.params.iter().position(|(p, _)| *p == name) {
                    self.push(Op::Param(i))
                } else {
                    let variable = Variable::named(name);
                    let i = match self.vars.iter().position(|v| *v == variable) {
                        Some(i) => i,
                        None => {
                            self.vars.push(variable);
                            self.vars.len() - 1
                        }
                    };
                    self.push(Op::Var(i))
                }
            }
            ExprKind::Unary { op: UnaryOp::Neg, operand } => {
                let a = self.emit(operand)?;
                self.push(Op::Neg(a))
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.emit(lhs)?, self.emit(rhs)?);
                self.push(match op {
                    BinaryOp::Add => Op::Add(a, b),
                    BinaryOp::Sub => Op::Sub(a, b),
                    BinaryOp::Mul => Op::Mul(a, b),
                    BinaryOp::Div => Op::Div(a, b),
                    BinaryOp::Pow => Op::Pow(a, b),
                    other => return Err(error(format!("`{}` is a condition, not arithmetic", other.symbol()))),
                })
            }
            ExprKind::Call { callee, args } => {
                let name = dotted(callee).unwrap_or_default();
                let function =
                    Builtin::in_laws(&name).ok_or_else(|| error(format!("`{name}` is not a law function")))?;
                let positional = args.iter().filter(|a| a.name.is_none()).count();
                let named = args.iter().filter_map(|a| a.name.as_ref().map(|n| n.node.as_str()));
                if let Some(message) = function.bad_arguments(positional, named) {
                    return Err(error(message));
                }
                let operands = args.iter().map(|a| self.emit(&a.value)).collect::<Result<Vec<_>, _>>()?;
                match (function, operands.as_slice()) {
                    (Builtin::Min | Builtin::Max, [first, rest @ ..]) => {
                        rest.iter().fold(*first, |a, &b| self.push(Op::Call2(function, a, b)))
                    }
                    (_, &[a]) => self.push(Op::Call1(function, a)),
                    _ => {
                        return Err(error(format!("`{name}` with {} arguments is not a law function", operands.len())))
                    }
                }
            }
            ExprKind::Number { unit: Some(_), .. } => {
                return Err(error("a number in a law is plain: the law's units are those of its observables".into()))
            }
            _ => return Err(error("a law is arithmetic over numbers, observables and parameters".into())),
        })
    }

    /// The natural-scale values of the parameters at `theta` (the optimiser's coordinates).
    pub fn natural(&self, theta: &[f64]) -> Vec<f64> {
        theta.iter().zip(&self.params).map(|(t, (_, log))| if *log { t.exp() } else { *t }).collect()
    }

    /// The optimiser's coordinates of natural-scale parameter values.
    pub fn coordinates(&self, values: &[f64]) -> Vec<f64> {
        values.iter().zip(&self.params).map(|(v, (_, log))| if *log { v.ln() } else { *v }).collect()
    }

    /// The law's value at one point, with natural-scale parameters.
    pub fn eval(&self, point: &[f64], params: &[f64], scratch: &mut Vec<f64>) -> f64 {
        scratch.clear();
        for op in &self.tape {
            let v = |i: usize| scratch[i];
            let value = match *op {
                Op::Const(c) => c,
                Op::Var(i) => point[i],
                Op::Param(i) => params[i],
                Op::Neg(a) => -v(a),
                Op::Add(a, b) => v(a) + v(b),
                Op::Sub(a, b) => v(a) - v(b),
                Op::Mul(a, b) => v(a) * v(b),
                Op::Div(a, b) => v(a) / v(b),
                Op::Pow(a, b) => v(a).powf(v(b)),
                Op::Call1(f, a) => f.apply(&[v(a)]).unwrap_or(f64::NAN),
                Op::Call2(f, a, b) => f.apply(&[v(a), v(b)]).unwrap_or(f64::NAN),
            };
            scratch.push(value);
        }
        scratch.last().copied().unwrap_or(f64::NAN)
    }

    /// Adds `weight` times the gradient of the law at `point` with respect to the natural-scale
    /// parameters to `grad`, after [`Law::eval`] filled `values` at the same point.
    pub fn add_gradient(&self, values: &[f64], weight: f64, adjoint: &mut Vec<f64>, grad: &mut [f64]) {
        adjoint.clear();
        adjoint.resize(values.len(), 0.0);
        if let Some(last) = adjoint.last_mut() {
            *last = weight;
        }
        for (i, op) in self.tape.iter().enumerate().rev() {
            let g = adjoint[i];
            if g == 0.0 {
                continue;
            }
            let v = |k: usize| values[k];
            match *op {
                Op::Const(_) | Op::Var(_) => {}
                Op::Param(p) => grad[p] += g,
                Op::Neg(a) => adjoint[a] -= g,
                Op::Add(a, b) => {
                    adjoint[a] += g;
                    adjoint[b] += g;
                }
                Op::Sub(a, b) => {
                    adjoint[a] += g;
                    adjoint[b] -= g;
                }
                Op::Mul(a, b) => {
                    adjoint[a] += g * v(b);
                    adjoint[b] += g * v(a);
                }
                Op::Div(a, b) => {
                    adjoint[a] += g / v(b);
                    adjoint[b] -= g * values[i] / v(b);
                }
                Op::Pow(a, b) => {
                    let (x, y, out) = (v(a), v(b), values[i]);
                    // d/dx x^y = y x^(y-1) = y out / x where x is not 0.
                    adjoint[a] += g * if x != 0.0 { y * out / x } else { y * x.powf(y - 1.0) };
                    if x > 0.0 {
                        adjoint[b] += g * out * x.ln();
                    }
                }
                Op::Call1(f, a) => adjoint[a] += g * derivative(f, v(a), values[i]),
                Op::Call2(f, a, b) => adjoint[if picks_first(f, v(a), v(b)) { a } else { b }] += g,
            }
        }
    }
}

/// A law evaluated over many points at once, op by op: the tape is interpreted once per
/// evaluation instead of once per point, each op is a loop over the points, and a power of a
/// variable is one `exp` (x^y = e^(y ln x), with ln x computed once per fit), the costliest step
/// of fitting Chinchilla's law.
impl Law {
    /// Fills `values` (node-major: node `i` at `i * n .. (i + 1) * n`) for `n` points given
    /// column-wise in `cols` with their logarithms in `logs`; returns the predictions.
    pub fn eval_batch<'v>(
        &self,
        cols: &[Vec<f64>],
        logs: &[Vec<f64>],
        params: &[f64],
        n: usize,
        values: &'v mut Vec<f64>,
    ) -> &'v [f64] {
        values.clear();
        values.resize(self.tape.len() * n, 0.0);
        for (i, op) in self.tape.iter().enumerate() {
            let (before, rest) = values.split_at_mut(i * n);
            let out = &mut rest[..n];
            let col = |k: usize| &before[k * n..(k + 1) * n];
            let unary = |out: &mut [f64], a: usize, f: &dyn Fn(f64) -> f64| {
                out.iter_mut().zip(col(a)).for_each(|(o, &x)| *o = f(x));
            };
            let binary = |out: &mut [f64], a: usize, b: usize, f: &dyn Fn(f64, f64) -> f64| {
                out.iter_mut().zip(col(a).iter().zip(col(b))).for_each(|(o, (&x, &y))| *o = f(x, y));
            };
            match *op {
                Op::Const(c) => out.fill(c),
                Op::Var(k) => out.copy_from_slice(&cols[k]),
                Op::Param(k) => out.fill(params[k]),
                Op::Neg(a) => unary(out, a, &|x| -x),
                Op::Add(a, b) => binary(out, a, b, &|x, y| x + y),
                Op::Sub(a, b) => binary(out, a, b, &|x, y| x - y),
                Op::Mul(a, b) => binary(out, a, b, &|x, y| x * y),
                Op::Div(a, b) => binary(out, a, b, &|x, y| x / y),
                Op::Pow(a, b) => match self.tape[a] {
                    Op::Var(k) => out
                        .iter_mut()
                        .zip(col(b).iter().zip(cols[k].iter().zip(&logs[k])))
                        .for_each(|(o, (&y, (&x, &ln_x)))| *o = if x > 0.0 { (y * ln_x).exp() } else { x.powf(y) }),
                    _ => binary(out, a, b, &f64::powf),
                },
                Op::Call1(f, a) => unary(out, a, &|x| f.apply(&[x]).unwrap_or(f64::NAN)),
                Op::Call2(f, a, b) => binary(out, a, b, &|x, y| f.apply(&[x, y]).unwrap_or(f64::NAN)),
            }
        }
        &values[values.len() - n..]
    }

    /// Adds to `grad` the gradient, with respect to the natural-scale parameters, of the sum over
    /// points of `seed[p]` times the law at point `p`, after [`Law::eval_batch`] filled `values`.
    pub fn add_gradient_batch(
        &self,
        values: &[f64],
        logs: &[Vec<f64>],
        seed: &[f64],
        adjoint: &mut Vec<f64>,
        grad: &mut [f64],
    ) {
        let n = seed.len();
        adjoint.clear();
        adjoint.resize(self.tape.len() * n, 0.0);
        let last = adjoint.len() - n;
        adjoint[last..].copy_from_slice(seed);
        let col = |k: usize| &values[k * n..(k + 1) * n];
        for (i, op) in self.tape.iter().enumerate().rev() {
            let (before, rest) = adjoint.split_at_mut(i * n);
            let g = &rest[..n];
            let mut into = |k: usize, f: &dyn Fn(usize, f64) -> f64| {
                before[k * n..(k + 1) * n].iter_mut().zip(g).enumerate().for_each(|(p, (a, &g))| *a += f(p, g));
            };
            match *op {
                Op::Const(_) | Op::Var(_) => {}
                Op::Param(k) => grad[k] += g.iter().sum::<f64>(),
                Op::Neg(a) => into(a, &|_, g| -g),
                Op::Add(a, b) => {
                    into(a, &|_, g| g);
                    into(b, &|_, g| g);
                }
                Op::Sub(a, b) => {
                    into(a, &|_, g| g);
                    into(b, &|_, g| -g);
                }
                Op::Mul(a, b) => {
                    into(a, &|p, g| g * col(b)[p]);
                    into(b, &|p, g| g * col(a)[p]);
                }
                Op::Div(a, b) => {
                    into(a, &|p, g| g / col(b)[p]);
                    into(b, &|p, g| -g * col(i)[p] / col(b)[p]);
                }
                Op::Pow(a, b) => {
                    into(a, &|p, g| {
                        let (x, y) = (col(a)[p], col(b)[p]);
                        g * if x != 0.0 { y * col(i)[p] / x } else { y * x.powf(y - 1.0) }
                    });
                    into(b, &|p, g| {
                        let x = col(a)[p];
                        let ln_x = match self.tape[a] {
                            Op::Var(k) => logs[k][p],
                            _ => x.ln(),
                        };
                        if x > 0.0 {
                            g * col(i)[p] * ln_x
                        } else {
                            0.0
                        }
                    });
                }
                Op::Call1(f, a) => into(a, &|p, g| g * derivative(f, col(a)[p], col(i)[p])),
                Op::Call2(f, a, b) => {
                    into(a, &|p, g| if picks_first(f, col(a)[p], col(b)[p]) { g } else { 0.0 });
                    into(b, &|p, g| if picks_first(f, col(a)[p], col(b)[p]) { 0.0 } else { g });
                }
            }
        }
    }
}

/// The derivative of the one-argument law function `f` at `x`, where `f(x) = out`.
fn derivative(f: Builtin, x: f64, out: f64) -> f64 {
    match f {
        Builtin::Exp => out,
        Builtin::Log => 1.0 / x,
        Builtin::Sqrt => 0.5 / out,
        _ => f64::NAN,
    }
}

/// Whether `min` or `max` of `x` and `y` is `x` (the first on a tie), where the gradient goes.
fn picks_first(f: Builtin, x: f64, y: f64) -> bool {
    if f == Builtin::Min {
        x <= y
    } else {
        x >= y
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The expression of `text`.
    pub(crate) fn expr(text: &str) -> Expr {
        let file = crate::syntax::parse(&format!("sprs 0.1\nlet x = {text}\n")).unwrap();
        match &file.items[0].kind {
            crate::syntax::ast::ItemKind::Let { value, .. } => value.clone(),
            _ => unreachable!(),
        }
    }

    fn law(text: &str, params: &[(&str, bool)]) -> Law {
        let params: Vec<(String, bool)> = params.iter().map(|(p, l)| (p.to_string(), *l)).collect();
        Law::compile(&expr(text), &params).unwrap()
    }

    /// Central differences in the optimiser's coordinates, an independent check of the tape's
    /// gradient.
    fn numeric(law: &Law, point: &[f64], theta: &[f64]) -> Vec<f64> {
        let mut scratch = Vec::new();
        (0..theta.len())
            .map(|k| {
                let h = 1e-6 * theta[k].abs().max(1.0);
                let mut up = theta.to_vec();
                let mut down = theta.to_vec();
                up[k] += h;
                down[k] -= h;
                (law.eval(point, &law.natural(&up), &mut scratch) - law.eval(point, &law.natural(&down), &mut scratch))
                    / (2.0 * h)
            })
            .collect()
    }

    #[test]
    fn gradients_match_central_differences() {
        type Case<'a> = (&'a str, &'a [(&'a str, bool)], &'a [f64]);
        let cases: &[Case] = &[
            (
                "E + A / N^alpha + B / D^beta",
                &[("E", true), ("A", true), ("B", true), ("alpha", false), ("beta", false)],
                &[0.5, 6.0, 7.0, 0.34, 0.28],
            ),
            (
                "(a_S * (1 - S)^b_S + c_S) * (1 / N)^b_N + (a_D / D)^b_D + c",
                &[
                    ("a_S", true),
                    ("b_S", false),
                    ("c_S", true),
                    ("b_N", false),
                    ("a_D", true),
                    ("b_D", false),
                    ("c", true),
                ],
                &[3.0, 1.2, 2.0, 0.4, 20.0, 0.3, 0.2],
            ),
            (
                "((N_c / N)^(alpha_N / alpha_D) + D_c / D)^alpha_D",
                &[("N_c", true), ("D_c", true), ("alpha_N", false), ("alpha_D", false)],
                &[30.0, 22.0, 0.076, 0.095],
            ),
            ("exp(-k * log(N)) * sqrt(max(D, 1) / min(D, 1e12)) - -c", &[("k", false), ("c", false)], &[0.3, 1.5]),
            ("min(a * N, b * D, 1e30) + max(a, 0.1, b)", &[("a", false), ("b", false)], &[0.7, 0.4]),
        ];
        for (text, params, theta) in cases {
            let law = law(text, params);
            let point: Vec<f64> = law
                .vars
                .iter()
                .map(|v| match v.to_string().as_str() {
                    "N" => 3.3e8,
                    "D" => 7.1e9,
                    "S" => 0.6,
                    other => panic!("{other}"),
                })
                .collect();
            let (mut values, mut adjoint) = (Vec::new(), Vec::new());
            let natural = law.natural(theta);
            law.eval(&point, &natural, &mut values);
            let mut grad = vec![0.0; theta.len()];
            law.add_gradient(&values, 1.0, &mut adjoint, &mut grad);
            // To the optimiser's coordinates: d/da e^a = e^a.
            for (g, (n, (_, log))) in grad.iter_mut().zip(natural.iter().zip(&law.params)) {
                if *log {
                    *g *= n;
                }
            }
            for (k, (exact, approx)) in grad.iter().zip(numeric(&law, &point, theta)).enumerate() {
                assert!(
                    (exact - approx).abs() <= 1e-5 * approx.abs().max(1e-8),
                    "{text}: d/d{} {exact} vs {approx}",
                    law.params[k].0
                );
            }
        }
    }

    #[test]
    fn the_batch_evaluation_equals_the_pointwise_one() {
        let law = law(
            "max(E, 0.1) + A / N^alpha * exp(-S) + sqrt(B) / D^beta - min(S, 0.5)",
            &[("E", true), ("A", true), ("B", true), ("alpha", false), ("beta", false)],
        );
        let points: Vec<Vec<f64>> = (0..7)
            .map(|i| {
                law.vars
                    .iter()
                    .map(|v| match v.to_string().as_str() {
                        "N" => 1e6 * (i + 1) as f64,
                        "D" => 3e8 / (i + 1) as f64,
                        _ => 0.1 * i as f64,
                    })
                    .collect()
            })
            .collect();
        let params = law.natural(&[0.2, 5.0, 6.0, 0.3, 0.4]);
        let cols: Vec<Vec<f64>> = (0..law.vars.len()).map(|k| points.iter().map(|p| p[k]).collect()).collect();
        let logs: Vec<Vec<f64>> = cols.iter().map(|c| c.iter().map(|x| x.ln()).collect()).collect();
        let seed: Vec<f64> = (0..7).map(|i| 1.0 + i as f64).collect();
        let (mut values, mut adjoint, mut batch_grad) = (Vec::new(), Vec::new(), vec![0.0; 5]);
        let predictions = law.eval_batch(&cols, &logs, &params, 7, &mut values).to_vec();
        law.add_gradient_batch(&values, &logs, &seed, &mut adjoint, &mut batch_grad);
        let mut grad = vec![0.0; 5];
        for (p, point) in points.iter().enumerate() {
            let mut scratch = Vec::new();
            let value = law.eval(point, &params, &mut scratch);
            assert!((value - predictions[p]).abs() <= 1e-12 * value.abs());
            law.add_gradient(&scratch, seed[p], &mut adjoint, &mut grad);
        }
        for (a, b) in grad.iter().zip(&batch_grad) {
            assert!((a - b).abs() <= 1e-10 * a.abs().max(1e-12), "{grad:?} against {batch_grad:?}");
        }
    }

    #[test]
    fn conditions_are_not_laws() {
        assert!(Law::compile(&expr("N < 3"), &[]).is_err());
    }
}
