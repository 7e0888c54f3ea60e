"""Encode images into the feature cache and score from it; the use-case layer drives these."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.cache import FeatureCache
from engine.explain import ClassExplanation
from engine.models import ClipModel
from engine.types import ClassSpec, EngineConfig, ViewConfig


@dataclass(frozen=True)
class ImageItem:
    """An image to process: `key` is the caller's id (e.g. the db image id), echoed in events."""

    key: Any
    path: Path
    content_hash: str


@dataclass
class EncodeEvent:
    """One step of `encode_images`: a batch encoded/cached (`encoded`), images that failed
    (`errors`: key → reason), images already cached (`cached`), and running counts."""

    encoded: list[Any] = field(default_factory=list)
    cached: list[Any] = field(default_factory=list)
    errors: dict[Any, str] = field(default_factory=dict)
    image_sizes: dict[Any, tuple[int, int]] = field(default_factory=dict)
    done: int = 0
    total: int = 0


@dataclass
class ScoreResult:
    """Top-k predictions for a batch of cached images (rows follow the `hashes` order)."""

    topk_idx: torch.Tensor
    topk_scores: torch.Tensor
    margin: torch.Tensor
    explanations: list[list[ClassExplanation]]
    all_scores: torch.Tensor | None = None


@dataclass
class BatchResult:
    """`prelabel` output for one batch: which items were scored, with results, and which failed."""

    items: list[ImageItem]
    result: ScoreResult | None
    errors: dict[Any, str] = field(default_factory=dict)
    done: int = 0
    total: int = 0


def encode_images(model: ClipModel, items: Sequence[ImageItem], view_cfg: ViewConfig, cache: FeatureCache,
                  batch_size: int = 32, cancel: Any = None) -> Iterator[EncodeEvent]:
    """Encode every not-yet-cached item's views and store them in `cache`; yields per batch."""
    raise NotImplementedError


def score_cached(model: ClipModel, cache: FeatureCache, hashes: Sequence[str], classes: Sequence[ClassSpec],
                 config: EngineConfig, image_sizes: Sequence[tuple[int, int]] | None = None) -> ScoreResult:
    """Score cached images against classes (never re-encodes images; texts come from the text cache)."""
    raise NotImplementedError


def prelabel(model: ClipModel, items: Sequence[ImageItem], classes: Sequence[ClassSpec], config: EngineConfig,
             view_cfg: ViewConfig, cache: FeatureCache, cancel: Any = None) -> Iterator[BatchResult]:
    """Encode (what the cache lacks) and score, batch by batch."""
    raise NotImplementedError
