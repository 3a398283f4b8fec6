//! The vector types of the direct kernels: one AVX-512 register or two AVX2 ones.

use super::{LANES, Lanes};
use std::arch::x86_64::*;

/// One 512-bit register.
#[derive(Clone, Copy)]
pub struct Avx512(__m512);

// SAFETY (every block below): AVX-512F is enabled in the calling wrapper and present on
// the CPU (see `Lanes`); loads read a slice of LANES values checked just before.
impl Lanes for Avx512 {
    #[inline(always)]
    fn zero() -> Self {
        unsafe { Avx512(_mm512_setzero_ps()) }
    }
    #[inline(always)]
    fn load(v: &[f32], at: usize) -> Self {
        let s = &v[at..at + LANES];
        unsafe { Avx512(_mm512_loadu_ps(s.as_ptr())) }
    }
    #[inline(always)]
    unsafe fn load_within(v: &[f32], at: usize) -> Self {
        debug_assert!(at + LANES <= v.len());
        unsafe { Avx512(_mm512_loadu_ps(v.as_ptr().add(at))) }
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        unsafe { Avx512(_mm512_fmadd_ps(a.0, b.0, self.0)) }
    }
    #[inline(always)]
    fn add(self, a: Self) -> Self {
        unsafe { Avx512(_mm512_add_ps(self.0, a.0)) }
    }
    #[inline(always)]
    fn mul_add_scalar(self, s: f32, b: Self) -> Self {
        unsafe { Avx512(_mm512_fmadd_ps(_mm512_set1_ps(s), b.0, self.0)) }
    }
    #[inline(always)]
    fn store(self, v: &mut [f32], at: usize) {
        let s = &mut v[at..at + LANES];
        unsafe { _mm512_storeu_ps(s.as_mut_ptr(), self.0) };
    }
}

/// Two 256-bit registers.
#[derive(Clone, Copy)]
pub struct Avx2(__m256, __m256);

// SAFETY (every block below): AVX2 and FMA are enabled in the calling wrapper and present
// on the CPU (see `Lanes`); loads read a slice of LANES values checked just before.
impl Lanes for Avx2 {
    #[inline(always)]
    fn zero() -> Self {
        unsafe { Avx2(_mm256_setzero_ps(), _mm256_setzero_ps()) }
    }
    #[inline(always)]
    fn load(v: &[f32], at: usize) -> Self {
        let s = &v[at..at + LANES];
        unsafe {
            Avx2(
                _mm256_loadu_ps(s.as_ptr()),
                _mm256_loadu_ps(s.as_ptr().add(8)),
            )
        }
    }
    #[inline(always)]
    unsafe fn load_within(v: &[f32], at: usize) -> Self {
        debug_assert!(at + LANES <= v.len());
        let s = unsafe { v.as_ptr().add(at) };
        unsafe { Avx2(_mm256_loadu_ps(s), _mm256_loadu_ps(s.add(8))) }
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        unsafe {
            Avx2(
                _mm256_fmadd_ps(a.0, b.0, self.0),
                _mm256_fmadd_ps(a.1, b.1, self.1),
            )
        }
    }
    #[inline(always)]
    fn add(self, a: Self) -> Self {
        unsafe { Avx2(_mm256_add_ps(self.0, a.0), _mm256_add_ps(self.1, a.1)) }
    }
    #[inline(always)]
    fn mul_add_scalar(self, s: f32, b: Self) -> Self {
        unsafe {
            let s = _mm256_set1_ps(s);
            Avx2(
                _mm256_fmadd_ps(s, b.0, self.0),
                _mm256_fmadd_ps(s, b.1, self.1),
            )
        }
    }
    #[inline(always)]
    fn store(self, v: &mut [f32], at: usize) {
        let s = &mut v[at..at + LANES];
        unsafe {
            _mm256_storeu_ps(s.as_mut_ptr(), self.0);
            _mm256_storeu_ps(s.as_mut_ptr().add(8), self.1);
        }
    }
}
