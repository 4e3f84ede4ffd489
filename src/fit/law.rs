//! A law compiled from its expression into a tape: evaluated on `f64` with exact gradients by
//! reverse-mode differentiation. Parameters marked `log` are optimised as their logarithm
//! (A = e^a), as Chinchilla does.

use crate::check::observables::dotted;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, UnaryOp};

/// One tape entry; operands index earlier entries.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Const(f64),
    /// A variable of the point: an observable or a config path.
    Var(usize),
    /// A free parameter, in its natural scale.
    Param(usize),
    Neg(usize),
    Add(usize, usize),
    Sub(usize, usize),
    Mul(usize, usize),
    Div(usize, usize),
    Pow(usize, usize),
    Exp(usize),
    Log(usize),
    Sqrt(usize),
    Min(usize, usize),
    Max(usize, usize),
}

/// A compiled law.
#[derive(Debug, Clone)]
pub struct Law {
    tape: Vec<Op>,
    /// The variables a point must provide, in `Var` order.
    pub vars: Vec<String>,
    /// The free parameters, in `Param` order, and whether each is fitted in log space.
    pub params: Vec<(String, bool)>,
}

impl Law {
    /// Compiles `expr` with these free parameters; every other name is a variable of the points.
    pub fn compile(expr: &Expr, params: &[(String, bool)]) -> Result<Law, String> {
        let mut law = Law { tape: Vec::new(), vars: Vec::new(), params: params.to_vec() };
        law.emit(expr)?;
        Ok(law)
    }

    fn push(&mut self, op: Op) -> usize {
        self.tape.push(op);
        self.tape.len() - 1
    }

    fn emit(&mut self, expr: &Expr) -> Result<usize, String> {
        Ok(match &expr.kind {
            ExprKind::Number { value, unit: None, .. } => self.push(Op::Const(*value)),
            ExprKind::Name(_) | ExprKind::Field { .. } => {
                let name = dotted(expr).ok_or("a name")?;
                if let Some(i) = self.params.iter().position(|(p, _)| *p == name) {
                    self.push(Op::Param(i))
                } else {
                    let i = match self.vars.iter().position(|v| *v == name) {
                        Some(i) => i,
                        None => {
                            self.vars.push(name);
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
                    other => return Err(format!("`{}` is a condition, not arithmetic", other.symbol())),
                })
            }
            ExprKind::Call { callee, args } => {
                let name = dotted(callee).unwrap_or_default();
                let operands = args.iter().map(|a| self.emit(&a.value)).collect::<Result<Vec<_>, _>>()?;
                match (name.as_str(), operands.as_slice()) {
                    ("exp", &[a]) => self.push(Op::Exp(a)),
                    ("log", &[a]) => self.push(Op::Log(a)),
                    ("sqrt", &[a]) => self.push(Op::Sqrt(a)),
                    ("min", &[a, b]) => self.push(Op::Min(a, b)),
                    ("max", &[a, b]) => self.push(Op::Max(a, b)),
                    _ => return Err(format!("`{name}` with {} arguments is not a law function", operands.len())),
                }
            }
            _ => return Err("a law is arithmetic over numbers, observables and parameters".into()),
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
        self.eval_with_logs(point, None, params, scratch)
    }

    /// [`Law::eval`], given the logarithms of the point's variables: a power of a variable is
    /// then one `exp` (x^y = e^(y ln x)), the costliest step of fitting Chinchilla's law.
    pub fn eval_with_logs(&self, point: &[f64], logs: Option<&[f64]>, params: &[f64], scratch: &mut Vec<f64>) -> f64 {
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
                Op::Pow(a, b) => match (self.tape[a], logs) {
                    (Op::Var(k), Some(logs)) if point[k] > 0.0 => (v(b) * logs[k]).exp(),
                    _ => v(a).powf(v(b)),
                },
                Op::Exp(a) => v(a).exp(),
                Op::Log(a) => v(a).ln(),
                Op::Sqrt(a) => v(a).sqrt(),
                Op::Min(a, b) => v(a).min(v(b)),
                Op::Max(a, b) => v(a).max(v(b)),
            };
            scratch.push(value);
        }
        scratch.last().copied().unwrap_or(f64::NAN)
    }

    /// Adds `weight` times the gradient of the law at `point` with respect to the natural-scale
    /// parameters to `grad`, after [`Law::eval`] filled `values` at the same point.
    pub fn add_gradient(&self, values: &[f64], weight: f64, adjoint: &mut Vec<f64>, grad: &mut [f64]) {
        self.add_gradient_with_logs(values, None, weight, adjoint, grad);
    }

    /// [`Law::add_gradient`], given the logarithms of the point's variables.
    pub fn add_gradient_with_logs(
        &self,
        values: &[f64],
        logs: Option<&[f64]>,
        weight: f64,
        adjoint: &mut Vec<f64>,
        grad: &mut [f64],
    ) {
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
                        let ln_x = match (self.tape[a], logs) {
                            (Op::Var(k), Some(logs)) => logs[k],
                            _ => x.ln(),
                        };
                        adjoint[b] += g * out * ln_x;
                    }
                }
                Op::Exp(a) => adjoint[a] += g * values[i],
                Op::Log(a) => adjoint[a] += g / v(a),
                Op::Sqrt(a) => adjoint[a] += g * 0.5 / values[i],
                Op::Min(a, b) => adjoint[if v(a) <= v(b) { a } else { b }] += g,
                Op::Max(a, b) => adjoint[if v(a) >= v(b) { a } else { b }] += g,
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
        ];
        for (text, params, theta) in cases {
            let law = law(text, params);
            let point: Vec<f64> = law
                .vars
                .iter()
                .map(|v| match v.as_str() {
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
    fn conditions_are_not_laws() {
        assert!(Law::compile(&expr("N < 3"), &[]).is_err());
    }
}
