"""LaZSL region–attribute alignment by entropic optimal transport, batched over images × classes.

The math of docs/architecture.md, "The LaZSL score", constant for constant (LaZSL, ICCV 2025;
published code: github.com/shiming-chen/LaZSL):

    g_i = <p_i, p_0>;  keep region i iff g_i >= mean(g) + gamma;  a = uniform on kept, b = 1/M
    S_ij = alpha <p_i, t_j> + (1 - alpha) <p_0, t_j>;  K = exp(-(1 - S) / eps)
    Sinkhorn from r = c = 1: r = a / Kc; c = b / K^T r; stop when mean |r - r_prev| < tol
    (the mean runs over all N regions: a dropped region has r = 0 after the first iteration,
    as in the published code, where it keeps its row with a_i = 0)
    score = sum_ij r_i K_ij c_j S_ij

`faithful` mode applies that stopping rule to every (image, class) problem on its own (a problem
freezes the iteration it meets it, the rest go on), so scores equal the published per-class loop.
`converged` runs POT's batched log-domain Sinkhorn (`ot.solve_batch`) to convergence.

Speed: regions that are dropped (g below the mean) carry no mass, so only kept regions enter the
similarity matmul. S is linear in the region feature (S_ij = <alpha p_i + (1-alpha) p_0, t_j>), so
one BLAS matmul per image chunk gives S for every kept region × every attribute. Two solvers:
  * CPU with numba (default there): `sinkhorn_cpu`, a fused kernel solving each (image, class)
    problem in cache with its own stopping rule, images spread over cores;
  * torch (GPU, or CPU without numba): classes bucketed by attribute count so the [images,
    classes, regions, attributes] problems need no padding; iterations run on the whole chunk
    with a masked (frozen) update and a host check only every few iterations.
Both match a plain per-problem loop to 1e-4 (tests/engine/reference.py). The numba path runs one
chunk of images per core with single-threaded BLAS (threadpoolctl), so no thread pool spins
against another.

Defined results on degenerate input (never NaN): a class with zero attributes must be given one
(empty-attribute) row by the caller (`prompts.class_prompts` does); a class with no rows at all
scores -inf. If no region of an image is valid (all masked), its scores fall back to the dclip
score and its plans are zero. If rounding leaves no region at or above the mean, the regions with
the highest g are kept. Duplicate attributes are ordinary columns.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from engine import sinkhorn_cpu

#: Elements per [b, C, N, M] work tensor; bounds chunk memory (about 4 such tensors live at once).
DEFAULT_CHUNK_ELEMENTS = 2_000_000
#: Above this value of (1 - min S) / eps, exp() would underflow float32; the chunk runs in float64.
_F32_EXP_LIMIT = 80.0
CHECK_EVERY = 4
#: [kept regions × attributes] elements per chunk of images handed to a worker on the numba path
#: (bounds its stacked regions, and Z where a chunk is multiplied whole: candidates, float64).
NUMBA_CHUNK_ELEMENTS = 2_000_000
#: Kept regions multiplied at once inside a chunk (float32 path): the region-major [768, attributes] Z
#: stays in cache for the kernel, and BLAS is as fast at this size as at thousands.
SUB_CHUNK_COLUMNS = 768
#: Below this many [kept regions × attributes] elements a call runs in the calling thread.
SMALL_CALL_ELEMENTS = 1_000_000


@dataclass
class AlignmentResult:
    """Scores for every (image, class) and, optionally, the plans of the asked-for classes.

    ``scores`` [B,C] (float32, never NaN; classes not scored under pre-filtering are -inf).
    ``plans`` [B,k,N,Mmax] transport plans in original region order (dropped regions have zero
    mass); ``plan_classes`` [B,k] the class of each plan; ``attr_index`` [B,k,Mmax] the attribute
    row (into attr_feats) of each plan column, -1 for padding; ``sims`` [B,k,N,Mmax] the S matrix of
    each plan; ``region_weights`` [B,N] the marginal a (0 for dropped regions); ``n_iter`` [B,C]
    Sinkhorn iterations used by each problem (0 where not solved).
    """

    scores: torch.Tensor
    plans: torch.Tensor | None = None
    plan_classes: torch.Tensor | None = None
    attr_index: torch.Tensor | None = None
    sims: torch.Tensor | None = None
    region_weights: torch.Tensor | None = None
    n_iter: torch.Tensor | None = None


# ----------------------------------------------------------------------------- baselines


def _class_count(attr_class: torch.Tensor, n_classes: int | None) -> int:
    if n_classes is not None:
        return int(n_classes)
    return int(attr_class.max()) + 1 if attr_class.numel() else 0


def _segment_mean(x: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
    """Mean of the columns of x [B,A] per owner class → [B,n]; classes with no columns get -inf."""
    owner = owner.to(x.device)
    out = torch.zeros(x.shape[0], n, dtype=x.dtype, device=x.device)
    out.index_add_(1, owner, x)
    cnt = torch.bincount(owner, minlength=n).to(x.dtype)
    out = out / cnt.clamp_min(1)
    return out.masked_fill(cnt == 0, float("-inf"))


def dclip_scores(global_feats: torch.Tensor, attr_feats: torch.Tensor, attr_class: torch.Tensor,
                 n_classes: int | None = None) -> torch.Tensor:
    """DCLIP baseline: mean over a class's descriptors of <p_0, t_j>; [B,C]."""
    n = _class_count(attr_class, n_classes)
    return _segment_mean(global_feats.float() @ attr_feats.float().T.to(global_feats.device), attr_class, n)


def clip_scores(global_feats: torch.Tensor, class_text_feats: torch.Tensor,
                text_class: torch.Tensor | None = None, n_classes: int | None = None) -> torch.Tensor:
    """CLIP baseline: cosine of the global view with each class prompt; with `text_class` (one row per
    template) the class embedding is the normalised mean of its template embeddings."""
    t = class_text_feats.float().to(global_feats.device)
    if text_class is not None:
        n = _class_count(text_class, n_classes)
        emb = torch.zeros(n, t.shape[1], dtype=t.dtype, device=t.device).index_add_(0, text_class.to(t.device), t)
        t = torch.nn.functional.normalize(emb, dim=-1)
    return global_feats.float() @ t.T


# ----------------------------------------------------------------------------- regions


def region_weights(global_feats: torch.Tensor, region_feats: torch.Tensor, gamma: float = 0.0,
                   region_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Kept-region mask [B,N] (bool) and marginal a [B,N] (uniform on kept regions, 0 elsewhere)."""
    g = _global_sims(global_feats.float(), region_feats)
    valid = torch.ones_like(g, dtype=torch.bool) if region_mask is None else region_mask.to(g.device).bool()
    nv = valid.sum(1)
    mean = (g * valid).sum(1) / nv.clamp_min(1)
    kept = valid & (g >= mean[:, None] + gamma)
    gm = g.masked_fill(~valid, float("-inf"))
    empty = ~kept.any(1) & (nv > 0)
    kept = kept | (empty[:, None] & (gm == gm.max(1, keepdim=True).values) & valid)
    a = kept.float() / kept.sum(1, keepdim=True).clamp_min(1)
    return kept, a


def _global_sims(P0: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """g [B,N] = <p_i, p_0> in float32. Half-precision regions on CPU (as the feature cache stores
    them) are widened row by row inside a numba kernel, images split over the cores, never as a
    whole float32 copy."""
    if R.dtype != torch.float16 or R.device.type != "cpu" or not sinkhorn_cpu.AVAILABLE:
        return torch.matmul(R.float(), P0.unsqueeze(-1)).squeeze(-1)
    B = R.shape[0]
    out = np.empty(R.shape[:2], dtype=np.float32)
    half, p0 = R.numpy(), P0.numpy()
    workers = max(1, sinkhorn_cpu.threads())
    parts = min(workers, B)
    if parts <= 1:
        sinkhorn_cpu.half_region_sims(half, p0, 0, B, out)
    else:
        bounds = [B * k // parts for k in range(parts + 1)]
        for f in [_pool(workers).submit(sinkhorn_cpu.half_region_sims, half, p0, lo, hi, out)
                  for lo, hi in zip(bounds, bounds[1:])]:
            f.result()
    return torch.from_numpy(out)


# ----------------------------------------------------------------------------- solvers


def sinkhorn_faithful(K: torch.Tensor, a: torch.Tensor, b: torch.Tensor, kept: torch.Tensor, *,
                      tol: float = 1e-2, max_iter: int = 100, n_rows: torch.Tensor | None = None,
                      check_every: int = CHECK_EVERY) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The published Sinkhorn with its own stopping rule per problem, batched.

    K [...,N,M] (0 in padded columns), a [...,N] (0 on dropped rows), b [...,M] (0 on padded
    columns), kept [...,N] float 0/1 (which rows count in the stopping mean; broadcastable).
    Returns r [...,N], c [...,M], n_iter [...]. A problem's iterate freezes at the first iteration
    whose mean |r - r_prev| is < tol, exactly like `break` in the per-problem loop. The mean runs
    over the image's `n_rows` regions (broadcastable to the batch; default: the kept rows): rows
    dropped before the call had r = 1 → 0 in the first iteration and 0 after, as in the
    published loop over all regions.
    """
    tiny = torch.finfo(K.dtype).tiny
    batch = K.shape[:-2]
    r = torch.ones(batch + K.shape[-2:-1], dtype=K.dtype, device=K.device)
    c = torch.ones(batch + K.shape[-1:], dtype=K.dtype, device=K.device)
    a = a.expand_as(r)
    b = b.expand_as(c)
    keptf = kept.to(K.dtype).expand_as(r)
    nk = keptf.sum(-1)
    n_all = nk if n_rows is None else torch.maximum(n_rows.to(K.dtype).expand(batch), nk)
    first_extra = n_all - nk  # dropped rows: |0 - 1| each in the first iteration
    n_all = n_all.clamp_min(1)
    active = torch.ones(batch, dtype=torch.bool, device=K.device)
    n_iter = torch.zeros(batch, dtype=torch.int32, device=K.device)
    Kt = K.transpose(-1, -2)
    for it in range(max_iter):
        r_new = a / torch.matmul(K, c.unsqueeze(-1)).squeeze(-1).clamp_min(tiny)
        c_new = b / torch.matmul(Kt, r_new.unsqueeze(-1)).squeeze(-1).clamp_min(tiny)
        delta = ((r_new - r).abs() * keptf).sum(-1)
        if it == 0:
            delta = delta + first_extra
        delta = delta / n_all
        act = active.unsqueeze(-1)
        r = torch.where(act, r_new, r)
        c = torch.where(act, c_new, c)
        n_iter += active.to(torch.int32)
        active = active & (delta >= tol)
        if (it + 1) % check_every == 0 and not bool(active.any()):
            break
    return r, c, n_iter


def _solve_faithful(S: torch.Tensor, a: torch.Tensor, b: torch.Tensor, kept: torch.Tensor, colmask: torch.Tensor | None,
                    eps: float, tol: float, max_iter: int, want_plan: bool, n_rows: torch.Tensor | None = None,
                    **_: object):
    """S [...,N,M] → (scores [...], plans or None, n_iter)."""
    K = _kernel(S, eps)
    if colmask is not None:
        K = K * colmask.unsqueeze(-2).to(K.dtype)
    r, c, n_iter = sinkhorn_faithful(K, a.to(K.dtype), b.to(K.dtype), kept, tol=tol, max_iter=max_iter,
                                     n_rows=n_rows)
    KS = K * S.to(K.dtype)
    scores = (torch.matmul(KS, c.unsqueeze(-1)).squeeze(-1) * r).sum(-1)
    plan = r.unsqueeze(-1) * K * c.unsqueeze(-2) if want_plan else None
    return scores.float(), None if plan is None else plan.float(), n_iter


def _solve_converged(S: torch.Tensor, a: torch.Tensor, b: torch.Tensor, kept: torch.Tensor, colmask: torch.Tensor | None,
                     eps: float, tol: float, max_iter: int, want_plan: bool, converged_tol: float = 1e-7,
                     converged_max_iter: int = 2000, **_: object):
    """POT's batched log-domain Sinkhorn run to convergence (batch-wide stopping)."""
    import ot

    shape = S.shape
    Sf = S.reshape(-1, shape[-2], shape[-1]).double()
    af = a.expand(shape[:-1]).reshape(-1, shape[-2]).double()
    bf = b.expand(shape[:-2] + shape[-1:]).reshape(-1, shape[-1]).double()
    res = ot.solve_batch(1.0 - Sf, reg=eps, a=af, b=bf, max_iter=converged_max_iter, tol=converged_tol,
                         method="log_sinkhorn", grad="detach")
    T = torch.nan_to_num(res.plan, nan=0.0)
    scores = (T * Sf).sum((-1, -2)).reshape(shape[:-2])
    n_iter = torch.full(shape[:-2], int(res.log["n_iter"]), dtype=torch.int32, device=S.device)
    plan = T.reshape(shape).float() if want_plan else None
    return scores.float(), plan, n_iter


#: OT modes: name → solver(S, a, b, kept, colmask, eps, tol, max_iter, want_plan).
OT_SOLVERS: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]]] = {
    "faithful": _solve_faithful,
    "converged": _solve_converged,
}


def _kernel(S: torch.Tensor, eps: float) -> torch.Tensor:
    """K = exp(-(1 - S)/eps), in float64 when float32 could underflow (tiny eps).

    S of unit vectors is >= -1, so for eps >= 2/80 float32 is always safe and S.min() is skipped.
    """
    worst = 2.0 / eps if 2.0 / eps <= _F32_EXP_LIMIT or not S.numel() else float((1.0 - S.min()) / eps)
    dt = torch.float64 if worst > _F32_EXP_LIMIT else torch.float32
    return torch.sub(S.to(dt), 1.0).div_(eps).exp_()


# ----------------------------------------------------------------------------- layouts


def _class_rows(attr_class: torch.Tensor, n_classes: int) -> list[torch.Tensor]:
    ac = attr_class.cpu()
    order = torch.argsort(ac, stable=True)
    counts = torch.bincount(ac, minlength=n_classes).tolist()
    return list(torch.split(order, counts))


def _padded_rows(rows: list[torch.Tensor]) -> torch.Tensor:
    """[C, Mmax] attribute row per class column, -1 for padding."""
    mmax = max((len(r) for r in rows), default=0) or 1
    out = torch.full((len(rows), mmax), -1, dtype=torch.long)
    for ci, r in enumerate(rows):
        out[ci, : len(r)] = r
    return out


def _compact(kept: torch.Tensor) -> torch.Tensor:
    """Indices [b, Nk] putting each image's kept regions first (original order), Nk = max kept."""
    nk = int(kept.sum(1).max()) if kept.numel() else 0
    order = torch.argsort((~kept).to(torch.int8), dim=1, stable=True)
    return order[:, : max(nk, 1)]


def _chunks(B: int, per_image: int, chunk_size: int | None) -> tuple[range, int]:
    step = chunk_size or max(1, DEFAULT_CHUNK_ELEMENTS // max(per_image, 1))
    return range(0, B, step), step


def uses_cpu_kernel(mode: str, device: torch.device | str) -> bool:
    """Whether `lazsl_scores` (backend auto) scores with the numba kernel, which also takes
    half-precision regions as the feature cache stores them."""
    return mode == "faithful" and torch.device(device).type == "cpu" and sinkhorn_cpu.AVAILABLE


def lazsl_scores(
    global_feats: torch.Tensor,
    region_feats: torch.Tensor,
    attr_feats: torch.Tensor,
    attr_class: torch.Tensor,
    *,
    n_classes: int | None = None,
    alpha: float = 0.8,
    eps: float = 0.1,
    gamma: float = 0.0,
    max_iter: int = 100,
    tol: float = 1e-2,
    mode: str = "faithful",
    region_mask: torch.Tensor | None = None,
    classes: torch.Tensor | None = None,
    return_plans_for: torch.Tensor | None = None,
    chunk_size: int | None = None,
    backend: str = "auto",
) -> AlignmentResult:
    """LaZSL class scores [B,C] for B images against the classes owning the attribute rows.

    global_feats [B,D], region_feats [B,N,D], attr_feats [A,D] (all unit-norm), attr_class [A] long
    (class index of each attribute row). `classes` [B,K]: score only these candidate classes per
    image (others get -inf). `return_plans_for` [B,k]: also return those classes' plans.
    `backend`: ``auto`` (the fused numba kernel for faithful scores on CPU when numba is
    installed, else torch), ``torch`` or ``numba``.
    """
    try:
        solver = OT_SOLVERS[mode]
    except KeyError:
        raise ValueError(f"unknown OT mode {mode!r}; known: {', '.join(OT_SOLVERS)}") from None
    if backend not in ("auto", "torch", "numba"):
        raise ValueError(f"unknown backend {backend!r}; use auto, torch or numba")
    use_numba = backend != "torch" and uses_cpu_kernel(mode, global_feats.device)
    if backend == "numba" and not use_numba:
        raise ValueError("the numba backend needs numba installed, CPU tensors and faithful mode")
    dev = global_feats.device
    P0 = global_feats.float()
    # the CPU kernel widens half-precision regions itself (kept rows only), chunk by chunk
    R0 = region_feats if use_numba and region_feats.dtype == torch.float16 else region_feats.float()
    Tt = attr_feats.float().to(dev)
    attr_class = attr_class.long()
    C = _class_count(attr_class, n_classes)
    B, N, _ = R0.shape
    kept, a = region_weights(P0, R0, gamma, region_mask)
    no_region = ~kept.any(1)
    rows = _class_rows(attr_class, C)
    params = dict(eps=eps, tol=tol, max_iter=max_iter, n_rows=_valid_rows(R0, region_mask))
    scores = torch.full((B, C), float("-inf"), device=dev)
    n_iter = torch.zeros(B, C, dtype=torch.int32, device=dev)
    if B and C and N:
        if use_numba:
            _score_numba(P0, R0, Tt, kept, rows, None if classes is None else classes.long(), alpha, params,
                         chunk_size, scores, n_iter)
        elif classes is None:
            _score_all(P0, R0, Tt, kept, a, rows, alpha, solver, params, chunk_size, scores, n_iter)
        else:
            _score_candidates(P0, R0, Tt, kept, a, rows, classes.long().to(dev), alpha, solver, params, chunk_size,
                              scores, n_iter)
    if bool(no_region.any()):
        fallback = dclip_scores(P0, Tt, attr_class, C)
        if classes is not None:
            fallback = torch.full_like(fallback, float("-inf")).scatter(1, classes.long().to(dev),
                                                                        fallback.gather(1, classes.long().to(dev)))
        scores[no_region] = fallback[no_region]
    scores = torch.where(torch.isnan(scores), torch.full_like(scores, float("-inf")), scores)
    out = AlignmentResult(scores=scores, region_weights=a, n_iter=n_iter)
    if return_plans_for is not None:
        _plans(out, P0, R0.float(), Tt, kept, a, rows, return_plans_for.long().to(dev), alpha, solver, params)
    return out


def lazsl_plans(
    global_feats: torch.Tensor,
    region_feats: torch.Tensor,
    attr_feats: torch.Tensor,
    attr_class: torch.Tensor,
    which: torch.Tensor,
    *,
    n_classes: int | None = None,
    alpha: float = 0.8,
    eps: float = 0.1,
    gamma: float = 0.0,
    max_iter: int = 100,
    tol: float = 1e-2,
    mode: str = "faithful",
    region_mask: torch.Tensor | None = None,
) -> AlignmentResult:
    """Only the plans of classes `which` [B,k] (explanations for already-ranked classes), without
    scoring every class; ``scores`` is then [B,k], the score of each returned plan."""
    try:
        solver = OT_SOLVERS[mode]
    except KeyError:
        raise ValueError(f"unknown OT mode {mode!r}; known: {', '.join(OT_SOLVERS)}") from None
    dev = global_feats.device
    P0, R0, Tt = global_feats.float(), region_feats.float(), attr_feats.float().to(dev)
    C = _class_count(attr_class.long(), n_classes)
    kept, a = region_weights(P0, R0, gamma, region_mask)
    out = AlignmentResult(scores=torch.zeros(0), region_weights=a)
    _plans(out, P0, R0, Tt, kept, a, _class_rows(attr_class.long(), C), which.long().to(dev), alpha, solver,
           dict(eps=eps, tol=tol, max_iter=max_iter, n_rows=_valid_rows(R0, region_mask)))
    out.scores = (out.plans * out.sims).sum((-1, -2))
    return out


def _valid_rows(R0: torch.Tensor, region_mask: torch.Tensor | None) -> torch.Tensor:
    """[B] regions each image really has (the published N of its stopping mean)."""
    B, N = R0.shape[:2]
    if region_mask is None:
        return torch.full((B,), N, dtype=torch.long, device=R0.device)
    return region_mask.to(R0.device).bool().sum(1)


def _chunk_params(params: dict, s: int, e: int) -> dict:
    """Solver parameters for images s:e (n_rows sliced, shaped to broadcast over classes)."""
    return {**params, "n_rows": params["n_rows"][s:e].unsqueeze(1)}


def _sims(P0: torch.Tensor, R: torch.Tensor, T: torch.Tensor, alpha: float) -> torch.Tensor:
    """S [b,n,A] = alpha <p_i,t_j> + (1-alpha) <p_0,t_j>: one matmul for regions, one for globals."""
    S = torch.matmul(R, T.T)
    S.mul_(alpha).add_((1.0 - alpha) * (P0 @ T.T).unsqueeze(1))
    return S


def _score_all(P0, R0, Tt, kept, a, rows, alpha, solver, params, chunk_size, scores, n_iter) -> None:
    """Every class for every image: kept regions compacted, classes bucketed by attribute count."""
    B, N, _ = R0.shape
    buckets: dict[int, list[int]] = {}
    for ci, r in enumerate(rows):
        if len(r):
            buckets.setdefault(len(r), []).append(ci)
    if not buckets:
        return
    order = torch.cat([torch.cat([rows[ci] for ci in cls]) for cls in buckets.values()]).to(P0.device)
    Tsorted = Tt[order]
    A = Tsorted.shape[0]
    n_kept_max = int(kept.sum(1).max())
    ranges, step = _chunks(B, max(n_kept_max, 1) * A, chunk_size)
    for s in ranges:
        e = min(B, s + step)
        idx = _compact(kept[s:e])
        Rc = R0[s:e].gather(1, idx.unsqueeze(-1).expand(-1, -1, R0.shape[-1]))
        kc = kept[s:e].gather(1, idx)
        ac = a[s:e].gather(1, idx)
        S_all = _sims(P0[s:e], Rc, Tsorted, alpha)  # [b, Nk, A]
        col = 0
        for m, cls in buckets.items():
            cb = len(cls)
            S = S_all[:, :, col: col + cb * m].reshape(e - s, -1, cb, m).permute(0, 2, 1, 3).contiguous()
            col += cb * m
            bm = torch.full((m,), 1.0 / m, device=P0.device)
            sc, _, it = solver(S, ac.unsqueeze(1), bm, kc.unsqueeze(1), None, want_plan=False,
                               **_chunk_params(params, s, e))
            ci = torch.tensor(cls, device=P0.device)
            scores[s:e, ci] = sc
            n_iter[s:e, ci] = it


def _gather_problems(P0, R, Tt, pad: torch.Tensor, cls: torch.Tensor, alpha: float):
    """S [b,k,N,Mmax] and column mask [b,k,Mmax] for per-image class lists cls [b,k]."""
    idx = pad.to(cls.device)[cls]  # [b,k,Mmax]
    colmask = idx >= 0
    b, k, mmax = idx.shape
    T = Tt[idx.clamp_min(0)]  # [b,k,Mmax,D]
    Tf = T.reshape(b, k * mmax, -1)
    S = torch.matmul(R, Tf.transpose(1, 2))  # [b,N,k*Mmax]
    S = alpha * S + (1.0 - alpha) * torch.einsum("bd,bjd->bj", P0, Tf).unsqueeze(1)
    S = S.reshape(b, -1, k, mmax).permute(0, 2, 1, 3)
    S = S * colmask.unsqueeze(2)
    bm = colmask.float() / colmask.sum(-1, keepdim=True).clamp_min(1)
    return S.contiguous(), colmask, bm, idx


def _score_candidates(P0, R0, Tt, kept, a, rows, classes, alpha, solver, params, chunk_size, scores, n_iter) -> None:
    """Only the candidate classes [B,K] of each image (pre-filtered scoring)."""
    pad = _padded_rows(rows).to(P0.device)
    B, N, _ = R0.shape
    K = classes.shape[1]
    ranges, step = _chunks(B, N * K * pad.shape[1], chunk_size)
    for s in ranges:
        e = min(B, s + step)
        idx = _compact(kept[s:e])
        Rc = R0[s:e].gather(1, idx.unsqueeze(-1).expand(-1, -1, R0.shape[-1]))
        kc = kept[s:e].gather(1, idx)
        ac = a[s:e].gather(1, idx)
        S, colmask, bm, _ = _gather_problems(P0[s:e], Rc, Tt, pad, classes[s:e], alpha)
        sc, _, it = solver(S, ac.unsqueeze(1), bm, kc.unsqueeze(1), colmask, want_plan=False,
                           **_chunk_params(params, s, e))
        empty = ~colmask.any(-1)
        scores[s:e].scatter_(1, classes[s:e], sc.masked_fill(empty, float("-inf")))
        n_iter[s:e].scatter_(1, classes[s:e], it)


def _plans(out: AlignmentResult, P0, R0, Tt, kept, a, rows, which: torch.Tensor, alpha, solver, params) -> None:
    """Plans in original region order for the classes `which` [B,k] of each image."""
    pad = _padded_rows(rows).to(P0.device)
    S, colmask, bm, idx = _gather_problems(P0, R0, Tt, pad, which, alpha)
    _, plan, _ = solver(S, a.unsqueeze(1), bm, kept.unsqueeze(1), colmask, want_plan=True,
                        **_chunk_params(params, 0, S.shape[0]))
    plan = torch.nan_to_num(plan, nan=0.0) * kept.unsqueeze(1).unsqueeze(-1) * colmask.unsqueeze(2)
    out.plans = plan
    out.plan_classes = which
    out.attr_index = idx
    out.sims = S


def _score_numba(P0, R0, Tt, kept, rows, classes, alpha, params, chunk_size, scores, n_iter) -> None:
    """CPU fast path: one chunk of images per core, each chunk done start to end by one thread
    (single-threaded BLAS matmul, then the serial fused kernel), so no thread pool ever spins
    waiting on another.

    S_ij = alpha <p_i,t_j> + (1-alpha) <p_0,t_j>: the region part for every kept region of the
    chunk × every attribute comes from ONE matmul into a reused buffer; the global part becomes a
    per-(image, attribute) column factor of K (see `sinkhorn_cpu`), and exp() runs inside the
    kernel on cache-resident windows."""
    B, N, D = R0.shape
    eps, tol, max_iter = params["eps"], params["tol"], params["max_iter"]
    f64 = 2.0 / eps > _F32_EXP_LIMIT  # exp((g-1)/eps) with g >= -1 must not underflow float32
    dt = np.float64 if f64 else np.float32
    counts_np = np.array([len(r) for r in rows], dtype=np.int64)
    kept_np = kept.cpu().numpy()
    nk_all = kept_np.sum(1)
    n_rows_all = params["n_rows"].cpu().numpy()
    R_np = R0.numpy()
    half = R_np.dtype == np.float16
    R_flat = R_np.reshape(B * N, D) if half else None

    def regions_f32(s: int, e: int, mask: np.ndarray | None) -> np.ndarray:
        """float32 region rows of images s..e: the kept ones stacked [k, D], or all of them [b, N, D]."""
        if not half:
            return R_np[s:e][mask] if mask is not None else R_np[s:e]
        rows = (np.flatnonzero(mask.ravel()) if mask is not None else np.arange((e - s) * N)) + s * N
        out = sinkhorn_cpu.widen_rows(R_flat, rows)
        return out if mask is not None else out.reshape(e - s, N, D)

    P_np = P0.numpy().astype(dt, copy=False)
    T_np = Tt.numpy()
    if classes is None:
        order = np.concatenate([r.numpy() for r in rows]) if rows else np.zeros(0, dtype=np.int64)
        Tz, TzT, Tg = _attribute_operands(Tt, T_np, order, alpha, eps, dt)
        starts = np.cumsum(counts_np) - counts_np
        live = np.flatnonzero(counts_np > 0)
        per_image = Tz.shape[0]
        avg_rows = max(float(nk_all.mean()), 1.0)
    else:
        pad = _padded_rows(rows).numpy()
        cand_np = classes.cpu().numpy()
        per_image = cand_np.shape[1] * pad.shape[1]
        avg_rows = N
    workers = max(1, sinkhorn_cpu.threads())
    if chunk_size:
        step = chunk_size
    elif B * avg_rows * per_image <= SMALL_CALL_ELEMENTS:  # a small batch: one chunk, no hand-off to workers
        step = B
    else:  # as large as the buffer bound allows, in a multiple of `workers` equal chunks so no core idles
        most = max(1, int(NUMBA_CHUNK_ELEMENTS // (avg_rows * max(per_image, 1))))
        n_chunks = workers * -(-B // (workers * most))
        step = -(-B // n_chunks)
    local = threading.local()

    def buffer(size: int) -> np.ndarray:
        buf = getattr(local, "buf", None)
        if buf is None or buf.size < size:  # grown once per thread, reused: pages are not faulted in per chunk
            buf = local.buf = np.empty(int(size * 1.25), dtype=dt)
        return buf[:size]

    def one_chunk(s: int) -> None:
        e = min(B, s + step)
        b = e - s
        nk = nk_all[s:e]
        p0 = P_np[s:e]
        if classes is None:
            Q = regions_f32(s, e, kept_np[s:e]).astype(dt, copy=False)  # kept regions, image by image, in order
            G = p0 @ Tg.T  # [b, A]
            reg_base = np.cumsum(nk) - nk
            cls = np.tile(live, b)
            attr_base, ln = starts[cls], counts_np[cls]
            per = len(live)
            wbase = np.arange(b, dtype=np.int64) * per_image
        else:
            idx = np.argsort(~kept_np[s:e], axis=1, kind="stable")[:, : max(int(nk.max(initial=0)), 1)]
            Rc = np.take_along_axis(regions_f32(s, e, None), idx[:, :, None], axis=1).astype(dt, copy=False)
            cand = cand_np[s:e]
            per, mmax = cand.shape[1], pad.shape[1]
            Tf = T_np[np.maximum(pad[cand], 0)].reshape(b, per * mmax, D).astype(dt)
            G = np.einsum("bd,bjd->bj", p0, Tf) * (1.0 - alpha)  # [b, per*mmax]
            reg_base = np.zeros(b, dtype=np.int64)
            cls = cand.reshape(-1)
            attr_base = np.repeat(np.arange(b) * per * mmax, per) + np.tile(np.arange(per) * mmax, b)
            ln = counts_np[cls]
            wbase = np.zeros(b, dtype=np.int64)
        W = np.exp((G - 1.0) / eps)  # column factor w_j = exp((g_j - 1)/eps)
        img_ptr = np.arange(b + 1, dtype=np.int64) * per
        if classes is None and not f64:
            sc = np.empty(b * per)
            it = np.empty(b * per, dtype=np.int32)
            meta = (W.reshape(-1), G.reshape(-1), wbase, reg_base, nk.astype(np.int64),
                    n_rows_all[s:e].astype(np.int64), img_ptr, attr_base, ln, eps, tol, max_iter, sc, it)
            u = 0
            while u < b:  # a few images at a time: their Z is still in cache when the kernel reads it
                v, c0 = u + 1, int(reg_base[u])
                while v < b and reg_base[v] + nk[v] - c0 <= SUB_CHUNK_COLUMNS:
                    v += 1
                c1 = int(reg_base[v - 1] + nk[v - 1])
                Zt = buffer(per_image * (c1 - c0)).reshape(c1 - c0, per_image)  # region-major
                np.matmul(Q[c0:c1], TzT, out=Zt)
                sinkhorn_cpu.solve_range(Zt, c0, u, v, *meta)
                u = v
        else:  # candidate lists, or float64 for a tiny eps: the whole chunk's Z at once
            if classes is None:
                Z = buffer(per_image * Q.shape[0]).reshape(per_image, Q.shape[0])
                np.matmul(Tz, Q.T, out=Z)
            else:
                Z = np.matmul(Tf, Rc.transpose(0, 2, 1)).reshape(b * per * mmax, Rc.shape[1])
                Z *= alpha / eps
            sc, it = sinkhorn_cpu.solve_scores(Z, W.reshape(-1), G.reshape(-1), wbase, reg_base, nk, img_ptr,
                                               attr_base, ln, eps, tol, max_iter, n_rows=n_rows_all[s:e],
                                               KZ=np.exp(Z) if f64 else None)
        sc = np.where(ln == 0, -np.inf, sc)
        rows_i = np.repeat(np.arange(b), per) + s
        scores.numpy()[rows_i, cls] = sc
        n_iter.numpy()[rows_i, cls] = it

    starts_list = range(0, B, step)
    with _single_threaded_blas():
        if workers == 1 or len(starts_list) == 1:
            for s in starts_list:
                one_chunk(s)
            return
        for f in [_pool(workers).submit(one_chunk, s) for s in starts_list]:
            f.result()


#: The last call's (attribute tensor, version, constants, order, operands): a re-score calls with the
#: same tensor for every chunk of images. One tuple, replaced whole, so concurrent callers never mix
#: one call's key with another's operands; it holds the tensor, so its memory cannot be reused.
_OPERANDS: list = [None]


def _attribute_operands(Tt: torch.Tensor, T_np: np.ndarray, order: np.ndarray, alpha: float, eps: float, dt):
    """(alpha/eps) T and its transpose for the matmul, and (1-alpha) T for the global part, rows in
    class order; built once per re-score (same tensor object, same in-place version, same order
    and constants), not once per chunk."""
    try:
        version = Tt._version
    except RuntimeError:  # an inference-mode tensor has no version counter: do not reuse
        version = None
    consts = (version, alpha, eps, np.dtype(dt).str)
    entry = _OPERANDS[0]
    if version is not None and entry is not None and entry[0] is Tt and entry[1] == consts \
            and np.array_equal(entry[2], order):
        return entry[3]
    Tz = (T_np[order] * (alpha / eps)).astype(dt)  # [A, D]: the matmul yields Z/eps directly
    ops = (Tz, np.ascontiguousarray(Tz.T), (T_np[order] * (1.0 - alpha)).astype(dt))  # last: (1-alpha) <p_0, t_j>
    _OPERANDS[0] = (Tt, consts, order.copy(), ops)
    return ops


_POOL: list = [None, 0]
_POOL_LOCK = threading.Lock()
_BLAS: list = []


def _pool(workers: int) -> ThreadPoolExecutor:
    """One long-lived worker per core for the CPU path (threads are not re-made per call)."""
    with _POOL_LOCK:
        if _POOL[0] is None or _POOL[1] != workers:  # first use, or the thread setting changed
            if _POOL[0] is not None:
                _POOL[0].shutdown(wait=False)  # queued work still runs; its threads then end
            _POOL[0] = ThreadPoolExecutor(workers, thread_name_prefix="lazsl")
            _POOL[1] = workers
        return _POOL[0]


def _single_threaded_blas():
    """While the CPU path runs: numpy's BLAS computes in the calling thread (each core already has
    its own chunk; BLAS's own threads would spin against the other core's chunk, and waking them
    costs more than a small call's matmul)."""
    with _POOL_LOCK:
        if not _BLAS:
            try:
                from threadpoolctl import ThreadpoolController

                _BLAS.append(ThreadpoolController())  # scanning loaded libraries takes ms: once
            except ImportError:  # without it BLAS threads just oversubscribe a little
                _BLAS.append(None)
    ctl = _BLAS[0]
    return contextlib.nullcontext() if ctl is None else ctl.limit(limits=1, user_api="blas")
