"""Exact and near duplicates among a project's images, from cached features only (never re-encoded).

Two stages, because global features alone cannot tell a crop or a mirror image of a scene from
another scene of the same class (measured on the demo world: scripts/bench_audit.py plants):
1. candidates: each image's `K_CANDIDATES` nearest images by cosine of the global features, kept
   when at least `CANDIDATE_FLOOR`, plus every pair of files with the same content;
2. confirmation: the *aligned region similarity* of a candidate pair: each cached region of one
   image is compared with the region of the other image at the same relative place (largest box
   overlap), as is or mirrored left-right, and the mean cosine of the better of the two is kept.
   Copies, re-encodings, small crops and mirror images keep their regions in place; different
   scenes do not.
Pairs at or above the threshold are linked, and groups are the connected components. A group is
"exact" when all its files have the same content or all its links are at least `EXACT_SIMILARITY`.
`duplicate_groups` is what an export's split uses to keep each group in one split.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from workflows.neighbours import CachedFeatures, NeighbourPass, cached_features, neighbour_pass

#: aligned region similarity at or above which two images are near duplicates. Picked on the demo
#: worlds with planted copies (re-encoded JPEG, 6% crop, mirror image): see the module docstring.
DEFAULT_THRESHOLD = 0.97
EXACT_SIMILARITY = 0.9999  # a lossless re-save; a JPEG re-encode (q70) stays below (bench)
CANDIDATE_FLOOR = 0.90  # global cosine below which a pair is never compared region by region
K_CANDIDATES = 10
PAIR_CHUNK = 256  # candidate pairs per region comparison batch


@dataclass(frozen=True)
class DuplicateGroup:
    """Images (ids, in id order) that are copies of each other; `min_similarity` over its links."""

    image_ids: tuple[int, ...]
    kind: str  # "exact" | "near"
    min_similarity: float

    def to_json(self) -> dict[str, Any]:
        return {"image_ids": list(self.image_ids), "kind": self.kind, "min_similarity": self.min_similarity}


def check_threshold(threshold: float) -> float:
    from workflows.errors import UserError

    try:
        t = float(threshold)
    except (TypeError, ValueError):
        t = float("nan")
    if not 0.0 < t <= 1.0:
        raise UserError(f"duplicate threshold must be a similarity in (0, 1], not {threshold}")
    return t


def candidate_pairs(feats: CachedFeatures, npass: NeighbourPass, floor: float = CANDIDATE_FLOOR) -> np.ndarray:
    """Unique row pairs (i < j): near in global features, or the same file content."""
    n, k = npass.knn_idx.shape if npass.knn_idx.ndim == 2 else (0, 0)
    parts = []
    if n and k:
        rows = np.repeat(np.arange(n), k)
        cols = npass.knn_idx.reshape(-1)
        keep = npass.knn_sims.reshape(-1) >= floor
        a, b = rows[keep], cols[keep]
        parts.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    first: dict[str, int] = {}
    same = []
    for r, h in enumerate(feats.hashes):
        if h in first:
            same.append((first[h], r))
        else:
            first[h] = r
    if same:
        parts.append(np.asarray(same, dtype=np.int64))
    if not parts:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(parts).astype(np.int64)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(pairs, axis=0) if len(pairs) else pairs


def _relative_boxes(boxes: torch.Tensor, sizes: list[tuple[int, int]]) -> torch.Tensor:
    """Boxes [u,N,4] in pixels -> fractions of the image (its recorded size, else the boxes' extent)."""
    wh = torch.tensor(sizes, dtype=torch.float32)
    ext = boxes[..., 2:].amax(dim=1).clamp(min=1.0)
    wh = torch.where(wh > 0, wh, ext)
    return boxes / wh.repeat(1, 2)[:, None, :]


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[P,N,4] x [P,M,4] -> [P,N,M] intersection over union."""
    x0 = torch.maximum(a[..., :, None, 0], b[..., None, :, 0])
    y0 = torch.maximum(a[..., :, None, 1], b[..., None, :, 1])
    x1 = torch.minimum(a[..., :, None, 2], b[..., None, :, 2])
    y1 = torch.minimum(a[..., :, None, 3], b[..., None, :, 3])
    inter = (x1 - x0).clamp(min=0) * (y1 - y0).clamp(min=0)
    area_a = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]))[..., :, None]
    area_b = ((b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]))[..., None, :]
    return inter / (area_a + area_b - inter).clamp(min=1e-9)


def _matches(rel: torch.Tensor, valid: torch.Tensor, combos: np.ndarray, batch: int = 256) -> torch.Tensor:
    """For layout pairs (a, b): [U, 2, N] index of b's region at the place of each region of a,
    as is (0) and mirrored left-right (1). Regions b lacks are never matched."""
    mirrored = rel.clone()
    mirrored[..., 0], mirrored[..., 2] = 1 - rel[..., 2], 1 - rel[..., 0]
    out = torch.empty(len(combos), 2, rel.shape[1], dtype=torch.long)
    for start in range(0, len(combos), batch):
        c = torch.from_numpy(combos[start : start + batch])
        for m, other in enumerate((rel, mirrored)):
            iou = _iou(rel[c[:, 0]], other[c[:, 1]]).masked_fill(~valid[c[:, 1]][:, None, :], -1.0)
            out[start : start + len(c), m] = iou.argmax(dim=2)
    return out


def aligned_similarity(
    feats: CachedFeatures, pairs: np.ndarray, *, budget_bytes: int = 256 << 20, batch: int = 256
) -> np.ndarray:
    """Aligned region similarity of each row pair (see the module docstring); global cosine when
    the cache holds no regions. Regions are read once per block of pairs (a bounded number of
    images, sorted reads); the region matching is computed once per pair of box layouts (the grid
    mode has one layout for every image)."""
    out = np.zeros(len(pairs), dtype=np.float32)
    if not len(pairs):
        return out
    cache = feats.cache
    _g, probe, _b = cache.get([feats.hashes[int(pairs[0, 0])]], dtype=torch.float16)
    n_reg, dim = int(probe.shape[1]), int(probe.shape[2])
    if n_reg == 0:
        f = feats.features
        return (f[pairs[:, 0]] * f[pairs[:, 1]]).sum(-1).numpy()
    row_bytes = 4 * n_reg * dim
    if len(np.unique(pairs)) * row_bytes <= 2 * budget_bytes:
        per_block = len(pairs)  # every image involved fits: read each once
    else:
        per_block = max(32, budget_bytes // row_bytes // 2)  # pairs per block: <= 2 images each
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    for start in range(0, len(order), per_block):
        sel = order[start : start + per_block]
        block = pairs[sel]
        rows, inv = np.unique(block.ravel(), return_inverse=True)
        inv = inv.reshape(-1, 2)
        hs = [feats.hashes[r] for r in rows]
        _g, reg, boxes, mask = cache.get(hs, with_mask=True, dtype=torch.float16)
        reg = torch.nn.functional.normalize(reg.float(), dim=-1)
        rel = _relative_boxes(boxes.float(), cache.sizes(hs))
        key = np.round(rel.numpy(), 2).reshape(len(rows), -1)
        _u, first, layout = np.unique(key, axis=0, return_index=True, return_inverse=True)
        layout = layout.reshape(-1)
        pair_layouts = np.stack([layout[inv[:, 0]], layout[inv[:, 1]]], axis=1)
        combos, combo_of = np.unique(pair_layouts, axis=0, return_inverse=True)
        match = _matches(rel[first], mask[first], combos)  # [U, 2, N] over layout representatives
        combo_of = combo_of.reshape(-1)
        n_valid = mask.sum(1).clamp(min=1).float()
        res = torch.empty(len(block))
        same = pair_layouts[:, 0] == pair_layouts[:, 1]
        if same.any():
            # one layout: regions correspond index by index, mirrored by one permutation per layout;
            # the similarity is a dot product of the flattened region stacks, no per-pair gather
            at = np.searchsorted(combos[:, 0] * (len(first) + 1) + combos[:, 1], layout * (len(first) + 1) + layout)
            perm = match[:, 1][torch.from_numpy(np.minimum(at, len(combos) - 1))]  # rows in no same pair: unused
            flipped = torch.gather(reg, 1, perm[..., None].expand(-1, -1, dim)).reshape(len(rows), -1)
            flat = reg.reshape(len(rows), -1)
            idx = np.flatnonzero(same)
            for b0 in range(0, len(idx), batch * 8):
                pos = idx[b0 : b0 + batch * 8]
                ia, ib = torch.from_numpy(inv[pos, 0]), torch.from_numpy(inv[pos, 1])
                plain = (flat[ia] * flat[ib]).sum(-1)
                mirror = (flat[ia] * flipped[ib]).sum(-1)
                res[torch.from_numpy(pos)] = torch.maximum(plain, mirror) / n_valid[ia]
        other = np.flatnonzero(~same)
        for b0 in range(0, len(other), batch):
            pos = other[b0 : b0 + batch]
            ia, ib = torch.from_numpy(inv[pos, 0]), torch.from_numpy(inv[pos, 1])
            m = match[torch.from_numpy(combo_of[pos])]  # [P, 2, N]
            va = mask[ia]
            best = torch.full((len(pos),), -1.0)
            for k in range(2):
                rb = torch.gather(reg[ib], 1, m[:, k, :, None].expand(-1, -1, dim))
                sim = (reg[ia] * rb).sum(-1).masked_fill(~va, 0.0)
                best = torch.maximum(best, sim.sum(1) / n_valid[ia])
            res[torch.from_numpy(pos)] = best
        out[sel] = res.numpy()
    return out


def group_pairs(feats: CachedFeatures, pairs: np.ndarray, sims: np.ndarray, threshold: float) -> list[DuplicateGroup]:
    """Connected components of the pairs at or above `threshold`, largest group first."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(feats.image_ids)
    keep = sims >= threshold
    pairs, sims = pairs[keep], sims[keep]
    if n == 0 or len(pairs) == 0:
        return []
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    min_sim: dict[int, float] = {}
    for c, s in zip(comp[pairs[:, 0]].tolist(), sims.tolist()):
        min_sim[c] = min(s, min_sim.get(c, 2.0))
    members: dict[int, list[int]] = {}
    for row in np.unique(pairs.ravel()).tolist():
        members.setdefault(int(comp[row]), []).append(row)
    ids, hashes = feats.image_ids, feats.hashes
    out = []
    for c, rows in members.items():
        same_file = len({hashes[r] for r in rows}) == 1
        kind = "exact" if same_file or min_sim[c] >= EXACT_SIMILARITY else "near"
        out.append(DuplicateGroup(tuple(sorted(ids[r] for r in rows)), kind, round(min(min_sim[c], 1.0), 6)))
    out.sort(key=lambda g: (-len(g.image_ids), -g.min_similarity, g.image_ids))
    return out


def find_duplicates(
    feats: CachedFeatures, threshold: float = DEFAULT_THRESHOLD, npass: NeighbourPass | None = None
) -> tuple[list[DuplicateGroup], dict[str, int]]:
    """Duplicate groups among already loaded features, and how many candidate pairs were compared."""
    threshold = check_threshold(threshold)
    if npass is None or npass.knn_idx.shape[1] < K_CANDIDATES:
        npass = neighbour_pass(feats.features, k=K_CANDIDATES)
    pairs = candidate_pairs(feats, npass)
    sims = aligned_similarity(feats, pairs)
    return group_pairs(feats, pairs, sims, threshold), {"candidate_pairs": int(len(pairs))}


def duplicate_groups(project: Any, threshold: float = DEFAULT_THRESHOLD, *, settings: Any = None) -> list[list[int]]:
    """Groups of image ids that are exact or near duplicates (see the module docstring). Images
    without cached features are in no group, and a project whose model cannot be resolved has no
    groups (an export never fails for want of an audit). For export splits: keep every group in
    one split so a copy never leaks from train into test (`representatives`)."""
    from workflows.errors import UserError

    threshold = check_threshold(threshold)
    try:
        feats = cached_features(project, settings)
    except UserError:
        return []
    groups, _ = find_duplicates(feats, threshold)
    return [list(g.image_ids) for g in groups]


def representatives(image_ids: Iterable[int], groups: Iterable[Iterable[int]]) -> dict[int, int]:
    """image id -> the id whose split it must share: the smallest of `image_ids` in its duplicate
    group (itself when it is in no group). Split only the representatives, then copy their split
    to the rest, and no group is ever cut across splits."""
    ids = [int(i) for i in image_ids]
    wanted = set(ids)
    rep = {i: i for i in ids}
    for g in groups:
        members = sorted(int(i) for i in g if int(i) in wanted)
        for i in members:
            rep[i] = members[0]
    return rep
