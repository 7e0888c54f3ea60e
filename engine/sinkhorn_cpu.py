"""Fused CPU kernel for the faithful LaZSL Sinkhorn (numba), one (image, class) problem at a time.

Each problem is solved exactly as the published loop does it — its own stopping test, `break`
included — on its m×n block (attributes × kept regions; small enough for L1, contiguous along
regions so both half-steps vectorise), in the dtype of the inputs (float32, as the published
code runs; float64 when a tiny eps needs it). The kernels are serial and release the GIL: the
caller runs one chunk of images per core (`alignment._score_numba`), so no thread pool waits on
another.

The caller factors the kernel to save a full pass: S_ij = Z_ij + g_j with Z the region part
(alpha <p_i, t_j>) and g_j the global part ((1-alpha) <p_0, t_j>), so
K_ij = exp((S_ij - 1)/eps) = exp(Z_ij/eps) * w_j with w_j = exp((g_j - 1)/eps). A column factor
of K only rescales c (c' = w c follows the same recursion), so the iterates r — and with them the
stopping test — are those of the published loop when c' starts at w instead of 1. The score is
sum_ij r_i KZ_ij c'_j (Z_ij + g_j) with KZ = exp(Z/eps). In float32, exp(Z/eps) is computed inside
the kernel, a window of rows at a time into L2-sized buffers (`_window32`), so it is never
written to memory. Without numba the batched torch solver is used (same results to float rounding).
"""

from __future__ import annotations

import numpy as np

try:
    import numba
    from numba import njit

    AVAILABLE = True
except ImportError:  # optional accelerator
    AVAILABLE = False


#: Rows of exp(Z/eps) the float32 kernel materialises at a time (two such windows of ~48 floats per row
#: stay in a core's L2).
WINDOW = 512

if AVAILABLE:

    @njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
    def _window32(ZF, zof, jst, ist, m, n, nv, zi, ki):  # pragma: no cover - compiled
        """Z/eps of attributes j < m × regions ii < n (at ZF[zof + j*jst + ii*ist]) copied to
        zi[j*nv + ii] (rows 0-padded to whole SIMD vectors, read along whichever axis is contiguous)
        and ki = exp(zi) (0 on the padding) in float32, in one flat vectorised loop:
        2^x = 2^k 2^f, k = round(x), |f| <= 1/2, 2^f by its degree-7 Taylor polynomial, 2^k added into
        the exponent bits. As close to exp as a float32 input allows (relative |x| 2^-24 + 2e-7) for
        |x| <= 86; float32 mode only sees |x| <= 80 (the float64 switch in `alignment`)."""
        if ist == 1:  # attribute-major Z: each attribute's regions are contiguous
            for j in range(m):
                z = ZF[zof + j * jst: zof + j * jst + n]
                o = j * nv
                for ii in range(n):
                    zi[o + ii] = z[ii]
        else:  # region-major Z: each region's attributes are contiguous (a transpose into the window)
            for ii in range(n):
                z = ZF[zof + ii * ist: zof + ii * ist + m]
                for j in range(m):
                    zi[j * nv + ii] = z[j]
        for j in range(m):
            for ii in range(n, nv):
                zi[j * nv + ii] = np.float32(0.0)
        bits = ki.view(np.int32)
        for q in range(m * nv):
            x = zi[q] * np.float32(1.4426950408889634)
            x = min(max(x, np.float32(-125.0)), np.float32(125.0))
            k = np.floor(x + np.float32(0.5))
            t = (x - k) * np.float32(0.6931471805599453)
            p = np.float32(1.0) + t * (np.float32(1.0) + t * (np.float32(0.5) + t * (
                np.float32(1.0 / 6.0) + t * (np.float32(1.0 / 24.0) + t * (np.float32(1.0 / 120.0) + t * (
                    np.float32(1.0 / 720.0) + t * np.float32(1.0 / 5040.0)))))))
            ki[q] = p
            bits[q] += np.int32(k) << 23
        for j in range(m):
            for ii in range(j * nv + n, j * nv + nv):
                ki[ii] = np.float32(0.0)

    @njit(cache=True, nogil=True, fastmath=True, error_model="numpy", inline="always")
    def _solve_block(KB, kof, kst, ZF, zof, zst, cinit, glob, n, nv, m, n_all, eps, tol, max_iter, r, kc,
                     c):  # pragma: no cover - compiled
        """One problem: K row j is KB[kof + j*kst : +nv] (exp of the first n entries of Z row j, 0 after),
        Z/eps row j is ZF[zof + j*zst : +n]; flat 1-D arrays so every loop is a unit-stride SIMD loop.
        Returns (score, iterations). Padded columns keep r = 0 and add nothing anywhere."""
        # constants typed like the work arrays (a float32 times or over an int is float64 in numba)
        kc[0] = 1.0 / n
        a = kc[0]
        kc[0] = 1.0 / m
        b = kc[0]
        kc[0] = 1.0
        one = kc[0]
        kc[0] = 0.0
        zero = kc[0]
        for ii in range(n):
            r[ii] = one
        for ii in range(n, nv):
            r[ii] = zero
        for j in range(m):
            c[j] = cinit[j]  # c' = w c with c = 1
        it = 0
        while it < max_iter:
            it += 1
            for ii in range(nv):
                kc[ii] = zero
            for j in range(m):
                cj = c[j]
                row = KB[kof + j * kst: kof + j * kst + nv]
                for ii in range(nv):
                    kc[ii] += row[ii] * cj
            for ii in range(nv):
                kc[ii] = a / kc[ii] if kc[ii] > zero else zero  # the new r
            delta = zero
            for ii in range(nv):
                delta += abs(kc[ii] - r[ii])
                r[ii] = kc[ii]
            for j in range(m):
                row = KB[kof + j * kst: kof + j * kst + nv]
                acc = zero
                for ii in range(nv):
                    acc += row[ii] * r[ii]
                c[j] = b / acc if acc > zero else zero
            dsum = float(delta)
            if it == 1:
                dsum += n_all - n  # dropped rows went from r = 1 to r = a_i / (Kc)_i = 0
            if dsum / n_all < tol:
                break
        tot = 0.0
        for j in range(m):
            row = KB[kof + j * kst: kof + j * kst + nv]
            zrow = ZF[zof + j * zst: zof + j * zst + nv]
            acc = zero
            accz = zero
            for ii in range(nv):
                w = row[ii] * r[ii]
                accz += w * zrow[ii]
                acc += w
            tot += c[j] * (eps * accz + glob[j] * acc)
        return tot, it

    @njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
    def _kernel(KZ, ZE, colw, glob, wbase, reg_base, n_kept, n_rows, img_ptr, attr_base, prob_len, eps, tol,
                max_iter, exp_inside, region_major, i_lo, i_hi, col0, scores, n_iter):  # pragma: no cover
        n_img = n_kept.shape[0]
        cols = ZE.shape[0] if region_major else ZE.shape[1]
        n_attr = ZE.shape[1] if region_major else ZE.shape[0]
        ZF = ZE.ravel()
        KF = KZ.ravel()
        nmax = 1
        mmax = 1
        for i in range(n_img):
            nmax = max(nmax, n_kept[i])
        for p in range(prob_len.shape[0]):
            mmax = max(mmax, prob_len[p])
        r = np.empty(nmax + 8, dtype=ZE.dtype)
        kc = np.empty(nmax + 8, dtype=ZE.dtype)
        c = np.empty(mmax, dtype=ZE.dtype)
        # exp(Z/eps) and Z/eps of a window of up to WINDOW rows of one image, contiguous and 0-padded
        # to whole SIMD vectors (both fit in L2); problems come in row order, so each row is done once
        wmax = max(WINDOW, mmax)
        zi = np.empty(wmax * (nmax + 8), dtype=np.float32)
        ki = np.empty(wmax * (nmax + 8), dtype=np.float32)
        for i in range(i_lo, i_hi):
            n = n_kept[i]
            n_all = max(n_rows[i], n)  # the published N: dropped regions count in the stopping mean
            r0 = reg_base[i] - col0  # ZE holds the columns from col0 on
            wb = wbase[i]
            nv = (n + 7) // 8 * 8
            w_lo = 0
            w_hi = 0
            for p in range(img_ptr[i], img_ptr[i + 1]):
                m = prob_len[p]
                s0 = attr_base[p]
                if n == 0 or m == 0:
                    scores[p] = np.nan
                    n_iter[p] = 0
                    continue
                if exp_inside:
                    if s0 < w_lo or s0 + m > w_hi:
                        w_lo = s0
                        w_hi = min(n_attr, s0 + wmax)
                        if region_major:
                            _window32(ZF, r0 * n_attr + w_lo, 1, n_attr, w_hi - w_lo, n, nv, zi, ki)
                        else:
                            _window32(ZF, w_lo * cols + r0, cols, 1, w_hi - w_lo, n, nv, zi, ki)
                    sc, it = _solve_block(ki, (s0 - w_lo) * nv, nv, zi, (s0 - w_lo) * nv, nv,
                                          colw[wb + s0:wb + s0 + m], glob[wb + s0:wb + s0 + m], n, nv, m, n_all,
                                          eps, tol, max_iter, r, kc, c)
                else:
                    sc, it = _solve_block(KF, s0 * cols + r0, cols, ZF, s0 * cols + r0, cols,
                                          colw[wb + s0:wb + s0 + m], glob[wb + s0:wb + s0 + m], n, n, m, n_all, eps,
                                          tol, max_iter, r, kc, c)
                scores[p] = sc
                n_iter[p] = it


if AVAILABLE:

    @njit(cache=True, nogil=True, error_model="numpy")
    def _widen_rows(src, rows, out):  # pragma: no cover - compiled
        """out[k] = float32(src[rows[k]]) for IEEE half bits src [R, D] (uint16): the half's bits moved
        into a float32's (sign, then exponent and mantissa shifted by 13), times 2^112 to rebias the
        exponent (this also normalises subnormals); inf and nan get the all-ones exponent first.
        Exact, and vectorised (numpy's own float16 cast is ~15x slower here)."""
        ob = out.view(np.uint32)
        D = src.shape[1]
        for k in range(rows.shape[0]):
            s = src[rows[k]]
            o = ob[k]
            for d in range(D):
                h = np.uint32(s[d])
                em = h & np.uint32(0x7fff)
                v = em << np.uint32(13)
                v = v if em < np.uint32(0x7c00) else (v | np.uint32(0x7f800000))
                o[d] = ((h & np.uint32(0x8000)) << np.uint32(16)) | v
            f = out[k]
            for d in range(D):
                f[d] = f[d] * np.float32(5.192296858534828e+33)

    @njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
    def _half_region_sims(src, p0, n_regions, i_lo, i_hi, out):  # pragma: no cover - compiled
        """out[i, n] = <float32(src[i*N + n]), p0[i]> for images i_lo..i_hi, one region row widened at a
        time into a buffer that stays in L1."""
        D = src.shape[1]
        buf = np.empty((1, D), dtype=np.float32)
        idx = np.empty(1, dtype=np.int64)
        for i in range(i_lo, i_hi):
            p = p0[i]
            for n in range(n_regions):
                idx[0] = i * n_regions + n
                _widen_rows(src, idx, buf)
                b = buf[0]
                acc = np.float32(0.0)
                for d in range(D):
                    acc += b[d] * p[d]
                out[i, n] = acc


def _need_numba() -> None:
    if not AVAILABLE:
        raise RuntimeError("numba is not installed")


def widen_rows(half: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """float32 copies of rows `rows` of the float16 matrix `half` [R, D] (GIL released)."""
    _need_numba()
    out = np.empty((len(rows), half.shape[1]), dtype=np.float32)
    _widen_rows(np.ascontiguousarray(half).view(np.uint16), np.asarray(rows, dtype=np.int64), out)
    return out


def half_region_sims(half: np.ndarray, p0: np.ndarray, i_lo: int, i_hi: int, out: np.ndarray) -> None:
    """out[i, n] = <half[i, n], p0[i]> in float32 for images i_lo..i_hi of half [B, N, D] (float16)."""
    _need_numba()
    B, N, D = half.shape
    _half_region_sims(half.reshape(B * N, D).view(np.uint16), np.ascontiguousarray(p0, dtype=np.float32), N,
                      int(i_lo), int(i_hi), out)


def solve_scores(ZE: np.ndarray, colw: np.ndarray, glob: np.ndarray, wbase: np.ndarray, reg_base: np.ndarray,
                 n_kept: np.ndarray, img_ptr: np.ndarray, attr_base: np.ndarray, prob_len: np.ndarray, eps: float,
                 tol: float, max_iter: int, n_rows: np.ndarray | None = None,
                 KZ: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Faithful scores and iteration counts of problems grouped by image (CSR `img_ptr`); serial,
    GIL released.

    ZE [rows, cols] = Z/eps (attributes × regions, Z the region part of S): problem p of image i
    (img_ptr[i] <= p < img_ptr[i+1]) is the block [attr_base[p] : attr_base[p] + prob_len[p],
    reg_base[i] : reg_base[i] + n_kept[i]]. colw, glob (flat): the column factor w_j and global
    part g_j of row j for image i sit at wbase[i] + j. `KZ` = exp(ZE), computed here (float32) when
    not given; float64 input needs it. Problems without regions or attributes score NaN.
    `n_rows` [images]: how many regions the image had before the dropped ones were left out
    (default: n_kept); the published stopping test is mean |r - r_prev| over ALL regions, where a
    dropped region's r is 0 after the first iteration, so it counts in the denominator.
    """
    _need_numba()
    dt = ZE.dtype
    exp_inside = KZ is None
    if exp_inside and dt != np.float32:
        raise ValueError("solve_scores computes exp() itself only in float32; pass KZ for float64")
    P = attr_base.shape[0]
    scores = np.empty(P, dtype=np.float64)
    n_iter = np.empty(P, dtype=np.int32)
    i64 = np.int64
    rows = n_kept if n_rows is None else n_rows
    KZ = np.empty((1, 1), dtype=dt) if KZ is None else np.ascontiguousarray(KZ, dtype=dt)
    _kernel(KZ, np.ascontiguousarray(ZE), np.ascontiguousarray(colw, dtype=dt),
            np.ascontiguousarray(glob, dtype=dt), np.asarray(wbase).astype(i64), np.asarray(reg_base).astype(i64),
            np.asarray(n_kept).astype(i64), np.asarray(rows).astype(i64), np.asarray(img_ptr).astype(i64),
            np.asarray(attr_base).astype(i64), np.asarray(prob_len).astype(i64), float(eps), float(tol),
            int(max_iter), exp_inside, False, 0, len(n_kept), 0, scores, n_iter)
    return scores, n_iter


def solve_range(ZE: np.ndarray, col0: int, i_lo: int, i_hi: int, colw: np.ndarray, glob: np.ndarray,
                wbase: np.ndarray, reg_base: np.ndarray, n_kept: np.ndarray, n_rows: np.ndarray, img_ptr: np.ndarray,
                attr_base: np.ndarray, prob_len: np.ndarray, eps: float, tol: float, max_iter: int,
                scores: np.ndarray, n_iter: np.ndarray) -> None:
    """`solve_scores` for images i_lo..i_hi only, whose regions start at `col0` in the float32 ZE
    (multiplied in a sub-chunk small enough to stay in cache), writing into `scores` and `n_iter`.
    ZE is region-major here, [regions, attributes] (each image's block is then one contiguous
    stretch). No conversions: int arrays int64, float arrays float32, all contiguous."""
    _need_numba()
    _kernel(_DUMMY, ZE, colw, glob, wbase, reg_base, n_kept, n_rows, img_ptr, attr_base, prob_len, float(eps),
            float(tol), int(max_iter), True, True, int(i_lo), int(i_hi), int(col0), scores, n_iter)


_DUMMY = np.empty((1, 1), dtype=np.float32)


def warmup() -> bool:
    """Compile (or load from numba's on-disk cache) the kernels now, e.g. on an app's idle thread,
    so the first re-score does not pay for it. Returns whether the kernel is available."""
    if not AVAILABLE:
        return False
    zero, one = np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64)
    for dt in (np.float32, np.float64):
        m = np.zeros((1, 1), dtype=dt)
        solve_scores(m, m.ravel() + 1, m.ravel(), zero, zero, one, np.array([0, 1]), zero, one, 0.1, 1e-2, 5,
                     KZ=None if dt == np.float32 else np.exp(m))
    h = np.zeros((1, 1, 1), dtype=np.float16)
    widen_rows(h[0], zero)
    half_region_sims(h, np.zeros((1, 1), dtype=np.float32), 0, 1, np.empty((1, 1), dtype=np.float32))
    solve_range(np.zeros((1, 1), dtype=np.float32), 0, 0, 1, np.ones(1, np.float32), np.zeros(1, np.float32), zero,
                zero, one, one, np.array([0, 1]), zero, one, 0.1, 1e-2, 5, np.empty(1), np.empty(1, np.int32))
    return True


def threads() -> int:
    """Cores the CPU path spreads image chunks over (numba's thread setting)."""
    return numba.get_num_threads() if AVAILABLE else 0
