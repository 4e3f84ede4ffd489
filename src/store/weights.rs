//! `model.safetensors`: a finished trial's final weights, in its folder. Every tensor of
//! [`crate::plan::tensors`] under its name as little-endian `f32` (pruned weights are exact
//! zeros), with the format, the trial's id and the layout as metadata. Written atomically without
//! following links ([`crate::fs::write_atomic_with`]); read back only when the file holds exactly the
//! model's tensors, shapes and trial, so that a damaged, planted or copied file is refused before
//! anything is made of it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use safetensors::tensor::Metadata;
use safetensors::Dtype;

use crate::config::ModelConfig;
use crate::plan::{tensors, TensorSpec};

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

/// The metadata of trial `id`'s weights file, with the tokenizer its text goes through
/// (`bytes`, `none` for data without text, `sha256:HEX` of the `tokenizer.json` beside the
/// weights, or `unavailable: why`).
pub fn metadata(id: &str, model: &ModelConfig, tokenizer: &str) -> BTreeMap<String, String> {
    let arch = serde_json::to_value(model.arch).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    BTreeMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("trial".to_string(), id.to_string()),
        ("arch".to_string(), arch),
        ("layout".to_string(), LAYOUT.to_string()),
        ("tokenizer".to_string(), tokenizer.to_string()),
    ])
}

/// Bytes of the weights file of trial `id` with `model` (with a kept tokenizer): what `sprs plan` shows.
pub fn file_bytes(id: &str, model: &ModelConfig) -> u64 {
    let specs = tensors(model);
    let names: Vec<(String, Vec<usize>)> =
        specs.iter().map(|t| (t.name(), t.shape.iter().map(|&d| d as usize).collect())).collect();
    // A kept `tokenizer.json` is named by its hash, the longest form of `tokenizer`.
    let tokenizer = format!("sha256:{}", "0".repeat(64));
    let header = header(&metadata(id, model, &tokenizer), names.iter().map(|(n, s)| (n.as_str(), s.as_slice())));
    8 + header.len() as u64 + 4 * specs.iter().map(|t| t.size()).sum::<u64>()
}

/// Writes `tensors` with `metadata` to `path` as safetensors, atomically and without following a
/// link there.
pub fn write(path: &Path, metadata: &BTreeMap<String, String>, tensors: &[Tensor]) -> io::Result<()> {
    let header = header(metadata, tensors.iter().map(|t| (t.name.as_str(), t.shape.as_slice())));
    crate::fs::write_atomic_with(path, |out| {
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

/// The safetensors header: a JSON object of the metadata and every tensor's dtype, shape and
/// byte range, in the order given; padded with spaces to a multiple of 8 bytes. Written out
/// directly (the planner sizes every trial's file with it).
fn header<'a>(metadata: &BTreeMap<String, String>, tensors: impl Iterator<Item = (&'a str, &'a [usize])>) -> Vec<u8> {
    use std::fmt::Write as _;
    let quoted = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let entries: Vec<String> = metadata.iter().map(|(k, v)| format!("{}:{}", quoted(k), quoted(v))).collect();
    let mut out = format!("{{\"__metadata__\":{{{}}}", entries.join(","));
    let mut offset = 0usize;
    for (name, shape) in tensors {
        let end = offset + 4 * shape.iter().product::<usize>();
        let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
        let _ = write!(
            out,
            ",{}:{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            quoted(name),
            dims.join(",")
        );
        offset = end;
    }
    out.push('}');
    let mut bytes = out.into_bytes();
    bytes.resize(bytes.len().next_multiple_of(8), b' ');
    bytes
}

/// A trial's weights file, opened and checked: its metadata and where each tensor is.
pub struct Opened {
    file: File,
    /// The metadata: `format`, `trial`, `arch`, `layout` and `tokenizer`.
    pub metadata: BTreeMap<String, String>,
    /// The model's tensors in [`crate::plan::tensors`]'s order, with the file offset of each.
    tensors: Vec<(TensorSpec, u64)>,
}

/// Opens the weights of trial `id` with `model` at `path` and checks everything but the values:
/// it must be a regular file (not a link), no larger than those tensors need (so a planted file
/// is refused before anything is read), safetensors, and its format, trial, names, dtypes, shapes
/// and byte ranges must be this trial's. Nothing is mapped: a file cut short while it is read
/// gives an error.
pub fn open(path: &Path, id: &str, model: &ModelConfig) -> Result<Opened, String> {
    let specs = tensors(model);
    let data: u64 = 4 * specs.iter().map(|t| t.size()).sum::<u64>();
    let most_header: u64 = 4096 + specs.iter().map(|t| t.name().len() as u64 + HEADER_PER_TENSOR).sum::<u64>();
    let mut file = crate::fs::open_regular(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len > 8 + most_header + data {
        return Err(format!("it has {len} bytes, more than this trial's {data} bytes of weights need"));
    }
    let mut head = [0u8; 8];
    file.read_exact(&mut head).map_err(|_| "it is not a safetensors file: it is too short".to_string())?;
    let n = u64::from_le_bytes(head);
    if n > most_header || 8 + n + data != len {
        return Err(format!(
            "it is damaged: a header of {n} bytes and {data} bytes of weights are not its {len} bytes"
        ));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(|e| format!("it is damaged: {e}"))?;
    let parsed: Metadata = serde_json::from_slice(&header).map_err(|e| format!("it is not a safetensors file: {e}"))?;
    let metadata: BTreeMap<String, String> = parsed.metadata().clone().unwrap_or_default().into_iter().collect();
    if metadata.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(format!("it is not a weights file of this version of sprs (`format` is not `{FORMAT}`)"));
    }
    if metadata.get("trial").map(String::as_str) != Some(id) {
        let other = crate::escape::controls(metadata.get("trial").map_or("none", String::as_str)).into_owned();
        return Err(format!("it holds the weights of trial `{other}`"));
    }
    if parsed.tensors().len() != specs.len() {
        return Err(format!("it holds {} tensors where the model has {}", parsed.tensors().len(), specs.len()));
    }
    // The crate has checked that the byte ranges tile the data, each as long as its dtype and
    // shape need; here each tensor must be the model's.
    let mut at = Vec::with_capacity(specs.len());
    for spec in specs {
        let name = spec.name();
        let info = parsed.info(&name).ok_or_else(|| format!("it has no tensor `{name}`"))?;
        let shape: Vec<usize> = spec.shape.iter().map(|&d| d as usize).collect();
        let (start, end) = info.data_offsets;
        if info.dtype != Dtype::F32 || info.shape != shape || end.checked_sub(start) != Some(4 * spec.size() as usize) {
            return Err(format!(
                "its `{name}` is {:?} {:?}, where the model's is F32 {shape:?}",
                info.dtype, info.shape
            ));
        }
        at.push((spec, 8 + n + start as u64));
    }
    Ok(Opened { file, metadata, tensors: at })
}

impl Opened {
    /// The tensors, read one at a time; a value that is not finite is refused.
    pub fn tensors(mut self) -> Result<Vec<Tensor>, String> {
        let mut out = Vec::with_capacity(self.tensors.len());
        for (spec, offset) in std::mem::take(&mut self.tensors) {
            let mut bytes = vec![0u8; 4 * spec.size() as usize];
            self.file.seek(SeekFrom::Start(offset)).map_err(|e| e.to_string())?;
            self.file.read_exact(&mut bytes).map_err(|e| format!("it is damaged: {e}"))?;
            let values: Vec<f32> =
                bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            let name = spec.name();
            if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
                return Err(format!("its `{name}` holds {bad}"));
            }
            out.push(Tensor { name, shape: spec.shape.iter().map(|&d| d as usize).collect(), values });
        }
        Ok(out)
    }
}

/// The weights of trial `id` with `model` from `path`, in [`crate::plan::tensors`]'s order (see
/// [`open`]).
pub fn read(path: &Path, id: &str, model: &ModelConfig) -> Result<Vec<Tensor>, String> {
    open(path, id, model)?.tensors()
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
        let tokenizer = format!("sha256:{}", "ab".repeat(32));
        write(&path, &metadata("abc", &model, &tokenizer), &written).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, file_bytes("abc", &model));
        let safetensors::SafeTensors { .. } = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let parsed = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(parsed.len(), written.len());
        let embedding = parsed.tensor("embedding.weight").unwrap();
        assert_eq!(embedding.shape(), [6, 4]);
        assert_eq!(&embedding.data()[4..8], 0.001f32.to_le_bytes());
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(header.metadata().as_ref().unwrap()["trial"], "abc");
        assert_eq!(read(&path, "abc", &model).unwrap(), written);
        assert_eq!(open(&path, "abc", &model).unwrap().metadata["tokenizer"], tokenizer);
    }

    #[test]
    fn refuses_another_trial_another_shape_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let model = model();
        write(&path, &metadata("abc", &model, "bytes"), &values(&model)).unwrap();
        assert!(read(&path, "xyz", &model).unwrap_err().contains("trial `abc`"));
        let wider = ModelConfig { width: 8, ..model.clone() };
        assert!(read(&path, "abc", &wider).is_err());
        let deeper = ModelConfig { depth: 2, ..model.clone() };
        assert!(read(&path, "abc", &deeper).is_err());
        #[cfg(unix)]
        {
            let link = dir.path().join("link.safetensors");
            std::os::unix::fs::symlink(&path, &link).unwrap();
            assert!(read(&link, "abc", &model).is_err());
        }
        // A file larger than the weights need is refused before it is read.
        let big = dir.path().join("big.safetensors");
        std::fs::write(&big, vec![0u8; 1 << 20]).unwrap();
        assert!(read(&big, "abc", &model).unwrap_err().contains("more than"));
        // Cut short, or ending with bytes to spare.
        let bytes = std::fs::read(&path).unwrap();
        let cut = dir.path().join("cut.safetensors");
        std::fs::write(&cut, &bytes[..bytes.len() - 4]).unwrap();
        assert!(read(&cut, "abc", &model).unwrap_err().contains("damaged"));
        std::fs::write(&cut, [bytes.as_slice(), &[0; 4]].concat()).unwrap();
        assert!(read(&cut, "abc", &model).unwrap_err().contains("damaged"));
    }

    #[test]
    fn refuses_values_that_are_not_finite_and_ranges_that_do_not_tile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let model = model();
        let mut tensors = values(&model);
        tensors[2].values[1] = f32::NAN;
        write(&path, &metadata("abc", &model, "bytes"), &tensors).unwrap();
        assert!(read(&path, "abc", &model).unwrap_err().contains("NaN"));
        // Two tensors of the same size whose ranges are the same bytes (and the file as long as
        // it should be): refused though every size is right.
        let good = values(&model);
        write(&path, &metadata("abc", &model, "bytes"), &good).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
        let (q, k) =
            (header.find("blocks.0.attention.q.weight").unwrap(), header.find("blocks.0.attention.k.weight").unwrap());
        let offsets = |at: usize| {
            let start = header[at..].find("data_offsets").unwrap() + at;
            let end = header[start..].find(']').unwrap() + start + 1;
            header[start..end].to_string()
        };
        let forged = header.replacen(&offsets(k), &offsets(q), 1);
        let forged = format!("{forged:<width$}", width = n);
        assert_eq!(forged.len(), n);
        std::fs::write(&path, [&bytes[..8], forged.as_bytes(), &bytes[8 + n..]].concat()).unwrap();
        assert!(read(&path, "abc", &model).unwrap_err().contains("offset"), "{:?}", read(&path, "abc", &model).err());
    }
}
