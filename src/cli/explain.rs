//! `sprs explain NAME`

use std::path::PathBuf;

use super::{CliError, Project};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// An item name: `journey`, `std::schedules::journey`, or an item of `--file`.
    name: String,
    /// Look for the item in this file first.
    #[arg(long)]
    file: Option<PathBuf>,
    #[command(flatten)]
    project: Project,
}

impl Args {
    /// Explains the name, looking first in the file (checked with its options).
    pub fn run(self) -> Result<(), CliError> {
        let options = self.file.as_deref().map(|f| self.project.options(f, &[])).transpose()?;
        let explanation =
            sprs::check::explain(&self.name, self.file.as_deref().zip(options.as_ref())).map_err(CliError::Usage)?;
        // The text comes from a file (its docs, its strings): escaped for the terminal.
        println!("// {}", sprs::escape::controls(&explanation.home));
        print!("{}", sprs::escape::controls(&explanation.text));
        Ok(())
    }
}
