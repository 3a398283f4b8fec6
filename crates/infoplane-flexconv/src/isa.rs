//! The matrix products of the convolution kernels, with an optional cap on the vector
//! instructions they use.
//!
//! faer picks the AVX-512 kernels of its x86 product at run time whenever the CPU has them, and
//! no build option turns that off. To measure on an AVX-512 machine what an AVX2-only CPU would
//! run, `INFOPLANE_ISA=avx2` in the environment sends the products that faer would give to
//! those kernels to the same kernels' AVX2 variant instead (the one faer itself chooses on an
//! AVX2 CPU); the small products and the matrix-vector cases stay with faer, whose kernels for
//! them go no further than AVX2 unless the build has the `x86-v4` feature. Together with a
//! build without `x86-v4` (burn-flex's own products then use gemm's AVX2 kernels) this is the
//! AVX2 emulation BENCHMARKS.md describes. Any other value, or no value, changes nothing.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// faer's own threshold below which it uses its small-product kernels (m·n·k).
const SMALL_PRODUCT: usize = 16 * 16 * 16;

/// True when `INFOPLANE_ISA=avx2` caps the products at AVX2 on a CPU that has AVX2 and FMA
/// (read once).
pub fn avx2_cap() -> bool {
    static CAP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CAP.get_or_init(|| {
        let asked = std::env::var("INFOPLANE_ISA").is_ok_and(|v| v.eq_ignore_ascii_case("avx2"));
        #[cfg(target_arch = "x86_64")]
        {
            asked
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = asked;
            false
        }
    })
}

/// `dst = lhs·rhs` (`Accum::Replace`) or `dst += lhs·rhs` (`Accum::Add`), single-threaded.
pub fn product(dst: MatMut<'_, f32>, accum: Accum, lhs: MatRef<'_, f32>, rhs: MatRef<'_, f32>) {
    #[cfg(target_arch = "x86_64")]
    {
        let (m, n, k) = (dst.nrows(), dst.ncols(), lhs.ncols());
        if avx2_cap() && m > 1 && n > 1 && k > 1 && m * n * k > SMALL_PRODUCT {
            avx2_product(dst, accum, lhs, rhs);
            clear_upper_state();
            return;
        }
    }
    matmul(dst, accum, lhs, rhs, 1.0, Par::Seq);
    clear_upper_state();
}

/// Clears the upper halves of the vector registers (`vzeroupper`) on an x86 CPU with AVX;
/// elsewhere it does nothing.
///
/// faer's f32 and f64 products run hand-written kernels that return with the registers' upper
/// halves in use. Until something clears them, every instruction of the older SSE encoding —
/// what Rust emits for plain float and copy loops in a build without `target-cpu` — carries a
/// dependency on them, on this thread. Measured here (Xeon with AVX-512, ResNet18 layer 3
/// shapes, batch 128): the im2col of a forward pass took 320 ms after one product against
/// 26 ms before it or with the registers cleared. [`product`] calls this after every product,
/// and every parallel task of this crate's kernels calls it first, since other code on the same
/// threads (faer's f64 products in the HSIC estimators and probes, for one) can leave the
/// registers in that state.
pub fn clear_upper_state() {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx")]
        fn vzeroupper() {
            std::arch::x86_64::_mm256_zeroupper();
        }
        if std::arch::is_x86_feature_detected!("avx") {
            #[allow(unsafe_code)]
            // SAFETY: the CPU has AVX (checked just above), all `vzeroupper` needs.
            unsafe {
                vzeroupper()
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2_product(dst: MatMut<'_, f32>, accum: Accum, lhs: MatRef<'_, f32>, rhs: MatRef<'_, f32>) {
    use private_gemm_x86::{DType, DstKind, IType, InstrSet};
    let (m, n, k) = (dst.nrows(), dst.ncols(), lhs.ncols());
    assert!(lhs.nrows() == m && rhs.nrows() == k && rhs.ncols() == n);
    let alpha = 1.0f32;
    let beta = match accum {
        Accum::Replace => private_gemm_x86::Accum::Replace,
        Accum::Add => private_gemm_x86::Accum::Add,
    };
    #[allow(unsafe_code)]
    // SAFETY: the three views are valid for their shapes and strides (faer checked them when
    // they were made), `dst` is borrowed mutably and does not alias `lhs` or `rhs`, the CPU has
    // AVX2 and FMA (`avx2_cap`), and the arguments are those faer passes to the same function
    // for an f32 product (no index arrays, no diagonal, full destination, one thread).
    unsafe {
        private_gemm_x86::gemm(
            DType::F32,
            IType::U64,
            InstrSet::Avx256,
            m,
            n,
            k,
            dst.as_ptr_mut() as *mut (),
            dst.row_stride(),
            dst.col_stride(),
            core::ptr::null(),
            core::ptr::null(),
            DstKind::Full,
            beta,
            lhs.as_ptr() as *const (),
            lhs.row_stride(),
            lhs.col_stride(),
            false,
            core::ptr::null(),
            0,
            rhs.as_ptr() as *const (),
            rhs.row_stride(),
            rhs.col_stride(),
            false,
            &raw const alpha as *const (),
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(rows: usize, cols: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        (0..rows * cols)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// The AVX2 path gives the product (against a plain triple loop in f64), replacing and
    /// adding, on row-major and transposed views — the shapes the kernels use.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_avx2_product_is_the_product() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            return;
        }
        for &(m, n, k) in &[(6, 784, 25), (16, 1024, 144), (37, 19, 23), (144, 1024, 16)] {
            let a = filled(m, k, 1);
            let b = filled(k, n, 2);
            let c0 = filled(m, n, 3);
            let want = |add: bool, i: usize, j: usize| {
                let s: f64 = (0..k)
                    .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                    .sum();
                s + if add { c0[i * n + j] as f64 } else { 0.0 }
            };
            for add in [false, true] {
                let mut c = c0.clone();
                avx2_product(
                    MatMut::from_row_major_slice_mut(&mut c, m, n),
                    if add { Accum::Add } else { Accum::Replace },
                    MatRef::from_row_major_slice(&a, m, k),
                    MatRef::from_row_major_slice(&b, k, n),
                );
                for i in 0..m {
                    for j in 0..n {
                        let w = want(add, i, j);
                        assert!(
                            (c[i * n + j] as f64 - w).abs() < 1e-4 * (1.0 + w.abs()),
                            "{m}x{n}x{k} add={add} at ({i},{j}): {} vs {w}",
                            c[i * n + j]
                        );
                    }
                }
            }
            // A transposed left operand (the input-gradient product Wᵀ·dy).
            let at = filled(k, m, 4);
            let mut c = vec![0f32; m * n];
            avx2_product(
                MatMut::from_row_major_slice_mut(&mut c, m, n),
                Accum::Replace,
                MatRef::from_row_major_slice(&at, k, m).transpose(),
                MatRef::from_row_major_slice(&b, k, n),
            );
            for i in 0..m {
                for j in 0..n {
                    let w: f64 = (0..k)
                        .map(|p| at[p * m + i] as f64 * b[p * n + j] as f64)
                        .sum();
                    assert!((c[i * n + j] as f64 - w).abs() < 1e-4 * (1.0 + w.abs()));
                }
            }
        }
    }
}
