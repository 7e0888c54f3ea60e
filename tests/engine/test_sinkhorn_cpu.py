"""The fused CPU kernel: its in-kernel float32 exp, the column-factor form of K, and the per-core
chunking of `lazsl_scores` (numba backend) against the plain loop and against itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import alignment, sinkhorn_cpu
from engine.alignment import lazsl_scores
from tests.engine.conftest import make_problem
from tests.engine.reference import plain_scores

pytestmark = pytest.mark.skipif(not sinkhorn_cpu.AVAILABLE, reason="no numba")


def test_in_kernel_exp_is_float32_accurate_and_pads_with_zeros():
    """exp(Z/eps) computed in the kernel: as close to exp as the float32 input allows (a float32 x
    carries a relative uncertainty of |x| 2^-24 into exp(x)), over the whole range float32 mode uses
    (|x| <= 80), and 0 on the SIMD padding."""
    rng = np.random.default_rng(0)
    m, n, nv, cols = 9, 45, 48, 60
    Z = rng.uniform(-80.0, 80.0, (m, cols)).astype(np.float32)
    Z[0, 3:8] = [0.0, -0.0, 1e-8, -80.0, 80.0]
    zi = np.full(m * nv, np.nan, dtype=np.float32)
    ki = np.full(m * nv, np.nan, dtype=np.float32)
    sinkhorn_cpu._window32(Z.ravel(), 3, cols, 1, m, n, nv, zi, ki)
    got = ki.reshape(m, nv)
    want = np.exp(Z[:, 3:3 + n].astype(np.float64))
    rel = np.abs(got[:, :n] / want - 1.0)
    bound = 1e-7 * (np.abs(Z[:, 3:3 + n]) + 3.0)
    assert (rel <= bound).all(), (rel / bound).max()
    assert (got[:, n:] == 0).all() and (zi.reshape(m, nv)[:, n:] == 0).all()
    assert np.array_equal(zi.reshape(m, nv)[:, :n], Z[:, 3:3 + n])
    # the same window read from a region-major copy (what the chunked path multiplies into)
    Zt = np.ascontiguousarray(Z.T)  # [cols, m]
    zi2, ki2 = np.full_like(zi, np.nan), np.full_like(ki, np.nan)
    sinkhorn_cpu._window32(Zt.ravel(), 3 * m, 1, m, m, n, nv, zi2, ki2)
    assert np.array_equal(zi2, zi) and np.array_equal(ki2, ki)


def _problem_arrays(seed=0, b=4, A=12, n_max=20):
    """Z/eps, column factors and problem layout for b images × classes of 1..4 attributes."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 5, size=5)
    starts = np.cumsum(counts) - counts
    A = int(counts.sum())
    nk = rng.integers(1, n_max, size=b)
    reg_base = np.cumsum(nk) - nk
    Z = (rng.standard_normal((A, int(nk.sum()))) * 3.0).astype(np.float32)
    G = (rng.standard_normal((b, A)) * 0.05).astype(np.float32)
    W = np.exp((G - 1.0) / 0.1)
    cls = np.tile(np.arange(len(counts)), b)
    return dict(ZE=Z, colw=W.ravel(), glob=G.ravel(), wbase=np.arange(b) * A, reg_base=reg_base, n_kept=nk,
                img_ptr=np.arange(b + 1) * len(counts), attr_base=starts[cls], prob_len=counts[cls])


def test_float32_kernel_matches_float64_kernel():
    """Same problems, exp in-kernel in float32 vs given exactly in float64: scores agree to float32
    rounding; a stopping test that sits right at tol may flip by one iteration, rarely."""
    p = _problem_arrays()
    s32, it32 = sinkhorn_cpu.solve_scores(**p, eps=0.1, tol=1e-2, max_iter=100, n_rows=p["n_kept"] + 3)
    p64 = {k: (v.astype(np.float64) if v.dtype == np.float32 else v) for k, v in p.items()}
    s64, it64 = sinkhorn_cpu.solve_scores(**p64, eps=0.1, tol=1e-2, max_iter=100, n_rows=p["n_kept"] + 3,
                                          KZ=np.exp(p64["ZE"]))
    assert np.allclose(s32, s64, rtol=0, atol=1e-5)
    diff = np.abs(it32 - it64)
    assert diff.max() <= 1 and (diff == 0).mean() >= 0.9 and it64.max() > 5
    with pytest.raises(ValueError, match="float32"):
        sinkhorn_cpu.solve_scores(**p64, eps=0.1, tol=1e-2, max_iter=100)


def test_range_entry_equals_whole_call():
    """`solve_range` on a region window, region-major (what the chunked path calls), gives the
    whole attribute-major call's results."""
    p = _problem_arrays(seed=3)
    whole, it_whole = sinkhorn_cpu.solve_scores(**p, eps=0.1, tol=1e-2, max_iter=100)
    sc = np.full(len(whole), np.nan)
    it = np.zeros(len(whole), dtype=np.int32)
    rb, nk = p["reg_base"], p["n_kept"]
    for u, v in ((0, 2), (2, 4)):  # images 0-1, then 2-3, each with only its own columns
        c0, c1 = int(rb[u]), int(rb[v - 1] + nk[v - 1])
        sinkhorn_cpu.solve_range(np.ascontiguousarray(p["ZE"][:, c0:c1].T), c0, u, v, p["colw"], p["glob"],
                                 p["wbase"].astype(np.int64), rb.astype(np.int64), nk.astype(np.int64),
                                 nk.astype(np.int64), p["img_ptr"].astype(np.int64), p["attr_base"].astype(np.int64),
                                 p["prob_len"].astype(np.int64), 0.1, 1e-2, 100, sc, it)
    assert np.allclose(sc, whole, rtol=0, atol=1e-6) and np.array_equal(it, it_whole)


@pytest.mark.parametrize("alpha,eps", [(0.8, 0.1), (0.5, 0.2), (1.0, 0.1), (0.0, 0.1)])
def test_column_factor_form_matches_plain_loop_for_any_alpha(alpha, eps):
    """K = exp(Z/eps) * w_j is exact algebra for every alpha, including the ends 0 and 1."""
    P0, R, T, ac, C = make_problem(seed=11)
    ref = plain_scores(P0, R, T, ac, C, alpha=alpha, eps=eps)
    res = lazsl_scores(P0, R, T, ac, n_classes=C, alpha=alpha, eps=eps, backend="numba")
    assert torch.allclose(res.scores.double(), ref, atol=1e-4, rtol=0)


def test_chunking_over_cores_and_sub_chunks_does_not_change_results(monkeypatch):
    """Many small chunks on the worker pool and tiny matmul sub-chunks give the single-chunk result."""
    P0, R, T, ac, C = make_problem(B=23, N=40, D=32, C=9, seed=12)
    whole = lazsl_scores(P0, R, T, ac, n_classes=C, chunk_size=23, backend="numba")
    monkeypatch.setattr(alignment, "SUB_CHUNK_COLUMNS", 8)
    parts = lazsl_scores(P0, R, T, ac, n_classes=C, chunk_size=3, backend="numba")
    assert torch.allclose(parts.scores, whole.scores, atol=1e-6, rtol=0)
    assert torch.equal(parts.n_iter, whole.n_iter)
    assert torch.equal(parts.scores.argmax(1), whole.scores.argmax(1))


def test_half_widening_is_exact_including_specials():
    """The kernel's float16 → float32 widening equals numpy's cast bit for bit: normals, subnormals,
    signed zeros, infinities and NaN."""
    rng = np.random.default_rng(5)
    half = (rng.standard_normal((40, 33)) * 0.05).astype(np.float16)
    half[0, :8] = [0.0, -0.0, 6e-8, -3e-6, 6.1e-5, 65504.0, np.inf, -np.inf]
    half[1, 0] = np.nan
    rows = np.array([1, 0, 7, 39, 7])
    got = sinkhorn_cpu.widen_rows(half, rows)
    want = half[rows].astype(np.float32)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_half_precision_regions_score_like_their_float32_values():
    """Regions handed over as float16 (what the cache stores) score as the same values in float32:
    the kernel widens only the rows it uses, and the kept-region test sees the same similarities."""
    P0, R, T, ac, C = make_problem(B=11, N=37, D=40, C=8, seed=31)
    R16 = R.half()
    g16 = alignment._global_sims(P0, R16)
    assert torch.allclose(g16, torch.matmul(R16.float(), P0.unsqueeze(-1)).squeeze(-1), atol=1e-6)
    a = lazsl_scores(P0, R16.float(), T, ac, n_classes=C, backend="numba")
    b = lazsl_scores(P0, R16, T, ac, n_classes=C, backend="numba")
    c = lazsl_scores(P0, R16, T, ac, n_classes=C, backend="numba", chunk_size=3,
                     classes=torch.arange(C).repeat(11, 1)[:, :5])
    assert torch.allclose(a.scores, b.scores, atol=1e-6, rtol=0) and torch.equal(a.n_iter, b.n_iter)
    assert torch.allclose(c.scores[:, :5], a.scores[:, :5], atol=1e-5, rtol=0)
    assert torch.equal(a.region_weights, b.region_weights)


def test_reused_attribute_operands_follow_in_place_edits_and_constants():
    """The matmul operands are reused across calls on the same attribute tensor, but an in-place
    edit, another alpha or eps, or another class order builds them again."""
    P0, R, T, ac, C = make_problem(B=6, N=30, D=32, C=5, seed=41)
    first = lazsl_scores(P0, R, T, ac, n_classes=C, backend="numba").scores
    T[:3] = T[:3].flip(0).clone()  # in place: same storage, new version
    edited = lazsl_scores(P0, R, T, ac, n_classes=C, backend="numba").scores
    fresh = lazsl_scores(P0, R, T.clone(), ac, n_classes=C, backend="numba").scores
    assert torch.equal(edited, fresh) and not torch.equal(edited, first)
    other_alpha = lazsl_scores(P0, R, T, ac, n_classes=C, alpha=0.5, backend="numba").scores
    assert torch.allclose(other_alpha, plain_scores(P0, R, T, ac, C, alpha=0.5).float(), atol=1e-4)


def test_concurrent_calls_with_different_attributes_do_not_mix():
    """Two callers (say a GUI re-score and a pre-label) scoring against different attribute sets at
    the same time each get their own results."""
    from concurrent.futures import ThreadPoolExecutor

    probs = [make_problem(B=14, N=30, D=32, C=6, seed=s) for s in (51, 52)]
    want = [lazsl_scores(P0, R, T, ac, n_classes=C, backend="numba").scores for P0, R, T, ac, C in probs]
    with ThreadPoolExecutor(4) as ex:
        futs = [(k % 2, ex.submit(lambda p: lazsl_scores(p[0], p[1], p[2], p[3], n_classes=p[4], chunk_size=3,
                                                          backend="numba").scores, probs[k % 2]))
                for k in range(12)]
        for k, f in futs:
            assert torch.allclose(f.result(), want[k], atol=1e-6, rtol=0)
