//! Every loss of the paper's training methods as a pure function: tensors in, a scalar tensor
//! (shape `[1]`) out. Each cites its formula and source (appendix B.2 of the paper, and the
//! reference code it follows where the paper's formula was lost; docs/paper-settings.md).

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::activation::{log_softmax, softmax, softplus};
use burn::tensor::{Device, Int, Tensor, TensorData};
use faer::Mat;
use infoplane_hsic::{HsicError, Regularized};
use infoplane_models::Repr;

/// Mean cross-entropy of `logits` `[n, C]` against `labels` `[n]`:
/// −(1/n) Σᵢ log softmax(logitsᵢ)[yᵢ].
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, labels)
}

/// Rows scaled to unit L2 norm (a tiny floor keeps zero rows finite).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

/// 1.0 where `labels[i] == labels[j]`, else 0.0: `[n, n]`.
pub fn same_label(labels: Tensor<1, Int>) -> Tensor<2> {
    let n = labels.dims()[0];
    let a = labels.clone().reshape([n, 1]).expand([n, n]);
    let b = labels.reshape([1, n]).expand([n, n]);
    a.equal(b).float()
}

/// The supervised contrastive loss (Khosla et al. 2020, eq. 2; the SupCon reference code used
/// by the paper's authors). `features` `[m, d]` (all views stacked; normalized here), `labels`
/// `[m]`. With zᵢ L2-normalized, sᵢⱼ = zᵢ·zⱼ/τ, A(i) = all j ≠ i and P(i) = {p ∈ A(i): yₚ = yᵢ}:
///
/// L = (τ/τ_base) · (1/m) Σᵢ −(1/|P(i)|) Σ_{p∈P(i)} [ sᵢₚ − log Σ_{a∈A(i)} exp(sᵢₐ) ]
///
/// Anchors without a positive contribute 0 (|P(i)| is floored at 1).
pub fn supcon(
    features: Tensor<2>,
    labels: Tensor<1, Int>,
    temperature: f64,
    base_temperature: f64,
) -> Tensor<1> {
    let positives = same_label(labels);
    contrastive(features, positives, temperature, base_temperature)
}

/// SimCLR's NT-Xent loss (Chen et al. 2020) as the SupCon reference code computes it (its
/// `SimCLR` mode): the supervised contrastive loss where the only positive of a view is the
/// other view of the same sample. `features` `[2n, d]`: rows 0..n the first views, n..2n the
/// second views, in the same sample order.
pub fn nt_xent(features: Tensor<2>, temperature: f64, base_temperature: f64) -> Tensor<1> {
    let m = features.dims()[0];
    let n = m / 2;
    let device = features.device();
    let ids: Vec<i64> = (0..m).map(|i| (i % n) as i64).collect();
    let positives = same_label(Tensor::from_data(TensorData::new(ids, [m]), &device));
    contrastive(features, positives, temperature, base_temperature)
}

fn contrastive(
    features: Tensor<2>,
    positives: Tensor<2>,
    temperature: f64,
    base_temperature: f64,
) -> Tensor<1> {
    let m = features.dims()[0];
    let device = features.device();
    let z = l2_normalize(features);
    let logits = z.clone().matmul(z.transpose()).div_scalar(temperature);
    // Subtracting the (constant) row maximum changes nothing but the rounding.
    let logits = logits.clone() - logits.max_dim(1).detach();
    let not_self = Tensor::<2>::ones([m, m], &device) - Tensor::<2>::eye(m, &device);
    let positives = positives * not_self.clone();
    let denom = (logits.clone().exp() * not_self).sum_dim(1).log(); // [m, 1]
    let log_prob = logits - denom;
    let count = positives.clone().sum_dim(1).clamp_min(1.0);
    let mean_pos = (positives * log_prob).sum_dim(1) / count; // [m, 1]
    mean_pos
        .mul_scalar(-(temperature / base_temperature))
        .mean()
        .reshape([1])
}

/// The label similarity a similarity-matching loss targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SimTarget {
    /// The raw one-hot Gram matrix Y·Yᵀ: 1 for the same class, 0 otherwise (the paper's
    /// authors' code).
    #[default]
    OnehotGram,
    /// One-hot vectors centered and normalized like the representation: 1 for the same class,
    /// −1/(C−1) otherwise (local-loss, Nøkland & Eidnes 2019).
    Centered,
}

/// The similarity matrix of a representation (Nøkland & Eidnes 2019, local-loss's
/// `similarity_matrix`): a feature map with more than 3 channels and more than one pixel is
/// reduced to each channel's spatial standard deviation (unbiased; +1e-8 inside the square root
/// keeps the gradient finite at 0), any other representation is flattened; then each sample's
/// vector is centered over its features, L2-normalized, and S = clamp(Ẑ Ẑᵀ, −1, 1).
pub fn similarity_matrix(r: Repr) -> Tensor<2> {
    let v = match r {
        Repr::Map(m) => {
            let [n, c, h, w] = m.dims();
            if c > 3 && h * w > 1 {
                m.reshape([n, c, h * w])
                    .var(2)
                    .add_scalar(1e-8)
                    .sqrt()
                    .reshape([n, c])
            } else {
                m.flatten::<2>(1, 3)
            }
        }
        other => other.flatten(),
    };
    let centered = v.clone() - v.mean_dim(1);
    let z = l2_normalize(centered);
    z.clone().matmul(z.transpose()).clamp(-1.0, 1.0)
}

/// The target similarity of a batch's labels for `classes` classes.
pub fn label_similarity(labels: Tensor<1, Int>, classes: usize, target: SimTarget) -> Tensor<2> {
    let same = same_label(labels);
    match target {
        SimTarget::OnehotGram => same,
        SimTarget::Centered => {
            // ⟨ŷᵢ, ŷⱼ⟩ of centered, normalized one-hot vectors: 1 on the same class, −1/(C−1)
            // otherwise.
            let off = -1.0 / (classes as f64 - 1.0);
            same.mul_scalar(1.0 - off).add_scalar(off)
        }
    }
}

/// Similarity matching (appendix B.2 "Sim"; Nøkland & Eidnes 2019): the mean squared error
/// between the representation's similarity matrix and the label target, (1/n²) Σᵢⱼ (Sᵢⱼ − Tᵢⱼ)².
pub fn similarity_matching(r: Repr, target: Tensor<2>) -> Tensor<1> {
    (similarity_matrix(r) - target)
        .powi_scalar(2)
        .mean()
        .reshape([1])
}

/// Targets of signal propagation (appendix B.2 "SP"; Kohan et al. 2023, the authors' later
/// code): from the signal entering a stage, flattened `[n, dim]`, T = s·sᵀ/√dim; `Hard(k)`: each
/// row's k largest entries set to 1 and the rest to 0 (ties broken by the lower index, so every
/// row has exactly k ones); `Soft`: the row softmax of T. Computed without gradients.
pub fn sp_targets(signal: Tensor<2>, kind: SpTarget) -> Tensor<2> {
    let [n, dim] = signal.dims();
    let s = signal.detach();
    let t = s
        .clone()
        .matmul(s.transpose())
        .div_scalar((dim as f64).sqrt());
    match kind {
        SpTarget::Soft => softmax(t, 1),
        SpTarget::Hard(k) => {
            let device = t.device();
            let v: Vec<f32> = t.try_into_vec_as::<f32>().expect("float tensor");
            let k = k.min(n);
            let mut out = vec![0f32; n * n];
            for i in 0..n {
                let row = &v[i * n..(i + 1) * n];
                let mut idx: Vec<usize> = (0..n).collect();
                idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
                for &j in &idx[..k] {
                    out[i * n + j] = 1.0;
                }
            }
            Tensor::from_data(TensorData::new(out, [n, n]), &device)
        }
    }
}

/// The kind of signal-propagation target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpTarget {
    /// Top-k ones per row.
    Hard(usize),
    /// Row softmax.
    Soft,
}

/// The signal-propagation loss: with the stage's outputs for the data `fx` and for the label
/// signal `fs` (both `[n, dim]`), O = fx·fsᵀ/√dim and L = (1/n) Σᵢ −Σⱼ Tᵢⱼ log softmax(Oᵢ)ⱼ.
pub fn sp_loss(fx: Tensor<2>, fs: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    let [n, dim] = fx.dims();
    let o = fx.matmul(fs.transpose()).div_scalar((dim as f64).sqrt());
    (target * log_softmax(o, 1))
        .sum()
        .div_scalar(-(n as f64))
        .reshape([1])
}

/// The forward-forward layer loss (Hinton 2022; the authors' code): with goodness g = mean of
/// squared activations, softplus(θ − g⁺) + softplus(g⁻ − θ), averaged over the batch.
pub fn forward_forward(positive: Tensor<2>, negative: Tensor<2>, threshold: f64) -> Tensor<1> {
    let gp = positive.powi_scalar(2).mean_dim(1);
    let gn = negative.powi_scalar(2).mean_dim(1);
    let lp = softplus(gp.neg().add_scalar(threshold), 1.0);
    let ln = softplus(gn.sub_scalar(threshold), 1.0);
    (lp + ln).mean().reshape([1])
}

/// The RBF Gram matrix with the dimension-scaled width, exp(−‖a−b‖²/(2σ²d)), of the rows of
/// `z` `[n, d]` — on `z`'s device and autodiff graph. The diagonal is exactly 1.
pub fn rbf_gram(z: Tensor<2>, sigma: f64) -> Tensor<2> {
    let [n, d] = z.dims();
    let g = z.clone().matmul(z.clone().transpose());
    let sq = z.powi_scalar(2).sum_dim(1);
    let d2 = (sq.clone() + sq.transpose() - g.mul_scalar(2.0)).clamp_min(0.0);
    let off = Tensor::<2>::ones([n, n], &d2.device()) - Tensor::<2>::eye(n, &d2.device());
    // exp(0) on the diagonal whatever rounding left in d2 there.
    (d2 * off)
        .mul_scalar(-1.0 / (2.0 * sigma * sigma * d as f64))
        .exp()
}

/// The nHSIC augmenting term (section 4.4, eq. 11): nHSIC(Z; R) of a representation `z`
/// `[n, d]` (on the autodiff graph) against a fixed reference whose regularized R is
/// `reference`, with `z`'s kernel the dimension-scaled RBF of width `sigma`.
///
/// Returns (surrogate, value). The value is nHSIC computed in f64 (equal to
/// [`infoplane_hsic::nhsic`] up to the f32 Gram matrix). The surrogate is Σᵢⱼ Gᵢⱼ Kᵢⱼ with
/// K = `rbf_gram(z)` on the graph and G = ∂nHSIC/∂K a constant computed in f64
/// ([`infoplane_hsic::nhsic_gradient`]): its gradient with respect to `z` is exactly
/// ∂nHSIC/∂z, so `loss − λ·surrogate` trains with −λ·nHSIC (burn has no differentiable solve).
pub fn nhsic_term(
    z: Tensor<2>,
    reference: &Regularized,
    sigma: f64,
    eps: f64,
) -> Result<(Tensor<1>, f64), HsicError> {
    let n = z.dims()[0];
    let device = z.device();
    let k = rbf_gram(z, sigma);
    let host: Vec<f32> = k
        .clone()
        .detach()
        .try_into_vec_as::<f32>()
        .expect("float tensor");
    let km = Mat::from_fn(n, n, |i, j| host[i * n + j] as f64);
    let (value, g) = infoplane_hsic::nhsic_gradient(&km, reference, eps)?;
    let gv: Vec<f32> = (0..n * n).map(|ij| g[(ij / n, ij % n)] as f32).collect();
    let g = Tensor::<2>::from_data(TensorData::new(gv, [n, n]), &device);
    Ok(((k * g).sum().reshape([1]), value))
}

/// A constant `[n, d]` tensor from host rows (for references of the nHSIC term).
pub fn host_matrix(values: Vec<f32>, n: usize, d: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, [n, d]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device::flex()
    }

    fn t2(v: &[f64], shape: [usize; 2]) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(v.iter().map(|&x| x as f32).collect::<Vec<_>>(), shape),
            &device(),
        )
    }

    fn labels(v: &[i64]) -> Tensor<1, Int> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &device())
    }

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }

    /// The supervised contrastive loss written out in f64 from its formula.
    fn supcon_f64(z: &[[f64; 2]], y: &[usize], tau: f64, base: f64) -> f64 {
        let n = z.len();
        let unit: Vec<[f64; 2]> = z
            .iter()
            .map(|v| {
                let r = (v[0] * v[0] + v[1] * v[1]).sqrt();
                [v[0] / r, v[1] / r]
            })
            .collect();
        let s = |i: usize, j: usize| (unit[i][0] * unit[j][0] + unit[i][1] * unit[j][1]) / tau;
        let mut total = 0.0;
        for i in 0..n {
            let denom: f64 = (0..n).filter(|&a| a != i).map(|a| s(i, a).exp()).sum();
            let pos: Vec<usize> = (0..n).filter(|&p| p != i && y[p] == y[i]).collect();
            let mean: f64 =
                pos.iter().map(|&p| s(i, p) - denom.ln()).sum::<f64>() / pos.len().max(1) as f64;
            total += -(tau / base) * mean;
        }
        total / n as f64
    }

    const Z: [[f64; 2]; 4] = [[1.0, 0.2], [0.9, -0.1], [-0.3, 1.0], [0.5, 0.5]];

    #[test]
    fn supcon_equals_its_formula_on_four_samples() {
        let flat: Vec<f64> = Z.iter().flatten().copied().collect();
        let got = scalar(supcon(t2(&flat, [4, 2]), labels(&[0, 0, 1, 1]), 0.1, 0.07));
        let want = supcon_f64(&Z, &[0, 0, 1, 1], 0.1, 0.07);
        assert!((got - want).abs() < 1e-4 * want.abs(), "{got} vs {want}");
    }

    #[test]
    fn nt_xent_pairs_each_view_with_the_other_view_of_its_sample() {
        // Rows 0, 1 are first views of samples 0, 1; rows 2, 3 their second views: the
        // positives are (0, 2) and (1, 3), whatever the labels.
        let flat: Vec<f64> = Z.iter().flatten().copied().collect();
        let got = scalar(nt_xent(t2(&flat, [4, 2]), 0.5, 0.5));
        let want = supcon_f64(&Z, &[0, 1, 0, 1], 0.5, 0.5);
        assert!((got - want).abs() < 1e-4 * want.abs(), "{got} vs {want}");
    }

    #[test]
    fn similarity_matching_is_zero_when_the_similarities_equal_the_target() {
        // Class 0 → (1, −1, 0, 0), class 1 → (0, 0, 1, −1): centered already, orthogonal, so the
        // cosine similarity is exactly the one-hot Gram matrix.
        let rows = [
            [1.0, -1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, -1.0],
            [1.0, -1.0, 0.0, 0.0],
        ];
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let y = labels(&[0, 1, 0]);
        let target = label_similarity(y.clone(), 2, SimTarget::OnehotGram);
        let l = scalar(similarity_matching(Repr::Flat(t2(&flat, [3, 4])), target));
        assert!(l.abs() < 1e-10, "{l}");
        // One-hot rows match the centered target (−1/(C−1) off the class) exactly.
        let onehot = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0];
        let target = label_similarity(y, 3, SimTarget::Centered);
        let l = scalar(similarity_matching(Repr::Flat(t2(&onehot, [3, 3])), target));
        assert!(l.abs() < 1e-10, "{l}");
        // And a representation that ignores the labels does not.
        let target = label_similarity(labels(&[0, 1, 0]), 2, SimTarget::OnehotGram);
        let l = scalar(similarity_matching(
            Repr::Flat(t2(
                &[1.0, 2.0, 3.0, 0.0, 1.0, -1.0, 2.0, 2.0, 0.5, 1.0, 0.0, 3.0],
                [3, 4],
            )),
            target,
        ));
        assert!(l > 0.01);
    }

    #[test]
    fn sp_targets_have_k_ones_or_unit_rows() {
        // Eight signals of two classes: rows tie within a class.
        let mut v = Vec::new();
        for i in 0..8 {
            v.extend(if i % 2 == 0 {
                [1.0, 0.0, 0.5]
            } else {
                [0.0, 1.0, 0.5]
            });
        }
        let s = t2(&v, [8, 3]);
        let hard: Vec<f32> = sp_targets(s.clone(), SpTarget::Hard(6))
            .try_into_vec_as::<f32>()
            .unwrap();
        for row in hard.chunks(8) {
            assert_eq!(row.iter().filter(|&&x| x == 1.0).count(), 6);
            assert_eq!(row.iter().filter(|&&x| x == 0.0).count(), 2);
        }
        let soft: Vec<f32> = sp_targets(s, SpTarget::Soft)
            .try_into_vec_as::<f32>()
            .unwrap();
        for row in soft.chunks(8) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn sp_loss_and_forward_forward_by_hand() {
        // O = fx·fsᵀ/√2 = [[1/√2, 0], [0, 1/√2]]; with T = I the loss is
        // −log softmax(1/√2, 0)[0] = log(1 + e^(−1/√2)).
        let fx = t2(&[1.0, 0.0, 0.0, 1.0], [2, 2]);
        let eye = t2(&[1.0, 0.0, 0.0, 1.0], [2, 2]);
        let got = scalar(sp_loss(fx.clone(), fx, eye));
        let want = (1.0 + (-1.0 / 2f64.sqrt()).exp()).ln();
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        // Goodness 4 (positive) and 0 (negative) around θ = 2: 2·softplus(−2).
        let pos = t2(&[2.0, 2.0], [1, 2]);
        let neg = t2(&[0.0, 0.0], [1, 2]);
        let got = scalar(forward_forward(pos, neg, 2.0));
        let want = 2.0 * (1.0 + (-2f64).exp()).ln();
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}
