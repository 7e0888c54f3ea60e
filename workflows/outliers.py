"""Outliers: images unlike the rest of the dataset (and so unlike any class it holds).

The mean cosine distance of an image's cached global feature to its k nearest images, flagged by
cleanlab Datalab's rule for feature outliers (above Q3 + (1/t - 1) IQR of every image's mean
distance, t = 0.37037) and scored as Datalab scores them (exp(-distance / median distance); lower
is more unusual). The best class's zero-shot score was measured as a second signal and dropped:
noise and gradient images planted in the demo world score like ordinary scenes
(scripts/bench_audit.py plants). The stored list is the most unusual images, flagged or not, so a
small dataset where the rule flags nothing still shows its strangest images first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workflows.neighbours import CachedFeatures, NeighbourPass

K_NEIGHBOURS = 10
#: Datalab's default for feature outliers (OutlierIssueManager.DEFAULT_THRESHOLDS["features"])
IQR_THRESHOLD = 0.37037
MIN_LISTED = 20  # the list holds every flagged image and at least this many (or 1%) of the most unusual
LISTED_FRACTION = 0.01


@dataclass(frozen=True)
class Outlier:
    image_id: int
    score: float  # in (0, 1]; lower = more unusual (cleanlab's outlier-score convention)
    mean_distance: float  # to the k nearest images
    flagged: bool

    def to_json(self) -> dict[str, Any]:
        return {"image_id": self.image_id, "score": self.score, "mean_distance": self.mean_distance,
                "flagged": self.flagged}


def outlier_scores(
    knn_sims: np.ndarray, threshold: float = IQR_THRESHOLD
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mean distance, score, flagged) per row of k-nearest similarities, and the distance threshold."""
    dist = 1.0 - knn_sims.astype(np.float64).mean(axis=1)
    q1, q3 = np.percentile(dist, [25, 75])
    d_thr = float(q3 + (1.0 / threshold - 1.0) * (q3 - q1))
    score = np.exp(-dist / max(float(np.median(dist)), 1e-12))
    return dist, score, dist > d_thr, d_thr


def find_outliers(feats: CachedFeatures, npass: NeighbourPass, *, k: int = K_NEIGHBOURS) -> tuple[list[Outlier], dict[str, float]]:
    """The most unusual images (every flagged one, and at least the top MIN_LISTED or 1%), most
    unusual first, and the distance threshold used."""
    n = len(feats.image_ids)
    k = min(k, npass.knn_sims.shape[1] if npass.knn_sims.ndim == 2 else 0)
    if n < 3 or k == 0:
        return [], {}
    dist, score, flagged, d_thr = outlier_scores(npass.knn_sims[:, :k])
    order = np.lexsort((np.asarray(feats.image_ids), score))
    listed = max(int(flagged.sum()), MIN_LISTED, int(np.ceil(LISTED_FRACTION * n)))
    out = [
        Outlier(int(feats.image_ids[r]), round(float(score[r]), 6), round(float(dist[r]), 6), bool(flagged[r]))
        for r in order[:listed].tolist()
    ]
    return out, {"mean_distance": d_thr}
