"""Per-attribute LaZSL terms on the CPU (numba): the faithful Sinkhorn of `engine.sinkhorn_cpu`,
one (image, class) problem at a time with its own stopping rule, returning each column's term
`c_j sum_i r_i K_ij S_ij` instead of their sum (docs/architecture.md, "Learning from decisions").

Factored like `sinkhorn_cpu`: S_ij = Z_ij + g_j with Z the region part and g_j the global part, so
K_ij = exp(Z_ij / eps) * w_j with w_j = exp((g_j - 1) / eps); the column factor only rescales c,
so c starts at w. Images run in parallel (numba prange).
"""

from __future__ import annotations

import numpy as np

try:
    from numba import njit, prange

    AVAILABLE = True
except ImportError:  # optional accelerator: the torch path is used without it
    AVAILABLE = False

if AVAILABLE:

    @njit(cache=True, nogil=True, parallel=True, fastmath=False, error_model="numpy")
    def _terms(KZ: np.ndarray, ZE: np.ndarray, colw: np.ndarray, glob: np.ndarray, reg_ptr: np.ndarray,
               n_rows: np.ndarray, cls_ptr: np.ndarray, eps: float, tol: float, max_iter: int,
               out: np.ndarray) -> None:  # pragma: no cover
        """KZ, ZE [regions, A] (region-major, kept regions of image i at rows reg_ptr[i]:reg_ptr[i+1]):
        exp(Z/eps) and Z/eps; colw, glob [B, A]: w_j and g_j; cls_ptr: column ranges of the classes;
        out [B, A] the terms."""
        B = reg_ptr.shape[0] - 1
        n_cls = cls_ptr.shape[0] - 1
        for i in prange(B):
            r0 = reg_ptr[i]
            n = reg_ptr[i + 1] - r0
            if n == 0:
                continue
            n_all = max(n_rows[i], n)
            a = 1.0 / n
            r = np.empty(n, dtype=np.float64)
            kc = np.empty(n, dtype=np.float64)
            for k in range(n_cls):
                j0 = cls_ptr[k]
                j1 = cls_ptr[k + 1]
                m = j1 - j0
                if m == 0:
                    continue
                b = 1.0 / m
                c = np.empty(m, dtype=np.float64)
                acc = np.empty(m, dtype=np.float64)
                for ii in range(n):
                    r[ii] = 1.0
                for j in range(m):
                    c[j] = colw[i, j0 + j]
                it = 0
                while it < max_iter:
                    it += 1
                    delta = 0.0
                    for ii in range(n):
                        s = 0.0
                        for j in range(m):
                            s += KZ[r0 + ii, j0 + j] * c[j]
                        v = a / s if s > 0.0 else 0.0
                        delta += abs(v - r[ii])
                        kc[ii] = v
                    for j in range(m):
                        acc[j] = 0.0
                    for ii in range(n):
                        r[ii] = kc[ii]
                        for j in range(m):
                            acc[j] += KZ[r0 + ii, j0 + j] * r[ii]
                    for j in range(m):
                        c[j] = b / acc[j] if acc[j] > 0.0 else 0.0
                    dsum = delta
                    if it == 1:
                        dsum += n_all - n
                    if dsum / n_all < tol:
                        break
                for j in range(m):
                    s = 0.0
                    for ii in range(n):
                        s += r[ii] * KZ[r0 + ii, j0 + j] * (eps * ZE[r0 + ii, j0 + j] + glob[i, j0 + j])
                    out[i, j0 + j] = c[j] * s


def solve_terms(KZ: np.ndarray, ZE: np.ndarray, colw: np.ndarray, glob: np.ndarray, reg_ptr: np.ndarray,
                n_rows: np.ndarray, cls_ptr: np.ndarray, eps: float, tol: float, max_iter: int) -> np.ndarray:
    """[B, A] float64 terms; see `_terms` for the layout."""
    if not AVAILABLE:
        raise RuntimeError("numba is not installed")
    out = np.zeros(colw.shape, dtype=np.float64)
    _terms(np.ascontiguousarray(KZ), np.ascontiguousarray(ZE), np.ascontiguousarray(colw, dtype=np.float64),
           np.ascontiguousarray(glob, dtype=np.float64), reg_ptr.astype(np.int64), n_rows.astype(np.int64),
           cls_ptr.astype(np.int64), float(eps), float(tol), int(max_iter), out)
    return out
