//! `sprs fit FILE`: the library fits the file's laws to results on disk or CSV data and writes
//! `fits/<name>.json` and `fits/<name>.svg` ([`sprs::fit::fit_and_write`]); this prints each
//! fit's table (or `--format json`).

use sprs::diagnostic::{Format, Renderer};
use sprs::fit::Fitted;

use super::{CliError, Results};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    results: Results,
    /// Only the fit of this name.
    #[arg(long)]
    only: Option<String>,
    /// A table per fit (`human`), a line per fit (`short`) or `{"fits": [...]}` (`json`).
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
}

impl Args {
    pub fn run(self, color: bool) -> Result<(), CliError> {
        let path = &self.results.study.file;
        let output = sprs::plan::plan_file_with(path, &self.results.study.options()?)
            .map_err(|error| CliError::Usage(format!("cannot read `{}`: {error}", path.display())))?;
        let renderer = Renderer { sources: &output.sources, color, width: 100 };
        // In `json`, every diagnostic goes into the one object printed at the end.
        let mut diagnostics = Vec::new();
        let mut print = |diags: &[sprs::diagnostic::Diag]| {
            diagnostics.extend(super::print_diagnostics(&renderer, diags, self.format));
        };
        print(&output.diagnostics);
        let (Some(checked), Some(plan)) = (&output.checked, &output.plan) else {
            if self.format == Format::Json {
                println!("{}", serde_json::json!({ "diagnostics": diagnostics }));
            }
            return Err(CliError::Reported);
        };
        let specs: Vec<_> =
            checked.fits.iter().filter(|f| self.only.as_ref().is_none_or(|only| f.name == *only)).cloned().collect();
        if specs.is_empty() {
            return Err(CliError::Usage(match &self.only {
                Some(only) => format!("`{}` has no fit named `{only}`", path.display()),
                None => format!("`{}` has no fits", path.display()),
            }));
        }
        let store = self.results.store()?;
        let outcomes = sprs::fit::fit_and_write(&specs, plan, &store, &output.access);
        for outcome in &outcomes {
            print(&outcome.diagnostics);
            match (self.format, &outcome.fitted) {
                (Format::Human, Some(fitted)) => print!("{}", sprs::fit::table::table(fitted)),
                // One line per fit, as `sprs run` ends with.
                (Format::Short, Some(fitted)) => println!("{}", sprs::fit::table::summary(fitted)),
                _ => {}
            }
            match &outcome.written {
                Some(Ok((json, svg))) if self.format == Format::Human => {
                    println!("  wrote {} and {}\n", sprs::escape::path(json), sprs::escape::path(svg))
                }
                Some(Err(error)) => eprintln!("error: {}", sprs::escape::controls(&error.to_string())),
                _ => {}
            }
        }
        if self.format == Format::Json {
            let fits: Vec<&Fitted> = outcomes.iter().filter_map(|o| o.fitted.as_ref()).collect();
            println!("{}", serde_json::json!({ "fits": fits, "diagnostics": diagnostics }));
        }
        if outcomes.iter().any(sprs::fit::Outcome::failed) {
            Err(CliError::Reported)
        } else {
            Ok(())
        }
    }
}
