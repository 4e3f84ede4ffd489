//! How a sweep is run: which trials (`--only`, `--shard`), how many side by side (`--jobs`), on
//! what, and how often a running trial saves its state.

use std::str::FromStr;
use std::time::Duration;

use super::Stop;

use crate::train::backend::{Backend, Devices, Target};

/// The choices of `sprs run`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only this train, sweep or trial (by name).
    pub only: Option<String>,
    /// `--shard I/N`: only the trials of one shard.
    pub shard: Option<Shard>,
    /// Trials trained side by side; `None` chooses (see [`Jobs::choose`]).
    pub jobs: Option<usize>,
    /// The Burn backend the trials train with.
    pub backend: Backend,
    /// The devices within the backend: trial slots go round them.
    pub devices: Devices,
    /// How often a running trial saves a checkpoint.
    pub checkpoint_every: Duration,
    /// Whether finished trials keep their weights (`--no-weights` turns it off).
    pub keep_weights: bool,
    /// The cores the trials share (default: the machine's; a Slurm worker's allocation).
    pub cores: Option<usize>,
    /// When asked, running trials checkpoint and no trial starts (see [`Stop`]).
    pub stop: Stop,
}

/// `--shard I/N`: the trials whose position in the file's plan is I-1 modulo N. Positions are
/// stable for a given file and `--set`, so N machines given 1/N ... N/N cover every trial once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// I, from 1.
    pub index: usize,
    /// N.
    pub count: usize,
}

impl Shard {
    /// Whether the trial at `position` in the plan (from 0) is this shard's.
    pub fn takes(self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let usage = || format!("`{text}` is not a shard: write I/N with 1 <= I <= N, as in `--shard 2/4`");
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let index: usize = index.trim().parse().map_err(|_| usage())?;
        let count: usize = count.trim().parse().map_err(|_| usage())?;
        if index == 0 || index > count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

/// How trials share the machine: `jobs` trials at once, each with `threads` compute threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jobs {
    /// Trials trained at once.
    pub jobs: usize,
    /// Compute threads per trial.
    pub threads: usize,
}

impl Jobs {
    /// With the pure-Rust backends on the CPU, one trial per core by default: the toy models of a
    /// laptop sweep keep one core busy each and gain little from a second (measured: 95 ms a step
    /// at width 80 on one thread, 90 ms on two), so trials side by side finish sooner than trials
    /// one after another with every thread. LibTorch keeps its own threads, and an accelerator
    /// its own queue: there, one trial at a time unless asked.
    /// On several GPUs, one trial per GPU.
    pub fn choose(asked: Option<usize>, pending: usize, cores: usize, backend: Backend, devices: &Devices) -> Jobs {
        let jobs = match (asked, backend, devices.targets()) {
            (Some(jobs), ..) => jobs,
            (None, Backend::Flex | Backend::Ndarray, [Target::Cpu]) => cores,
            (None, _, targets) => targets.len(),
        };
        let jobs = jobs.clamp(1, pending.max(1));
        Jobs { jobs, threads: (cores / jobs).max(1) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_cover_every_position_once() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "1", "a/b", "1/0", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let shards: Vec<Shard> = (1..=3).map(|i| Shard { index: i, count: 3 }).collect();
        for position in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.takes(position)).count(), 1);
        }
    }

    #[test]
    fn jobs_divide_the_cores() {
        let (flex, tch, cpu) = (Backend::Flex, Backend::Tch, &Devices::one(Target::Cpu));
        assert_eq!(Jobs::choose(None, 24, 2, flex, cpu), Jobs { jobs: 2, threads: 1 });
        assert_eq!(Jobs::choose(None, 1, 16, flex, cpu), Jobs { jobs: 1, threads: 16 });
        assert_eq!(Jobs::choose(Some(4), 24, 16, flex, cpu), Jobs { jobs: 4, threads: 4 });
        assert_eq!(Jobs::choose(None, 24, 16, tch, &Devices::one(Target::Cuda(0))), Jobs { jobs: 1, threads: 16 });
        assert_eq!(Jobs::choose(None, 24, 16, tch, cpu), Jobs { jobs: 1, threads: 16 });
        assert_eq!(Jobs::choose(Some(0), 24, 2, flex, cpu), Jobs { jobs: 1, threads: 2 });
        assert_eq!(Jobs::choose(Some(8), 24, 2, flex, cpu), Jobs { jobs: 8, threads: 1 });
        // Four GPUs: a trial on each, the cores shared between them; fewer trials, fewer slots.
        let four: Devices = "cuda:0,cuda:1,cuda:2,cuda:3".parse().unwrap();
        assert_eq!(Jobs::choose(None, 24, 16, tch, &four), Jobs { jobs: 4, threads: 4 });
        assert_eq!(Jobs::choose(None, 2, 16, tch, &four), Jobs { jobs: 2, threads: 8 });
    }
}
