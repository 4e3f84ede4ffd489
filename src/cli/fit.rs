//! `sprs fit FILE`: fits the file's laws to results on disk or CSV data, prints the table (or
//! `--format json`), and writes `fits/<name>.json` and `fits/<name>.svg` in the results folder.

use std::path::Path;
use std::process::ExitCode;

use sprs::access::Access;
use sprs::diagnostic::{Format, Renderer};
use sprs::fit::Fitted;
use sprs::store::Store;

pub struct Options<'a> {
    pub out: Option<&'a Path>,
    /// How the file is checked (`--set`, `--root`, `--allow-read`, limits).
    pub check: &'a sprs::check::Options,
    pub only: Option<&'a str>,
    pub format: Format,
}

pub fn run(path: &Path, options: Options, color: bool) -> ExitCode {
    let output = match sprs::plan::plan_file_with(path, options.check) {
        Ok(output) => output,
        Err(error) => return super::usage_error(&format!("cannot read `{}`: {error}", path.display())),
    };
    let renderer = Renderer { sources: &output.sources, color, width: 100 };
    let print = |diags: &[sprs::diagnostic::Diag]| {
        for diag in diags {
            match options.format {
                Format::Human => eprintln!("{}", renderer.human(diag)),
                Format::Short | Format::Json => eprintln!("{}", renderer.short(diag)),
            }
        }
    };
    print(&output.diagnostics);
    let (Some(checked), Some(plan)) = (&output.checked, &output.plan) else { return ExitCode::FAILURE };
    let specs: Vec<_> =
        checked.fits.iter().filter(|f| options.only.is_none_or(|only| f.name == only)).cloned().collect();
    if specs.is_empty() {
        return match options.only {
            Some(only) => super::usage_error(&format!("`{}` has no fit named `{only}`", path.display())),
            None => super::usage_error(&format!("`{}` has no fits", path.display())),
        };
    }
    let store = match Store::new(options.out, path) {
        Ok(store) => store,
        Err(error) => return super::usage_error(&error.to_string()),
    };
    let (fitted, unwritten) =
        fit_and_write(&specs, plan, &store, &output.access, options.format == Format::Human, &print);
    let failed = specs.len() - fitted.len() + unwritten;
    if options.format == Format::Json {
        println!("{}", serde_json::json!({ "fits": fitted }));
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs the fits, writes their JSON and plots, and prints each table when `tables`. Shared with
/// `sprs run`, which fits after training. Returns the fits made and how many of them could not
/// be written.
pub fn fit_and_write(
    specs: &[sprs::check::FitSpec],
    plan: &sprs::plan::Plan,
    store: &Store,
    access: &Access,
    tables: bool,
    print: &dyn Fn(&[sprs::diagnostic::Diag]),
) -> (Vec<Fitted>, usize) {
    let mut out = Vec::new();
    let mut unwritten = 0;
    for spec in specs {
        let mut diags = Vec::new();
        let fitted = sprs::fit::run_fits(std::slice::from_ref(spec), plan, store, access, &mut diags);
        print(&diags);
        for fitted in fitted {
            let written = sprs::fit::write(&fitted, store);
            unwritten += usize::from(written.is_err());
            if tables {
                print!("{}", table(&fitted));
                match &written {
                    Ok((json, svg)) => println!("  wrote {} and {}\n", json.display(), svg.display()),
                    Err(error) => eprintln!("error: {error}"),
                }
            } else if let Err(error) = &written {
                eprintln!("error: {error}");
            }
            out.push(fitted);
        }
    }
    (out, unwritten)
}

/// The N_avg fits of `specs` against the same laws over N and N_final, for the report.
pub fn comparisons(
    specs: &[sprs::check::FitSpec],
    fitted: &[Fitted],
    plan: &sprs::plan::Plan,
    store: &Store,
    access: &Access,
    print: &dyn Fn(&[sprs::diagnostic::Diag]),
) -> Vec<sprs::fit::compare::Comparison> {
    let mut diags = Vec::new();
    let comparisons = sprs::fit::compare::compare(specs, fitted, plan, store, access, &mut diags);
    print(&diags);
    comparisons
}

/// A fit in one line: its parameters and errors.
pub fn summary(fitted: &Fitted) -> String {
    let params: Vec<String> = fitted.params.iter().map(|p| format!("{} {}", p.name, num(p.value))).collect();
    let mut line = format!("fit {}: {}; in-sample MAE {:.4}", fitted.name, params.join(", "), fitted.in_sample.mae);
    if let Some(holdout) = &fitted.holdout {
        line.push_str(&format!(", held-out MAE {:.4}", holdout.mae));
    }
    line
}

/// A fit as text: its parameters with their intervals, its errors and the compute-optimal
/// allocation.
pub fn table(fitted: &Fitted) -> String {
    let mut out = format!("fit {}: L = {}\n", fitted.name, fitted.law);
    out.push_str(&format!(
        "  {} points, best of {} L-BFGS starts, objective {:.7} ({})\n",
        fitted.points, fitted.starts, fitted.objective, fitted.loss
    ));
    let interval = if fitted.bootstrap > 0 {
        format!("{:.0}% interval ({} resamples)", fitted.interval * 100.0, fitted.bootstrap)
    } else {
        "interval (no bootstrap)".to_string()
    };
    let width = fitted.params.iter().map(|p| p.name.len()).max().unwrap_or(0).max(5);
    out.push_str(&format!("  {:<width$}  {:>12}  {interval}\n", "param", "value"));
    for p in &fitted.params {
        out.push_str(&format!("  {:<width$}  {:>12}  [{}, {}]\n", p.name, num(p.value), num(p.lo), num(p.hi)));
    }
    let errors = |e: &sprs::fit::Errors| format!("MAE {:.4}, RMSE of log L {:.4}", e.mae, e.rmse_log);
    out.push_str(&format!("  in sample ({} points): {}\n", fitted.in_sample.points, errors(&fitted.in_sample)));
    if let Some(holdout) = &fitted.holdout {
        out.push_str(&format!("  held out ({} points): {}\n", holdout.points, errors(holdout)));
    }
    for o in &fitted.compute_optimal {
        out.push_str(&format!(
            "  compute-optimal at C = {:.2e}: N = {}, D = {} ({:.1} tokens/param), L = {:.4} ({})\n",
            o.c,
            sprs::plan::si(o.n),
            sprs::plan::si(o.d),
            o.d / o.n,
            o.l,
            o.method
        ));
    }
    out
}

use sprs::report::num;
