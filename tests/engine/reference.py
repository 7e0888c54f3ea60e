"""A deliberately plain implementation of the LaZSL math in docs/architecture.md ("The LaZSL score"):
one image, one class at a time, Python loops, float64, no batching tricks. The batched engine must agree with it."""

from __future__ import annotations

import torch


def plain_sinkhorn(K, a, b, tol=1e-2, max_iter=100):
    """The published loop, verbatim in spirit: r = a/(Kc); c = b/(K^T r); stop on mean|r - r_prev| < tol."""
    r = torch.ones(K.shape[0], dtype=K.dtype)
    c = torch.ones(K.shape[1], dtype=K.dtype)
    n = 0
    for _ in range(max_iter):
        r_prev = r
        r = a / (K @ c)
        c = b / (K.T @ r)
        n += 1
        if (r - r_prev).abs().mean() < tol:
            break
    return r, c, n


def plain_one(p0, regions, attrs, alpha=0.8, eps=0.1, gamma=0.0, tol=1e-2, max_iter=100):
    """Score of one image (p0 [D], regions [N,D]) against one class (attrs [M,D]); returns (score, T, kept)."""
    p0, regions, attrs = p0.double(), regions.double(), attrs.double()
    g = regions @ p0
    kept = g >= g.mean() + gamma
    # Every region keeps its row, dropped ones with a_i = 0 (docs/architecture.md, "The LaZSL score", and the published code):
    # their r is 0 after the first iteration but they count in the stopping mean.
    P = regions
    m = attrs.shape[0]
    a = kept.double() / kept.sum()
    b = torch.full((m,), 1.0 / m, dtype=torch.float64)
    S = alpha * (P @ attrs.T) + (1 - alpha) * (p0 @ attrs.T)[None, :]
    K = torch.exp(-(1 - S) / eps)
    r, c, it = plain_sinkhorn(K, a, b, tol, max_iter)
    T = r[:, None] * K * c[None, :]
    return float((T * S).sum()), T, kept, it


def plain_scores(global_feats, region_feats, attr_feats, attr_class, n_classes, **kw):
    """[B,C] scores by looping over images and classes."""
    B = global_feats.shape[0]
    out = torch.zeros(B, n_classes, dtype=torch.float64)
    for i in range(B):
        for c in range(n_classes):
            rows = (attr_class == c).nonzero().flatten()
            out[i, c] = plain_one(global_feats[i], region_feats[i], attr_feats[rows], **kw)[0]
    return out
