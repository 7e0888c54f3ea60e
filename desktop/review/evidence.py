"""Typed view of one explanation (the JSON the engine stores) and the heat-map maths over it.

No Qt here, so the numbers the overlay draws can be checked on their own. The JSON shape is the
one `Project.explanations` / `workflows.review.explain_image` return:
`{class_name, class_index, score, image_size: [W, H], attributes: [{index, text, share, mass,
similarity, regions: [{box: [x0, y0, x1, y1], mass, similarity}]}]}` (boxes in original pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Region:
    box: tuple[float, float, float, float]
    mass: float
    similarity: float = 0.0


@dataclass(frozen=True)
class AttributeEvidence:
    index: int
    text: str
    share: float
    mass: float
    similarity: float
    regions: tuple[Region, ...] = ()


@dataclass(frozen=True)
class Evidence:
    class_id: int | None
    class_name: str
    score: float
    image_size: tuple[int, int]
    attributes: tuple[AttributeEvidence, ...] = field(default_factory=tuple)

    @property
    def max_region_mass(self) -> float:
        masses = [r.mass for a in self.attributes for r in a.regions]
        return max(masses) if masses else 0.0

    def share_of(self, text: str) -> float | None:
        """Share of the attribute with this text, or None when the class has no such attribute."""
        for a in self.attributes:
            if a.text == text:
                return a.share
        return None


def _float(value: Any, default: float = 0.0) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if np.isfinite(out) else default


def parse_evidence(data: dict[str, Any] | None, class_id: int | None = None) -> Evidence | None:
    """Read the stored JSON defensively: a malformed row shows as 'no evidence', never a crash."""
    if not isinstance(data, dict):
        return None
    size = data.get("image_size") or [0, 0]
    try:
        w, h = int(size[0]), int(size[1])
    except (TypeError, ValueError, IndexError):
        w, h = 0, 0
    attributes = []
    for pos, raw in enumerate(data.get("attributes") or []):
        if not isinstance(raw, dict):
            continue
        regions = []
        for reg in raw.get("regions") or []:
            box = reg.get("box") if isinstance(reg, dict) else None
            if not isinstance(box, (list, tuple)) or len(box) != 4:
                continue
            x0, y0, x1, y1 = (_float(v) for v in box)
            regions.append(
                Region((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)),
                       _float(reg.get("mass")), _float(reg.get("similarity")))
            )
        attributes.append(
            AttributeEvidence(
                index=int(raw.get("index", pos)),
                text=str(raw.get("text", "")),
                share=_float(raw.get("share")),
                mass=_float(raw.get("mass")),
                similarity=_float(raw.get("similarity")),
                regions=tuple(regions),
            )
        )
    return Evidence(
        class_id=class_id if class_id is not None else data.get("class_id"),
        class_name=str(data.get("class_name", "")),
        score=_float(data.get("score")),
        image_size=(w, h),
        attributes=tuple(attributes),
    )


def heat_maps(evidence: Evidence, out_w: int, out_h: int, only: int | None = None) -> np.ndarray:
    """Mass accumulated over each attribute's region boxes, as `[A, out_h, out_w]` float32.

    Batched: every box adds its mass to a 2-D difference array at its four corners (one
    `np.add.at` for all boxes), then two cumulative sums turn corners into filled rectangles.
    `only` keeps one attribute (by position) and zeroes the rest.
    """
    n_attr = len(evidence.attributes)
    heat = np.zeros((max(n_attr, 1), out_h + 1, out_w + 1), dtype=np.float64)
    w, h = evidence.image_size
    rows = [
        (a_pos, *r.box, r.mass)
        for a_pos, a in enumerate(evidence.attributes)
        if only is None or a_pos == only
        for r in a.regions
    ]
    if not rows or w <= 0 or h <= 0:
        return heat[:n_attr, :out_h, :out_w].astype(np.float32)
    arr = np.asarray(rows, dtype=np.float64)
    a_idx = arr[:, 0].astype(np.int64)
    sx, sy = out_w / w, out_h / h
    x0 = np.clip(np.floor(arr[:, 1] * sx), 0, out_w).astype(np.int64)
    y0 = np.clip(np.floor(arr[:, 2] * sy), 0, out_h).astype(np.int64)
    x1 = np.clip(np.ceil(arr[:, 3] * sx), 0, out_w).astype(np.int64)
    y1 = np.clip(np.ceil(arr[:, 4] * sy), 0, out_h).astype(np.int64)
    mass = arr[:, 5]
    np.add.at(heat, (a_idx, y0, x0), mass)
    np.add.at(heat, (a_idx, y0, x1), -mass)
    np.add.at(heat, (a_idx, y1, x0), -mass)
    np.add.at(heat, (a_idx, y1, x1), mass)
    heat = heat.cumsum(axis=1).cumsum(axis=2)
    return heat[:n_attr, :out_h, :out_w].astype(np.float32)


def heat_rgba(heat: np.ndarray, colours: np.ndarray, max_alpha: int = 170) -> np.ndarray:
    """Blend per-attribute heat `[A, H, W]` into one RGBA image `[H, W, 4]` (uint8).

    Colour is the mass-weighted mean of the attribute colours (`colours`: `[A, 3]`), opacity
    follows the total mass relative to its maximum, so where no attribute has mass the photo
    shows through.
    """
    if heat.size == 0:
        return np.zeros((heat.shape[-2], heat.shape[-1], 4), dtype=np.uint8)
    heat = np.clip(heat, 0.0, None)
    total = heat.sum(axis=0)
    peak = float(total.max())
    out = np.zeros((*total.shape, 4), dtype=np.uint8)
    if peak <= 0:
        return out
    weights = heat / np.maximum(total, 1e-12)[None]
    rgb = np.einsum("ahw,ac->hwc", weights, colours.astype(np.float64))
    out[..., :3] = np.clip(rgb, 0, 255).astype(np.uint8)
    out[..., 3] = np.clip(total / peak * max_alpha, 0, 255).astype(np.uint8)
    return out
