//! One trial's training: the model, AdamW, the masks, and one optimizer step at a time.
//!
//! At step t: the masks are raised first if the plan updates them at t (an update takes effect
//! for the forward pass of its step), then forward, backward, AdamW, and the masks are applied
//! to the weights again, so pruned weights are exactly zero after every step whatever AdamW's
//! moments or weight decay would do to them.

use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::backend::{Backend, Target};
use super::checkpoint::{Checkpoint, Header, MAX_RAN_ON};
use super::kernels;
use super::masks::Masks;
use super::model::Decoder;
use crate::config::{Decay, Interval, TrialConfig};
use crate::data::tokens::{Sampler, Tokens};
use crate::plan::PlannedTrial;
use crate::prune;
use crate::store::RanOn;

/// A freshly initialised model for `planned`: a function of its seed alone, on every backend.
fn initial_model(planned: &PlannedTrial, device: &Device) -> Decoder {
    Decoder::new(&planned.config.model, planned.config.seed, device).with_precision(planned.config.precision)
}

/// What one step did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// The step just taken, from 1.
    pub step: u64,
    /// Its training loss, in nats per token.
    pub loss: f64,
    /// The learning rate it used.
    pub lr: f64,
    /// Sparsity of the prunable weights in force for this step's forward pass.
    pub sparsity: f64,
    /// Counted non-zero parameters during this step, measured on the weights.
    pub nonzero: u64,
}

/// Why training stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The loss became NaN or infinite.
    NonFinite {
        /// The step it happened at.
        step: u64,
        /// The loss.
        loss: f64,
    },
    /// The data cannot feed this trial.
    Data(String),
    /// The checkpoint cannot be continued from: damaged, or not this trial's state. The run sets
    /// it aside and starts over.
    Checkpoint(String),
}

/// A run continued from a checkpoint.
pub struct Resumed<'a> {
    /// The trainer, with the checkpoint's weights, optimizer state and masks.
    pub trainer: Trainer<'a>,
    /// The next step to take.
    pub step: u64,
    /// Non-zero counted parameters summed over the steps before it.
    pub nonzero_sum: u128,
    /// The backends and devices that took those steps.
    pub ran_on: Vec<RanOn>,
}

/// One trial's training state: the model, its optimizer, its masks and its data, stepped one batch at a time.
pub struct Trainer<'a> {
    planned: &'a PlannedTrial,
    device: Device,
    model: Decoder,
    optim: ModuleOptimizer,
    masks: Masks,
    mask_tensors: Vec<Tensor<2>>,
    sampler: Sampler,
    tokens: &'a Tokens,
    /// Parameters the observables count that no schedule can prune.
    unprunable_counted: u64,
}

impl<'a> Trainer<'a> {
    /// A fresh model for a planned trial, on an autodiff device over `device`.
    pub fn new(planned: &'a PlannedTrial, tokens: &'a Tokens, device: &Device) -> Result<Trainer<'a>, Failure> {
        let device = device.clone().autodiff();
        let model = initial_model(planned, &device);
        Trainer::with_model(planned, tokens, &device, model)
    }

    /// A trainer that starts from `model` (made on `device`, an autodiff device).
    pub fn with_model(
        planned: &'a PlannedTrial,
        tokens: &'a Tokens,
        device: &Device,
        model: Decoder,
    ) -> Result<Trainer<'a>, Failure> {
        let config = &planned.config;
        let device = device.clone();
        if let Some(largest) = tokens.tokens.max() {
            if u64::from(largest) >= config.model.vocab {
                return Err(Failure::Data(format!(
                    "the data has token {largest}, beyond the model's vocabulary of {}",
                    config.model.vocab
                )));
            }
        }
        let sampler = Sampler::new(tokens, config.data.context as usize).map_err(Failure::Data)?;
        let sizes: Vec<usize> =
            model.prunable(&config.prune.targets).iter().map(|w| w.val().shape().num_elements()).collect();
        let prunable: u64 = sizes.iter().map(|&s| s as u64).sum();
        let masks = Masks::dense(&sizes);
        let mask_tensors = Vec::new();
        Ok(Trainer {
            planned,
            optim: optimizer(config, &model),
            device,
            model,
            masks,
            mask_tensors,
            sampler,
            tokens,
            unprunable_counted: planned.observables.n - prunable,
        })
    }

    /// The whole state of the run before step `step`, with the non-zero sum so far.
    /// `ran_on` are the backends and devices that took those steps.
    pub fn checkpoint(&self, step: u64, nonzero_sum: u128, ran_on: &[RanOn]) -> Result<Vec<u8>, String> {
        let model = self.model.clone().into_record().into_bytes().map_err(|e| format!("cannot save the model: {e}"))?;
        let optimizer = self.optim.into_bytes().map_err(|e| format!("cannot save the optimizer: {e}"))?;
        let header = Header {
            id: self.planned.id.clone(),
            step,
            nonzero_sum: nonzero_sum.to_string(),
            mask_sizes: self.masks.keep.iter().map(Vec::len).collect(),
            config: crate::check::config_digest(&self.planned.config),
            shapes: shapes(self.planned),
            ran_on: ran_on.to_vec(),
            checksum: String::new(),
        };
        Ok(Checkpoint { header, masks: self.masks.clone(), model: model.to_vec(), optimizer: optimizer.to_vec() }
            .encode())
    }

    /// Continues a run from a checkpoint.
    pub fn resume(
        planned: &'a PlannedTrial,
        tokens: &'a Tokens,
        device: &Device,
        bytes: &[u8],
    ) -> Result<Resumed<'a>, Failure> {
        let invalid = |reason: String| Failure::Checkpoint(reason);
        let checkpoint = Checkpoint::decode(bytes).map_err(invalid)?;
        let header = &checkpoint.header;
        if header.id != planned.id {
            return Err(invalid(format!("it belongs to trial `{}`", crate::escape::controls(&header.id))));
        }
        if header.config != crate::check::config_digest(&planned.config) {
            return Err(invalid("it was saved for another configuration than this trial's".into()));
        }
        if header.shapes != shapes(planned) {
            return Err(invalid("its tensors are not of this trial's shapes".into()));
        }
        // A checkpoint is saved before a step that is not the first or past the last.
        if header.step == 0 || header.step >= planned.steps {
            return Err(invalid(format!(
                "it continues at step {}, outside the run's {} steps",
                header.step, planned.steps
            )));
        }
        if header.ran_on.len() > MAX_RAN_ON
            || !header.ran_on.iter().all(|r| r.backend.parse::<Backend>().is_ok() && r.device.parse::<Target>().is_ok())
        {
            return Err(invalid("the backends and devices it names are not ones sprs runs on".into()));
        }
        let sum: u128 =
            header.nonzero_sum.parse().map_err(|e| invalid(format!("its non-zero count is damaged: {e}")))?;
        if sum > u128::from(header.step) * u128::from(planned.observables.n) {
            return Err(invalid(format!(
                "it counts {sum} non-zero parameter-steps in {} steps of at most {}",
                header.step, planned.observables.n
            )));
        }
        let device = device.clone().autodiff();
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(checkpoint.model))
            .map_err(|e| invalid(format!("its model is damaged: {e}")))?;
        let model = Decoder::lazy(&planned.config.model, &device)
            .try_load_record(record)
            .map_err(|e| invalid(format!("its model does not fit this trial: {e}")))?
            .with_precision(planned.config.precision);
        let mut trainer = Trainer::with_model(planned, tokens, &device, model)?;
        let sizes: Vec<usize> = trainer.masks.keep.iter().map(Vec::len).collect();
        let found: Vec<usize> = checkpoint.masks.keep.iter().map(Vec::len).collect();
        if found != sizes {
            return Err(invalid(format!("its masks have sizes {found:?}, the model's matrices {sizes:?}")));
        }
        // The masks hold exactly the pruned count of the sparsity in force before `step`.
        let prune = &planned.config.prune;
        let updates: Vec<prune::Update> =
            planned.prune.updates.iter().map(|&(step, sparsity)| prune::Update { step, sparsity }).collect();
        let in_force = prune::sparsity_at(&updates, header.step - 1);
        let expected = prune::pruned_in(in_force, prune.scope, sizes.iter().map(|&s| s as u64));
        if checkpoint.masks.pruned() != expected {
            return Err(invalid(format!(
                "its masks prune {} weights where the plan has {expected} before step {}",
                checkpoint.masks.pruned(),
                header.step
            )));
        }
        trainer.optim = trainer
            .optim
            .from_bytes(Bytes::from_bytes_vec(checkpoint.optimizer))
            .map_err(|e| invalid(format!("its optimizer state is damaged: {e}")))?;
        trainer.masks = checkpoint.masks;
        trainer.rebuild_mask_tensors();
        Ok(Resumed { trainer, step: checkpoint.header.step, nonzero_sum: sum, ran_on: checkpoint.header.ran_on })
    }

    /// The model being trained.
    pub fn model(&self) -> &Decoder {
        &self.model
    }

    /// The learning rate at `step`: linear warmup, then decay to `min_lr * lr`.
    pub fn lr(&self, step: u64) -> f64 {
        let optimizer = &self.planned.config.optimizer;
        let steps = self.planned.steps;
        let warmup = match optimizer.warmup {
            Interval::Steps(n) => n,
            Interval::Fraction(f) => (f * steps as f64).round() as u64,
        }
        .min(steps);
        if step < warmup {
            return optimizer.lr * (step + 1) as f64 / warmup as f64;
        }
        let progress = if steps > warmup + 1 { (step - warmup) as f64 / (steps - warmup - 1) as f64 } else { 1.0 };
        let floor = optimizer.min_lr;
        let scale = match optimizer.decay {
            Decay::Constant => 1.0,
            Decay::Linear => 1.0 - (1.0 - floor) * progress,
            Decay::Cosine => floor + (1.0 - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        };
        optimizer.lr * scale
    }

    /// Runs step `step`.
    pub fn step(&mut self, step: u64) -> Result<StepReport, Failure> {
        let config = &self.planned.config;
        let updates = &self.planned.prune.updates;
        if let Ok(i) = updates.binary_search_by_key(&step, |(at, _)| *at) {
            self.raise_masks(updates[i].1, step);
        }
        let (inputs, targets) = self.batch(&self.sampler.batch(config.seed, step, config.batch as usize));
        let loss = self.loss(&self.model, inputs, targets);
        let value =
            f64::from(loss.clone().into_data().try_to_vec::<f32>().map_err(|e| Failure::Data(format!("{e:?}")))?[0]);
        if !value.is_finite() {
            return Err(Failure::NonFinite { step, loss: value });
        }
        let mut grads = GradientsParams::from_grads(loss.backward(), &self.model);
        if config.optimizer.grad_clip > 0.0 {
            clip_global_norm(&self.model, &mut grads, config.optimizer.grad_clip);
        }
        let lr = self.lr(step);
        let model = self.optim.step(lr, self.model.clone(), grads);
        self.model = self.apply_masks(model);
        // Masks are applied after every step, so the masked weights are exactly zero (the tests
        // measure this on the weights with `kept`); counting from the masks keeps the weights on
        // the device.
        let kept = self.masks.keep.iter().map(|m| m.len() as u64).sum::<u64>() - self.masks.pruned();
        Ok(StepReport { step, loss: value, lr, sparsity: self.sparsity(), nonzero: self.unprunable_counted + kept })
    }

    /// Mean held-out loss, in nats per token, over the fixed evaluation windows.
    pub fn evaluate(&self, windows: &[usize]) -> f64 {
        let model = self.model.valid();
        let batch = self.planned.config.batch as usize;
        let (mut total, mut count) = (0.0, 0usize);
        for chunk in windows.chunks(batch.max(1)) {
            let (inputs, targets) = self.batch_on(chunk, &self.device.clone().inner());
            let loss = self.loss(&model, inputs, targets);
            let value = loss.into_data().try_to_vec::<f32>().map(|v| f64::from(v[0])).unwrap_or(f64::NAN);
            total += value * chunk.len() as f64;
            count += chunk.len();
        }
        total / count.max(1) as f64
    }

    /// Sparsity of the prunable weights, as the masks have it.
    pub fn sparsity(&self) -> f64 {
        let total: usize = self.masks.keep.iter().map(Vec::len).sum();
        if total == 0 {
            0.0
        } else {
            self.masks.pruned() as f64 / total as f64
        }
    }

    /// Prunable weights that are non-zero, counted on the weights themselves (a copy to the host).
    pub fn kept(&self) -> u64 {
        self.model
            .prunable(&self.planned.config.prune.targets)
            .iter()
            .map(|w| {
                w.val()
                    .inner()
                    .into_data()
                    .try_to_vec::<f32>()
                    .map_or(0, |v| v.iter().filter(|x| **x != 0.0).count() as u64)
            })
            .sum()
    }

    fn raise_masks(&mut self, sparsity: f64, step: u64) {
        let prune = &self.planned.config.prune;
        let weights: Vec<Vec<f32>> = self
            .model
            .prunable(&prune.targets)
            .iter()
            .map(|w| w.val().inner().into_data().try_to_vec::<f32>().unwrap_or_default())
            .collect();
        self.masks.update(&weights, sparsity, prune.scope, prune.method, self.planned.config.seed ^ step);
        self.rebuild_mask_tensors();
        self.model = self.apply_masks(self.model.clone());
        debug_assert_eq!(
            self.masks.pruned(),
            prune::pruned_in(sparsity, self.planned.config.prune.scope, self.masks.keep.iter().map(|m| m.len() as u64))
        );
    }

    /// The masks as tensors on the device, from `self.masks`.
    fn rebuild_mask_tensors(&mut self) {
        if self.masks.pruned() == 0 {
            self.mask_tensors.clear();
            return;
        }
        let prune = &self.planned.config.prune;
        let shapes: Vec<[usize; 2]> = self.model.prunable(&prune.targets).iter().map(|w| w.val().dims()).collect();
        self.mask_tensors = self
            .masks
            .keep
            .iter()
            .zip(shapes)
            .map(|(keep, shape)| {
                let values: Vec<f32> = keep.iter().map(|&k| if k { 1.0 } else { 0.0 }).collect();
                Tensor::<2>::from_data(TensorData::new(values, shape), &self.device).inner()
            })
            .collect();
    }

    fn apply_masks(&self, model: Decoder) -> Decoder {
        if self.mask_tensors.is_empty() {
            return model;
        }
        let masks = self.mask_tensors.clone();
        model.map_prunable(&self.planned.config.prune.targets, |i, weight: Param<Tensor<2>>| {
            let mask = masks[i].clone();
            weight.map(|w| Tensor::from_inner(w.inner() * mask).require_grad())
        })
    }

    /// Inputs `[batch, context]` and flattened targets `[batch * context]` of the windows.
    fn batch(&self, starts: &[usize]) -> (Tensor<2, Int>, Tensor<1, Int>) {
        self.batch_on(starts, &self.device)
    }

    fn batch_on(&self, starts: &[usize], device: &Device) -> (Tensor<2, Int>, Tensor<1, Int>) {
        let context = self.planned.config.data.context as usize;
        let mut inputs = Vec::with_capacity(starts.len() * context);
        let mut targets = Vec::with_capacity(starts.len() * context);
        for &start in starts {
            let window = self.tokens.tokens.window(start..start + context + 1);
            inputs.extend(window[..context].iter().map(|&t| t as i64));
            targets.extend(window[1..].iter().map(|&t| t as i64));
        }
        let n = starts.len();
        (
            Tensor::<2, Int>::from_data(TensorData::new(inputs, [n, context]), device),
            Tensor::<1, Int>::from_data(TensorData::new(targets, [n * context]), device),
        )
    }

    /// Mean cross-entropy of next-token prediction, in nats.
    fn loss(&self, model: &Decoder, inputs: Tensor<2, Int>, targets: Tensor<1, Int>) -> Tensor<1> {
        let logits = model.forward(inputs);
        let [batch, seq, vocab] = logits.dims();
        kernels::cross_entropy(logits.reshape([batch * seq, vocab]), targets)
    }
}

/// The shapes of a trial's tensors, as a checkpoint records them.
fn shapes(planned: &PlannedTrial) -> Vec<Vec<u64>> {
    crate::plan::tensors(&planned.config.model).into_iter().map(|t| t.shape).collect()
}

/// AdamW as configured, with weight decay only on the weight matrices (not on norms, biases or
/// embeddings). Gradient clipping is done before, over all parameters ([`clip_global_norm`]).
fn optimizer(config: &TrialConfig, model: &Decoder) -> ModuleOptimizer {
    let opt = &config.optimizer;
    let base = AdamWConfig::new()
        .with_beta_1(opt.betas[0] as f32)
        .with_beta_2(opt.betas[1] as f32)
        .with_epsilon(opt.eps as f32);
    let decayed = ParamGroup::from_ids(model.matrices().iter().map(|w| w.id).collect());
    base.clone().with_weight_decay(0.0).init().with_group(
        decayed,
        base.with_weight_decay(opt.weight_decay as f32).build(),
        None,
    )
}

/// Scales the gradients of all parameters together so that their global L2 norm is at most
/// `max_norm`, as PyTorch's `clip_grad_norm_` does (scale `max_norm / (norm + 1e-6)` when below 1).
pub fn clip_global_norm(model: &Decoder, grads: &mut GradientsParams, max_norm: f64) {
    struct SquaredNorm<'g> {
        grads: &'g GradientsParams,
        total: Option<Tensor<1>>,
    }
    impl ModuleVisitor for SquaredNorm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.grads.get::<D>(param.id) {
                let squares = grad.powf_scalar(2.0).sum();
                self.total = Some(match self.total.take() {
                    Some(total) => total + squares,
                    None => squares,
                });
            }
        }
    }
    struct Scale<'g> {
        grads: &'g mut GradientsParams,
        scale: f64,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.grads.remove::<D>(param.id) {
                self.grads.register(param.id, grad.mul_scalar(self.scale));
            }
        }
    }
    let mut squared = SquaredNorm { grads, total: None };
    model.visit(&mut squared);
    let Some(total) = squared.total else { return };
    let norm = total.into_data().try_to_vec::<f32>().map_or(f64::NAN, |v| f64::from(v[0]).sqrt());
    let scale = max_norm / (norm + 1e-6);
    if scale < 1.0 {
        model.visit(&mut Scale { grads, scale });
    }
}
