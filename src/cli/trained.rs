//! `sprs export`, `sprs score` and `sprs generate`: finished trials out of sprs
//! ([`sprs::trained`]); this finds the trials, prints what the library made and its errors.

use std::path::PathBuf;

use sprs::diagnostic::Format;
use sprs::plan::PlannedTrial;
use sprs::store::Store;
use sprs::train::backend::{Backend, Device, Target};
use sprs::trained::Sampling;

use super::{CliError, Output, Planned, Results};

/// Checks and plans the file of `results`, and finds the trials `names` names and the results
/// folder.
fn find(results: &Results, names: &[String], color: bool) -> Result<(Planned, Vec<PlannedTrial>, Store), CliError> {
    let planned = super::planned(&results.study.file, &results.study.options()?, Format::Short, color)?;
    let trials = sprs::trained::find(&planned.plan, names).map_err(CliError::coded)?;
    let trials = trials.into_iter().cloned().collect();
    Ok((planned, trials, results.store()?))
}

/// Where `score` and `generate` run a model.
#[derive(Debug, Clone, clap::Args)]
pub struct Compute {
    /// The backend: `flex` (default), `ndarray` or `tch` (each when built with its feature).
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// `cpu`, or with `--backend tch` `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: Target,
}

impl Compute {
    fn device(&self) -> Result<Device, CliError> {
        self.backend.device(self.device).map_err(CliError::Usage)
    }
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    results: Results,
    /// A trial, by name or id (repeatable).
    #[arg(long = "trial", required = true, value_name = "NAME")]
    trials: Vec<String>,
    /// The model folder; for several trials, a folder of one sub-folder per trial id.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
}

impl ExportArgs {
    pub fn run(self, color: bool) -> Result<(), CliError> {
        let (planned, trials, store) = find(&self.results, &self.trials, color)?;
        let trials: Vec<&PlannedTrial> = trials.iter().collect();
        let exported = sprs::trained::export(&trials, &self.results.study.file, &store, &planned.access, &self.to)
            .map_err(CliError::coded)?;
        for e in &exported {
            println!(
                "{}: {} ({} of weights{})",
                sprs::escape::controls(&e.trial),
                sprs::escape::controls(&e.dir.display().to_string()),
                sprs::format::bytes(e.bytes),
                if e.tokenizer { ", tokenizer" } else { "; no tokenizer: its data has no text" }
            );
        }
        if let Some(first) = exported.first() {
            let dir = format!("{:?}", first.dir.display().to_string());
            let tokenizer =
                if first.tokenizer { format!(", AutoTokenizer.from_pretrained({dir})") } else { String::new() };
            eprintln!("load with transformers: AutoModelForCausalLM.from_pretrained({dir}){tokenizer}");
        }
        Ok(())
    }
}

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    results: Results,
    /// The trial, by name or id.
    #[arg(long, value_name = "NAME")]
    trial: String,
    /// The text to score (UTF-8 for a BPE tokenizer; at most 4 MiB).
    #[arg(long, value_name = "PATH")]
    text: PathBuf,
    /// A line (`human`) or `{"tokens", "loss", "bits_per_byte"}` (`json`).
    #[arg(long, value_enum, default_value = "human")]
    format: Output,
    /// With `--format json`: every token's id and loss too (`per_token`).
    #[arg(long)]
    per_token: bool,
    #[command(flatten)]
    compute: Compute,
}

impl ScoreArgs {
    pub fn run(self, color: bool) -> Result<(), CliError> {
        if self.per_token && self.format != Output::Json {
            return Err(CliError::Usage("`--per-token` needs `--format json`".into()));
        }
        let (_, trials, store) = find(&self.results, std::slice::from_ref(&self.trial), color)?;
        let device = self.compute.device()?;
        let trial = &trials[0];
        let scored = sprs::trained::read_text(&self.text)
            .and_then(|text| sprs::trained::score(trial, &store, &text, &device, self.per_token))
            .map_err(CliError::coded)?;
        match self.format {
            Output::Json => println!("{}", serde_json::to_string(&scored).unwrap_or_default()),
            Output::Human => println!(
                "{}: loss {:.4} nats/token over {} tokens, {:.4} bits/byte",
                sprs::escape::controls(&trial.name),
                scored.loss,
                scored.tokens,
                scored.bits_per_byte
            ),
        }
        Ok(())
    }
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    results: Results,
    /// A trial, by name or id (repeatable).
    #[arg(long = "trial", required = true, value_name = "NAME")]
    trials: Vec<String>,
    /// The text to continue (default: a line end; for data of generated ids, ids: `3 14 15`).
    #[arg(long)]
    prompt: Option<String>,
    /// Tokens to generate (at most 100,000).
    #[arg(long, default_value_t = Sampling::default().tokens, value_parser = tokens_to_generate)]
    tokens: usize,
    /// Divides the logits; 0 takes the most likely token every time.
    #[arg(long, default_value_t = Sampling::default().temperature, value_parser = temperature)]
    temperature: f64,
    /// Draw from the most likely K tokens only (0: all).
    #[arg(long, default_value_t = Sampling::default().top_k, value_name = "K")]
    top_k: usize,
    /// The seed of the draws.
    #[arg(long, default_value_t = Sampling::default().seed)]
    seed: u64,
    /// The text (`human`) or `{"samples": [...]}` (`json`).
    #[arg(long, value_enum, default_value = "human")]
    format: Output,
    #[command(flatten)]
    compute: Compute,
}

impl GenerateArgs {
    pub fn run(self, color: bool) -> Result<(), CliError> {
        let (_, trials, store) = find(&self.results, &self.trials, color)?;
        let device = self.compute.device()?;
        let sampling =
            Sampling { tokens: self.tokens, temperature: self.temperature, top_k: self.top_k, seed: self.seed };
        let samples = trials
            .iter()
            .map(|trial| sprs::trained::generate(trial, &store, self.prompt.as_deref(), sampling, &device))
            .collect::<Result<Vec<_>, _>>()
            .map_err(CliError::coded)?;
        if self.format == Output::Json {
            println!("{}", serde_json::json!({ "samples": samples }));
            return Ok(());
        }
        for (i, sample) in samples.iter().enumerate() {
            if samples.len() > 1 {
                println!("{}── {} ──", if i == 0 { "" } else { "\n" }, sprs::escape::controls(&sample.trial));
            }
            // What a model writes is shown as text, with its control characters escaped.
            println!("{}{}", sprs::escape::controls(&sample.prompt), sprs::escape::controls(&sample.text));
        }
        Ok(())
    }
}

/// `--temperature`: a finite number from 0.
fn temperature(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(format!("`{text}` is not a temperature: give a number from 0 (0 takes the most likely token)")),
    }
}

/// `--tokens`: at most [`sprs::trained::MAX_GENERATED`].
fn tokens_to_generate(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n <= sprs::trained::MAX_GENERATED => Ok(n),
        _ => Err(format!("`{text}` is not a number of tokens from 0 to {}", sprs::trained::MAX_GENERATED)),
    }
}
