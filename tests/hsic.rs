//! HSIC and nHSIC: properties with known answers.

use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use infoplane::data::Rng;
use infoplane::hsic::estimators::{Regularized, nhsic_from_centered, trace_product};
use infoplane::hsic::{
    Kernel, KernelKind, Samples, center, center_right, cka, hsic_biased, hsic_unbiased, nhsic,
    statistics,
};

const EPS: f64 = 1e-5;

fn gaussian(n: usize, d: usize, seed: u64) -> Samples {
    let mut r = Rng::new(seed);
    Samples::new(n, d, (0..n * d).map(|_| r.normal()).collect())
}

fn rbf() -> Kernel {
    Kernel {
        kind: KernelKind::Rbf,
        sigma: 2.0,
    }
}

#[test]
fn nhsic_of_x_with_itself_is_the_eigenvalue_sum() {
    let x = gaussian(40, 5, 1);
    let kc = center(&rbf().gram(&x));
    let lambda = kc.self_adjoint_eigenvalues(Side::Lower).unwrap();
    let shift = EPS * 40.0;
    let expected: f64 = lambda
        .iter()
        .map(|&l| {
            let l = l.max(0.0);
            (l / (l + shift)).powi(2)
        })
        .sum();
    let got = nhsic(&x, &x, &rbf(), &rbf(), EPS).unwrap();
    assert!(
        (got - expected).abs() < 1e-9 * expected,
        "{got} vs {expected}"
    );
    // The eigendecomposition path gives the same R.
    let a = Regularized::from_centered(&kc, EPS).unwrap();
    let b = Regularized::from_centered_eigen(&kc, EPS).unwrap();
    assert!((a.nhsic(&a) - b.nhsic(&b)).abs() < 1e-8 * expected);
}

#[test]
fn symmetric_bounded_by_classes_and_permutation_invariant() {
    let n = 60;
    let x = gaussian(n, 8, 2);
    let labels: Vec<usize> = (0..n).map(|i| i % 4).collect();
    let y = Samples::one_hot(&labels, 4);
    let lin = Kernel::default_y();
    let kx = Kernel::default_x();
    let a = nhsic(&x, &y, &kx, &lin, EPS).unwrap();
    let b = nhsic(&y, &x, &lin, &kx, EPS).unwrap();
    assert!((a - b).abs() < 1e-10, "{a} vs {b}");
    // Against one-hot labels of C classes nHSIC is at most C − 1 (the rank of the centered labels).
    let yy = nhsic(&y, &y, &lin, &lin, EPS).unwrap();
    assert!(yy <= 3.0 + 1e-9 && yy > 2.9, "{yy}");
    assert!(a <= 3.0 + 1e-9);
    // The factored label path equals the dense one.
    let dense = nhsic_from_centered(&center(&kx.gram(&x)), &center(&lin.gram(&y)), EPS).unwrap();
    assert!((a - dense).abs() < 1e-8, "{a} vs {dense}");
    // A joint permutation of the samples changes nothing.
    let perm = Rng::new(3).permutation(n);
    let px = Samples::new(
        n,
        8,
        perm.iter()
            .flat_map(|&i| x.values[i * 8..(i + 1) * 8].to_vec())
            .collect(),
    );
    let pl: Vec<usize> = perm.iter().map(|&i| labels[i]).collect();
    let c = nhsic(&px, &Samples::one_hot(&pl, 4), &kx, &lin, EPS).unwrap();
    assert!((a - c).abs() < 1e-9, "{a} vs {c}");
}

#[test]
fn right_only_centering_gives_the_same_values() {
    let x = gaussian(30, 4, 4);
    let y = gaussian(30, 3, 5);
    let (k, l) = (rbf().gram(&x), rbf().gram(&y));
    let (kc, lc) = (center(&k), center(&l));
    let (kr, lr) = (center_right(&k), center_right(&l));
    let n1 = 29.0 * 29.0;
    assert!((hsic_biased(&kc, &lc) - trace_product(&kr, &lr) / n1).abs() < 1e-14);
    // nHSIC with R' = KH (KH + εnI)⁻¹ (a general solve: KH is not symmetric).
    let r = |a: &Mat<f64>| {
        let n = a.nrows();
        let shifted = Mat::from_fn(n, n, |i, j| {
            a[(i, j)] + if i == j { EPS * n as f64 } else { 0.0 }
        });
        shifted.partial_piv_lu().solve(a)
    };
    let right = trace_product(&r(&kr), &r(&lr));
    let both = nhsic_from_centered(&kc, &lc, EPS).unwrap();
    assert!(
        (right - both).abs() < 1e-7 * both.abs().max(1.0),
        "{right} vs {both}"
    );
}

#[test]
fn dependent_pairs_score_above_independent_pairs() {
    let x = gaussian(128, 3, 6);
    let mut r = Rng::new(7);
    let dep = Samples::new(
        128,
        3,
        x.values.iter().map(|v| v * v + 0.1 * r.normal()).collect(),
    );
    let ind = gaussian(128, 3, 8);
    for k in [
        rbf(),
        Kernel::default_x(),
        Kernel {
            kind: KernelKind::Median,
            sigma: 1.0,
        },
    ] {
        let d = statistics(&x, &dep, &k, &k, EPS).unwrap();
        let i = statistics(&x, &ind, &k, &k, EPS).unwrap();
        assert!(
            d.nhsic > i.nhsic
                && d.hsic > i.hsic
                && d.cka > i.cka
                && d.hsic_unbiased > i.hsic_unbiased,
            "{k}: {d:?} vs {i:?}"
        );
    }
}

#[test]
fn biased_hsic_worked_by_hand_and_cka_of_identical_inputs() {
    // Linear kernels, x = (1, 2, 3, 4), y = 2x: centered x = (−1.5, −0.5, 0.5, 1.5), Σx̃² = 5,
    // tr(K̃L̃) = (x̃ᵀỹ)² = (2·5)² = 100, HSIC = 100 / (n − 1)² = 100/9.
    let x = Samples::new(4, 1, vec![1.0, 2.0, 3.0, 4.0]);
    let y = Samples::new(4, 1, vec![2.0, 4.0, 6.0, 8.0]);
    let lin = Kernel::default_y();
    let s = statistics(&x, &y, &lin, &lin, EPS).unwrap();
    assert!((s.hsic - 100.0 / 9.0).abs() < 1e-12, "{}", s.hsic);
    assert!((s.cka - 1.0).abs() < 1e-12);
    let z = gaussian(50, 6, 9);
    let kz = center(&Kernel::default_x().gram(&z));
    assert!((cka(&kz, &kz) - 1.0).abs() < 1e-12);
}

#[test]
fn unbiased_hsic_equals_the_u_statistic() {
    let n = 7;
    let x = gaussian(n, 2, 10);
    let y = gaussian(n, 2, 11);
    let (k, l) = (rbf().gram(&x), rbf().gram(&y));
    // Mean over ordered distinct 4-tuples of k_ij l_ij + k_ij l_qr − 2 k_ij l_iq.
    let (mut s, mut count) = (0.0, 0.0);
    for i in 0..n {
        for j in 0..n {
            for q in 0..n {
                for r in 0..n {
                    if i == j || i == q || i == r || j == q || j == r || q == r {
                        continue;
                    }
                    s +=
                        k[(i, j)] * l[(i, j)] + k[(i, j)] * l[(q, r)] - 2.0 * k[(i, j)] * l[(i, q)];
                    count += 1.0;
                }
            }
        }
    }
    let got = hsic_unbiased(&k, &l);
    assert!((got - s / count).abs() < 1e-12, "{got} vs {}", s / count);
}

#[test]
fn f32_gram_on_the_backend_agrees_with_the_f64_path() {
    let device = burn::tensor::Device::flex();
    let data = infoplane::data::load(
        infoplane::data::DatasetName::Mnist10k,
        &infoplane::data::Locator::standard(None),
    )
    .unwrap();
    let split = data.test.subset(256, 0);
    let mut v = Vec::new();
    split.pixels.to_f32(0..split.pixels.len(), &mut v);
    let x = Samples::from_f32(256, 784, &v);
    let k = Kernel::default_x();
    let t =
        burn::tensor::Tensor::<2>::from_data(burn::tensor::TensorData::new(v, [256, 784]), &device);
    let labels: Vec<usize> = split.labels.iter().map(|&l| l as usize).collect();
    let y = Samples::one_hot(&labels, 10);
    let ry = Regularized::new(&Kernel::default_y(), &y, EPS).unwrap();
    let exact_r = Regularized::from_centered(&center(&k.gram(&x)), EPS).unwrap();
    // The fused download-and-center equals centering afterwards.
    let fused = k.centered_gram_tensor(t.clone());
    let twice = center(&k.gram_tensor(t.clone()));
    let diff = (0..256)
        .flat_map(|j| (0..256).map(move |i| (i, j)))
        .map(|(i, j)| (fused[(i, j)] - twice[(i, j)]).abs())
        .fold(0.0, f64::max);
    assert!(diff < 1e-12, "{diff}");
    let f32_r = Regularized::from_centered_owned(fused, EPS).unwrap();
    let (a, b) = (exact_r.nhsic(&ry), f32_r.nhsic(&ry));
    let rel = (a - b).abs() / a;
    eprintln!(
        "nHSIC(Y;X) on 256 mnist-10k digits: f64 {a:.12}, f32 Gram {b:.12}, relative difference {rel:.2e}"
    );
    assert!(rel < 1e-4, "{rel}");
    let (c, d) = (exact_r.nhsic(&exact_r), f32_r.nhsic(&exact_r));
    assert!((c - d).abs() / c < 1e-3, "{c} vs {d}");
}

#[test]
fn bad_inputs_are_errors() {
    let x = gaussian(10, 2, 1);
    let k = Kernel::default_x();
    assert!(nhsic(&x, &gaussian(9, 2, 1), &k, &k, EPS).is_err());
    assert!(nhsic(&gaussian(3, 2, 1), &gaussian(3, 2, 1), &k, &k, EPS).is_err());
    let mut bad = x.clone();
    bad.values[5] = f64::NAN;
    let e = nhsic(&bad, &x, &k, &k, EPS).unwrap_err().to_string();
    assert!(e.contains("sample 2") && e.contains("NaN"), "{e}");
    assert!(
        nhsic(
            &x,
            &x,
            &Kernel {
                kind: KernelKind::Rbf,
                sigma: -1.0
            },
            &k,
            EPS
        )
        .is_err()
    );
    assert!(nhsic(&x, &x, &k, &k, 0.0).is_err());
}

#[test]
fn an_indefinite_gram_falls_back_to_the_eigendecomposition() {
    // −I is far from positive semi-definite: the in-place Cholesky refuses it, the borrowing
    // constructor falls back to the eigendecomposition, which clamps λ < 0 to 0 (R = 0).
    let n = 8;
    let neg = Mat::from_fn(n, n, |i, j| if i == j { -1.0 } else { 0.0 });
    assert!(Regularized::from_centered_owned(neg.clone(), EPS).is_err());
    let r = Regularized::from_centered(&neg, EPS).unwrap();
    let x = gaussian(n, 2, 3);
    let rx = Regularized::new(&rbf(), &x, EPS).unwrap();
    assert_eq!(r.nhsic(&rx), 0.0);
}

#[test]
fn the_recorder_mean_equals_nhsic_per_batch_by_hand() {
    use infoplane::hsic::{InfoPlaneRecorder, PlaneSettings};
    let (n, bs) = (64, 16);
    let x = gaussian(n, 6, 7);
    let t = gaussian(n, 5, 8);
    let labels: Vec<usize> = (0..n).map(|i| (i * 7) % 4).collect();
    let y = Samples::one_hot(&labels, 4);
    let settings = PlaneSettings {
        batch: bs,
        ..Default::default()
    };
    let mut rec = InfoPlaneRecorder::new(&x, &labels, 4, settings, None).unwrap();
    let tensor = burn::tensor::Tensor::<2>::from_data(
        burn::tensor::TensorData::new(
            t.values.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            [n, 5],
        ),
        &burn::tensor::Device::flex(),
    );
    let p = rec
        .record(0, 0.0, vec![("t".into(), tensor)])
        .unwrap()
        .remove(0);
    let (kx, ky) = (Kernel::default_x(), Kernel::default_y());
    let per_batch = |other: &Samples, k: &Kernel| -> Vec<f64> {
        (0..n / bs)
            .map(|b| {
                let rows = b * bs..(b + 1) * bs;
                nhsic(&other.rows(rows.clone()), &t.rows(rows), k, &kx, EPS).unwrap()
            })
            .collect()
    };
    for (vals, mean, std) in [
        (per_batch(&x, &kx), p.nhsic_x, p.nhsic_x_std),
        (per_batch(&y, &ky), p.nhsic_y, p.nhsic_y_std),
    ] {
        let m = vals.iter().sum::<f64>() / vals.len() as f64;
        let s = (vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / vals.len() as f64).sqrt();
        assert!((mean - m).abs() < 1e-4 * m, "{mean} vs {m}");
        assert!((std - s).abs() < 1e-3 * m, "{std} vs {s}");
    }
    assert_eq!(p.batches, 4);
}

/// The gradient of nHSIC with respect to a representation z, through the dimension-scaled RBF
/// kernel: ∂/∂zᵢ = Σⱼ (Gᵢⱼ + Gⱼᵢ) Kᵢⱼ (−(zᵢ − zⱼ)/(σ²d)), G = ∂nHSIC/∂K.
fn grad_through_kernel(z: &Samples, sigma: f64, g: &Mat<f64>, k: &Mat<f64>) -> Vec<f64> {
    let (n, d) = (z.n, z.d);
    let mut out = vec![0.0; n * d];
    for i in 0..n {
        for j in 0..n {
            let w = (g[(i, j)] + g[(j, i)]) * k[(i, j)] / (sigma * sigma * d as f64);
            for c in 0..d {
                out[i * d + c] -= w * (z.values[i * d + c] - z.values[j * d + c]);
            }
        }
    }
    out
}

#[test]
fn the_nhsic_gradient_matches_central_finite_differences() {
    use infoplane::hsic::nhsic_gradient;
    let (n, d, sigma) = (10, 3, 0.7);
    let kz = Kernel {
        kind: KernelKind::RbfDimscaled,
        sigma,
    };
    let z = gaussian(n, d, 11);
    let r = gaussian(n, 4, 12);
    let reference = Regularized::new(&Kernel::default_x(), &r, EPS).unwrap();
    let value = |z: &Samples| nhsic_gradient(&kz.gram(z), &reference, EPS).unwrap().0;
    // The value is nHSIC itself.
    let (v, g) = nhsic_gradient(&kz.gram(&z), &reference, EPS).unwrap();
    let direct = nhsic(&z, &r, &kz, &Kernel::default_x(), EPS).unwrap();
    assert!(
        (v - direct).abs() < 1e-9 * direct.abs().max(1.0),
        "{v} vs {direct}"
    );
    let analytic = grad_through_kernel(&z, sigma, &g, &kz.gram(&z));
    let h = 1e-5;
    let mut worst: f64 = 0.0;
    let scale = analytic.iter().map(|a| a.abs()).fold(0.0, f64::max);
    for (idx, a) in analytic.iter().enumerate() {
        let mut zp = z.clone();
        zp.values[idx] += h;
        let mut zm = z.clone();
        zm.values[idx] -= h;
        let fd = (value(&zp) - value(&zm)) / (2.0 * h);
        worst = worst.max((fd - a).abs() / scale);
    }
    assert!(worst < 1e-4, "relative error {worst}");
}
