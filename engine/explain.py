"""Explanations: transport plans and localisation maps turned into the evidence schema
(engine/evidence.py), batched over images, classes and attributes.

The JSON is self-describing (maps and boxes in original-image pixels, image size, attribute
texts), so the desktop and the exporters read it without the engine.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from engine.evidence import AttributeEvidence, AttributeMap, ClassEvidence, Region
from engine.localize import BOX_LEVELS, MAP_GRID, MapInputs, attribute_maps, grid_coverage, peaks_and_boxes

__all__ = ["explain_batch", "paused_gc"]


def explain_batch(
    plans: torch.Tensor,
    sims: torch.Tensor,
    boxes: torch.Tensor,
    attr_texts: Sequence[Sequence[Sequence[str]]],
    attr_indices: Sequence[Sequence[Sequence[int]]],
    class_names: Sequence[Sequence[str]],
    class_indices: Sequence[Sequence[int]],
    image_sizes: Sequence[tuple[int, int]],
    top_regions: int = 3,
    *,
    region_sims: torch.Tensor | None = None,
    valid: torch.Tensor | None = None,
    pooled_sims: torch.Tensor | None = None,
    map_method: str | None = None,
) -> list[list[ClassEvidence]]:
    """Evidence for plans [B,k,N,M] at once; every reduction runs on whole tensors and Python
    only assembles the dataclasses.

    attr_texts[i][j] lists the texts of plan (i,j)'s columns (shorter than M where padded); the
    other sequences are indexed the same way. `region_sims` [B,k,N,M] (region.text cosine) give
    each attribute's best-region similarity and, with `map_method`, its localisation map
    (`pooled_sims` [B,k,M,g*g] for token maps, `valid` [B,N] marks real regions). Presence and
    shares here are uncalibrated (within the class); readers recalibrate (workflows/evidence.py).
    """
    T = plans.detach().float().cpu()
    S = sims.detach().float().cpu()
    B, k, N, M = T.shape
    contrib = (T * S).sum(2)  # [B,k,M]
    score = contrib.sum(-1)  # [B,k]
    mass = T.sum(2)  # [B,k,M]
    sim = torch.where(mass > 0, contrib / mass.clamp_min(1e-30), torch.zeros_like(mass))
    kr = min(top_regions, N)
    vals, idx = T.topk(kr, dim=2) if kr > 0 else (T[:, :, :0], T[:, :, :0].long())  # [B,k,kr,M]
    rsim = S.gather(2, idx)
    bx = torch.round(boxes.detach().double().cpu() * 100) / 100
    best = None
    maps = peaks = mboxes = None
    if region_sims is not None:
        R = region_sims.detach().float().cpu()
        if valid is not None:
            R = R.masked_fill(~valid.cpu().bool()[:, None, :, None], float("-inf"))
        best = R.amax(2)  # [B,k,M]
        if map_method is not None and B * k > 0:
            maps, peaks, mboxes = _maps(map_method, T, R, boxes, valid, pooled_sims, image_sizes)
    out: list[list[ClassEvidence]] = []
    with paused_gc():
        vals_l, idx_l, rsim_l = vals.tolist(), idx.tolist(), rsim.tolist()
        score_l, mass_l, sim_l, bx_l = score.tolist(), mass.tolist(), sim.tolist(), bx.tolist()
        best_l = best.tolist() if best is not None else None
        for i in range(B):
            row = []
            w, h = image_sizes[i]
            for j in range(k):
                texts = attr_texts[i][j]
                attrs = []
                for c in range(len(texts)):
                    regions = tuple(Region(tuple(bx_l[i][idx_l[i][j][q][c]]), vals_l[i][j][q][c], rsim_l[i][j][q][c])
                                    for q in range(kr) if vals_l[i][j][q][c] > 0)
                    amap = None
                    if maps is not None:
                        amap = AttributeMap(maps[i * k + j, c], tuple(peaks[i * k + j, c]), tuple(mboxes[i * k + j, c]))
                    attrs.append(AttributeEvidence(
                        int(attr_indices[i][j][c]), texts[c], mass_l[i][j][c], sim_l[i][j][c],
                        best_similarity=best_l[i][j][c] if best_l is not None else None,
                        map=amap, regions=regions))
                ev = ClassEvidence(class_names[i][j], int(class_indices[i][j]), score_l[i][j], (int(w), int(h)),
                                   tuple(attrs))
                row.append(ev.calibrated(None))
            out.append(row)
    return out


def _maps(method: str, T: torch.Tensor, R: torch.Tensor, boxes: torch.Tensor, valid: torch.Tensor | None,
          pooled_sims: torch.Tensor | None, sizes: Sequence[tuple[int, int]]
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maps [B*k,M,G,G] in [0,1], peaks [B*k,M,2] and boxes [B*k,M,4] in pixels."""
    B, k, N, M = T.shape
    G = MAP_GRID
    wh = torch.tensor([tuple(s) for s in sizes], dtype=torch.float32).reshape(B, 2)
    cov = grid_coverage(boxes.detach().float().cpu(), wh, G, None if valid is None else valid.cpu())
    fold = lambda x: x.reshape(B * k, *x.shape[2:])  # noqa: E731 - local shape helper
    inputs = MapInputs(
        region_sims=fold(torch.nan_to_num(R, neginf=0.0)),
        plans=fold(T),
        cover=cov.repeat_interleave(k, 0),
        pooled_sims=None if pooled_sims is None else fold(pooled_sims.detach().float().cpu()),
    )
    m = attribute_maps(method, inputs).reshape(B * k, M, G, G).numpy()
    peaks, boxes_px = peaks_and_boxes(m, wh.numpy().repeat(k, 0)[:, None, :], BOX_LEVELS.get(method, 0.5))
    return m, peaks, boxes_px


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic-garbage passes while a batch of result objects is built: they hold no cycles, and
    each generation-2 pass would walk every object built so far (two thirds of the time, measured)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
