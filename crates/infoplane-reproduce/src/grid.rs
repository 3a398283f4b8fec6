//! Grids of settings for `sweep plan --grid KEY=V1,V2,...`: the cartesian product of every
//! grid, each combination planned as the artifact's runs with those settings (in a folder of
//! its own, `runs/<tag>/`), and `sweep collect`'s table of the grid: accuracy and final nHSIC
//! per stage against each varied key.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use infoplane_train::Setting;

use crate::error::{Error, Result};

/// One `--grid KEY=V1,V2,...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// The dotted key.
    pub key: String,
    /// Its values, as typed.
    pub values: Vec<String>,
}

/// Splits at commas that are not inside brackets or quotes (`[4, 8],[2]` is two values).
fn split_values(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quote) = (Vec::new(), String::new(), 0i32, None);
    for c in s.chars() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            ('[' | '{', None) => depth += 1,
            (']' | '}', None) => depth -= 1,
            (',', None) if depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur.trim().to_string());
    out
}

impl std::str::FromStr for Grid {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::msg(format!("--grid `{s}`: {why}"));
        let (key, values) = s
            .split_once('=')
            .ok_or_else(|| bad("use KEY=V1,V2,..., e.g. optim.lr=1e-3,5e-4"))?;
        let values = split_values(values);
        if values.iter().any(String::is_empty) {
            return Err(bad("a value is empty"));
        }
        for v in &values {
            format!("{key}={v}")
                .parse::<Setting>()
                .map_err(|e| bad(&e.to_string()))?;
        }
        Ok(Grid {
            key: key.trim().to_string(),
            values,
        })
    }
}

/// One point of the grid: its folder tag, its settings and the value of each key.
#[derive(Debug, Clone, PartialEq)]
pub struct Combination {
    /// `runs/<tag>/` (`None` without a grid).
    pub tag: Option<String>,
    /// The settings of this point.
    pub settings: Vec<Setting>,
    /// (key, value) per grid.
    pub values: Vec<(String, String)>,
}

/// At most this many grid points in one plan.
pub const MAX_POINTS: usize = 10_000;

fn tag_part(key: &str, value: &str) -> String {
    let clean: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{key}-{clean}")
}

/// Every combination of `grids` (one without settings when there is none).
pub fn combinations(grids: &[Grid]) -> Result<Vec<Combination>> {
    for (i, g) in grids.iter().enumerate() {
        if grids[..i].iter().any(|o| o.key == g.key) {
            return Err(Error::msg(format!(
                "--grid {}: the key is given twice; list all its values in one --grid",
                g.key
            )));
        }
    }
    let points = grids
        .iter()
        .try_fold(1usize, |n, g| n.checked_mul(g.values.len()))
        .filter(|&n| n <= MAX_POINTS)
        .ok_or_else(|| {
            Error::msg(format!(
                "the grid has more than {MAX_POINTS} points: split it into several sweeps"
            ))
        })?;
    let mut out = Vec::with_capacity(points);
    for mut k in 0..points {
        let mut values = Vec::new();
        for g in grids.iter().rev() {
            values.push((g.key.clone(), g.values[k % g.values.len()].clone()));
            k /= g.values.len();
        }
        values.reverse();
        let settings = values
            .iter()
            .map(|(key, v)| format!("{key}={v}").parse::<Setting>())
            .collect::<infoplane_train::Result<Vec<_>>>()?;
        let tag = (!grids.is_empty()).then(|| {
            values
                .iter()
                .map(|(k, v)| tag_part(k, v))
                .collect::<Vec<_>>()
                .join("_")
        });
        out.push(Combination {
            tag,
            settings,
            values,
        });
    }
    Ok(out)
}

/// One run of a grid plan, as `plan.json` lists it.
struct GridRun {
    stem: String,
    dir: PathBuf,
    values: Vec<(String, String)>,
}

fn fmt_pct(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}

/// The grid's table from `plan.json` (`v`) and whatever runs exist: one row per run, then the
/// mean test accuracy for each value of each key. Written to `grid.md`; returned.
pub fn collect_grid(dir: &Path, v: &serde_json::Value) -> Result<String> {
    let keys: Vec<String> = v["grid"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["key"].as_str().map(String::from))
        .collect();
    let runs: Vec<GridRun> = v["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| GridRun {
            stem: r["config"]
                .as_str()
                .unwrap_or_default()
                .trim_end_matches(".toml")
                .to_string(),
            dir: PathBuf::from(r["dir"].as_str().unwrap_or_default()),
            values: keys
                .iter()
                .map(|k| (k.clone(), r["grid"][k].as_str().unwrap_or("").to_string()))
                .collect(),
        })
        .collect();
    let mut md = format!(
        "# Grid of {} ({} runs)\n\nFinal test accuracy and the last information-plane point of every stage (nHSIC(X;T) / nHSIC(Y;T)), per run.\n\n| run | {} | test acc. | train acc. | final nHSIC(X;T) / nHSIC(Y;T) per stage |\n|---|{}---|---|---|\n",
        v["artifact"].as_str().unwrap_or(""),
        runs.len(),
        keys.join(" | "),
        "---|".repeat(keys.len())
    );
    let mut finished: Vec<(&GridRun, f64)> = Vec::new();
    for r in &runs {
        let vals: Vec<&str> = r.values.iter().map(|(_, v)| v.as_str()).collect();
        match infoplane_train::read_summary(&r.dir) {
            Ok(s) => {
                let planes: Vec<String> = s
                    .stages
                    .iter()
                    .filter_map(|st| {
                        Some(format!(
                            "{} {:.3} / {:.3}",
                            st.name,
                            st.nhsic_x.last()?,
                            st.nhsic_y.last()?
                        ))
                    })
                    .collect();
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} |",
                    r.stem,
                    vals.join(" | "),
                    fmt_pct(s.test_accuracy),
                    s.train_accuracy.map_or("—".into(), fmt_pct),
                    if planes.is_empty() {
                        "—".into()
                    } else {
                        planes.join("; ")
                    }
                );
                finished.push((r, s.test_accuracy));
            }
            Err(_) => {
                let _ = writeln!(
                    md,
                    "| {} | {} | not finished | | |",
                    r.stem,
                    vals.join(" | ")
                );
            }
        }
    }
    md.push_str("\nMean test accuracy over the finished runs with each value (runs counted):\n\n| key | value | mean test acc. | runs |\n|---|---|---|---|\n");
    for (i, k) in keys.iter().enumerate() {
        let mut seen: Vec<&str> = Vec::new();
        for r in &runs {
            let val = r.values[i].1.as_str();
            if seen.contains(&val) {
                continue;
            }
            seen.push(val);
            let accs: Vec<f64> = finished
                .iter()
                .filter(|(f, _)| f.values[i].1 == val)
                .map(|(_, a)| *a)
                .collect();
            let mean = if accs.is_empty() {
                "—".to_string()
            } else {
                fmt_pct(accs.iter().sum::<f64>() / accs.len() as f64)
            };
            let _ = writeln!(md, "| {k} | {val} | {mean} | {} |", accs.len());
        }
    }
    let path = dir.join("grid.md");
    std::fs::write(&path, &md).map_err(|e| Error::io(&path, e))?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_expand_to_every_combination_with_readable_tags() {
        let g: Vec<Grid> = ["optim.lr=1e-3,5e-4", "optim.milestones=[4, 8],[2]"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(g[1].values, vec!["[4, 8]", "[2]"]);
        let c = combinations(&g).unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(
            c[0].tag.as_deref(),
            Some("optim.lr-1e-3_optim.milestones-_4__8_")
        );
        assert_eq!(c[3].values[0], ("optim.lr".to_string(), "5e-4".to_string()));
        assert_eq!(c[3].values[1].1, "[2]");
        assert_eq!(combinations(&[]).unwrap()[0].tag, None);
        assert!("optim.lr".parse::<Grid>().is_err());
        assert!("optim.lr=1e-3,".parse::<Grid>().is_err());
        let twice = vec![g[0].clone(), g[0].clone()];
        assert!(combinations(&twice).is_err());
    }
}
