"""Views: deterministic per (content hash, seed), boxes in the image, tensor path close to PIL."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from engine.types import ViewConfig
from engine.views import crops_pil, crops_tensor, dense_boxes, grid_boxes, make_views, random_boxes

MEAN, STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def _img(w=160, h=120, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    return Image.fromarray(base).resize((w, h), Image.BILINEAR)


def test_random_boxes_deterministic_and_inside():
    cfg = ViewConfig(n_crops=90)
    b1 = random_boxes(640, 480, "hash-a", cfg)
    assert np.array_equal(b1, random_boxes(640, 480, "hash-a", cfg))
    assert not np.array_equal(b1, random_boxes(640, 480, "hash-b", cfg))
    assert not np.array_equal(b1, random_boxes(640, 480, "hash-a", ViewConfig(seed=1)))
    side = b1[:, 2] - b1[:, 0]
    assert np.allclose(side, b1[:, 3] - b1[:, 1])
    assert (side >= 0.6 * 480 - 1e-9).all() and (side <= 0.9 * 480 + 1e-9).all()
    assert (b1[:, :2] >= 0).all() and (b1[:, 2] <= 640).all() and (b1[:, 3] <= 480).all()


def test_grid_and_dense_boxes():
    g = grid_boxes(300, 200, "h", ViewConfig(mode="grid", grid_scales=(1, 2, 3)))
    assert g.shape == (1 + 4 + 9, 4)
    assert (g[:, :2] >= -1e-9).all() and (g[:, 2] <= 300 + 1e-9).all() and (g[:, 3] <= 200 + 1e-9).all()
    assert grid_boxes(200, 300, "h", ViewConfig(mode="grid")).shape[0] == grid_boxes(300, 300, "h", ViewConfig(mode="grid")).shape[0]
    d = dense_boxes(300, 200, (4, 4))
    assert d.shape == (16, 4)
    assert np.allclose(d[0], [50, 0, 100, 50]) and np.allclose(d[-1], [200, 150, 250, 200])


@pytest.mark.parametrize("mode", ["random", "grid", "dense"])
def test_make_views_shapes(mode):
    img = _img()
    v, b = make_views(img, "h", ViewConfig(mode=mode, n_crops=12), 32, MEAN, STD, dense_grid=(4, 4))
    n = {"random": 12, "grid": 29, "dense": 16}[mode]
    assert v.shape == ((1 if mode == "dense" else 1 + n), 3, 32, 32) and b.shape == (n, 4)
    assert torch.isfinite(v).all()
    v2, b2 = make_views(img, "h", ViewConfig(mode=mode, n_crops=12), 32, MEAN, STD, dense_grid=(4, 4))
    assert torch.equal(v, v2) and torch.equal(b, b2)


def test_make_views_converts_mode_and_rejects_unknown():
    img = _img().convert("L")
    v, _ = make_views(img, "h", ViewConfig(n_crops=3), 32, MEAN, STD)
    assert v.shape == (4, 3, 32, 32)
    with pytest.raises(ValueError, match="unknown view mode"):
        make_views(img, "h", ViewConfig(mode="nope"), 32, MEAN, STD)


def test_tensor_crops_close_to_pil():
    img = _img(400, 300, seed=3)
    boxes = random_boxes(400, 300, "x", ViewConfig(n_crops=20))
    a, b = crops_pil(img, boxes, 64), crops_tensor(img, boxes, 64)
    assert a.shape == b.shape
    assert (a - b).abs().mean() < 6.0  # of 255: resampling filters differ, content is the same
    cos = torch.nn.functional.cosine_similarity(a.flatten(1) - 128, b.flatten(1) - 128).min()
    assert cos > 0.97
