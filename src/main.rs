//! The `sprs` command line: parses arguments and hands each subcommand to `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// The checker recurses over expressions and reference chains, both bounded (see
/// `syntax::MAX_DEPTH` and the checker's chain limit); a roomy stack keeps a margin on every
/// platform, whatever the default main-thread stack is.
const STACK_SIZE: usize = 64 * 1024 * 1024;

fn main() -> ExitCode {
    // Output piped into `head` ends the process quietly, as for any Unix tool, rather than
    // failing a `println!` (Rust ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    std::thread::Builder::new()
        .name("sprs".into())
        .stack_size(STACK_SIZE)
        .spawn(move || cli::run(args))
        .and_then(|handle| handle.join().map_err(|_| std::io::Error::other("the sprs thread panicked")))
        .unwrap_or_else(|error| {
            eprintln!("error: {error}");
            ExitCode::from(101)
        })
}
