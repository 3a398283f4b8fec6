//! Figures: information planes (the paper's figure 3) and probe accuracy per stage
//! (figure 1), as PNG or SVG. Text is drawn with the embedded DejaVu Sans, so rendering does
//! not depend on the fonts installed on the machine.

use std::path::{Path, PathBuf};
use std::sync::Once;

use crate::error::{Context, Error, Result, fail};
use infoplane_hsic::{PlanePoint, read_points};
use infoplane_train::observers::{ProbeResult, read_probes};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The embedded font is valid; a failure here would be a build defect.
            plotters::style::register_font("sans-serif", style, FONT)
                .ok()
                .expect("embedded font parses");
        }
    });
}

/// One run as the plots see it.
#[derive(Debug, Clone)]
pub struct RunData {
    /// Label in legends and titles.
    pub label: String,
    /// Information-plane points.
    pub points: Vec<PlanePoint>,
    /// Probe results.
    pub probes: Vec<ProbeResult>,
}

/// Reads a run directory (config.toml for the name, infoplane.jsonl, probes.csv).
pub fn read_run(dir: &Path) -> Result<RunData> {
    if !dir.is_dir() {
        fail!(
            "{}: not a run directory (expected the folder written by `infoplane train`)",
            dir.display()
        );
    }
    let label = std::fs::read_to_string(dir.join("config.toml"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("name").and_then(|v| v.as_str()).map(String::from))
        .unwrap_or_else(|| {
            dir.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    let ip = dir.join("infoplane.jsonl");
    let points = if ip.exists() {
        // The error names the file and the line.
        read_points(&ip)?
    } else {
        Vec::new()
    };
    let pr = dir.join("probes.csv");
    let probes = if pr.exists() {
        read_probes(&pr).with_context(|| format!("reading {}", pr.display()))?
    } else {
        Vec::new()
    };
    Ok(RunData {
        label,
        points,
        probes,
    })
}

/// A drawing error as ours.
fn draw_err(e: impl std::fmt::Debug) -> Error {
    Error::msg(format!("drawing failed: {e:?}"))
}

/// Colour of training progress t ∈ [0, 1]: dark blue → teal → yellow (viridis-like).
fn progress_color(t: f64) -> RGBColor {
    let stops = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let x = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    let mix = |p: f64, q: f64| (p + f * (q - p)).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

const RUN_COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// One panel of the information plane: run `run`'s stage `s` on shared axis ranges.
fn plane_panel<DB: DrawingBackend>(
    cell: &DrawingArea<DB, Shift>,
    run: &RunData,
    s: usize,
    (x0, x1, y0, y1): (f64, f64, f64, f64),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let mine: Vec<&PlanePoint> = run.points.iter().filter(|p| p.stage == s).collect();
    let name = mine
        .first()
        .map(|p| p.stage_name.clone())
        .unwrap_or_else(|| format!("stage {s}"));
    let mut chart = ChartBuilder::on(cell)
        .caption(format!("{} — T{s} ({name})", run.label), ("sans-serif", 14))
        .margin(6)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("nHSIC(X;T)")
        .y_desc("nHSIC(Y;T)")
        .x_labels(4)
        .y_labels(5)
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(draw_err)?;
    let n = mine.len().max(2) as f64 - 1.0;
    for (k, w) in mine.windows(2).enumerate() {
        let c = progress_color((k as f64 + 0.5) / n);
        let (a, b) = ((w[0].nhsic_x, w[0].nhsic_y), (w[1].nhsic_x, w[1].nhsic_y));
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![a, b],
                c.stroke_width(2),
            )))
            .map_err(draw_err)?;
        // Arrowhead at b, drawn in data space along the segment.
        let (dx, dy) = ((b.0 - a.0) / (x1 - x0), (b.1 - a.1) / (y1 - y0));
        let len = (dx * dx + dy * dy).sqrt();
        if len > 1e-3 {
            let (ux, uy) = (dx / len, dy / len);
            let s = 0.025;
            let back = (b.0 - s * ux * (x1 - x0), b.1 - s * uy * (y1 - y0));
            let l = (
                back.0 - 0.5 * s * uy * (x1 - x0),
                back.1 + 0.5 * s * ux * (y1 - y0),
            );
            let rr = (
                back.0 + 0.5 * s * uy * (x1 - x0),
                back.1 - 0.5 * s * ux * (y1 - y0),
            );
            chart
                .draw_series(std::iter::once(Polygon::new(vec![b, l, rr], c.filled())))
                .map_err(draw_err)?;
        }
    }
    chart
        .draw_series(mine.iter().enumerate().map(|(k, p)| {
            Circle::new(
                (p.nhsic_x, p.nhsic_y),
                3,
                progress_color(k as f64 / n).filled(),
            )
        }))
        .map_err(draw_err)?;
    Ok(())
}

fn draw_infoplane<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, runs: &[RunData]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(draw_err)?;
    let stages = runs
        .iter()
        .flat_map(|r| r.points.iter().map(|p| p.stage))
        .max()
        .unwrap_or(0);
    if stages == 0 {
        fail!(
            "no information-plane points in the given runs (infoplane.jsonl is missing or empty)"
        );
    }
    let (title, body) = root.split_vertically(40);
    let settings = runs
        .iter()
        .flat_map(|r| r.points.first())
        .next()
        .map(|p| p.settings.describe())
        .unwrap_or_default();
    title
        .draw_text(&format!("Information plane: nHSIC(X;T) vs nHSIC(Y;T), colour = training progress — {settings}"), &("sans-serif", 15).into_font().color(&BLACK), (10, 12))
        .map_err(draw_err)?;
    let cells = body.split_evenly((runs.len(), stages));
    for s in 1..=stages {
        // One range per stage column, shared by the runs, so they compare directly.
        let pts = runs
            .iter()
            .flat_map(|r| r.points.iter().filter(move |p| p.stage == s));
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for p in pts {
            x0 = x0.min(p.nhsic_x);
            x1 = x1.max(p.nhsic_x);
            y0 = y0.min(p.nhsic_y);
            y1 = y1.max(p.nhsic_y);
        }
        let pad = |a: f64, b: f64| {
            let w = (b - a).abs().max(1e-6 * a.abs().max(1.0));
            (a - 0.08 * w, b + 0.08 * w)
        };
        let (x0, x1) = pad(x0, x1);
        let (y0, y1) = pad(y0, y1);
        for (r, run) in runs.iter().enumerate() {
            plane_panel(&cells[r * stages + (s - 1)], run, s, (x0, x1, y0, y1))?;
        }
    }
    root.present().map_err(draw_err)?;
    Ok(())
}

fn draw_probes<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, runs: &[RunData]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(draw_err)?;
    let stages = runs
        .iter()
        .flat_map(|r| r.probes.iter().map(|p| p.stage))
        .max()
        .unwrap_or(0);
    if stages == 0 {
        fail!("no probe results in the given runs (probes.csv is missing)");
    }
    let lo = runs
        .iter()
        .flat_map(|r| {
            r.probes
                .iter()
                .flat_map(|p| [p.train_accuracy, p.test_accuracy])
        })
        .fold(1.0f64, f64::min);
    let y0 = (lo - 0.05).clamp(0.0, 0.95);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Linear separability per stage (linear probes)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.5f64..stages as f64 + 0.5, y0..1.0f64)
        .map_err(draw_err)?;
    let names: Vec<String> = (1..=stages)
        .map(|s| {
            runs.iter()
                .flat_map(|r| r.probes.iter())
                .find(|p| p.stage == s)
                .map(|p| format!("T{s} {}", p.stage_name))
                .unwrap_or_default()
        })
        .collect();
    chart
        .configure_mesh()
        .x_labels(stages)
        .x_label_formatter(&|v| {
            let i = v.round() as usize;
            if (v - i as f64).abs() < 1e-6 && i >= 1 && i <= names.len() {
                names[i - 1].clone()
            } else {
                String::new()
            }
        })
        .x_desc("stage")
        .y_desc("probe accuracy")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(draw_err)?;
    for (r, run) in runs.iter().enumerate() {
        let c = RUN_COLORS[r % RUN_COLORS.len()];
        let test: Vec<(f64, f64)> = run
            .probes
            .iter()
            .map(|p| (p.stage as f64, p.test_accuracy))
            .collect();
        let train: Vec<(f64, f64)> = run
            .probes
            .iter()
            .map(|p| (p.stage as f64, p.train_accuracy))
            .collect();
        chart
            .draw_series(LineSeries::new(test.clone(), c.stroke_width(2)))
            .map_err(draw_err)?
            .label(format!("{} test", run.label))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart
            .draw_series(test.iter().map(|&p| Circle::new(p, 4, c.filled())))
            .map_err(draw_err)?;
        let light = c.mix(0.5);
        chart
            .draw_series(LineSeries::new(train.clone(), light.stroke_width(1)))
            .map_err(draw_err)?
            .label(format!("{} train", run.label))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], light.stroke_width(1))
            });
        chart
            .draw_series(train.iter().map(|&p| Circle::new(p, 4, c.stroke_width(1))))
            .map_err(draw_err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(draw_err)?;
    root.present().map_err(draw_err)?;
    Ok(())
}

/// The toy example (section 4.2): σ₂/σ₁ of W, nHSIC(X;T1), nHSIC(Y;T1) over training for each
/// training, and T1 before and after layer-wise training with a linear head.
/// The toy's T1 before and after training, in the classifier's basis.
fn toy_snapshots<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
    t: &infoplane_train::toy::ToyTrace,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let snaps = [t.snapshots.first(), t.snapshots.last()];
    let all: Vec<[f64; 2]> = snaps
        .iter()
        .flatten()
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    let m = all
        .iter()
        .flat_map(|p| [p[0].abs(), p[1].abs()])
        .fold(1e-6, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(panel)
        .caption(
            format!("T1, {} (start: light, end: dark)", t.training.as_str()),
            ("sans-serif", 13),
        )
        .margin(8)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(-m..m, -m..m)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("classifier direction")
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(draw_err)?;
    for (k, snap) in snaps.iter().flatten().enumerate() {
        let light = k == 0;
        chart
            .draw_series(snap.1.iter().zip(&t.labels).map(|(p, &l)| {
                let c = if l == 1 { RUN_COLORS[0] } else { RUN_COLORS[1] };
                let c = if light { c.mix(0.25) } else { c.mix(1.0) };
                Circle::new((p[0], p[1]), 2, c.filled())
            }))
            .map_err(draw_err)?;
    }
    Ok(())
}

fn draw_toy<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    traces: &[infoplane_train::toy::ToyTrace],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(draw_err)?;
    let panels = root.split_evenly((1, 4));
    type Series = fn(&infoplane_train::toy::ToyTrace, usize) -> f64;
    let curves: [(&str, Series); 3] = [
        ("σ₂/σ₁ of W", |t, i| {
            t.sigma[i][1] / t.sigma[i][0].max(1e-12)
        }),
        ("nHSIC(X;T1)", |t, i| t.nhsic_x[i]),
        ("nHSIC(Y;T1)", |t, i| t.nhsic_y[i]),
    ];
    for (p, (title, f)) in panels.iter().zip(curves) {
        let steps = traces
            .iter()
            .map(|t| *t.steps.last().unwrap_or(&1))
            .max()
            .unwrap_or(1) as f64;
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for t in traces {
            for i in 0..t.steps.len() {
                lo = lo.min(f(t, i));
                hi = hi.max(f(t, i));
            }
        }
        let pad = 0.05 * (hi - lo).abs().max(1e-6);
        let mut chart = ChartBuilder::on(p)
            .caption(title, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..steps, (lo - pad)..(hi + pad))
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .label_style(("sans-serif", 11))
            .draw()
            .map_err(draw_err)?;
        for (k, t) in traces.iter().enumerate() {
            let c = RUN_COLORS[k % RUN_COLORS.len()];
            let pts: Vec<(f64, f64)> = (0..t.steps.len())
                .map(|i| (t.steps[i] as f64, f(t, i)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(draw_err)?
                .label(t.training.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 11))
            .draw()
            .map_err(draw_err)?;
    }
    // T1 of the layer-wise, linear-head run: first and last snapshot.
    if let Some(t) = traces.first() {
        toy_snapshots(&panels[3], t)?;
    }
    root.present().map_err(draw_err)?;
    Ok(())
}

/// Writes the toy figure as `toy.png` and `toy.svg` into `dir`.
pub fn plot_toy(traces: &[infoplane_train::toy::ToyTrace], dir: &Path) -> Result<Vec<PathBuf>> {
    ["png", "svg"]
        .iter()
        .map(|ext| {
            render(
                &Drawing::Toy(traces),
                (1500, 380),
                &dir.join(format!("toy.{ext}")),
            )
        })
        .collect()
}

/// Which figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    /// Information planes.
    InfoPlane,
    /// Probe accuracy per stage.
    Probes,
}

/// What is drawn.
enum Drawing<'a> {
    InfoPlane(&'a [RunData]),
    Probes(&'a [RunData]),
    Toy(&'a [infoplane_train::toy::ToyTrace]),
}

impl Drawing<'_> {
    fn draw<DB: DrawingBackend>(&self, area: DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        match self {
            Drawing::InfoPlane(r) => draw_infoplane(area, r),
            Drawing::Probes(r) => draw_probes(area, r),
            Drawing::Toy(t) => draw_toy(area, t),
        }
    }
}

/// The most stage columns (and run rows) one figure draws.
pub const MAX_PANELS: usize = 64;

/// Draws `figure` for `runs` into `out` (`.png` or `.svg`, chosen by extension).
pub fn plot(figure: Figure, runs: &[RunData], out: &Path) -> Result<PathBuf> {
    let stages = runs
        .iter()
        .flat_map(|r| {
            let planes = r.points.iter().map(|p| p.stage);
            planes.chain(r.probes.iter().map(|p| p.stage))
        })
        .max()
        .unwrap_or(1);
    if stages > MAX_PANELS || runs.len() > MAX_PANELS {
        fail!(
            "{} stages and {} runs: a figure draws at most {MAX_PANELS} of each; plot fewer runs, or check the files (a stage index this large is usually damage)",
            stages,
            runs.len()
        );
    }
    let size = match figure {
        Figure::InfoPlane => (
            300 * stages.max(1) as u32,
            40 + 280 * runs.len().max(1) as u32,
        ),
        Figure::Probes => (820, 520),
    };
    let drawing = match figure {
        Figure::InfoPlane => Drawing::InfoPlane(runs),
        Figure::Probes => Drawing::Probes(runs),
    };
    render(&drawing, size, out)
}

fn render(drawing: &Drawing<'_>, size: (u32, u32), out: &Path) -> Result<PathBuf> {
    register_font();
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    // Figures are written to a temporary file and renamed: a failed plot leaves nothing behind.
    let res = match ext.as_str() {
        "png" => {
            let mut buf = vec![0u8; (size.0 * size.1 * 3) as usize];
            let drawn = {
                let area = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
                drawing.draw(area)
            };
            drawn.and_then(|_| crate::image::write_png(out, size.0, size.1, &buf))
        }
        "svg" => {
            let tmp = out.with_extension(format!("svg.{}.tmp", std::process::id()));
            let drawn = {
                let area = SVGBackend::new(&tmp, size).into_drawing_area();
                drawing.draw(area)
            };
            match drawn {
                Ok(()) => {
                    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    Err(e)
                }
            }
        }
        _ => fail!("--out {}: use a .png or .svg file name", out.display()),
    };
    res?;
    Ok(out.to_path_buf())
}
