//! `sprs explain NAME`

use std::path::Path;
use std::process::ExitCode;

pub fn run(name: &str, file: Option<&Path>) -> ExitCode {
    match sprs::check::explain(name, file) {
        Ok(explanation) => {
            println!("// {}", explanation.home);
            print!("{}", explanation.text);
            ExitCode::SUCCESS
        }
        Err(message) => super::usage_error(&message),
    }
}
