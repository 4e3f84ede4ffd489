//! `model.safetensors`: a finished trial's final weights, in its folder. Every tensor of
//! [`crate::plan::tensors`] under its name as little-endian `f32` (pruned weights are exact
//! zeros), with the format, the trial's id and the layout as metadata. Written atomically without
//! following links ([`files::write_atomic_with`]); read back only when the file holds exactly the
//! model's tensors, shapes and trial, so that a damaged, planted or copied file is refused before
//! anything is made of it.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use serde_json::json;

use super::files;
use crate::config::ModelConfig;
use crate::plan::tensors;

/// The file's name in a trial's folder.
pub const FILE: &str = "model.safetensors";
/// The metadata key `format`'s value.
pub const FORMAT: &str = "sprs-weights 1";
/// How sprs lays its tensors out, as the metadata says it.
const LAYOUT: &str = "linear weights [in, out]; embeddings [rows, width]";
/// The most header bytes a file may have per tensor beyond the names it must hold.
const HEADER_PER_TENSOR: u64 = 256;

/// A named tensor of `f32` values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Its name in the file.
    pub name: String,
    /// Its dimensions.
    pub shape: Vec<usize>,
    /// `shape`'s product of values.
    pub values: Vec<f32>,
}

/// The metadata of a trial's weights file.
pub fn metadata(id: &str, model: &ModelConfig) -> BTreeMap<String, String> {
    let arch = serde_json::to_value(model.arch).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    BTreeMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("trial".to_string(), id.to_string()),
        ("arch".to_string(), arch),
        ("layout".to_string(), LAYOUT.to_string()),
    ])
}

/// Bytes of the weights file of trial `id` with `model`: what `sprs plan` shows.
pub fn file_bytes(id: &str, model: &ModelConfig) -> u64 {
    let specs = tensors(model);
    let names: Vec<(String, Vec<usize>)> =
        specs.iter().map(|t| (t.name(), t.shape.iter().map(|&d| d as usize).collect())).collect();
    let header = header(&metadata(id, model), names.iter().map(|(n, s)| (n.as_str(), s.as_slice())));
    8 + header.len() as u64 + 4 * specs.iter().map(|t| t.size()).sum::<u64>()
}

/// Writes `tensors` with `metadata` to `path` as safetensors, atomically and without following a
/// link there.
pub fn write(path: &Path, metadata: &BTreeMap<String, String>, tensors: &[Tensor]) -> io::Result<()> {
    let header = header(metadata, tensors.iter().map(|t| (t.name.as_str(), t.shape.as_slice())));
    files::write_atomic_with(path, |out| {
        out.write_all(&(header.len() as u64).to_le_bytes())?;
        out.write_all(&header)?;
        let mut bytes = Vec::with_capacity(1 << 16);
        for tensor in tensors {
            for chunk in tensor.values.chunks(1 << 14) {
                bytes.clear();
                bytes.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
                out.write_all(&bytes)?;
            }
        }
        Ok(())
    })
}

/// The safetensors header: a JSON object of every tensor's dtype, shape and byte range, in the
/// order given, and the metadata; padded with spaces to a multiple of 8 bytes.
fn header<'a>(metadata: &BTreeMap<String, String>, tensors: impl Iterator<Item = (&'a str, &'a [usize])>) -> Vec<u8> {
    let mut map = serde_json::Map::new();
    map.insert("__metadata__".into(), json!(metadata));
    let mut offset = 0usize;
    for (name, shape) in tensors {
        let end = offset + 4 * shape.iter().product::<usize>();
        map.insert(name.into(), json!({ "dtype": "F32", "shape": shape, "data_offsets": [offset, end] }));
        offset = end;
    }
    let mut bytes = serde_json::Value::Object(map).to_string().into_bytes();
    bytes.resize(bytes.len().next_multiple_of(8), b' ');
    bytes
}

/// The weights of trial `id` with `model` from `path`, in [`crate::plan::tensors`]'s order.
/// Refused, with why: a link or anything but a regular file, a file larger than those tensors
/// need, one that is not safetensors, or one whose format, trial, names, dtypes or shapes are not
/// this trial's.
pub fn read(path: &Path, id: &str, model: &ModelConfig) -> Result<Vec<Tensor>, String> {
    let specs = tensors(model);
    let data: u64 = 4 * specs.iter().map(|t| t.size()).sum::<u64>();
    let names: u64 = specs.iter().map(|t| t.name().len() as u64 + HEADER_PER_TENSOR).sum();
    let file = files::open_regular(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len > 8 + data + names + 4096 {
        return Err(format!("it has {len} bytes, more than this trial's {data} bytes of weights need"));
    }
    // SAFETY: the map is only read, and the file is the trial's own, which nothing rewrites while
    // it is read (a trial with weights is finished); one changed underneath gives wrong values or
    // an error, as for any reader of a changing file.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| e.to_string())?;
    let (_, header) = SafeTensors::read_metadata(&map).map_err(|e| format!("it is not a safetensors file: {e}"))?;
    let found = header.metadata().as_ref();
    let field = |key: &str| found.and_then(|m| m.get(key)).map(String::as_str);
    if field("format") != Some(FORMAT) {
        return Err(format!("it is not a weights file of this version of sprs (`format` is not `{FORMAT}`)"));
    }
    if field("trial") != Some(id) {
        let other = crate::escape::controls(field("trial").unwrap_or("none")).into_owned();
        return Err(format!("it holds the weights of trial `{other}`"));
    }
    let file = SafeTensors::deserialize(&map).map_err(|e| format!("it is damaged: {e}"))?;
    if file.len() != specs.len() {
        return Err(format!("it holds {} tensors where the model has {}", file.len(), specs.len()));
    }
    specs
        .iter()
        .map(|spec| {
            let name = spec.name();
            let view = file.tensor(&name).map_err(|_| format!("it has no tensor `{name}`"))?;
            let shape: Vec<usize> = spec.shape.iter().map(|&d| d as usize).collect();
            if view.dtype() != Dtype::F32 || view.shape() != shape.as_slice() {
                return Err(format!(
                    "its `{name}` is {:?} {:?}, where the model's is F32 {shape:?}",
                    view.dtype(),
                    view.shape()
                ));
            }
            let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            Ok(Tensor { name, shape, values })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Arch;

    fn model() -> ModelConfig {
        ModelConfig {
            arch: Arch::Gpt,
            width: 4,
            depth: 1,
            heads: 2,
            mlp: 8,
            vocab: 6,
            context: 3,
            tie_embeddings: true,
        }
    }

    fn values(model: &ModelConfig) -> Vec<Tensor> {
        tensors(model)
            .iter()
            .enumerate()
            .map(|(i, spec)| Tensor {
                name: spec.name(),
                shape: spec.shape.iter().map(|&d| d as usize).collect(),
                values: (0..spec.size()).map(|j| i as f32 + j as f32 / 1000.0).collect(),
            })
            .collect()
    }

    /// The file is what the `safetensors` crate reads, with the values, shapes and metadata
    /// written, and the planned size.
    #[test]
    fn round_trips_through_the_safetensors_crate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let model = model();
        let written = values(&model);
        write(&path, &metadata("abc", &model), &written).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, file_bytes("abc", &model));
        let parsed = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(parsed.len(), written.len());
        let embedding = parsed.tensor("embedding.weight").unwrap();
        assert_eq!(embedding.shape(), [6, 4]);
        assert_eq!(&embedding.data()[4..8], 0.001f32.to_le_bytes());
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(header.metadata().as_ref().unwrap()["trial"], "abc");
        assert_eq!(read(&path, "abc", &model).unwrap(), written);
    }

    #[test]
    fn refuses_another_trial_another_shape_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let model = model();
        write(&path, &metadata("abc", &model), &values(&model)).unwrap();
        assert!(read(&path, "xyz", &model).unwrap_err().contains("trial `abc`"));
        let wider = ModelConfig { width: 8, ..model.clone() };
        assert!(read(&path, "abc", &wider).is_err());
        let deeper = ModelConfig { depth: 2, ..model.clone() };
        assert!(read(&path, "abc", &deeper).unwrap_err().contains("tensors"));
        #[cfg(unix)]
        {
            let link = dir.path().join("link.safetensors");
            std::os::unix::fs::symlink(&path, &link).unwrap();
            assert!(read(&link, "abc", &model).is_err());
        }
        // A file larger than the weights need is refused before it is mapped.
        let big = dir.path().join("big.safetensors");
        std::fs::write(&big, vec![0u8; 1 << 20]).unwrap();
        assert!(read(&big, "abc", &model).unwrap_err().contains("more than"));
    }
}
