//! Resolving a trial's budget and pruning schedule onto the discrete step grid.
//!
//! One rule throughout: a point written as a fraction is the first step at which that fraction
//! of the steps, tokens or compute has been spent before it, and a budget is spent by the
//! smallest number of steps that reaches it. A pruning `end` lies on the update grid
//! (`start + k * every`), capped at the last step. Compute is counted in parameter-steps
//! (non-zero counted parameters summed over steps); `C = 6 * tokens_per_step * parameter-steps`.
//! A fraction of compute that depends on the total compute of a run whose length is fixed by a
//! token or step budget is found as a fixed point.

use crate::config::{Basis, Budget, Curve, Interval, Method, Point, Scope, TrialConfig};
use crate::observables::training_flops;
use crate::prune::{self, Schedule, Update, Window};

use super::search::{bisect, first_from};
use super::shape::Shape;

/// Compute is compared with a relative tolerance, so that a budget written as an exact
/// multiple of a step's cost is reached by exactly that many steps despite float rounding.
const TOLERANCE: f64 = 1e-12;

/// The longest run a plan may describe. Far beyond any real pre-training run; it bounds the
/// work of planning on any input.
pub const MAX_STEPS: u64 = 1_000_000_000;

/// The most mask updates a schedule may make; each update is a pass over every prunable weight.
pub const MAX_UPDATES: u64 = 1_000_000;

/// Why a trial cannot be planned.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The budget does not pay for one step.
    BudgetBelowOneStep {
        /// The budget as written.
        budget: String,
        /// What one step costs.
        step: String,
    },
    /// The update interval is longer than the pruning window.
    IntervalLongerThanWindow {
        /// Steps between updates.
        every: u64,
        /// The first update's step.
        start: u64,
        /// The last update's step.
        end: u64,
    },
    /// No update lands on `end`, so a curve that reaches its final sparsity at `end` never does.
    EndOffGrid {
        /// The first update's step.
        start: u64,
        /// The last update's step.
        end: u64,
        /// Steps between updates.
        every: u64,
    },
    /// A layerwise sparsity removes every weight of a matrix.
    EmptiesMatrix {
        /// The matrix.
        matrix: String,
        /// Its number of weights.
        size: u64,
    },
    /// A boundary falls outside the run, or a fraction of compute has no consistent solution;
    /// `at_end` says whether the pruning end (rather than the start) is the one to move.
    Unreachable {
        /// What cannot be reached, in words.
        what: String,
        /// Whether it is the end (rather than the start).
        at_end: bool,
    },
    /// Pruning would end before it starts.
    EndsBeforeStart {
        /// The first update's step.
        start: u64,
        /// The last update's step.
        end: u64,
    },
    /// The run or its schedule is beyond what a plan may describe.
    TooLarge {
        /// What is too large, in words.
        what: String,
    },
}

/// A trial's resolved budget and schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    pub steps: u64,
    pub window: Option<Window>,
    /// The mask updates, made on demand (a solve tries many schedules and keeps one).
    pub schedule: Option<Schedule>,
    /// Non-zero counted parameters summed over all steps.
    pub param_steps: u128,
}

impl Solution {
    /// Every mask update, in order.
    pub fn updates(&self) -> Vec<Update> {
        self.schedule.map(|schedule| schedule.updates()).unwrap_or_default()
    }
}

/// The numbers of a trial that do not depend on how long it runs.
pub struct Trial<'a> {
    config: &'a TrialConfig,
    /// Counted parameters at initialisation (N).
    pub counted: u64,
    /// Sizes of the prunable matrices, with their names.
    prunable: Vec<(String, u64)>,
    pub prunable_total: u64,
    pub tokens_per_step: u64,
}

impl<'a> Trial<'a> {
    pub fn new(config: &'a TrialConfig, shape: &Shape) -> Trial<'a> {
        let prunable: Vec<(String, u64)> =
            shape.prunable(&config.prune.targets).map(|m| (m.name.clone(), m.size())).collect();
        Trial {
            config,
            counted: shape.counted(config.count),
            prunable_total: prunable.iter().map(|(_, s)| s).sum(),
            prunable,
            tokens_per_step: config.batch * config.data.context,
        }
    }

    /// Weights removed at `sparsity`: one global count, or one per matrix for `layerwise`.
    pub fn pruned(&self, sparsity: f64) -> u64 {
        match self.config.prune.scope {
            // `pruned_in` of the sizes, without summing them at every update of a long schedule.
            Scope::Global => prune::pruned(sparsity, self.prunable_total),
            Scope::Layerwise => {
                prune::pruned_in(sparsity, Scope::Layerwise, self.prunable.iter().map(|(_, size)| *size))
            }
        }
    }

    /// Non-zero counted parameters at `sparsity`.
    pub fn nonzero(&self, sparsity: f64) -> u64 {
        self.counted - self.pruned(sparsity)
    }

    fn prunes(&self) -> bool {
        self.config.prune.method != Method::None && self.config.prune.sparsity > 0.0
    }

    /// Checks that do not depend on the number of steps.
    pub fn check_shape(&self) -> Result<(), Problem> {
        if self.prunes() && self.config.prune.scope == Scope::Layerwise {
            let s = self.config.prune.sparsity;
            if let Some((matrix, size)) = self.prunable.iter().find(|(_, size)| prune::pruned(s, *size) == *size) {
                return Err(Problem::EmptiesMatrix { matrix: matrix.clone(), size: *size });
            }
        }
        Ok(())
    }

    /// Resolves the budget and the schedule.
    pub fn solve(&self) -> Result<Solution, Problem> {
        self.check_shape()?;
        let tps = self.tokens_per_step as f64;
        let one_step =
            |budget: String| Problem::BudgetBelowOneStep { budget, step: format!("{} tokens", self.tokens_per_step) };
        let steps = match self.config.budget {
            Budget::Steps(steps) => steps,
            Budget::Tokens(tokens) if tokens < tps => return Err(one_step(format!("{tokens} tokens"))),
            Budget::Tokens(tokens) => ceil(tokens / tps),
            Budget::TokensPerParam(ratio) => {
                let tokens = ratio * self.counted as f64;
                if tokens < tps {
                    return Err(one_step(format!("{ratio} tokens/param x {} params = {tokens} tokens", self.counted)));
                }
                ceil(tokens / tps)
            }
            Budget::Flops(flops) => return self.spend_flops(flops),
        };
        if steps > MAX_STEPS {
            return Err(too_long());
        }
        self.at_length(steps)
    }

    /// A run of a fixed number of steps. Fractions of compute are fractions of the run's own
    /// total compute, which depends on the schedule: iterate to a fixed point.
    fn at_length(&self, steps: u64) -> Result<Solution, Problem> {
        let mut reference = steps as f64 * self.counted as f64;
        // Windows tried so far: a repeat is a fixed point (or, on the discrete grid, a cycle,
        // whose first repeat is taken).
        let mut seen: Vec<Option<Window>> = Vec::new();
        for _ in 0..64 {
            let solution = self.schedule(steps, reference)?;
            if seen.contains(&solution.window) || !self.uses_compute() {
                return Ok(solution);
            }
            seen.push(solution.window);
            reference = solution.param_steps as f64;
        }
        Err(Problem::Unreachable {
            what: "the `of compute` boundaries have no consistent solution".into(),
            at_end: false,
        })
    }

    fn uses_compute(&self) -> bool {
        let of_compute = |p: Point| matches!(p, Point::Fraction { of: Basis::Compute, .. });
        self.prunes() && (of_compute(self.config.prune.start) || of_compute(self.config.prune.end))
    }

    /// A `flops` budget: the fewest steps whose compute reaches it.
    fn spend_flops(&self, flops: f64) -> Result<Solution, Problem> {
        let reference = flops / training_flops(1.0, self.tokens_per_step as f64);
        let first_step = self.counted as f64;
        if reference < first_step * (1.0 - TOLERANCE) {
            return Err(Problem::BudgetBelowOneStep {
                budget: format!("{flops:e} flops"),
                step: format!("{:e} flops", training_flops(first_step, self.tokens_per_step as f64)),
            });
        }
        let reaches = |steps: u64| match self.schedule(steps, reference) {
            Ok(solution) => solution.param_steps as f64 >= reference * (1.0 - TOLERANCE),
            // A schedule that cannot fit in this few steps: such a run is all dense at best.
            Err(_) => steps as f64 * first_step >= reference * (1.0 - TOLERANCE),
        };
        // Every step costs at least the final non-zero count, so this many steps always suffice.
        let floor = self.nonzero(if self.prunes() { self.config.prune.sparsity } else { 0.0 }).max(1) as f64;
        let lo = bisect(1, ceil(reference / floor).saturating_add(1).min(MAX_STEPS + 1), reaches);
        if lo > MAX_STEPS {
            return Err(too_long());
        }
        self.schedule(lo, reference)
    }

    /// The schedule of a run of `steps` steps, with `reference` parameter-steps as the total
    /// compute that fractions of compute refer to.
    fn schedule(&self, steps: u64, reference: f64) -> Result<Solution, Problem> {
        if !self.prunes() {
            return Ok(Solution {
                steps,
                window: None,
                schedule: None,
                param_steps: steps as u128 * self.counted as u128,
            });
        }
        let grid = self.grid(steps, reference)?;
        // Sums of compute before a candidate end, as `(end, sum)`, kept by the search of an end
        // written as a fraction of compute.
        let mut tried: Vec<(u64, u128)> = Vec::new();
        let prune = &self.config.prune;
        let end = match (prune.curve, prune.end) {
            (Curve::OneShot, _) => grid.start,
            (_, Point::Steps(_) | Point::Tokens(_)) => self.end_at(&grid, reference)?,
            (_, Point::Fraction { value, of }) => self.end_at_fraction(&grid, value, of, reference, &mut tried)?,
        };
        if end < grid.start {
            return Err(Problem::EndsBeforeStart { start: grid.start, end });
        }
        let window = grid.window(end);
        let schedule = Schedule::new(prune.curve, prune.sparsity, window);
        let before_end = tried.iter().find(|(at, _)| *at == end).map(|(_, sum)| *sum);
        let param_steps = self.param_steps(&schedule, steps, end, before_end);
        Ok(Solution { steps, window: Some(window), schedule: Some(schedule), param_steps })
    }

    /// The first update's step and the steps between updates, in a run of `steps` steps.
    fn grid(&self, steps: u64, reference: f64) -> Result<Grid, Problem> {
        let prune = &self.config.prune;
        let last = steps - 1;
        let start = self.point(prune.start, steps, reference);
        if start > last {
            return Err(Problem::Unreachable {
                what: format!("pruning would start at step {start}, but the run ends at step {last}"),
                at_end: false,
            });
        }
        let every = match prune.every {
            Interval::Steps(every) => every.max(1),
            Interval::Fraction(f) => ((f * steps as f64).round() as u64).max(1),
        };
        if (last - start) / every >= MAX_UPDATES {
            return Err(Problem::TooLarge {
                what: format!("updates every {every} steps from step {start} of a {steps}-step run could make more than {MAX_UPDATES} mask updates"),
            });
        }
        Ok(Grid { steps, last, start, every })
    }

    /// The last update's step for an end written in steps or tokens. A step off the grid is an
    /// error for the curves that reach their sparsity exactly at the end, and rounds down to the
    /// grid for the others.
    fn end_at(&self, grid: &Grid, reference: f64) -> Result<u64, Problem> {
        let Grid { steps, last, start, every } = *grid;
        let end = self.point(self.config.prune.end, steps, reference);
        if end < start {
            return Err(Problem::EndsBeforeStart { start, end });
        }
        if end > last {
            return Err(Problem::Unreachable {
                what: format!("pruning would end at step {end}, but the run ends at step {last}"),
                at_end: true,
            });
        }
        if end > start && every > end - start {
            return Err(Problem::IntervalLongerThanWindow { every, start, end });
        }
        if (end - start).is_multiple_of(every) {
            return Ok(end);
        }
        if matches!(self.config.prune.curve, Curve::Cubic | Curve::Linear) {
            return Err(Problem::EndOffGrid { start, end, every });
        }
        Ok(start + (end - start) / every * every)
    }

    /// The last update's step for an end written as a fraction `value` of the steps, tokens or
    /// compute: the first update on the grid at or after it, capped at the run's last update.
    fn end_at_fraction(
        &self,
        grid: &Grid,
        value: f64,
        of: Basis,
        reference: f64,
        tried: &mut Vec<(u64, u128)>,
    ) -> Result<u64, Problem> {
        let Grid { steps, last, start, every } = *grid;
        // Where the end was asked for; before pruning starts every step is dense, so for a
        // fraction of compute this is exact whenever it lies before `start`.
        let requested = self.point(self.config.prune.end, steps, reference);
        if requested < start {
            return Err(Problem::EndsBeforeStart { start, end: requested });
        }
        let k = match of {
            Basis::Compute => self.updates_to_spend(grid, value * reference * (1.0 - TOLERANCE), tried),
            Basis::Steps | Basis::Tokens => {
                let raw = ceil(value * steps as f64);
                raw.saturating_sub(start).div_ceil(every).min(grid.updates())
            }
        };
        if k == 0 && requested > start {
            return Err(Problem::IntervalLongerThanWindow { every, start, end: requested.min(last) });
        }
        Ok(start + k * every)
    }

    /// The smallest number of intervals k whose end, `start + k * every`, has `target`
    /// parameter-steps spent before it. Compute before the end grows with k: search on an
    /// estimate, then settle the answer with exact sums (each recorded in `tried`).
    fn updates_to_spend(&self, grid: &Grid, target: f64, tried: &mut Vec<(u64, u128)>) -> u64 {
        let prune = &self.config.prune;
        let mut exact = |k: u64| {
            let end = grid.start + k * grid.every;
            let sum = self.spent_before(&Schedule::new(prune.curve, prune.sparsity, grid.window(end)), end);
            tried.push((end, sum));
            sum as f64
        };
        let guess = bisect(0, grid.updates(), |k| {
            self.estimate_before_end(grid.start, grid.every, k).unwrap_or_else(|| exact(k)) >= target
        });
        // The estimate is close: gallop from it, so that the exact sums (each a pass over the
        // updates) are few however long the schedule.
        first_from(guess, grid.updates(), |k| exact(k) >= target)
    }

    /// The compute of a run of `steps` steps: the sum before the end if a search already made
    /// it, plus the steps after the last update (the same total as a new pass over the updates,
    /// without the pass).
    fn param_steps(&self, schedule: &Schedule, steps: u64, end: u64, before_end: Option<u128>) -> u128 {
        match (before_end, schedule.len()) {
            (Some(before), updates) if updates > 0 => {
                let last = schedule.update(updates - 1);
                before + (steps - end) as u128 * self.nonzero(last.sparsity) as u128
            }
            _ => self.spent_before(schedule, steps),
        }
    }

    /// The step a point resolves to. A fraction of compute as a point before pruning starts is
    /// reached when the dense steps before it have spent that fraction.
    fn point(&self, point: Point, steps: u64, reference: f64) -> u64 {
        match point {
            Point::Steps(step) => step,
            Point::Tokens(tokens) => ceil(tokens as f64 / self.tokens_per_step as f64),
            Point::Fraction { value, of: Basis::Steps | Basis::Tokens } => ceil(value * steps as f64),
            Point::Fraction { value, of: Basis::Compute } => ceil(value * reference / self.counted as f64),
        }
    }

    /// The compute spent before a geometric schedule's end at `start + k * every`, in closed
    /// form: with `r = (1 - s)^(1 / (k + 1))` the updates keep `r, r^2, ..., r^k` of the P
    /// prunable weights, so the sum is `k (N - P) + P r (1 - r^k) / (1 - r)` per `every` steps.
    /// It differs from the exact sum only by the rounding of pruned counts (at most half a
    /// weight per matrix and update). `None` for the other curves.
    fn estimate_before_end(&self, start: u64, every: u64, k: u64) -> Option<f64> {
        let prune = &self.config.prune;
        if prune.curve != Curve::Geometric {
            return None;
        }
        let (n, p) = (self.counted as f64, self.prunable_total as f64);
        let r = (1.0 - prune.sparsity).powf(1.0 / (k + 1) as f64);
        let kept = if r < 1.0 { r * (1.0 - r.powi(k as i32)) / (1.0 - r) } else { k as f64 };
        Some(start as f64 * n + every as f64 * (k as f64 * (n - p) + p * kept))
    }

    /// Non-zero counted parameters summed over steps `0..until`.
    pub fn spent_before(&self, schedule: &Schedule, until: u64) -> u128 {
        let mut total = 0u128;
        let mut from = 0u64;
        let mut sparsity = 0.0;
        for k in 0..schedule.len() {
            let update = schedule.update(k);
            if update.step >= until {
                break;
            }
            total += (update.step - from) as u128 * self.nonzero(sparsity) as u128;
            from = update.step;
            sparsity = update.sparsity;
        }
        total + (until.saturating_sub(from)) as u128 * self.nonzero(sparsity) as u128
    }
}

/// Where a schedule's updates may fall in a run: from `start`, every `every` steps, up to
/// `last`.
#[derive(Clone, Copy)]
struct Grid {
    steps: u64,
    /// The run's last step.
    last: u64,
    start: u64,
    every: u64,
}

impl Grid {
    /// The most intervals that fit between the first update and the run's last step.
    fn updates(&self) -> u64 {
        (self.last - self.start) / self.every
    }

    fn window(&self, end: u64) -> Window {
        Window { start: self.start, end, every: self.every }
    }
}

fn too_long() -> Problem {
    Problem::TooLarge { what: format!("the budget needs more than the {MAX_STEPS} steps a plan may have") }
}

/// `ceil(x)` for a non-negative count, tolerant of float noise just above a whole number.
fn ceil(x: f64) -> u64 {
    // `as` saturates: a huge value becomes u64::MAX and is caught by MAX_STEPS.
    (x * (1.0 - TOLERANCE)).ceil().max(0.0) as u64
}
