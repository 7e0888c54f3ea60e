"""Per-image feature cache on disk: p_0, p_1..p_N (fp16) and boxes, per (model id, view config)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import torch


class FeatureCache:
    """Append-only chunked store under ``root/<model_id>/<view_key>/``.

    Shards are plain .npy files written aside and renamed (atomic); a small index maps content
    hash → (shard, row). A kill mid-write leaves at most an orphan temp file, never a torn entry.
    """

    def __init__(self, root: Path, model_id: str, view_key: str) -> None:
        raise NotImplementedError

    def has(self, content_hash: str) -> bool:
        raise NotImplementedError

    def missing(self, hashes: Iterable[str]) -> list[str]:
        raise NotImplementedError

    def put_batch(self, hashes: Sequence[str], global_feats: torch.Tensor, region_feats: torch.Tensor,
                  boxes: torch.Tensor) -> None:
        raise NotImplementedError

    def get(self, hashes: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError
