"""The towers users have (EVA, SigLIP, MobileCLIP, XLM-R multilingual, CLIP): views, dense mode
and the text cache on each, loaded from a genuine offline hub cache."""

from __future__ import annotations

import pytest
import torch

from engine.demo_world.scenes import DEMO_SEED_BASE, iter_scenes, render
from engine.models import load_model
from engine.types import ViewConfig
from engine.views import make_views
from tests.engine.hub_cache import CLIP, EVA, MOBILECLIP, SIGLIP, write_hub_model, write_xlmr_model

TOWERS = {"test/clip-t": CLIP, "test/siglip-t": SIGLIP, "test/eva-t": EVA, "test/mobileclip-t": MOBILECLIP,
          "test/xlmr-tiny": None}


@pytest.fixture(scope="module")
def towers_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf-towers")
    for repo, name in TOWERS.items():
        if name is None:
            write_xlmr_model(home / "hub")
        else:
            write_hub_model(home / "hub", repo, name)
    return home


@pytest.fixture
def towers(towers_home, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(towers_home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _views(model, mode: str, n: int = 1):
    cfg = ViewConfig(mode=mode, n_crops=3, grid_scales=(2,))
    out = [make_views(render(s), f"h{s.seed}", cfg, model.image_size, model.mean, model.std,
                      dense_grid=model.patch_grid if mode == "dense" else (7, 7))
           for s in iter_scenes(DEMO_SEED_BASE, n)]
    return torch.cat([v for v, _ in out]), [b for _, b in out]


@pytest.mark.parametrize("repo", list(TOWERS))
def test_views_dense_and_text_cache(towers, repo):
    m = load_model(f"hf-hub:{repo}", device="cpu")
    # views: the grid (random crops on the small CLIP: the view code is the same for every tower)
    for mode in ("random", "grid") if repo == "test/clip-t" else ("grid",):
        x, boxes = _views(m, mode)
        f = m.encode_images(x)
        assert f.shape == (x.shape[0], m.embed_dim) and torch.isfinite(f).all()
    # dense: ViT towers (open_clip's, timm's EVA / SigLIP) give patch regions; conv towers a clear error
    if repo == "test/mobileclip-t":
        x = x[:1]
        assert not m.supports_dense and m.patch_grid == (0, 0)
        assert "has a FastVit (fastvit_mci0) image tower without them; use --mode grid or --mode faithful" in \
            m.dense_unsupported
        with pytest.raises(ValueError, match="dense region mode reads ViT patch tokens"):
            m.encode_dense(x)
    else:
        x, _ = _views(m, "dense")
        g, p, grid = m.encode_dense(x)
        assert grid == m.patch_grid and p.shape == (x.shape[0], grid[0] * grid[1], m.embed_dim)
        assert torch.isfinite(p).all() and torch.allclose(p.norm(dim=-1), torch.ones(p.shape[:2]), atol=1e-4)
        assert torch.allclose(g, m.encode_images(x), atol=1e-4)  # the pooled output is encode_image's
        assert p.std(dim=1).mean() > 1e-4  # patches differ from one another
    # text cache: multilingual and plain sentences, cached per (model id, sentence)
    sentences = ["a red circle", "ein roter Kreis", "zorbit has a striped star"]
    before = {k for k in m._text_cache if k[0] == m.model_id}
    t1 = m.encode_texts(sentences)
    assert t1.shape == (3, m.embed_dim) and torch.isfinite(t1).all()
    assert {k for k in m._text_cache if k[0] == m.model_id} - before == {(m.model_id, s) for s in sentences}
    assert torch.equal(m.encode_texts(sentences[::-1]), t1.flip(0))
    assert not torch.equal(t1[0], t1[2])


def test_timm_dense_tokens_follow_the_pooling_head(towers):
    """SigLIP's MAP head: a single token attending to itself is exactly proj(v) + MLP residual, so
    dense features of an image made of one repeated patch match its pooled feature's direction."""
    from engine.dense_towers import timm_encode_dense

    m = load_model("hf-hub:test/siglip-t", device="cpu")
    trunk = m.model.visual.trunk
    assert trunk.attn_pool is not None
    tok = torch.randn(1, 1, trunk.embed_dim)
    via_pool = trunk.attn_pool(tok)
    width = tok.shape[-1]
    ap = trunk.attn_pool
    by_hand = ap.proj(ap.kv(tok)[..., width:])
    by_hand = by_hand + ap.mlp(ap.norm(by_hand))
    assert torch.allclose(via_pool.reshape(-1), by_hand.reshape(-1), atol=1e-5)
    g, p, grid = timm_encode_dense(m.model.visual, torch.randn(1, 3, 224, 224))
    assert p.shape[1] == grid[0] * grid[1] == 196
