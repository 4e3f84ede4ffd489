//! A model's tensors to and from plain data: the final weights a trial keeps
//! ([`crate::store::weights`]), and the model that `sprs score` and `sprs generate` rebuild from them.
//! Each tensor of [`crate::plan::tensors`] names one parameter of the [`Decoder`] ([`Decoder::slot`]).

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};

use super::model::{Decoder, Norm};
use crate::config::ModelConfig;
use crate::plan::{tensors, Part, TensorSpec};
use crate::store::weights;

/// A parameter of the model, by rank.
enum Slot<'a> {
    Vector(&'a mut Param<Tensor<1>>),
    Matrix(&'a mut Param<Tensor<2>>),
}

impl Slot<'_> {
    fn values(&self) -> Result<Vec<f32>, String> {
        let data = match self {
            Slot::Vector(param) => param.val().into_data(),
            Slot::Matrix(param) => param.val().into_data(),
        };
        data.try_to_vec::<f32>().map_err(|e| format!("cannot read a weight: {e:?}"))
    }

    /// The values on `device`, trainable there when it is an autodiff device.
    fn set(self, values: Vec<f32>, shape: &[usize], device: &Device) {
        let data = TensorData::new(values, shape.to_vec());
        let trainable = device.is_autodiff();
        match self {
            Slot::Vector(param) => {
                let tensor = Tensor::<1>::from_data(data, device).set_require_grad(trainable);
                *param = Param::initialized(param.id, tensor);
            }
            Slot::Matrix(param) => {
                let tensor = Tensor::<2>::from_data(data, device).set_require_grad(trainable);
                *param = Param::initialized(param.id, tensor);
            }
        }
    }
}

impl Decoder {
    /// Every tensor of the model, in [`crate::plan::tensors`]'s order and names, copied to the host.
    pub fn tensors(&self, config: &ModelConfig) -> Result<Vec<weights::Tensor>, String> {
        // The parameters are reference-counted: the copy shares them and only lends them mutably.
        let mut model = self.clone();
        tensors(config)
            .iter()
            .map(|spec| {
                let values = model.slot(spec)?.values()?;
                Ok(weights::Tensor { name: spec.name(), shape: dims(spec), values })
            })
            .collect()
    }

    /// The model of `config` on `device` with `tensors` (as [`Decoder::tensors`] gives them)
    /// as its parameters; nothing is drawn at random.
    pub fn from_tensors(
        config: &ModelConfig,
        tensors: Vec<weights::Tensor>,
        device: &Device,
    ) -> Result<Decoder, String> {
        let specs = crate::plan::tensors(config);
        if specs.len() != tensors.len() {
            return Err(format!("{} tensors for a model of {}", tensors.len(), specs.len()));
        }
        let mut model = Decoder::lazy(config, device);
        for (spec, tensor) in specs.iter().zip(tensors) {
            if tensor.name != spec.name() || tensor.shape != dims(spec) {
                return Err(format!(
                    "`{}` {:?} where the model has `{}` {:?}",
                    tensor.name,
                    tensor.shape,
                    spec.name(),
                    spec.shape
                ));
            }
            model.slot(spec)?.set(tensor.values, &tensor.shape, device);
        }
        Ok(model)
    }

    /// The parameter `spec` names.
    fn slot(&mut self, spec: &TensorSpec) -> Result<Slot<'_>, String> {
        let missing = || format!("the model has no `{}`", spec.name());
        let slot = match spec.block {
            None => match spec.part {
                Part::Embedding if !spec.bias => Some(Slot::Matrix(&mut self.embedding.weight)),
                Part::Positions if !spec.bias => self.positions.as_mut().map(|p| Slot::Matrix(&mut p.weight)),
                Part::Norm => norm(&mut self.norm, spec.bias),
                Part::Head => self.head.as_mut().and_then(|head| linear(head, spec.bias)),
                _ => None,
            },
            Some(index) => {
                let block = self.blocks.get_mut(index as usize).ok_or_else(missing)?;
                let (attention, mlp) = (&mut block.attention, &mut block.mlp);
                match spec.part {
                    Part::Norm1 => norm(&mut block.norm_1, spec.bias),
                    Part::Norm2 => norm(&mut block.norm_2, spec.bias),
                    Part::Q => linear(&mut attention.q, spec.bias),
                    Part::K => linear(&mut attention.k, spec.bias),
                    Part::V => linear(&mut attention.v, spec.bias),
                    Part::O => linear(&mut attention.o, spec.bias),
                    Part::Gate => mlp.gate.as_mut().and_then(|gate| linear(gate, spec.bias)),
                    // GELU's `fc` and `proj` are the model's `up` and `down`.
                    Part::Up | Part::Fc => linear(&mut mlp.up, spec.bias),
                    Part::Down | Part::Proj => linear(&mut mlp.down, spec.bias),
                    Part::Embedding | Part::Positions | Part::Norm | Part::Head => None,
                }
            }
        };
        slot.ok_or_else(missing)
    }
}

/// A norm's scale, or a LayerNorm's shift.
fn norm(norm: &mut Norm, bias: bool) -> Option<Slot<'_>> {
    match (norm, bias) {
        (Norm::Rms(norm), false) => Some(Slot::Vector(&mut norm.gamma)),
        (Norm::Layer(norm), false) => Some(Slot::Vector(&mut norm.gamma)),
        (Norm::Layer(norm), true) => norm.beta.as_mut().map(Slot::Vector),
        (Norm::Rms(_), true) => None,
    }
}

/// A linear layer's weight or bias.
fn linear(linear: &mut burn::nn::Linear, bias: bool) -> Option<Slot<'_>> {
    match bias {
        false => Some(Slot::Matrix(&mut linear.weight)),
        true => linear.bias.as_mut().map(Slot::Vector),
    }
}

fn dims(spec: &TensorSpec) -> Vec<usize> {
    spec.shape.iter().map(|&d| d as usize).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Arch;
    use burn::tensor::Int;

    /// The tensors of a model rebuild a model that computes the same logits, for both
    /// architectures, tied and untied.
    #[test]
    fn tensors_rebuild_the_same_model() {
        let device = crate::train::backend::cpu();
        for (arch, tie) in [(Arch::Llama, false), (Arch::Llama, true), (Arch::Gpt, true), (Arch::Gpt, false)] {
            let config = ModelConfig {
                arch,
                width: 16,
                depth: 2,
                heads: 2,
                mlp: 24,
                vocab: 40,
                context: 8,
                tie_embeddings: tie,
            };
            let model = Decoder::new(&config, 7, &device);
            let tensors = model.tensors(&config).unwrap();
            assert_eq!(
                tensors.iter().map(|t| t.values.len() as u64).sum::<u64>(),
                crate::plan::Shape::of(&config).counts().total
            );
            let rebuilt = Decoder::from_tensors(&config, tensors.clone(), &device).unwrap();
            assert_eq!(rebuilt.tensors(&config).unwrap(), tensors);
            let ids = Tensor::<2, Int>::from_ints([[1, 5, 9, 3, 39, 0]], &device);
            let (a, b) = (model.forward(ids.clone()).into_data(), rebuilt.forward(ids).into_data());
            assert_eq!(a.try_to_vec::<f32>().unwrap(), b.try_to_vec::<f32>().unwrap(), "{arch:?} tied {tie}");
        }
    }

    #[test]
    fn tensors_of_another_shape_are_refused() {
        let device = crate::train::backend::cpu();
        let config = ModelConfig {
            arch: Arch::Llama,
            width: 8,
            depth: 1,
            heads: 2,
            mlp: 16,
            vocab: 10,
            context: 4,
            tie_embeddings: false,
        };
        let mut tensors = Decoder::new(&config, 1, &device).tensors(&config).unwrap();
        tensors[1].shape = vec![4];
        assert!(Decoder::from_tensors(&config, tensors, &device).is_err());
    }
}
