"""Views of an image: view 0 (global) and N regions with their boxes, deterministic per image.

Random crops follow the published LaZSL scheme exactly (side U(alpha_crop, 0.9)·min(W,H), uniform
position), seeded from the image content hash and the run seed, so a re-run, another machine or
the GUI recomputes the very same boxes. Crops are resized on the tensor in one batched
`roi_align` (default) or by PIL one by one (`backend="pil"`, the reference path).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.ops import roi_align

from engine.types import ViewConfig

Boxes = np.ndarray  # [N,4] float64 x0,y0,x1,y1 in original pixels

CROP_MAX_FRACTION = 0.9


def crop_seed(content_hash: str, seed: int) -> int:
    """64-bit RNG seed from the image content hash and the run seed (stable across platforms)."""
    return int.from_bytes(hashlib.sha256(f"{content_hash}:{seed}".encode()).digest()[:8], "little")


def random_boxes(W: int, H: int, content_hash: str, cfg: ViewConfig) -> Boxes:
    """The published crop scheme: square side U(alpha_crop, 0.9)·min(W,H) at a uniform position."""
    rng = np.random.default_rng(crop_seed(content_hash, cfg.seed))
    n = cfg.n_crops
    side = rng.uniform(cfg.alpha_crop, CROP_MAX_FRACTION, n) * min(W, H)
    x0 = rng.uniform(0.0, 1.0, n) * (W - side)
    y0 = rng.uniform(0.0, 1.0, n) * (H - side)
    return np.stack([x0, y0, x0 + side, y0 + side], axis=1)


def grid_boxes(W: int, H: int, content_hash: str, cfg: ViewConfig) -> Boxes:
    """Fixed multi-scale grid: for scale k, k×k squares of side 2·min(W,H)/(k+1), evenly spread
    (stride side/2 along the shorter side), so every image gets sum(k²) regions."""
    m = min(W, H)
    out = []
    for k in cfg.grid_scales:
        side = 2.0 * m / (k + 1)
        xs = np.linspace(0.0, W - side, k) if k > 1 else np.array([(W - side) / 2.0])
        ys = np.linspace(0.0, H - side, k) if k > 1 else np.array([(H - side) / 2.0])
        for y in ys:
            for x in xs:
                out.append((x, y, x + side, y + side))
    return np.asarray(out, dtype=np.float64).reshape(-1, 4)


def global_crop_box(W: int, H: int) -> tuple[float, float, float, float]:
    """The region of the original image that view 0 shows (shorter-side resize + center crop)."""
    m = min(W, H)
    x0 = (W - m) / 2.0
    y0 = (H - m) / 2.0
    return (x0, y0, x0 + m, y0 + m)


def dense_boxes(W: int, H: int, grid: tuple[int, int]) -> Boxes:
    """Patch cells of view 0 in original pixels (row-major, like ViT patch tokens)."""
    x0, y0, x1, y1 = global_crop_box(W, H)
    gh, gw = grid
    cw, ch = (x1 - x0) / gw, (y1 - y0) / gh
    rows, cols = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    r, c = rows.reshape(-1), cols.reshape(-1)
    return np.stack([x0 + c * cw, y0 + r * ch, x0 + (c + 1) * cw, y0 + (r + 1) * ch], axis=1).astype(np.float64)


#: Region box makers by ViewConfig.mode for the modes that crop; ``dense`` crops nothing (its boxes
#: are the model's patch cells, `dense_boxes`, see make_views). A new view mode adds its maker here
#: and its entry in engine.types.VIEW_MODES (docs/architecture.md, "Adding a view mode").
BOX_MAKERS: dict[str, Callable[[int, int, str, ViewConfig], Boxes]] = {
    "random": random_boxes,
    "grid": grid_boxes,
}
PATCH_MODES = frozenset({"dense"})  # regions are the encoder's patch tokens, not crops


def _normalise(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """x in [0,255] float [...,3,S,S] → CLIP-normalised."""
    m = torch.tensor(mean, dtype=x.dtype).view(3, 1, 1) * 255.0
    s = torch.tensor(std, dtype=x.dtype).view(3, 1, 1) * 255.0
    return (x - m) / s


def _pil_to_tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)


def global_view(img: Image.Image, image_size: int) -> torch.Tensor:
    """View 0 as [3,S,S] float in [0,255]: bicubic shorter-side resize to S, center crop."""
    W, H = img.size
    s = image_size / min(W, H)
    nw, nh = max(image_size, round(W * s)), max(image_size, round(H * s))
    r = img.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - image_size) // 2, (nh - image_size) // 2
    r = r.crop((left, top, left + image_size, top + image_size))
    return _pil_to_tensor(r).float()


def crops_pil(img: Image.Image, boxes: Boxes, image_size: int) -> torch.Tensor:
    """Reference crop path: one PIL bicubic (antialiased) resize per box → [N,3,S,S] in [0,255]."""
    if len(boxes) == 0:
        return torch.zeros(0, 3, image_size, image_size)
    out = [_pil_to_tensor(img.resize((image_size, image_size), Image.Resampling.BICUBIC, box=(float(b[0]), float(b[1]), float(b[2]), float(b[3]))))
           for b in boxes]
    return torch.stack(out).float()


def crops_tensor(img: Image.Image, boxes: Boxes, image_size: int) -> torch.Tensor:
    """Batched crop path: one antialiased bicubic pre-scale of the whole image so the smallest box
    is ~S pixels (so at most a 1.5x downscale is left), then one bilinear `roi_align` for all boxes → [N,3,S,S] in [0,255]."""
    if len(boxes) == 0:
        return torch.zeros(0, 3, image_size, image_size)
    x = _pil_to_tensor(img).float().unsqueeze(0)
    W, H = img.size
    b = torch.as_tensor(boxes, dtype=torch.float32)
    smallest = float((b[:, 2] - b[:, 0]).min())
    scale = min(1.0, image_size / max(smallest, 1.0))
    if scale < 1.0:
        nh, nw = max(1, round(H * scale)), max(1, round(W * scale))
        x = F.interpolate(x, size=(nh, nw), mode="bicubic", antialias=True, align_corners=False)
        sx, sy = nw / W, nh / H
    else:
        sx = sy = 1.0
    rois = torch.cat([torch.zeros(len(b), 1), b * torch.tensor([sx, sy, sx, sy])], dim=1)
    out: torch.Tensor = roi_align(x, rois, output_size=(image_size, image_size), spatial_scale=1.0,
                                  sampling_ratio=1, aligned=True)
    return out.clamp_(0.0, 255.0)


CROP_BACKENDS: dict[str, Callable[[Image.Image, Boxes, int], torch.Tensor]] = {
    "tensor": crops_tensor,
    "pil": crops_pil,
}


def make_views(
    img: Image.Image,
    content_hash: str,
    cfg: ViewConfig,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    dense_grid: tuple[int, int] = (7, 7),
    backend: str = "tensor",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Views [1+N,3,S,S] (normalised, float32) and region boxes [N,4] (x0,y0,x1,y1, original pixels).

    `img` must be RGB. In dense mode only view 0 is returned and the boxes are the patch cells of
    `dense_grid` (the model's patch grid).
    """
    if img.mode != "RGB":
        img = img.convert("RGB")
    W, H = img.size
    try:
        crop = CROP_BACKENDS[backend]
        make_boxes = None if cfg.mode in PATCH_MODES else BOX_MAKERS[cfg.mode]
    except KeyError as e:
        raise ValueError(f"unknown view mode or crop backend: {e.args[0]!r}") from None
    g = global_view(img, image_size).unsqueeze(0)
    if make_boxes is None:
        boxes = dense_boxes(W, H, dense_grid)
        return _normalise(g, mean, std), torch.as_tensor(boxes, dtype=torch.float32)
    boxes = make_boxes(W, H, content_hash, cfg)
    views = torch.cat([g, crop(img, boxes, image_size)], dim=0)
    return _normalise(views, mean, std), torch.as_tensor(boxes, dtype=torch.float32)
