//! Fitting scaling laws: a law the checker compiled to a differentiable tape
//! ([`crate::check::law`]), points from CSV files
//! or trial results ([`data`]), L-BFGS from every start of the grid in parallel, keeping the best
//! ([`optimize`]), a holdout, percentile bootstrap intervals, and the compute-optimal allocation.
//! Plain Rust: no Burn.

pub(crate) mod compare;
pub mod data;
pub mod error;
pub(crate) mod optimize;
pub mod table;

mod optimal;
pub(crate) mod plot;

use rayon::prelude::*;
use serde::Serialize;

use crate::access::Access;
use crate::check::law::Law;
use crate::check::{FitSource, FitSpec, Loss};
use crate::data::hash::mix;
use crate::diagnostic::Diag;
use crate::observables::training_flops;
use crate::observables::Observable;
use crate::plan::Plan;
use crate::store::Store;
use data::Point;
use error::FitError;
use optimize::{minimize, Objective, Stop};

pub use optimal::{chinchilla_optimum, Optimum};

/// A fitted law: the keys of `fit --format json` (docs/language.md, "Exit codes and output formats") and more.
#[derive(Debug, Clone, Serialize)]
pub struct Fitted {
    /// The fit's name.
    pub name: String,
    /// The law as written.
    pub law: String,
    /// Points fitted on (the holdout excluded).
    pub points: usize,
    /// The loss at the fitted parameters.
    pub objective: f64,
    /// Each parameter's value and bootstrap interval, in the law's order.
    #[serde(serialize_with = "params_map")]
    pub params: Vec<ParamFit>,
    /// The errors on the points fitted.
    pub in_sample: Errors,
    /// The errors on the held-out points, if the fit has a holdout.
    pub holdout: Option<Errors>,
    /// The loss: `huber(delta)` summed, or `mse`.
    pub loss: String,
    /// The optimizer's starts (the product of the parameters' start grids).
    pub starts: usize,
    /// Bootstrap resamples, and the interval's coverage.
    pub bootstrap: u64,
    /// The coverage of the bootstrap interval (0.95).
    pub interval: f64,
    /// The compute-optimal N and D at a few compute budgets, for laws in N (or N_avg) and D.
    pub compute_optimal: Vec<Optimum>,
    /// Every point with its prediction, for plots and tables.
    pub predictions: Vec<Prediction>,
    /// The law evaluated on the points of `predict`, which it was not fitted to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predict: Option<Predicted>,
}

/// The fitted law on points it was not fitted to (`predict = ..`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Predicted {
    /// The number of points, their mean absolute error of L, and the RMSE of log L.
    #[serde(flatten)]
    pub errors: Errors,
    /// Each point: its id (a trial's, or a CSV row's label), observed and predicted L.
    pub rows: Vec<PredictedRow>,
    /// When the law uses one of the parameter counts N, N_avg and N_final: its errors on the same
    /// points with each count in its place, the fitted parameters unchanged (the paper's test: a
    /// law fitted on dense runs predicts pruned runs from N_avg). Only counts every point has are
    /// compared: trials have all three, CSV rows the columns they map.
    pub counts: Vec<CountErrors>,
    /// The counts left out of that comparison because some point lacks them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub counts_missing: Vec<String>,
}

/// One row of [`Predicted`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictedRow {
    /// The trial's id, or the CSV row's label.
    pub id: String,
    /// The trial's name or the CSV row, for tables.
    pub label: String,
    /// The observed L.
    pub observed: f64,
    /// The law's L.
    pub predicted: f64,
    /// The point's sparsity where it has one (trials), for plots.
    #[serde(rename = "S", skip_serializing_if = "Option::is_none")]
    pub sparsity: Option<f64>,
}

/// The errors of a fitted law's predictions with `count` as the parameter count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountErrors {
    /// `N`, `N_avg` or `N_final`.
    pub count: String,
    /// Whether this is the count the law is written with.
    pub written: bool,
    /// The errors on the predicted points.
    #[serde(flatten)]
    pub errors: Errors,
    /// The mean of predicted minus observed L: below zero, the law with this count expects a
    /// lower loss than the runs reached.
    pub bias: f64,
    /// The errors of the points of each final sparsity (S to the nearest percent), sparsest last;
    /// empty when the points have no sparsity (CSV rows).
    pub by_sparsity: Vec<SparsityErrors>,
}

/// [`CountErrors`] on the predicted points of one final sparsity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SparsityErrors {
    /// The final sparsity, to the nearest percent.
    #[serde(rename = "S")]
    pub sparsity: f64,
    /// The number of points, their mean absolute error of L, and the RMSE of log L.
    #[serde(flatten)]
    pub errors: Errors,
    /// The mean of predicted minus observed L.
    pub bias: f64,
}

/// One fitted parameter with its bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamFit {
    /// The parameter's name in the law.
    pub name: String,
    /// Its fitted value.
    pub value: f64,
    /// The bootstrap interval, or the value itself without a bootstrap.
    pub lo: f64,
    /// The upper end of its interval.
    pub hi: f64,
}

/// Errors of the law's predictions: the mean absolute error of L, and the root mean square of
/// the log residuals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Errors {
    /// The number of points.
    pub points: usize,
    /// The mean absolute error of L.
    pub mae: f64,
    /// The root mean squared error of log L.
    pub rmse_log: f64,
}

/// One point of a fit with the law's prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// The trial's name or the CSV row.
    pub label: String,
    /// The trial's id, or the CSV row's label.
    pub id: String,
    /// The observed L.
    #[serde(rename = "L")]
    pub observed: f64,
    /// The law's L.
    pub predicted: f64,
    /// Whether the point was held out of the fit.
    pub held_out: bool,
    /// The point's sparsity where it has one (trials), for plots.
    #[serde(rename = "S", skip_serializing_if = "Option::is_none")]
    pub sparsity: Option<f64>,
}

fn params_map<S: serde::Serializer>(params: &[ParamFit], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(params.len()))?;
    for p in params {
        map.serialize_entry(&p.name, &serde_json::json!({ "value": p.value, "lo": p.lo, "hi": p.hi }))?;
    }
    map.end()
}

/// The central share of bootstrap estimates in a reported interval.
pub const INTERVAL: f64 = 0.95;

/// Runs every fit of a planned file on its data: CSV files are read through `access`, trial results
/// are read from `store`. Diagnostics (with their files) go to `diags`.
pub fn run_fits(fits: &[FitSpec], plan: &Plan, store: &Store, access: &Access, diags: &mut Vec<Diag>) -> Vec<Fitted> {
    fits.iter()
        .filter_map(|spec| {
            let points = data::load(spec, plan, store, access, diags)?;
            let predicted = match spec.predict.is_empty() {
                true => Vec::new(),
                false => predict_points(spec, &points, plan, store, access, diags)?,
            };
            mixed_platforms(spec, points.iter().chain(&predicted), diags);
            let mut fitted = fit(spec, &points).map_err(|diag| diags.push(diag)).ok()?;
            if !predicted.is_empty() {
                fitted.predict = Some(predict(spec, &fitted, &predicted).map_err(|diag| diags.push(diag)).ok()?);
            }
            Some(fitted)
        })
        .collect()
}

/// Warns (W0008) when the trials among `points` trained on more than one backend.
fn mixed_platforms<'p>(spec: &FitSpec, points: impl Iterator<Item = &'p Point>, diags: &mut Vec<Diag>) {
    let counts = crate::store::platforms(points.filter_map(|p| p.platform.clone()));
    if counts.len() < 2 {
        return;
    }
    let list: Vec<String> = counts.iter().map(|(platform, n)| format!("{n} on {platform}")).collect();
    diags.push(Diag::new(
        spec.at.file,
        FitError::MixedBackends { fit: spec.name.clone(), list: list.join(", "), span: spec.at.span.into() },
    ));
}

/// Fits `spec` to `points`.
pub fn fit(spec: &FitSpec, points: &[Point]) -> Result<Fitted, Diag> {
    let law = &spec.compiled;
    let params = &law.params;
    // The law's variables and L at every point.
    let mut rows = Vec::with_capacity(points.len());
    let mut losses = Vec::with_capacity(points.len());
    for point in points {
        let row = law_row(spec, law, point)?;
        let loss = observed_loss(spec, &spec.sources, point)?;
        rows.push(row);
        losses.push(loss);
    }
    let held = held_out(spec, points);
    let fit_rows: Vec<usize> = (0..points.len()).filter(|i| !held.contains(i)).collect();
    if fit_rows.len() <= params.len() {
        let help = if held.is_empty() {
            "add data, or fit a law with fewer parameters".to_string()
        } else {
            format!("{} points are held out; hold out fewer, or add data", held.len())
        };
        return Err(Diag::new(
            spec.at.file,
            FitError::TooFewPoints {
                fit: spec.name.clone(),
                points: fit_rows.len(),
                params: params.len(),
                span: spec.at.span.into(),
                help,
            },
        ));
    }
    let sub_rows: Vec<Vec<f64>> = fit_rows.iter().map(|&i| rows[i].clone()).collect();
    let sub_log: Vec<f64> = fit_rows.iter().map(|&i| losses[i].ln()).collect();
    let cols: Vec<Vec<f64>> = (0..law.vars.len()).map(|k| sub_rows.iter().map(|r| r[k]).collect()).collect();
    let logs: Vec<Vec<f64>> = cols.iter().map(|c| c.iter().map(|x| x.ln()).collect()).collect();
    let objective = Objective { law, cols: &cols, logs: &logs, log_loss: &sub_log, weights: None, loss: spec.loss };
    let starts = grid(spec);
    let best = best_of(&objective, &starts).ok_or_else(|| {
        Diag::new(spec.at.file, FitError::NoFiniteStart { fit: spec.name.clone(), span: spec.at.span.into() })
    })?;
    let values = law.natural(&best.0);
    let intervals = bootstrap(spec, &objective, &best.0);
    let mut scratch = Vec::new();
    let predictions: Vec<Prediction> = points
        .iter()
        .enumerate()
        .map(|(i, p)| Prediction {
            label: p.label.clone(),
            id: p.id.clone(),
            observed: losses[i],
            predicted: law.eval(&rows[i], &values, &mut scratch),
            held_out: held.contains(&i),
            sparsity: p.observable(Observable::S),
        })
        .collect();
    let pairs =
        |held_out: bool| predictions.iter().filter(move |p| p.held_out == held_out).map(|p| (p.observed, p.predicted));
    let in_sample = errors(pairs(false));
    let holdout = (!held.is_empty()).then(|| errors(pairs(true)));
    let largest_c = points.iter().filter_map(compute).fold(0.0, f64::max);
    let compute_optimal = if largest_c > 0.0 {
        [1.0, 10.0, 100.0].iter().filter_map(|k| optimal::optimum(&spec.law, law, &values, k * largest_c)).collect()
    } else {
        Vec::new()
    };
    Ok(Fitted {
        name: spec.name.clone(),
        law: spec.law_text.clone(),
        points: fit_rows.len(),
        objective: best.1,
        params: params
            .iter()
            .zip(&values)
            .zip(intervals)
            .map(|(((name, _), &value), interval)| {
                let (lo, hi) = interval.unwrap_or((value, value));
                ParamFit { name: name.clone(), value, lo, hi }
            })
            .collect(),
        in_sample,
        holdout,
        loss: match spec.loss {
            Loss::Huber(delta) => format!("huber({delta})"),
            Loss::Mse => "mse".into(),
        },
        starts: starts.len(),
        bootstrap: spec.bootstrap,
        interval: INTERVAL,
        compute_optimal,
        predictions,
        predict: None,
    })
}

/// A diagnostic for a law that cannot be evaluated at `point`.
fn evaluation(spec: &FitSpec, point: &str, error: String) -> Diag {
    Diag::new(
        spec.law_at.file,
        FitError::Evaluation { what: "the law".into(), point: point.into(), error, span: spec.law_at.span.into() },
    )
}

/// The values of the law's variables at a point.
fn law_row(spec: &FitSpec, law: &Law, point: &Point) -> Result<Vec<f64>, Diag> {
    law.vars
        .iter()
        .map(|v| point.variable(v).ok_or_else(|| format!("`{v}` is not a number here")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| evaluation(spec, &point.label, error))
}

/// A point's L, which must be positive and finite: a law is fitted to its logarithm. `sources`
/// (the fit's `on` or `predict`) are pointed at when it is not.
fn observed_loss(spec: &FitSpec, sources: &[FitSource], point: &Point) -> Result<f64, Diag> {
    let loss = point.observable(Observable::L).unwrap_or(f64::NAN);
    if loss > 0.0 && loss.is_finite() {
        return Ok(loss);
    }
    let at = sources.first().map_or(spec.at, |s| s.at());
    Err(Diag::new(at.file, FitError::NonPositiveLoss { point: point.label.clone(), value: loss, span: at.span.into() }))
}

/// Evaluates the law of `fitted` (fitted from `spec`) on `points` it was not fitted to, and when
/// the law uses exactly one of [`Observable::COUNTS`], with each count in its place.
pub fn predict(spec: &FitSpec, fitted: &Fitted, points: &[Point]) -> Result<Predicted, Diag> {
    let values: Vec<f64> = fitted.params.iter().map(|p| p.value).collect();
    // The law at every point.
    let evaluate = |law: &Law| -> Result<Vec<f64>, Diag> {
        let mut scratch = Vec::new();
        points.iter().map(|point| Ok(law.eval(&law_row(spec, law, point)?, &values, &mut scratch))).collect()
    };
    let observed =
        points.iter().map(|point| observed_loss(spec, &spec.predict, point)).collect::<Result<Vec<_>, _>>()?;
    let errors_of = |predicted: &[f64]| errors(observed.iter().copied().zip(predicted.iter().copied()));
    let bias = |pairs: &[(f64, f64)]| pairs.iter().map(|(o, p)| p - o).sum::<f64>() / pairs.len().max(1) as f64;
    // Each point's final sparsity to the nearest percent, in hundredths.
    let sparsity: Vec<Option<i64>> =
        points.iter().map(|p| p.observable(Observable::S).map(|s| (s * 100.0).round() as i64)).collect();
    let mut levels: Vec<i64> = sparsity.iter().flatten().copied().collect();
    levels.sort_unstable();
    levels.dedup();
    let count_errors = |count: &str, written: bool, predicted: &[f64]| {
        let pairs: Vec<(f64, f64)> = observed.iter().copied().zip(predicted.iter().copied()).collect();
        let by_sparsity = levels
            .iter()
            .map(|&level| {
                let at: Vec<(f64, f64)> =
                    pairs.iter().zip(&sparsity).filter(|(_, s)| **s == Some(level)).map(|(p, _)| *p).collect();
                SparsityErrors { sparsity: level as f64 / 100.0, errors: errors(at.iter().copied()), bias: bias(&at) }
            })
            .collect();
        CountErrors {
            count: count.to_string(),
            written,
            errors: errors(pairs.iter().copied()),
            bias: bias(&pairs),
            by_sparsity,
        }
    };
    let predicted = evaluate(&spec.compiled)?;
    let used: Vec<Observable> =
        Observable::COUNTS.into_iter().filter(|&c| spec.compiled.vars.iter().any(|v| v.is(c))).collect();
    let (mut counts, mut counts_missing) = (Vec::new(), Vec::new());
    if let [written] = used[..] {
        for count in Observable::COUNTS {
            if !points.iter().all(|point| point.observable(count).is_some()) {
                counts_missing.push(count.name().to_string());
                continue;
            }
            let law = compare::with_count(spec, written, count)?;
            counts.push(count_errors(count.name(), count == written, &evaluate(&law)?));
        }
    }
    Ok(Predicted {
        errors: errors_of(&predicted),
        rows: points
            .iter()
            .zip(&observed)
            .zip(&predicted)
            .map(|((point, &observed), &predicted)| PredictedRow {
                id: point.id.clone(),
                label: point.label.clone(),
                observed,
                predicted,
                sparsity: point.observable(Observable::S),
            })
            .collect(),
        counts,
        counts_missing,
    })
}

/// The points of `spec.predict`, each checked not to be among the fitted `points`; `None` after
/// an error (in `diags`).
fn predict_points(
    spec: &FitSpec,
    points: &[Point],
    plan: &Plan,
    store: &Store,
    access: &Access,
    diags: &mut Vec<Diag>,
) -> Option<Vec<Point>> {
    let warnings_before = diags.len();
    let predicted = data::load_sources(spec, &spec.predict, plan, store, access, diags)?;
    let at = spec.predict.first().map_or(spec.at, |s| s.at());
    if let Some(both) = predicted.iter().find(|p| points.iter().any(|q| q.id == p.id)) {
        diags.push(Diag::new(
            at.file,
            FitError::PredictedAndFitted { fit: spec.name.clone(), point: both.label.clone(), span: at.span.into() },
        ));
        return None;
    }
    // No point at all is a mistake unless the trials have not been trained yet (warned above).
    if predicted.is_empty() && diags.len() == warnings_before {
        diags.push(Diag::new(at.file, FitError::NothingToPredict { fit: spec.name.clone(), span: at.span.into() }));
        return None;
    }
    Some(predicted)
}

/// A point's training compute: `C`, or 6 N D.
fn compute(point: &Point) -> Option<f64> {
    point
        .observable(Observable::C)
        .or_else(|| Some(training_flops(point.observable(Observable::N)?, point.observable(Observable::D)?)))
}

/// Every combination of the parameters' starts, first parameter slowest.
pub fn grid(spec: &FitSpec) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = vec![Vec::new()];
    for param in &spec.params {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                param.starts.iter().map(move |s| {
                    let mut next = prefix.clone();
                    next.push(*s);
                    next
                })
            })
            .collect();
    }
    out
}

/// Ends of the grid search polished to full precision.
const POLISHED: usize = 8;

/// L-BFGS from every start in parallel, stopping as scipy does; then the [`POLISHED`] best ends
/// are polished until the objective stops changing, and the lowest wins (the earliest start on
/// ties, so the result does not depend on the number of threads).
pub fn best_of(objective: &Objective, starts: &[Vec<f64>]) -> Option<(Vec<f64>, f64)> {
    let by_value =
        |a: &(usize, (Vec<f64>, f64)), b: &(usize, (Vec<f64>, f64))| a.1 .1.total_cmp(&b.1 .1).then(a.0.cmp(&b.0));
    let mut ends: Vec<(usize, (Vec<f64>, f64))> = starts
        .par_iter()
        .map(|start| minimize(objective, start, Stop::SEARCH))
        .collect::<Vec<_>>()
        .into_iter()
        .enumerate()
        .filter_map(|(i, end)| end.map(|e| (i, e)))
        .collect();
    ends.sort_by(by_value);
    ends.truncate(POLISHED);
    ends.par_iter()
        .map(|(i, (theta, value))| {
            let polished = minimize(objective, theta, Stop::POLISH).filter(|p| p.1 <= *value);
            (*i, polished.unwrap_or_else(|| (theta.clone(), *value)))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .min_by(by_value)
        .map(|(_, end)| end)
}

/// The indices of the held-out points: the `count` with the largest (or smallest) value of the
/// holdout's observable; the earlier point first on ties.
fn held_out(spec: &FitSpec, points: &[Point]) -> Vec<usize> {
    let Some(holdout) = &spec.holdout else { return Vec::new() };
    let mut order: Vec<(f64, usize)> =
        points.iter().enumerate().map(|(i, p)| (p.observable(holdout.observable).unwrap_or(f64::NAN), i)).collect();
    order.sort_by(|a, b| {
        let by_value = if holdout.largest { b.0.total_cmp(&a.0) } else { a.0.total_cmp(&b.0) };
        by_value.then(a.1.cmp(&b.1))
    });
    let mut held: Vec<usize> = order.iter().take(holdout.count as usize).map(|(_, i)| *i).collect();
    held.sort_unstable();
    held
}

/// Percentile intervals from `spec.bootstrap` resamples of the points (with replacement, seeded by
/// `spec.seed`), each refitted by L-BFGS from the full fit's optimum.
fn bootstrap(spec: &FitSpec, objective: &Objective, best: &[f64]) -> Vec<Option<(f64, f64)>> {
    let n = objective.points();
    if spec.bootstrap == 0 {
        return vec![None; best.len()];
    }
    let estimates: Vec<Vec<f64>> = (0..spec.bootstrap)
        .into_par_iter()
        .filter_map(|k| {
            let mut weights = vec![0.0; n];
            for i in 0..n as u64 {
                weights[(mix(mix(spec.seed, k), i) % n as u64) as usize] += 1.0;
            }
            let resample = Objective { weights: Some(&weights), ..*objective };
            minimize(&resample, best, Stop::POLISH).map(|(theta, _)| objective.law.natural(&theta))
        })
        .collect();
    (0..best.len())
        .map(|j| {
            let mut values: Vec<f64> = estimates.iter().map(|e| e[j]).filter(|v| v.is_finite()).collect();
            if values.is_empty() {
                return None;
            }
            values.sort_by(f64::total_cmp);
            let tail = (1.0 - INTERVAL) / 2.0;
            Some((quantile(&values, tail), quantile(&values, 1.0 - tail)))
        })
        .collect()
}

/// The `q` quantile of sorted values, linearly interpolated (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (position - lo as f64)
}

/// The errors of `(observed, predicted)` pairs.
fn errors(pairs: impl Iterator<Item = (f64, f64)>) -> Errors {
    let (mut count, mut abs, mut sq) = (0usize, 0.0, 0.0);
    for (observed, predicted) in pairs {
        count += 1;
        abs += (predicted - observed).abs();
        sq += (predicted.ln() - observed.ln()).powi(2);
    }
    let n = count.max(1) as f64;
    Errors { points: count, mae: abs / n, rmse_log: (sq / n).sqrt() }
}

/// One fit of a file, run on its data and written: what `sprs fit` and the end of `sprs run`
/// show, in this order.
#[derive(Debug)]
pub struct Outcome {
    /// The fit's name.
    pub name: String,
    /// Warnings (W0006, W0008) and, when no fit was made, why.
    pub diagnostics: Vec<Diag>,
    /// The fitted law, if the fit could be made.
    pub fitted: Option<Fitted>,
    /// `fits/<name>.json` and `.svg`, or why they could not be written; `None` without a fit.
    pub written: Option<Result<(std::path::PathBuf, std::path::PathBuf), String>>,
}

impl Outcome {
    /// No fit, or one that could not be written.
    pub fn failed(&self) -> bool {
        self.fitted.is_none() || matches!(self.written, Some(Err(_)))
    }
}

/// Runs each fit of `specs` on its data (see [`run_fits`]) and writes it to the results folder.
pub fn fit_and_write(specs: &[FitSpec], plan: &Plan, store: &Store, access: &Access) -> Vec<Outcome> {
    specs
        .iter()
        .map(|spec| {
            let mut diagnostics = Vec::new();
            let fitted = run_fits(std::slice::from_ref(spec), plan, store, access, &mut diagnostics).pop();
            let written = fitted.as_ref().map(|fitted| write(fitted, store));
            Outcome { name: spec.name.clone(), diagnostics, fitted, written }
        })
        .collect()
}

/// Writes `fits/<name>.json` (atomically) and the plot `fits/<name>.svg` in the results folder;
/// returns both paths.
pub fn write(fitted: &Fitted, store: &Store) -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    let dir = store.folder("fits").map_err(|e| format!("cannot create `{}`: {e}", store.fits_dir().display()))?;
    let json = dir.join(format!("{}.json", fitted.name));
    let mut bytes = serde_json::to_vec_pretty(fitted).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    crate::fs::write_atomic(&json, &bytes).map_err(|e| format!("cannot write `{}`: {e}", json.display()))?;
    let svg = dir.join(format!("{}.svg", fitted.name));
    plot::observed_vs_predicted(fitted, &svg)?;
    Ok((json, svg))
}
