//! `sprs run FILE`: trains every trial of the file whose result is missing.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use sprs::diagnostic::Format;
use sprs::store::{Status, Store};
use sprs::train::backend::{Backend, Target};

pub struct Options<'a> {
    pub only: Option<&'a str>,
    pub out: Option<&'a Path>,
    pub backend: Backend,
    pub device: Target,
    pub checkpoint_every: std::time::Duration,
}

pub fn run(path: &Path, options: Options, color: bool) -> ExitCode {
    let super::Planned { plan, fits, sources } = match super::planned(path, Format::Human, color) {
        Ok(planned) => planned,
        Err(code) => return code,
    };
    let device = match options.backend.device(options.device) {
        Ok(device) => device,
        Err(error) => return super::usage_error(&error),
    };
    let trials: Vec<_> = plan
        .trials
        .iter()
        .filter(|t| options.only.is_none_or(|only| t.name == only || t.sweep.as_deref() == Some(only)))
        .collect();
    if trials.is_empty() {
        return super::usage_error(&format!(
            "no trial of `{}` is named `{}`",
            path.display(),
            options.only.unwrap_or_default()
        ));
    }
    let store = Store::new(options.out, path);
    let base = path.parent().unwrap_or(Path::new(""));
    let (mut done, mut skipped, mut failed) = (0, 0, Vec::new());
    for (index, planned) in trials.iter().enumerate() {
        if store.result(&planned.id).is_some_and(|r| r.status == Status::Ok) {
            skipped += 1;
            continue;
        }
        let bar = ProgressBar::new(planned.steps).with_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps  {msg}  eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("[{}/{}] {}", index + 1, trials.len(), planned.name));
        if store.checkpoint(&planned.id).exists() {
            eprintln!("{}: resuming from its checkpoint", planned.name);
        }
        let started = Instant::now();
        let tokens_per_step = planned.tokens_per_step as f64;
        let result = sprs::train::run::run(planned, base, &device, &store, options.checkpoint_every, &mut |report| {
            let rate = (report.step + 1) as f64 * tokens_per_step / started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "loss {:.3}  {:.0} tokens/s  sparsity {:.1}%",
                report.loss,
                rate,
                report.sparsity * 100.0
            ));
            bar.inc(1);
        });
        bar.finish_and_clear();
        if let Err(error) = store.finish(&result) {
            return super::usage_error(&format!("cannot write the result of `{}`: {error}", planned.name));
        }
        match (result.status, result.l) {
            (Status::Ok, Some(loss)) => {
                done += 1;
                eprintln!(
                    "{}: loss {loss:.4}, N_avg {:.0}, {:.1}s",
                    planned.name,
                    result.n_avg,
                    started.elapsed().as_secs_f64()
                );
            }
            _ => {
                eprintln!("{}: failed: {}", planned.name, result.error.clone().unwrap_or_default());
                failed.push(planned.name.clone());
            }
        }
    }
    eprintln!(
        "{} trials: {done} trained, {skipped} already done, {} failed; results in {}",
        trials.len(),
        failed.len(),
        store.root.display()
    );
    // Then the file's fits, on every result on disk (not with `--only`, which runs a part).
    if options.only.is_none() && !fits.is_empty() {
        let renderer = sprs::diagnostic::Renderer { sources: &sources, color, width: 100 };
        let print = |diags: &[sprs::diagnostic::Diag]| diags.iter().for_each(|d| eprintln!("{}", renderer.human(d)));
        super::fit::fit_and_write(&fits, &plan, &store, path, true, &print);
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}
