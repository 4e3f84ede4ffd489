//! `sprs explain NAME`

use std::path::Path;
use std::process::ExitCode;

pub fn run(name: &str, file: Option<&Path>, options: Option<&sprs::check::Options>) -> ExitCode {
    match sprs::check::explain(name, file.zip(options)) {
        Ok(explanation) => {
            println!("// {}", explanation.home);
            print!("{}", explanation.text);
            ExitCode::SUCCESS
        }
        Err(message) => super::usage_error(&message),
    }
}
