//! Readings of recorded series: what an nHSIC series did over training, with its effect size
//! and its noise, and how two accuracies compare. Every sentence a report says about a run is
//! computed here from the numbers, never written in advance.
//!
//! The rules (stated in every report, `docs/reading-rules.md`):
//!
//! - **Paired changes.** nHSIC is measured on the same fixed evaluation mini-batches at every
//!   point, so a change between two points is paired by mini-batch: each batch's own change,
//!   their mean Δ and its standard error SE = sd(Δ_b)/√B. A change is *shown* when every batch
//!   moves the same way, |Δ| ≥ 2·SE, and |Δ| is at least 1% of the larger of the two values
//!   (a consistent move smaller than that is measurement-stable but not a change a reader of
//!   the paper's figures would see). Without per-batch values (runs recorded by older
//!   versions) the spread of the mean at the two points stands in for SE, unpaired.
//! - **A fall** is counted wherever it happens: the series' final value lies below its maximum
//!   by a shown change. **A rise-then-fall** (a compression phase) is a shown rise from the
//!   first point to the maximum followed by a shown fall; **a fall from the start** is a shown
//!   fall without a shown rise before it (a monotone decrease).
//! - **Rose**: a shown rise from the first to the last point and no shown fall. **Flat**:
//!   neither. **Held** (nHSIC(Y;T) "maintained"): no shown fall, or a fall of at most 5% of
//!   the maximum.
//! - **Accuracies** a and b on n_a and n_b test samples differ when |a − b| > 2·SE with
//!   SE = √(a(1−a)/n_a + b(1−b)/n_b) (the standard error of the difference of two binomial
//!   proportions); otherwise they are alike. One rule everywhere.

use std::fmt::Write as _;

use infoplane_train::StageSummary;

/// A change smaller than this fraction of the larger value is not shown.
pub const MIN_RELATIVE: f64 = 0.01;
/// A shown change is at least this many standard errors.
pub const MIN_T: f64 = 2.0;
/// nHSIC(Y;T) is held when it ends within this fraction of its maximum.
pub const HELD_FRACTION: f64 = 0.05;

/// One recorded series of a stage.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// Mean over the evaluation mini-batches at every point.
    pub values: &'a [f64],
    /// Every mini-batch's value at every point (`[point][batch]`; empty when not recorded).
    pub batches: &'a [Vec<f64>],
    /// The spread over the mini-batches at every point.
    pub stds: &'a [f64],
    /// The epoch of every point.
    pub epochs: &'a [f64],
}

/// Which nHSIC series of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// nHSIC(X;T).
    X,
    /// nHSIC(Y;T).
    Y,
}

impl Which {
    /// "nHSIC(X;T)".
    pub fn name(self) -> &'static str {
        match self {
            Which::X => "nHSIC(X;T)",
            Which::Y => "nHSIC(Y;T)",
        }
    }

    /// The series of a stage.
    pub fn of(self, s: &StageSummary) -> Series<'_> {
        match self {
            Which::X => Series {
                values: &s.nhsic_x,
                batches: &s.nhsic_x_batches,
                stds: &s.nhsic_x_std,
                epochs: &s.epochs,
            },
            Which::Y => Series {
                values: &s.nhsic_y,
                batches: &s.nhsic_y_batches,
                stds: &s.nhsic_y_std,
                epochs: &s.epochs,
            },
        }
    }
}

/// A change of a series between two points, paired by evaluation mini-batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// Value at the first point.
    pub from: f64,
    /// Value at the second point.
    pub to: f64,
    /// Mean change over the mini-batches.
    pub delta: f64,
    /// Its standard error (paired; 0 with one batch).
    pub se: f64,
    /// Mini-batches that moved in the direction of `delta`.
    pub agree: usize,
    /// Mini-batches compared (0: no per-batch values, the spread stood in).
    pub batches: usize,
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var.sqrt())
}

impl Change {
    /// The change of `s` from point `i` to point `j`.
    pub fn between(s: &Series<'_>, i: usize, j: usize) -> Change {
        let (a, b) = (s.values[i], s.values[j]);
        match (s.batches.get(i), s.batches.get(j)) {
            (Some(p), Some(q)) if !p.is_empty() && p.len() == q.len() => {
                let d: Vec<f64> = p.iter().zip(q).map(|(x, y)| y - x).collect();
                let (delta, sd) = mean_sd(&d);
                let agree = d
                    .iter()
                    .filter(|v| v.signum() == delta.signum() && **v != 0.0)
                    .count();
                Change {
                    from: a,
                    to: b,
                    delta,
                    se: sd / (d.len() as f64).sqrt(),
                    agree,
                    batches: d.len(),
                }
            }
            _ => {
                let sd = |k: usize| s.stds.get(k).copied().unwrap_or(0.0);
                Change {
                    from: a,
                    to: b,
                    delta: b - a,
                    se: sd(i).max(sd(j)),
                    agree: 0,
                    batches: 0,
                }
            }
        }
    }

    /// The change in standard errors (infinite when the batches agree exactly).
    pub fn t(&self) -> f64 {
        if self.se > 0.0 {
            self.delta.abs() / self.se
        } else if self.delta != 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    }

    /// |Δ| as a fraction of the larger of the two values.
    pub fn relative(&self) -> f64 {
        self.delta.abs() / self.from.abs().max(self.to.abs()).max(1e-12)
    }

    /// Every batch moves the same way, |Δ| ≥ 2·SE, and |Δ| ≥ 1% of the larger value.
    pub fn shown(&self) -> bool {
        let batches_agree = self.batches == 0 || self.agree == self.batches;
        self.delta != 0.0 && batches_agree && self.t() >= MIN_T && self.relative() >= MIN_RELATIVE
    }

    /// "+1.23 = 8.4 SE, 12% (4/4 batches)".
    pub fn effect(&self) -> String {
        let t = self.t();
        let t = if t.is_finite() {
            format!("{t:.1} SE")
        } else {
            "no batch noise".into()
        };
        let batches = if self.batches > 0 {
            format!(", {}/{} batches", self.agree, self.batches)
        } else {
            ", unpaired".into()
        };
        format!(
            "{:+.3} = {t}, {:.1}%{batches}",
            self.delta,
            100.0 * self.relative()
        )
    }
}

/// What a series did over training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Rose from the first point to a maximum, then fell from it (a compression phase).
    RiseThenFall,
    /// Fell from its maximum without a rise before it (a monotone decrease).
    FellFromStart,
    /// Rose from the first to the last point, without a fall.
    Rose,
    /// Neither rose nor fell.
    Flat,
}

impl Shape {
    /// Words in a reading.
    pub fn words(self) -> &'static str {
        match self {
            Shape::RiseThenFall => "rose then fell",
            Shape::FellFromStart => "fell from the start",
            Shape::Rose => "rose",
            Shape::Flat => "stayed flat",
        }
    }

    /// True when the series fell (wherever the fall happened).
    pub fn fell(self) -> bool {
        matches!(self, Shape::RiseThenFall | Shape::FellFromStart)
    }
}

/// A series read by the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Index and value of the maximum.
    pub peak: (usize, f64),
    /// Epoch of the maximum.
    pub peak_epoch: f64,
    /// First point → maximum.
    pub rise: Change,
    /// Maximum → last point.
    pub fall: Change,
    /// First point → last point.
    pub net: Change,
    /// The shape.
    pub shape: Shape,
}

impl Reading {
    /// Reads a series (`None` when it is empty).
    pub fn of(s: &Series<'_>) -> Option<Reading> {
        let n = s.values.len();
        if n == 0 {
            return None;
        }
        let (ip, peak) = s
            .values
            .iter()
            .enumerate()
            .fold((0, f64::MIN), |m, (i, &v)| if v > m.1 { (i, v) } else { m });
        let rise = Change::between(s, 0, ip);
        let fall = Change::between(s, ip, n - 1);
        let net = Change::between(s, 0, n - 1);
        let fell = fall.delta < 0.0 && fall.shown();
        let rose = rise.delta > 0.0 && rise.shown();
        let shape = match (fell, rose) {
            (true, true) => Shape::RiseThenFall,
            (true, false) => Shape::FellFromStart,
            (false, _) if net.delta > 0.0 && net.shown() => Shape::Rose,
            _ => Shape::Flat,
        };
        Some(Reading {
            peak: (ip, peak),
            peak_epoch: s.epochs.get(ip).copied().unwrap_or(f64::NAN),
            rise,
            fall,
            net,
            shape,
        })
    }

    /// No shown fall, or a fall of at most [`HELD_FRACTION`] of the maximum.
    pub fn held(&self) -> bool {
        !self.shape.fell() || self.fall.relative() <= HELD_FRACTION
    }

    /// One sentence with the effect sizes: "rose then fell: 3.100 → max 6.000 (epoch 4.00,
    /// +2.900 = 20.1 SE, 48.3%, 4/4 batches) → 5.200 (−0.800 = 9.1 SE, 13.3%, 4/4 batches)".
    pub fn describe(&self, name: &str) -> String {
        let mut s = format!("{name} {}: {:.3}", self.shape.words(), self.rise.from);
        if self.peak.0 > 0 && self.fall.delta < 0.0 {
            let _ = write!(
                s,
                " → max {:.3} (epoch {:.2}, {})",
                self.peak.1,
                self.peak_epoch,
                self.rise.effect()
            );
            let _ = write!(s, " → {:.3} ({})", self.fall.to, self.fall.effect());
        } else if self.fall.delta < 0.0 {
            let _ = write!(s, " → {:.3} ({})", self.fall.to, self.fall.effect());
        } else {
            let _ = write!(s, " → {:.3} ({})", self.net.to, self.net.effect());
        }
        s
    }
}

/// The readings of a stage's nHSIC(X;T) and nHSIC(Y;T).
pub fn read_stage(s: &StageSummary) -> Option<(Reading, Reading)> {
    Some((Reading::of(&Which::X.of(s))?, Reading::of(&Which::Y.of(s))?))
}

/// "T2 conv2 (middle layer)".
pub fn stage_label(s: &StageSummary) -> String {
    match s.role {
        Some(r) => format!("T{} {} ({} layer)", s.stage, s.name, r.as_str()),
        None => format!("T{} {}", s.stage, s.name),
    }
}

/// Two test accuracies compared by the one accuracy rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccuracyGap {
    /// a − b.
    pub gap: f64,
    /// The standard error of the difference.
    pub se: f64,
}

impl AccuracyGap {
    /// Accuracy `a` on `na` samples against `b` on `nb`.
    pub fn new(a: f64, na: usize, b: f64, nb: usize) -> Self {
        let var = |p: f64, n: usize| p * (1.0 - p) / n.max(1) as f64;
        AccuracyGap {
            gap: a - b,
            se: (var(a, na) + var(b, nb)).sqrt(),
        }
    }

    /// `Some(true)`: a higher; `Some(false)`: b higher; `None`: alike (|gap| ≤ 2·SE).
    pub fn order(&self) -> Option<bool> {
        (self.gap.abs() > MIN_T * self.se).then_some(self.gap > 0.0)
    }

    /// "+0.40 points = 1.2 SE".
    pub fn effect(&self) -> String {
        format!(
            "{:+.2} points = {:.1} SE",
            100.0 * self.gap,
            if self.se > 0.0 {
                self.gap.abs() / self.se
            } else {
                f64::INFINITY
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A series whose four batches are `values` plus fixed offsets ±noise (so the paired
    /// noise of any change is zero) or plus per-point jitter.
    fn series(values: &[f64], jitter: &[[f64; 4]]) -> (Vec<f64>, Vec<Vec<f64>>, Vec<f64>) {
        let batches: Vec<Vec<f64>> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let j = jitter.get(i).copied().unwrap_or([0.0; 4]);
                [-0.3, -0.1, 0.1, 0.3]
                    .iter()
                    .zip(j)
                    .map(|(o, e)| v + o + e)
                    .collect()
            })
            .collect();
        let means = batches.iter().map(|b| mean_sd(b).0).collect();
        let stds = batches.iter().map(|b| mean_sd(b).1).collect();
        (means, batches, stds)
    }

    fn read(values: &[f64], jitter: &[[f64; 4]]) -> Reading {
        let (m, b, s) = series(values, jitter);
        let e: Vec<f64> = (0..m.len()).map(|i| i as f64).collect();
        Reading::of(&Series {
            values: &m,
            batches: &b,
            stds: &s,
            epochs: &e,
        })
        .unwrap()
    }

    #[test]
    fn a_monotone_rise_rose() {
        let r = read(&[1.0, 2.0, 3.0, 4.0], &[]);
        assert_eq!(r.shape, Shape::Rose);
        assert!(r.held());
    }

    #[test]
    fn a_monotone_fall_fell_from_the_start() {
        // The old rule needed a rise before a fall and missed this one.
        let r = read(&[4.0, 3.0, 2.0, 1.0], &[]);
        assert_eq!(r.shape, Shape::FellFromStart);
        assert!(r.shape.fell() && !r.held());
        assert!((r.fall.delta + 3.0).abs() < 1e-12);
    }

    #[test]
    fn a_rise_then_fall_is_a_compression_phase() {
        let r = read(&[1.0, 3.0, 5.0, 4.0], &[]);
        assert_eq!(r.shape, Shape::RiseThenFall);
        assert_eq!(r.peak.0, 2);
        assert!(r.describe("x").contains("max 5.000"));
    }

    #[test]
    fn flat_noise_is_flat() {
        // Batches jitter by ±0.2 from point to point around a constant level.
        let j = [
            [0.2, -0.2, 0.1, -0.1],
            [-0.2, 0.2, -0.1, 0.1],
            [0.1, 0.2, -0.2, -0.1],
        ];
        let r = read(&[5.0, 5.0, 5.0], &j);
        assert_eq!(r.shape, Shape::Flat);
        assert!(r.held());
    }

    #[test]
    fn a_one_point_dip_is_not_a_fall() {
        let r = read(&[1.0, 2.0, 1.5, 3.0, 4.0], &[]);
        assert_eq!(r.shape, Shape::Rose);
    }

    #[test]
    fn a_fall_smaller_than_the_paired_noise_is_not_shown() {
        // From the peak the mean falls by 0.05, but one batch rises: not every batch agrees,
        // and the paired standard error is as large as the fall.
        let j = [[0.0; 4], [0.0; 4], [-0.3, -0.2, 0.25, 0.05]];
        let r = read(&[1.0, 5.0, 5.0], &j);
        assert!(!r.shape.fell(), "{:?}", r.fall);
        assert!(r.fall.agree < r.fall.batches);
        // The same mean fall with every batch agreeing and no batch noise is shown.
        let r = read(&[1.0, 5.0, 4.9], &[]);
        assert_eq!(r.shape, Shape::RiseThenFall);
    }

    #[test]
    fn tiny_consistent_changes_are_not_shown() {
        // Every batch falls by 0.1% of the level: consistent, but below 1%.
        let r = read(&[1.0, 100.0, 99.9], &[]);
        assert_eq!(r.shape, Shape::Rose);
    }

    #[test]
    fn held_allows_a_small_fall() {
        let r = read(&[1.0, 10.0, 9.7], &[]);
        assert_eq!(r.shape, Shape::RiseThenFall);
        assert!(r.held());
        let r = read(&[1.0, 10.0, 9.0], &[]);
        assert!(!r.held());
    }

    #[test]
    fn without_batches_the_spread_stands_in() {
        let m = [1.0, 3.0, 2.0];
        let s = [0.1, 0.1, 0.1];
        let e = [0.0, 1.0, 2.0];
        let r = Reading::of(&Series {
            values: &m,
            batches: &[],
            stds: &s,
            epochs: &e,
        })
        .unwrap();
        assert_eq!(r.shape, Shape::RiseThenFall);
        let s = [0.1, 1.5, 1.5];
        let r = Reading::of(&Series {
            values: &m,
            batches: &[],
            stds: &s,
            epochs: &e,
        })
        .unwrap();
        assert!(!r.shape.fell(), "{r:?}");
    }

    #[test]
    fn accuracies_use_the_standard_error_of_the_difference() {
        // n = 2000 each, p ≈ 0.975: SE ≈ 0.0049, so a 0.5-point gap is alike.
        assert_eq!(AccuracyGap::new(0.976, 2000, 0.971, 2000).order(), None);
        assert_eq!(
            AccuracyGap::new(0.976, 2000, 0.950, 2000).order(),
            Some(true)
        );
        assert_eq!(
            AccuracyGap::new(0.90, 2000, 0.95, 2000).order(),
            Some(false)
        );
    }
}
