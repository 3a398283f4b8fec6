//! How each requirement of the vocabulary is evaluated on the runs: the numbers, the noise
//! rule and the evidence line with effect sizes.

use std::fmt::Write as _;

use infoplane_train::{RunSummary, StageSummary};

use super::{At, Count, Evidence, Outcome, Relation, SeriesSel, Split, Stages, Wanted};
use crate::reading::{AccuracyGap, Change, Which, read_stage, stage_label};

/// A pair of named runs.
pub(super) type Named<'a> = (&'a str, &'a RunSummary);

pub(super) fn select<'a>(
    s: &'a RunSummary,
    stages: &Stages,
) -> Result<Vec<&'a StageSummary>, String> {
    let idx = stages
        .indices(s.stages.len())
        .map_err(|e| format!("{}: {e}", s.name))?;
    Ok(idx.into_iter().map(|i| &s.stages[i]).collect())
}

fn which(series: SeriesSel) -> Vec<Which> {
    match series {
        SeriesSel::X => vec![Which::X],
        SeriesSel::Y => vec![Which::Y],
        SeriesSel::Both | SeriesSel::Either => vec![Which::X, Which::Y],
    }
}

/// The one series a comparison reads: `x` or `y`, else `default`.
fn which_one(series: SeriesSel, default: Which) -> Which {
    match series {
        SeriesSel::X => Which::X,
        SeriesSel::Y => Which::Y,
        _ => default,
    }
}

fn verdict_line(what: &str, k: usize, n: usize, count: Count, detail: &[String]) -> String {
    format!(
        "{what}: {k} of {n} (asked: {}). {}",
        count.words(),
        detail.join("; ")
    )
}

pub(super) fn plane(
    s: &RunSummary,
    stages: &Stages,
    series: SeriesSel,
    shape: Wanted,
    count: Count,
) -> Result<Outcome, String> {
    let sel = select(s, stages)?;
    let mut k = 0;
    let mut detail = Vec::new();
    for st in &sel {
        let Some((x, y)) = read_stage(st) else {
            detail.push(format!("{}: not measured", stage_label(st)));
            continue;
        };
        let ok = if shape == Wanted::Bottleneck {
            x.shape.fell() && y.held()
        } else {
            let per: Vec<bool> = which(series)
                .iter()
                .map(|w| shape.holds(if *w == Which::X { &x } else { &y }))
                .collect();
            match series {
                SeriesSel::Either => per.iter().any(|&b| b),
                _ => per.iter().all(|&b| b),
            }
        };
        k += usize::from(ok);
        let lines: Vec<String> = match (shape, series) {
            (Wanted::Bottleneck, _) | (_, SeriesSel::Both | SeriesSel::Either) => {
                vec![x.describe("X"), y.describe("Y")]
            }
            (_, SeriesSel::X) => vec![x.describe("X")],
            (_, SeriesSel::Y) => vec![y.describe("Y")],
        };
        detail.push(format!(
            "{} {}: {}",
            stage_label(st),
            if ok { "✓" } else { "✗" },
            lines.join(", ")
        ));
    }
    let n = sel.len();
    let what = format!(
        "`{}`, {} with {}{}",
        s.name,
        stages.words(),
        shape.words(),
        match (shape, series) {
            (Wanted::Bottleneck, _) => String::new(),
            (_, SeriesSel::Both) => " in both nHSIC(X;T) and nHSIC(Y;T)".into(),
            (_, SeriesSel::Either) => " in nHSIC(X;T) or nHSIC(Y;T)".into(),
            (_, SeriesSel::X) => " of nHSIC(X;T)".into(),
            (_, SeriesSel::Y) => " of nHSIC(Y;T)".into(),
        }
    );
    Ok(Outcome {
        holds: count.holds(k, n),
        evidence: verdict_line(&what, k, n, count, &detail),
    })
}

/// The value of a series at a point as a one-point "series" pair for a paired comparison.
fn point_change(a: &StageSummary, b: &StageSummary, w: Which, at: At) -> Option<Change> {
    let (sa, sb) = (w.of(a), w.of(b));
    let i = match at {
        At::Early => 1,
        At::End => sa.values.len().checked_sub(1)?,
    };
    let j = match at {
        At::Early => 1,
        At::End => sb.values.len().checked_sub(1)?,
    };
    if i >= sa.values.len() || j >= sb.values.len() {
        return None;
    }
    // b's point → a's point, paired by mini-batch when both recorded the same batches.
    let values = [sb.values[j], sa.values[i]];
    let stds = [
        sb.stds.get(j).copied().unwrap_or(0.0),
        sa.stds.get(i).copied().unwrap_or(0.0),
    ];
    let batches = match (sb.batches.get(j), sa.batches.get(i)) {
        (Some(p), Some(q)) if p.len() == q.len() && !p.is_empty() => vec![p.clone(), q.clone()],
        _ => Vec::new(),
    };
    let s = crate::reading::Series {
        values: &values,
        batches: &batches,
        stds: &stds,
        epochs: &[0.0, 0.0],
    };
    Some(Change::between(&s, 0, 1))
}

fn order_of(c: &Change) -> Option<bool> {
    c.shown().then_some(c.delta > 0.0)
}

pub(super) fn plane_compare(
    (na, a): (&str, &RunSummary),
    (nb, b): (&str, &RunSummary),
    stages: &Stages,
    series: SeriesSel,
    at: At,
    relation: Relation,
    count: Count,
) -> Result<Outcome, String> {
    let (sa, sb) = (select(a, stages)?, select(b, stages)?);
    let w = which_one(series, Which::Y);
    let mut k = 0;
    let mut detail = Vec::new();
    for (x, y) in sa.iter().zip(&sb) {
        let Some(c) = point_change(x, y, w, at) else {
            detail.push(format!("{}: no point", stage_label(x)));
            continue;
        };
        let ok = relation.holds(order_of(&c));
        k += usize::from(ok);
        detail.push(format!(
            "{} {}: {:.3} vs {:.3} ({})",
            stage_label(x),
            if ok { "✓" } else { "✗" },
            c.to,
            c.from,
            c.effect()
        ));
    }
    let what = format!(
        "{} of `{na}` {} than `{nb}`'s at {} in {}",
        w.name(),
        match relation {
            Relation::Higher => "higher (a shown difference)",
            Relation::Lower => "lower (a shown difference)",
            Relation::Alike => "alike (no shown difference)",
            Relation::NotLower => "not lower (no shown difference below)",
        },
        match at {
            At::Early => "the first point after training began",
            At::End => "the end",
        },
        stages.words()
    );
    Ok(Outcome {
        holds: count.holds(k, sa.len().min(sb.len())),
        evidence: verdict_line(&what, k, sa.len().min(sb.len()), count, &detail),
    })
}

pub(super) fn alike(
    (na, a): (&str, &RunSummary),
    (nb, b): (&str, &RunSummary),
    stages: &Stages,
    count: Count,
) -> Result<Outcome, String> {
    let (sa, sb) = (select(a, stages)?, select(b, stages)?);
    let mut k = 0;
    let mut detail = Vec::new();
    for (x, y) in sa.iter().zip(&sb) {
        let (Some((xa, ya)), Some((xb, yb))) = (read_stage(x), read_stage(y)) else {
            continue;
        };
        let ok = xa.shape == xb.shape && ya.shape == yb.shape;
        k += usize::from(ok);
        detail.push(format!(
            "{} {}: X {} / {}, Y {} / {}",
            stage_label(x),
            if ok { "✓" } else { "✗" },
            xa.shape.words(),
            xb.shape.words(),
            ya.shape.words(),
            yb.shape.words()
        ));
    }
    let n = sa.len().min(sb.len());
    let what = format!("stages where `{na}` and `{nb}` read alike (the same shape of both series)");
    Ok(Outcome {
        holds: count.holds(k, n),
        evidence: verdict_line(&what, k, n, count, &detail),
    })
}

/// "93.10%".
pub fn pct(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}

pub(super) fn accuracy(
    runs: &[(Named<'_>, Named<'_>)],
    relation: Relation,
    count: Count,
) -> Outcome {
    let mut k = 0;
    let mut detail = Vec::new();
    for ((na, a), (nb, b)) in runs {
        let g = AccuracyGap::new(
            a.test_accuracy,
            a.test_samples,
            b.test_accuracy,
            b.test_samples,
        );
        let ok = relation.holds(g.order());
        k += usize::from(ok);
        detail.push(format!(
            "`{na}` {} vs `{nb}` {} ({}) {}",
            pct(a.test_accuracy),
            pct(b.test_accuracy),
            g.effect(),
            if ok { "✓" } else { "✗" }
        ));
    }
    let what = format!(
        "pairs where the first test accuracy is {}",
        relation.words()
    );
    Outcome {
        holds: count.holds(k, runs.len()),
        evidence: verdict_line(&what, k, runs.len(), count, &detail),
    }
}

fn probe_value(st: &StageSummary, split: Split) -> Option<f64> {
    match split {
        Split::Train => st.probe_train_accuracy,
        Split::Test => st.probe_test_accuracy,
    }
}

pub(super) fn probe(
    s: &RunSummary,
    stages: &Stages,
    split: Split,
    (at_least, below): (Option<f64>, Option<f64>),
    count: Count,
) -> Result<Outcome, String> {
    let sel = select(s, stages)?;
    let mut k = 0;
    let mut detail = Vec::new();
    for st in &sel {
        let v = probe_value(st, split).unwrap_or(f64::NAN);
        let ok = at_least.is_none_or(|t| v >= t) && below.is_none_or(|t| v < t);
        k += usize::from(ok);
        detail.push(format!(
            "{} {}: {}",
            stage_label(st),
            if ok { "✓" } else { "✗" },
            pct(v)
        ));
    }
    let bound = match (at_least, below) {
        (Some(a), Some(b)) => format!("in [{}, {})", pct(a), pct(b)),
        (Some(a), None) => format!("at least {}", pct(a)),
        (None, Some(b)) => format!("below {}", pct(b)),
        (None, None) => "measured".into(),
    };
    let what = format!(
        "`{}`, probe {} accuracy {bound} in {}",
        s.name,
        if split == Split::Train {
            "training"
        } else {
            "test"
        },
        stages.words()
    );
    Ok(Outcome {
        holds: count.holds(k, sel.len()),
        evidence: verdict_line(&what, k, sel.len(), count, &detail),
    })
}

pub(super) fn probe_compare(
    (na, a): (&str, &RunSummary),
    (nb, b): (&str, &RunSummary),
    stages: &Stages,
    split: Split,
    relation: Relation,
    count: Count,
) -> Result<Outcome, String> {
    let (sa, sb) = (select(a, stages)?, select(b, stages)?);
    let n_of = |r: &RunSummary| match split {
        Split::Test => r.test_samples,
        // The probes' training samples are not recorded; the test count is a conservative
        // stand-in only when they are not larger.
        Split::Train => r.test_samples,
    };
    let mut k = 0;
    let mut detail = Vec::new();
    for (x, y) in sa.iter().zip(&sb) {
        let (pa, pb) = (
            probe_value(x, split).unwrap_or(f64::NAN),
            probe_value(y, split).unwrap_or(f64::NAN),
        );
        let g = AccuracyGap::new(pa, n_of(a), pb, n_of(b));
        let ok = relation.holds(g.order());
        k += usize::from(ok);
        detail.push(format!(
            "{} {}: {} vs {} ({})",
            stage_label(x),
            if ok { "✓" } else { "✗" },
            pct(pa),
            pct(pb),
            g.effect()
        ));
    }
    let n = sa.len().min(sb.len());
    let what = format!(
        "probe {} accuracy of `{na}` {} than `{nb}`'s in {}",
        if split == Split::Train {
            "training"
        } else {
            "test"
        },
        relation.words(),
        stages.words()
    );
    Ok(Outcome {
        holds: count.holds(k, n),
        evidence: verdict_line(&what, k, n, count, &detail),
    })
}

fn last_gap(r: &RunSummary) -> (f64, f64) {
    let st = r.stages.last();
    let tr = st.and_then(|s| s.probe_train_accuracy).unwrap_or(f64::NAN);
    let te = st.and_then(|s| s.probe_test_accuracy).unwrap_or(f64::NAN);
    (tr, tr - te)
}

pub(super) fn probe_gap(
    (na, a): (&str, &RunSummary),
    (nb, b): (&str, &RunSummary),
    relation: Relation,
) -> Outcome {
    let ((tra, ga), (trb, gb)) = (last_gap(a), last_gap(b));
    // Each gap is a difference of two accuracies; their difference carries both errors.
    let se = AccuracyGap::new(tra, a.test_samples, tra - ga, a.test_samples).se;
    let se = (se.powi(2)
        + AccuracyGap::new(trb, b.test_samples, trb - gb, b.test_samples)
            .se
            .powi(2))
    .sqrt();
    let diff = ga - gb;
    let order = (diff.abs() > 2.0 * se).then_some(diff > 0.0);
    Outcome {
        holds: relation.holds(order),
        evidence: format!(
            "Last-layer probe train–test gap: `{na}` {:.1} points (train {}), `{nb}` {:.1} points (train {}); difference {:+.1} points = {:.1} SE.",
            100.0 * ga,
            pct(tra),
            100.0 * gb,
            pct(trb),
            100.0 * diff,
            diff.abs() / se.max(1e-12)
        ),
    }
}

/// The layer (0-based) from which probe test accuracy stays within one point of its best.
pub fn saturation_layer(s: &RunSummary) -> Option<usize> {
    let acc: Vec<f64> = s
        .stages
        .iter()
        .map(|st| st.probe_test_accuracy)
        .collect::<Option<_>>()?;
    let max = acc.iter().cloned().fold(f64::MIN, f64::max);
    (0..acc.len()).find(|&k| acc[k..].iter().all(|&a| a >= max - 0.01))
}

fn probes_line(s: &RunSummary) -> String {
    s.stages
        .iter()
        .map(|st| format!("{:.1}", 100.0 * st.probe_test_accuracy.unwrap_or(f64::NAN)))
        .collect::<Vec<_>>()
        .join(" / ")
}

pub(super) fn saturation((ne, e): (&str, &RunSummary), (nt, t): (&str, &RunSummary)) -> Outcome {
    let (ke, kt) = (saturation_layer(e), saturation_layer(t));
    Outcome {
        holds: matches!((ke, kt), (Some(a), Some(b)) if a < b),
        evidence: format!(
            "Probe test accuracy per layer (%), `{ne}`: {} (within a point of its best from layer {}); `{nt}`: {} (from layer {}).",
            probes_line(e),
            ke.map_or("—".into(), |k| (k + 1).to_string()),
            probes_line(t),
            kt.map_or("—".into(), |k| (k + 1).to_string())
        ),
    }
}

/// The epoch by which a series first reaches 90% of its final change.
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

pub(super) fn slower(
    (na, a): (&str, &RunSummary),
    (nb, b): (&str, &RunSummary),
    series: SeriesSel,
    stages: &Stages,
    count: Count,
) -> Result<Outcome, String> {
    let (sa, sb) = (select(a, stages)?, select(b, stages)?);
    let w = which_one(series, Which::X);
    let mut k = 0;
    let mut detail = Vec::new();
    for (x, y) in sa.iter().zip(&sb) {
        let (ta, tb) = (
            time_to_90(w.of(x).values, &x.epochs),
            time_to_90(w.of(y).values, &y.epochs),
        );
        let ok = matches!((ta, tb), (Some(p), Some(q)) if p > q);
        k += usize::from(ok);
        let f = |t: Option<f64>| t.map_or("—".into(), |t| format!("epoch {t:.2}"));
        detail.push(format!(
            "{} {}: {} vs {}",
            stage_label(x),
            if ok { "✓" } else { "✗" },
            f(ta),
            f(tb)
        ));
    }
    let n = sa.len().min(sb.len());
    let what = format!(
        "stages where {} of `{na}` reaches 90% of its final change later than `{nb}`'s",
        w.name()
    );
    Ok(Outcome {
        holds: count.holds(k, n),
        evidence: verdict_line(&what, k, n, count, &detail),
    })
}

fn distance(a: &RunSummary, r: &RunSummary) -> f64 {
    let mut s = 0.0;
    let mut k = 0;
    for (x, y) in a.stages.iter().zip(&r.stages) {
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
}

pub(super) fn closer(
    (na, a): (&str, &RunSummary),
    (nb, b): (&str, &RunSummary),
    r: &RunSummary,
) -> Outcome {
    let (da, db) = (distance(a, r), distance(b, r));
    Outcome {
        holds: da < db,
        evidence: format!(
            "Mean relative distance of the nHSIC series from `{}`'s: `{na}` {da:.3}, `{nb}` {db:.3}.",
            r.name
        ),
    }
}

pub(super) fn retrain_gain(t: &RunSummary, l: &RunSummary, e: &RunSummary) -> Outcome {
    let gain = AccuracyGap::new(
        t.test_accuracy,
        t.test_samples,
        l.test_accuracy,
        l.test_samples,
    );
    let gap = AccuracyGap::new(
        e.test_accuracy,
        e.test_samples,
        l.test_accuracy,
        l.test_samples,
    );
    let e_vs_t = AccuracyGap::new(
        e.test_accuracy,
        e.test_samples,
        t.test_accuracy,
        t.test_samples,
    );
    let marginal = gain.gap.abs() < 0.5 * gap.gap.abs().max(1e-9);
    Outcome {
        holds: marginal && e_vs_t.order() == Some(true),
        evidence: format!(
            "Retraining moves the accuracy from {} to {} ({}); E2E is at {} ({} above layer-wise, {} above the retrained run).",
            pct(l.test_accuracy),
            pct(t.test_accuracy),
            gain.effect(),
            pct(e.test_accuracy),
            gap.effect(),
            e_vs_t.effect()
        ),
    }
}

pub(super) fn depth_accuracy(runs: &[(&str, &RunSummary)], count: Count) -> Outcome {
    let mut k = 0;
    let mut n = 0;
    let mut detail = Vec::new();
    for (name, s) in runs {
        let acc: Vec<f64> = s
            .stages
            .iter()
            .filter_map(|st| st.head_test_accuracy)
            .collect();
        if acc.len() < 2 {
            continue;
        }
        n += 1;
        let g = AccuracyGap::new(
            acc[0],
            s.test_samples,
            *acc.last().expect("two"),
            s.test_samples,
        );
        let ok = g.order() == Some(true);
        k += usize::from(ok);
        detail.push(format!(
            "`{name}`: first layer {} vs all {} ({}) {}",
            pct(acc[0]),
            pct(*acc.last().expect("two")),
            g.effect(),
            if ok { "✓" } else { "✗" }
        ));
    }
    Outcome {
        holds: count.holds(k, n),
        evidence: verdict_line(
            "runs where the goodness of all layers predicts worse than the first layer's alone",
            k,
            n,
            count,
            &detail,
        ),
    }
}

pub(super) fn rank_collapse(
    ev: &Evidence,
    collapsed: &[String],
    kept: &[String],
    below: f64,
    above: f64,
) -> Result<Outcome, String> {
    let ratio = |n: &String| ev.rank_ratio.get(n).copied().ok_or_else(|| n.clone());
    let mut ok = true;
    let mut detail = Vec::new();
    for n in collapsed {
        let r = ratio(n)?;
        ok &= r < below;
        detail.push(format!("`{n}` {r:.4}"));
    }
    for n in kept {
        let r = ratio(n)?;
        ok &= r > above;
        detail.push(format!("`{n}` {r:.3}"));
    }
    let mut evidence = String::new();
    let _ = write!(
        evidence,
        "σ₂/σ₁ of W at the end: {} (collapse taken as < {below}, rank kept as > {above}).",
        detail.join(", ")
    );
    Ok(Outcome {
        holds: ok,
        evidence,
    })
}
