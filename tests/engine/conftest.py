"""Engine fixtures: random unit features and a tiny random-initialised open_clip model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

TINY_NAME = "lazlabel-test-tiny"
TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def unit(*shape: int, gen: torch.Generator | None = None) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=gen), dim=-1)


def make_problem(B=5, N=24, D=48, C=7, max_m=6, seed=0, spread=0.6):
    """Random features with some structure (regions near the global view, attributes near images),
    varied attribute counts per class, attribute rows in shuffled class order."""
    g = torch.Generator().manual_seed(seed)
    P0 = unit(B, D, gen=g)
    R = F.normalize(unit(B, N, D, gen=g) + spread * P0[:, None], dim=-1)
    counts = torch.randint(1, max_m + 1, (C,), generator=g)
    ac = torch.repeat_interleave(torch.arange(C), counts)
    ac = ac[torch.randperm(len(ac), generator=g)]
    T = F.normalize(unit(len(ac), D, gen=g) + 0.4 * P0[torch.randint(0, B, (len(ac),), generator=g)], dim=-1)
    return P0, R, T, ac, C


@pytest.fixture(scope="session")
def tiny_model():
    from engine.models import load_model, register_model_config

    register_model_config(TINY_NAME, TINY_CFG)
    return load_model(f"random:{TINY_NAME}", device="cpu")
