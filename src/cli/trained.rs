//! `sprs export`, `sprs score` and `sprs generate`: finished trials out of sprs
//! ([`sprs::trained`]); this finds the trials, prints what the library made and its errors.

use std::path::Path;
use std::process::ExitCode;

use sprs::diagnostic::Format;
use sprs::plan::PlannedTrial;
use sprs::store::Store;
use sprs::train::backend::{Backend, Target};
use sprs::trained::{Sampling, TrainedError};

/// What every one of the three commands is given.
pub struct Common<'a> {
    pub file: &'a Path,
    pub trials: &'a [String],
    pub out: Option<&'a Path>,
    pub check: &'a sprs::check::Options,
}

/// The plan's trials that `common` names, the results folder, and what the file may read; `Err`
/// is the exit code after the error is printed.
fn trials<'p>(common: &Common, planned: &'p super::Planned) -> Result<(Vec<&'p PlannedTrial>, Store), ExitCode> {
    let trials = sprs::trained::find(&planned.plan, common.trials).map_err(failed)?;
    let store = Store::new(common.out, common.file).map_err(|error| super::usage_error(&error.to_string()))?;
    Ok((trials, store))
}

fn failed(error: TrainedError) -> ExitCode {
    super::print_error(&error);
    ExitCode::FAILURE
}

fn device(backend: Backend, target: Target) -> Result<sprs::train::backend::Device, ExitCode> {
    backend.device(target).map_err(|error| super::usage_error(&error))
}

pub fn export(common: Common, to: &Path, color: bool) -> ExitCode {
    let planned = match super::planned(common.file, common.check, Format::Short, color) {
        Ok(planned) => planned,
        Err(code) => return code,
    };
    let (trials, store) = match trials(&common, &planned) {
        Ok(found) => found,
        Err(code) => return code,
    };
    match sprs::trained::export(&trials, common.file, &store, &planned.access, to) {
        Ok(exported) => {
            for e in &exported {
                println!(
                    "{}: {} ({} of weights{})",
                    sprs::escape::controls(&e.trial),
                    sprs::escape::controls(&e.dir.display().to_string()),
                    sprs::plan::memory::bytes(e.bytes),
                    if e.tokenizer { ", tokenizer" } else { "; no tokenizer: its data has no text" }
                );
            }
            if let Some(first) = exported.first() {
                let dir = first.dir.display().to_string();
                eprintln!(
                    "load with transformers: AutoModelForCausalLM.from_pretrained({:?}), AutoTokenizer.from_pretrained({:?})",
                    dir, dir
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => failed(error),
    }
}

/// `--backend` and `--device` of `score` and `generate`.
pub struct Compute {
    pub backend: Backend,
    pub device: Target,
}

pub fn score(common: Common, text: &Path, compute: Compute, format: Format, per_token: bool, color: bool) -> ExitCode {
    let planned = match super::planned(common.file, common.check, Format::Short, color) {
        Ok(planned) => planned,
        Err(code) => return code,
    };
    let (trials, store) = match trials(&common, &planned) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let device = match device(compute.backend, compute.device) {
        Ok(device) => device,
        Err(code) => return code,
    };
    let scored = sprs::trained::read_text(text)
        .and_then(|text| sprs::trained::score(trials[0], &store, &planned.access, &text, &device, per_token));
    match scored {
        Ok(scored) if format == Format::Json => {
            println!("{}", serde_json::to_string(&scored).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(scored) => {
            println!(
                "{}: loss {:.4} nats/token over {} tokens, {:.4} bits/byte",
                sprs::escape::controls(&trials[0].name),
                scored.loss,
                scored.tokens,
                scored.bits_per_byte
            );
            ExitCode::SUCCESS
        }
        Err(error) => failed(error),
    }
}

pub fn generate(
    common: Common,
    prompt: Option<&str>,
    sampling: Sampling,
    compute: Compute,
    format: Format,
    color: bool,
) -> ExitCode {
    let planned = match super::planned(common.file, common.check, Format::Short, color) {
        Ok(planned) => planned,
        Err(code) => return code,
    };
    let (trials, store) = match trials(&common, &planned) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let device = match device(compute.backend, compute.device) {
        Ok(device) => device,
        Err(code) => return code,
    };
    let mut samples = Vec::new();
    for trial in trials {
        match sprs::trained::generate(trial, &store, &planned.access, prompt, sampling, &device) {
            Ok(sample) => samples.push(sample),
            Err(error) => return failed(error),
        }
    }
    if format == Format::Json {
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
}
