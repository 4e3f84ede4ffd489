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
        keep_freed_memory();
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

/// `--device`: one device (`cpu`, `cuda:1`), a list (`cuda:0,cuda:1`), or `cuda:all`, the GPUs
/// this process sees. With several, trials train side by side, one per device by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Devices(Vec<Target>);

impl Devices {
    /// One device.
    pub fn one(target: Target) -> Devices {
        Devices(vec![target])
    }

    /// The devices, in the order given (never empty).
    pub fn targets(&self) -> &[Target] {
        &self.0
    }

    /// Whether the devices are the CPU.
    pub fn is_cpu(&self) -> bool {
        self.0 == [Target::Cpu]
    }

    /// The device of the `pool`-th trial slot: slots go round the devices in order, so `--jobs`
    /// equal to the number of devices puts one trial on each.
    pub fn of_slot(&self, pool: usize) -> Target {
        self.0[pool % self.0.len()]
    }

    /// `cuda:all`: the GPUs this process sees. `CUDA_VISIBLE_DEVICES` (which Slurm sets to a
    /// job's GPUs) renumbers them from 0; without it, the NVIDIA driver's list of GPUs.
    pub fn all_cuda(visible: Option<&str>, driver_gpus: usize) -> Result<Devices, String> {
        let count = match visible {
            Some(list) => list.split(',').filter(|d| !d.trim().is_empty() && d.trim() != "-1").count(),
            None => driver_gpus,
        };
        if count == 0 {
            return Err(
                "`cuda:all` found no GPU (CUDA_VISIBLE_DEVICES is empty or the NVIDIA driver lists none)".into()
            );
        }
        Ok(Devices((0..count).map(Target::Cuda).collect()))
    }
}

impl Default for Devices {
    fn default() -> Devices {
        Devices::one(Target::Cpu)
    }
}

impl fmt::Display for Devices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.0.iter().map(Target::to_string).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for Devices {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim() == "cuda:all" {
            let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
            let driver = std::fs::read_dir("/proc/driver/nvidia/gpus").map_or(0, |entries| entries.count());
            return Devices::all_cuda(visible.as_deref(), driver);
        }
        let targets = s.split(',').map(|t| t.trim().parse()).collect::<Result<Vec<Target>, String>>()?;
        if targets.len() > 1 && targets.contains(&Target::Cpu) {
            return Err(format!("`{s}` mixes the CPU with GPUs; give `cpu` alone or a list of `cuda:N`"));
        }
        let mut seen = targets.clone();
        seen.sort_by_key(|t| t.to_string());
        seen.dedup();
        if seen.len() != targets.len() {
            return Err(format!("`{s}` names a device twice"));
        }
        Ok(Devices(targets))
    }
}

/// Has glibc's allocator keep the memory a training step frees, for the next step to reuse.
///
/// A step allocates and frees the same few hundred tensors every time. By default glibc maps
/// every block above 128 KiB (raised as blocks are freed, up to 32 MiB) afresh and unmaps it when
/// it is freed, and trims the top of its heap: every step then pays a page fault per 4 KiB page
/// of its activations. Serving blocks up to 32 MiB from the heap and keeping up to 1 GiB of free
/// heap made steps of `cargo bench --bench train` 20% faster, at the cost of that freed memory
/// staying with the process. Other platforms' allocators are left as they are.
fn keep_freed_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only sets allocator parameters; it is called once, before training.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
    });
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

    #[test]
    fn devices_parse_lists_and_all_gpus() {
        assert_eq!("cpu".parse::<Devices>(), Ok(Devices::one(Target::Cpu)));
        assert_eq!("cuda:0,cuda:1".parse::<Devices>().unwrap().targets(), [Target::Cuda(0), Target::Cuda(1)]);
        assert!("cpu,cuda:0".parse::<Devices>().is_err());
        assert!("cuda:0,cuda:0".parse::<Devices>().is_err());
        assert!("cuda:x".parse::<Devices>().is_err());
        // Slurm gives a job GPUs 2 and 5: inside it they are cuda:0 and cuda:1.
        let slurm = Devices::all_cuda(Some("2,5"), 8).unwrap();
        assert_eq!(slurm.targets(), [Target::Cuda(0), Target::Cuda(1)]);
        assert_eq!(Devices::all_cuda(None, 4).unwrap().targets().len(), 4);
        assert!(Devices::all_cuda(Some(""), 4).is_err());
        assert!(Devices::all_cuda(None, 0).is_err());
    }

    #[test]
    fn trial_slots_go_round_the_devices() {
        let two: Devices = "cuda:0,cuda:1".parse().unwrap();
        let slots: Vec<Target> = (0..4).map(|slot| two.of_slot(slot)).collect();
        assert_eq!(slots, [Target::Cuda(0), Target::Cuda(1), Target::Cuda(0), Target::Cuda(1)]);
        assert_eq!(Devices::default().of_slot(7), Target::Cpu);
    }
}
