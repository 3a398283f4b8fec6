//! What a model needs in memory, computed from its (lazily initialized) parameters' shapes and
//! its stages' output shapes with checked arithmetic — before any parameter is drawn or any
//! activation computed — so that a width or an input size that cannot fit is refused with its
//! name instead of aborting the process.
//!
//! The count is an estimate on the safe side of what training holds at once: every parameter
//! with its gradient and two Adam moments, and every tensor a forward pass produces (the
//! convolution, batch norm, activation, dropout and pooling outputs of each stage, attention
//! scores of transformers), once as values and once as gradients.

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use crate::error::ModelError;
use crate::stage::{Block, ConvBn, VitStage};
use crate::staged::StagedModel;
use crate::summary::is_buffer;

/// Bytes of an f32.
const F32: u128 = 4;
/// Copies of each parameter during training: the value, its gradient, Adam's two moments.
const PARAMETER_COPIES: u128 = 4;
/// Copies of each activation during training: the value and its gradient.
const ACTIVATION_COPIES: u128 = 2;

/// Parameters and per-sample activations of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Trainable parameters (batch norm's running statistics excluded).
    pub parameters: u128,
    /// Floats a forward pass of one sample produces.
    pub activations_per_sample: u128,
}

impl Footprint {
    /// Bytes training holds at `batch` samples per step (`None` on overflow).
    pub fn training_bytes(&self, batch: usize) -> Option<u128> {
        let params = self.parameters.checked_mul(F32 * PARAMETER_COPIES)?;
        let acts = self
            .activations_per_sample
            .checked_mul(batch as u128)?
            .checked_mul(F32 * ACTIVATION_COPIES)?;
        params.checked_add(acts)
    }

    /// Refuses a model that cannot train at `batch` on this machine; `what` names the setting
    /// that made it this large (e.g. "model.width = 1e9 on 1x28x28 inputs").
    pub fn check(&self, batch: usize, what: &str) -> Result<u128, ModelError> {
        infoplane_data::memory::check_fits(self.training_bytes(batch)).map_err(|e| {
            ModelError::TooLarge {
                what: what.to_string(),
                reason: format!(
                    "{} parameters and {} activation values per sample at batch {batch}: training {e}",
                    self.parameters, self.activations_per_sample
                ),
            }
        })
    }
}

struct LazyParams {
    path: Vec<String>,
    count: Option<u128>,
}

impl ModuleVisitor for LazyParams {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.path.last().is_some_and(|f| is_buffer(f)) {
            return;
        }
        let n = infoplane_data::memory::product(param.lazy_shape().as_slice());
        self.count = match (self.count, n) {
            (Some(a), Some(b)) => a.checked_add(b),
            _ => None,
        };
    }
}

/// Trainable parameters of a module from their shapes, without initializing any (`None` on
/// overflow).
pub fn lazy_parameter_count<M: Module>(m: &M) -> Option<u128> {
    let mut v = LazyParams {
        path: Vec::new(),
        count: Some(0),
    };
    m.visit(&mut v);
    v.count
}

/// A per-sample shape and the floats produced so far.
#[derive(Debug, Clone)]
struct Flow {
    shape: Vec<usize>,
    produced: u128,
}

impl Flow {
    fn emit(mut self, shape: Vec<usize>, copies: u128) -> Option<Flow> {
        let n = infoplane_data::memory::product(&shape)?.checked_mul(copies)?;
        self.produced = self.produced.checked_add(n)?;
        self.shape = shape;
        Some(self)
    }
}

fn conv_out(side: usize, k: usize, stride: usize, pad: usize) -> Option<usize> {
    let padded = side.checked_add(pad.checked_mul(2)?)?;
    Some(padded.checked_sub(k)? / stride.max(1) + 1)
}

fn conv_shape(conv: &Conv2d, shape: &[usize]) -> Option<Vec<usize>> {
    let [c, h, w] = <[usize; 3]>::try_from(shape).ok()?;
    let wshape = conv.weight.lazy_shape();
    let [cout, cin, kh, kw] = <[usize; 4]>::try_from(wshape.as_slice()).ok()?;
    if cin * conv.groups != c {
        return None;
    }
    let (ph, pw) = match conv.padding {
        PaddingConfig2d::Valid => (0, 0),
        PaddingConfig2d::Explicit(top, left, _, _) => (top, left),
        PaddingConfig2d::Same => return Some(vec![cout, h, w]),
    };
    Some(vec![
        cout,
        conv_out(h, kh, conv.stride[0], ph)?,
        conv_out(w, kw, conv.stride[1], pw)?,
    ])
}

fn conv_bn(flow: Flow, c: &ConvBn) -> Option<Flow> {
    let out = conv_shape(&c.conv, &flow.shape)?;
    flow.emit(out, 1 + c.bn.is_some() as u128)
}

fn vit(flow: Flow, s: &VitStage) -> Option<Flow> {
    let mut flow = flow;
    if let Some(e) = &s.embed {
        let map = conv_shape(&e.proj, &flow.shape)?;
        let tokens = map[1].checked_mul(map[2])?.checked_add(1)?;
        flow = flow.emit(map.clone(), 1)?.emit(vec![tokens, map[0]], 2)?;
    }
    let [tokens, dim] = <[usize; 2]>::try_from(flow.shape.as_slice()).ok()?;
    let b = &s.block;
    let hidden = b.fc1.weight.lazy_shape().as_slice().last().copied()?;
    let heads = b.attn.n_heads;
    // Two layer norms, q, k, v, the context, the attention output, two residual sums.
    let flow = flow.emit(vec![tokens, dim], 9)?;
    // Scores and their softmax, per head.
    let flow = flow.emit(vec![heads, tokens, tokens], 2)?;
    // The MLP's expansion and its GELU, then the projection back.
    let flow = flow.emit(vec![tokens, hidden], 2)?;
    flow.emit(vec![tokens, dim], 1)
}

fn block(flow: Flow, b: &Block) -> Option<Flow> {
    match b {
        Block::Conv(s) => {
            let flow = conv_bn(flow, &s.conv)?;
            let shape = flow.shape.clone();
            let flow = flow.emit(shape.clone(), 1 + s.dropout.is_some() as u128)?;
            match &s.pool {
                Some(p) => {
                    let (k, st) = (p.kernel_size[0], p.stride[0]);
                    let pooled = vec![
                        shape[0],
                        conv_out(shape[1], k, st, 0)?,
                        conv_out(shape[2], k, st, 0)?,
                    ];
                    flow.emit(pooled, 1)
                }
                None => Some(flow),
            }
        }
        Block::Dense(s) => {
            let dout = s.linear.weight.lazy_shape().as_slice().last().copied()?;
            let din = s.linear.weight.lazy_shape().as_slice().first().copied()?;
            if infoplane_data::memory::product(&flow.shape)? != din as u128 {
                return None;
            }
            let copies = 1 + s.bn.is_some() as u128 + s.relu as u128 + s.dropout.is_some() as u128;
            flow.emit(vec![dout], copies)
        }
        Block::Basic(s) => {
            let input = flow.clone();
            let main = conv_bn(flow, &s.conv1)?;
            let shape = main.shape.clone();
            let main = conv_bn(main.emit(shape, 1)?, &s.conv2)?;
            residual(input, main, s.shortcut.as_ref())
        }
        Block::Bottleneck(s) => {
            let input = flow.clone();
            let main = conv_bn(flow, &s.conv1)?;
            let shape = main.shape.clone();
            let main = conv_bn(main.emit(shape, 1)?, &s.conv2)?;
            let shape = main.shape.clone();
            let main = conv_bn(main.emit(shape, 1)?, &s.conv3)?;
            residual(input, main, s.shortcut.as_ref())
        }
        Block::Vit(s) => vit(flow, s),
    }
}

/// The shortcut (identity or projection) beside the main path, the sum and its ReLU.
fn residual(input: Flow, main: Flow, shortcut: Option<&ConvBn>) -> Option<Flow> {
    let mut main = main;
    if let Some(p) = shortcut {
        let side = conv_bn(
            Flow {
                shape: input.shape,
                produced: 0,
            },
            p,
        )?;
        if side.shape != main.shape {
            return None;
        }
        main.produced = main.produced.checked_add(side.produced)?;
    } else if input.shape != main.shape {
        return None;
    }
    let shape = main.shape.clone();
    main.emit(shape, 2)
}

impl StagedModel<Block> {
    /// Parameters and per-sample activations of the model, from shapes alone (nothing is
    /// allocated). Errors when a count overflows or the stages do not fit the input.
    pub fn footprint(&self) -> Result<Footprint, ModelError> {
        let too_large = |reason: &str| ModelError::TooLarge {
            what: format!(
                "{} on {} inputs",
                self.description,
                self.input_shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("x")
            ),
            reason: reason.to_string(),
        };
        let parameters =
            lazy_parameter_count(self).ok_or_else(|| too_large("its parameter count overflows"))?;
        let mut flow = Flow {
            shape: self.input_shape.clone(),
            produced: 0,
        };
        for (i, s) in self.stages.iter().enumerate() {
            flow = block(flow, s).ok_or_else(|| {
                too_large(&format!(
                    "the output of stage {} ({}) overflows or does not fit its input",
                    i + 1,
                    self.names[i]
                ))
            })?;
        }
        Ok(Footprint {
            parameters,
            activations_per_sample: flow.produced,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::arch::ArchConfig;
    use crate::summary::count_parameters;
    use burn::tensor::Device;

    #[test]
    fn parameters_from_shapes_match_the_initialized_count_and_activations_the_stage_shapes() {
        let device = Device::flex();
        for name in ArchConfig::NAMES {
            let cfg = ArchConfig::by_name(name).unwrap();
            let input = if name == "mlp" {
                [1, 28, 28]
            } else {
                [3, 32, 32]
            };
            let model = cfg.init(input, 10, &device).unwrap();
            let f = model.footprint().unwrap();
            // The classifier's parameters are counted too; the activations of every stage
            // output are among the floats produced, and the intermediate tensors (batch
            // norm, activations, attention scores) add a bounded multiple.
            assert_eq!(f.parameters, count_parameters(&model) as u128, "{name}");
            let outputs: u128 = model
                .output_shapes(&device)
                .iter()
                .map(|s| s.iter().product::<usize>() as u128)
                .sum();
            assert!(f.activations_per_sample >= outputs, "{name}");
            assert!(
                f.activations_per_sample <= 32 * outputs,
                "{name}: {f:?} vs {outputs}"
            );
        }
    }

    #[test]
    fn resnet18_at_full_width_on_cifar_needs_a_few_hundred_megabytes_at_batch_128() {
        let device = Device::flex();
        let model = ArchConfig::by_name("resnet18")
            .unwrap()
            .init([3, 32, 32], 10, &device)
            .unwrap();
        let f = model.footprint().unwrap();
        assert_eq!(f.parameters, 11_173_962);
        let bytes = f.training_bytes(128).unwrap();
        assert!((100 << 20..4 << 30).contains(&bytes), "{bytes}");
    }
}
