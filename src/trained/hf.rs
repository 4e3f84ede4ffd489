//! `sprs export`: a finished trial as a Hugging Face model folder that
//! `transformers.AutoModelForCausalLM.from_pretrained(DIR)` loads with no custom code: `llama` as
//! `LlamaForCausalLM`, `gpt` as `GPT2LMHeadModel` (every `gpt` maps exactly: LayerNorm with
//! a shift, exact GELU, learned positions, biases on every linear layer but the head).
//!
//! The folder holds `config.json` (every field that determines the function), `model.safetensors`
//! (Hugging Face's names and layouts), `generation_config.json`, the tokenizer
//! (`tokenizer.json`, `tokenizer_config.json`; none for data without text) and `sprs.json` (the
//! trial and its observables). Layouts: a linear weight that sprs keeps `[in, out]` is written
//! `[out, in]` for `nn.Linear` and as it is for GPT-2's `Conv1D` (whose `c_attn` is q, k and v
//! side by side). sprs's rotary encoding turns adjacent pairs of a head's dimensions (2i, 2i+1);
//! transformers' LLaMA turns dimension i with i + head_dim/2: the rows of q and k are permuted
//! within each head (as transformers' own conversion of Meta's LLaMA weights does), which leaves
//! every attention score unchanged.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{coder, finished, weights, TrainedError};
use crate::access::Access;
use crate::config::{Arch, ModelConfig, Source, NORM_EPS, ROPE_THETA};
use crate::data::text::Coder;
use crate::plan::PlannedTrial;
use crate::store::weights::{write as write_tensors, Tensor};
use crate::store::{Store, TrialResult};

/// One trial exported.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The trial's name.
    pub trial: String,
    /// Its model folder.
    pub dir: PathBuf,
    /// Bytes of its `model.safetensors`.
    pub bytes: u64,
    /// Whether the folder has a tokenizer (data of generated ids has none).
    pub tokenizer: bool,
}

/// Exports `trials` of the file `file` from `store` into `to`: the model folder itself for one
/// trial, one sub-folder per trial (named by its id) for several. Every trial is checked first
/// (finished, with weights that read whole and their tokenizer): nothing is written unless all
/// are. `to` may not lie inside the results folder, whose files an export would replace.
pub fn export(
    trials: &[&PlannedTrial],
    file: &Path,
    store: &Store,
    access: &Access,
    to: &Path,
) -> Result<Vec<Exported>, TrainedError> {
    let mut ready = Vec::new();
    for &trial in trials {
        let result = finished(store, trial)?;
        let coder = coder(store, trial)?;
        weights(store, trial)?;
        ready.push((trial, result, coder));
    }
    let output = |path: &Path| {
        let path = path.display().to_string();
        move |error| TrainedError::Output { path, error }
    };
    if inside(to, &store.root) {
        let error = std::io::Error::other("it is inside the results folder, whose files it would replace");
        return Err(output(to)(error));
    }
    if to.exists() && !to.is_dir() {
        return Err(output(to)(std::io::Error::other("it is not a folder")));
    }
    std::fs::create_dir_all(to).map_err(output(to))?;
    let many = trials.len() > 1;
    ready
        .into_iter()
        .map(|(trial, result, coder)| {
            // `to` is the user's choice (it may be a link); the folders sprs makes in it are not.
            let dir = if many { to.join(&trial.id) } else { to.to_path_buf() };
            if many {
                crate::fs::create_dir(&dir).map_err(output(&dir))?;
            }
            let folder = Folder { trial, result: &result, coder: coder.as_ref(), file, eos: eos(trial, access) };
            folder.write(store, &dir)
        })
        .collect()
}

/// What one trial's model folder is made of.
struct Folder<'a> {
    trial: &'a PlannedTrial,
    result: &'a TrialResult,
    coder: Option<&'a Coder>,
    /// The `.sprs` file, for `sprs.json`.
    file: &'a Path,
    eos: Option<u32>,
}

impl Folder<'_> {
    /// Writes the folder's files into `dir`, each atomically; an earlier export's tokenizer is
    /// removed when this model has none (it would be taken for this model's).
    fn write(&self, store: &Store, dir: &Path) -> Result<Exported, TrainedError> {
        let trial = self.trial;
        let output = |path: &Path| {
            let path = path.display().to_string();
            move |error| TrainedError::Output { path, error }
        };
        let tensors = hf_tensors(&trial.config.model, weights(store, trial)?)
            .map_err(|reason| TrainedError::BadWeights { trial: trial.name.clone(), reason })?;
        let safetensors = dir.join("model.safetensors");
        let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        write_tensors(&safetensors, &metadata, &tensors).map_err(output(&safetensors))?;
        let mut json_files = vec![
            ("config.json", config(&trial.config.model, self.eos)),
            ("generation_config.json", generation_config(self.eos)),
            ("sprs.json", about(trial, self.result, self.file)),
        ];
        match self.coder {
            Some(coder) => {
                let no = |reason| TrainedError::NoTokenizer { trial: trial.name.clone(), reason, help: None };
                json_files.push(("tokenizer.json", tokenizer_json(coder).map_err(no)?));
                json_files.push(("tokenizer_config.json", tokenizer_config(&trial.config.model)));
            }
            None => {
                for stale in ["tokenizer.json", "tokenizer_config.json"].map(|name| dir.join(name)) {
                    crate::fs::remove(&stale).map_err(output(&stale))?;
                }
            }
        }
        for (name, value) in json_files {
            let path = dir.join(name);
            let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
            text.push('\n');
            crate::fs::write_atomic(&path, text.as_bytes()).map_err(output(&path))?;
        }
        let bytes = std::fs::metadata(&safetensors).map_or(0, |m| m.len());
        Ok(Exported { trial: trial.name.clone(), dir: dir.to_path_buf(), bytes, tokenizer: self.coder.is_some() })
    }
}

/// Whether `path` (which need not exist yet) lies in the folder `root`, links resolved.
fn inside(path: &Path, root: &Path) -> bool {
    let Ok(root) = root.canonicalize() else { return false };
    // The nearest part of `path` that exists, resolved, with the rest after it.
    let mut existing = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name().map(|n| n.to_owned()), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return false,
        }
    }
    let Ok(resolved) = existing.canonicalize() else { return false };
    resolved.join(rest.iter().rev().collect::<PathBuf>()).starts_with(root)
}

/// The end-of-document id of a token file, from its manifest (`sprs tokenize --eos`).
fn eos(trial: &PlannedTrial, access: &Access) -> Option<u32> {
    let Source::Tokens { path, .. } = &trial.config.data.source else { return None };
    crate::data::tokenize::Manifest::read(access, &access.base().join(path)).ok()??.eos
}

/// `config.json`: the architecture and every field that determines its function.
fn config(model: &ModelConfig, eos: Option<u32>) -> serde_json::Value {
    let common = json!({
        "vocab_size": model.vocab,
        "tie_word_embeddings": model.tie_embeddings,
        "initializer_range": 0.02,
        "use_cache": true,
        "bos_token_id": null,
        "eos_token_id": eos,
        "pad_token_id": null,
        "torch_dtype": "float32",
    });
    let specific = match model.arch {
        Arch::Llama => json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": model.width,
            "intermediate_size": model.mlp,
            "num_hidden_layers": model.depth,
            "num_attention_heads": model.heads,
            "num_key_value_heads": model.heads,
            "head_dim": model.width / model.heads,
            "hidden_act": "silu",
            "max_position_embeddings": model.context,
            "rms_norm_eps": NORM_EPS,
            "rope_theta": ROPE_THETA,
            "rope_parameters": { "rope_type": "default", "rope_theta": ROPE_THETA },
            "rope_scaling": null,
            "attention_bias": false,
            "attention_dropout": 0.0,
            "mlp_bias": false,
            "pretraining_tp": 1,
        }),
        Arch::Gpt => json!({
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "n_embd": model.width,
            "n_layer": model.depth,
            "n_head": model.heads,
            "n_inner": model.mlp,
            "n_positions": model.context,
            "n_ctx": model.context,
            "activation_function": "gelu",
            "layer_norm_epsilon": NORM_EPS,
            "resid_pdrop": 0.0,
            "embd_pdrop": 0.0,
            "attn_pdrop": 0.0,
            "scale_attn_weights": true,
            "scale_attn_by_inverse_layer_idx": false,
            "reorder_and_upcast_attn": false,
        }),
    };
    merge(common, specific)
}

/// `generation_config.json`: `sprs generate`'s defaults (the length is left to `generate`'s
/// caller: a `max_length` here makes transformers warn at every `max_new_tokens`).
fn generation_config(eos: Option<u32>) -> serde_json::Value {
    json!({
        "do_sample": true,
        "temperature": super::Sampling::default().temperature,
        "top_k": super::Sampling::default().top_k,
        "bos_token_id": null,
        "eos_token_id": eos,
        "pad_token_id": null,
    })
}

/// `tokenizer_config.json`: the fast tokenizer of `tokenizer.json`, adding no special token.
fn tokenizer_config(model: &ModelConfig) -> serde_json::Value {
    json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": model.context,
        "clean_up_tokenization_spaces": false,
        "add_bos_token": false,
        "add_eos_token": false,
    })
}

fn tokenizer_json(coder: &Coder) -> Result<serde_json::Value, String> {
    serde_json::from_str(&coder.json()?).map_err(|e| e.to_string())
}

/// `sprs.json`: which trial this is, and what it measured.
fn about(trial: &PlannedTrial, result: &TrialResult, file: &Path) -> serde_json::Value {
    json!({
        "id": trial.id,
        "name": trial.name,
        "file": file.display().to_string(),
        "sprs_version": env!("CARGO_PKG_VERSION"),
        "S": result.observables.s,
        "N": result.observables.n,
        "N_avg": result.observables.n_avg,
        "N_final": result.observables.n_final,
        "L": result.l,
        "steps": trial.steps,
    })
}

fn merge(mut a: serde_json::Value, b: serde_json::Value) -> serde_json::Value {
    if let (Some(a), serde_json::Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// The trial's tensors (as [`crate::store::weights::read`] gives them) under Hugging Face's names
/// and layouts, in the order transformers lists them.
fn hf_tensors(model: &ModelConfig, tensors: Vec<Tensor>) -> Result<Vec<Tensor>, String> {
    let mut by_name: HashMap<String, Tensor> = tensors.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut take = |name: String| by_name.remove(&name).ok_or_else(|| format!("it has no `{name}`"));
    let mut out = Vec::new();
    let heads = model.heads as usize;
    match model.arch {
        Arch::Llama => {
            out.push(named(take("embedding.weight".into())?, "model.embed_tokens.weight"));
            for b in 0..model.depth {
                let (ours, theirs) = (format!("blocks.{b}"), format!("model.layers.{b}"));
                out.push(named(take(format!("{ours}.norm_1.weight"))?, &format!("{theirs}.input_layernorm.weight")));
                for (part, proj) in [("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("o", "o_proj")] {
                    let mut weight = transposed(take(format!("{ours}.attention.{part}.weight"))?);
                    if matches!(part, "q" | "k") {
                        weight = halves_per_head(weight, heads);
                    }
                    out.push(named(weight, &format!("{theirs}.self_attn.{proj}.weight")));
                }
                let norm = take(format!("{ours}.norm_2.weight"))?;
                out.push(named(norm, &format!("{theirs}.post_attention_layernorm.weight")));
                for (part, proj) in [("gate", "gate_proj"), ("up", "up_proj"), ("down", "down_proj")] {
                    let weight = transposed(take(format!("{ours}.mlp.{part}.weight"))?);
                    out.push(named(weight, &format!("{theirs}.mlp.{proj}.weight")));
                }
            }
            out.push(named(take("norm.weight".into())?, "model.norm.weight"));
        }
        Arch::Gpt => {
            out.push(named(take("embedding.weight".into())?, "transformer.wte.weight"));
            out.push(named(take("positions.weight".into())?, "transformer.wpe.weight"));
            for b in 0..model.depth {
                let (ours, theirs) = (format!("blocks.{b}"), format!("transformer.h.{b}"));
                for kind in ["weight", "bias"] {
                    out.push(named(take(format!("{ours}.norm_1.{kind}"))?, &format!("{theirs}.ln_1.{kind}")));
                }
                for kind in ["weight", "bias"] {
                    let qkv = ["q", "k", "v"].map(|p| take(format!("{ours}.attention.{p}.{kind}")));
                    let [q, k, v] = qkv;
                    out.push(named(side_by_side(&[q?, k?, v?]), &format!("{theirs}.attn.c_attn.{kind}")));
                }
                for kind in ["weight", "bias"] {
                    out.push(named(
                        take(format!("{ours}.attention.o.{kind}"))?,
                        &format!("{theirs}.attn.c_proj.{kind}"),
                    ));
                }
                for kind in ["weight", "bias"] {
                    out.push(named(take(format!("{ours}.norm_2.{kind}"))?, &format!("{theirs}.ln_2.{kind}")));
                }
                for (part, conv) in [("fc", "c_fc"), ("proj", "c_proj")] {
                    for kind in ["weight", "bias"] {
                        let tensor = take(format!("{ours}.mlp.{part}.{kind}"))?;
                        out.push(named(tensor, &format!("{theirs}.mlp.{conv}.{kind}")));
                    }
                }
            }
            for kind in ["weight", "bias"] {
                out.push(named(take(format!("norm.{kind}"))?, &format!("transformer.ln_f.{kind}")));
            }
        }
    }
    if !model.tie_embeddings {
        out.push(named(transposed(take("head.weight".into())?), "lm_head.weight"));
    }
    match by_name.keys().next() {
        Some(left) => Err(format!("`{left}` has no place in the exported model")),
        None => Ok(out),
    }
}

fn named(tensor: Tensor, name: &str) -> Tensor {
    Tensor { name: name.into(), ..tensor }
}

/// A `[rows, cols]` matrix as `[cols, rows]`.
fn transposed(tensor: Tensor) -> Tensor {
    let (rows, cols) = (tensor.shape[0], tensor.shape[1]);
    let mut values = vec![0.0; tensor.values.len()];
    for (r, row) in tensor.values.chunks(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            values[c * rows + r] = v;
        }
    }
    Tensor { shape: vec![cols, rows], values, ..tensor }
}

/// The rows of a `[heads * head_dim, in]` projection reordered within each head from rotary pairs
/// side by side (2i, 2i+1) to halves (i, i + head_dim/2): row `half * head_dim/2 + i` of a head
/// is its row `2i + half`.
fn halves_per_head(tensor: Tensor, heads: usize) -> Tensor {
    let (rows, cols) = (tensor.shape[0], tensor.shape[1]);
    let head_dim = rows / heads;
    let mut values = Vec::with_capacity(tensor.values.len());
    for head in 0..heads {
        for half in 0..2 {
            for i in 0..head_dim / 2 {
                let row = head * head_dim + 2 * i + half;
                values.extend_from_slice(&tensor.values[row * cols..(row + 1) * cols]);
            }
        }
    }
    Tensor { values, ..tensor }
}

/// Tensors of the same rows side by side: `[in, out]` matrices into `[in, 3 out]`, or vectors
/// one after the other.
fn side_by_side(parts: &[Tensor]) -> Tensor {
    let rows = if parts[0].shape.len() == 2 { parts[0].shape[0] } else { 1 };
    let widths: Vec<usize> = parts.iter().map(|p| p.values.len() / rows).collect();
    let mut values = Vec::with_capacity(parts.iter().map(|p| p.values.len()).sum());
    for r in 0..rows {
        for (part, &width) in parts.iter().zip(&widths) {
            values.extend_from_slice(&part.values[r * width..(r + 1) * width]);
        }
    }
    let total: usize = widths.iter().sum();
    let shape = if parts[0].shape.len() == 2 { vec![rows, total] } else { vec![total] };
    Tensor { name: String::new(), shape, values }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(shape: &[usize]) -> Tensor {
        let values = (0..shape.iter().product::<usize>()).map(|i| i as f32).collect();
        Tensor { name: "t".into(), shape: shape.to_vec(), values }
    }

    #[test]
    fn transposes_and_permutes_rows_as_transformers_conversion_does() {
        let t = transposed(tensor(&[2, 3]));
        assert_eq!((t.shape.clone(), t.values.clone()), (vec![3, 2], vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]));
        // Two heads of 4 rows, one column: rows 0 2 1 3 of each head (view(h, d/2, 2).transpose).
        let p = halves_per_head(tensor(&[8, 1]), 2);
        assert_eq!(p.values, [0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]);
        let qkv = side_by_side(&[tensor(&[2, 2]), tensor(&[2, 2]), tensor(&[2, 2])]);
        assert_eq!(
            (qkv.shape.clone(), qkv.values),
            (vec![2, 6], vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0, 3.0, 2.0, 3.0])
        );
        assert_eq!(side_by_side(&[tensor(&[2]), tensor(&[2])]).values, [0.0, 1.0, 0.0, 1.0]);
    }
}
