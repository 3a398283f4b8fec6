//! `infoplane data info` and `infoplane data show`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use infoplane_data::{Dataset, DatasetName, Locator, Split};

/// Loads a dataset by name with the standard search.
pub fn load(name: &str, data_dir: Option<PathBuf>) -> Result<Dataset> {
    let name: DatasetName = name.parse()?;
    Ok(infoplane_data::load(name, &Locator::standard(data_dir))?)
}

fn describe_split(label: &str, s: &Split, classes: usize) -> String {
    let hist = s.class_histogram(classes);
    let shown: Vec<String> = hist
        .iter()
        .enumerate()
        .map(|(c, n)| format!("{c}:{n}"))
        .collect();
    format!(
        "{label}: {} samples, shape {}x{}x{}\n  classes: {}",
        s.len(),
        s.shape[0],
        s.shape[1],
        s.shape[2],
        if classes <= 20 {
            shown.join(" ")
        } else {
            format!(
                "{} classes, {}..{} samples each",
                classes,
                hist.iter().min().unwrap_or(&0),
                hist.iter().max().unwrap_or(&0)
            )
        }
    )
}

/// `data info`: counts, shapes, class histograms, location.
pub fn info(name: &str, data_dir: Option<PathBuf>, json: bool) -> Result<()> {
    let d = load(name, data_dir)?;
    if json {
        let v = serde_json::json!({
            "dataset": d.name.as_str(),
            "source": d.source.to_string(),
            "num_classes": d.num_classes,
            "train": { "count": d.train.len(), "shape": d.train.shape, "class_counts": d.train.class_histogram(d.num_classes) },
            "test": { "count": d.test.len(), "shape": d.test.shape, "class_counts": d.test.class_histogram(d.num_classes) },
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("dataset: {}", d.name);
    println!("found in: {}", d.source);
    println!("classes: {}", d.num_classes);
    println!("{}", describe_split("train", &d.train, d.num_classes));
    println!("{}", describe_split("test", &d.test, d.num_classes));
    Ok(())
}

// 3x5 bitmap digits for labelling the grid without any font.
const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// Renders `count` samples of `split` as an RGB grid with each label drawn above its image.
/// Rings are drawn as a scatter plot coloured by class.
pub fn grid(split: &Split, count: usize) -> (u32, u32, Vec<u8>) {
    let [c, h, w] = split.shape;
    if h == 1 {
        return scatter(split);
    }
    let n = count.min(split.len()).max(1);
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let (scale, label_h, gap) = (2usize, 14usize, 4usize);
    let (cw, ch) = (w * scale + gap, h * scale + label_h + gap);
    let (width, height) = (cols * cw + gap, rows * ch + gap);
    let mut img = vec![255u8; width * height * 3];
    let d = c * h * w;
    let mut px = Vec::with_capacity(d);
    for i in 0..n {
        let (ox, oy) = (gap + (i % cols) * cw, gap + (i / cols) * ch);
        let label = split.labels[i] as usize;
        let text: Vec<usize> = label
            .to_string()
            .chars()
            .map(|ch| ch.to_digit(10).unwrap_or(0) as usize)
            .collect();
        for (k, &dg) in text.iter().enumerate() {
            for (r, bits) in DIGITS[dg].iter().enumerate() {
                for b in 0..3 {
                    if bits >> (2 - b) & 1 == 1 {
                        for dy in 0..2 {
                            for dx in 0..2 {
                                let (x, y) = (ox + k * 8 + b * 2 + dx, oy + 1 + r * 2 + dy);
                                let o = (y * width + x) * 3;
                                img[o..o + 3].copy_from_slice(&[200, 0, 0]);
                            }
                        }
                    }
                }
            }
        }
        px.clear();
        split.pixels.to_f32(i * d..(i + 1) * d, &mut px);
        for y in 0..h * scale {
            for x in 0..w * scale {
                let (sy, sx) = (y / scale, x / scale);
                let v = |ch: usize| (px[ch * h * w + sy * w + sx].clamp(0.0, 1.0) * 255.0) as u8;
                let rgb = if c >= 3 {
                    [v(0), v(1), v(2)]
                } else {
                    let g = v(0);
                    [g, g, g]
                };
                let o = ((oy + label_h + y) * width + ox + x) * 3;
                img[o..o + 3].copy_from_slice(&rgb);
            }
        }
    }
    (width as u32, height as u32, img)
}

fn scatter(split: &Split) -> (u32, u32, Vec<u8>) {
    let size = 400usize;
    let mut img = vec![255u8; size * size * 3];
    let mut v = Vec::new();
    split.pixels.to_f32(0..split.pixels.len(), &mut v);
    let m = v.iter().fold(0.0f32, |a, b| a.max(b.abs())).max(1e-6);
    for (i, &l) in split.labels.iter().enumerate() {
        let x = ((v[2 * i] / m * 0.45 + 0.5) * size as f32) as usize;
        let y = ((0.5 - v[2 * i + 1] / m * 0.45) * size as f32) as usize;
        let col = if l == 0 {
            [31, 119, 180]
        } else {
            [214, 39, 40]
        };
        for dy in 0..2 {
            for dx in 0..2 {
                let (xx, yy) = ((x + dx).min(size - 1), (y + dy).min(size - 1));
                let o = (yy * size + xx) * 3;
                img[o..o + 3].copy_from_slice(&col);
            }
        }
    }
    (size as u32, size as u32, img)
}

/// `data show`: a PNG grid of samples with their labels.
pub fn show(
    name: &str,
    data_dir: Option<PathBuf>,
    split: &str,
    count: usize,
    out: &Path,
) -> Result<()> {
    let d = load(name, data_dir)?;
    let s = match split {
        "train" => &d.train,
        "test" => &d.test,
        other => anyhow::bail!("--split `{other}`: use train or test"),
    };
    if out.extension().and_then(|e| e.to_str()) != Some("png") {
        anyhow::bail!(
            "--out {}: the grid is written as PNG; use a .png file name",
            out.display()
        );
    }
    let (w, h, img) = grid(s, count);
    infoplane_reproduce::image::write_png(out, w, h, &img)
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {} ({} {} samples of {})",
        out.display(),
        count.min(s.len()),
        split,
        d.name
    );
    Ok(())
}

/// `data export`: a run's samples after its pipeline, as .npy files.
pub fn export(config: &Path, out: &Path) -> Result<()> {
    let cfg = infoplane_train::TrainConfig::from_file(config)?;
    let data = cfg.data.load()?;
    let pipe = infoplane_data::Pipeline {
        augment: infoplane_data::Augment::None,
        ..cfg.data.pipeline()
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, split) in [("train", &data.train), ("test", &data.test)] {
        let b = infoplane_data::materialize(split, &pipe);
        let x: Vec<f64> = b.images.iter().map(|&v| v as f64).collect();
        let y: Vec<f64> = b.labels.iter().map(|&v| v as f64).collect();
        for (file, shape, values) in [
            (format!("{name}_x.npy"), b.shape.to_vec(), x),
            (format!("{name}_y.npy"), vec![b.labels.len()], y),
        ] {
            let p = out.join(file);
            std::fs::write(&p, infoplane_hsic::npy::encode_npy_f64(&shape, &values))
                .with_context(|| format!("writing {}", p.display()))?;
        }
    }
    println!(
        "wrote {} training and {} test samples of {} to {}",
        data.train.len(),
        data.test.len(),
        cfg.data.dataset,
        out.display()
    );
    Ok(())
}
