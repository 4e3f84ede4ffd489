//! Subcommands, one file each. Exit codes: 0 success, 1 the input has errors, 2 usage errors
//! (clap's own, and files that cannot be read).

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
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sprs::diagnostic::Format;
use sprs::trained::Sampling;

/// sprs: sparse and dense pre-training studies and their scaling laws.
#[derive(Debug, Parser)]
#[command(name = "sprs", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// The same choices as flags of `sprs run`, for the workers of `sprs submit`.
    fn args(&self) -> Vec<String> {
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

    /// The check options for `file`, with `--set` overrides; `Err` is the exit code of a usage
    /// error (a `--root` or `--allow-read` that cannot be used).
    fn options(&self, file: &std::path::Path, set: &[String]) -> Result<sprs::check::Options, ExitCode> {
        let mut allow = self.allow_read.clone();
        allow.extend(sprs::access::Access::allowed_from_env());
        let access = sprs::access::Access::new(file, self.root.as_deref(), &allow)
            .map_err(|error| usage_error(&error.to_string()))?;
        let limits = sprs::check::Limits { trials: self.max_trials, fit_starts: self.max_fit_starts, memory: None };
        Ok(sprs::check::Options { set: set.to_vec(), access, limits, require_data: true })
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

/// Where `score` and `generate` run a model.
#[derive(Debug, Clone, clap::Args)]
pub struct Compute {
    /// The backend: `flex` (default), `ndarray` or `tch` (each when built with its feature).
    #[arg(long, default_value = "flex")]
    backend: sprs::train::backend::Backend,
    /// `cpu`, or with `--backend tch` `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: sprs::train::backend::Target,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse, resolve, type- and unit-check files, expand their sweeps and validate them.
    Check {
        /// The `.sprs` files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        #[command(flatten)]
        project: Project,
    },
    /// Rewrite files in canonical form (folders: every `.sprs` file in them).
    Fmt {
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
    },
    /// A language server over standard input and output, for editors (see editors/README.md).
    Lsp,
    /// Show every trial: parameter counts, steps, tokens, compute and pruning breakpoints.
    Plan {
        /// The `.sprs` file to plan.
        file: PathBuf,
        /// A table (`human`) or `{"trials": [...]}` (`json`).
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Override a field of every trial, as `PATH=VALUE` in the language (`--set seed=2`).
        #[arg(long, value_name = "PATH=VALUE")]
        set: Vec<String>,
        #[command(flatten)]
        project: Project,
    },
    /// Train every trial of the file whose result is missing.
    Run {
        /// The `.sprs` file to run.
        file: PathBuf,
        /// Only this train, sweep, or trial (by name).
        #[arg(long)]
        only: Option<String>,
        /// The results folder (default: `runs/<file stem>`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The backend: `flex` (default), `ndarray` or `tch` (each when built with its feature).
        #[arg(long, default_value = "flex")]
        backend: sprs::train::backend::Backend,
        /// Where the backend runs: `cpu`, or with `--backend tch` `cuda:N`, a list
        /// `cuda:0,cuda:1` or `cuda:all` (one trial per GPU by default).
        #[arg(long, default_value = "cpu")]
        device: sprs::train::backend::Devices,
        /// Save a checkpoint of the running trial this often, in seconds.
        #[arg(long, default_value_t = 120)]
        checkpoint_every: u64,
        /// Trials to train side by side (default: one per core on the CPU, one on a GPU); the
        /// cores are divided between them.
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Run only share I of N (1-based) of the trials, for N machines sharing one results folder.
        #[arg(long, value_name = "I/N")]
        shard: Option<sprs::sweep::Shard>,
        /// Override a field of every trial, as `PATH=VALUE` in the language
        /// (`--set model.depth=4`, `--set 'prune=journey { sparsity = 30% }'`); checked like the file.
        #[arg(long, value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Train trials whose estimated memory exceeds the machine's (see `sprs plan`).
        #[arg(long)]
        force: bool,
        /// Keep no weights: finished trials do not write `model.safetensors` (`sprs export`,
        /// `score` and `generate` then cannot use them).
        #[arg(long)]
        no_weights: bool,
        /// Run as one of several workers sharing the results folder (as `sprs submit`'s Slurm
        /// tasks do): one trial at a time on the cores Slurm allocated (`SLURM_CPUS_PER_TASK`),
        /// taking the longest trial no other worker holds.
        #[arg(long, conflicts_with = "shard")]
        worker: bool,
        #[command(flatten)]
        project: Project,
    },
    /// Hand the file's trials to Slurm: one job array of workers sharing the results folder,
    /// checkpointed and requeued on preemption or at the time limit.
    Submit {
        /// The `.sprs` file to run.
        file: PathBuf,
        /// Workers (array tasks); default: one per trial still to run, at most the cluster's
        /// MaxArraySize and 64.
        #[arg(long, value_name = "K")]
        workers: Option<usize>,
        /// The results folder, on a file system every node shares, with working `flock`
        /// (default: `runs/<file stem>`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a field of every trial, as `PATH=VALUE` (as `sprs run --set`).
        #[arg(long, value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// The backend the workers train with.
        #[arg(long, default_value = "flex")]
        backend: sprs::train::backend::Backend,
        /// Slurm partition.
        #[arg(long)]
        partition: Option<String>,
        /// Time limit per task, as Slurm takes it (`4:00:00`, `1-00:00:00`).
        #[arg(long)]
        time: Option<String>,
        /// CPU cores per worker (its trial's threads).
        #[arg(long, default_value_t = 1, value_name = "N")]
        cpus_per_worker: usize,
        /// GPUs per worker; a worker trains on the GPU Slurm gives it (`cuda:0` in its
        /// allocation). Use with `--backend tch`.
        #[arg(long, default_value_t = 0, value_name = "N")]
        gpus_per_worker: usize,
        /// Memory per worker, as Slurm takes it (`16G`).
        #[arg(long)]
        mem: Option<String>,
        /// Slurm account.
        #[arg(long)]
        account: Option<String>,
        /// Slurm quality of service.
        #[arg(long)]
        qos: Option<String>,
        /// Another `#SBATCH` argument, passed through (repeatable): `--sbatch-arg=--constraint=a100`.
        #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
        sbatch_args: Vec<String>,
        /// Times a task requeues itself after a preemption or its time limit.
        #[arg(long, default_value_t = 3, value_name = "N")]
        max_requeues: u32,
        /// Seconds before the time limit at which a worker is told to checkpoint.
        #[arg(long, default_value_t = 120, value_name = "SECONDS")]
        signal_grace: u64,
        /// The workers keep no weights (`sprs run --no-weights`).
        #[arg(long)]
        no_weights: bool,
        /// Print the job script; submit nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        project: Project,
    },
    /// Where each trial of the file stands (done, running, failed, pending), and its Slurm jobs.
    Status {
        /// The `.sprs` file.
        file: PathBuf,
        /// The results folder (default: `runs/<file stem>`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The `--set` overrides the trials were run with.
        #[arg(long, value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// A table (`human`) or `{"trials": [...], "counts": {..}, "jobs": [..]}` (`json`).
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        #[command(flatten)]
        project: Project,
    },
    /// Turn corpus files into a token file (`tokens("FILE")`) and its manifest `FILE.json`:
    /// `.txt`, `.jsonl`/`.json` (optionally `.gz` or `.zst`) and `.parquet`.
    Tokenize {
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
        #[arg(long, value_parser = tokenize::count)]
        limit: Option<u64>,
        /// Threads that encode (default: every core); the output is the same for any number.
        #[arg(long, short)]
        jobs: Option<usize>,
    },
    /// Fit the file's laws to results on disk (or CSV data); write `fits/<name>.json` and `.svg`.
    Fit {
        /// The `.sprs` file whose fits to run.
        file: PathBuf,
        /// Only the fit of this name.
        #[arg(long)]
        only: Option<String>,
        /// The results folder (default: `runs/<file stem>`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// A table per fit (`human`) or `{"fits": [...]}` (`json`).
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// The `--set` overrides the trials were run with.
        #[arg(long, value_name = "PATH=VALUE")]
        set: Vec<String>,
        #[command(flatten)]
        project: Project,
    },
    /// Export finished trials as Hugging Face model folders, which transformers loads with no
    /// custom code (`llama` as LlamaForCausalLM, `gpt` as GPT2LMHeadModel), with their tokenizer.
    Export {
        /// The `.sprs` file the trials belong to.
        file: PathBuf,
        /// A trial, by name or id (repeatable).
        #[arg(long = "trial", required = true, value_name = "NAME")]
        trials: Vec<String>,
        /// The model folder; for several trials, a folder of one sub-folder per trial id.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// The results folder (default: `runs/<file stem>`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The `--set` overrides the trials were run with.
        #[arg(long, value_name = "PATH=VALUE")]
        set: Vec<String>,
        #[command(flatten)]
        project: Project,
    },
    /// The mean next-token loss of a text under a finished trial's model, in consecutive
    /// context-sized windows, tokenized as the trial's data was.
    Score {
        /// The `.sprs` file the trial belongs to.
        file: PathBuf,
        /// The trial, by name or id.
        #[arg(long, value_name = "NAME")]
        trial: String,
        /// The text to score (UTF-8 for a BPE tokenizer; at most 4 MiB).
        #[arg(long, value_name = "PATH")]
        text: PathBuf,
        /// The results folder (default: `runs/<file stem>`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// A line (`human`) or `{"tokens", "loss", "bits_per_byte"}` (`json`).
        #[arg(long, value_enum, default_value = "human")]
        format: Output,
        /// With `--format json`: every token's id and loss too (`per_token`).
        #[arg(long)]
        per_token: bool,
        #[command(flatten)]
        compute: Compute,
        /// The `--set` overrides the trial was run with.
        #[arg(long, value_name = "PATH=VALUE")]
        set: Vec<String>,
        #[command(flatten)]
        project: Project,
    },
    /// Sample text from finished trials' models, the same for the same seed (several trials:
    /// one sample each, from the same prompt and seed).
    Generate {
        /// The `.sprs` file the trials belong to.
        file: PathBuf,
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
        /// The results folder (default: `runs/<file stem>`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The text (`human`) or `{"samples": [...]}` (`json`).
        #[arg(long, value_enum, default_value = "human")]
        format: Output,
        #[command(flatten)]
        compute: Compute,
        /// The `--set` overrides the trials were run with.
        #[arg(long, value_name = "PATH=VALUE")]
        set: Vec<String>,
        #[command(flatten)]
        project: Project,
    },
    /// Print a named record, resolved with every default, and its docs.
    Explain {
        /// An item name: `journey`, `std::schedules::journey`, or an item of `--file`.
        name: String,
        /// Look for the item in this file first.
        #[arg(long)]
        file: Option<PathBuf>,
        #[command(flatten)]
        project: Project,
    },
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check { files, format, project } => {
            check::run(&files, &project, format, std::io::stderr().is_terminal())
        }
        Command::Lsp => match sprs::lsp::serve_stdio() {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: the language server stopped: {}", sprs::escape::controls(&error.to_string()));
                ExitCode::FAILURE
            }
        },
        Command::Fmt { paths, check, stdin } => fmt::run(&paths, check, stdin, std::io::stderr().is_terminal()),
        Command::Plan { file, format, set, project } => match project.options(&file, &set) {
            // A study is planned before its data is downloaded: missing data files are a warning.
            Ok(options) => {
                let options = sprs::check::Options { require_data: false, ..options };
                plan::run(&file, &options, format, std::io::stderr().is_terminal())
            }
            Err(code) => code,
        },
        Command::Run {
            file,
            only,
            out,
            backend,
            device,
            checkpoint_every,
            jobs,
            shard,
            set,
            force,
            no_weights,
            worker,
            project,
        } => {
            let mut check = match project.options(&file, &set) {
                Ok(options) => options,
                Err(code) => return code,
            };
            // The machine's memory bounds a CPU trial; a GPU's is not known here.
            if !force && device.is_cpu() {
                check.limits.memory = sprs::plan::memory::machine();
            }
            // Ctrl-C, SIGTERM and Slurm's SIGUSR1 checkpoint the running trials and stop.
            let stop = match sprs::sweep::Stop::on_signals() {
                Ok(stop) => stop,
                Err(error) => return usage_error(&format!("cannot handle signals: {error}")),
            };
            let cores = worker.then(sprs::launch::slurm::allocated_cpus).flatten();
            let sweep = sprs::sweep::Options {
                only,
                shard,
                jobs: if worker { jobs.or(Some(1)) } else { jobs },
                backend,
                devices: device,
                checkpoint_every: std::time::Duration::from_secs(checkpoint_every),
                keep_weights: !no_weights,
                cores,
                stop,
            };
            let options = run::Options { out: out.as_deref(), sweep, check: &check };
            run::run(&file, options, std::io::stderr().is_terminal())
        }
        Command::Submit {
            file,
            workers,
            out,
            set,
            backend,
            partition,
            time,
            cpus_per_worker,
            gpus_per_worker,
            mem,
            account,
            qos,
            sbatch_args,
            max_requeues,
            signal_grace,
            no_weights,
            dry_run,
            project,
        } => {
            let check = match project.options(&file, &set) {
                Ok(options) => options,
                Err(code) => return code,
            };
            let mut run_args = project.args();
            if no_weights {
                run_args.push("--no-weights".into());
            }
            let submission = sprs::launch::slurm::Submission {
                set: set.clone(),
                run_args,
                backend,
                cpus_per_worker,
                gpus_per_worker,
                partition,
                time,
                mem,
                account,
                qos,
                sbatch_args,
                max_requeues,
                signal_grace,
                ..submit::submission()
            };
            let options = submit::Options { out: out.as_deref(), workers, check: &check, dry_run };
            submit::run(&file, options, submission, std::io::stderr().is_terminal())
        }
        Command::Status { file, out, set, format, project } => match project.options(&file, &set) {
            Ok(options) => {
                let options = sprs::check::Options { require_data: false, ..options };
                status::run(&file, out.as_deref(), &options, format, std::io::stderr().is_terminal())
            }
            Err(code) => code,
        },
        Command::Tokenize { inputs, tokenizer, out, dtype, field, eos, limit, jobs } => {
            let options = sprs::data::tokenize::Options {
                inputs: Vec::new(),
                tokenizer: match tokenizer.as_str() {
                    "bytes" => sprs::data::tokenize::TokenizerChoice::Bytes,
                    path => sprs::data::tokenize::TokenizerChoice::File(PathBuf::from(path)),
                },
                out,
                dtype: dtype.map(|d| if d == "u32" { sprs::config::Dtype::U32 } else { sprs::config::Dtype::U16 }),
                field,
                eos,
                limit,
                jobs: jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
            };
            tokenize::run(&inputs, options, std::io::stderr().is_terminal())
        }
        Command::Fit { file, only, out, format, set, project } => {
            let check = match project.options(&file, &set) {
                Ok(options) => options,
                Err(code) => return code,
            };
            let options = fit::Options { out: out.as_deref(), check: &check, only: only.as_deref(), format };
            fit::run(&file, options, std::io::stderr().is_terminal())
        }
        Command::Export { file, trials, to, out, set, project } => match project.options(&file, &set) {
            Ok(check) => {
                let common = trained::Common { file: &file, trials: &trials, out: out.as_deref(), check: &check };
                trained::export(common, &to, std::io::stderr().is_terminal())
            }
            Err(code) => code,
        },
        Command::Score { file, trial, text, out, format, per_token, compute, set, project } => {
            match project.options(&file, &set) {
                Ok(_) if per_token && format != Output::Json => usage_error("`--per-token` needs `--format json`"),
                Ok(check) => {
                    let trials = [trial];
                    let common = trained::Common { file: &file, trials: &trials, out: out.as_deref(), check: &check };
                    let compute = trained::Compute { backend: compute.backend, device: compute.device };
                    trained::score(common, &text, compute, format, per_token, std::io::stderr().is_terminal())
                }
                Err(code) => code,
            }
        }
        Command::Generate {
            file,
            trials,
            prompt,
            tokens,
            temperature,
            top_k,
            seed,
            out,
            format,
            compute,
            set,
            project,
        } => match project.options(&file, &set) {
            Ok(check) => {
                let common = trained::Common { file: &file, trials: &trials, out: out.as_deref(), check: &check };
                let compute = trained::Compute { backend: compute.backend, device: compute.device };
                let sampling = Sampling { tokens, temperature, top_k, seed };
                trained::generate(common, prompt.as_deref(), sampling, compute, format, std::io::stderr().is_terminal())
            }
            Err(code) => code,
        },
        Command::Explain { name, file, project } => {
            match file.as_deref().map(|f| project.options(f, &[])).transpose() {
                Ok(options) => explain::run(&name, file.as_deref().zip(options.as_ref())),
                Err(code) => code,
            }
        }
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

/// Checks and plans `path`, printing its diagnostics (one line each unless `format` is human).
/// `Err` is the exit code when there is no plan.
fn planned(
    path: &std::path::Path,
    options: &sprs::check::Options,
    format: Format,
    color: bool,
) -> Result<Planned, ExitCode> {
    let output = sprs::plan::plan_file_with(path, options)
        .map_err(|error| usage_error(&format!("cannot read `{}`: {error}", path.display())))?;
    let renderer = sprs::diagnostic::Renderer { sources: &output.sources, color, width: 100 };
    for diag in &output.diagnostics {
        match format {
            Format::Human => eprintln!("{}", renderer.human(diag)),
            Format::Short | Format::Json => eprintln!("{}", renderer.short(diag)),
        }
    }
    match (output.plan, output.checked) {
        (Some(plan), Some(checked)) => {
            Ok(Planned { plan, fits: checked.fits, sources: output.sources, access: output.access })
        }
        _ => Err(ExitCode::FAILURE),
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
}

/// A path as the workers of a submission see it: absolute.
fn absolute(path: &std::path::Path) -> String {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}

/// Prints a diagnostic that has no place in a source file (a corpus, a cluster):
/// `error[E0701]: message`, then its help.
fn print_error(error: &dyn miette::Diagnostic) {
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

/// The `s` of a plural, for counts in messages.
fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {}", sprs::escape::controls(message));
    ExitCode::from(2)
}
