//! Beyond backpropagation: forward-mode rules against reverse mode and finite differences, the
//! forward gradient's unbiasedness, and forward-forward's wrong labels and training.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use infoplane::train::jvp::{self, Dual};
use infoplane::train::methods::forward_forward::{FfConfig, wrong_labels};
use infoplane::train::methods::forward_gradient::{directional_derivative, forward_gradient};
use infoplane::train::{DataShape, RunOptions, StrategyConfig, TrainConfig};

use crate::common::{model, run};

/// A config's forward-forward embedding set by name.
fn with_embedding(cfg: &mut TrainConfig, embedding: &str) {
    let mut f = cfg.strategy.params::<FfConfig>().expect("forward-forward");
    f.embedding = toml::Value::String(embedding.into()).try_into().unwrap();
    cfg.strategy = StrategyConfig::new(&f);
}

/// A model under the name the tests use.
struct Net {
    model: infoplane::models::StagedModel,
}

fn rand<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

fn sum_all<const D: usize>(t: Tensor<D>) -> f64 {
    t.sum().into_scalar::<f32>() as f64
}

/// Reverse mode: ⟨∇f, v⟩ for f = Σ r ⊙ op(inputs), computed by backpropagation.
fn check_op<const A: usize, const B: usize, const O: usize>(
    name: &str,
    a: Tensor<A>,
    va: Tensor<A>,
    b: Tensor<B>,
    vb: Tensor<B>,
    op: impl Fn(Tensor<A>, Tensor<B>) -> Tensor<O>,
    op_jvp: impl Fn(Dual<A>, Dual<B>) -> Dual<O>,
) {
    let device = a.device();
    let ad = device.clone().autodiff();
    let out = op(a.clone(), b.clone());
    let r = rand(out.dims(), &device);
    // Forward mode.
    let dual = op_jvp(
        Dual {
            p: a.clone(),
            t: va.clone(),
        },
        Dual {
            p: b.clone(),
            t: vb.clone(),
        },
    );
    let fwd = sum_all(dual.t * r.clone());
    // Reverse mode.
    let aa = a.clone().autodiff().require_grad();
    let bb = b.clone().autodiff().require_grad();
    let f = (op(aa.clone(), bb.clone()) * r.clone().autodiff()).sum();
    let grads = f.backward();
    let ga = aa.grad(&grads).unwrap();
    let gb = bb.grad(&grads).unwrap();
    let rev = sum_all(ga * va.clone()) + sum_all(gb * vb.clone());
    let _ = ad;
    assert!(
        (fwd - rev).abs() <= 1e-4 * rev.abs().max(1e-3),
        "{name}: forward {fwd} vs reverse {rev}"
    );
    // Central finite differences along (va, vb), in f32 with a step of 1e-2.
    let h = 1e-2;
    let plus = sum_all(
        op(
            a.clone() + va.clone().mul_scalar(h),
            b.clone() + vb.clone().mul_scalar(h),
        ) * r.clone(),
    );
    let minus = sum_all(op(a - va.mul_scalar(h), b - vb.mul_scalar(h)) * r);
    let fd = (plus - minus) / (2.0 * h);
    assert!(
        (fd - fwd).abs() <= 2e-2 * fwd.abs().max(1.0),
        "{name}: forward {fwd} vs finite differences {fd}"
    );
}

#[test]
fn every_forward_mode_rule_equals_reverse_mode_and_finite_differences() {
    let device = Device::flex();
    // Linear: x [5, 4], W [4, 3] (bias checked through the tangent of a ones-column).
    check_op(
        "linear",
        rand([5, 4], &device),
        rand([5, 4], &device),
        rand([4, 3], &device),
        rand([4, 3], &device),
        |x, w| x.matmul(w),
        |x, w| jvp::linear(x, &w, None),
    );
    // Convolution, stride 2, padding 1.
    let conv = burn::nn::conv::Conv2dConfig::new([3, 4], [3, 3])
        .with_stride([2, 2])
        .with_padding(burn::nn::PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&device);
    let options = jvp::conv_options(&conv, 7, 7);
    let o2 = options.clone();
    check_op(
        "conv",
        rand([2, 3, 7, 7], &device),
        rand([2, 3, 7, 7], &device),
        rand([4, 3, 3, 3], &device),
        rand([4, 3, 3, 3], &device),
        move |x, w| burn::tensor::module::conv2d(x, w, None, options.clone()),
        move |x, w| jvp::conv(x, &w, None, o2.clone()),
    );
    // ReLU and max pooling act on one input; the second is unused (zero tangent). Their
    // inputs keep away from the kinks (|x| ≥ 0.2; each pooling window's maximum 2 above the
    // rest) so that finite differences with step 1e-2 do not cross them.
    let z = Tensor::<1>::zeros([1], &device);
    let away = {
        let r = rand([3, 2, 4, 4], &device);
        r.clone().sign() * (r.abs() + 0.2)
    };
    check_op(
        "relu",
        away,
        rand([3, 2, 4, 4], &device),
        z.clone(),
        z.clone(),
        |x, w| burn::tensor::activation::relu(x) + w.sum().unsqueeze::<4>().mul_scalar(0.0),
        |x, _| jvp::relu(x),
    );
    let pool = burn::nn::pool::MaxPool2dConfig::new([2, 2]).init();
    let pool2 = pool.clone();
    let peaked = {
        let mut v = Vec::new();
        let mut rng = infoplane::data::Rng::new(4);
        for _ in 0..2 * 3 {
            let mut plane = vec![0f32; 36];
            for (i, p) in plane.iter_mut().enumerate() {
                *p = rng.uniform() as f32 + (i as f32) * 0.0;
            }
            for wy in 0..3 {
                for wx in 0..3 {
                    let (dy, dx) = (rng.below(2), rng.below(2));
                    plane[(2 * wy + dy) * 6 + 2 * wx + dx] += 2.0;
                }
            }
            v.extend(plane);
        }
        Tensor::<4>::from_data(TensorData::new(v, [2, 3, 6, 6]), &device)
    };
    check_op(
        "max pool",
        peaked,
        rand([2, 3, 6, 6], &device),
        z.clone(),
        z,
        move |x, w| pool.forward(x) + w.sum().unsqueeze::<4>().mul_scalar(0.0),
        move |x, _| jvp::max_pool(x, &pool2),
    );
}

#[test]
fn cross_entropy_tangent_equals_reverse_mode() {
    let device = Device::flex();
    let z = rand([6, 4], &device);
    let dz = rand([6, 4], &device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 3, 1, 1, 2, 0], [6]), &device);
    let (loss, dloss) = jvp::cross_entropy(
        Dual {
            p: z.clone(),
            t: dz.clone(),
        },
        y.clone(),
    );
    let zz = z.autodiff().require_grad();
    let l = infoplane::train::losses::cross_entropy(zz.clone(), y.autodiff());
    assert!((l.clone().into_scalar::<f32>() - loss.into_scalar::<f32>()).abs() < 1e-5);
    let g = zz.grad(&l.backward()).unwrap();
    let rev = sum_all(g * dz);
    let fwd = dloss.into_scalar::<f32>() as f64;
    assert!(
        (fwd - rev).abs() < 1e-4 * rev.abs().max(1e-3),
        "{fwd} vs {rev}"
    );
}

struct Grads<'a> {
    grads: &'a burn::tensor::Gradients,
    out: Vec<(ParamId, usize, Vec<f32>)>,
}

impl ModuleVisitor for Grads<'_> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        if let Some(g) = p.val().grad(self.grads) {
            self.out
                .push((p.id, D, g.try_into_vec_as::<f32>().unwrap()));
        }
    }
}

fn lenet_config() -> TrainConfig {
    let mut c = TrainConfig::example(
        "lenet5",
        "forward-gradient",
        infoplane::data::DatasetName::Mnist10k,
    )
    .unwrap();
    c.seed = 1;
    c
}

#[test]
fn the_directional_derivative_of_lenet5_equals_reverse_mode() {
    let device = Device::flex().autodiff();
    let shape = DataShape {
        input: [1, 28, 28],
        classes: 10,
    };
    let net = Net {
        model: model(&lenet_config(), shape, &device),
    };
    let data = crate::data::mnist_10k();
    let (x, y) = infoplane::data::materialize(&data.train.subset(32, 0), &Default::default())
        .to_tensors(&device);
    let (loss, d, tangents) = directional_derivative(&net.model, x.clone(), y.clone());
    let l = infoplane::train::losses::cross_entropy(net.model.forward(x), y);
    assert!((l.clone().into_scalar::<f32>() - loss).abs() < 1e-5);
    let grads = l.backward();
    let mut visitor = Grads {
        grads: &grads,
        out: Vec::new(),
    };
    net.model.visit(&mut visitor);
    let rev: f64 = tangents
        .iter()
        .map(|(id, v)| {
            let g = &visitor.out.iter().find(|(gid, _, _)| gid == id).unwrap().2;
            g.iter()
                .zip(v)
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum::<f64>()
        })
        .sum();
    assert_eq!(tangents.len(), 10, "weights and biases of five stages");
    assert!(
        (d as f64 - rev).abs() < 1e-4 * rev.abs(),
        "forward {d} vs reverse {rev}"
    );
}

#[test]
fn forward_gradients_average_to_the_true_gradient() {
    // A tiny MLP (8 inputs, 6 hidden, 3 classes: 75 parameters) so that many tangents are cheap.
    let device = Device::flex().autodiff();
    let mut cfg = lenet_config();
    cfg.model = infoplane::models::ArchConfig::Mlp(infoplane::models::MlpConfig {
        hidden: 6,
        depth: 2,
        ..Default::default()
    });
    let shape = DataShape {
        input: [1, 2, 4],
        classes: 3,
    };
    let net = Net {
        model: model(&cfg, shape, &device),
    };
    let x = rand([16, 1, 2, 4], &device);
    let y = Tensor::<1, Int>::from_data(
        TensorData::new((0..16).map(|i| (i % 3) as i64).collect::<Vec<_>>(), [16]),
        &device,
    );
    let l = infoplane::train::losses::cross_entropy(net.model.forward(x.clone()), y.clone());
    let grads = l.backward();
    let mut visitor = Grads {
        grads: &grads,
        out: Vec::new(),
    };
    net.model.visit(&mut visitor);
    let k = 4000;
    device.seed(9);
    let (_, estimate) = forward_gradient(&net.model, x, y, k);
    let (mut err, mut norm, mut params) = (0.0f64, 0.0f64, 0usize);
    for (id, rank, g) in &visitor.out {
        let e: Vec<f32> = match rank {
            2 => estimate
                .get::<2>(*id)
                .unwrap()
                .try_into_vec_as::<f32>()
                .unwrap(),
            _ => estimate
                .get::<1>(*id)
                .unwrap()
                .try_into_vec_as::<f32>()
                .unwrap(),
        };
        for (a, b) in g.iter().zip(&e) {
            err += ((a - b) as f64).powi(2);
            norm += (*a as f64).powi(2);
        }
        params += g.len();
    }
    assert_eq!(params, 75);
    // E‖mean − ∇f‖² = (P + 1)‖∇f‖²/K for Gaussian tangents: allow three times its root.
    let expected = ((params + 1) as f64 / k as f64).sqrt();
    let rel = (err / norm).sqrt();
    assert!(
        rel < 3.0 * expected,
        "relative error {rel}, expected about {expected}"
    );
    assert!(rel > 0.0);
}

#[test]
fn forward_forward_wrong_labels_are_never_the_true_ones() {
    let mut rng = infoplane::data::Rng::new(3);
    for trial in 0..200 {
        let n = 1 + trial % 40;
        let classes = 2 + trial % 9;
        let labels: Vec<i64> = (0..n).map(|_| rng.below(classes) as i64).collect();
        let neg = wrong_labels(&labels, classes, trial as u64);
        assert_eq!(neg.len(), n);
        for (a, b) in labels.iter().zip(&neg) {
            assert_ne!(a, b, "{labels:?} -> {neg:?}");
            assert!((*b as usize) < classes);
        }
    }
}

fn ff_config(embedding: &str, depth: usize, hidden: usize) -> TrainConfig {
    let mut cfg = TrainConfig::example(
        "mlp",
        "forward-forward",
        infoplane::data::DatasetName::Mnist10k,
    )
    .unwrap();
    cfg.model = infoplane::models::ArchConfig::Mlp(infoplane::models::MlpConfig {
        hidden,
        depth,
        ..Default::default()
    });
    with_embedding(&mut cfg, embedding);
    cfg.batch_size = 32;
    cfg.optim.lr = 0.03;
    cfg.data.limit_test = Some(256);
    cfg.infoplane.samples = 128;
    cfg.infoplane.batch = 64;
    cfg.probe.method = infoplane::train::config::ProbeMethod::Ridge;
    cfg
}

#[test]
fn forward_forward_trains_every_layer_and_records_every_depth() {
    let device = Device::flex();
    for embedding in ["top-left", "prototype"] {
        // Four FF layers (three of 64 units and the 10-unit output layer, as in the authors'
        // MLP), two epochs each, on 512 digits.
        let mut cfg = ff_config(embedding, 4, 64);
        cfg.epochs = 2;
        cfg.data.limit_train = Some(512);
        let dir = tempfile::tempdir().unwrap();
        let s = run(&cfg, &device, dir.path(), &RunOptions::default())
            .unwrap_or_else(|e| panic!("{embedding}: {e}"));
        let m = infoplane::train::read_metrics(&dir.path().join("metrics.jsonl")).unwrap();
        assert_eq!(m.len(), 8);
        for phase in 0..4 {
            let (a, b) = (&m[2 * phase], &m[2 * phase + 1]);
            assert!(
                b.loss < a.loss,
                "{embedding} layer {phase}: {} -> {}",
                a.loss,
                b.loss
            );
        }
        assert_eq!(m[7].stage_head_accuracy.iter().flatten().count(), 4);
        assert_eq!(s.stages.len(), 4);
        assert!(s.stages.iter().all(|st| st.nhsic_x.len() >= 9));
    }
    // A 256-unit FF layer trained longer separates the classes well above chance by its own
    // goodness (the accuracy of the first k = 1 layer).
    for embedding in ["top-left", "prototype"] {
        let mut cfg = ff_config(embedding, 2, 256);
        cfg.epochs = 6;
        cfg.data.limit_train = Some(1024);
        cfg.infoplane.enabled = false;
        cfg.probe.enabled = false;
        let dir = tempfile::tempdir().unwrap();
        let s = run(&cfg, &device, dir.path(), &RunOptions::default()).unwrap();
        let first = s.stages[0].head_test_accuracy.unwrap();
        assert!(first > 0.5, "{embedding}: {first}");
    }
}

/// Table 3's CNN (LeNet5's conv1, conv2, fc3, fc4): with class prototypes mixed before each
/// trained layer, the convolutions learn; with one-hot pixels in the top-left corner they do
/// not (the paper's appendix C). Both depend on the inputs of convolutional layers being
/// normalized per position: with the plain per-sample norm neither embedding trained (loss at
/// 2 ln 2, chance accuracy).
#[test]
fn forward_forward_prototypes_train_the_convolutions_and_top_left_pixels_do_not() {
    let device = Device::flex();
    let mut acc = Vec::new();
    for embedding in ["prototype", "top-left"] {
        let mut cfg = TrainConfig::example(
            "lenet5",
            "forward-forward",
            infoplane::data::DatasetName::Mnist10k,
        )
        .unwrap();
        with_embedding(&mut cfg, embedding);
        cfg.epochs = 2;
        cfg.batch_size = 64;
        cfg.optim.lr = 0.03;
        cfg.data.limit_train = Some(2048);
        cfg.data.limit_test = Some(500);
        cfg.infoplane.enabled = false;
        cfg.probe.enabled = false;
        let dir = tempfile::tempdir().unwrap();
        let s = run(&cfg, &device, dir.path(), &RunOptions::default())
            .unwrap_or_else(|e| panic!("{embedding}: {e}"));
        eprintln!("{embedding}: {}", s.test_accuracy);
        acc.push(s.test_accuracy);
    }
    // 500 test samples: chance is 10% with a binomial standard error of 1.3 points.
    assert!(acc[0] > 0.4, "prototype: {}", acc[0]);
    assert!(acc[1] < 0.2, "top-left: {}", acc[1]);
}

#[test]
fn forward_gradient_training_lowers_the_loss() {
    let device = Device::flex();
    let mut cfg = lenet_config();
    cfg.epochs = 3;
    cfg.batch_size = 64;
    cfg.optim.lr = 1e-3;
    cfg.data.limit_train = Some(512);
    cfg.data.limit_test = Some(256);
    cfg.infoplane.enabled = false;
    cfg.probe.enabled = false;
    let dir = tempfile::tempdir().unwrap();
    run(&cfg, &device, dir.path(), &RunOptions::default()).unwrap();
    let m = infoplane::train::read_metrics(&dir.path().join("metrics.jsonl")).unwrap();
    assert!(
        m[2].loss < m[0].loss,
        "forward gradient: {} -> {}",
        m[0].loss,
        m[2].loss
    );
}
