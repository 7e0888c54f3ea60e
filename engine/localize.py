"""Where an attribute is: localisation maps kept apart from scoring (docs/architecture.md, "Evidence").

Scoring is untouched (faithful LaZSL stays as published); the maps only explain it. Two sources:

* **patch tokens**: at encode time the last ViT block is read a second way (ClearCLIP: q-q
  attention, no residual, no MLP), which makes patch tokens text-aligned without training. The
  tokens of every view (global and crops) are pooled onto a POOL_GRID x POOL_GRID grid over the
  whole image and cached ("p" part), so a re-score's explanations never re-encode. An
  attribute's map is then the pooled tokens' similarity to it, times where the transport plan put
  its mass (`tokens_x_mass`).
* **region contrast** (RISE-style): mean similarity of the regions covering a cell minus that of
  the regions not covering it (`rise`). Needs no tokens; sharp for the multi-scale grid's small
  cells, flat for the published 60-90% random crops.

Measured on the demo world (scripts/eval_evidence.py): the default per view mode is the better
of the two there. Everything is batched over images, classes and attributes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

#: cells per side of the cached pooled patch-token grid (over the whole image)
POOL_GRID = 12
#: cells per side of a stored attribute map
MAP_GRID = 24
#: a map's box: the cells around the peak at or above this fraction of it, per map method
#: (measured: best mean IoU with the true part box on the demo world, 0.45 and 0.44)
BOX_LEVELS: dict[str, float] = {"tokens_x_mass": 0.5, "rise": 0.8, "mass": 0.5}


# ----------------------------------------------------------------------------- patch tokens


def supports_tokens(visual: Any) -> bool:
    """Whether the tower is an open_clip ViT whose last block can be read the ClearCLIP way."""
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    if not blocks or getattr(visual, "proj", None) is None or not hasattr(visual, "ln_post"):
        return False
    attn = getattr(blocks[-1], "attn", None)
    return bool(isinstance(attn, torch.nn.MultiheadAttention) and getattr(attn, "batch_first", False)
                and getattr(attn, "in_proj_weight", None) is not None and hasattr(visual, "grid_size"))


@contextlib.contextmanager
def capture_last_block(visual: Any) -> Iterator[list[torch.Tensor]]:
    """Collect the input of the last transformer block during the forward passes inside."""
    seen: list[torch.Tensor] = []
    block = visual.transformer.resblocks[-1]
    handle = block.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))  # noqa: B023
    try:
        yield seen
    finally:
        handle.remove()


@torch.inference_mode()
def clear_tokens(visual: Any, x_in: torch.Tensor) -> torch.Tensor:
    """ClearCLIP reading of the last block: [n, 1+P, W] block input -> [n, P, D] unit patch tokens
    in the joint space (q-q self-attention on the values, no residual, no MLP, then ln_post and
    the projection). Extra prefix tokens beyond the class token are dropped."""
    block = visual.transformer.resblocks[-1]
    attn: torch.nn.MultiheadAttention = block.attn
    y = block.ln_1(x_in)
    W = y.shape[-1]
    w, b = attn.in_proj_weight, attn.in_proj_bias  # rows: [q | k | v]; keys are not needed
    q = F.linear(y, w[:W], None if b is None else b[:W])
    v = F.linear(y, w[2 * W:], None if b is None else b[2 * W:])
    n, L, _ = q.shape
    h = attn.num_heads
    qh = q.view(n, L, h, W // h).transpose(1, 2)
    vh = v.view(n, L, h, W // h).transpose(1, 2)
    a = F.scaled_dot_product_attention(qh, qh, vh)  # softmax(q q^T / sqrt(d)) v, fused
    gh, gw = (int(g) for g in visual.grid_size)
    patches = a.transpose(1, 2)[:, L - gh * gw:].reshape(n, gh * gw, W)  # prefix tokens dropped first
    t = visual.ln_post(attn.out_proj(patches)) @ visual.proj
    return F.normalize(t.float(), dim=-1)


def view_cells(view_boxes: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Each view's patch cells in image pixels: [B,V,4] view boxes -> [B, V*gh*gw, 4] (row-major)."""
    gh, gw = grid
    x0, y0, x1, y1 = view_boxes.unbind(-1)
    cw, ch = (x1 - x0) / gw, (y1 - y0) / gh
    c = torch.arange(gw, dtype=view_boxes.dtype, device=view_boxes.device)
    r = torch.arange(gh, dtype=view_boxes.dtype, device=view_boxes.device)
    cx0 = x0[..., None, None] + c[None, None, None, :] * cw[..., None, None]
    cy0 = y0[..., None, None] + r[None, None, :, None] * ch[..., None, None]
    cx0, cy0 = torch.broadcast_tensors(cx0, cy0)
    cells = torch.stack([cx0, cy0, cx0 + cw[..., None, None], cy0 + ch[..., None, None]], -1)
    return cells.reshape(view_boxes.shape[0], -1, 4)


def grid_coverage(boxes: torch.Tensor, sizes: torch.Tensor, g: int, valid: torch.Tensor | None = None
                  ) -> torch.Tensor:
    """Which cells of a g x g grid over each image each box covers (by cell centre):
    boxes [B,N,4] in pixels, sizes [B,2] (W,H) -> [B,N,g*g] float, row-major. Separable: a box
    covers a cell when it covers the cell's column centre and its row centre."""
    t = (torch.arange(g, dtype=torch.float32) + 0.5) / g
    cx = t[None, :] * sizes[:, 0:1].float()  # [B,g]
    cy = t[None, :] * sizes[:, 1:2].float()
    b = boxes.float()
    xs = ((cx[:, None, :] >= b[..., 0:1]) & (cx[:, None, :] < b[..., 2:3])).float()  # [B,N,g]
    ys = ((cy[:, None, :] >= b[..., 1:2]) & (cy[:, None, :] < b[..., 3:4])).float()
    if valid is not None:
        ys = ys * valid[..., None].float()
    return (ys[..., :, None] * xs[..., None, :]).reshape(*b.shape[:2], g * g)


def pool_tokens(tokens: torch.Tensor, view_boxes: torch.Tensor, grid: tuple[int, int],
                sizes: torch.Tensor, g: int = POOL_GRID) -> torch.Tensor:
    """Average the patch tokens of every view onto a g x g grid over each image.

    tokens [B,V,P,D], view boxes [B,V,4] (pixels), sizes [B,2] -> [B, g*g, D] (cells no view
    covers stay zero). Linear, so a text's similarity map is this times the text feature.
    """
    B, V, P, D = tokens.shape
    cells = view_cells(view_boxes.float(), grid)  # [B, V*P, 4]
    cov = grid_coverage(cells, sizes, g)  # [B, V*P, g*g]
    pooled = torch.einsum("bqg,bqd->bgd", cov, tokens.reshape(B, V * P, D).float())
    return pooled / cov.sum(1).clamp_min(1.0)[..., None]


# ----------------------------------------------------------------------------- maps


@dataclass
class MapInputs:
    """What a map method may use, for B images x M attribute columns (k classes folded into B).

    region_sims [B,N,M] region.text cosine; plans [B,N,M] transport plan; cover [B,N,G] region
    coverage of the MAP_GRID cells (padding regions zeroed); pooled_sims [B,M,g*g] or None.
    """

    region_sims: torch.Tensor
    plans: torch.Tensor
    cover: torch.Tensor
    pooled_sims: torch.Tensor | None


def _unit(x: torch.Tensor) -> torch.Tensor:
    """Min-max to [0,1] along the last axis."""
    lo = x.amin(-1, keepdim=True)
    hi = x.amax(-1, keepdim=True)
    return (x - lo) / (hi - lo).clamp_min(1e-12)


def _mass_map(m: MapInputs) -> torch.Tensor:
    return torch.einsum("bnm,bng->bmg", m.plans, m.cover)


def rise_map(m: MapInputs) -> torch.Tensor:
    """Mean similarity of the regions covering a cell minus that of the regions not covering it."""
    inside = m.cover.sum(1).clamp_min(1.0)  # [B,G]
    valid = (m.cover.sum(2, keepdim=True) > 0).float()  # [B,N,1] regions covering any cell
    outside = (valid - m.cover).clamp_min(0.0)
    s_in = torch.einsum("bnm,bng->bmg", m.region_sims, m.cover) / inside[:, None]
    s_out = torch.einsum("bnm,bng->bmg", m.region_sims, outside) / outside.sum(1).clamp_min(1.0)[:, None]
    return s_in - s_out


def _upsampled(pooled_sims: torch.Tensor, G: int) -> torch.Tensor:
    B, M, gg = pooled_sims.shape
    g = int(round(gg ** 0.5))
    up = F.interpolate(pooled_sims.reshape(B * M, 1, g, g), size=(G, G), mode="bilinear", align_corners=False)
    return up.reshape(B, M, G * G)


def tokens_x_mass_map(m: MapInputs) -> torch.Tensor:
    """Pooled patch-token similarity, restricted to where the plan put the attribute's mass."""
    if m.pooled_sims is None:
        return rise_map(m)
    G = int(round(m.cover.shape[-1] ** 0.5))
    return _unit(_upsampled(m.pooled_sims, G)) * _unit(_mass_map(m))


def mass_map(m: MapInputs) -> torch.Tensor:
    """The plan's mass painted over its regions (the old overlay; kept for comparison)."""
    return _mass_map(m)


#: Map methods by name; DEFAULT_MAP_METHOD picks one per engine view mode (measured).
MAP_METHODS: dict[str, Callable[[MapInputs], torch.Tensor]] = {
    "tokens_x_mass": tokens_x_mass_map,
    "rise": rise_map,
    "mass": mass_map,
}
DEFAULT_MAP_METHOD: dict[str, str] = {"random": "tokens_x_mass", "grid": "rise", "dense": "tokens_x_mass"}
#: methods that read the cached pooled patch tokens (only these view modes pay for pooling them)
TOKEN_METHODS: frozenset[str] = frozenset({"tokens_x_mass"})


def wants_tokens(view_mode: str) -> bool:
    """Whether encoding in this view mode should pool patch tokens for its maps."""
    return DEFAULT_MAP_METHOD.get(view_mode, "rise") in TOKEN_METHODS


def attribute_maps(method: str, m: MapInputs) -> torch.Tensor:
    """[B,M,G] maps in [0,1] (each map min-max scaled) by the named method."""
    try:
        fn = MAP_METHODS[method]
    except KeyError:
        raise ValueError(f"unknown map method {method!r}; known: {', '.join(MAP_METHODS)}") from None
    return _unit(fn(m))


# ----------------------------------------------------------------------------- peaks and boxes


def peaks_and_boxes(maps: np.ndarray, sizes: np.ndarray, level: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Peak point [...,2] and box [...,4] in pixels of maps [...,G,G] over images of `sizes`
    [...,2] (W,H): the box spans the cells at or above `level` x peak that run on from the peak
    along its row and column (the blob around the peak), vectorised over all maps."""
    G = maps.shape[-1]
    flat = maps.reshape(*maps.shape[:-2], G * G)
    pr, pc = np.divmod(flat.argmax(-1), G)
    cell = np.asarray(sizes, dtype=np.float64) / G
    peak = np.stack([pc + 0.5, pr + 0.5], -1) * cell
    above = maps >= level * flat.max(-1)[..., None, None]
    left, right, up, down = runs_from_peak(above, pr, pc)
    box = np.stack([pc - left, pr - up, pc + right + 1, pr + down + 1], -1) * np.concatenate([cell, cell], -1)
    return peak, box


def runs_from_peak(above: np.ndarray, pr: np.ndarray, pc: np.ndarray) -> tuple[np.ndarray, ...]:
    """How many consecutive cells at or above the level lie left, right, up and down of each peak
    (maps [...,G,G], peaks [...])."""
    G = above.shape[-1]
    d = np.arange(1, G)
    row = np.take_along_axis(above, pr[..., None, None].repeat(G, -1), axis=-2)[..., 0, :]  # [...,G]
    col = np.take_along_axis(above, pc[..., None, None].repeat(G, -2), axis=-1)[..., :, 0]  # [...,G]

    def run(line: np.ndarray, start: np.ndarray, step: int) -> np.ndarray:
        pos = start[..., None] + step * d
        ok = (pos >= 0) & (pos < G)
        hit = np.take_along_axis(line, np.clip(pos, 0, G - 1), axis=-1) & ok
        return np.asarray(np.cumprod(hit, axis=-1).sum(-1))

    return run(row, pc, -1), run(row, pc, 1), run(col, pr, -1), run(col, pr, 1)
