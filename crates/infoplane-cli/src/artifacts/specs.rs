//! What each artifact of the paper shows and claims: the figures drawn from its runs, the extra
//! tables, and the claims checked against our numbers (quoted from the paper's text with the
//! line; symbols lost from our copy restored in square brackets).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use infoplane_train::RunSummary;

use super::checks::*;
use crate::claims::{Claim, Finding, Verdict};

/// The finished runs of an artifact, by name, and what is missing.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    /// Finished runs.
    pub runs: BTreeMap<String, RunSummary>,
    /// Runs without a folder.
    pub missing: Vec<String>,
    /// Runs whose folder holds no summary (unfinished or failed), with what is there.
    pub unfinished: Vec<(String, String)>,
    /// The plan's note on its scale (dataset substitutions and reductions).
    pub scale_note: String,
}

impl Collected {
    fn get(&self, name: &str) -> Option<&RunSummary> {
        self.runs.get(name)
    }
}

/// What an artifact draws and checks.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Name (`fig3`, `table1`).
    pub name: &'static str,
    /// Information-plane figures: file stem and the runs drawn as rows.
    pub planes: &'static [(&'static str, &'static [&'static str])],
    /// Probe figures: file stem and the runs drawn.
    pub probes: &'static [(&'static str, &'static [&'static str])],
    /// The paper's claims with our verdicts.
    pub claims: fn(&Collected) -> Vec<Finding>,
    /// Extra sections of the report (tables); may write figures into the folder.
    pub extra: fn(&Collected, &Path) -> Result<String>,
}

fn none(_: &Collected, _: &Path) -> Result<String> {
    Ok(String::new())
}

/// A finding for a claim whose runs are not all there.
fn missing(claim: Claim, runs: &[&str]) -> Finding {
    Finding {
        claim,
        verdict: Verdict::NotComparable,
        evidence: format!(
            "Not checked: the run(s) {} did not finish at this scale.",
            runs.join(", ")
        ),
    }
}

/// A checked finding, with the scale's substitutions said.
fn found(c: &Collected, claim: Claim, holds: bool, evidence: String) -> Finding {
    let evidence = if c.scale_note.is_empty() {
        evidence
    } else {
        format!("{evidence} (Our scale: {}.)", c.scale_note)
    };
    Finding::checked(claim, Ok(()), holds, evidence)
}

/// The named runs, or `None` when one is missing.
fn need<'a, const N: usize>(c: &'a Collected, names: [&str; N]) -> Option<[&'a RunSummary; N]> {
    let v: Vec<&RunSummary> = names.iter().filter_map(|n| c.get(n)).collect();
    v.try_into().ok()
}

macro_rules! runs {
    ($c:expr, $claim:expr, [$($n:expr),+]) => {
        match need($c, [$($n),+]) {
            Some(r) => r,
            None => return vec![missing($claim, &[$($n),+])],
        }
    };
}

// ---------------------------------------------------------------- LeNet5 (figure 3)

const FIG3_MNIST_ALIKE: Claim = crate::claims::FIG3A_ALIKE;
const FIG3_CIFAR_FIRST: Claim = crate::claims::FIG3B_FIRST_LAYER;
const FIG3_CIFAR_GAP: Claim = crate::claims::FIG3B_GAP;

fn fig3(c: &Collected) -> Vec<Finding> {
    let mut f = Vec::new();
    let pair = |e: &str, l: &str| Some((c.get(e)?, c.get(l)?));
    match pair("lenet5-mnist-e2e", "lenet5-mnist-layerwise") {
        Some((e, l)) => {
            let n = e.test_samples.min(l.test_samples);
            for finding in crate::reproduce::quick_findings(e, l, n)
                .into_iter()
                .take(3)
            {
                f.push(found(
                    c,
                    finding.claim,
                    finding.verdict == Verdict::Agree,
                    finding.evidence,
                ));
            }
        }
        None => f.push(missing(
            FIG3_MNIST_ALIKE,
            &["lenet5-mnist-e2e", "lenet5-mnist-layerwise"],
        )),
    }
    match pair("lenet5-cifar10-e2e", "lenet5-cifar10-layerwise") {
        Some((e, l)) => {
            let t1 = &l.stages[0];
            let holds = compresses_x(t1) && compresses_y(t1);
            f.push(found(
                c,
                FIG3_CIFAR_FIRST,
                holds,
                format!(
                    "Layer-wise first layer: nHSIC(X;T) {} and nHSIC(Y;T) {} a compression phase.",
                    if compresses_x(t1) {
                        "shows"
                    } else {
                        "shows no"
                    },
                    if compresses_y(t1) {
                        "shows"
                    } else {
                        "shows no"
                    }
                ),
            ));
            f.push(found(
                c,
                FIG3_CIFAR_GAP,
                acc_higher(e, l) == Some(true),
                acc_versus("E2E", e, "layer-wise", l),
            ));
        }
        None => f.push(missing(
            FIG3_CIFAR_FIRST,
            &["lenet5-cifar10-e2e", "lenet5-cifar10-layerwise"],
        )),
    }
    f
}

// ---------------------------------------------------------------- ResNet18 (figures 6, 15, 1)

const FIG6_MIDDLE: Claim = Claim {
    artifact: "figure 6",
    setting: "ResNet18, CIFAR10, E2E and layer-wise, middle layers",
    quote: "In the case of LeNet5 settings, both E2E and the layer-wise training generally showed an increase in HSIC values during training, while in the ResNet setting, both approaches demonstrated a decrease of [nHSIC(X;T)] and [nHSIC(Y;T)] in the middle layers of the network.",
    line: 92,
};

const FIG6_E2E_OUTPUT: Claim = Claim {
    artifact: "figure 6",
    setting: "ResNet18, CIFAR10, E2E, output-side layers",
    quote: "In the output-side layers, E2E training showed a slight compression phase of [nHSIC(X;T)] while maintaining a high [nHSIC(Y;T)], aligning with the compression phase suggested by the IB theory.",
    line: 92,
};

const FIG6_LW_OUTPUT: Claim = Claim {
    artifact: "figure 6",
    setting: "ResNet18, CIFAR10, layer-wise, output-side layers",
    quote: "In contrast, in the layer-wise approach, both [nHSIC(X;T)] and [nHSIC(Y;T)] decreased as in the intermediate layers.",
    line: 92,
};

const FIG6_EARLY: Claim = Claim {
    artifact: "figure 6",
    setting: "ResNet18, CIFAR10, early epochs",
    quote: "E2E training can acquire the representation with high HSIC at the very early phase of training.",
    line: 94,
};

/// The middle / output-side claims of a deep network's planes (figures 6, 15, 16, 17).
fn deep_planes(
    c: &Collected,
    e2e: &str,
    lw: &str,
    artifact: &'static str,
    // Settings of the middle, E2E output-side, layer-wise output-side and early-epoch claims.
    [
        setting_middle,
        setting_e2e_output,
        setting_lw_output,
        setting_early,
    ]: [&'static str; 4],
) -> Vec<Finding> {
    let (Some(e), Some(l)) = (c.get(e2e), c.get(lw)) else {
        return vec![missing(
            Claim {
                artifact,
                setting: setting_middle,
                ..FIG6_MIDDLE
            },
            &[e2e, lw],
        )];
    };
    let mut f = Vec::new();
    let (me, ml) = (middle(e, 2), middle(l, 2));
    let (ce, ne) = count(&me, |s| compresses_x(s) || compresses_y(s));
    let (cl, nl) = count(&ml, |s| compresses_x(s) || compresses_y(s));
    f.push(found(
        c,
        Claim {
            artifact,
            setting: setting_middle,
            ..FIG6_MIDDLE
        },
        2 * ce > ne && 2 * cl > nl,
        format!(
            "Middle layers with a compression phase of nHSIC(X;T) or nHSIC(Y;T): E2E {ce} of {ne}, layer-wise {cl} of {nl}."
        ),
    ));
    let oe = output_side(e, 2);
    let (ib, n) = count(&oe, bottleneck);
    f.push(found(
        c,
        Claim {
            artifact,
            setting: setting_e2e_output,
            ..FIG6_E2E_OUTPUT
        },
        ib == n && n > 0,
        format!(
            "E2E output-side layers with nHSIC(X;T) compressing while nHSIC(Y;T) is held: {ib} of {n} ({}).",
            names(&oe)
        ),
    ));
    let ol = output_side(l, 2);
    let (both_fall, n) = count(&ol, |s| compresses_x(s) && compresses_y(s));
    f.push(found(
        c,
        Claim {
            artifact,
            setting: setting_lw_output,
            ..FIG6_LW_OUTPUT
        },
        both_fall == n && n > 0,
        format!(
            "Layer-wise output-side layers where both nHSIC values rise then fall: {both_fall} of {n}."
        ),
    ));
    // Early epochs: the first point after training started.
    let early = |s: &infoplane_train::StageSummary| s.nhsic_y.get(1).copied().unwrap_or(f64::NAN);
    let higher = e
        .stages
        .iter()
        .zip(&l.stages)
        .filter(|(a, b)| early(a) > early(b))
        .count();
    f.push(found(
        c,
        Claim {
            artifact,
            setting: setting_early,
            ..FIG6_EARLY
        },
        2 * higher > e.stages.len(),
        format!(
            "At the first measurement after training began, E2E has the higher nHSIC(Y;T) in {higher} of {} layers.",
            e.stages.len()
        ),
    ));
    f
}

fn fig6(c: &Collected) -> Vec<Finding> {
    deep_planes(
        c,
        "resnet18-e2e-ce",
        "resnet18-layerwise-ce",
        "figure 6",
        [
            FIG6_MIDDLE.setting,
            FIG6_E2E_OUTPUT.setting,
            FIG6_LW_OUTPUT.setting,
            FIG6_EARLY.setting,
        ],
    )
}

const FIG15_LW_ALL: Claim = Claim {
    artifact: "figure 15",
    setting: "ResNet18, CIFAR10, all nine layers",
    quote: "As observed in figure 6, while layer-wise training showed compression in all layers, the E2E training compressed the intermediate layers while maintaining [nHSIC(Y;T)] at the layer in the output side.",
    line: 443,
};

fn fig15(c: &Collected) -> Vec<Finding> {
    let [e, l] = runs!(
        c,
        FIG15_LW_ALL,
        ["resnet18-e2e-ce", "resnet18-layerwise-ce"]
    );
    let all: Vec<_> = l.stages.iter().collect();
    let (cl, nl) = count(&all, |s| compresses_x(s) || compresses_y(s));
    let oe = output_side(e, 2);
    let (held, no) = count(&oe, y_held);
    let (mc, mn) = count(&middle(e, 2), |s| compresses_x(s) || compresses_y(s));
    vec![found(
        c,
        FIG15_LW_ALL,
        cl == nl && held == no && 2 * mc > mn,
        format!(
            "Layer-wise layers with a compression phase: {cl} of {nl}; E2E middle layers with one: {mc} of {mn}; E2E output-side layers with nHSIC(Y;T) held: {held} of {no}."
        ),
    )]
}

const FIG1_SEPARABILITY: Claim = Claim {
    artifact: "figure 1",
    setting: "CIFAR10 (model not stated in our copy; ours ResNet18), linear heads",
    quote: "In the E2E case, the linear separability gradually improves, whereas, in layer-wise training, it abruptly improves in the early layers and then saturates at the same level as depicted in the red region.",
    line: 44,
};

const FIG1_TEST: Claim = crate::claims::FIG1_TEST_SEPARABILITY;
const INTRO_MIDDLE: Claim = crate::claims::INTRO_MIDDLE;

/// The layer from which layer-wise probe accuracy stays within one point of its maximum.
pub fn saturation_layer(s: &RunSummary) -> Option<usize> {
    let acc: Vec<f64> = s
        .stages
        .iter()
        .map(|st| st.probe_test_accuracy)
        .collect::<Option<_>>()?;
    let max = acc.iter().cloned().fold(f64::MIN, f64::max);
    (0..acc.len()).find(|&k| acc[k..].iter().all(|&a| a >= max - 0.01))
}

fn separability(c: &Collected, e2e: &str, lw: &str, claim: Claim) -> Vec<Finding> {
    let (Some(e), Some(l)) = (c.get(e2e), c.get(lw)) else {
        return vec![missing(claim, &[e2e, lw])];
    };
    let mut f = Vec::new();
    let probes = |s: &RunSummary| -> Vec<f64> {
        s.stages
            .iter()
            .map(|st| st.probe_test_accuracy.unwrap_or(f64::NAN))
            .collect()
    };
    let (pe, pl) = (probes(e), probes(l));
    let k = saturation_layer(l).unwrap_or(pl.len());
    let ke = saturation_layer(e).unwrap_or(pe.len());
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|a| format!("{:.1}", 100.0 * a))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    f.push(found(
        c,
        claim,
        k < ke,
        format!(
            "Probe test accuracy per layer, E2E: {} (within a point of its best from layer {}); layer-wise: {} (from layer {}).",
            fmt(&pe),
            ke + 1,
            fmt(&pl),
            k + 1
        ),
    ));
    f
}

fn fig1(c: &Collected) -> Vec<Finding> {
    let mut f = separability(
        c,
        "resnet18-e2e-ce",
        "resnet18-layerwise-ce",
        FIG1_SEPARABILITY,
    );
    if let (Some(e), Some(l)) = (c.get("resnet18-e2e-ce"), c.get("resnet18-layerwise-ce")) {
        let n = e.test_samples.min(l.test_samples);
        if let Some((holds, evidence)) = crate::reproduce::last_layer_separability(e, l, n) {
            f.push(found(c, FIG1_TEST, holds, evidence));
        }
        let (holds, evidence) = crate::reproduce::middle_layers(e, l, n);
        f.push(found(c, INTRO_MIDDLE, holds, evidence));
    }
    f
}

const FIG9_SUPCON: Claim = Claim {
    artifact: "figure 9",
    setting: "SupCon for both E2E and layer-wise (model and dataset not stated; ours ResNet18)",
    quote: "The difference from using the cross-entropy loss is that in layer-wise training, the linear separability at the final layer does not reach [100]% for the training data, resulting in a smaller gap between the separability of training and test data.",
    line: 419,
};

fn fig9(c: &Collected) -> Vec<Finding> {
    let mut f = separability(
        c,
        "resnet18-e2e-supcon",
        "resnet18-layerwise-supcon",
        Claim {
            artifact: "figure 9",
            setting: "SupCon for both E2E and layer-wise (ours ResNet18)",
            ..FIG1_SEPARABILITY
        },
    );
    let [s, ce] = runs!(
        c,
        FIG9_SUPCON,
        ["resnet18-layerwise-supcon", "resnet18-layerwise-ce"]
    );
    let gap = |r: &RunSummary| {
        let st = r.stages.last().expect("stages");
        (
            st.probe_train_accuracy.unwrap_or(f64::NAN),
            st.probe_train_accuracy.unwrap_or(f64::NAN)
                - st.probe_test_accuracy.unwrap_or(f64::NAN),
        )
    };
    let (tr_s, g_s) = gap(s);
    let (_, g_c) = gap(ce);
    f.push(found(
        c,
        FIG9_SUPCON,
        tr_s < 0.99 && g_s < g_c,
        format!(
            "Layer-wise SupCon's last-layer probe reaches {} on the training samples; its train–test gap is {:.1} points against {:.1} with cross-entropy.",
            pct(tr_s),
            100.0 * g_s,
            100.0 * g_c
        ),
    ));
    f
}

// ---------------------------------------------------------------- other networks

fn fig16(c: &Collected) -> Vec<Finding> {
    deep_planes(
        c,
        "resnet50-e2e-ce",
        "resnet50-layerwise-ce",
        "figure 16",
        [
            "ResNet50, E2E and layer-wise, middle layers; figure 6's claim, which line 92 says holds similarly for the models of section F.4",
            "ResNet50, E2E, output-side layers; figure 6's claim, which line 92 says holds similarly for the models of section F.4",
            "ResNet50, layer-wise, output-side layers; figure 6's claim, which line 92 says holds similarly for the models of section F.4",
            "ResNet50, early epochs; figure 6's claim, which line 92 says holds similarly for the models of section F.4",
        ],
    )
}

fn fig17(c: &Collected) -> Vec<Finding> {
    deep_planes(
        c,
        "vgg11-e2e-ce",
        "vgg11-layerwise-ce",
        "figure 17",
        [
            "VGG11 with batch norm, E2E and layer-wise, middle layers; figure 6's claim, which line 92 says holds similarly for the models of section F.4",
            "VGG11 with batch norm, E2E, output-side layers; figure 6's claim, which line 92 says holds similarly for the models of section F.4",
            "VGG11 with batch norm, layer-wise, output-side layers; figure 6's claim, which line 92 says holds similarly for the models of section F.4",
            "VGG11 with batch norm, early epochs; figure 6's claim, which line 92 says holds similarly for the models of section F.4",
        ],
    )
}

const FIG18_NO_COMPRESSION: Claim = Claim {
    artifact: "figure 18",
    setting: "VGG11 without batch norm, E2E",
    quote: "Interestingly, we observed no compression in the nHSIC value for the intermediate and output layers.",
    line: 452,
};

const FIG18_ACCURACY: Claim = Claim {
    artifact: "figure 18",
    setting: "VGG11: E2E without batch norm vs layer-wise and E2E with it",
    quote: "The final test accuracy was higher than that of layer-wise training but lower than when batch normalization was included.",
    line: 452,
};

fn fig18(c: &Collected) -> Vec<Finding> {
    let mut f = Vec::new();
    match c.get("vgg11-nobn-e2e-ce") {
        Some(e) => {
            let all: Vec<_> = e.stages.iter().collect();
            let (k, n) = count(&all, |s| compresses_x(s) || compresses_y(s));
            f.push(found(
                c,
                FIG18_NO_COMPRESSION,
                k == 0,
                format!("E2E without batch norm: layers with a compression phase: {k} of {n}."),
            ));
        }
        None => f.push(missing(FIG18_NO_COMPRESSION, &["vgg11-nobn-e2e-ce"])),
    }
    match (
        c.get("vgg11-nobn-e2e-ce"),
        c.get("vgg11-layerwise-ce"),
        c.get("vgg11-e2e-ce"),
    ) {
        (Some(nobn), Some(lw), Some(bn)) => f.push(found(
            c,
            FIG18_ACCURACY,
            acc_higher(nobn, lw) == Some(true) && acc_higher(bn, nobn) == Some(true),
            format!(
                "{}; {}.",
                acc_versus("E2E without BN", nobn, "layer-wise with BN", lw),
                acc_versus("E2E with BN", bn, "E2E without BN", nobn)
            ),
        )),
        _ => f.push(missing(
            FIG18_ACCURACY,
            &["vgg11-nobn-e2e-ce", "vgg11-layerwise-ce", "vgg11-e2e-ce"],
        )),
    }
    f
}

const FIG13_MNIST: Claim = Claim {
    artifact: "figure 13",
    setting: "five-layer MLP, MNIST",
    quote: "In the case of MNIST, there is no difference in test accuracy between E2E training and layer-wise training, similar to LeNet5.",
    line: 436,
};

const FIG13_CIFAR_FIRST: Claim = Claim {
    artifact: "figure 13",
    setting: "five-layer MLP, CIFAR10, layer-wise",
    quote: "In the case of CIFAR10, layer-wise training exhibited slower improvement in nHSIC values as layers progressed like the LeNet5 case; however, there is no information compression in the initial layer observed in LeNet5.",
    line: 436,
};

fn fig13(c: &Collected) -> Vec<Finding> {
    let mut f = Vec::new();
    match (c.get("mlp-mnist-e2e"), c.get("mlp-mnist-layerwise")) {
        (Some(e), Some(l)) => f.push(found(
            c,
            FIG13_MNIST,
            acc_higher(e, l).is_none(),
            acc_versus("E2E", e, "layer-wise", l),
        )),
        _ => f.push(missing(
            FIG13_MNIST,
            &["mlp-mnist-e2e", "mlp-mnist-layerwise"],
        )),
    }
    match c.get("mlp-cifar10-layerwise") {
        Some(l) => {
            let t1 = &l.stages[0];
            f.push(found(
                c,
                FIG13_CIFAR_FIRST,
                !compresses_x(t1) && !compresses_y(t1),
                format!(
                    "Layer-wise first layer: {} compression phase.",
                    if compresses_x(t1) || compresses_y(t1) {
                        "a"
                    } else {
                        "no"
                    }
                ),
            ));
        }
        None => f.push(missing(FIG13_CIFAR_FIRST, &["mlp-cifar10-layerwise"])),
    }
    f
}

const FIG14_LW: Claim = Claim {
    artifact: "figure 14",
    setting: "ViT (6 blocks), E2E vs local block-wise training",
    quote: "The local block-wise training results in information compression and leads to worse test accuracy, as with the results presented in the main text.",
    line: 440,
};

const FIG14_E2E: Claim = Claim {
    artifact: "figure 14",
    setting: "ViT (6 blocks), E2E",
    quote: "Conversely, E2E training shows no information compression in both middle and output representations, meaning no IB behavior.",
    line: 440,
};

fn fig14(c: &Collected) -> Vec<Finding> {
    let [e, l] = runs!(c, FIG14_LW, ["vit-e2e-ce", "vit-layerwise-ce"]);
    let all_l: Vec<_> = l.stages.iter().collect();
    let (kl, nl) = count(&all_l, |s| compresses_x(s) || compresses_y(s));
    let all_e: Vec<_> = e.stages.iter().collect();
    let (ke, ne) = count(&all_e, compresses_x);
    vec![
        found(
            c,
            FIG14_LW,
            kl > 0 && acc_higher(e, l) == Some(true),
            format!(
                "Layer-wise blocks with a compression phase: {kl} of {nl}; {}.",
                acc_versus("E2E", e, "layer-wise", l)
            ),
        ),
        found(
            c,
            FIG14_E2E,
            ke == 0,
            format!("E2E blocks where nHSIC(X;T) rises then falls: {ke} of {ne}."),
        ),
    ]
}

// ---------------------------------------------------------------- other losses and methods

const FIG10_UNIFORM: Claim = Claim {
    artifact: "figure 10",
    setting: "E2E with SupCon and SimCLR (model not stated; ours ResNet18)",
    quote: "Figure 10 shows that both of these losses lead to a uniform reduction in [nHSIC(X;T)] and [nHSIC(Y;T)] without information bottleneck behavior.",
    line: 423,
};

const FIG10_LABELS: Claim = Claim {
    artifact: "figure 10",
    setting: "E2E with SupCon and SimCLR",
    quote: "The supervised contrastive loss obtained the representations with higher information content with the label because of the supervision.",
    line: 423,
};

fn fig10(c: &Collected) -> Vec<Finding> {
    let [s, m] = runs!(
        c,
        FIG10_UNIFORM,
        ["resnet18-e2e-supcon", "resnet18-e2e-simclr"]
    );
    let uniform = |r: &RunSummary| {
        let all: Vec<_> = r.stages.iter().collect();
        let (k, n) = count(&all, |s| compresses_x(s) && compresses_y(s));
        let last_ib = r.stages.last().is_some_and(bottleneck);
        (k, n, last_ib)
    };
    let (ks, ns, ibs) = uniform(s);
    let (km, nm, ibm) = uniform(m);
    let higher = s
        .stages
        .iter()
        .zip(&m.stages)
        .filter(|(a, b)| a.nhsic_y.last() > b.nhsic_y.last())
        .count();
    vec![
        found(
            c,
            FIG10_UNIFORM,
            ks == ns && km == nm && !ibs && !ibm,
            format!(
                "Layers where both nHSIC values rise then fall: SupCon {ks} of {ns}, SimCLR {km} of {nm}; information-bottleneck behaviour at the last layer: SupCon {}, SimCLR {}.",
                if ibs { "yes" } else { "no" },
                if ibm { "yes" } else { "no" }
            ),
        ),
        found(
            c,
            FIG10_LABELS,
            higher == s.stages.len(),
            format!(
                "SupCon ends with the higher nHSIC(Y;T) in {higher} of {} layers.",
                s.stages.len()
            ),
        ),
    ]
}

const FIG7_NO_DECREASE: Claim = Claim {
    artifact: "figure 7",
    setting: "layer-wise with the nHSIC augmenting term (ours ResNet18)",
    quote: "While the original layer-wise training exhibited an HSIC decreasing phase, both [nHSIC(X;T)] and [nHSIC(Y;T)] increased throughout the training without decreasing.",
    line: 103,
};

const FIG7_WORSE: Claim = Claim {
    artifact: "figure 7",
    setting: "layer-wise with the nHSIC augmenting term",
    quote: "Although these HSIC plane dynamics were expected, the actual test accuracy turned out to be worse.",
    line: 103,
};

const FIG19_SMALLER: Claim = Claim {
    artifact: "figure 19",
    setting: "ResNet18, layer-wise with the nHSIC term, smaller λ",
    quote: "The smaller [λ] values result in the nHSIC behavior more similar to the original layer-wise training.",
    line: 455,
};

fn hsic_term(c: &Collected, reg: &str, artifact: &'static str) -> Vec<Finding> {
    let (r, l) = match (c.get(reg), c.get("resnet18-layerwise-ce")) {
        (Some(r), Some(l)) => (r, l),
        _ => {
            return vec![missing(
                Claim {
                    artifact,
                    ..FIG7_NO_DECREASE
                },
                &[reg, "resnet18-layerwise-ce"],
            )];
        }
    };
    let all_r: Vec<_> = r.stages.iter().collect();
    let all_l: Vec<_> = l.stages.iter().collect();
    let (kr, n) = count(&all_r, |s| compresses_x(s) || compresses_y(s));
    let (kl, _) = count(&all_l, |s| compresses_x(s) || compresses_y(s));
    vec![
        found(
            c,
            Claim {
                artifact,
                ..FIG7_NO_DECREASE
            },
            kr == 0,
            format!(
                "Layers with a compression phase: with the term {kr} of {n}, without it {kl} of {n}."
            ),
        ),
        found(
            c,
            Claim {
                artifact,
                ..FIG7_WORSE
            },
            acc_higher(l, r) == Some(true),
            acc_versus("layer-wise", l, "with the term", r),
        ),
    ]
}

fn fig7(c: &Collected) -> Vec<Finding> {
    hsic_term(c, "resnet18-layerwise-ce-nhsic", "figure 7")
}

fn fig19(c: &Collected) -> Vec<Finding> {
    let mut f = hsic_term(c, "resnet18-layerwise-ce-nhsic-small", "figure 19");
    if let (Some(big), Some(small), Some(l)) = (
        c.get("resnet18-layerwise-ce-nhsic"),
        c.get("resnet18-layerwise-ce-nhsic-small"),
        c.get("resnet18-layerwise-ce"),
    ) {
        let dist = |a: &RunSummary| {
            let mut s = 0.0;
            let mut k = 0;
            for (x, y) in a.stages.iter().zip(&l.stages) {
                for (p, q) in x
                    .nhsic_x
                    .iter()
                    .zip(&y.nhsic_x)
                    .chain(x.nhsic_y.iter().zip(&y.nhsic_y))
                {
                    s += (p - q).abs() / q.abs().max(1e-9);
                    k += 1;
                }
            }
            s / k.max(1) as f64
        };
        let (db, ds) = (dist(big), dist(small));
        f.push(found(
            c,
            FIG19_SMALLER,
            ds < db,
            format!(
                "Mean relative distance of the nHSIC series from plain layer-wise training: {:.3} with the smaller λ, {:.3} with the larger.",
                ds, db
            ),
        ));
    }
    f
}

const FIG12_LOWER: Claim = Claim {
    artifact: "figure 12",
    setting: "ResNet18, CIFAR10, cross-entropy, linear and MLP heads",
    quote: "The sequential layer-wise training exhibits lower test accuracy than the simultaneous setting as mentioned in the previous section.",
    line: 432,
};

const FIG12_UNIFORM: Claim = Claim {
    artifact: "figure 12",
    setting: "ResNet18, sequential layer-wise",
    quote: "On the other hand, it is the same between sequential and simultaneous layer-wise training that nHSIC behavior is uniform among the layers, and there is no information-bottleneck behavior in the final layer (see figure 12).",
    line: 433,
};

fn fig12(c: &Collected) -> Vec<Finding> {
    let mut f = Vec::new();
    for (seq, sim, head) in [
        ("resnet18-sequential-ce", "resnet18-layerwise-ce", "linear"),
        (
            "resnet18-sequential-ce-mlp",
            "resnet18-layerwise-ce-mlp",
            "MLP",
        ),
    ] {
        match (c.get(seq), c.get(sim)) {
            (Some(q), Some(m)) => f.push(found(
                c,
                Claim {
                    setting: if head == "linear" {
                        "ResNet18, CIFAR10, cross-entropy, linear heads"
                    } else {
                        "ResNet18, CIFAR10, cross-entropy, MLP heads"
                    },
                    ..FIG12_LOWER
                },
                acc_higher(m, q) == Some(true),
                acc_versus("simultaneous", m, "sequential", q),
            )),
            _ => f.push(missing(FIG12_LOWER, &[seq, sim])),
        }
    }
    if let Some(q) = c.get("resnet18-sequential-ce") {
        let all: Vec<_> = q.stages.iter().collect();
        let (k, n) = count(&all, |s| compresses_x(s) || compresses_y(s));
        let ib = q.stages.last().is_some_and(bottleneck);
        f.push(found(
            c,
            FIG12_UNIFORM,
            (k == 0 || k == n) && !ib,
            format!(
                "Layers with a compression phase: {k} of {n}; information-bottleneck behaviour at the last layer: {}.",
                if ib { "yes" } else { "no" }
            ),
        ));
    }
    f
}

const FIG11_SLOW: Claim = Claim {
    artifact: "figure 11",
    setting: "LeNet5, backpropagation vs forward gradient",
    quote: "The forward gradient method showed slow convergence, and the test accuracy for CIFAR10 did not improve sufficiently.",
    line: 426,
};

const FIG11_NO_DEGRADATION: Claim = Claim {
    artifact: "figure 11",
    setting: "LeNet5, CIFAR10, forward gradient, early layers",
    quote: "The important point here is that in the same setting of LeNet5 + CIFAR10 as in figure 3, we did not observe early layer information degradation as seen in the layer-wise training model.",
    line: 426,
};

const FIG11_GRADUAL: Claim = Claim {
    artifact: "figure 11",
    setting: "LeNet5, forward gradient",
    quote: "The improvement in nHSIC values at each layer is also gradual, particularly the information amount with input improved slowly.",
    line: 426,
};

fn fig11(c: &Collected) -> Vec<Finding> {
    let [bp, fg] = runs!(
        c,
        FIG11_SLOW,
        ["lenet5-cifar10-e2e", "lenet5-cifar10-forward-gradient"]
    );
    let t1 = &fg.stages[0];
    let slower = bp
        .stages
        .iter()
        .zip(&fg.stages)
        .filter(|(a, b)| {
            match (
                time_to_90(&a.nhsic_x, &a.epochs),
                time_to_90(&b.nhsic_x, &b.epochs),
            ) {
                (Some(ta), Some(tb)) => tb > ta,
                _ => false,
            }
        })
        .count();
    vec![
        found(
            c,
            FIG11_GRADUAL,
            2 * slower > bp.stages.len(),
            format!(
                "Layers whose nHSIC(X;T) takes longer to reach 90% of its final change under forward gradients: {slower} of {}.",
                bp.stages.len()
            ),
        ),
        found(
            c,
            FIG11_SLOW,
            acc_higher(bp, fg) == Some(true),
            acc_versus("backpropagation", bp, "forward gradient", fg),
        ),
        found(
            c,
            FIG11_NO_DEGRADATION,
            !compresses_x(t1) && !compresses_y(t1),
            format!(
                "Forward gradient, first layer: {} compression phase.",
                if compresses_x(t1) || compresses_y(t1) {
                    "a"
                } else {
                    "no"
                }
            ),
        ),
    ]
}

// ---------------------------------------------------------------- tables

const TABLE1_HEADS: Claim = Claim {
    artifact: "table 1",
    setting: "CIFAR10, VGG11/ResNet18/ResNet50, layer-wise heads of 0/1/2 layers",
    quote: "First, the performance of layer-wise training was worse when directly optimizing middle layers without auxiliary networks, and was greatly enhanced with the existence or the size of them.",
    line: 30,
};

const TABLE1_GAP: Claim = Claim {
    artifact: "table 1",
    setting: "CIFAR10, every backbone and local loss",
    quote: "However, there remains an accuracy gap compared to E2E training across all loss functions.",
    line: 30,
};

const TABLE1_DEPTH: Claim = Claim {
    artifact: "table 1",
    setting: "CIFAR10, E2E",
    quote: "Second, in E2E training, there was a substantial improvement in accuracy by increasing the depth of networks in the order of VGG11, ResNet18, and ResNet50.",
    line: 30,
};

/// The cells of the accuracy grid: (row label, column label, run name).
pub const ARCHS: [&str; 3] = ["vgg11", "resnet18", "resnet50"];
/// Columns of tables 1 and 4, each with its run-name suffix for a head size (0, 1, 2 layers).
pub const COLUMNS: [(&str, [Option<&str>; 3]); 7] = [
    ("E2E CE", [Some("e2e-ce"), None, None]),
    ("E2E SupCon", [Some("e2e-supcon"), None, None]),
    (
        "LW CE",
        [None, Some("layerwise-ce-linear"), Some("layerwise-ce-mlp")],
    ),
    (
        "LW SupCon",
        [
            Some("layerwise-supcon-identity"),
            Some("layerwise-supcon-linear"),
            Some("layerwise-supcon-mlp"),
        ],
    ),
    (
        "LW Sim",
        [
            Some("layerwise-sim-identity"),
            Some("layerwise-sim-conv"),
            Some("layerwise-sim-conv-mlp"),
        ],
    ),
    ("LW SP (hard)", [Some("layerwise-sp-hard"), None, None]),
    ("LW SP (soft)", [Some("layerwise-sp-soft"), None, None]),
];

fn grid_table(c: &Collected) -> String {
    let mut r = String::from("| backbone | head |");
    for (col, _) in COLUMNS {
        let _ = write!(r, " {col} |");
    }
    r.push_str("\n|---|---|");
    r.push_str(&"---|".repeat(COLUMNS.len()));
    r.push('\n');
    for arch in ARCHS {
        for (h, head) in ["0-layer", "1-layer", "2-layer"].iter().enumerate() {
            let _ = write!(r, "| {arch} | {head} |");
            for (col, cells) in COLUMNS {
                let cell = match cells[h] {
                    Some(suffix) => match c.get(&format!("{arch}-{suffix}")) {
                        Some(s) => pct(s.test_accuracy),
                        None => "(not run)".into(),
                    },
                    // E2E columns have one value per backbone, shown on the 0-layer row.
                    None if col.starts_with("E2E") => String::new(),
                    None => "—".into(),
                };
                let _ = write!(r, " {cell} |");
            }
            r.push('\n');
        }
    }
    r
}

fn table1_extra(c: &Collected, _: &Path) -> Result<String> {
    Ok(format!(
        "## Test accuracy grid\n\n\"—\": not defined (cross-entropy through an identity head; signal propagation uses no heads), as in the paper. \"(not run)\": the run did not finish at this scale.\n\n{}\n",
        grid_table(c)
    ))
}

fn table1(c: &Collected) -> Vec<Finding> {
    let mut f = Vec::new();
    let acc = |arch: &str, s: &str| c.get(&format!("{arch}-{s}"));
    // Heads: 0-layer below 1-layer for SupCon and Sim, per backbone.
    let (mut better, mut of) = (0, 0);
    let mut detail = Vec::new();
    for arch in ARCHS {
        for (loss, zero, one) in [
            (
                "SupCon",
                "layerwise-supcon-identity",
                "layerwise-supcon-linear",
            ),
            ("Sim", "layerwise-sim-identity", "layerwise-sim-conv"),
        ] {
            if let (Some(z), Some(o)) = (acc(arch, zero), acc(arch, one)) {
                of += 1;
                if acc_higher(o, z) == Some(true) {
                    better += 1;
                }
                detail.push(format!(
                    "{arch} {loss}: {} → {}",
                    pct(z.test_accuracy),
                    pct(o.test_accuracy)
                ));
            }
        }
    }
    if of > 0 {
        f.push(found(
            c,
            TABLE1_HEADS,
            better == of,
            format!(
                "A 1-layer head beats no head beyond sampling error in {better} of {of} cases ({}).",
                detail.join("; ")
            ),
        ));
    } else {
        f.push(missing(TABLE1_HEADS, &["the 0- and 1-layer runs"]));
    }
    // The gap: every layer-wise cell below E2E CE of its backbone.
    let (mut below, mut cells) = (0, 0);
    for arch in ARCHS {
        let Some(e) = acc(arch, "e2e-ce") else {
            continue;
        };
        for (_, suffixes) in COLUMNS.iter().skip(2) {
            for s in suffixes.iter().flatten() {
                if let Some(l) = acc(arch, s) {
                    cells += 1;
                    if acc_higher(e, l) == Some(true) {
                        below += 1;
                    }
                }
            }
        }
    }
    f.push(found(
        c,
        TABLE1_GAP,
        cells > 0 && below == cells,
        format!(
            "Layer-wise cells below E2E cross-entropy of their backbone beyond sampling error: {below} of {cells}."
        ),
    ));
    // Depth: E2E CE VGG11 < ResNet18 < ResNet50.
    match (
        acc("vgg11", "e2e-ce"),
        acc("resnet18", "e2e-ce"),
        acc("resnet50", "e2e-ce"),
    ) {
        (Some(v), Some(r18), Some(r50)) => f.push(found(
            c,
            TABLE1_DEPTH,
            acc_higher(r18, v) == Some(true) && acc_higher(r50, r18) == Some(true),
            format!(
                "E2E cross-entropy: VGG11 {}, ResNet18 {}, ResNet50 {}.",
                pct(v.test_accuracy),
                pct(r18.test_accuracy),
                pct(r50.test_accuracy)
            ),
        )),
        _ => f.push(missing(
            TABLE1_DEPTH,
            &["vgg11-e2e-ce", "resnet18-e2e-ce", "resnet50-e2e-ce"],
        )),
    }
    f
}

const TABLE2_MARGINAL: Claim = Claim {
    artifact: "table 2",
    setting: "the setting of figure 1 (ours ResNet18), retraining after the saturation layer",
    quote: "As indicated in Table 2, the outcomes of this experiment under the same setting as figure 1 demonstrated only marginal accuracy improvement through E2E retraining.",
    line: 48,
};

fn table2_extra(c: &Collected, _: &Path) -> Result<String> {
    let mut r = String::from("## Test accuracy\n\n| E2E | LW | Retrain |\n|---|---|---|\n");
    let cell = |n: &str| {
        c.get(n)
            .map(|s| pct(s.test_accuracy))
            .unwrap_or("(not run)".into())
    };
    let _ = writeln!(
        r,
        "| {} | {} | {} |",
        cell("resnet18-e2e-ce"),
        cell("resnet18-layerwise-ce"),
        cell("resnet18-retrain")
    );
    if let Some(s) = c.get("resnet18-retrain")
        && let Some((src, k)) = &s.retrained_from
    {
        let _ = writeln!(
            r,
            "\nRetraining kept the first {k} stages of the layer-wise run (`{}`) frozen and trained the rest, re-initialized, end to end.",
            src.display()
        );
    }
    Ok(r)
}

fn table2(c: &Collected) -> Vec<Finding> {
    let [e, l, t] = runs!(
        c,
        TABLE2_MARGINAL,
        [
            "resnet18-e2e-ce",
            "resnet18-layerwise-ce",
            "resnet18-retrain"
        ]
    );
    let gain = t.test_accuracy - l.test_accuracy;
    let gap = e.test_accuracy - l.test_accuracy;
    vec![found(
        c,
        TABLE2_MARGINAL,
        gain.abs() < 0.5 * gap.abs().max(1e-9) && acc_higher(e, t) == Some(true),
        format!(
            "Retraining moves the accuracy by {:.2} points from layer-wise's {} (to {}); E2E is {:.2} points above layer-wise; {}.",
            100.0 * gain,
            pct(l.test_accuracy),
            pct(t.test_accuracy),
            100.0 * gap,
            acc_versus("E2E", e, "retrained", t)
        ),
    )]
}

const TABLE3_BETTER: Claim = Claim {
    artifact: "table 3",
    setting: "forward-forward, MNIST and CIFAR10, original vs modified",
    quote: "The test accuracy is improved from the original algorithm, and particularly for CIFAR10, the issue that the model cannot be trained with the forward-forward algorithm has been resolved.",
    line: 277,
};

const TABLE3_DEPTH: Claim = Claim {
    artifact: "table 3",
    setting: "forward-forward, deeper layers",
    quote: "Moreover, despite expecting that the forward-forward algorithm could extract more complex features as the layers are stacked, the accuracy deteriorates, rather than improves.",
    line: 277,
};

/// Table 3's cells: dataset label, run stem.
const TABLE3: [(&str, &str); 2] = [("MNIST", "mnist"), ("CIFAR10", "cifar10")];

fn table3_extra(c: &Collected, _: &Path) -> Result<String> {
    let mut r = String::from(
        "## Test accuracy (%)\n\nThe paper's numbers are the only ones of its tables that survive.\n\n| | network | MNIST (ours) | CIFAR10 (ours) | MNIST (paper) | CIFAR10 (paper) |\n|---|---|---|---|---|---|\n",
    );
    for (label, emb, paper) in [
        ("Original", "original", ["96.4", "9.4"]),
        ("Ours (modified)", "modified", ["98.0", "48.7"]),
    ] {
        for net in ["mlp", "cnn"] {
            let cell = |d: &str| {
                c.get(&format!("ff-{net}-{d}-{emb}"))
                    .map(|s| format!("{:.1}", 100.0 * s.test_accuracy))
                    .unwrap_or("(not run)".into())
            };
            let _ = writeln!(
                r,
                "| {label} | {net} | {} | {} | {} | {} |",
                cell("mnist"),
                cell("cifar10"),
                paper[0],
                paper[1]
            );
        }
    }
    r.push_str("\n## Accuracy of the first k layers' goodness\n\n| run | k = 1 | k = 2 | k = 3 | k = 4 |\n|---|---|---|---|---|\n");
    for (name, s) in &c.runs {
        let accs: Vec<String> = s
            .stages
            .iter()
            .map(|st| st.head_test_accuracy.map(pct).unwrap_or("—".into()))
            .collect();
        let _ = writeln!(r, "| {name} | {} |", accs.join(" | "));
    }
    Ok(r)
}

fn table3(c: &Collected) -> Vec<Finding> {
    let mut f = Vec::new();
    let (mut better, mut of) = (0, 0);
    let mut detail = Vec::new();
    for (label, d) in TABLE3 {
        for net in ["mlp", "cnn"] {
            if let (Some(o), Some(m)) = (
                c.get(&format!("ff-{net}-{d}-original")),
                c.get(&format!("ff-{net}-{d}-modified")),
            ) {
                of += 1;
                if acc_higher(m, o) == Some(true) {
                    better += 1;
                }
                detail.push(format!(
                    "{label} {net}: {} → {}",
                    pct(o.test_accuracy),
                    pct(m.test_accuracy)
                ));
            }
        }
    }
    f.push(found(
        c,
        TABLE3_BETTER,
        of > 0 && better == of,
        format!(
            "The modification is better beyond sampling error in {better} of {of} pairs ({}).",
            detail.join("; ")
        ),
    ));
    let (mut worse, mut runs) = (0, 0);
    for s in c.runs.values() {
        let acc: Vec<f64> = s
            .stages
            .iter()
            .filter_map(|st| st.head_test_accuracy)
            .collect();
        if acc.len() >= 2 {
            runs += 1;
            let n = s.test_samples;
            if crate::reading::compare_accuracy(acc[0], *acc.last().expect("len"), n) == Some(true)
            {
                worse += 1;
            }
        }
    }
    f.push(found(
        c,
        TABLE3_DEPTH,
        runs > 0 && 2 * worse > runs,
        format!(
            "The goodness of all layers predicts worse than the first layer's alone (beyond sampling error) in {worse} of {runs} runs."
        ),
    ));
    f
}

// ---------------------------------------------------------------- the toy (figure 5)

const FIG4_COLLAPSE: Claim = Claim {
    artifact: "figures 4–5 (toy)",
    setting: "2-D data separable by the radius; first layer T = Wx with a norm penalty and a linear classifier",
    quote: "As a result, based on the gradient update equation 10, the second column of [W], [W₁₂] and [W₂₂], converges to zero due to norm regularization.",
    line: 88,
};

const FIG4_DECREASE: Claim = Claim {
    artifact: "figures 4–5 (toy)",
    setting: "the toy's first layer after the collapse",
    quote: "This situation results in a reduction in [nHSIC(X;T)] and [nHSIC(Y;T)] because the uncertainty in [X] and [Y] arises after observing the realization of [T].",
    line: 88,
};

const FIG5_MLP: Claim = Claim {
    artifact: "figure 5",
    setting: "LeNet5, CIFAR10, first layer, layer-wise with a two-layer MLP head",
    quote: "This change effectively resolves the decrease in the HSIC, leading to a similar increasing trend as in E2E training.",
    line: 89,
};

/// The toy traces of the report (computed in-process: seconds).
pub fn toy_traces(tiny: bool) -> Result<Vec<infoplane_train::toy::ToyTrace>> {
    use infoplane_train::toy::{ToyConfig, ToyTraining, run_toy};
    let cfg = ToyConfig {
        steps: if tiny { 600 } else { 3000 },
        ..ToyConfig::default()
    };
    [
        ToyTraining::LayerwiseLinear,
        ToyTraining::LayerwiseMlp,
        ToyTraining::EndToEnd,
    ]
    .into_iter()
    .map(|t| run_toy(&cfg, t).map_err(anyhow::Error::from))
    .collect()
}

fn fig5(c: &Collected) -> Vec<Finding> {
    let mut f = Vec::new();
    if let Ok(traces) = toy_traces(c.scale_note.contains("tiny")) {
        let ratio = |t: &infoplane_train::toy::ToyTrace| {
            let s = t.sigma.last().expect("a record");
            s[1] / s[0].max(1e-12)
        };
        let (lw, mlp, e2e) = (&traces[0], &traces[1], &traces[2]);
        f.push(Finding::checked(
            FIG4_COLLAPSE,
            Ok(()),
            ratio(lw) < 0.05 && ratio(mlp) > 0.2 && ratio(e2e) > 0.2,
            format!(
                "σ₂/σ₁ of W at the end: layer-wise with a linear head {:.4}, with an MLP head {:.3}, E2E {:.3} (collapse taken as < 0.05).",
                ratio(lw),
                ratio(mlp),
                ratio(e2e)
            ),
        ));
        let peak = |v: &[f64]| v.iter().cloned().fold(f64::MIN, f64::max);
        let (px, lx) = (peak(&lw.nhsic_x), *lw.nhsic_x.last().expect("a record"));
        let (py, ly) = (peak(&lw.nhsic_y), *lw.nhsic_y.last().expect("a record"));
        f.push(Finding::checked(
            FIG4_DECREASE,
            Ok(()),
            lx < 0.9 * px && ly < py,
            format!(
                "Layer-wise, linear head: nHSIC(X;T1) from its peak {px:.3} to {lx:.3}, nHSIC(Y;T1) from {py:.3} to {ly:.3}."
            ),
        ));
    }
    match (
        c.get("lenet5-cifar10-layerwise"),
        c.get("lenet5-cifar10-layerwise-mlp"),
    ) {
        (Some(lin), Some(mlp)) => {
            let (a, b) = (&lin.stages[0], &mlp.stages[0]);
            f.push(found(
                c,
                FIG5_MLP,
                !compresses_x(b) && !compresses_y(b),
                format!(
                    "First layer, MLP head: {} compression phase; linear head: {} compression phase.",
                    if compresses_x(b) || compresses_y(b) { "a" } else { "no" },
                    if compresses_x(a) || compresses_y(a) { "a" } else { "no" }
                ),
            ));
        }
        _ => f.push(missing(
            FIG5_MLP,
            &["lenet5-cifar10-layerwise", "lenet5-cifar10-layerwise-mlp"],
        )),
    }
    f
}

fn fig5_extra(c: &Collected, dir: &Path) -> Result<String> {
    let traces = toy_traces(c.scale_note.contains("tiny"))?;
    let figs = crate::plot::plot_toy(&traces, dir)?;
    std::fs::write(dir.join("toy.json"), serde_json::to_string_pretty(&traces)?)?;
    Ok(format!(
        "## The toy example (section 4.2)\n\nConstants (the paper's were lost): {}\n\n![toy](toy.png)\n\nLeft: singular values of W over training; middle: nHSIC(X;T1) and nHSIC(Y;T1); right: T1 before and after training, layer-wise with a linear head, in the basis where the classifier is the x-axis. Files: {}, `toy.json`.\n",
        "class 1 on a circle of radius 1, class 0 on the half circle of radius 2 with x₁ < 0, noise 0.05, 512 points; W ∈ R²ˣ² with the penalty 0.01·‖W‖²; full-batch SGD, lr 0.1; Gaussian kernel σ = 1 for nHSIC (crates/infoplane-train/src/toy.rs).",
        figs.iter()
            .map(|p| format!("`{}`", p.file_name().unwrap_or_default().to_string_lossy()))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

// ---------------------------------------------------------------- table 4

fn table4(c: &Collected) -> Vec<Finding> {
    if c.runs.is_empty() {
        return vec![Finding {
            claim: Claim {
                artifact: "table 4",
                setting: "CIFAR100, the grid of table 1",
                ..TABLE1_GAP
            },
            verdict: Verdict::NotComparable,
            evidence: format!("No run at this scale: {}.", c.scale_note),
        }];
    }
    table1(c)
        .into_iter()
        .map(|mut f| {
            f.claim.artifact = "table 4";
            f.claim.setting = "CIFAR100 (same claims as table 1)";
            f
        })
        .collect()
}

/// Every artifact of the paper.
pub const SPECS: &[Spec] = &[
    Spec {
        name: "fig3",
        planes: &[
            (
                "infoplane-mnist",
                &["lenet5-mnist-e2e", "lenet5-mnist-layerwise"],
            ),
            (
                "infoplane-cifar10",
                &["lenet5-cifar10-e2e", "lenet5-cifar10-layerwise"],
            ),
        ],
        probes: &[],
        claims: fig3,
        extra: none,
    },
    Spec {
        name: "fig1",
        planes: &[],
        probes: &[("probes", &["resnet18-e2e-ce", "resnet18-layerwise-ce"])],
        claims: fig1,
        extra: none,
    },
    Spec {
        name: "fig9",
        planes: &[],
        probes: &[(
            "probes",
            &["resnet18-e2e-supcon", "resnet18-layerwise-supcon"],
        )],
        claims: fig9,
        extra: none,
    },
    Spec {
        name: "fig6",
        planes: &[("infoplane", &["resnet18-e2e-ce", "resnet18-layerwise-ce"])],
        probes: &[],
        claims: fig6,
        extra: none,
    },
    Spec {
        name: "fig15",
        planes: &[("infoplane", &["resnet18-e2e-ce", "resnet18-layerwise-ce"])],
        probes: &[],
        claims: fig15,
        extra: none,
    },
    Spec {
        name: "fig16",
        planes: &[("infoplane", &["resnet50-e2e-ce", "resnet50-layerwise-ce"])],
        probes: &[],
        claims: fig16,
        extra: none,
    },
    Spec {
        name: "fig17",
        planes: &[("infoplane", &["vgg11-e2e-ce", "vgg11-layerwise-ce"])],
        probes: &[],
        claims: fig17,
        extra: none,
    },
    Spec {
        name: "fig18",
        planes: &[("infoplane", &["vgg11-nobn-e2e-ce", "vgg11-layerwise-ce"])],
        probes: &[],
        claims: fig18,
        extra: none,
    },
    Spec {
        name: "fig13",
        planes: &[
            ("infoplane-mnist", &["mlp-mnist-e2e", "mlp-mnist-layerwise"]),
            (
                "infoplane-cifar10",
                &["mlp-cifar10-e2e", "mlp-cifar10-layerwise"],
            ),
        ],
        probes: &[],
        claims: fig13,
        extra: none,
    },
    Spec {
        name: "fig14",
        planes: &[("infoplane", &["vit-e2e-ce", "vit-layerwise-ce"])],
        probes: &[],
        claims: fig14,
        extra: none,
    },
    Spec {
        name: "fig10",
        planes: &[("infoplane", &["resnet18-e2e-supcon", "resnet18-e2e-simclr"])],
        probes: &[],
        claims: fig10,
        extra: none,
    },
    Spec {
        name: "fig7",
        planes: &[(
            "infoplane",
            &["resnet18-layerwise-ce-nhsic", "resnet18-layerwise-ce"],
        )],
        probes: &[],
        claims: fig7,
        extra: none,
    },
    Spec {
        name: "fig19",
        planes: &[(
            "infoplane",
            &[
                "resnet18-layerwise-ce-nhsic-small",
                "resnet18-layerwise-ce-nhsic",
                "resnet18-layerwise-ce",
            ],
        )],
        probes: &[],
        claims: fig19,
        extra: none,
    },
    Spec {
        name: "fig12",
        planes: &[(
            "infoplane",
            &["resnet18-sequential-ce", "resnet18-sequential-ce-mlp"],
        )],
        probes: &[],
        claims: fig12,
        extra: none,
    },
    Spec {
        name: "fig11",
        planes: &[
            (
                "infoplane-mnist",
                &["lenet5-mnist-e2e", "lenet5-mnist-forward-gradient"],
            ),
            (
                "infoplane-cifar10",
                &["lenet5-cifar10-e2e", "lenet5-cifar10-forward-gradient"],
            ),
        ],
        probes: &[],
        claims: fig11,
        extra: none,
    },
    Spec {
        name: "fig5",
        planes: &[(
            "infoplane-lenet5",
            &["lenet5-cifar10-layerwise", "lenet5-cifar10-layerwise-mlp"],
        )],
        probes: &[],
        claims: fig5,
        extra: fig5_extra,
    },
    Spec {
        name: "table1",
        planes: &[],
        probes: &[],
        claims: table1,
        extra: table1_extra,
    },
    Spec {
        name: "table4",
        planes: &[],
        probes: &[],
        claims: table4,
        extra: table1_extra,
    },
    Spec {
        name: "table2",
        planes: &[],
        probes: &[(
            "probes",
            &[
                "resnet18-e2e-ce",
                "resnet18-layerwise-ce",
                "resnet18-retrain",
            ],
        )],
        claims: table2,
        extra: table2_extra,
    },
    Spec {
        name: "table3",
        planes: &[],
        probes: &[],
        claims: table3,
        extra: table3_extra,
    },
];

/// The spec of an artifact.
pub fn spec(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use infoplane_train::StageSummary;

    fn stage(i: usize, x: &[f64], y: &[f64]) -> StageSummary {
        StageSummary {
            stage: i,
            name: format!("s{i}"),
            role: None,
            steps: (0..x.len() as u64).collect(),
            epochs: (0..x.len()).map(|e| e as f64).collect(),
            nhsic_x: x.to_vec(),
            nhsic_x_std: vec![0.01; x.len()],
            nhsic_y: y.to_vec(),
            nhsic_y_std: vec![0.01; y.len()],
            nhsic_x_batches: Vec::new(),
            nhsic_y_batches: Vec::new(),
            probe_train_accuracy: None,
            probe_test_accuracy: None,
            head_test_accuracy: None,
        }
    }

    fn run(acc: f64, stages: Vec<StageSummary>) -> RunSummary {
        serde_json::from_value(serde_json::json!({
            "name": "r", "strategy": "s", "dataset": "fashion-mnist", "epochs": 3,
            "test_accuracy": acc, "train_accuracy": acc, "wall_seconds": 1.0,
            "test_samples": 2000, "stages": [], "kernel_convention": null,
        }))
        .map(|mut r: RunSummary| {
            r.stages = stages;
            r
        })
        .unwrap()
    }

    #[test]
    fn verdicts_follow_synthetic_numbers() {
        let rise = [1.0, 2.0, 3.0];
        let peak = [1.0, 3.0, 1.5];
        let collected = |nobn: &[f64], acc: [f64; 3]| {
            let mut c = Collected::default();
            c.runs.insert(
                "vgg11-nobn-e2e-ce".into(),
                run(acc[0], vec![stage(1, nobn, &rise)]),
            );
            c.runs.insert(
                "vgg11-layerwise-ce".into(),
                run(acc[1], vec![stage(1, &rise, &rise)]),
            );
            c.runs.insert(
                "vgg11-e2e-ce".into(),
                run(acc[2], vec![stage(1, &rise, &rise)]),
            );
            c
        };
        let f = fig18(&collected(&rise, [0.85, 0.80, 0.90]));
        assert_eq!(f[0].verdict, Verdict::Agree, "{}", f[0].evidence);
        assert_eq!(f[1].verdict, Verdict::Agree, "{}", f[1].evidence);
        // A compression in E2E without batch norm, and an ordering the other way round.
        let f = fig18(&collected(&peak, [0.95, 0.80, 0.90]));
        assert_eq!(f[0].verdict, Verdict::Disagree, "{}", f[0].evidence);
        assert!(f[0].evidence.contains("1 of 1"));
        assert_eq!(f[1].verdict, Verdict::Disagree, "{}", f[1].evidence);
        // Missing runs are not comparable, never a guess.
        let f = fig18(&Collected::default());
        assert!(f.iter().all(|x| x.verdict == Verdict::NotComparable));
    }
}
