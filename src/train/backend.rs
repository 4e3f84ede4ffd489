//! The one place that maps `--backend flex|ndarray|tch` to a Burn device. Models, masks and the
//! training loop are written once; the device picks the backend at run time.

use burn::tensor::Device;

/// A backend this build can run, by its `--backend` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Flex,
    Ndarray,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
        }
    }

    /// The backends compiled into this build, default first.
    pub fn available() -> Vec<Backend> {
        let mut out = Vec::new();
        if cfg!(feature = "flex") {
            out.push(Backend::Flex);
        }
        if cfg!(feature = "ndarray") {
            out.push(Backend::Ndarray);
        }
        out
    }

    /// The device of this backend, or why it is not in this build.
    pub fn device(self) -> Result<Device, String> {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            Backend::Ndarray => Ok(Device::ndarray()),
            #[allow(unreachable_patterns)]
            other => Err(format!(
                "this build of sprs has no `{}` backend; rebuild with `--features {}`",
                other.name(),
                other.name()
            )),
        }
    }
}

/// The default CPU device: the first backend of this build.
pub fn cpu() -> Device {
    // Invariant: Cargo.toml's default features include a CPU backend, and a build without any
    // fails here at first use with this message.
    Backend::available()
        .first()
        .and_then(|b| b.device().ok())
        .expect("sprs is built with a CPU backend (feature `flex` or `ndarray`)")
}
