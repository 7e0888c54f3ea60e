"""Cost-scale calibration: off (same object, same bits) for softmax models, eps on the model's
logit scale for sigmoid ones; random-weight SigLIP-style towers give finite scores and spread plans."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.alignment import lazsl_plans
from engine.calibration import (
    MAX_FACTOR,
    REFERENCE_LOGIT_SCALE,
    calibrated,
    cost_scale,
    is_sigmoid_model,
    plan_entropy,
    similarity_spread,
)
from engine.demo_world.classes import descriptors
from engine.demo_world.scenes import DEMO_SEED_BASE, iter_scenes, render
from engine.pipeline import text_bank
from engine.types import ClassSpec, EngineConfig, ViewConfig
from engine.views import make_views
from tests.engine.test_models_hub import hf_env, hub_home  # noqa: F401 - shared fixtures


@dataclasses.dataclass
class Scales:
    logit_scale: float | None
    logit_bias: float | None


def test_softmax_models_pass_through_untouched(tiny_model):
    cfg = EngineConfig()
    assert tiny_model.logit_bias is None and not is_sigmoid_model(tiny_model)
    assert calibrated(cfg, tiny_model) is cfg  # the very object: faithful mode is bit-for-bit as before
    assert calibrated(cfg, Scales(100.0, None)) is cfg


def test_sigmoid_models_get_eps_on_their_logit_scale():
    cfg = EngineConfig()
    siglip = Scales(117.0, -12.7)
    assert calibrated(cfg, siglip).eps == pytest.approx(0.1 * REFERENCE_LOGIT_SCALE / 117.0)
    assert calibrated(cfg, Scales(1e-3, -10.0)).eps == pytest.approx(0.1 * MAX_FACTOR)  # bounded
    assert cost_scale(Scales(float("nan"), -10.0)) == 1.0
    off = EngineConfig(extra={"cost_scale": "off"})
    assert calibrated(off, siglip) is off
    assert calibrated(EngineConfig(extra={"cost_scale": 2}), siglip).eps == pytest.approx(0.2)
    for bad in ("sharp", -1, 0):
        with pytest.raises(ValueError, match="cost_scale must be"):
            calibrated(EngineConfig(extra={"cost_scale": bad}), siglip)


def _demo_features(model, n: int = 2):
    views = [make_views(render(s), f"h{s.seed}", ViewConfig(mode="grid"), model.image_size, model.mean, model.std)[0]
             for s in iter_scenes(DEMO_SEED_BASE, n)]
    f = model.encode_images(torch.cat(views)).view(n, views[0].shape[0], -1)
    return f[:, 0], f[:, 1:]


def test_random_sigmoid_tower_no_nan_no_degenerate_plans(hf_env, capsys):  # noqa: F811
    from engine.models import load_model

    m = load_model("hf-hub:test/siglip-tiny", device="cpu")
    assert is_sigmoid_model(m)
    g, r = _demo_features(m)
    classes = [ClassSpec(k, tuple(v)) for k, v in descriptors().items()]
    cfg = EngineConfig()
    texts = text_bank(m, classes, cfg)
    cal = calibrated(cfg, m)
    assert cal.eps != cfg.eps
    which = torch.arange(len(classes)).repeat(g.shape[0], 1)
    report = {}
    for label, eps in (("published eps", cfg.eps), ("calibrated eps", cal.eps)):
        res = lazsl_plans(g, r, texts.feats, texts.owner, which, n_classes=len(classes), eps=eps)
        assert torch.isfinite(res.scores).all() and torch.isfinite(res.plans).all()
        h = plan_entropy(res.plans)
        assert bool((h > 0.05).all()) and bool((h <= 1.0 + 1e-4).all())  # mass spread, never a spike
        # a transport plan, not a collapse: each column carries its attribute's share 1/M
        cols = res.plans.sum(-2)
        m_per = (res.attr_index >= 0).sum(-1, keepdim=True).float()
        assert torch.allclose(cols[res.attr_index >= 0], (1 / m_per).expand_as(cols)[res.attr_index >= 0], rtol=0.05)
        report[label] = (eps, float(h.mean()), float(h.min()))
    stats = similarity_spread(g, r, texts.feats)
    with capsys.disabled():
        print(f"\nrandom SigLIP-style tower: logit scale {m.logit_scale:.1f}, bias {m.logit_bias:.1f}; S {stats}")
        for k, (eps, hm, hmin) in report.items():
            print(f"  {k} {eps:.3f}: plan entropy mean {hm:.5f}, min {hmin:.5f}")


def test_pipeline_applies_the_calibration(hf_env, tmp_path):  # noqa: F811
    """score_cached on a sigmoid model scores with the calibrated eps; 'off' gives the published one."""
    from engine.cache import FeatureCache
    from engine.models import load_model
    from engine.pipeline import score_cached

    m = load_model("hf-hub:test/siglip-tiny", device="cpu")
    g, r = _demo_features(m, 2)
    cache = FeatureCache(tmp_path, m.model_id, "grid")
    boxes = torch.zeros(2, r.shape[1], 4)
    cache.put_batch(["a", "b"], g, r, boxes, image_sizes=[(64, 64)] * 2)
    classes = [ClassSpec(k, tuple(v)) for k, v in list(descriptors().items())[:4]]
    auto = score_cached(m, cache, ["a", "b"], classes, EngineConfig(explain_top=0), return_all=True).all_scores
    off = score_cached(m, cache, ["a", "b"], classes, EngineConfig(explain_top=0, extra={"cost_scale": "off"}),
                       return_all=True).all_scores
    by_hand = score_cached(m, cache, ["a", "b"], classes,
                           EngineConfig(explain_top=0, eps=calibrated(EngineConfig(), m).eps,
                                        extra={"cost_scale": "off"}), return_all=True).all_scores
    assert torch.equal(auto, by_hand) and not torch.equal(auto, off)
