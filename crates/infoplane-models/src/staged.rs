//! The staged-model abstraction (the README, "Architecture"): an ordered list of stages, usable whole
//! (E2E: gradients flow through every stage) or stage by stage with detached inputs
//! (layer-wise: each stage sees its input as a constant), exposing every intermediate
//! representation T1..TL for the analyses, and an optional classifier after the last stage.
//!
//! Two shapes of model exist in the paper. LeNet5 and the MLP end in a stage whose output is
//! the class scores (T_L are the logits, and there is no classifier). VGG11, ResNet and ViT end
//! in a representation, and a classifier (global average pooling or token readout, then a
//! linear map) turns T_L into class scores.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::repr::{Repr, TokenReadout};
use crate::stage::{Block, DenseBlock, Stage};

/// The classifier after the last stage: global average pooling of a feature map (or the
/// token readout of tokens), optional hidden fully connected blocks, and a linear map.
#[derive(Module, Debug)]
pub struct Classifier {
    /// Hidden blocks before the last linear map (none in the standard networks).
    pub hidden: Vec<DenseBlock>,
    /// The linear map to the class scores.
    pub linear: Linear,
    /// How tokens are read.
    #[module(skip)]
    pub readout: TokenReadout,
}

impl Classifier {
    /// A linear classifier on `features` inputs.
    pub fn linear(features: usize, classes: usize, readout: TokenReadout, device: &Device) -> Self {
        Classifier {
            hidden: Vec::new(),
            linear: LinearConfig::new(features, classes).init(device),
            readout,
        }
    }

    /// Features the linear map sees for a representation of per-sample `shape`
    /// (maps: channels after global pooling; tokens: the token width).
    pub fn input_features(shape: &[usize]) -> usize {
        match shape.len() {
            3 => shape[0],
            2 => shape[1],
            _ => shape.iter().product(),
        }
    }

    /// Pools a representation to the vector the classifier sees.
    pub fn pool(&self, t: Repr) -> Tensor<2> {
        match t.read_tokens(self.readout) {
            Repr::Map(m) => {
                let [n, c, h, w] = m.dims();
                let options = burn::tensor::ops::AvgPoolOptions::new([h, w]);
                infoplane_flexconv::avg_pool2d(m, options).reshape([n, c])
            }
            other => other.flatten(),
        }
    }

    /// Class scores `[n, classes]`.
    pub fn forward(&self, t: Repr) -> Tensor<2> {
        let mut x = Repr::Flat(self.pool(t));
        for h in &self.hidden {
            x = h.forward(x);
        }
        self.linear.forward(x.flatten())
    }
}

/// What a stage is in its model, for reports ("the first layer", not "index 0").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageRole {
    /// The first stage (sees the input).
    First,
    /// A stage between the first and the last.
    Middle,
    /// The last stage, whose output a classifier reads.
    Last,
    /// The last stage, whose output is the class scores.
    Output,
}

impl StageRole {
    /// Name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            StageRole::First => "first",
            StageRole::Middle => "middle",
            StageRole::Last => "last",
            StageRole::Output => "output",
        }
    }
}

/// A model made of stages T(0) = x → T(1) → … → T(L), and class scores from T(L) (through
/// the classifier when there is one, otherwise T(L) itself).
#[derive(Module, Debug)]
pub struct StagedModel<S: Stage + Module = Block> {
    /// The stages, in order.
    pub stages: Vec<S>,
    /// The classifier after the last stage (none when T(L) are the class scores).
    pub classifier: Option<Classifier>,
    /// Stage names, for reports ("conv1", "block3", …).
    pub names: Vec<String>,
    /// Per-sample input shape (channels, height, width).
    pub input_shape: Vec<usize>,
    /// Number of classes.
    pub num_classes: usize,
    /// How token representations are read by heads, probes and the information plane.
    #[module(skip)]
    pub readout: TokenReadout,
    /// One line describing the architecture, for reports.
    pub description: String,
    /// Largest number of features an auxiliary head or probe sees (maps are average-pooled
    /// down to it).
    pub head_features: usize,
}

impl<S: Stage + Module> StagedModel<S> {
    /// A model from its parts. `names` must name every stage.
    pub fn new(
        stages: Vec<S>,
        names: Vec<String>,
        classifier: Option<Classifier>,
        input_shape: [usize; 3],
        num_classes: usize,
        description: impl Into<String>,
    ) -> Self {
        assert_eq!(stages.len(), names.len(), "one name per stage");
        StagedModel {
            stages,
            classifier,
            names,
            input_shape: input_shape.to_vec(),
            num_classes,
            readout: TokenReadout::Mean,
            description: description.into(),
            head_features: crate::heads::MAX_HEAD_FEATURES,
        }
    }

    /// The same model with another limit on the features heads and probes see.
    pub fn with_head_features(mut self, max: usize) -> Self {
        self.head_features = max;
        self
    }

    /// The same model with another token readout (transformers).
    pub fn with_readout(mut self, readout: TokenReadout) -> Self {
        self.readout = readout;
        if let Some(c) = &mut self.classifier {
            c.readout = readout;
        }
        self
    }

    /// The same model with its first `k` stages frozen (no gradients, so no optimizer moves
    /// them): sequential layer-wise phases, forward-forward phases and retraining share it.
    /// Freezing does not change batch norm's mode; measurements use [`Module::valid`].
    pub fn freeze_prefix(mut self, k: usize) -> Self {
        self.stages = self
            .stages
            .into_iter()
            .enumerate()
            .map(|(i, s)| if i < k { s.freeze() } else { s })
            .collect();
        self
    }

    /// Number of stages.
    pub fn num_stages(&self) -> usize {
        self.stages.len()
    }

    /// True when the last stage's output is the class scores (no classifier).
    pub fn ends_in_logits(&self) -> bool {
        self.classifier.is_none()
    }

    /// The role of stage `i` (0-based).
    pub fn role(&self, i: usize) -> StageRole {
        let last = self.stages.len().saturating_sub(1);
        if i == last {
            if self.ends_in_logits() {
                StageRole::Output
            } else {
                StageRole::Last
            }
        } else if i == 0 {
            StageRole::First
        } else {
            StageRole::Middle
        }
    }

    /// Class scores of the last representation.
    pub fn logits(&self, last: Repr) -> Tensor<2> {
        match &self.classifier {
            Some(c) => c.forward(last),
            None => last.flatten(),
        }
    }

    /// The class scores of `x` (`[n, c, h, w]` → `[n, classes]`), gradients through all stages.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let last = self.stages.iter().fold(Repr::Map(x), |t, s| s.forward(t));
        self.logits(last)
    }

    /// Every representation T(1)..T(L) as the stages produce them, gradients through all
    /// stages (E2E).
    pub fn forward_all(&self, x: Tensor<4>) -> Vec<Repr> {
        let mut out = Vec::with_capacity(self.stages.len());
        let mut t = Repr::Map(x);
        for s in &self.stages {
            t = s.forward(t);
            out.push(t.clone());
        }
        out
    }

    /// Stage `i` (0-based) on `input`.
    pub fn forward_stage(&self, i: usize, input: Repr) -> Repr {
        self.stages[i].forward(input)
    }

    /// Stage `i` (0-based) applied to `input` detached from the graph: gradients of anything
    /// computed from the result reach stage `i`'s parameters and stop there.
    pub fn forward_stage_detached(&self, i: usize, input: Repr) -> Repr {
        self.stages[i].forward(input.detach())
    }

    /// A representation as the analyses read it: tokens reduced by the model's readout.
    pub fn read(&self, t: Repr) -> Repr {
        t.read_tokens(self.readout)
    }

    /// Per-sample shape of every representation T(1)..T(L) as the stages produce them, found
    /// by running one sample through the model in evaluation mode on `device`.
    pub fn output_shapes(&self, device: &Device) -> Vec<Vec<usize>> {
        let shape = [
            1,
            self.input_shape[0],
            self.input_shape[1],
            self.input_shape[2],
        ];
        let x = Tensor::<4>::zeros(shape, &device.clone().without_autodiff());
        self.valid()
            .forward_all(x)
            .iter()
            .map(Repr::sample_shape)
            .collect()
    }

    /// Per-sample shape of every representation as the analyses read it (tokens reduced).
    pub fn read_shapes(&self, device: &Device) -> Vec<Vec<usize>> {
        self.output_shapes(device)
            .into_iter()
            .map(|s| if s.len() == 2 { vec![s[1]] } else { s })
            .collect()
    }
}
