"""Explanations: which attribute took which region's mass, serialisable for the store and the GUI.

The JSON is self-describing (boxes in original-image pixels, image size, attribute texts), so the
desktop can draw overlays from it without the engine.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

EXPLANATION_VERSION = 1


@dataclass
class RegionEvidence:
    """One region (box x0,y0,x1,y1 in original pixels) and what it gave to an attribute."""

    box: tuple[float, float, float, float]
    mass: float
    similarity: float

    def to_json(self) -> dict[str, Any]:
        return {"box": [float(v) for v in self.box], "mass": float(self.mass), "similarity": float(self.similarity)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RegionEvidence:
        return cls(tuple(float(v) for v in d["box"]), float(d["mass"]), float(d["similarity"]))


@dataclass
class AttributeEvidence:
    """One attribute's part of a class score: share = its fraction of the score, top regions by mass."""

    index: int
    text: str
    share: float
    mass: float
    similarity: float
    regions: list[RegionEvidence] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"index": int(self.index), "text": self.text, "share": float(self.share), "mass": float(self.mass),
                "similarity": float(self.similarity), "regions": [r.to_json() for r in self.regions]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AttributeEvidence:
        return cls(int(d["index"]), str(d["text"]), float(d["share"]), float(d["mass"]), float(d["similarity"]),
                   [RegionEvidence.from_json(r) for r in d.get("regions", [])])


@dataclass
class ClassExplanation:
    """Why an image scored `score` for a class: its attributes, ordered by share, with regions."""

    class_name: str
    class_index: int
    score: float
    image_size: tuple[int, int]
    attributes: list[AttributeEvidence] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"version": EXPLANATION_VERSION, "class_name": self.class_name, "class_index": int(self.class_index),
                "score": float(self.score), "image_size": [int(self.image_size[0]), int(self.image_size[1])],
                "attributes": [a.to_json() for a in self.attributes]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ClassExplanation:
        w, h = d["image_size"]
        return cls(str(d["class_name"]), int(d["class_index"]), float(d["score"]), (int(w), int(h)),
                   [AttributeEvidence.from_json(a) for a in d.get("attributes", [])])


def explain(
    plan: torch.Tensor,
    S: torch.Tensor,
    boxes: torch.Tensor,
    attr_texts: Sequence[str],
    *,
    class_name: str = "",
    class_index: int = -1,
    image_size: tuple[int, int] = (0, 0),
    top_regions: int = 3,
    attr_indices: Sequence[int] | None = None,
    min_mass_fraction: float = 0.0,
) -> ClassExplanation:
    """Turn one transport plan [N,M] and its similarities [N,M] into a ClassExplanation.

    Columns beyond len(attr_texts) (padding) are ignored. An attribute's share is its column's
    contribution sum_i T_ij S_ij divided by the class score; its regions are the rows carrying
    the most of its mass.
    """
    m = len(attr_texts)
    T = plan[:, :m].detach().float().cpu()
    Sm = S[:, :m].detach().float().cpu()
    bx = boxes.detach().float().cpu()
    contrib = (T * Sm).sum(0)  # [M]
    score = float(contrib.sum())
    col_mass = T.sum(0)
    attrs: list[AttributeEvidence] = []
    k = min(top_regions, T.shape[0])
    for j in range(m):
        mass_j = float(col_mass[j])
        regions: list[RegionEvidence] = []
        if k > 0 and mass_j > 0:
            vals, idx = T[:, j].topk(k)
            for v, i in zip(vals.tolist(), idx.tolist()):
                if v <= 0 or v < min_mass_fraction * mass_j:
                    continue
                regions.append(RegionEvidence(tuple(round(x, 2) for x in bx[i].tolist()), v, float(Sm[i, j])))
        sim = float(contrib[j] / mass_j) if mass_j > 0 else 0.0
        share = float(contrib[j] / score) if score != 0 else 0.0
        attrs.append(AttributeEvidence(int(attr_indices[j]) if attr_indices is not None else j, attr_texts[j],
                                       share, mass_j, sim, regions))
    attrs.sort(key=lambda a: -a.share)
    return ClassExplanation(class_name, class_index, score, (int(image_size[0]), int(image_size[1])), attrs)


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
) -> list[list[ClassExplanation]]:
    """`explain` for plans [B,k,N,M] at once: every reduction and top-k runs on the whole tensor,
    Python only assembles the dataclasses. attr_texts[i][j] lists the texts of plan (i,j)'s
    columns (shorter than M where padded); the other arguments are indexed the same way."""
    T = plans.detach().float().cpu()
    S = sims.detach().float().cpu()
    B, k, N, M = T.shape
    contrib = (T * S).sum(2)  # [B,k,M]
    score = contrib.sum(-1)  # [B,k]
    mass = T.sum(2)  # [B,k,M]
    sim = torch.where(mass > 0, contrib / mass.clamp_min(1e-30), torch.zeros_like(mass))
    share = torch.where(score.unsqueeze(-1) != 0, contrib / score.unsqueeze(-1), torch.zeros_like(contrib))
    kr = min(top_regions, N)
    vals, idx = T.topk(kr, dim=2) if kr > 0 else (T[:, :, :0], T[:, :, :0].long())  # [B,k,kr,M]
    rsim = S.gather(2, idx)
    bx = torch.round(boxes.detach().double().cpu() * 100) / 100
    out: list[list[ClassExplanation]] = []
    with paused_gc():
        vals_l, idx_l, rsim_l = vals.tolist(), idx.tolist(), rsim.tolist()
        score_l, share_l, mass_l, sim_l, bx_l = score.tolist(), share.tolist(), mass.tolist(), sim.tolist(), bx.tolist()
        for i in range(B):
            row = []
            for j in range(k):
                texts = attr_texts[i][j]
                attrs = []
                for c in range(len(texts)):
                    regions = [RegionEvidence(tuple(bx_l[i][idx_l[i][j][q][c]]), vals_l[i][j][q][c],
                                              rsim_l[i][j][q][c]) for q in range(kr) if vals_l[i][j][q][c] > 0]
                    attrs.append(AttributeEvidence(int(attr_indices[i][j][c]), texts[c], share_l[i][j][c],
                                                   mass_l[i][j][c], sim_l[i][j][c], regions))
                attrs.sort(key=lambda a: -a.share)
                w, h = image_sizes[i]
                row.append(ClassExplanation(class_names[i][j], int(class_indices[i][j]), score_l[i][j],
                                            (int(w), int(h)), attrs))
            out.append(row)
    return out


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


def heatmap(expl: ClassExplanation, size: tuple[int, int] | None = None, attribute: int | None = None) -> np.ndarray:
    """Per-pixel evidence [H,W] in [0,1]: each listed region's box painted with its mass.

    `size` is (W,H) of the output (default the original image size); `attribute` restricts to the
    attribute with that `index` (default: all attributes).
    """
    W0, H0 = expl.image_size
    W, H = size if size is not None else (W0, H0)
    out = np.zeros((max(int(H), 1), max(int(W), 1)), dtype=np.float32)
    if W0 <= 0 or H0 <= 0:
        return out
    sx, sy = W / W0, H / H0
    for a in expl.attributes:
        if attribute is not None and a.index != attribute:
            continue
        for r in a.regions:
            x0, y0, x1, y1 = r.box
            c0, r0 = int(np.floor(x0 * sx)), int(np.floor(y0 * sy))
            c1, r1 = int(np.ceil(x1 * sx)), int(np.ceil(y1 * sy))
            out[max(r0, 0):max(r1, 0), max(c0, 0):max(c1, 0)] += r.mass
    mx = out.max()
    return out / mx if mx > 0 else out
