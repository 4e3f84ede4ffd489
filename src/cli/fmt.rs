//! `sprs fmt FILE... [--check] [--stdin]`

use std::io::Read;
use std::path::{Path, PathBuf};

use sprs::diagnostic::{Diag, Renderer};
use sprs::fmt::Unformatted;
use sprs::syntax::{sprs_files, Origin, SourceMap};

use super::{plural, CliError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `.sprs` files or folders to format.
    #[arg(required_unless_present = "stdin")]
    paths: Vec<PathBuf>,
    /// Change nothing; list the files that are not formatted, with what would change, and
    /// exit 1 if there are any.
    #[arg(long)]
    check: bool,
    /// Format standard input to standard output.
    #[arg(long, conflicts_with = "paths")]
    stdin: bool,
}

impl Args {
    pub fn run(self, color: bool) -> Result<(), CliError> {
        if self.stdin {
            return stdin(color);
        }
        let files = files(&self.paths)?;
        let (mut failed, mut changed) = (false, 0);
        for path in &files {
            let text = match read(path) {
                Ok(text) => text,
                Err(message) => {
                    eprintln!("error: {}", sprs::escape::controls(&message));
                    failed = true;
                    continue;
                }
            };
            let Some(formatted) = format(path, &text, color) else {
                failed = true;
                continue;
            };
            if formatted == text {
                continue;
            }
            changed += 1;
            if self.check {
                println!(
                    "{}: not formatted\n{}",
                    sprs::escape::path(path),
                    sprs::escape::controls(&sprs::fmt::changes(&text, &formatted))
                );
            } else {
                sprs::fs::write_atomic(path, formatted.as_bytes())
                    .map_err(|error| CliError::Usage(format!("cannot write `{}`: {error}", path.display())))?;
                eprintln!("formatted {}", sprs::escape::path(path));
            }
        }
        if self.check && changed > 0 {
            eprintln!("{changed} of {} file{} not formatted; run `sprs fmt` on them", files.len(), plural(files.len()));
        }
        if failed || (self.check && changed > 0) {
            Err(CliError::Reported)
        } else {
            Ok(())
        }
    }
}

/// Formats standard input to standard output.
fn stdin(color: bool) -> Result<(), CliError> {
    let mut text = String::new();
    let limit = sprs::access::MAX_SOURCE_BYTES;
    std::io::stdin()
        .take(limit + 1)
        .read_to_string(&mut text)
        .map_err(|error| CliError::Usage(format!("cannot read standard input: {error}")))?;
    if text.len() as u64 > limit {
        return Err(CliError::Usage(format!("standard input is over the {limit}-byte limit of a source file")));
    }
    let formatted = format(Path::new("<stdin>"), &text, color).ok_or(CliError::Reported)?;
    print!("{formatted}");
    Ok(())
}

/// The files to format: those named, and every `.sprs` file in the folders named.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    for path in paths {
        match path.is_dir().then(|| sprs_files(path)) {
            Some(Ok(found)) => files.extend(found),
            Some(Err(error)) => return Err(CliError::Usage(format!("cannot read `{}`: {error}", path.display()))),
            None => files.push(path.clone()),
        }
    }
    Ok(files)
}

/// The file's text, read as `sprs check` reads an import (through [`sprs::access::Access`]): a
/// regular file, opened without blocking, inside its project, within the size of a source file.
/// A link is refused, not followed: formatting it would replace the link with a copy of what it
/// points to.
fn read(path: &Path) -> Result<String, String> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(format!("`{}` is a symbolic link; format the file it points to", path.display()));
    }
    let access = sprs::access::Access::for_entry(path);
    let cannot = |e: String| format!("cannot read `{}`: {e}", path.display());
    let (bytes, _) = access.read(path, sprs::access::MAX_SOURCE_BYTES).map_err(|e| cannot(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| cannot(format!("not UTF-8 (at byte {})", e.utf8_error().valid_up_to())))
}

/// The formatted text, or `None` after printing why the file cannot be formatted.
fn format(path: &Path, text: &str, color: bool) -> Option<String> {
    match sprs::fmt::format(text) {
        Ok(formatted) => Some(formatted),
        Err(Unformatted::Unsafe) => {
            eprintln!(
                "{}: left as it is (its formatted text would not mean the same; please report it)",
                sprs::escape::path(path)
            );
            None
        }
        Err(Unformatted::Syntax(errors)) => {
            let mut sources = SourceMap::default();
            let file = sources.add(Origin::Disk(path.to_path_buf()), path.display().to_string(), text.to_string());
            let renderer = Renderer { sources: &sources, color, width: 100 };
            for error in errors {
                eprintln!("{}", renderer.human(&Diag::new(file, error)));
            }
            eprintln!("{}: left as it is (it does not parse)", sprs::escape::path(path));
            None
        }
    }
}
