//! A model defined outside infoplane, trained layer-wise by infoplane-train and measured by
//! infoplane-hsic.
//!
//! Any burn module can be a stage: implement [`Stage`] (one `forward` from representation to
//! representation) for your own type — here an enum of two small modules — put the stages in a
//! [`StagedModel`], add the auxiliary heads a layer-wise strategy needs, and the strategy, the
//! loop, the information plane and the probes work on it unchanged.
//!
//!     cargo run --release --example custom_model
//!
//! It trains three stages on 1,024 digits of the bundled mnist-10k for a few steps and prints
//! nHSIC(X;T) and nHSIC(Y;T) of every stage before and after. The test suite builds and runs it
//! (`cargo test` runs its test below).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::Device;
use burn::tensor::activation::{relu, tanh};
use infoplane::data::{DatasetName, Locator, Normalization, Pipeline, materialize};
use infoplane::hsic::{InfoPlaneRecorder, PlaneSettings, Samples};
use infoplane::models::{Head, HeadKind, HeadPurpose, Repr, Stage, StagedModel};
use infoplane::train::strategies::{Layerwise, LayerwiseSpec, LocalObjective, TrainBatch, Trainee};
use infoplane::train::{Network, Strategy};

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

/// Trains the model layer-wise and returns nHSIC(Y;T) of every stage before and after.
pub fn run(steps: usize) -> (Vec<f64>, Vec<f64>) {
    let device = Device::flex().autodiff();
    let data = infoplane::data::load(DatasetName::Mnist10k, &Locator::standard(None))
        .expect("the bundled mnist-10k");
    let pipe = Pipeline {
        normalize: Normalization::for_dataset(DatasetName::Mnist10k),
        ..Default::default()
    };
    let train = materialize(&data.train.subset(1024, 0), &pipe);
    let eval = materialize(&data.test.subset(256, 1), &pipe);

    // The network: our model plus a linear auxiliary head per stage, every parameter drawn on
    // the host from the seed (the same on every backend).
    let model = my_model(&device);
    let shapes = model.read_shapes(&device);
    let mut net = Network::bare(model);
    for (i, shape) in shapes.iter().enumerate() {
        net.heads[i] = Some(
            Head::new(
                HeadKind::Linear,
                shape,
                HeadPurpose::Classes(10),
                2048,
                &device,
            )
            .expect("a linear head classifies"),
        );
    }
    let (net, _) = infoplane::train::init::initialize(net, 0, "network");
    let optim = burn::optim::AdamConfig::new().with_epsilon(1e-8).init();
    let mut strategy = Layerwise::new(
        Trainee::new(net, optim),
        LayerwiseSpec {
            objective: LocalObjective::CrossEntropy,
            schedule: Default::default(),
            epochs: 1,
            hsic: None,
        },
    );

    // The information plane of the evaluation set, through the strategy's evaluation view.
    let [n, c, h, w] = eval.shape;
    let x = Samples::from_f32(n, c * h * w, &eval.images);
    let labels: Vec<usize> = eval.labels.iter().map(|&l| l as usize).collect();
    let settings = PlaneSettings {
        batch: 128,
        ..Default::default()
    };
    let mut recorder = InfoPlaneRecorder::new(&x, &labels, 10, settings, None).expect("settings");
    let measure = |s: &Layerwise<MyStage>, rec: &mut InfoPlaneRecorder, step: u64| {
        let ev = s.evaluator();
        let (xe, _) = eval.to_tensors(&device.clone().without_autodiff());
        let out = ev.evaluate(xe);
        let stages = ev
            .stage_names()
            .into_iter()
            .zip(out.representations.into_iter().map(Repr::flatten))
            .collect();
        rec.record(step, 0.0, stages).expect("measured")
    };
    let before: Vec<f64> = measure(&strategy, &mut recorder, 0)
        .iter()
        .map(|p| p.nhsic_y)
        .collect();
    let (xt, yt) = train.to_tensors(&device);
    for step in 0..steps {
        let start = (step * 128) % 1024;
        let batch = TrainBatch {
            x: xt.clone().narrow(0, start, 128),
            y: yt.clone().narrow(0, start, 128),
            views: 1,
        };
        strategy.step(batch, 2e-3).expect("a finite loss");
    }
    let after = measure(&strategy, &mut recorder, steps as u64);
    for p in &after {
        println!(
            "{:<11} nHSIC(X;T) {:8.3}  nHSIC(Y;T) {:6.3}",
            p.stage_name, p.nhsic_x, p.nhsic_y
        );
    }
    (before, after.iter().map(|p| p.nhsic_y).collect())
}

fn main() {
    let (before, after) = run(40);
    println!("nHSIC(Y;T) before training: {before:.3?}");
    println!("nHSIC(Y;T) after 40 steps:  {after:.3?}");
}

#[test]
fn a_model_of_our_own_trains_layerwise_and_is_measured() {
    let (before, after) = run(16);
    assert_eq!(before.len(), 3);
    // Layer-wise training made every stage more dependent on the labels.
    for (b, a) in before.iter().zip(&after) {
        assert!(a > b, "nHSIC(Y;T) {b} -> {a}");
    }
}
