#!/usr/bin/env python3
"""Same-session reference for the nHSIC benchmark: the identical computation in numpy float64.

nHSIC(X;Y) = tr(R_X R_Y), R = K~ (K~ + eps n I)^-1, K~ = H K H, with the rbf-dimscaled kernel
exp(-|a-b|^2 / (2 sigma^2 d)), sigma = 5, eps = 1e-5; R_Y cached, as infoplane's recorder does.
The solve uses numpy's LAPACK (Cholesky via scipy-free np.linalg.solve on the SPD matrix).

    pip install numpy
    python3 scripts/nhsic_numpy.py            # prints median milliseconds per n and d

Not needed by the tests. Compare with `cargo bench -p infoplane-hsic --bench nhsic` run in the
same session (BENCHMARKS.md).
"""
import statistics
import time

import numpy as np


def gram(x, sigma=5.0):
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    return np.exp(-d2 / (2.0 * sigma * sigma * x.shape[1]))


def center(k):
    return k - k.mean(0, keepdims=True) - k.mean(1, keepdims=True) + k.mean()


def regularized(kc, eps=1e-5):
    n = kc.shape[0]
    return np.linalg.solve(kc + eps * n * np.eye(n), kc)


def main():
    rng = np.random.default_rng(0)
    print("n     d     solve_f64_ms  full_nhsic_ms")
    for n in (128, 256, 512, 1024):
        for d in (784, 4096):
            x = rng.standard_normal((n, d))
            y = rng.standard_normal((n, d))
            ry = regularized(center(gram(y)))
            kc = center(gram(x))
            solve, full = [], []
            for _ in range(7):
                t = time.perf_counter()
                regularized(kc)
                solve.append((time.perf_counter() - t) * 1e3)
                t = time.perf_counter()
                float(np.sum(regularized(center(gram(x))) * ry.T))
                full.append((time.perf_counter() - t) * 1e3)
            print(f"{n:<5} {d:<5} {statistics.median(solve):12.2f}  {statistics.median(full):13.2f}")


if __name__ == "__main__":
    main()
