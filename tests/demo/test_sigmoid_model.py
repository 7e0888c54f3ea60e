"""The shipped sigmoid-loss demo variant (`demo-sigmoid`): SigLIP's loss with multi-positive labels,
a toy training run that round-trips its logit bias through open_clip's local-dir layout, and the
shipped weights loading through the real path, detected as sigmoid, and scoring held-out scenes."""

from __future__ import annotations

import json
import math

import torch
from open_clip.loss import SigLipLoss

from engine.calibration import calibrated, cost_scale, is_sigmoid_model
from engine.demo_world import DEMO_SIGMOID_MODEL_SPEC, SIGMOID_WEIGHTS_DIR
from engine.demo_world.evaluate import MODES, evaluate
from engine.demo_world.train import MultiPositiveSigLipLoss, TrainConfig, save, soft_targets, train
from engine.models import load_model
from engine.types import EngineConfig

N_IMAGES = 28  # 2 per class; the full report (scripts/eval_demo.py) uses 280
# floor: lazsl measured 46.4% on these 28 scenes (61.4% on all 280); chance is 1/14 = 7.1%
LAZSL_FLOOR = 0.25


def test_loss_equals_open_clip_siglip_when_only_the_diagonal_is_positive():
    torch.manual_seed(0)
    img = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    scale, bias = torch.tensor(10.0), torch.tensor(-10.0)
    ours = MultiPositiveSigLipLoss()(img, txt, scale, bias, soft_targets([frozenset({i}) for i in range(6)]))
    assert torch.allclose(ours, SigLipLoss()(img, txt, scale, bias))
    # a duplicate caption turns its off-diagonal pair into a positive: lower loss when they agree
    dup = soft_targets([frozenset({0}), frozenset({0})] + [frozenset({i}) for i in range(2, 6)])
    same = torch.cat([img[:1], img[:1], img[2:]])
    bias = torch.tensor(-5.0)  # at -10 an identical pair's logit is exactly 0: both labels cost log 2
    assert MultiPositiveSigLipLoss()(same, same, scale, bias, dup) < SigLipLoss()(same, same, scale, bias)


def test_toy_sigmoid_run_keeps_its_logit_bias_through_save_and_load(tmp_path):
    model, stats = train(TrainConfig(steps=2, batch=8, pool=8, refresh=2, warmup=1, seed=1, loss="sigmoid"),
                         log=lambda m: None)
    assert stats["loss"] == "sigmoid" and math.isfinite(stats["final_loss"])
    save(model, tmp_path, stats)
    assert json.loads((tmp_path / "open_clip_config.json").read_text())["model_cfg"]["init_logit_bias"] == -10
    m = load_model(f"local-dir:{tmp_path}", device="cpu")
    assert is_sigmoid_model(m) and abs(m.logit_bias - float(model.logit_bias)) < 0.05


def test_shipped_sigmoid_variant_loads_is_calibrated_and_scores_above_chance():
    files = sorted(p.name for p in SIGMOID_WEIGHTS_DIR.iterdir() if p.suffix == ".safetensors")
    assert files == ["open_clip_model.safetensors"]
    assert (SIGMOID_WEIGHTS_DIR / "open_clip_model.safetensors").stat().st_size <= 20 * 2**20
    model = load_model("demo-sigmoid", device="cpu")
    assert model.model_id == load_model(DEMO_SIGMOID_MODEL_SPEC, device="cpu").model_id
    assert is_sigmoid_model(model) and not is_sigmoid_model(load_model("demo", device="cpu"))
    config = calibrated(EngineConfig(), model)
    assert config.eps == EngineConfig().eps * cost_scale(model) != EngineConfig().eps
    torch.set_num_threads(2)
    (lazsl,) = evaluate(model, n_images=N_IMAGES, modes=MODES[2:3], config=config)
    assert math.isfinite(lazsl.accuracy) and lazsl.accuracy >= LAZSL_FLOOR
