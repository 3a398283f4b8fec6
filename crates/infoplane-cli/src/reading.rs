//! Readings of recorded series: every sentence a report says about a run is computed here from
//! the numbers and their spread, never written in advance.
//!
//! Rules (stated in every report):
//! - a change of an nHSIC series is real when it exceeds the spread over the evaluation
//!   mini-batches at its two ends (max of the two standard deviations); otherwise the series
//!   stayed flat;
//! - a compression phase: the series peaked strictly before its last point, and the final
//!   value lies below the peak by more than the spread there and by more than 10% of the rise
//!   from the first point to the peak;
//! - two accuracies on the same n test samples differ when the gap exceeds twice the binomial
//!   standard error √(p(1−p)/n) of their mean.

use infoplane_train::StageSummary;

/// Direction of a series from its first to its last point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    /// Rose by more than the spread.
    Rose,
    /// Fell by more than the spread.
    Fell,
    /// Changed by less than the spread.
    Flat,
}

impl Trend {
    /// The verb of a sentence.
    pub fn verb(self) -> &'static str {
        match self {
            Trend::Rose => "rose",
            Trend::Fell => "fell",
            Trend::Flat => "stayed flat (within the mini-batch spread)",
        }
    }
}

/// What a series did.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesReading {
    /// First value and its spread.
    pub first: (f64, f64),
    /// Last value and its spread.
    pub last: (f64, f64),
    /// Direction.
    pub trend: Trend,
    /// A compression phase: (epoch of the peak, peak value).
    pub compression: Option<(f64, f64)>,
}

/// Fraction of the rise a fall must exceed to count as compression.
pub const COMPRESSION_FRACTION: f64 = 0.1;

/// Reads one series (values, their spreads, the epochs of the points).
pub fn read_series(values: &[f64], stds: &[f64], epochs: &[f64]) -> Option<SeriesReading> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let sd = |i: usize| stds.get(i).copied().unwrap_or(0.0);
    let (a, b) = (values[0], values[n - 1]);
    let spread = sd(0).max(sd(n - 1));
    let trend = if b - a > spread {
        Trend::Rose
    } else if a - b > spread {
        Trend::Fell
    } else {
        Trend::Flat
    };
    let (ip, peak) = values
        .iter()
        .enumerate()
        .fold((0, f64::MIN), |m, (i, &v)| if v > m.1 { (i, v) } else { m });
    let rise = peak - a;
    let drop = peak - b;
    let compression = (ip + 1 < n
        && rise > sd(0).max(sd(ip))
        && drop > sd(ip).max(sd(n - 1))
        && drop > COMPRESSION_FRACTION * rise)
        .then(|| (epochs.get(ip).copied().unwrap_or(f64::NAN), peak));
    Some(SeriesReading {
        first: (a, sd(0)),
        last: (b, sd(n - 1)),
        trend,
        compression,
    })
}

/// The readings of a stage's nHSIC(X;T) and nHSIC(Y;T).
pub fn read_stage(s: &StageSummary) -> Option<(SeriesReading, SeriesReading)> {
    Some((
        read_series(&s.nhsic_x, &s.nhsic_x_std, &s.epochs)?,
        read_series(&s.nhsic_y, &s.nhsic_y_std, &s.epochs)?,
    ))
}

/// "T2 conv2 (middle layer)".
pub fn stage_label(s: &StageSummary) -> String {
    match s.role {
        Some(r) => format!("T{} {} ({} layer)", s.stage, s.name, r.as_str()),
        None => format!("T{} {}", s.stage, s.name),
    }
}

/// One sentence on a series: "nHSIC(Y;T) rose from 6.74 ± 0.21 to 8.02 ± 0.05".
pub fn describe(name: &str, r: &SeriesReading) -> String {
    let mut s = format!(
        "{name} {} from {:.3} ± {:.3} to {:.3} ± {:.3}",
        r.trend.verb(),
        r.first.0,
        r.first.1,
        r.last.0,
        r.last.1
    );
    if let Some((e, p)) = r.compression {
        s.push_str(&format!(
            ", after peaking at {p:.3} (epoch {e:.2}): a compression phase"
        ));
    }
    s
}

/// Binomial standard error of an accuracy `p` on `n` samples.
pub fn accuracy_se(p: f64, n: usize) -> f64 {
    (p * (1.0 - p) / n.max(1) as f64).sqrt()
}

/// How two accuracies on the same `n` samples compare: `Some(true)` a is higher, `Some(false)`
/// b is higher, `None` within twice the standard error.
pub fn compare_accuracy(a: f64, b: f64, n: usize) -> Option<bool> {
    let se = accuracy_se(0.5 * (a + b), n);
    if (a - b).abs() <= 2.0 * se {
        None
    } else {
        Some(a > b)
    }
}

/// How two nHSIC values with spreads compare: `Some(true)` a higher, `Some(false)` b higher,
/// `None` within the larger spread.
pub fn compare_values(a: (f64, f64), b: (f64, f64)) -> Option<bool> {
    if (a.0 - b.0).abs() <= a.1.max(b.1) {
        None
    } else {
        Some(a.0 > b.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_smaller_than_the_spread_are_flat() {
        let e = [0.0, 1.0, 2.0];
        let r = read_series(&[1.0, 1.2, 1.1], &[0.2, 0.2, 0.2], &e).unwrap();
        assert_eq!(r.trend, Trend::Flat);
        assert!(r.compression.is_none());
        let r = read_series(&[1.0, 1.2, 1.5], &[0.2, 0.2, 0.2], &e).unwrap();
        assert_eq!(r.trend, Trend::Rose);
        let r = read_series(&[1.0, 3.0, 2.0], &[0.1, 0.1, 0.1], &e).unwrap();
        assert_eq!(r.trend, Trend::Rose);
        assert_eq!(r.compression, Some((1.0, 3.0)));
        // The same shape with a spread larger than the drop: no compression.
        let r = read_series(&[1.0, 3.0, 2.0], &[0.1, 1.5, 1.5], &e).unwrap();
        assert!(r.compression.is_none());
    }

    #[test]
    fn accuracy_gaps_use_the_binomial_error() {
        // n = 2000, p ≈ 0.975: se ≈ 0.0035, so a 0.5-point gap is within 2 se.
        assert_eq!(compare_accuracy(0.976, 0.971, 2000), None);
        assert_eq!(compare_accuracy(0.976, 0.950, 2000), Some(true));
    }
}
