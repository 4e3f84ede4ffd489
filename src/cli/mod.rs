//! Subcommands, one file each: each has its `Args` (clap derive) and `Args::run`, which calls the
//! library, shows progress and prints what it made, and returns a [`CliError`] when it cannot
//! succeed. [`run`] is the one place that prints an error and picks the exit code: 0 success, 1
//! the input has errors or the work failed, 2 a usage error (clap's own, and files that cannot be
//! read), and a signal's code for a run stopped by one.

mod check;
mod explain;
mod fit;
mod fmt;
mod plan;
mod run;
mod status;
mod submit;
mod tokenize;
mod trained;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sprs::diagnostic::{Format, Renderer};
use sprs::store::Store;

/// sprs: sparse and dense pre-training studies and their scaling laws.
#[derive(Debug, Parser)]
#[command(name = "sprs", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse, resolve, type- and unit-check files, expand their sweeps and validate them.
    Check(check::Args),
    /// Rewrite files in canonical form (folders: every `.sprs` file in them).
    Fmt(fmt::Args),
    /// A language server over standard input and output, for editors (see editors/README.md).
    Lsp,
    /// Show every trial: parameter counts, steps, tokens, compute and pruning breakpoints.
    Plan(plan::Args),
    /// Train every trial of the file whose result is missing.
    Run(run::Args),
    /// Hand the file's trials to Slurm: one job array of workers sharing the results folder,
    /// checkpointed and requeued on preemption or at the time limit.
    Submit(submit::Args),
    /// Where each trial of the file stands (done, running, failed, pending), and its Slurm jobs.
    Status(status::Args),
    /// Turn corpus files into a token file (`tokens("FILE")`) and its manifest `FILE.json`:
    /// `.txt`, `.jsonl`/`.json` (optionally `.gz` or `.zst`) and `.parquet`.
    Tokenize(tokenize::Args),
    /// Fit the file's laws to results on disk (or CSV data); write `fits/<name>.json` and `.svg`.
    Fit(fit::Args),
    /// Export finished trials as Hugging Face model folders, which transformers loads with no
    /// custom code (`llama` as LlamaForCausalLM, `gpt` as GPT2LMHeadModel), with their tokenizer.
    Export(trained::ExportArgs),
    /// The mean next-token loss of a text under a finished trial's model, in consecutive
    /// context-sized windows, tokenized as the trial's data was.
    Score(trained::ScoreArgs),
    /// Sample text from finished trials' models, the same for the same seed (several trials:
    /// one sample each, from the same prompt and seed).
    Generate(trained::GenerateArgs),
    /// Print a named record, resolved with every default, and its docs.
    Explain(explain::Args),
}

/// Runs the command and prints its error, if any, once.
pub fn run(cli: Cli) -> ExitCode {
    // Progress bars and colours only on a terminal.
    let color = std::io::stderr().is_terminal();
    let result = match cli.command {
        Command::Check(args) => args.run(color),
        Command::Fmt(args) => args.run(color),
        Command::Lsp => {
            sprs::lsp::serve_stdio().map_err(|e| CliError::Failed(format!("the language server stopped: {e}")))
        }
        Command::Plan(args) => args.run(color),
        Command::Run(args) => args.run(color),
        Command::Submit(args) => args.run(color),
        Command::Status(args) => args.run(color),
        Command::Tokenize(args) => args.run(color),
        Command::Fit(args) => args.run(color),
        Command::Export(args) => args.run(color),
        Command::Score(args) => args.run(color),
        Command::Generate(args) => args.run(color),
        Command::Explain(args) => args.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => error.report(),
    }
}

/// Why a command did not succeed.
#[derive(Debug)]
pub enum CliError {
    /// The command could not be carried out as asked (a file that cannot be read, flags that do
    /// not go together): exit 2.
    Usage(String),
    /// An error with a code that has no place in a source file (a corpus, a cluster, a trained
    /// model): `error[E0701]: message` and its help, exit 1.
    Coded(Box<dyn miette::Diagnostic + Send + Sync>),
    /// The same, for what was asked rather than for the work (an input that does not exist):
    /// exit 2.
    CodedUsage(Box<dyn miette::Diagnostic + Send + Sync>),
    /// The work failed, with no code: `error: message`, exit 1.
    Failed(String),
    /// The input has errors, or the work failed, and it was shown where it was found (a file's
    /// diagnostics, a trial's line): exit 1 and nothing more to print.
    Reported,
    /// A run stopped by a signal after checkpointing: exit with the signal's code.
    Stopped(u8),
}

impl CliError {
    /// Prints the error (escaped: its text can come from files) and gives its exit code.
    fn report(self) -> ExitCode {
        match self {
            CliError::Usage(message) => {
                eprintln!("error: {}", sprs::escape::controls(&message));
                ExitCode::from(2)
            }
            CliError::Coded(error) => {
                print_coded(error.as_ref());
                ExitCode::FAILURE
            }
            CliError::CodedUsage(error) => {
                print_coded(error.as_ref());
                ExitCode::from(2)
            }
            CliError::Failed(message) => {
                eprintln!("error: {}", sprs::escape::controls(&message));
                ExitCode::FAILURE
            }
            CliError::Reported => ExitCode::FAILURE,
            CliError::Stopped(code) => ExitCode::from(code),
        }
    }

    /// A coded error of the library.
    fn coded(error: impl miette::Diagnostic + Send + Sync + 'static) -> CliError {
        CliError::Coded(Box::new(error))
    }
}

/// `error[E0701]: message`, then its help.
fn print_coded(error: &dyn miette::Diagnostic) {
    let code = error.code().map(|c| c.to_string().trim_start_matches("sprs::").to_string());
    let message = sprs::escape::controls(&error.to_string()).into_owned();
    match code {
        Some(code) => eprintln!("error[{code}]: {message}"),
        None => eprintln!("error: {message}"),
    }
    if let Some(help) = error.help() {
        eprintln!("  help: {}", sprs::escape::controls(&help.to_string()));
    }
}

/// What a file may read, and the limits on what it may make sprs build (`docs/security.md`).
#[derive(Debug, Clone, clap::Args)]
pub struct Project {
    /// The project root: files may read only inside it (default: the nearest folder above the
    /// file that holds `.git`, else the file's own folder).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Also allow reading inside DIR (repeatable; `SPRS_ALLOW_READ` adds a `:`-separated list).
    #[arg(long = "allow-read", value_name = "DIR")]
    allow_read: Vec<PathBuf>,
    /// The most trials a file may have.
    #[arg(long, value_name = "N", default_value_t = sprs::check::Limits::default().trials)]
    max_trials: u64,
    /// The most starts a fit's grid may have.
    #[arg(long, value_name = "N", default_value_t = sprs::check::Limits::default().fit_starts)]
    max_fit_starts: u64,
}

impl Project {
    /// The same choices as flags of `sprs run`, for the workers of `sprs submit`: paths absolute.
    fn args(&self) -> Vec<String> {
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string();
        let mut args = Vec::new();
        if let Some(root) = &self.root {
            args.extend(["--root".to_string(), absolute(root)]);
        }
        for dir in &self.allow_read {
            args.extend(["--allow-read".to_string(), absolute(dir)]);
        }
        let defaults = sprs::check::Limits::default();
        if self.max_trials != defaults.trials {
            args.extend(["--max-trials".to_string(), self.max_trials.to_string()]);
        }
        if self.max_fit_starts != defaults.fit_starts {
            args.extend(["--max-fit-starts".to_string(), self.max_fit_starts.to_string()]);
        }
        args
    }

    /// The check options for `file`, with `--set` overrides.
    fn options(&self, file: &Path, set: &[String]) -> Result<sprs::check::Options, CliError> {
        let mut allow = self.allow_read.clone();
        allow.extend(sprs::access::Access::allowed_from_env());
        let access = sprs::access::Access::new(file, self.root.as_deref(), &allow)
            .map_err(|error| CliError::Usage(error.to_string()))?;
        let limits = sprs::check::Limits { trials: self.max_trials, fit_starts: self.max_fit_starts, memory: None };
        Ok(sprs::check::Options { set: set.to_vec(), access, limits, require_data: true, buffers: Default::default() })
    }
}

/// What every command on one study is given: the file, its overrides, what it may read.
#[derive(Debug, Clone, clap::Args)]
pub struct Study {
    /// The `.sprs` file.
    file: PathBuf,
    /// Override a field of every trial, as `PATH=VALUE` in the language (`--set model.depth=4`,
    /// `--set 'prune=journey { sparsity = 30% }'`), checked like the file; for the commands that
    /// read results, the overrides the trials ran with.
    #[arg(long, value_name = "PATH=VALUE")]
    set: Vec<String>,
    #[command(flatten)]
    project: Project,
}

impl Study {
    /// How the file is checked.
    fn options(&self) -> Result<sprs::check::Options, CliError> {
        self.project.options(&self.file, &self.set)
    }

    /// The results folder: `out`, or `runs/<file stem>` beside the file.
    fn store(&self, out: Option<&Path>) -> Result<Store, CliError> {
        Store::new(out, &self.file).map_err(|error| CliError::Usage(error.to_string()))
    }
}

/// A study and its results folder, for the commands that train or read results.
#[derive(Debug, Clone, clap::Args)]
pub struct Results {
    #[command(flatten)]
    study: Study,
    /// The results folder (default: `runs/<file stem>`).
    #[arg(long)]
    out: Option<PathBuf>,
}

impl Results {
    /// The results folder.
    fn store(&self) -> Result<Store, CliError> {
        self.study.store(self.out.as_deref())
    }
}

/// How `score` and `generate` print what they found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Text for people.
    Human,
    /// One JSON object, for tools.
    Json,
}

/// Checks and plans `path`, printing its diagnostics (one line each in `short`); in `json` they
/// are kept for the command's JSON, and printed as `{"diagnostics": [...]}` when there is no
/// plan. [`CliError::Reported`] when there is no plan.
fn planned(path: &Path, options: &sprs::check::Options, format: Format, color: bool) -> Result<Planned, CliError> {
    let output = sprs::plan::plan_file_with(path, options)
        .map_err(|error| CliError::Usage(format!("cannot read `{}`: {error}", path.display())))?;
    let renderer = Renderer { sources: &output.sources, color, width: 100 };
    let diagnostics = print_diagnostics(&renderer, &output.diagnostics, format);
    match (output.plan, output.checked) {
        (Some(plan), Some(checked)) => {
            Ok(Planned { plan, fits: checked.fits, sources: output.sources, access: output.access, diagnostics })
        }
        _ => {
            if format == Format::Json {
                println!("{}", serde_json::json!({ "diagnostics": diagnostics }));
            }
            Err(CliError::Reported)
        }
    }
}

/// Prints `diags` to standard error as `format` has them, or in `json` returns them for the
/// command's JSON on standard output.
fn print_diagnostics(
    renderer: &Renderer,
    diags: &[sprs::diagnostic::Diag],
    format: Format,
) -> Vec<sprs::diagnostic::JsonDiagnostic> {
    match format {
        Format::Json => diags.iter().map(|d| renderer.json(d)).collect(),
        Format::Human | Format::Short => {
            for diag in diags {
                let shown = if format == Format::Human { renderer.human(diag) } else { renderer.short(diag) };
                eprintln!("{shown}");
            }
            Vec::new()
        }
    }
}

/// A file checked and planned without errors.
struct Planned {
    plan: sprs::plan::Plan,
    fits: Vec<sprs::check::FitSpec>,
    /// For the diagnostics of later phases.
    sources: sprs::check::SourceMap,
    /// What the file may read: its data, at run time.
    access: sprs::access::Access,
    /// Its warnings, kept for `--format json`.
    diagnostics: Vec<sprs::diagnostic::JsonDiagnostic>,
}

/// The `s` of a plural, for counts in messages.
fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
