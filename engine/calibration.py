"""Per-model cost-scale calibration: the LaZSL constants on models trained with a sigmoid loss.

What the published constants assume. LaZSL's kernel is K = exp(-(1 - S)/eps) with eps = 0.1, on
S = 0.8 <region, attribute> + 0.2 <global, attribute> (engine/alignment.py). Two facts decide how
that carries over to another model:

* Only the *spread* of S matters to the plan, not its level: adding a constant to S multiplies K
  by a constant, which Sinkhorn's scalings absorb; the global term 0.2 <p_0, t_j> is constant down
  each column, so it is absorbed by the column scaling too and only moves the score (by 0.2 ×
  the dclip score). SigLIP's cosines sitting near 0 rather than near 0.25 therefore changes
  nothing by itself, and the 0.8/0.2 mix is a mix of two cosines of the same model, so it keeps
  its meaning under any rescaling of the cosine: it needs no change.
* eps sets how sharply the plan prefers better region–attribute pairs, in units of cosine. OpenAI
  CLIP was trained with logit = 100 × cosine (softmax), so eps = 0.1 is a temperature of 10 logit
  units: exp(S / eps) = exp(logit / 10). A model trained with another logit scale t (SigLIP learns
  t ≈ 110–120 plus a bias b, sigmoid loss) needs eps' = eps × 100 / t for the plan to have that same
  sharpness in its own logit units. The bias is a constant shift of every logit: absorbed as above.

So the calibration multiplies eps by 100 / t for sigmoid models (the ones with a ``logit_bias``)
and leaves softmax models alone: on OpenAI CLIP the config object passes through untouched and
faithful mode stays bit-for-bit the published computation. ``EngineConfig.extra["cost_scale"]``:
``"auto"`` (default, the rule above), ``"off"`` (the constants as published), or a number (the
factor on eps, for experiments).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from engine.types import EngineConfig

#: exp(logit_scale) of OpenAI CLIP, the model the published eps = 0.1 was tuned on.
REFERENCE_LOGIT_SCALE = 100.0
#: Bounds on the factor, so an untrained (random-init) tower cannot make the plan uniform or a spike.
MIN_FACTOR, MAX_FACTOR = 0.1, 10.0


def is_sigmoid_model(model: Any) -> bool:
    """Trained with a sigmoid (SigLIP-style) loss: open_clip gives those models a logit bias."""
    return getattr(model, "logit_bias", None) is not None


def cost_scale(model: Any) -> float:
    """The factor on eps for this model: 1 for softmax models, 100 / exp(logit_scale) for sigmoid ones."""
    t = getattr(model, "logit_scale", None)
    if not is_sigmoid_model(model) or t is None or not math.isfinite(t) or t <= 0:
        return 1.0
    return float(min(MAX_FACTOR, max(MIN_FACTOR, REFERENCE_LOGIT_SCALE / t)))


def calibrated(config: EngineConfig, model: Any) -> EngineConfig:
    """`config` with eps scaled for `model` (the same object when nothing changes)."""
    mode = config.extra.get("cost_scale", "auto") if config.extra else "auto"
    if mode == "off":
        return config
    if mode == "auto":
        factor = cost_scale(model)
    else:
        try:
            factor = float(mode)
        except (TypeError, ValueError):
            raise ValueError(f"cost_scale must be 'auto', 'off' or a number, not {mode!r}") from None
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f"cost_scale must be a positive number, not {mode!r}")
    if factor == 1.0:
        return config
    return dataclasses.replace(config, eps=config.eps * factor)


def similarity_spread(global_feats: torch.Tensor, region_feats: torch.Tensor, attr_feats: torch.Tensor,
                      alpha: float = 0.8) -> dict[str, float]:
    """Statistics of S over a sample of cached features (diagnostics for `models` reports): mean,
    the spread within an image (mean over images of the std of S), and that spread over eps = 0.1."""
    g = global_feats.float()
    r = region_feats.float()
    t = attr_feats.float()
    S = alpha * torch.einsum("bnd,ad->bna", r, t) + (1 - alpha) * (g @ t.T).unsqueeze(1)
    within = S.flatten(1).std(dim=1).mean()
    return {"mean": float(S.mean()), "within_image_std": float(within), "std_over_eps": float(within / 0.1)}


def plan_entropy(plans: torch.Tensor) -> torch.Tensor:
    """Normalised entropy of each transport plan [..., N, M] in [0, 1]: 1 = uniform over its
    support cells, 0 = all mass on one cell (a degenerate plan). Zero plans give 0."""
    p = plans.float().flatten(-2)
    total = p.sum(-1, keepdim=True)
    q = p / total.clamp_min(1e-30)
    h = -(q * q.clamp_min(1e-30).log()).sum(-1)
    cells = (p > 0).sum(-1).clamp_min(2).float()
    return torch.where(total.squeeze(-1) > 0, h / cells.log(), torch.zeros_like(h))
