//! The toy example of section 4.2: layer-wise training with a linear head collapses the first
//! layer's rank; an MLP head or E2E training does not.

use infoplane::train::toy::{ToyConfig, ToyTraining, run_toy};

#[test]
fn a_linear_head_collapses_the_first_layer_and_e2e_does_not() {
    let cfg = ToyConfig::default();
    let lw = run_toy(&cfg, ToyTraining::LayerwiseLinear).unwrap();
    let ratio = |t: &infoplane::train::toy::ToyTrace| {
        let s = t.sigma.last().unwrap();
        s[1] / s[0]
    };
    let first = lw.sigma[0][1] / lw.sigma[0][0];
    assert!(first > 0.3, "the initial W has two directions: {first}");
    assert!(
        ratio(&lw) < 0.05,
        "layer-wise, linear head: σ2/σ1 = {}",
        ratio(&lw)
    );
    // nHSIC(X;T1) falls from its peak once the layer collapses.
    let peak = lw.nhsic_x.iter().cloned().fold(f64::MIN, f64::max);
    let last = *lw.nhsic_x.last().unwrap();
    assert!(last < 0.9 * peak, "nHSIC(X;T1): peak {peak}, end {last}");
    let e2e = run_toy(&cfg, ToyTraining::EndToEnd).unwrap();
    assert!(ratio(&e2e) > 0.2, "E2E: σ2/σ1 = {}", ratio(&e2e));
    assert!(
        *e2e.accuracy.last().unwrap() > 0.95,
        "E2E separates the radii"
    );
    let mlp = run_toy(&cfg, ToyTraining::LayerwiseMlp).unwrap();
    assert!(ratio(&mlp) > 0.2, "MLP head: σ2/σ1 = {}", ratio(&mlp));
    assert_eq!(lw.snapshots.len(), 4);
}
