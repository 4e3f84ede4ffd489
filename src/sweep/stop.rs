//! Stopping a sweep early without losing work: when a stop is requested (a signal, for the CLI),
//! every running trial saves a checkpoint at the end of the step it is taking, releases its
//! claim, and no trial starts. The next `sprs run` continues each from its checkpoint, to the
//! result an uninterrupted run has.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};

/// A request to stop, shared between whoever asks (a signal handler) and the trials that heed it.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    /// The signal that asked, or 0.
    signal: Arc<AtomicUsize>,
}

impl Stop {
    /// A stop nobody has asked for yet.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// A stop that SIGINT, SIGTERM and SIGUSR1 request (Ctrl-C; `scancel` or a preemption; the
    /// signal Slurm sends before a time limit). A second SIGINT ends the process at once
    /// (exit 130), for a user who does not want to wait for the step to end.
    pub fn on_signals() -> io::Result<Stop> {
        let stop = Stop::new();
        let interrupted = Arc::new(AtomicBool::new(false));
        // Registered first, so that the first SIGINT only sets the flag the second one checks.
        signal_hook::flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&interrupted))?;
        signal_hook::flag::register(SIGINT, interrupted)?;
        for signal in [SIGINT, SIGTERM, SIGUSR1] {
            signal_hook::flag::register_usize(signal, Arc::clone(&stop.signal), signal as usize)?;
        }
        Ok(stop)
    }

    /// Asks every trial to stop, as `signal` would.
    pub fn request(&self, signal: i32) {
        self.signal.store(signal.max(1) as usize, Ordering::SeqCst);
    }

    /// The signal that asked for a stop, if one did.
    pub fn requested(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal as i32),
        }
    }

    /// The exit code of a process stopped this way: [`REQUEUE`] after SIGUSR1, the signal Slurm
    /// sends before a time limit (`--signal`), which the job script reads as "requeue me"; 128 +
    /// the signal after SIGINT (130, Ctrl-C) and SIGTERM (143, `scancel`, or a preemption that
    /// Slurm requeues itself), as shells report them, so that cancelling a job does not bring it
    /// back.
    pub fn exit_code(&self) -> Option<u8> {
        self.requested().map(|signal| if signal == SIGUSR1 { REQUEUE } else { (128 + signal.clamp(0, 127)) as u8 })
    }
}

/// The exit code of a run stopped by SIGUSR1 with its trials checkpointed (75, `EX_TEMPFAIL`:
/// try again later).
pub const REQUEUE: u8 = 75;

/// The name of a signal a stop can come from.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGUSR1 => "SIGUSR1",
        _ => "a stop request",
    }
}
