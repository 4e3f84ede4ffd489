//! `sprs check FILE...`

use std::path::PathBuf;
use std::process::ExitCode;

use sprs::diagnostic::{Format, Renderer};
use sprs::plan::plan_file_with;

use super::plural;

pub fn run(files: &[PathBuf], project: &super::Project, format: Format, color: bool) -> ExitCode {
    let mut errors = 0;
    let mut warnings = 0;
    let mut json = Vec::new();
    for path in files {
        // Checking includes planning: budgets and schedules are validated on the step grid.
        let options = match project.options(path, &[]) {
            Ok(options) => options,
            Err(code) => return code,
        };
        let output = match plan_file_with(path, &options) {
            Ok(output) => output,
            Err(error) => return super::usage_error(&format!("cannot read `{}`: {error}", path.display())),
        };
        let renderer = Renderer { sources: &output.sources, color, width: 100 };
        for diag in &output.diagnostics {
            if diag.is_error() {
                errors += 1;
            } else {
                warnings += 1;
            }
            match format {
                Format::Human => eprintln!("{}", renderer.human(diag)),
                Format::Short => eprintln!("{}", renderer.short(diag)),
                Format::Json => json.push(renderer.json(diag)),
            }
        }
        if let (Format::Human, Some(checked), Some(_)) = (format, &output.checked, &output.plan) {
            let (trials, fits) = (checked.trials.len(), checked.fits.len());
            eprintln!("{}: ok, {trials} trial{}, {fits} fit{}", sprs::escape::path(path), plural(trials), plural(fits));
        }
    }
    match format {
        Format::Json => println!("{}", serde_json::json!({ "diagnostics": json })),
        Format::Human if errors + warnings > 0 => {
            eprintln!("{errors} error{}, {warnings} warning{}", plural(errors), plural(warnings));
        }
        _ => {}
    }
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
