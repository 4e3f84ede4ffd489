//! The `sprs` command line: parses arguments and hands each subcommand to `cli/`.

mod cli;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

/// The checker recurses over expressions and reference chains, both bounded (see
/// `syntax::MAX_DEPTH` and the checker's chain limit); a roomy stack keeps a margin on every
/// platform, whatever the default main-thread stack is.
const STACK_SIZE: usize = 64 * 1024 * 1024;

/// Set when standard output could not be written (a full disk, `> /dev/full`): the command ends
/// with one error line and exit status 1, not a panic's report.
static OUTPUT_FAILED: AtomicBool = AtomicBool::new(false);

/// `print!` panics when standard output cannot be written; that one panic is reported as the
/// error it is. Every other panic keeps the default report.
fn report_output_failures() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message =
            payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied());
        match message.and_then(|m| m.strip_prefix("failed printing to stdout: ")) {
            Some(reason) => {
                OUTPUT_FAILED.store(true, Ordering::SeqCst);
                eprintln!("error: cannot write to standard output: {reason}");
            }
            None => default(info),
        }
    }));
}

fn main() -> ExitCode {
    // Output piped into `head` ends the process quietly, as for any Unix tool, rather than
    // failing a `println!` (Rust ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    report_output_failures();
    let args = cli::Cli::parse();
    std::thread::Builder::new()
        .name("sprs".into())
        .stack_size(STACK_SIZE)
        .spawn(move || cli::run(args))
        .and_then(|handle| handle.join().map_err(|_| std::io::Error::other("the sprs thread panicked")))
        .unwrap_or_else(|error| {
            if OUTPUT_FAILED.load(Ordering::SeqCst) {
                return ExitCode::from(1);
            }
            eprintln!("error: {error}");
            ExitCode::from(101)
        })
}
