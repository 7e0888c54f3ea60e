"""The cached global image features of a project, and one pass over their cosine similarities that
serves both the duplicate check (every pair above a threshold) and the outlier check (each image's
k nearest neighbours). Features are never re-encoded: images without cached features are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from workflows.errors import UserError

PASS_CHUNK = 1024  # query rows per similarity block (1024 x n float32: 40 MB at n = 10,000)


@dataclass
class CachedFeatures:
    """Unit global features [n, D] of the images that have them, and the ones that do not."""

    image_ids: list[int]
    hashes: list[str]
    features: torch.Tensor
    missing: list[int]
    model_id: str
    cache: Any = None  # engine.cache.FeatureCache they came from (regions are read from it on demand)


def feature_cache(project: Any, settings: Any = None) -> Any:
    """The project's feature cache for its model and region mode, found without loading the model."""
    from engine.models import ModelLoadError, resolve_spec
    from workflows.feature_store import open_feature_cache
    from workflows.scoring import view_config
    from workflows.settings import load_settings

    settings = settings or load_settings(project)
    try:
        model_id = resolve_spec(settings.model).model_id
    except ModelLoadError as err:
        raise UserError(str(err)) from err
    return open_feature_cache(project, model_id, view_config(settings).key(), settings)


def cached_features(project: Any, settings: Any = None, image_ids: list[int] | None = None) -> CachedFeatures:
    """Global features of the readable images (or `image_ids`) from the cache, L2-normalised."""
    from db.queries import ImageFilter

    cache = feature_cache(project, settings)
    ids = list(image_ids) if image_ids is not None else project.image_ids(ImageFilter(status="ok"))
    hashes = project.content_hashes(ids)
    known = [i for i in ids if hashes.get(i)]
    absent = set(cache.missing([hashes[i] for i in known]))
    have = [i for i in known if hashes[i] not in absent]
    have_set = set(have)
    missing = [i for i in ids if i not in have_set]
    hs = [hashes[i] for i in have]
    feats = cache.global_features(hs) if hs else torch.zeros(0, 0)
    if len(hs):
        feats = torch.nn.functional.normalize(feats.float(), dim=1)
    return CachedFeatures(have, hs, feats, missing, cache.model_id, cache)


@dataclass
class NeighbourPass:
    """Pairs (i < j, rows of the feature matrix) with similarity >= the threshold, and each row's
    k nearest other rows (similarities, descending; indices)."""

    pairs: np.ndarray  # [m, 2] int64
    pair_sims: np.ndarray  # [m] float32
    knn_sims: np.ndarray  # [n, k] float32
    knn_idx: np.ndarray  # [n, k] int64


def neighbour_pass(features: torch.Tensor, *, threshold: float = 1.1, k: int = 10,
                   chunk: int = PASS_CHUNK) -> NeighbourPass:
    """One blocked matmul over unit features: O(n^2 D) flops, O(chunk * n) memory."""
    n = int(features.shape[0])
    k = max(0, min(k, n - 1))
    f = features.float().contiguous()
    pairs: list[torch.Tensor] = []
    sims: list[torch.Tensor] = []
    knn_s = torch.empty(n, k)
    knn_i = torch.empty(n, k, dtype=torch.long)
    for start in range(0, n, chunk):
        block = f[start : start + chunk] @ f.T  # [b, n]
        b = block.shape[0]
        rows = torch.arange(b)
        block[rows, rows + start] = -2.0  # never its own neighbour
        if k:
            s, i = torch.topk(block, k, dim=1)
            knn_s[start : start + b], knn_i[start : start + b] = s, i
        if threshold <= 1.0:
            hit = torch.nonzero(block >= threshold)
            hit = hit[hit[:, 1] > hit[:, 0] + start]  # each pair once (i < j)
            if len(hit):
                sims.append(block[hit[:, 0], hit[:, 1]])
                hit[:, 0] += start
                pairs.append(hit)
    return NeighbourPass(
        pairs=torch.cat(pairs).numpy() if pairs else np.zeros((0, 2), dtype=np.int64),
        pair_sims=torch.cat(sims).numpy() if sims else np.zeros(0, dtype=np.float32),
        knn_sims=knn_s.numpy(),
        knn_idx=knn_i.numpy(),
    )
