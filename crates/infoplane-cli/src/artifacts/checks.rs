//! Checks of the paper's claims against recorded runs: each returns whether the claim holds in
//! our numbers and the evidence in words. The rules (stated in every report):
//! - a series "rises then falls" (a compression phase) by [`crate::reading::read_series`];
//! - nHSIC(Y;T) is "held" at the end when its final value is within the larger of its spread
//!   and 5% of its peak below the peak;
//! - the information-bottleneck behaviour of a layer: nHSIC(X;T) compresses while nHSIC(Y;T) is
//!   held;
//! - accuracies differ when the gap exceeds twice the binomial standard error.

use infoplane_train::{RunSummary, StageSummary};

use crate::reading::{compare_accuracy, read_series, stage_label};

/// Fraction of the peak that nHSIC(Y;T) may lose and still count as held.
pub const HELD_FRACTION: f64 = 0.05;

/// True when nHSIC(X;T) of the stage rises then falls.
pub fn compresses_x(st: &StageSummary) -> bool {
    read_series(&st.nhsic_x, &st.nhsic_x_std, &st.epochs).is_some_and(|r| r.compression.is_some())
}

/// True when nHSIC(Y;T) of the stage rises then falls.
pub fn compresses_y(st: &StageSummary) -> bool {
    read_series(&st.nhsic_y, &st.nhsic_y_std, &st.epochs).is_some_and(|r| r.compression.is_some())
}

/// True when the stage's final nHSIC(Y;T) is held near its peak.
pub fn y_held(st: &StageSummary) -> bool {
    let (Some(&last), Some(peak)) = (
        st.nhsic_y.last(),
        st.nhsic_y.iter().cloned().reduce(f64::max),
    ) else {
        return false;
    };
    let spread = st.nhsic_y_std.last().copied().unwrap_or(0.0);
    peak - last <= spread.max(HELD_FRACTION * peak)
}

/// The information-bottleneck behaviour: X compresses while Y is held.
pub fn bottleneck(st: &StageSummary) -> bool {
    compresses_x(st) && y_held(st)
}

/// Stages that are neither the first nor among the last `tail`.
pub fn middle(s: &RunSummary, tail: usize) -> Vec<&StageSummary> {
    let n = s.stages.len();
    s.stages
        .iter()
        .enumerate()
        .filter(|(i, _)| *i > 0 && *i + tail < n)
        .map(|(_, st)| st)
        .collect()
}

/// The last `tail` stages.
pub fn output_side(s: &RunSummary, tail: usize) -> Vec<&StageSummary> {
    let n = s.stages.len();
    s.stages.iter().skip(n.saturating_sub(tail)).collect()
}

/// "T3 conv3 (middle layer), T4 …" or "none".
pub fn names(v: &[&StageSummary]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.iter()
            .map(|s| stage_label(s))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Counts stages where `f` holds: (holding, of).
pub fn count(v: &[&StageSummary], f: impl Fn(&StageSummary) -> bool) -> (usize, usize) {
    (v.iter().filter(|s| f(s)).count(), v.len())
}

/// Accuracy in percent.
pub fn pct(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}

/// `Some(true)` when `a`'s test accuracy is higher beyond twice the binomial standard error.
pub fn acc_higher(a: &RunSummary, b: &RunSummary) -> Option<bool> {
    let n = a.test_samples.min(b.test_samples).max(1);
    compare_accuracy(a.test_accuracy, b.test_accuracy, n)
}

/// "a 93.10% vs b 91.20% (a higher beyond twice the binomial standard error)".
pub fn acc_versus(la: &str, a: &RunSummary, lb: &str, b: &RunSummary) -> String {
    format!(
        "{la} {} vs {lb} {} ({})",
        pct(a.test_accuracy),
        pct(b.test_accuracy),
        match acc_higher(a, b) {
            Some(true) => format!("{la} higher beyond twice the binomial standard error"),
            Some(false) => format!("{lb} higher beyond twice the binomial standard error"),
            None => "within sampling error".to_string(),
        }
    )
}

/// The epoch (fraction of training) by which a series first reaches 90% of its final value.
pub fn time_to_90(values: &[f64], epochs: &[f64]) -> Option<f64> {
    let (first, last) = (*values.first()?, *values.last()?);
    let target = first + 0.9 * (last - first);
    values
        .iter()
        .zip(epochs)
        .find(|(v, _)| {
            if last >= first {
                **v >= target
            } else {
                **v <= target
            }
        })
        .map(|(_, e)| *e)
}
