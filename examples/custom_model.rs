//! A model defined outside infoplane, trained layer-wise through infoplane's own training
//! loop.
//!
//! Any burn module can be a stage: implement [`Stage`] (one `forward` from representation to
//! representation) for your own type — here an enum of two small modules — and put the stages
//! in a [`StagedModel`]. A method's checked parameters build the strategy around it
//! (`LayerwiseParams::init` adds the auxiliary heads), and [`run_with`] trains it with the
//! same loop, information plane, probes, checkpoints and resume as the paper's architectures:
//! the run folder gets `config.toml`, `metrics.jsonl`, `infoplane.jsonl`, `probes.csv`,
//! `checkpoint/` and `summary.json`.
//!
//!     cargo run --release --example custom_model [-- OUT_DIR]
//!
//! It trains three stages on 1,024 digits of the bundled mnist-10k for two epochs and prints
//! nHSIC(X;T) and nHSIC(Y;T) of every stage before and after, and the probes. The test suite
//! builds and runs it, and checks that a run stopped after one epoch and resumed ends exactly
//! like an uninterrupted one.

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::Device;
use burn::tensor::activation::{relu, tanh};
use infoplane::data::{DatasetName, Locator};
use infoplane::models::{HeadKind, Repr, Stage, StagedModel};
use infoplane::train::config::{
    DataConfig, InfoPlaneConfig, OptimConfig, ProbeConfig, ProbeMethod,
};
use infoplane::train::methods::layerwise::LayerwiseParams;
use infoplane::train::{
    BuildEnv, OnExisting, Params, Result, RunOptions, RunSpec, RunSummary, run_with,
};

/// A strided convolution with tanh: a stage of our own design.
#[derive(Module, Debug)]
pub struct TanhConv {
    conv: Conv2d,
}

/// A linear layer with ReLU on the flattened input.
#[derive(Module, Debug)]
pub struct Dense {
    linear: Linear,
}

/// The stages of our model.
#[derive(Module, Debug)]
pub enum MyStage {
    /// Convolution.
    Conv(TanhConv),
    /// Fully connected.
    Dense(Dense),
}

impl Stage for MyStage {
    fn forward(&self, x: Repr) -> Repr {
        match (self, x) {
            (MyStage::Conv(s), Repr::Map(m)) => Repr::Map(tanh(s.conv.forward(m))),
            (MyStage::Dense(s), other) => Repr::Flat(relu(s.linear.forward(other.flatten()))),
            (MyStage::Conv(_), other) => panic!("a conv stage got {:?}", other.sample_shape()),
        }
    }
}

/// conv 8@3x3 stride 2 (28 → 14), conv 16@3x3 stride 2 (14 → 7), dense 64.
fn my_model(device: &Device) -> StagedModel<MyStage> {
    let conv = |cin, cout| {
        MyStage::Conv(TanhConv {
            conv: Conv2dConfig::new([cin, cout], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
        })
    };
    let stages = vec![
        conv(1, 8),
        conv(8, 16),
        MyStage::Dense(Dense {
            linear: LinearConfig::new(16 * 7 * 7, 64).init(device),
        }),
    ];
    let names = ["tanh-conv1", "tanh-conv2", "dense3"]
        .map(String::from)
        .to_vec();
    // No classifier: the layer-wise heads classify, and we measure the representations.
    let classifier = Some(infoplane::models::Classifier::linear(
        64,
        10,
        Default::default(),
        device,
    ));
    StagedModel::new(
        stages,
        names,
        classifier,
        [1, 28, 28],
        10,
        "a model of our own",
    )
}

/// Trains the model layer-wise into `dir` through infoplane's loop (`stop_after`: stop as if
/// killed after that many epochs; `resume`: continue the run in `dir`).
pub fn train(dir: &Path, stop_after: Option<usize>, resume: bool) -> Result<RunSummary> {
    let device = Device::flex();
    let mut data = infoplane::data::load(DatasetName::Mnist10k, &Locator::standard(None))?;
    data.train = data.train.subset(1024, 0);
    data.test = data.test.subset(512, 1);
    let data_cfg: DataConfig = toml::from_str("dataset = \"mnist-10k\"").expect("a data table");
    let optim = OptimConfig {
        lr: 2e-3,
        ..Default::default()
    };
    let infoplane = InfoPlaneConfig {
        samples: 256,
        batch: 128,
        every_steps: 4,
        ..Default::default()
    };
    let probe = ProbeConfig {
        method: ProbeMethod::Ridge,
        ..Default::default()
    };
    // The method: simultaneous layer-wise cross-entropy through linear heads.
    let params = LayerwiseParams::cross_entropy(HeadKind::Linear);
    let trains_on = device.clone().autodiff();
    let env = BuildEnv {
        classes: 10,
        epochs: 2,
        seed: 0,
        optim: &optim,
        device: &trains_on,
        train: None,
        config: None,
    };
    let mut strategy = params.init(my_model(&trains_on), &env)?;
    let spec = RunSpec {
        name: "custom-model",
        seed: 0,
        batch_size: 128,
        data: &data_cfg,
        optim: &optim,
        infoplane: &infoplane,
        probe: &probe,
        // What config.toml records; a resumed run must have been started with the same.
        record: format!(
            "# a model of our own (examples/custom_model.rs)\nmodel = \"tanh-conv1, tanh-conv2, dense3\"\nstrategy = \"{}\"\nepochs = 2\nlr = 2e-3\n",
            params.label()
        ),
        label: params.label(),
        retrained_from: None,
    };
    let opts = RunOptions {
        on_existing: if resume {
            OnExisting::Resume
        } else {
            OnExisting::Overwrite
        },
        stop_after_epochs: stop_after,
        ..Default::default()
    };
    run_with(&spec, &data, &mut strategy, &device, dir, &opts)
}

fn main() {
    infoplane::flexconv::keep_freed_memory();
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "runs/custom-model".into());
    let s = train(Path::new(&dir), None, false).expect("training");
    for st in &s.stages {
        println!(
            "{:<11} nHSIC(X;T) {:7.3} -> {:7.3}  nHSIC(Y;T) {:6.3} -> {:6.3}  probe test {:.1}%",
            st.name,
            st.nhsic_x[0],
            st.nhsic_x.last().unwrap_or(&f64::NAN),
            st.nhsic_y[0],
            st.nhsic_y.last().unwrap_or(&f64::NAN),
            100.0 * st.probe_test_accuracy.unwrap_or(f64::NAN)
        );
    }
    println!(
        "test accuracy {:.2}%; run folder {dir}",
        100.0 * s.test_accuracy
    );
}

#[test]
fn a_model_of_our_own_trains_through_the_loop_and_resumes_exactly() {
    let root = tempfile::tempdir().unwrap();
    let whole = train(&root.path().join("whole"), None, false).unwrap();
    assert_eq!(whole.stages.len(), 3);
    for st in &whole.stages {
        // Measured before training, after step 4 of every 8-step epoch and at its end.
        assert_eq!(st.nhsic_y.len(), 1 + 2 * 2, "{}", st.name);
        // Layer-wise training made every stage more dependent on the labels.
        assert!(st.nhsic_y.last().unwrap() > &st.nhsic_y[0], "{}", st.name);
        assert!(st.probe_test_accuracy.unwrap() > 0.5, "{}", st.name);
    }
    for f in [
        "config.toml",
        "metrics.jsonl",
        "infoplane.jsonl",
        "probes.csv",
        "checkpoint/model.bpk",
    ] {
        assert!(root.path().join("whole").join(f).exists(), "{f}");
    }
    // Killed after one epoch, then resumed: the same run.
    let part = root.path().join("part");
    assert!(train(&part, Some(1), false).is_err());
    let resumed = train(&part, None, true).unwrap();
    assert_eq!(resumed.test_accuracy, whole.test_accuracy);
    for (a, b) in resumed.stages.iter().zip(&whole.stages) {
        assert_eq!(a.nhsic_x, b.nhsic_x);
        assert_eq!(a.nhsic_y, b.nhsic_y);
        assert_eq!(a.probe_test_accuracy, b.probe_test_accuracy);
    }
}
