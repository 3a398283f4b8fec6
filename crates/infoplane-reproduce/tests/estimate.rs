//! The dry run's estimate of a run against the run itself, on this machine. Timing, so it is
//! not part of the default suite: `cargo test --release -p infoplane-reproduce --test estimate
//! -- --ignored --nocapture` (about a minute).

use std::time::Instant;

use burn::tensor::Device;
use infoplane_reproduce::estimate::run_cost;
use infoplane_train::{RunOptions, TrainConfig};

/// Runs with every part the estimate counts: training steps, information-plane points inside
/// and at the end of epochs, test evaluation, batch norm's calibration, probes.
const LENET: &str = r#"
name = "estimate-lenet"
epochs = 3
batch_size = 64
[data]
dataset = "mnist-10k"
limit_train = 4096
limit_test = 1024
pad_to = 32
[model]
arch = "lenet5"
batch_norm = true
[strategy]
kind = "e2e"
[infoplane]
samples = 512
batch = 128
every_steps = 16
[probe]
limit_train = 2048
epochs = 10
"#;

const RESNET: &str = r#"
name = "estimate-resnet"
epochs = 2
batch_size = 128
[data]
dataset = "mnist-10k"
limit_train = 1024
limit_test = 512
pad_to = 32
[model]
arch = "resnet18"
width = 0.125
[strategy]
kind = "layerwise"
head = "linear"
[infoplane]
samples = 256
batch = 128
every_steps = 4
[probe]
limit_train = 1024
epochs = 5
"#;

#[test]
#[ignore]
fn the_dry_run_estimate_is_within_a_factor_of_1_5_of_the_run() {
    for text in [LENET, RESNET] {
        let cfg = TrainConfig::from_toml(text).unwrap().check().unwrap();
        let device = Device::flex();
        let cost = run_cost(&cfg, &device).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let t0 = Instant::now();
        infoplane_train::run(&cfg, &device, dir.path(), &RunOptions::default()).unwrap();
        let real = t0.elapsed().as_secs_f64();
        for l in std::fs::read_to_string(dir.path().join("metrics.jsonl"))
            .unwrap()
            .lines()
        {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            println!(
                "  epoch {} seconds {} observer {}",
                v["epoch"], v["seconds"], v["observer_seconds"]
            );
        }
        let ratio = cost.total() / real;
        println!(
            "{}: estimate {:.1} s (train {:.1}, measure {:.1}, evaluate {:.1}, probes {:.1}); run {real:.1} s; ratio {ratio:.2}",
            cfg.config().name,
            cost.total(),
            cost.train,
            cost.measure,
            cost.evaluate,
            cost.probes
        );
        assert!((1.0 / 1.5..=1.5).contains(&ratio), "ratio {ratio:.2}");
    }
}
