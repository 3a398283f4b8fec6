//! nHSIC cost: the Gram matrix on the backend (f32, flex), the f64 linear algebra (Cholesky of
//! K̃+εnI and one triangular solve against the cached factor of the other variable), and
//! one full nHSIC against a cached R (what the information-plane recorder pays per stage and
//! batch). `cargo bench -p infoplane-hsic --bench nhsic`; compare with
//! `scripts/nhsic_numpy.py` run in the same session (BENCHMARKS.md).

use burn::tensor::{Device, Distribution, Tensor};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use infoplane_hsic::{Kernel, Regularized, center};

fn bench(c: &mut Criterion) {
    let device = Device::flex();
    let k = Kernel::default_x();
    let mut g = c.benchmark_group("nhsic");
    g.sample_size(10);
    for &n in &[128usize, 256, 512, 1024] {
        for &d in &[784usize, 4096] {
            let x = Tensor::<2>::random([n, d], Distribution::Normal(0.0, 1.0), &device);
            g.bench_with_input(
                BenchmarkId::new(format!("gram_backend_d{d}"), n),
                &n,
                |b, _| b.iter(|| k.gram_tensor(x.clone())),
            );
            let y = Tensor::<2>::random([n, d], Distribution::Normal(0.0, 1.0), &device);
            let ry = Regularized::from_centered_eigen(&center(&k.gram_tensor(y)), 1e-5).unwrap();
            g.bench_with_input(
                BenchmarkId::new(format!("full_nhsic_d{d}"), n),
                &n,
                |b, _| {
                    b.iter(|| {
                        Regularized::from_centered_owned(k.centered_gram_tensor(x.clone()), 1e-5)
                            .unwrap()
                            .nhsic(&ry)
                    })
                },
            );
        }
        let x = Tensor::<2>::random([n, 784], Distribution::Normal(0.0, 1.0), &device);
        let y = Tensor::<2>::random([n, 784], Distribution::Normal(0.0, 1.0), &device);
        let ry = Regularized::from_centered_eigen(&center(&k.gram_tensor(y)), 1e-5).unwrap();
        let kc = center(&k.gram_tensor(x));
        g.bench_with_input(BenchmarkId::new("solve_f64", n), &n, |b, _| {
            b.iter(|| Regularized::from_centered(&kc, 1e-5).unwrap().nhsic(&ry))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
