//! The one place that maps `--backend flex|ndarray|tch --device cpu|cuda:N` to a Burn device.
//! Models, masks and the training loop are written once; the device picks the backend at run time.

use std::fmt;
use std::str::FromStr;

/// The device a backend trains on (one type for every backend: Burn's dispatch device).
pub use burn::tensor::Device;

/// A backend, by its `--backend` name. Each is a cargo feature; `flex` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Burn's embedded pure-Rust CPU backend.
    Flex,
    /// Burn's ndarray CPU backend, kept for comparison.
    Ndarray,
    /// LibTorch through burn-tch: CPU or CUDA (see the README for its setup).
    Tch,
}

/// Where the backend runs, by its `--device` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// The CPU.
    #[default]
    Cpu,
    /// The CUDA device with this index.
    Cuda(usize),
}

impl Backend {
    /// Every backend, in the order `--backend` lists them.
    pub const ALL: [Backend; 3] = [Backend::Flex, Backend::Ndarray, Backend::Tch];

    /// The backend's name, as `--backend` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Tch => "tch",
        }
    }

    /// Whether this build has the backend.
    pub fn built(self) -> bool {
        match self {
            Backend::Flex => cfg!(feature = "flex"),
            Backend::Ndarray => cfg!(feature = "ndarray"),
            Backend::Tch => cfg!(feature = "tch"),
        }
    }

    /// The backends compiled into this build, default first.
    pub fn available() -> Vec<Backend> {
        Self::ALL.into_iter().filter(|b| b.built()).collect()
    }

    /// The device of this backend on `target`, or why this build cannot give it.
    // Burn 0.22 deprecates ndarray and tch in favour of flex and CubeCL; both are still the
    // comparison and GPU backends of this version.
    #[allow(deprecated)]
    pub fn device(self, target: Target) -> Result<Device, String> {
        if !self.built() {
            return Err(format!("this build of sprs has no `{0}` backend; rebuild with `--features {0}`", self.name()));
        }
        match (self, target) {
            #[cfg(feature = "flex")]
            (Backend::Flex, Target::Cpu) => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            (Backend::Ndarray, Target::Cpu) => Ok(Device::ndarray()),
            #[cfg(feature = "tch")]
            (Backend::Tch, Target::Cpu) => Ok(Device::libtorch()),
            #[cfg(feature = "tch")]
            (Backend::Tch, Target::Cuda(index)) => Ok(Device::libtorch_cuda(index)),
            (backend, target) => Err(format!(
                "the `{}` backend runs on the CPU only, not on `{target}`; use `--backend tch`",
                backend.name()
            )),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| format!("unknown backend `{s}`; expected one of: flex, ndarray, tch"))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Cpu => f.write_str("cpu"),
            Target::Cuda(index) => write!(f, "cuda:{index}"),
        }
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Target::Cpu),
            "cuda" => Ok(Target::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Target::Cuda)
                .ok_or_else(|| format!("unknown device `{s}`; expected `cpu`, `cuda` or `cuda:N`")),
        }
    }
}

/// The default CPU device: the first backend of this build.
pub fn cpu() -> Device {
    // Invariant: Cargo.toml's default features include a CPU backend, and a build without any
    // fails here at first use with this message.
    Backend::available()
        .first()
        .and_then(|b| b.device(Target::Cpu).ok())
        .expect("sprs is built with a backend (feature `flex`, `ndarray` or `tch`)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for backend in Backend::ALL {
            assert_eq!(backend.name().parse::<Backend>(), Ok(backend));
        }
        for target in [Target::Cpu, Target::Cuda(0), Target::Cuda(3)] {
            assert_eq!(target.to_string().parse::<Target>(), Ok(target));
        }
        assert_eq!("cuda".parse::<Target>(), Ok(Target::Cuda(0)));
        assert!("gpu".parse::<Target>().is_err());
        assert!("cuda:x".parse::<Target>().is_err());
        assert!("torch".parse::<Backend>().is_err());
    }

    #[test]
    fn cpu_backends_refuse_cuda() {
        let error = Backend::Flex.device(Target::Cuda(0)).unwrap_err();
        assert!(error.contains("CPU only") || error.contains("no `flex`"), "{error}");
    }
}
