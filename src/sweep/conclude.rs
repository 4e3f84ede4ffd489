//! The end of a sweep: `results.csv` from the trial folders and, once every trial of the file
//! has a result, the file's fits, the comparison of parameter counts, and `report.md`. The
//! process that finishes last writes them; a shard, `--only`, or a trial another process is still
//! running leaves them to it (or to `sprs fit`).

use std::io;
use std::path::PathBuf;

use crate::access::Access;
use crate::check::FitSpec;
use crate::diagnostic::Diag;
use crate::fit::{self, compare::compare};
use crate::plan::Plan;
use crate::store::{rebuild_results, Row, Store};

/// What the end of a sweep wrote.
#[derive(Debug)]
pub struct Conclusion {
    /// `results.csv` and its rows, or why it could not be written.
    pub results: io::Result<(PathBuf, Vec<Row>)>,
    /// Trials of the file with no result yet: while there are any, no fit or report is made.
    pub missing: usize,
    /// Each fit of the file, in order.
    pub fits: Vec<fit::Outcome>,
    /// Diagnostics of the comparisons of parameter counts.
    pub diagnostics: Vec<Diag>,
    /// `report.md`, or why it could not be written; `None` while trials are missing.
    pub report: Option<io::Result<PathBuf>>,
}

impl Conclusion {
    /// Whether something that should have been written was not.
    pub fn failed(&self) -> bool {
        self.results.is_err() || self.fits.iter().any(fit::Outcome::failed) || matches!(self.report, Some(Err(_)))
    }
}

/// Rebuilds `results.csv` and, if every trial of `plan` has a result, makes `fits` and the report.
pub fn conclude(plan: &Plan, fits: &[FitSpec], store: &Store, access: &Access) -> Conclusion {
    let order: Vec<&str> = plan.trials.iter().map(|t| t.id.as_str()).collect();
    let results = rebuild_results(store, &order);
    let missing = match &results {
        Ok((_, rows)) => {
            let on_disk: std::collections::HashSet<&str> = rows.iter().map(|r| r.result.id.as_str()).collect();
            plan.trials.iter().filter(|t| !on_disk.contains(t.id.as_str())).count()
        }
        Err(_) => plan.trials.len(),
    };
    let mut conclusion = Conclusion { results, missing, fits: Vec::new(), diagnostics: Vec::new(), report: None };
    let Ok((_, rows)) = &conclusion.results else { return conclusion };
    if missing > 0 {
        return conclusion;
    }
    conclusion.fits = fit::fit_and_write(fits, plan, store, access);
    let fitted: Vec<fit::Fitted> = conclusion.fits.iter().filter_map(|o| o.fitted.clone()).collect();
    let comparisons = compare(fits, &fitted, plan, store, access, &mut conclusion.diagnostics);
    conclusion.report = Some(crate::report::write(store, plan, rows, &fitted, &comparisons));
    conclusion
}
