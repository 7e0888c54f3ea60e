"""Per-attribute terms of the LaZSL score, for every (image, attribute) pair, batched.

The LaZSL score of class c on an image is sum_ij T_ij S_ij over its regions i and attributes j
(docs/architecture.md, "The LaZSL score"). Its term for attribute j is phi_j = sum_i T_ij S_ij, the
attribute's transport-weighted similarity times its mass (1/M at convergence), so the class score
is exactly the sum of its attributes' terms. A learned score w·phi + b keeps that form.

The plans are the faithful (per-problem stopping) or converged plans of `engine.alignment`; the
terms of one class depend only on that class's attributes, so any subset of classes can be asked
for. For dclip the term is <p_0, t_j> / M (the class score is the mean).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from engine import alignment as al
from engine.learn import terms_cpu
from engine.types import EngineConfig

#: Elements of the [images, classes, regions, attributes] plan tensor per chunk (torch path).
CHUNK_ELEMENTS = 4_000_000
#: [kept regions x attributes] elements per chunk of images (numba path).
NUMBA_CHUNK_ELEMENTS = 8_000_000


def class_columns(attr_class: torch.Tensor, classes: Sequence[int]) -> torch.Tensor:
    """The attribute rows (columns of the term matrix) owned by `classes`, in row order."""
    want = torch.zeros(int(attr_class.max()) + 1 if attr_class.numel() else 0, dtype=torch.bool)
    want[torch.as_tensor(list(classes), dtype=torch.long)] = True
    return torch.nonzero(want[attr_class]).flatten()


def attribute_terms(
    global_feats: torch.Tensor,
    region_feats: torch.Tensor,
    attr_feats: torch.Tensor,
    attr_class: torch.Tensor,
    config: EngineConfig,
    *,
    classes: Sequence[int] | None = None,
    region_mask: torch.Tensor | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """phi [B, A]: each attribute row's term of its class's score (0 in columns of classes not asked for).

    `classes`: class indices to compute (default: every class owning a row). The terms of one class
    sum to its `lazsl_scores` score (to float rounding), or to its dclip score for ``method="dclip"``.
    `backend`: ``auto`` (the numba kernel for faithful transport on CPU when numba is installed,
    else torch) or ``torch``.
    """
    return attribute_terms_best(global_feats, region_feats, attr_feats, attr_class, config, classes=classes,
                                region_mask=region_mask, backend=backend)[0]


def attribute_terms_best(
    global_feats: torch.Tensor,
    region_feats: torch.Tensor,
    attr_feats: torch.Tensor,
    attr_class: torch.Tensor,
    config: EngineConfig,
    *,
    classes: Sequence[int] | None = None,
    region_mask: torch.Tensor | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """(phi, best) [B, A]: the terms of `attribute_terms` and each attribute's best single-region
    similarity max_i <r_i, t_j> over the image's valid regions, the number the evidence's presence
    is calibrated on (`engine.explain`); <p_0, t_j> where an image has no region, or for dclip. Both
    0 in columns of classes not asked for. The learner weighs presence: a part either is in some
    region or not, which the transport-averaged term blurs (docs/architecture.md, "Learning from
    decisions")."""
    attr_class = attr_class.long()
    B = global_feats.shape[0]
    A = attr_feats.shape[0]
    C = int(attr_class.max()) + 1 if A else 0
    out = torch.zeros(B, A, dtype=torch.float32)
    best = torch.zeros(B, A, dtype=torch.float32)
    want = list(range(C)) if classes is None else sorted({int(c) for c in classes})
    if not B or not A or not want:
        return out, best
    g = global_feats.float()
    T = attr_feats.float().to(g.device)
    counts = torch.bincount(attr_class, minlength=C).float()
    if config.method == "dclip":
        cols = class_columns(attr_class, want)
        sims = g @ T[cols].T
        out[:, cols] = (sims / counts[attr_class[cols]]).cpu()
        best[:, cols] = sims.cpu()
        return out, best
    if config.method != "lazsl":
        raise ValueError(f"attribute terms need an attribute method (lazsl or dclip), not {config.method!r}")
    R = region_feats.float().to(g.device)
    kept, a = al.region_weights(g, R, config.gamma, region_mask)
    if config.ot_mode == "faithful" and g.device.type == "cpu" and terms_cpu.AVAILABLE and backend != "torch":
        _terms_numba(g, R, T, attr_class, kept, al._valid_rows(R, region_mask), want, config, out)
    else:
        _terms_torch(g, R, T, attr_class, kept, a, region_mask, want, config, out)
    _best_regions(R, T, attr_class, region_mask, want, best)
    no_region = ~kept.any(1)
    if bool(no_region.any()):  # no valid region: the score falls back to dclip, and so do its terms
        cols = class_columns(attr_class, want)
        rows_nr = torch.nonzero(no_region).flatten()
        sims = g[rows_nr] @ T[cols].T
        out[rows_nr.unsqueeze(1).cpu(), cols.unsqueeze(0)] = (sims / counts[attr_class[cols]]).cpu()
        best[rows_nr.unsqueeze(1).cpu(), cols.unsqueeze(0)] = sims.cpu()
    return out, best


def _best_regions(R: torch.Tensor, T: torch.Tensor, attr_class: torch.Tensor, region_mask: torch.Tensor | None,
                  want: list[int], best: torch.Tensor) -> None:
    """Best valid-region similarity per attribute column, images in chunks (-inf where an image
    has no valid region: the caller's dclip fallback overwrites those rows)."""
    cols = class_columns(attr_class, want).to(R.device)
    Tw = T[cols]
    step = max(1, CHUNK_ELEMENTS // max(1, R.shape[1] * len(cols)))
    for s in range(0, R.shape[0], step):
        e = min(R.shape[0], s + step)
        sims = R[s:e] @ Tw.T  # [b, N, cols]
        if region_mask is not None:
            sims = sims.masked_fill(~region_mask[s:e].to(R.device).bool().unsqueeze(-1), float("-inf"))
        best[s:e, cols.cpu()] = sims.amax(1).float().cpu()


def _terms_numba(g: torch.Tensor, R: torch.Tensor, T: torch.Tensor, attr_class: torch.Tensor, kept: torch.Tensor,
                 n_rows: torch.Tensor, want: list[int], config: EngineConfig, out: torch.Tensor) -> None:
    """The CPU kernel (`terms_cpu`), images in chunks bounded by NUMBA_CHUNK_ELEMENTS."""
    cols = class_columns(attr_class, want)
    counts = torch.bincount(attr_class[cols], minlength=int(attr_class.max()) + 1)[want]
    cls_ptr = np.concatenate([[0], np.cumsum(counts.numpy())])
    Tw = T[cols].numpy()
    f64 = 2.0 / config.eps > 80.0  # exp(Z/eps) must not underflow float32 (as in engine.alignment)
    dt = np.float64 if f64 else np.float32
    Tz = (Tw * (config.alpha / config.eps)).astype(dt)
    Tg = (Tw * (1.0 - config.alpha)).astype(np.float64)
    kept_np = kept.numpy()
    nk = kept_np.sum(1)
    B = g.shape[0]
    per_image = max(1.0, float(nk.mean())) * len(cols)
    step = max(1, int(NUMBA_CHUNK_ELEMENTS // per_image))
    R_np, g_np, rows_np = R.numpy(), g.numpy().astype(np.float64), n_rows.numpy()
    cols_np = cols.numpy()
    for s in range(0, B, step):
        e = min(B, s + step)
        Q = R_np[s:e][kept_np[s:e]].astype(dt, copy=False)
        ZE = Q @ Tz.T
        KZ = np.exp(ZE)
        G = g_np[s:e] @ Tg.T
        colw = np.exp((G - 1.0) / config.eps)
        reg_ptr = np.concatenate([[0], np.cumsum(nk[s:e])])
        terms = terms_cpu.solve_terms(KZ, ZE, colw, G, reg_ptr, rows_np[s:e], cls_ptr, config.eps, config.tol,
                                      config.max_iter)
        out[s:e, cols_np] = torch.from_numpy(terms.astype(np.float32))


def _terms_torch(g: torch.Tensor, R: torch.Tensor, T: torch.Tensor, attr_class: torch.Tensor, kept: torch.Tensor,
                 a: torch.Tensor, region_mask: torch.Tensor | None, want: list[int], config: EngineConfig,
                 out: torch.Tensor) -> None:
    """The batched torch solvers of `engine.alignment` (faithful or converged), plans then terms."""
    C = int(attr_class.max()) + 1
    B = g.shape[0]
    rows = al._class_rows(attr_class, C)
    pad = al._padded_rows(rows).to(g.device)
    solver = al.OT_SOLVERS[config.ot_mode]
    n_rows = al._valid_rows(R, region_mask)
    which_all = torch.as_tensor(want, dtype=torch.long, device=g.device)
    N = R.shape[1]
    per_image = max(1, N * len(want) * pad.shape[1])
    step = max(1, CHUNK_ELEMENTS // per_image)
    for s in range(0, B, step):
        e = min(B, s + step)
        which = which_all.expand(e - s, -1)
        S, colmask, bm, idx = al._gather_problems(g[s:e], R[s:e], T, pad, which, config.alpha)
        _, plan, _ = solver(S, a[s:e].unsqueeze(1), bm, kept[s:e].unsqueeze(1), colmask, want_plan=True,
                            eps=config.eps, tol=config.tol, max_iter=config.max_iter,
                            n_rows=n_rows[s:e].unsqueeze(1))
        assert plan is not None  # want_plan=True
        plan = torch.nan_to_num(plan, nan=0.0) * kept[s:e, None, :, None] * colmask.unsqueeze(2)
        phi = (plan * S).sum(2)  # [b, k, Mmax]
        flat_idx = idx.reshape(e - s, -1)
        valid = flat_idx >= 0
        rr = torch.arange(e - s, device=g.device).unsqueeze(1).expand_as(flat_idx)[valid]
        out[s + rr.cpu(), flat_idx[valid].cpu()] = phi.reshape(e - s, -1)[valid].float().cpu()


def class_sums(terms: torch.Tensor, attr_class: torch.Tensor, n_classes: int) -> torch.Tensor:
    """[B, C]: the terms summed per class (the score the terms add up to)."""
    out = torch.zeros(terms.shape[0], n_classes, dtype=terms.dtype)
    return out.index_add_(1, attr_class.long(), terms)


def cached_terms(
    model: object,
    cache: object,
    hashes: Sequence[str],
    classes: Sequence[object],
    config: EngineConfig,
    *,
    term_classes: Sequence[int] | None = None,
    chunk: int = 256,
    check: object = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(terms [n, A], attribute class [A]) of cached images against `classes`, only the columns of
    `term_classes` filled (default all). Reads the feature cache, never an image; the texts come
    from the model's text cache; `config` is calibrated for the model as scoring does."""
    terms, _best, owner = cached_terms_best(model, cache, hashes, classes, config, term_classes=term_classes,
                                            chunk=chunk, check=check)
    return terms, owner


def cached_terms_best(
    model: object,
    cache: object,
    hashes: Sequence[str],
    classes: Sequence[object],
    config: EngineConfig,
    *,
    term_classes: Sequence[int] | None = None,
    chunk: int = 256,
    check: object = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(terms [n, A], best-region similarity [n, A], attribute class [A]): `cached_terms` plus the
    presence cue of `attribute_terms_best`."""
    from engine.calibration import calibrated
    from engine.pipeline import text_bank

    cfg = calibrated(config, model)
    texts = text_bank(model, classes, cfg)  # type: ignore[arg-type]
    owner = texts.owner.long()
    out = torch.zeros(len(hashes), len(owner), dtype=torch.float32)
    best = torch.zeros(len(hashes), len(owner), dtype=torch.float32)
    want = list(range(len(classes))) if term_classes is None else list(term_classes)
    if not want:
        return out, best, owner
    hashes = list(hashes)
    for s in range(0, len(hashes), chunk):
        if callable(check):
            check()
        g, r, _b, mask = cache.get(hashes[s:s + chunk], with_mask=True)  # type: ignore[attr-defined]
        mask = None if bool(mask.all()) else mask
        out[s:s + len(g)], best[s:s + len(g)] = attribute_terms_best(g, r, texts.feats, owner, cfg, classes=want,
                                                                      region_mask=mask)
    return out, best, owner
