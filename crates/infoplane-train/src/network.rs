//! What a strategy trains: the backbone (a plain staged model) and every module the strategy
//! adds to it — auxiliary heads, a projection head, a classifier on detached features, the
//! signal-propagation label path — as one burn module, so that one optimizer and one
//! checkpoint hold everything. The strategy decides which parts exist and how they are used;
//! this type only holds them and answers the questions every strategy shares.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use infoplane_models::{Block, Head, Repr, Stage, StagedModel};

/// The learned label path of signal propagation (REFERENCE.md, the authors' later code):
/// one-hot → linear (no bias, C → c·h·w) → layer norm → ReLU, shaped like the model's input,
/// so that the label signal can be sent through the same stages as the data.
#[derive(Module, Debug)]
pub struct LabelPath {
    /// The embedding C → c·h·w.
    pub embed: Linear,
    /// Layer norm over the c·h·w values.
    pub norm: LayerNorm,
    /// The input shape (c, h, w).
    pub shape: Vec<usize>,
    /// Classes.
    pub classes: usize,
}

impl LabelPath {
    /// A label path for inputs of `shape` and `classes` classes.
    pub fn new(classes: usize, shape: &[usize], device: &Device) -> Self {
        let d = shape.iter().product();
        LabelPath {
            embed: LinearConfig::new(classes, d).with_bias(false).init(device),
            norm: LayerNormConfig::new(d).init(device),
            shape: shape.to_vec(),
            classes,
        }
    }

    /// The signal of each label: `[n]` → `[n, c, h, w]`.
    pub fn forward(&self, labels: Tensor<1, Int>) -> Tensor<4> {
        let n = labels.dims()[0];
        let device = labels.device();
        let idx: Vec<i64> = labels.try_into_vec_as::<i64>().expect("integer labels");
        let mut onehot = vec![0f32; n * self.classes];
        for (i, &c) in idx.iter().enumerate() {
            onehot[i * self.classes + c as usize] = 1.0;
        }
        let y = Tensor::<2>::from_data(TensorData::new(onehot, [n, self.classes]), &device);
        let s = relu(self.norm.forward(self.embed.forward(y)));
        s.reshape([n, self.shape[0], self.shape[1], self.shape[2]])
    }
}

/// The backbone and the modules a strategy adds.
#[derive(Module, Debug)]
pub struct Network<S: Stage + Module = Block> {
    /// The staged model.
    pub model: StagedModel<S>,
    /// One auxiliary head per stage (`None` where a stage has none, e.g. the stage whose
    /// output is the class scores under cross-entropy).
    pub heads: Vec<Option<Head>>,
    /// A projection head on the last representation (E2E contrastive losses).
    pub projection: Option<Head>,
    /// A linear classifier trained with cross-entropy on the detached last representation,
    /// for models whose last stage outputs class scores but whose loss is not cross-entropy.
    pub readout: Option<Head>,
    /// The label path of signal propagation.
    pub label_path: Option<LabelPath>,
}

impl<S: Stage + Module> Network<S> {
    /// A network with nothing added to the backbone.
    pub fn bare(model: StagedModel<S>) -> Self {
        let stages = model.num_stages();
        Network {
            model,
            heads: (0..stages).map(|_| None).collect(),
            projection: None,
            readout: None,
            label_path: None,
        }
    }

    /// The features a classifier on the last representation reads (tokens reduced).
    pub fn last_features(&self, last: Repr) -> Repr {
        self.model.read(last)
    }

    /// Class scores from the last representation: the model's classifier, else the readout
    /// classifier, else the representation itself (it is the class scores).
    pub fn scores(&self, last: Repr) -> Tensor<2> {
        match (&self.model.classifier, &self.readout) {
            (Some(_), _) => self.model.logits(last),
            (None, Some(r)) => r.forward(self.model.read(last)).flatten(),
            (None, None) => last.flatten(),
        }
    }

    /// The class scores trained on the detached last representation (layer-wise and
    /// contrastive runs): the model's classifier or the readout classifier.
    pub fn detached_scores(&self, last: Repr) -> Option<Tensor<2>> {
        let last = last.detach();
        match (&self.model.classifier, &self.readout) {
            (Some(_), _) => Some(self.model.logits(last)),
            (None, Some(r)) => Some(r.forward(self.model.read(last)).flatten()),
            (None, None) => None,
        }
    }
}

/// Number of correct predictions of `scores` `[n, C]` for `labels` `[n]`.
pub fn correct(scores: Tensor<2>, labels: Tensor<1, Int>) -> usize {
    let pred = scores.argmax(1).squeeze_dim::<1>(1);
    pred.equal(labels).int().sum().into_scalar::<i64>() as usize
}
