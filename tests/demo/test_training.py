"""The training script's code path end to end on a toy budget: it trains, saves open_clip's
local-dir layout, and the result loads through the engine's normal model loading."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from engine.demo_world.train import CONFIG_FILE, WEIGHTS_FILE, TrainConfig, save, soft_targets, train
from engine.models import load_model


def test_duplicate_captions_are_positives_not_negatives():
    a, b = frozenset({"x"}), frozenset({"y"})
    t = soft_targets([a, b, a])
    assert torch.allclose(t.sum(1), torch.ones(3))
    assert t[0, 2] == t[0, 0] == 0.5 and t[0, 1] == 0 and t[1, 1] == 1


def test_toy_run_saves_a_loadable_local_dir(tmp_path):
    cfg = TrainConfig(steps=3, batch=8, pool=8, refresh=2, warmup=1, seed=1)
    model, stats = train(cfg, log=lambda m: None)
    assert stats["steps_done"] == 3 and stats["scenes_seen"] == 8 + 3 * 2
    before = model.state_dict()["logit_scale"].clone()
    path = save(model, tmp_path, stats)
    cfg_json = json.loads((tmp_path / CONFIG_FILE).read_text())
    assert {"model_cfg", "preprocess_cfg"} <= set(cfg_json)
    tensors = load_file(str(path))
    assert path.name == WEIGHTS_FILE and all(v.dtype == torch.float16 for v in tensors.values())
    m = load_model(f"local-dir:{tmp_path}", device="cpu")
    assert m.image_size == cfg_json["model_cfg"]["vision_cfg"]["image_size"]
    assert torch.allclose(m.model.logit_scale.detach(), before.half().float())
    feats = m.encode_texts(["a red striped circle", "a blue triangle"])
    assert feats.shape == (2, cfg_json["model_cfg"]["embed_dim"])
    x = torch.zeros(1, 3, m.image_size, m.image_size)
    assert torch.isfinite(m.encode_images(x)).all()
