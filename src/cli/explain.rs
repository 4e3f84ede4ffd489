//! `sprs explain NAME`

use std::path::Path;
use std::process::ExitCode;

/// Explains `name`, looking first in `file` (checked with its options).
pub fn run(name: &str, file: Option<(&Path, &sprs::check::Options)>) -> ExitCode {
    match sprs::check::explain(name, file) {
        Ok(explanation) => {
            // The text comes from a file (its docs, its strings): escaped for the terminal.
            println!("// {}", sprs::escape::controls(&explanation.home));
            print!("{}", sprs::escape::controls(&explanation.text));
            ExitCode::SUCCESS
        }
        Err(message) => super::usage_error(&message),
    }
}
