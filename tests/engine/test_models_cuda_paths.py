"""What would run on CUDA, checked without a GPU: fp16 weights on the meta device (shapes, dtypes
and devices through the encoders), bf16 on CPU through the whole pre-label pipeline, and the
encoders under CPU autocast."""

from __future__ import annotations

import torch

from engine.cache import FeatureCache
from engine.demo_world.scenes import DEMO_SEED_BASE, iter_scenes, render
from engine.models import load_model
from engine.pipeline import ImageItem, prelabel
from engine.types import ClassSpec, EngineConfig, ViewConfig
from tests.engine.conftest import TINY_NAME


def test_fp16_model_on_the_meta_device_keeps_dtypes_and_devices(tiny_model):
    """precision=fp16 as on CUDA (meta: no memory, no arithmetic): weights fp16 where open_clip puts
    them, inputs moved to the model's device and dtype, features returned as float32."""
    m = load_model(f"random:{TINY_NAME}", device="meta", precision="fp16")
    assert m.dtype == torch.float16 and m.device.type == "meta"
    dtypes = {p.dtype for p in m.model.parameters()}
    assert torch.float16 in dtypes and all(p.device.type == "meta" for p in m.model.parameters())
    assert m.logit_scale is None  # not materialised: nothing reads it
    x = torch.randn(3, 3, m.image_size, m.image_size)  # a CPU float32 batch, as the decoder makes it
    f = m.encode_images(x)
    assert f.device.type == "meta" and f.dtype == torch.float32 and f.shape == (3, m.embed_dim)
    g, p, grid = m.encode_dense(x)
    assert (g.dtype, p.dtype) == (torch.float32, torch.float32) and p.shape == (3, grid[0] * grid[1], m.embed_dim)


def test_encoders_under_cpu_autocast(tiny_model):
    x = torch.randn(2, 3, tiny_model.image_size, tiny_model.image_size)
    ref = tiny_model.encode_images(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        f = tiny_model.encode_images(x)
        g, p, _ = tiny_model.encode_dense(x)
    assert f.dtype == torch.float32 and torch.allclose(f.norm(dim=-1), torch.ones(2), atol=1e-4)
    assert (f - ref).abs().max() < 0.1  # bf16 arithmetic, same features to bf16 precision
    assert p.dtype == torch.float32 and torch.isfinite(p).all()


def test_bf16_model_through_the_whole_pipeline(tmp_path):
    m = load_model(f"random:{TINY_NAME}", device="cpu", precision="bf16")
    assert m.dtype == torch.bfloat16
    items = []
    for s in iter_scenes(DEMO_SEED_BASE, 3):
        path = tmp_path / f"{s.seed}.png"
        render(s).save(path)
        items.append(ImageItem(s.seed, path, f"hash{s.seed}"))
    classes = [ClassSpec("zorbit", ("a red star", "striped")), ClassSpec("quillan", ("a blue ring",))]
    for mode in ("grid", "dense"):
        cache = FeatureCache(tmp_path / "cache", m.model_id, mode)
        out = list(prelabel(m, items, classes, EngineConfig(explain_top=1), ViewConfig(mode=mode), cache))
        res = out[-1].result
        assert sum(len(b.items) for b in out) == 3 and res is not None
        assert res.topk_scores.dtype == torch.float32 and torch.isfinite(res.topk_scores).all()
        g, r, _, _ = cache.get([it.content_hash for it in items], with_mask=True)
        assert torch.isfinite(g).all() and torch.isfinite(r.float()).all()
        assert res.explanations[0][0].attributes  # plans (evidence) came out too
