//! Running a file's trials elsewhere than in one `sprs run`: on a Slurm cluster ([`slurm`]), and
//! seeing where a results folder stands ([`status`]), whoever runs its trials.

pub mod slurm;
pub mod status;
