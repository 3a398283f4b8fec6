//! Per-sample transforms: padding to 32x32, per-channel normalization, the CIFAR training
//! augmentation (random crop with padding, horizontal flip) and the SupCon two-view
//! augmentation (random resized crop, flip, color jitter, grayscale).
//!
//! Samples are channel-major `[c, h, w]` float slices with values in [0, 1] (bytes / 255);
//! augmentation runs before normalization, as torchvision pipelines do.

use crate::dataset::DatasetName;
use crate::rng::Rng;

/// Per-channel normalization `(x - mean[c]) / std[c]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalization {
    /// Per-channel mean.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation.
    pub std: Vec<f32>,
}

impl Normalization {
    /// The statistics used for a dataset, or `None` for rings (used raw).
    ///
    /// - MNIST and mnist-10k: mean 0.1307, std 0.3081 (the full MNIST training set's).
    /// - Fashion-MNIST: mean 0.2860, std 0.3530 (its training set's).
    /// - CIFAR-10: mean (0.4914, 0.4822, 0.4465), std (0.2023, 0.1994, 0.2010), the values
    ///   of the reference paper's code (docs/paper-settings.md).
    /// - CIFAR-100: mean (0.5071, 0.4865, 0.4409), std (0.2673, 0.2564, 0.2762), its training
    ///   set's.
    pub fn for_dataset(name: DatasetName) -> Option<Self> {
        let (mean, std): (&[f32], &[f32]) = match name {
            DatasetName::Mnist10k | DatasetName::Mnist => (&[0.1307], &[0.3081]),
            DatasetName::FashionMnist => (&[0.2860], &[0.3530]),
            DatasetName::Cifar10 => (&[0.4914, 0.4822, 0.4465], &[0.2023, 0.1994, 0.2010]),
            DatasetName::Cifar100 => (&[0.5071, 0.4865, 0.4409], &[0.2673, 0.2564, 0.2762]),
            DatasetName::Rings => return None,
        };
        Some(Normalization {
            mean: mean.to_vec(),
            std: std.to_vec(),
        })
    }

    /// Normalizes one `[c, h, w]` sample in place.
    pub fn apply(&self, sample: &mut [f32], shape: [usize; 3]) {
        let plane = shape[1] * shape[2];
        for c in 0..shape[0] {
            let (m, s) = (self.mean[c % self.mean.len()], self.std[c % self.std.len()]);
            for v in &mut sample[c * plane..(c + 1) * plane] {
                *v = (*v - m) / s;
            }
        }
    }
}

/// Zero-pads a `[c, h, w]` sample symmetrically to `[c, size, size]` (28 → 32 adds 2 pixels
/// on every side). Samples already at least that large are returned unchanged.
pub fn pad_to(sample: &[f32], shape: [usize; 3], size: usize) -> (Vec<f32>, [usize; 3]) {
    let [c, h, w] = shape;
    if h >= size && w >= size {
        return (sample.to_vec(), shape);
    }
    let (top, left) = ((size - h) / 2, (size - w) / 2);
    let mut out = vec![0.0; c * size * size];
    for ch in 0..c {
        for y in 0..h {
            let src = &sample[ch * h * w + y * w..ch * h * w + (y + 1) * w];
            let o = ch * size * size + (y + top) * size + left;
            out[o..o + w].copy_from_slice(src);
        }
    }
    (out, [c, size, size])
}

/// Mirrors a sample left-right in place.
pub fn hflip(sample: &mut [f32], shape: [usize; 3]) {
    let [c, h, w] = shape;
    for row in sample[..c * h * w].chunks_exact_mut(w) {
        row.reverse();
    }
}

/// Random crop after zero padding by `padding` on every side, then a flip with probability
/// 1/2: the standard CIFAR training augmentation (`RandomCrop(32, padding=4)`,
/// `RandomHorizontalFlip()`).
pub fn random_crop_flip(
    sample: &[f32],
    shape: [usize; 3],
    padding: usize,
    rng: &mut Rng,
) -> Vec<f32> {
    let [c, h, w] = shape;
    let dy = rng.below(2 * padding + 1) as isize - padding as isize;
    let dx = rng.below(2 * padding + 1) as isize - padding as isize;
    let mut out = vec![0.0; c * h * w];
    for ch in 0..c {
        for y in 0..h {
            let sy = y as isize + dy;
            if sy < 0 || sy >= h as isize {
                continue;
            }
            for x in 0..w {
                let sx = x as isize + dx;
                if sx >= 0 && sx < w as isize {
                    out[ch * h * w + y * w + x] =
                        sample[ch * h * w + sy as usize * w + sx as usize];
                }
            }
        }
    }
    if rng.bernoulli(0.5) {
        hflip(&mut out, shape);
    }
    out
}

/// Settings of the SupCon two-view augmentation (defaults: the reference code's).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SupConAugment {
    /// Range of the crop's area as a fraction of the image (0.2–1).
    pub scale: (f64, f64),
    /// Range of the crop's aspect ratio (3/4–4/3).
    pub ratio: (f64, f64),
    /// Color jitter strengths: brightness, contrast, saturation, hue (0.4, 0.4, 0.4, 0.1).
    pub jitter: [f64; 4],
    /// Probability of applying the color jitter (0.8).
    pub jitter_p: f64,
    /// Probability of converting to grayscale (0.2).
    pub grayscale_p: f64,
}

impl Default for SupConAugment {
    fn default() -> Self {
        SupConAugment {
            scale: (0.2, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
            jitter: [0.4, 0.4, 0.4, 0.1],
            jitter_p: 0.8,
            grayscale_p: 0.2,
        }
    }
}

fn gray(r: f32, g: f32, b: f32) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

impl SupConAugment {
    /// Two independent views of one sample.
    pub fn two_views(&self, sample: &[f32], shape: [usize; 3], rng: &mut Rng) -> [Vec<f32>; 2] {
        [self.view(sample, shape, rng), self.view(sample, shape, rng)]
    }

    /// One augmented view: random resized crop (bilinear, back to the input size), flip,
    /// color jitter, grayscale.
    pub fn view(&self, sample: &[f32], shape: [usize; 3], rng: &mut Rng) -> Vec<f32> {
        let [c, h, w] = shape;
        let (y0, x0, ch, cw) = self.crop_box(h, w, rng);
        let mut out = vec![0.0f32; c * h * w];
        for k in 0..c {
            let src = &sample[k * h * w..(k + 1) * h * w];
            for y in 0..h {
                // Pixel centres mapped into the crop (align_corners = false).
                let fy = (y0 as f64 + (y as f64 + 0.5) * ch as f64 / h as f64 - 0.5)
                    .clamp(0.0, (h - 1) as f64);
                let (ya, wy) = (fy.floor() as usize, fy - fy.floor());
                let yb = (ya + 1).min(h - 1);
                for x in 0..w {
                    let fx = (x0 as f64 + (x as f64 + 0.5) * cw as f64 / w as f64 - 0.5)
                        .clamp(0.0, (w - 1) as f64);
                    let (xa, wx) = (fx.floor() as usize, fx - fx.floor());
                    let xb = (xa + 1).min(w - 1);
                    let v = (1.0 - wy)
                        * ((1.0 - wx) * src[ya * w + xa] as f64 + wx * src[ya * w + xb] as f64)
                        + wy * ((1.0 - wx) * src[yb * w + xa] as f64
                            + wx * src[yb * w + xb] as f64);
                    out[k * h * w + y * w + x] = v as f32;
                }
            }
        }
        if rng.bernoulli(0.5) {
            hflip(&mut out, shape);
        }
        if c == 3 && rng.bernoulli(self.jitter_p) {
            self.color_jitter(&mut out, h * w, rng);
        } else if c == 1 && rng.bernoulli(self.jitter_p) {
            // Brightness and contrast only: saturation and hue need color.
            let b = rng.uniform_range(1.0 - self.jitter[0], 1.0 + self.jitter[0]) as f32;
            out.iter_mut().for_each(|v| *v = (*v * b).clamp(0.0, 1.0));
            let cf = rng.uniform_range(1.0 - self.jitter[1], 1.0 + self.jitter[1]) as f32;
            let m = out.iter().sum::<f32>() / out.len() as f32;
            out.iter_mut()
                .for_each(|v| *v = (m + cf * (*v - m)).clamp(0.0, 1.0));
        }
        if c == 3 && rng.bernoulli(self.grayscale_p) {
            let p = h * w;
            for i in 0..p {
                let g = gray(out[i], out[p + i], out[2 * p + i]);
                out[i] = g;
                out[p + i] = g;
                out[2 * p + i] = g;
            }
        }
        out
    }

    fn crop_box(&self, h: usize, w: usize, rng: &mut Rng) -> (usize, usize, usize, usize) {
        let area = (h * w) as f64;
        for _ in 0..10 {
            let target = area * rng.uniform_range(self.scale.0, self.scale.1);
            let log_r = rng.uniform_range(self.ratio.0.ln(), self.ratio.1.ln());
            let ar = log_r.exp();
            let cw = (target * ar).sqrt().round() as usize;
            let ch = (target / ar).sqrt().round() as usize;
            if cw >= 1 && ch >= 1 && cw <= w && ch <= h {
                return (rng.below(h - ch + 1), rng.below(w - cw + 1), ch, cw);
            }
        }
        (0, 0, h, w)
    }

    /// Brightness, contrast, saturation and hue jitter in a random order, as torchvision does.
    fn color_jitter(&self, img: &mut [f32], plane: usize, rng: &mut Rng) {
        let mut order = [0usize, 1, 2, 3];
        rng.shuffle(&mut order);
        for op in order {
            let s = self.jitter[op];
            match op {
                0 => {
                    let f = rng.uniform_range(1.0 - s, 1.0 + s).max(0.0) as f32;
                    img.iter_mut().for_each(|v| *v = (*v * f).clamp(0.0, 1.0));
                }
                1 => {
                    let f = rng.uniform_range(1.0 - s, 1.0 + s).max(0.0) as f32;
                    let m = (0..plane)
                        .map(|i| gray(img[i], img[plane + i], img[2 * plane + i]))
                        .sum::<f32>()
                        / plane as f32;
                    img.iter_mut()
                        .for_each(|v| *v = (m + f * (*v - m)).clamp(0.0, 1.0));
                }
                2 => {
                    let f = rng.uniform_range(1.0 - s, 1.0 + s).max(0.0) as f32;
                    for i in 0..plane {
                        let g = gray(img[i], img[plane + i], img[2 * plane + i]);
                        for k in 0..3 {
                            let v = &mut img[k * plane + i];
                            *v = (g + f * (*v - g)).clamp(0.0, 1.0);
                        }
                    }
                }
                _ => {
                    let shift = rng.uniform_range(-s, s) as f32;
                    for i in 0..plane {
                        let (hh, ss, vv) = rgb_to_hsv(img[i], img[plane + i], img[2 * plane + i]);
                        let (r, g, b) = hsv_to_rgb((hh + shift).rem_euclid(1.0), ss, vv);
                        img[i] = r;
                        img[plane + i] = g;
                        img[2 * plane + i] = b;
                    }
                }
            }
        }
    }
}

/// RGB in [0, 1] to HSV with hue in [0, 1).
pub fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let d = max - min;
    let h = if d == 0.0 {
        0.0
    } else if max == r {
        ((g - b) / d).rem_euclid(6.0) / 6.0
    } else if max == g {
        ((b - r) / d + 2.0) / 6.0
    } else {
        ((r - g) / d + 4.0) / 6.0
    };
    let s = if max == 0.0 { 0.0 } else { d / max };
    (h, s, max)
}

/// HSV (hue in [0, 1)) to RGB.
pub fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let h6 = h * 6.0;
    let i = h6.floor() as i32 % 6;
    let f = h6 - h6.floor();
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match i {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_centres_the_image() {
        let s: Vec<f32> = (0..28 * 28).map(|i| i as f32).collect();
        let (p, shape) = pad_to(&s, [1, 28, 28], 32);
        assert_eq!(shape, [1, 32, 32]);
        assert_eq!(p[0], 0.0);
        assert_eq!(p[2 * 32 + 2], 0.0 + s[0]);
        assert_eq!(p[(2 + 27) * 32 + 2 + 27], s[28 * 28 - 1]);
        assert_eq!(p.iter().filter(|&&v| v != 0.0).count(), 28 * 28 - 1);
    }

    #[test]
    fn normalization_per_channel() {
        let n = Normalization {
            mean: vec![0.5, 0.0],
            std: vec![0.5, 2.0],
        };
        let mut s = vec![1.0, 0.0, 4.0, 2.0];
        n.apply(&mut s, [2, 1, 2]);
        assert_eq!(s, vec![1.0, -1.0, 2.0, 1.0]);
    }

    #[test]
    fn crop_flip_keeps_content_and_repeats_for_a_seed() {
        let s: Vec<f32> = (0..3 * 8 * 8).map(|i| (i % 7) as f32 + 1.0).collect();
        let a = random_crop_flip(&s, [3, 8, 8], 4, &mut Rng::new(1));
        let b = random_crop_flip(&s, [3, 8, 8], 4, &mut Rng::new(1));
        assert_eq!(a, b);
        // Zero padding plus shifted content: every non-zero value comes from the image.
        assert!(a.iter().all(|&v| v == 0.0 || (1.0..=7.0).contains(&v)));
        // Without padding the crop is the identity (possibly flipped).
        let c = random_crop_flip(&s, [3, 8, 8], 0, &mut Rng::new(2));
        let mut f = s.clone();
        hflip(&mut f, [3, 8, 8]);
        assert!(c == s || c == f);
    }

    #[test]
    fn hsv_round_trip() {
        for &(r, g, b) in &[
            (0.2f32, 0.4f32, 0.9f32),
            (0.9, 0.1, 0.1),
            (0.3, 0.3, 0.3),
            (0.0, 1.0, 0.5),
        ] {
            let (h, s, v) = rgb_to_hsv(r, g, b);
            let (r2, g2, b2) = hsv_to_rgb(h, s, v);
            assert!((r - r2).abs() < 1e-5 && (g - g2).abs() < 1e-5 && (b - b2).abs() < 1e-5);
        }
    }

    #[test]
    fn supcon_views_differ_stay_in_range_and_repeat() {
        let s: Vec<f32> = (0..3 * 16 * 16)
            .map(|i| ((i * 37) % 255) as f32 / 255.0)
            .collect();
        let aug = SupConAugment::default();
        let [v1, v2] = aug.two_views(&s, [3, 16, 16], &mut Rng::new(9));
        let [w1, w2] = aug.two_views(&s, [3, 16, 16], &mut Rng::new(9));
        assert_eq!((&v1, &v2), (&w1, &w2));
        assert_ne!(v1, v2);
        assert!(v1.iter().chain(&v2).all(|v| (0.0..=1.0).contains(v)));
    }
}
