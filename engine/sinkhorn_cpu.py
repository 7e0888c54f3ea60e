"""Fused CPU kernel for the faithful LaZSL Sinkhorn (numba), one (image, class) problem at a time.

Each problem is solved exactly as the published loop does it — its own stopping test, `break`
included — on its m×n block of Kᵀ (attributes × kept regions; small enough for L1, contiguous
along regions so both half-steps vectorise), accumulating in float64, images spread over cores.
Kᵀ = exp(-(1-Sᵀ)/eps) is computed beforehand by torch (vectorised exp). This is the CPU fast path
of `alignment.lazsl_scores`; without numba the batched torch solver is used (same results to
float rounding).
"""

from __future__ import annotations

import numpy as np

try:
    import numba
    from numba import njit, prange

    AVAILABLE = True
except ImportError:  # optional accelerator
    AVAILABLE = False


if AVAILABLE:

    @njit(parallel=True, cache=True, nogil=True, fastmath=True)
    def _kernel(KT, ST, reg_base, n_kept, n_rows, img_ptr, attr_base, prob_len, tol, max_iter,
                scores, n_iter, mass):  # pragma: no cover - compiled
        n_img = n_kept.shape[0]
        nmax = 1
        for i in range(n_img):
            nmax = max(nmax, n_kept[i])
        for i in prange(n_img):
            n = n_kept[i]
            n_all = max(n_rows[i], n)  # the published N: dropped regions count in the stopping mean
            r0 = reg_base[i]
            r = np.empty(nmax, dtype=np.float64)
            kc = np.empty(nmax, dtype=np.float64)
            c = np.empty(64, dtype=np.float64)
            for p in range(img_ptr[i], img_ptr[i + 1]):
                m = prob_len[p]
                s0 = attr_base[p]
                if n == 0 or m == 0:
                    scores[p] = np.nan
                    n_iter[p] = 0
                    mass[p] = 0.0
                    continue
                if m > c.shape[0]:
                    c = np.empty(m, dtype=np.float64)
                for ii in range(n):
                    r[ii] = 1.0
                for j in range(m):
                    c[j] = 1.0
                a = 1.0 / n
                b = 1.0 / m
                it = 0
                while it < max_iter:
                    it += 1
                    for ii in range(n):
                        kc[ii] = 0.0
                    for j in range(m):
                        cj = c[j]
                        row = KT[s0 + j, r0:r0 + n]
                        for ii in range(n):
                            kc[ii] += row[ii] * cj
                    delta = 0.0
                    for ii in range(n):
                        rn = a / kc[ii] if kc[ii] > 0.0 else 0.0
                        delta += abs(rn - r[ii])
                        r[ii] = rn
                    for j in range(m):
                        row = KT[s0 + j, r0:r0 + n]
                        acc = 0.0
                        for ii in range(n):
                            acc += row[ii] * r[ii]
                        c[j] = b / acc if acc > 0.0 else 0.0
                    if it == 1:
                        delta += n_all - n  # dropped rows went from r = 1 to r = a_i / (Kc)_i = 0
                    if delta / n_all < tol:
                        break
                tot = 0.0
                tmass = 0.0
                for j in range(m):
                    row = KT[s0 + j, r0:r0 + n]
                    srow = ST[s0 + j, r0:r0 + n]
                    acc = 0.0
                    accm = 0.0
                    for ii in range(n):
                        w = row[ii] * r[ii]
                        acc += w * srow[ii]
                        accm += w
                    tot += acc * c[j]
                    tmass += accm * c[j]
                scores[p] = tot
                mass[p] = tmass
                n_iter[p] = it


def solve_scores(KT: np.ndarray, ST: np.ndarray, reg_base: np.ndarray, n_kept: np.ndarray, img_ptr: np.ndarray,
                 attr_base: np.ndarray, prob_len: np.ndarray, tol: float, max_iter: int, return_mass: bool = False,
                 n_rows: np.ndarray | None = None):
    """Scores and iteration counts of problems grouped by image (CSR `img_ptr`).

    KT, ST [rows, cols] (attributes × regions): problem p of image i (img_ptr[i] <= p <
    img_ptr[i+1]) is the block KT[attr_base[p] : attr_base[p] + prob_len[p],
    reg_base[i] : reg_base[i] + n_kept[i]]. Problems without regions or attributes score NaN.
    Returns (sum T*ST, n_iter) per problem, plus the plan's total mass sum T with `return_mass`.
    `n_rows` [images]: how many regions the image had before the dropped ones were left out
    (default: n_kept). The published stopping test is mean |r - r_prev| over ALL regions, where a
    dropped region's r is 0 after the first iteration, so it counts in the denominator.
    """
    if not AVAILABLE:
        raise RuntimeError("numba is not installed")
    P = attr_base.shape[0]
    scores = np.empty(P, dtype=np.float64)
    n_iter = np.empty(P, dtype=np.int32)
    mass = np.empty(P, dtype=np.float64)
    i64 = np.int64
    rows = n_kept if n_rows is None else n_rows
    _kernel(np.ascontiguousarray(KT), np.ascontiguousarray(ST, dtype=KT.dtype), reg_base.astype(i64),
            n_kept.astype(i64), np.asarray(rows).astype(i64), img_ptr.astype(i64), attr_base.astype(i64), prob_len.astype(i64), float(tol),
            int(max_iter), scores, n_iter, mass)
    return (scores, n_iter, mass) if return_mass else (scores, n_iter)


def warmup() -> bool:
    """Compile (or load from numba's on-disk cache) the kernel now, e.g. on an app's idle thread,
    so the first re-score does not pay for it. Returns whether the kernel is available."""
    if not AVAILABLE:
        return False
    m = np.ones((1, 1), dtype=np.float32)
    zero, one = np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64)
    solve_scores(m, m, zero, one, np.array([0, 1]), zero, one, 1e-2, 5)
    return True


def threads() -> int:
    """Worker threads the kernel uses (numba's setting)."""
    return numba.get_num_threads() if AVAILABLE else 0
