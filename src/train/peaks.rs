//! Peak FLOP/s of GPUs, by name, for the model FLOP utilisation (MFU) in `speed.json`.
//!
//! sprs trains in f32, and LibTorch leaves TF32 off for f32 matrix products by default, so the
//! peak is each card's dense FP32 rate (not its tensor-core rate), from NVIDIA's datasheets.

/// A GPU's name, as `nvidia-smi` gives it, and its peak.
#[derive(Debug, Clone, PartialEq)]
pub struct Peak {
    /// The card, as `nvidia-smi --query-gpu=name` names it.
    pub name: String,
    /// Dense FP32 FLOP/s.
    pub flops_per_second: f64,
    /// Where the figure comes from.
    pub source: &'static str,
}

/// Name fragments, most specific first (`H100 NVL` before `H100`, `A100` before `A10`), with the
/// FP32 TFLOP/s and the datasheet.
const TABLE: &[(&str, f64, &str)] = &[
    ("GH200", 67.0, "NVIDIA GH200 Grace Hopper Superchip datasheet (FP32)"),
    ("H200 NVL", 60.0, "NVIDIA H200 Tensor Core GPU datasheet (FP32, H200 NVL)"),
    ("H200", 67.0, "NVIDIA H200 Tensor Core GPU datasheet (FP32, H200 SXM)"),
    ("H100 NVL", 60.0, "NVIDIA H100 Tensor Core GPU datasheet (FP32, H100 NVL)"),
    ("H100 PCIe", 51.0, "NVIDIA H100 Tensor Core GPU datasheet (FP32, H100 PCIe)"),
    ("H100", 67.0, "NVIDIA H100 Tensor Core GPU datasheet (FP32, H100 SXM)"),
    ("A100", 19.5, "NVIDIA A100 Tensor Core GPU datasheet (FP32)"),
    ("L40S", 91.6, "NVIDIA L40S GPU datasheet (FP32)"),
    ("L40", 90.5, "NVIDIA L40 GPU datasheet (FP32)"),
    ("L4", 30.3, "NVIDIA L4 Tensor Core GPU datasheet (FP32)"),
    ("A10", 31.2, "NVIDIA A10 Tensor Core GPU datasheet (FP32)"),
    ("RTX 4090", 82.6, "NVIDIA Ada Lovelace architecture whitepaper (RTX 4090, FP32)"),
    ("V100", 15.7, "NVIDIA V100 Tensor Core GPU datasheet (FP32, SXM2)"),
];

/// The peak of the card called `name`, if the table has it.
pub fn by_name(name: &str) -> Option<Peak> {
    TABLE.iter().find(|(fragment, _, _)| name.contains(fragment)).map(|&(_, tflops, source)| Peak {
        name: name.to_string(),
        flops_per_second: tflops * 1e12,
        source,
    })
}

/// The peak of the CUDA device a trial trains on; `None` on the CPU, or where `nvidia-smi`
/// cannot name the card or the table does not know it.
pub fn of(device: &burn::tensor::Device) -> Option<Peak> {
    by_name(&cuda_name(cuda_index(device)?)?)
}

// Burn 0.22 deprecates burn-tch in favour of CubeCL; it is still this version's GPU backend.
#[cfg(feature = "tch")]
#[allow(deprecated)]
fn cuda_index(device: &burn::tensor::Device) -> Option<usize> {
    use burn::backend::libtorch::LibTorchDevice;
    use burn::backend::DispatchDevice;
    let device = device.clone().inner();
    match device.as_dispatch() {
        DispatchDevice::LibTorch(LibTorchDevice::Cuda(index)) => Some(*index),
        _ => None,
    }
}

#[cfg(not(feature = "tch"))]
fn cuda_index(_: &burn::tensor::Device) -> Option<usize> {
    None
}

/// The card's name from `nvidia-smi`.
fn cuda_name(index: usize) -> Option<String> {
    let output = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name", "--format=csv,noheader", "-i", &index.to_string()])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let name = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_name_wins() {
        let peak = |name| by_name(name).map(|p| p.flops_per_second / 1e12);
        assert_eq!(peak("NVIDIA H100 80GB HBM3"), Some(67.0));
        assert_eq!(peak("NVIDIA H100 PCIe"), Some(51.0));
        assert_eq!(peak("NVIDIA H100 NVL"), Some(60.0));
        assert_eq!(peak("NVIDIA H200"), Some(67.0));
        assert_eq!(peak("NVIDIA A100-SXM4-80GB"), Some(19.5));
        assert_eq!(peak("NVIDIA A10"), Some(31.2));
        assert_eq!(peak("NVIDIA L40S"), Some(91.6));
        assert_eq!(peak("NVIDIA L4"), Some(30.3));
        assert_eq!(peak("Tesla T4"), None);
    }
}
