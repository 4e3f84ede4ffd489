//! `sprs fit FILE`: the library fits the file's laws to results on disk or CSV data and writes
//! `fits/<name>.json` and `fits/<name>.svg` ([`sprs::fit::fit_and_write`]); this prints each
//! fit's table (or `--format json`).

use std::path::Path;
use std::process::ExitCode;

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
    let outcomes = sprs::fit::fit_and_write(&specs, plan, &store, &output.access);
    for outcome in &outcomes {
        print(&outcome.diagnostics);
        if let (Format::Human, Some(fitted)) = (options.format, &outcome.fitted) {
            print!("{}", sprs::fit::table::table(fitted));
        }
        match &outcome.written {
            Some(Ok((json, svg))) if options.format == Format::Human => {
                println!("  wrote {} and {}\n", sprs::escape::path(json), sprs::escape::path(svg))
            }
            Some(Err(error)) => eprintln!("error: {}", sprs::escape::controls(&error.to_string())),
            _ => {}
        }
    }
    if options.format == Format::Json {
        let fits: Vec<&Fitted> = outcomes.iter().filter_map(|o| o.fitted.as_ref()).collect();
        println!("{}", serde_json::json!({ "fits": fits }));
    }
    if outcomes.iter().any(sprs::fit::Outcome::failed) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
