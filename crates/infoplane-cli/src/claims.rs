//! The paper's claims that a report puts beside our numbers: each quoted verbatim with its
//! setting (artifact, model, dataset) and the line of the paper's text, and a verdict computed
//! from our runs — agree, disagree, or not comparable (with the reason).
//!
//! Our copy of the paper lost its inline mathematics; where a quote had a symbol, the symbol
//! we restored stands in square brackets.

use std::fmt::Write as _;

/// A claim of the paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The artifact it is about ("figure 3(a)").
    pub artifact: &'static str,
    /// The paper's setting: model, dataset, methods.
    pub setting: &'static str,
    /// The words of the paper (restored symbols in square brackets).
    pub quote: &'static str,
    /// Line of the paper's text file.
    pub line: usize,
}

/// What our numbers say of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Our numbers show the same.
    Agree,
    /// Our numbers show otherwise.
    Disagree,
    /// Our setting differs from the claim's (the evidence still says what ours shows).
    NotComparable,
}

impl Verdict {
    /// Word in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Agree => "agree",
            Verdict::Disagree => "disagree",
            Verdict::NotComparable => "not comparable",
        }
    }
}

/// A claim with our verdict and the numbers behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The claim.
    pub claim: Claim,
    /// Our verdict.
    pub verdict: Verdict,
    /// The computed evidence, in one or two sentences.
    pub evidence: String,
}

impl Finding {
    /// A finding whose verdict follows from `holds` when the settings compare, and is "not
    /// comparable" (with `reason`) when they do not.
    pub fn checked(
        claim: Claim,
        comparable: Result<(), String>,
        holds: bool,
        evidence: String,
    ) -> Self {
        match comparable {
            Ok(()) => Finding {
                claim,
                verdict: if holds {
                    Verdict::Agree
                } else {
                    Verdict::Disagree
                },
                evidence,
            },
            Err(reason) => Finding {
                claim,
                verdict: Verdict::NotComparable,
                evidence: format!("{reason} Ours: {evidence}"),
            },
        }
    }

    /// As JSON for summaries.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "artifact": self.claim.artifact,
            "setting": self.claim.setting,
            "quote": self.claim.quote,
            "paper_line": self.claim.line,
            "verdict": self.verdict.as_str(),
            "evidence": self.evidence,
        })
    }
}

/// The findings as a markdown section (a table of verdicts, then the evidence).
pub fn markdown(findings: &[Finding]) -> String {
    let mut r = String::new();
    let _ = writeln!(
        r,
        "| # | artifact (paper's setting) | the paper says | ours |\n|---|---|---|---|"
    );
    for (i, f) in findings.iter().enumerate() {
        let _ = writeln!(
            r,
            "| {} | {} ({}) | \"{}\" (line {}) | **{}** |",
            i + 1,
            f.claim.artifact,
            f.claim.setting,
            f.claim.quote,
            f.claim.line,
            f.verdict.as_str()
        );
    }
    let _ = writeln!(r);
    for (i, f) in findings.iter().enumerate() {
        let _ = writeln!(r, "{}. {}", i + 1, f.evidence);
    }
    r
}

/// Figure 3(a), LeNet5 on MNIST: the two trainings' planes look alike.
pub const FIG3A_ALIKE: Claim = Claim {
    artifact: "figure 3(a)",
    setting: "LeNet5, MNIST, E2E vs layer-wise with linear heads",
    quote: "Figure 3(a) shows the results for the MNIST dataset, where it is clear that there is not so much difference in the HSIC plane dynamics between E2E training and layer-wise training.",
    line: 76,
};

/// Figure 3(a), LeNet5 on MNIST: accuracies alike.
pub const FIG3A_ACCURACY: Claim = Claim {
    artifact: "figure 3(a)",
    setting: "LeNet5, MNIST",
    quote: "Furthermore, the actual test accuracy of the trained models showed little difference as in the caption of figure 3(a).",
    line: 76,
};

/// Figure 3, LeNet5: E2E raises both nHSIC values in every layer.
pub const FIG3_E2E_RISE: Claim = Claim {
    artifact: "figure 3",
    setting: "LeNet5, CIFAR10 and MNIST, E2E",
    quote: "In E2E training, both [nHSIC(X;T)] and [nHSIC(Y;T)] show a consistent increase in all layers as seen in the MNIST setting.",
    line: 76,
};

/// Figure 3(b), LeNet5 on CIFAR10: the first layer of layer-wise training compresses.
pub const FIG3B_FIRST_LAYER: Claim = Claim {
    artifact: "figure 3(b)",
    setting: "LeNet5, CIFAR10, layer-wise, first layer",
    quote: "However, in the first layer of layer-wise training, the HSIC values increase at first and subsequently turn to decrease.",
    line: 76,
};

/// Figure 3(b), LeNet5 on CIFAR10: a gap in test accuracy.
pub const FIG3B_GAP: Claim = Claim {
    artifact: "figure 3(b)",
    setting: "LeNet5, CIFAR10",
    quote: "In this setup, there is a noticeable gap in the test accuracy between E2E and layer-wise training.",
    line: 76,
};

/// Section 1: middle representations of E2E carry more label information but are less
/// separable.
pub const INTRO_MIDDLE: Claim = Claim {
    artifact: "section 1 (figures 1, 3, 6)",
    setting: "the paper's CIFAR10 models, middle layers",
    quote: "The E2E-trained model obtains the middle representations with a higher correlation with labels, despite having lower class separability.",
    line: 10,
};

/// Figure 1: E2E is more separable on the test data at the end.
pub const FIG1_TEST_SEPARABILITY: Claim = Claim {
    artifact: "figure 1",
    setting: "CIFAR10 (model not stated in our copy), E2E vs layer-wise with linear heads",
    quote: "Both approaches ultimately achieve perfect separation on the training data, but E2E demonstrates better linear separability on the test data.",
    line: 44,
};
