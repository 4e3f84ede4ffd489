//! `sprs export`, `sprs score` and `sprs generate`: finished trials out of sprs
//! ([`sprs::trained`]); this finds the trials, prints what the library made and its errors.

use std::path::Path;
use std::process::ExitCode;

use sprs::diagnostic::Format;
use sprs::plan::PlannedTrial;
use sprs::store::Store;
use sprs::train::backend::{Backend, Target};
use sprs::trained::{Sampling, TrainedError};

use super::Output;

/// What every one of the three commands is given.
pub struct Common<'a> {
    pub file: &'a Path,
    pub trials: &'a [String],
    pub out: Option<&'a Path>,
    pub check: &'a sprs::check::Options,
}

/// Checks and plans the file, finds the trials `common` names and the results folder, and gives
/// them to `then`; the exit code of an error, printed, otherwise.
fn with_trials(
    common: &Common,
    color: bool,
    then: impl FnOnce(&super::Planned, Vec<&PlannedTrial>, Store) -> ExitCode,
) -> ExitCode {
    let planned = match super::planned(common.file, common.check, Format::Short, color) {
        Ok(planned) => planned,
        Err(code) => return code,
    };
    let trials = match sprs::trained::find(&planned.plan, common.trials) {
        Ok(trials) => trials,
        Err(error) => return failed(error),
    };
    match Store::new(common.out, common.file) {
        Ok(store) => then(&planned, trials, store),
        Err(error) => super::usage_error(&error.to_string()),
    }
}

fn failed(error: TrainedError) -> ExitCode {
    super::print_error(&error);
    ExitCode::FAILURE
}

fn device(backend: Backend, target: Target) -> Result<sprs::train::backend::Device, ExitCode> {
    backend.device(target).map_err(|error| super::usage_error(&error))
}

pub fn export(common: Common, to: &Path, color: bool) -> ExitCode {
    with_trials(&common, color, |planned, trials, store| {
        let exported = match sprs::trained::export(&trials, common.file, &store, &planned.access, to) {
            Ok(exported) => exported,
            Err(error) => return failed(error),
        };
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
        ExitCode::SUCCESS
    })
}

/// `--backend` and `--device` of `score` and `generate`.
pub struct Compute {
    pub backend: Backend,
    pub device: Target,
}

pub fn score(common: Common, text: &Path, compute: Compute, format: Output, per_token: bool, color: bool) -> ExitCode {
    with_trials(&common, color, |_, trials, store| {
        let device = match device(compute.backend, compute.device) {
            Ok(device) => device,
            Err(code) => return code,
        };
        let trial = trials[0];
        let scored = sprs::trained::read_text(text)
            .and_then(|text| sprs::trained::score(trial, &store, &text, &device, per_token));
        match scored {
            Ok(scored) if format == Output::Json => println!("{}", serde_json::to_string(&scored).unwrap_or_default()),
            Ok(scored) => println!(
                "{}: loss {:.4} nats/token over {} tokens, {:.4} bits/byte",
                sprs::escape::controls(&trial.name),
                scored.loss,
                scored.tokens,
                scored.bits_per_byte
            ),
            Err(error) => return failed(error),
        }
        ExitCode::SUCCESS
    })
}

pub fn generate(
    common: Common,
    prompt: Option<&str>,
    sampling: Sampling,
    compute: Compute,
    format: Output,
    color: bool,
) -> ExitCode {
    with_trials(&common, color, |_, trials, store| {
        let device = match device(compute.backend, compute.device) {
            Ok(device) => device,
            Err(code) => return code,
        };
        let mut samples = Vec::new();
        for trial in trials {
            match sprs::trained::generate(trial, &store, prompt, sampling, &device) {
                Ok(sample) => samples.push(sample),
                Err(error) => return failed(error),
            }
        }
        if format == Output::Json {
            println!("{}", serde_json::json!({ "samples": samples }));
            return ExitCode::SUCCESS;
        }
        for (i, sample) in samples.iter().enumerate() {
            if samples.len() > 1 {
                println!("{}── {} ──", if i == 0 { "" } else { "\n" }, sprs::escape::controls(&sample.trial));
            }
            // What a model writes is shown as text, with its control characters escaped.
            println!("{}{}", sprs::escape::controls(&sample.prompt), sprs::escape::controls(&sample.text));
        }
        ExitCode::SUCCESS
    })
}
