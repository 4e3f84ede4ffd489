//! The objective of a fit and its minimisation: L-BFGS (argmin, More-Thuente line search) from
//! one start.

use std::cell::RefCell;

use argmin::core::{CostFunction, Error, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use crate::check::law::Law;
use crate::check::Loss;

/// The sum over points of the loss of the log residuals, ln(prediction) - ln(L), as a function of
/// the optimiser's coordinates (logs for `log` parameters).
#[derive(Clone, Copy)]
pub struct Objective<'a> {
    pub law: &'a Law,
    /// The law's variables, column by column: `cols[k][p]` is variable `k` at point `p`.
    pub cols: &'a [Vec<f64>],
    /// Their logarithms (NaN where not positive).
    pub logs: &'a [Vec<f64>],
    /// ln L at each point.
    pub log_loss: &'a [f64],
    /// How often each point counts (a bootstrap resample), or once each.
    pub weights: Option<&'a [f64]>,
    pub loss: Loss,
}

impl Objective<'_> {
    pub fn points(&self) -> usize {
        self.log_loss.len()
    }

    /// The objective and its gradient at `theta`; `None` where the law is not positive and
    /// finite at some point.
    pub fn value_and_gradient(&self, theta: &[f64]) -> Option<(f64, Vec<f64>)> {
        let n = self.points();
        let params = self.law.natural(theta);
        let (mut values, mut adjoint) = (Vec::new(), Vec::new());
        let predictions = self.law.eval_batch(self.cols, self.logs, &params, n, &mut values);
        let count: f64 = self.weights.map_or(n as f64, |w| w.iter().sum());
        let mut total = 0.0;
        let mut seed = vec![0.0; n];
        for (p, (&prediction, log_loss)) in predictions.iter().zip(self.log_loss).enumerate() {
            let weight = self.weights.map_or(1.0, |w| w[p]);
            if weight == 0.0 {
                continue;
            }
            if !(prediction > 0.0 && prediction.is_finite()) {
                return None;
            }
            let r = prediction.ln() - log_loss;
            let (value, slope) = match self.loss {
                Loss::Huber(delta) if r.abs() <= delta => (0.5 * r * r, r),
                Loss::Huber(delta) => (delta * (r.abs() - 0.5 * delta), delta * r.signum()),
                Loss::Mse => (r * r / count, 2.0 * r / count),
            };
            total += weight * value;
            // d value = slope d ln(prediction) = slope / prediction d prediction.
            seed[p] = weight * slope / prediction;
        }
        let mut grad = vec![0.0; theta.len()];
        self.law.add_gradient_batch(&values, self.logs, &seed, &mut adjoint, &mut grad);
        for ((g, p), (_, log)) in grad.iter_mut().zip(&params).zip(&self.law.params) {
            if *log {
                *g *= p;
            }
        }
        (total.is_finite() && grad.iter().all(|g| g.is_finite())).then_some((total, grad))
    }

    pub fn value(&self, theta: &[f64]) -> Option<f64> {
        self.value_and_gradient(theta).map(|(v, _)| v)
    }
}

/// argmin's view of an objective: cost and gradient come from one evaluation, remembered for
/// the gradient call that follows a cost call at the same point.
struct Problem<'a> {
    objective: &'a Objective<'a>,
    last: RefCell<Option<Evaluated>>,
}

/// A point, the objective there, and its gradient.
type Evaluated = (Vec<f64>, f64, Vec<f64>);

impl Problem<'_> {
    fn eval(&self, theta: &[f64]) -> Result<(f64, Vec<f64>), Error> {
        if let Some((at, value, grad)) = &*self.last.borrow() {
            if at == theta {
                return Ok((*value, grad.clone()));
            }
        }
        let (value, grad) = self
            .objective
            .value_and_gradient(theta)
            .ok_or_else(|| Error::msg("the law is not positive and finite here"))?;
        *self.last.borrow_mut() = Some((theta.to_vec(), value, grad.clone()));
        Ok((value, grad))
    }
}

impl CostFunction for Problem<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, theta: &Vec<f64>) -> Result<f64, Error> {
        self.eval(theta).map(|(value, _)| value)
    }
}

impl Gradient for Problem<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, theta: &Vec<f64>) -> Result<Vec<f64>, Error> {
        self.eval(theta).map(|(_, grad)| grad)
    }
}

/// When an L-BFGS run stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stop {
    /// Stop once the gradient's norm is below this.
    pub grad: f64,
    /// Stop once an iteration lowers the objective by less than this.
    pub cost: f64,
    pub max_iters: u64,
}

impl Stop {
    /// For the starts of the grid: scipy's L-BFGS-B defaults (a decrease below 2.2e-9, or a
    /// gradient of 1e-5).
    pub const SEARCH: Stop = Stop { grad: 1e-5, cost: 2.2e-9, max_iters: 1000 };
    /// For polishing the best starts: until the objective stops changing in f64.
    pub const POLISH: Stop = Stop { grad: 1e-13, cost: 0.0, max_iters: 2000 };
}

/// The minimum that L-BFGS reaches from `start`, as (coordinates, objective), or `None` when
/// the objective is not finite at the start.
pub fn minimize(objective: &Objective, start: &[f64], stop: Stop) -> Option<(Vec<f64>, f64)> {
    let start_value = objective.value(start)?;
    let problem = Problem { objective, last: RefCell::new(None) };
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
        .with_tolerance_grad(stop.grad)
        .and_then(|s| s.with_tolerance_cost(stop.cost))
        .ok()?;
    let run =
        Executor::new(problem, solver).configure(|state| state.param(start.to_vec()).max_iters(stop.max_iters)).run();
    // A run that stops on an error (a line search stepping where the law is undefined) gives no
    // state back; its start then competes as it is.
    let best = match run {
        Ok(result) => {
            let state = result.state();
            state.get_best_param().cloned().map(|p| (p, state.get_best_cost()))
        }
        Err(_) => None,
    };
    match best {
        Some((theta, value)) if value.is_finite() && value <= start_value => Some((theta, value)),
        _ => Some((start.to_vec(), start_value)),
    }
}
