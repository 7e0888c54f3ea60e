"""Best-region similarity of every attribute text over cached images: what presence is calibrated on.

Read in chunks from the feature cache (never re-encodes); padded regions never count.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from engine.cache import FeatureCache

#: images per chunk: bounds the [chunk, N, A] similarity block
PRESENCE_CHUNK = 128


def best_region_similarity(cache: FeatureCache, hashes: Sequence[str], text_feats: torch.Tensor,
                           chunk: int = PRESENCE_CHUNK) -> torch.Tensor:
    """[n, A]: for each image and text row, the highest region.text cosine over its real regions."""
    T = text_feats.float().cpu()
    out = []
    for s in range(0, len(hashes), chunk):
        _g, r, _b, mask = cache.get(list(hashes[s:s + chunk]), with_mask=True)
        sims = torch.einsum("bnd,ad->bna", r.float(), T)
        out.append(sims.masked_fill(~mask[..., None], float("-inf")).amax(1))
    return torch.cat(out) if out else torch.zeros(0, T.shape[0])


def mean_and_spread(best: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per text row: mean and standard deviation over images (spread floored for a constant row)."""
    if best.shape[0] == 0:
        return torch.zeros(best.shape[1]), torch.ones(best.shape[1])
    std = best.std(0, unbiased=False) if best.shape[0] > 1 else torch.ones(best.shape[1])
    return best.mean(0), std.clamp_min(1e-4)
