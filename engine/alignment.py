"""LaZSL region–attribute alignment by entropic optimal transport, batched over images × classes.

The math is DESIGN.md's, constant for constant; `faithful` mode reproduces the published
per-(image, class) stopping rule, `converged` runs POT's batched log-domain Sinkhorn to
convergence. Also the `clip` and `dclip` baselines.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class AlignmentResult:
    """Scores for every (image, class) and, optionally, the plans of the asked-for classes.

    ``scores`` [B,C] (float32, never NaN; classes not scored under pre-filtering are -inf).
    ``plans`` [B,k,N,Mmax] transport plans in original region order (masked regions have zero mass);
    ``plan_classes`` [B,k] the class of each plan; ``attr_index`` [B,k,Mmax] the attribute row
    (into attr_feats) of each plan column, -1 for padding; ``sims`` [B,k,N,Mmax] the S matrix of each
    plan; ``region_weights`` [B,N] the marginal a (0 for dropped regions); ``n_iter`` [B,C] Sinkhorn
    iterations used by each problem (-1 where not solved).
    """

    scores: torch.Tensor
    plans: torch.Tensor | None = None
    plan_classes: torch.Tensor | None = None
    attr_index: torch.Tensor | None = None
    sims: torch.Tensor | None = None
    region_weights: torch.Tensor | None = None
    n_iter: torch.Tensor | None = None


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
) -> AlignmentResult:
    """LaZSL class scores for B images against C classes (see module docstring)."""
    raise NotImplementedError


def clip_scores(global_feats: torch.Tensor, class_text_feats: torch.Tensor,
                text_class: torch.Tensor | None = None, n_classes: int | None = None) -> torch.Tensor:
    """CLIP baseline: cosine of the global view with each class prompt (template-ensembled if `text_class`)."""
    raise NotImplementedError


def dclip_scores(global_feats: torch.Tensor, attr_feats: torch.Tensor, attr_class: torch.Tensor,
                 n_classes: int | None = None) -> torch.Tensor:
    """DCLIP baseline: mean over a class's descriptors of <p_0, t_j>; [B,C]."""
    raise NotImplementedError
