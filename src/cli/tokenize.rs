//! `sprs tokenize INPUT... --tokenizer T --out FILE`: corpus files to a token file and its
//! manifest ([`sprs::data::tokenize`]), with a progress bar.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sprs::data::tokenize::{self, Event, Options, TokenizerChoice};

use super::CliError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input files or globs (quoted, sorted): `'c4/c4-train.*.json.gz'`.
    #[arg(required = true)]
    inputs: Vec<String>,
    /// `bytes`, or a Hugging Face `tokenizer.json`.
    #[arg(long)]
    tokenizer: String,
    /// The token file to write.
    #[arg(long)]
    out: PathBuf,
    /// `u16` or `u32` (default: `u16` when the vocabulary fits).
    #[arg(long, value_parser = ["u16", "u32"])]
    dtype: Option<String>,
    /// The JSON or Parquet field holding each document's text.
    #[arg(long, default_value = "text")]
    field: String,
    /// An id (`2`), or a token of the tokenizer (`</s>`), appended after every document.
    #[arg(long)]
    eos: Option<String>,
    /// Stop before the document that would pass this many tokens (`20B`, `500M`).
    #[arg(long, value_parser = count)]
    limit: Option<u64>,
    /// Threads that encode (default: every core); the output is the same for any number.
    #[arg(long, short)]
    jobs: Option<usize>,
}

impl Args {
    pub fn run(self, color: bool) -> Result<(), CliError> {
        let options = Options {
            inputs: tokenize::expand(&self.inputs).map_err(|e| CliError::CodedUsage(Box::new(e)))?,
            tokenizer: match self.tokenizer.as_str() {
                "bytes" => TokenizerChoice::Bytes,
                path => TokenizerChoice::File(PathBuf::from(path)),
            },
            out: self.out,
            dtype: self.dtype.map(|d| if d == "u32" { sprs::config::Dtype::U32 } else { sprs::config::Dtype::U16 }),
            field: self.field,
            eos: self.eos,
            limit: self.limit,
            jobs: self.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
        };
        run(&options, color)
    }
}

/// Tokenizes with a progress bar, and prints what was made.
fn run(options: &Options, color: bool) -> Result<(), CliError> {
    let target = if color { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(0), target);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec}  eta {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    // Bytes of the inputs before the current one, and the counts so far.
    let state = Mutex::new((0u64, 0u64, 0u64, 0u64));
    let started = Instant::now();
    let progress = |event: Event| {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let (before, current, documents, tokens) = &mut *state;
        match event {
            Event::Start { total_bytes, done_bytes } => {
                bar.set_length(total_bytes);
                *before = done_bytes;
                bar.set_position(done_bytes);
            }
            Event::Skipped(path) => {
                let line = format!("{}: done by an earlier run", sprs::escape::path(path));
                if bar.is_hidden() {
                    eprintln!("{line}");
                } else {
                    bar.println(line);
                }
            }
            Event::Input(path) => {
                *before += *current;
                *current = std::fs::metadata(path).map_or(0, |m| m.len());
                bar.set_message(sprs::escape::path(path));
            }
            Event::Batch { documents: d, tokens: t, input_bytes } => {
                *documents += d;
                *tokens += t;
                bar.set_position(*before + input_bytes.min(*current));
                bar.set_message(format!(
                    "{} documents, {} tokens",
                    sprs::format::si(*documents as f64),
                    sprs::format::si(*tokens as f64)
                ));
            }
        }
    };
    let result = tokenize::tokenize(options, &progress);
    bar.finish_and_clear();
    match result {
        Ok(manifest) => {
            let seconds = started.elapsed().as_secs_f64();
            eprintln!(
                "{} documents, {} tokens ({}, vocabulary {}) from {} input{} in {seconds:.1}s ({:.0} tokens/s)",
                manifest.documents,
                manifest.tokens,
                match manifest.dtype {
                    sprs::config::Dtype::U16 => "u16",
                    sprs::config::Dtype::U32 => "u32",
                },
                manifest.vocab,
                manifest.inputs.len(),
                if manifest.inputs.len() == 1 { "" } else { "s" },
                manifest.tokens as f64 / seconds.max(1e-9)
            );
            eprintln!("tokens: {}", sprs::escape::path(&options.out));
            eprintln!("manifest: {}", sprs::escape::path(&tokenize::Manifest::path(&options.out)));
            Ok(())
        }
        Err(error) => Err(CliError::coded(error)),
    }
}

/// `--limit 20B`: a count with an optional `k`, `M`, `B` or `G` suffix.
pub fn count(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, scale) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 1e3),
        Some((i, 'M')) => (&text[..i], 1e6),
        Some((i, 'B' | 'G')) => (&text[..i], 1e9),
        _ => (text, 1.0),
    };
    let value: f64 =
        digits.trim().parse().map_err(|_| format!("`{text}` is not a count such as `20B` or `1500000`"))?;
    let count = value * scale;
    if !(count.is_finite() && count >= 1.0 && count.fract() == 0.0 && count < 1.8e19) {
        return Err(format!("`{text}` is not a whole positive count"));
    }
    Ok(count as u64)
}
