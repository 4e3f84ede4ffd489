//! Finished trials out of sprs. `sprs export` writes Hugging Face folders; the models in them,
//! computed here by an independent implementation of transformers' LLaMA (rotary halves,
//! `nn.Linear` layouts) and GPT-2 (`Conv1D`, fused q, k, v) in f64, give the trials' own logits.
//! `sprs score` agrees with that implementation and, on the evaluation windows, with the loss the
//! training measured; `sprs generate` is reproducible; the exported tokenizers give the ids sprs
//! trained on; the errors are coded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::sprs;

/// Five trials on a small multilingual text with byte tokens: LLaMA untied (dense and 60%
/// pruned) and tied (pruned), GPT-2 tied (dense) and untied (pruned).
const FILE: &str = r#"use std::models::{llama, gpt}
use std::schedules::journey

data corpus {
    source    = text("corpus.txt")
    tokenizer = bytes
    context   = 16
    holdout   = 10%
}

train base {
    data   = corpus
    model  = llama { width = 32, depth = 2, heads = 2, mlp = 48 }
    batch  = 8
    budget = 60 steps
    eval   = { every = 20 steps, tokens = 2k }
}

schedule pruned = journey { sparsity = 60%, every = 5 steps }

sweep s = base {
    (model, prune) in [
        (llama { width = 32, depth = 2, heads = 2, mlp = 48 }, dense),
        (llama { width = 32, depth = 2, heads = 2, mlp = 48 }, pruned),
        (llama { width = 32, depth = 2, heads = 2, mlp = 48, tie_embeddings = true }, pruned),
        (gpt { width = 32, depth = 2, heads = 2, mlp = 48 }, dense),
        (gpt { width = 32, depth = 2, heads = 2, mlp = 48, tie_embeddings = false }, pruned),
    ]
}
"#;

/// Text in several scripts, one line at a time.
fn corpus() -> String {
    let lines = [
        "To be, or not to be, that is the question:",
        "Whether 'tis nobler in the mind to suffer",
        "naïve façade — déjà vu, ça va très bien",
        "東京は日本の首都です。今日は良い天気ですね。",
        "Ωμέγα και άλφα · Здравствуй, мир! 🦀 crabs",
    ];
    (0..1200).map(|i| format!("{} {i}\n", lines[i % lines.len()])).collect()
}

/// The project, trained once for every test of this file.
struct Project {
    dir: PathBuf,
    file: PathBuf,
    out: PathBuf,
    /// `plan --format json`'s trials.
    trials: Vec<Value>,
}

impl Project {
    fn args<'a>(&'a self, command: &'a str, more: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![command, self.file.to_str().unwrap(), "--out", self.out.to_str().unwrap()];
        args.extend(more);
        args
    }

    /// The id of the trial whose architecture, tying and sparsity are these.
    fn id(&self, arch: &str, tied: bool, sparsity: f64) -> &str {
        let trial = self.trials.iter().find(|t| {
            t["config"]["model"]["arch"] == arch
                && t["config"]["model"]["tie_embeddings"] == tied
                && t["config"]["prune"]["sparsity"].as_f64() == Some(sparsity)
        });
        trial.unwrap_or_else(|| panic!("no {arch} trial")).get("id").and_then(Value::as_str).unwrap()
    }

    fn planned(&self, id: &str) -> sprs::plan::PlannedTrial {
        let plan = sprs::plan::plan_file(&self.file).unwrap().plan.unwrap();
        plan.trials.into_iter().find(|t| t.id == id).unwrap()
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn trained() -> &'static Project {
    static PROJECT: OnceLock<Project> = OnceLock::new();
    PROJECT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("trained");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("corpus.txt"), corpus()).unwrap();
        let file = dir.join("study.sprs");
        std::fs::write(&file, FILE).unwrap();
        let out = dir.join("runs");
        let project = Project { dir, file, out, trials: Vec::new() };
        let run = sprs(&project.args("run", &[]));
        assert!(run.status.success(), "{}", stderr(&run));
        let plan = sprs(&["plan", project.file.to_str().unwrap(), "--format", "json"]);
        let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
        Project { trials: plan["trials"].as_array().unwrap().clone(), ..project }
    })
}

/// An exported folder's tensors, by name, as f64.
struct Hf {
    config: Value,
    tensors: HashMap<String, (Vec<usize>, Vec<f64>)>,
}

impl Hf {
    fn read(dir: &Path) -> Hf {
        let config: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(header.metadata().as_ref().unwrap()["format"], "pt", "transformers reads PyTorch tensors");
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let tensors = file
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                assert_eq!(view.dtype(), safetensors::Dtype::F32);
                let values = view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                    .collect();
                (name, (view.shape().to_vec(), values))
            })
            .collect();
        Hf { config, tensors }
    }

    fn get(&self, name: &str) -> &[f64] {
        &self.tensors.get(name).unwrap_or_else(|| panic!("no tensor `{name}`")).1
    }

    fn number(&self, key: &str) -> usize {
        self.config[key].as_u64().unwrap_or_else(|| panic!("config.json has no `{key}`")) as usize
    }

    /// The logits, `[ids.len(), vocab]`, as transformers computes them.
    fn logits(&self, ids: &[u32]) -> Vec<f64> {
        match self.config["model_type"].as_str().unwrap() {
            "llama" => self.llama(ids),
            "gpt2" => self.gpt2(ids),
            other => panic!("{other}"),
        }
    }

    /// `LlamaForCausalLM`: RMSNorm, attention with rotary positions on halves of each head
    /// (`rotate_half`), SwiGLU, `nn.Linear` weights `[out, in]`.
    fn llama(&self, ids: &[u32]) -> Vec<f64> {
        let (d, heads) = (self.number("hidden_size"), self.number("num_attention_heads"));
        let (layers, vocab) = (self.number("num_hidden_layers"), self.number("vocab_size"));
        let eps = self.config["rms_norm_eps"].as_f64().unwrap();
        let theta = self.config["rope_theta"].as_f64().unwrap();
        let head_dim = d / heads;
        let mut x: Vec<f64> =
            ids.iter().flat_map(|&i| row(self.get("model.embed_tokens.weight"), i as usize, d)).collect();
        let rope = |x: &mut [f64]| {
            for (t, row) in x.chunks_mut(d).enumerate() {
                for head in row.chunks_mut(head_dim) {
                    for i in 0..head_dim / 2 {
                        let angle = t as f64 / theta.powf(2.0 * i as f64 / head_dim as f64);
                        let (a, b) = (head[i], head[i + head_dim / 2]);
                        head[i] = a * angle.cos() - b * angle.sin();
                        head[i + head_dim / 2] = b * angle.cos() + a * angle.sin();
                    }
                }
            }
        };
        for l in 0..layers {
            let p = |name: &str| format!("model.layers.{l}.{name}");
            let a = rms_norm(&x, self.get(&p("input_layernorm.weight")), eps);
            let (mut q, mut k) = (
                linear(&a, self.get(&p("self_attn.q_proj.weight")), d),
                linear(&a, self.get(&p("self_attn.k_proj.weight")), d),
            );
            let v = linear(&a, self.get(&p("self_attn.v_proj.weight")), d);
            rope(&mut q);
            rope(&mut k);
            let attended = attention(&q, &k, &v, heads, d);
            add(&mut x, &linear(&attended, self.get(&p("self_attn.o_proj.weight")), d));
            let b = rms_norm(&x, self.get(&p("post_attention_layernorm.weight")), eps);
            let m = self.number("intermediate_size");
            let gate = linear(&b, self.get(&p("mlp.gate_proj.weight")), m);
            let up = linear(&b, self.get(&p("mlp.up_proj.weight")), m);
            let hidden: Vec<f64> = gate.iter().zip(&up).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
            add(&mut x, &linear(&hidden, self.get(&p("mlp.down_proj.weight")), d));
        }
        let x = rms_norm(&x, self.get("model.norm.weight"), eps);
        self.head(&x, "model.embed_tokens.weight", vocab)
    }

    /// `GPT2LMHeadModel`: LayerNorm, learned positions, `Conv1D` weights `[in, out]` with q, k
    /// and v side by side in `c_attn`, exact GELU.
    fn gpt2(&self, ids: &[u32]) -> Vec<f64> {
        let (d, heads, layers) = (self.number("n_embd"), self.number("n_head"), self.number("n_layer"));
        let (vocab, m) = (self.number("vocab_size"), self.number("n_inner"));
        let eps = self.config["layer_norm_epsilon"].as_f64().unwrap();
        let mut x: Vec<f64> = ids
            .iter()
            .enumerate()
            .flat_map(|(t, &i)| {
                let token = row(self.get("transformer.wte.weight"), i as usize, d);
                let position = row(self.get("transformer.wpe.weight"), t, d);
                token.iter().zip(&position).map(|(a, b)| a + b).collect::<Vec<_>>()
            })
            .collect();
        for l in 0..layers {
            let p = |name: &str| format!("transformer.h.{l}.{name}");
            let a = layer_norm(&x, self.get(&p("ln_1.weight")), self.get(&p("ln_1.bias")), eps);
            let qkv = conv1d(&a, self.get(&p("attn.c_attn.weight")), self.get(&p("attn.c_attn.bias")), 3 * d);
            let part = |i: usize| qkv.chunks(3 * d).flat_map(|r| r[i * d..(i + 1) * d].to_vec()).collect::<Vec<_>>();
            let attended = attention(&part(0), &part(1), &part(2), heads, d);
            add(&mut x, &conv1d(&attended, self.get(&p("attn.c_proj.weight")), self.get(&p("attn.c_proj.bias")), d));
            let b = layer_norm(&x, self.get(&p("ln_2.weight")), self.get(&p("ln_2.bias")), eps);
            let hidden: Vec<f64> = conv1d(&b, self.get(&p("mlp.c_fc.weight")), self.get(&p("mlp.c_fc.bias")), m)
                .into_iter()
                .map(|h| 0.5 * h * (1.0 + libm::erf(h / std::f64::consts::SQRT_2)))
                .collect();
            add(&mut x, &conv1d(&hidden, self.get(&p("mlp.c_proj.weight")), self.get(&p("mlp.c_proj.bias")), d));
        }
        let x = layer_norm(&x, self.get("transformer.ln_f.weight"), self.get("transformer.ln_f.bias"), eps);
        self.head(&x, "transformer.wte.weight", vocab)
    }

    /// `lm_head`, or the token embedding when tied.
    fn head(&self, x: &[f64], embedding: &str, vocab: usize) -> Vec<f64> {
        let tied = self.config["tie_word_embeddings"].as_bool().unwrap();
        assert_eq!(self.tensors.contains_key("lm_head.weight"), !tied);
        linear(x, self.get(if tied { embedding } else { "lm_head.weight" }), vocab)
    }
}

fn row(matrix: &[f64], i: usize, width: usize) -> Vec<f64> {
    matrix[i * width..(i + 1) * width].to_vec()
}

fn add(x: &mut [f64], y: &[f64]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}

/// `x @ w.T` for `nn.Linear`'s `[out, in]` weight: `[rows, in]` to `[rows, out]`.
fn linear(x: &[f64], w: &[f64], out: usize) -> Vec<f64> {
    let input = w.len() / out;
    x.chunks(input)
        .flat_map(|r| (0..out).map(move |o| (0..input).map(|i| r[i] * w[o * input + i]).sum::<f64>()))
        .collect()
}

/// `x @ w + b` for `Conv1D`'s `[in, out]` weight.
fn conv1d(x: &[f64], w: &[f64], b: &[f64], out: usize) -> Vec<f64> {
    let input = w.len() / out;
    x.chunks(input)
        .flat_map(|r| (0..out).map(move |o| b[o] + (0..input).map(|i| r[i] * w[i * out + o]).sum::<f64>()))
        .collect()
}

fn rms_norm(x: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    x.chunks(w.len())
        .flat_map(|r| {
            let scale = 1.0 / (r.iter().map(|v| v * v).sum::<f64>() / r.len() as f64 + eps).sqrt();
            r.iter().zip(w).map(move |(v, w)| v * scale * w)
        })
        .collect()
}

fn layer_norm(x: &[f64], w: &[f64], b: &[f64], eps: f64) -> Vec<f64> {
    x.chunks(w.len())
        .flat_map(|r| {
            let mean = r.iter().sum::<f64>() / r.len() as f64;
            let var = r.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / r.len() as f64;
            r.iter().zip(w.iter().zip(b)).map(move |(v, (w, b))| (v - mean) / (var + eps).sqrt() * w + b)
        })
        .collect()
}

/// Causal multi-head attention of `[T, d]` queries, keys and values, scaled by 1/sqrt(head_dim).
fn attention(q: &[f64], k: &[f64], v: &[f64], heads: usize, d: usize) -> Vec<f64> {
    let (len, head_dim) = (q.len() / d, d / heads);
    let mut out = vec![0.0; q.len()];
    for h in 0..heads {
        let at = |m: &[f64], t: usize, i: usize| m[t * d + h * head_dim + i];
        for t in 0..len {
            let scores: Vec<f64> = (0..=t)
                .map(|s| (0..head_dim).map(|i| at(q, t, i) * at(k, s, i)).sum::<f64>() / (head_dim as f64).sqrt())
                .collect();
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let total: f64 = weights.iter().sum();
            for i in 0..head_dim {
                out[t * d + h * head_dim + i] = (0..=t).map(|s| weights[s] / total * at(v, s, i)).sum();
            }
        }
    }
    out
}

/// Minus the log-softmax of `row` at `target`.
fn nll(row: &[f64], target: u32) -> f64 {
    let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    max + row.iter().map(|l| (l - max).exp()).sum::<f64>().ln() - row[target as usize]
}

/// The held-out text of the trial's data, and the tokens the trial evaluated on.
fn held_out(project: &Project, trial: &sprs::plan::PlannedTrial) -> (Vec<u8>, sprs::data::tokens::Tokens) {
    let access = sprs::access::Access::for_entry(&project.file);
    let tokens = sprs::data::tokens::Tokens::load(&trial.config.data, &access, None).unwrap();
    let text: Vec<u8> =
        tokens.holdout.iter().flat_map(|r| tokens.tokens.window(r.clone()).into_owned()).map(|b| b as u8).collect();
    (text, tokens)
}

/// Every exported model computes, in transformers' way, the logits of the trial's own model;
/// pruned weights are exact zeros; the folder has what transformers reads.
#[test]
fn exported_models_compute_the_trials_own_logits() {
    let project = trained();
    let to = project.dir.join("hf");
    let ids: Vec<&str> = project.trials.iter().map(|t| t["id"].as_str().unwrap()).collect();
    let mut args = project.args("export", &["--to", to.to_str().unwrap()]);
    for id in &ids {
        args.extend(["--trial", id]);
    }
    let export = sprs(&args);
    assert!(export.status.success(), "{}", stderr(&export));
    let text = corpus();
    let sample: Vec<u32> = text.as_bytes()[3000..3016].iter().map(|&b| u32::from(b)).collect();
    for id in ids {
        let dir = to.join(id);
        for file in ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "sprs.json"] {
            assert!(dir.join(file).is_file(), "{id}: {file}");
        }
        let hf = Hf::read(&dir);
        let planned = project.planned(id);
        let model = &planned.config.model;
        let expected_arch =
            if model.arch == sprs::config::Arch::Llama { "LlamaForCausalLM" } else { "GPT2LMHeadModel" };
        assert_eq!(hf.config["architectures"][0], expected_arch);
        assert_eq!(hf.config["torch_dtype"], "float32");
        assert_eq!(hf.number("vocab_size"), 256);

        // The trial's own logits, from its weights.
        let weights = sprs::store::weights::read(&project.out.join(id).join("model.safetensors"), id, model).unwrap();
        let device = sprs::train::backend::cpu();
        let ours = sprs::train::infer::Model::new(model, weights, &device).unwrap().logits(&sample).unwrap();
        let theirs = hf.logits(&sample);
        let largest = ours.iter().zip(&theirs).map(|(a, b)| (f64::from(*a) - b).abs()).fold(0.0, f64::max);
        let scale = theirs.iter().map(|v| v.abs()).fold(0.0, f64::max);
        // Measured: at most 1.5e-7 (f32 against f64), for logits of magnitude below 1.
        assert!(largest <= 1e-6 * scale.max(1.0), "{id} ({expected_arch}): logits differ by {largest} (scale {scale})");

        // Pruned weights are exact zeros: as many as the trial pruned.
        let result: Value =
            serde_json::from_str(&std::fs::read_to_string(project.out.join(id).join("result.json")).unwrap()).unwrap();
        let pruned = result["N"].as_u64().unwrap() - result["N_final"].as_u64().unwrap();
        let zeros: usize = hf
            .tensors
            .iter()
            .filter(|(name, (shape, _))| {
                shape.len() == 2 && !name.contains("wte") && !name.contains("wpe") && !name.contains("embed")
            })
            .map(|(_, (_, values))| values.iter().filter(|v| **v == 0.0).count())
            .sum();
        assert_eq!(zeros as u64, pruned, "{id}");
        assert_eq!(planned.observables.s > 0.0, pruned > 0);

        // The tokenizer gives byte b for id b, on any text.
        let tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
        let line = "naïve — 東京 🦀\n";
        assert_eq!(tokenizer.encode(line, false).unwrap().get_ids(), line.bytes().map(u32::from).collect::<Vec<_>>());
        let about: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("sprs.json")).unwrap()).unwrap();
        assert_eq!((about["id"].as_str(), about["L"].as_f64()), (Some(id), result["L"].as_f64()));
    }
}

/// `sprs score` on the held-out text: its loss is the mean over windows of the trial's context of
/// the losses the exported model gives (computed here), and the same machinery over the
/// evaluation windows gives the trial's final held-out loss L.
#[test]
fn score_agrees_with_the_exported_model_and_with_training() {
    let project = trained();
    let id = project.id("llama", false, 0.6);
    let planned = project.planned(id);
    let (text, tokens) = held_out(project, &planned);
    let path = project.dir.join("held_out.txt");
    std::fs::write(&path, &text).unwrap();
    let scored = sprs(&project.args("score", &["--trial", id, "--text", path.to_str().unwrap(), "--format", "json"]));
    assert!(scored.status.success(), "{}", stderr(&scored));
    let scored: Value = serde_json::from_slice(&scored.stdout).unwrap();

    let to = project.dir.join("hf-score");
    assert!(sprs(&project.args("export", &["--trial", id, "--to", to.to_str().unwrap()])).status.success());
    let hf = Hf::read(&to);
    let context = planned.config.model.context as usize;
    let ids: Vec<u32> = text.iter().map(|&b| u32::from(b)).collect();
    let (mut nats, mut count) = (0.0, 0u64);
    for window in ids.chunks(context).filter(|w| w.len() > 1) {
        let logits = hf.logits(&window[..window.len() - 1]);
        for (i, &target) in window[1..].iter().enumerate() {
            nats += nll(&logits[i * 256..(i + 1) * 256], target);
            count += 1;
        }
    }
    assert_eq!(scored["tokens"].as_u64(), Some(count));
    let loss = scored["loss"].as_f64().unwrap();
    assert!((loss - nats / count as f64).abs() < 1e-5 * loss, "{loss} against {}", nats / count as f64);
    // Byte tokens: every predicted token is one byte.
    let bits = scored["bits_per_byte"].as_f64().unwrap();
    assert!((bits - loss / std::f64::consts::LN_2).abs() < 1e-9, "{bits}");

    // The evaluation windows (context + 1 tokens each) through the same machinery: the trial's L.
    let windows = sprs::data::tokens::eval_windows(&tokens, context, planned.config.eval.tokens);
    let eval: Vec<u32> = windows.iter().flat_map(|&s| tokens.tokens.window(s..s + context + 1).into_owned()).collect();
    let weights =
        sprs::store::weights::read(&project.out.join(id).join("model.safetensors"), id, &planned.config.model).unwrap();
    let model = sprs::train::infer::Model::new(&planned.config.model, weights, &sprs::train::backend::cpu()).unwrap();
    let losses: Vec<f64> = model.token_losses(&eval, context + 1).unwrap().into_iter().flatten().collect();
    let mean = losses.iter().sum::<f64>() / losses.len() as f64;
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(project.out.join(id).join("result.json")).unwrap()).unwrap();
    let l = result["L"].as_f64().unwrap();
    assert_eq!(losses.len(), windows.len() * context);
    assert!((mean - l).abs() < 1e-6 * l, "{mean} against L = {l}");
}

#[test]
fn generation_is_the_same_for_the_same_seed() {
    let project = trained();
    let id = project.id("gpt", true, 0.0);
    let sample = |seed: &str, temperature: &str| {
        let args = ["--trial", id, "--prompt", "To be", "--tokens", "24", "--seed", seed, "--temperature", temperature];
        let mut args = project.args("generate", &args);
        args.extend(["--format", "json"]);
        let output = sprs(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        let json: Value = serde_json::from_slice(&output.stdout).unwrap();
        json["samples"][0].clone()
    };
    let first = sample("1", "0.8");
    assert_eq!(first["prompt"], "To be");
    assert_eq!(first["ids"].as_array().unwrap().len(), 5 + 24);
    assert_eq!(sample("1", "0.8"), first);
    assert_ne!(sample("2", "0.8")["ids"], first["ids"]);
    assert_eq!(sample("1", "0")["ids"], sample("2", "0")["ids"], "temperature 0 takes the most likely token");

    // A temperature must be a number from 0, and a sample is bounded.
    for bad in [["--temperature", "NaN"], ["--temperature", "-1"], ["--tokens", "18446744073709551615"]] {
        let mut args = project.args("generate", &["--trial", id]);
        args.extend(bad);
        assert_eq!(sprs(&args).status.code(), Some(2), "{bad:?}");
    }

    // Two trials side by side in text.
    let dense_llama = project.id("llama", false, 0.0);
    let output = sprs(&project.args("generate", &["--trial", id, "--trial", dense_llama, "--tokens", "10"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).matches("── s[").count(), 2);
}

/// The exported `bpe` tokenizer encodes each stretch of the text that sprs encoded to exactly the
/// ids sprs trained on (text split as sprs splits it, at 4096-byte blocks moved to character
/// boundaries).
#[test]
fn an_exported_bpe_tokenizer_gives_the_ids_sprs_trained_on() {
    let dir = tempfile::tempdir().unwrap();
    let text = corpus();
    std::fs::write(dir.path().join("corpus.txt"), &text).unwrap();
    let data = sprs::config::DataConfig {
        source: sprs::config::Source::Text { paths: vec!["corpus.txt".into()] },
        tokenizer: sprs::config::Tokenizer::Bpe { vocab: 400 },
        context: 16,
        holdout: 0.1,
        valid: None,
    };
    let access = sprs::access::Access::for_entry(&dir.path().join("x.sprs"));
    let cache = dir.path().join("cache");
    let tokens = sprs::data::tokens::Tokens::load(&data, &access, Some(&cache)).unwrap();
    let coder = tokens.coder.as_ref().unwrap().as_ref().unwrap();
    let exported = tokenizers::Tokenizer::from_bytes(coder.json().unwrap().as_bytes()).unwrap();
    let bytes = text.as_bytes();
    let boundary = |mut i: usize| {
        while i < bytes.len() && bytes[i] & 0xC0 == 0x80 {
            i += 1;
        }
        i
    };
    let mut ids = Vec::new();
    for (range, _) in sprs::data::tokens::runs(bytes.len(), 0.1) {
        let piece = std::str::from_utf8(&bytes[boundary(range.start)..boundary(range.end)]).unwrap();
        ids.extend(exported.encode(piece, false).unwrap().get_ids().iter().copied());
    }
    assert_eq!(ids, tokens.tokens.window(0..tokens.tokens.len()).into_owned());
    assert!(ids.len() < bytes.len() / 2, "merges shorten the text");
}

#[test]
fn errors_name_the_trial_and_what_it_lacks() {
    let project = trained();
    let to = project.dir.join("hf-errors");
    let to = to.to_str().unwrap();
    let code = |output: &Output, code: &str| {
        assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
        assert!(stderr(output).contains(&format!("error[{code}]")), "{}", stderr(output));
    };
    code(&sprs(&project.args("export", &["--trial", "nope", "--to", to])), "E0901");
    // The trials of the file with another seed: the same names, other ids, never run.
    let name = project.trials[0]["name"].as_str().unwrap();
    code(&sprs(&project.args("export", &["--trial", name, "--to", to, "--set", "seed = 9"])), "E0902");
    let dense = project.id("llama", false, 0.0);
    let other_out = project.dir.join("elsewhere");
    let mut args = vec!["export", project.file.to_str().unwrap(), "--out", other_out.to_str().unwrap()];
    args.extend(["--trial", dense, "--to", to]);
    code(&sprs(&args), "E0902");
    assert!(!Path::new(to).exists(), "nothing is written when a trial cannot be exported");

    // Weights copied from another trial are refused.
    let copy = project.dir.join("copy");
    let (pruned, tied) = (project.id("llama", false, 0.6), project.id("llama", true, 0.6));
    for id in [pruned, tied] {
        std::fs::create_dir_all(copy.join(id)).unwrap();
        for file in ["result.json", "trial.json"] {
            std::fs::copy(project.out.join(id).join(file), copy.join(id).join(file)).unwrap();
        }
    }
    std::fs::copy(project.out.join(pruned).join("model.safetensors"), copy.join(tied).join("model.safetensors"))
        .unwrap();
    let mut args = vec!["export", project.file.to_str().unwrap(), "--out", copy.to_str().unwrap(), "--to", to];
    args.extend(["--trial", tied]);
    code(&sprs(&args), "E0904");
    // A finished trial without weights.
    let mut args = vec!["export", project.file.to_str().unwrap(), "--out", copy.to_str().unwrap(), "--to", to];
    args.extend(["--trial", pruned]);
    code(&sprs(&args), "E0903");
    // Text that is one token long predicts nothing.
    let one = project.dir.join("one.txt");
    std::fs::write(&one, "x").unwrap();
    code(&sprs(&project.args("score", &["--trial", pruned, "--text", one.to_str().unwrap()])), "E0906");
}

/// `sprs run --no-weights` keeps none, and says so when asked to export.
#[test]
fn a_run_without_weights_keeps_none() {
    let project = trained();
    let out = project.dir.join("no-weights");
    let mut args = vec!["run", project.file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--no-weights"];
    args.extend(["--only", "s", "--set", "budget = 20 steps"]);
    let run = sprs(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    let dirs: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("result.json").exists())
        .collect();
    assert_eq!(dirs.len(), 5);
    assert!(dirs.iter().all(|d| !d.join("model.safetensors").exists()));
    let id = dirs[0].file_name().unwrap().to_str().unwrap();
    let to = project.dir.join("hf-none");
    let mut args = vec!["export", project.file.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(["--set", "budget = 20 steps", "--trial", id, "--to", to.to_str().unwrap()]);
    let export = sprs(&args);
    assert!(stderr(&export).contains("error[E0903]"), "{}", stderr(&export));
}

/// A trial on a token file: `sprs tokenize` keeps the tokenizer beside the ids, the trial keeps
/// it with its weights, and `score`, `generate` and `export` use the trial's copy, whatever
/// becomes of the token file's since; a trial trained without it has no text.
#[test]
fn a_trial_keeps_the_tokenizer_it_trained_with() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join(".git")).unwrap();
    let text = corpus();
    let tokenizer = sprs::data::bpe::trained(&[text.as_str()], 300, None).unwrap();
    let tok = d.join("tok.json");
    tokenizer.save(&tok, false).unwrap();
    std::fs::write(d.join("corpus.txt"), &text).unwrap();
    let ids = d.join("ids.bin");
    let (tok_arg, ids_arg) = (tok.to_str().unwrap(), ids.to_str().unwrap());
    let tokenize =
        sprs(&["tokenize", d.join("corpus.txt").to_str().unwrap(), "--tokenizer", tok_arg, "--out", ids_arg]);
    assert!(tokenize.status.success(), "{}", stderr(&tokenize));
    let beside = d.join("ids.bin.tokenizer.json");
    assert_eq!(std::fs::read(&beside).unwrap(), std::fs::read(&tok).unwrap());

    let file = d.join("t.sprs");
    std::fs::write(
        &file,
        "use std::models::llama\ntrain t {\n    data   = { source = tokens(\"ids.bin\"), context = 16 }\n    model  = llama { width = 16, depth = 1, heads = 2, mlp = 32 }\n    batch  = 4\n    budget = 10 steps\n}\n",
    )
    .unwrap();
    let (file, out) = (file.to_str().unwrap(), d.join("runs"));
    let out = out.to_str().unwrap();
    let run = sprs(&["run", file, "--out", out]);
    assert!(run.status.success(), "{}", stderr(&run));
    let sample = d.join("sample.txt");
    std::fs::write(&sample, &text[..2000]).unwrap();
    let score = |out: &str| {
        sprs(&["score", file, "--out", out, "--trial", "t", "--text", sample.to_str().unwrap(), "--format", "json"])
    };
    let scored = score(out);
    assert!(scored.status.success(), "{}", stderr(&scored));
    let first: Value = serde_json::from_slice(&scored.stdout).unwrap();
    let tokens = tokenizer.encode(&text[..2000], false).unwrap().get_ids().len() as u64;
    assert_eq!(first["tokens"].as_u64(), Some(tokens - tokens.div_ceil(16)));
    // BPE tokens stand for several bytes each: fewer bits per byte than nats per token.
    assert!(first["bits_per_byte"].as_f64().unwrap() < first["loss"].as_f64().unwrap());

    // Another tokenizer beside the token file changes nothing for the trial that trained.
    let other = sprs::data::bpe::trained(&["something else entirely"], 270, None).unwrap();
    other.save(&beside, false).unwrap();
    let again: Value = serde_json::from_slice(&score(out).stdout).unwrap();
    assert_eq!(again, first);
    let to = d.join("hf");
    let export = sprs(&["export", file, "--out", out, "--trial", "t", "--to", to.to_str().unwrap()]);
    assert!(export.status.success(), "{}", stderr(&export));
    let exported = tokenizers::Tokenizer::from_file(to.join("tokenizer.json")).unwrap();
    let line = "während l'été, 稀疏 🙂\n";
    assert_eq!(exported.encode(line, false).unwrap().get_ids(), tokenizer.encode(line, false).unwrap().get_ids());

    // The trial's copy replaced by another is refused.
    let trial =
        std::fs::read_dir(out).unwrap().map(|e| e.unwrap().path()).find(|p| p.join("result.json").exists()).unwrap();
    other.save(trial.join("tokenizer.json"), false).unwrap();
    let refused = score(out);
    assert!(
        stderr(&refused).contains("error[E0905]") && stderr(&refused).contains("not the one it trained with"),
        "{}",
        stderr(&refused)
    );

    // Trained with no tokenizer beside the token file: its weights say so, and it has no text.
    std::fs::remove_file(&beside).unwrap();
    let bare = d.join("bare");
    let run = sprs(&["run", file, "--out", bare.to_str().unwrap()]);
    assert!(run.status.success(), "{}", stderr(&run));
    let scored = score(bare.to_str().unwrap());
    assert!(
        stderr(&scored).contains("error[E0905]") && stderr(&scored).contains("tokenizer.json"),
        "{}",
        stderr(&scored)
    );
    let export = sprs(&[
        "export",
        file,
        "--out",
        bare.to_str().unwrap(),
        "--trial",
        "t",
        "--to",
        d.join("hf-bare").to_str().unwrap(),
    ]);
    assert!(stderr(&export).contains("error[E0905]"), "{}", stderr(&export));
}

/// An export never lands in the results folder (its files would replace the trials' own), and an
/// export over an earlier one leaves no tokenizer of the earlier model behind.
#[test]
fn exports_stay_out_of_the_results_folder_and_leave_nothing_stale() {
    let project = trained();
    let id = project.id("gpt", true, 0.0);
    for to in [project.out.clone(), project.out.join(id), project.out.join("new").join("deeper")] {
        let export = sprs(&project.args("export", &["--trial", id, "--to", to.to_str().unwrap()]));
        assert!(
            stderr(&export).contains("error[E0907]") && stderr(&export).contains("results folder"),
            "{}",
            stderr(&export)
        );
    }
    assert!(!project.out.join("new").exists());
    let weights = sprs::store::weights::open(
        &project.out.join(id).join("model.safetensors"),
        id,
        &project.planned(id).config.model,
    );
    assert!(weights.is_ok(), "the trial's own weights are untouched");

    // An earlier export's tokenizer is removed when the model exported over it has none.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.sprs");
    std::fs::write(
        &file,
        "use std::models::llama\nuse std::data::markov\ntrain m {\n    data   = markov { context = 16, source.tokens = 20k }\n    model  = llama { width = 16, depth = 1, heads = 2, mlp = 32 }\n    batch  = 4\n    budget = 12 steps\n    eval   = { every = 6 steps, tokens = 256 }\n}\n",
    )
    .unwrap();
    let out = dir.path().join("runs");
    assert!(sprs(&["run", file.to_str().unwrap(), "--out", out.to_str().unwrap()]).status.success());
    let to = project.dir.join("hf-over");
    assert!(sprs(&project.args("export", &["--trial", id, "--to", to.to_str().unwrap()])).status.success());
    assert!(to.join("tokenizer.json").exists());
    let over = sprs(&[
        "export",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--trial",
        "m",
        "--to",
        to.to_str().unwrap(),
    ]);
    assert!(over.status.success(), "{}", stderr(&over));
    assert!(!to.join("tokenizer.json").exists() && !to.join("tokenizer_config.json").exists());
}
