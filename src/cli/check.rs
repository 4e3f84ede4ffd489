//! `sprs check FILE...`

use std::path::PathBuf;

use sprs::diagnostic::{Format, Renderer};
use sprs::plan::plan_file_with;

use super::{plural, CliError, Project};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `.sprs` files to check.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    #[command(flatten)]
    project: Project,
}

impl Args {
    pub fn run(self, color: bool) -> Result<(), CliError> {
        let (mut errors, mut warnings) = (0, 0);
        let mut json = Vec::new();
        for path in &self.files {
            // Checking includes planning: budgets and schedules are validated on the step grid.
            let options = self.project.options(path, &[])?;
            let output = plan_file_with(path, &options)
                .map_err(|error| CliError::Usage(format!("cannot read `{}`: {error}", path.display())))?;
            let renderer = Renderer { sources: &output.sources, color, width: 100 };
            for diag in &output.diagnostics {
                if diag.is_error() {
                    errors += 1;
                } else {
                    warnings += 1;
                }
                match self.format {
                    Format::Human => eprintln!("{}", renderer.human(diag)),
                    Format::Short => eprintln!("{}", renderer.short(diag)),
                    Format::Json => json.push(renderer.json(diag)),
                }
            }
            if let (Format::Human, Some(checked), Some(_)) = (self.format, &output.checked, &output.plan) {
                let (trials, fits) = (checked.trials.len(), checked.fits.len());
                eprintln!(
                    "{}: ok, {trials} trial{}, {fits} fit{}",
                    sprs::escape::path(path),
                    plural(trials),
                    plural(fits)
                );
            }
        }
        match self.format {
            Format::Json => println!("{}", serde_json::json!({ "diagnostics": json })),
            Format::Human if errors + warnings > 0 => {
                eprintln!("{errors} error{}, {warnings} warning{}", plural(errors), plural(warnings));
            }
            _ => {}
        }
        if errors > 0 {
            Err(CliError::Reported)
        } else {
            Ok(())
        }
    }
}
