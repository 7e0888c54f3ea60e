"""MSCI as a route of `scripts/eval_czsl.py --with msci` (the hook of engine/compose_eval.py):
trained once per process on the compositional demo world's `train` split (the seen pairs), then
scoring any evaluation set over all of its pairs with the published inference rule.

Same setting as `scripts/train_msci.py` (80 images per seen pair, 15 epochs, lr 1e-3, seed 0), so
the numbers of the two scripts agree; docs/architecture.md, "MSCI".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from engine.demo_world import compositional as cw
from engine.demo_world.scenes import render
from engine.msci.config import MSCIConfig
from engine.msci.data import frozen_tokens_of
from engine.msci.model import MSCI
from engine.msci.train import predict_scores, train_msci

TRAIN_PER_PAIR = 80
CONFIG = MSCIConfig(lr=1e-3)
SEED = 0
_trained: dict[str, MSCI] = {}


def _pair_index(pairs: Any) -> torch.Tensor:
    return torch.tensor([[cw.STATES.index(p.state), cw.OBJECTS.index(p.object)] for p in pairs], dtype=torch.long)


def trained_model(clip: Any, log: Callable[[str], None] | None = None) -> MSCI:
    """MSCI trained on the seen pairs for this model (cached for the process)."""
    if clip.model_id in _trained:
        return _trained[clip.model_id]
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches: more threads only spin on a shared CPU
    try:
        torch.manual_seed(SEED)
        net = MSCI(clip.model, clip.tokenizer, cw.STATES, cw.OBJECTS, CONFIG, seed=SEED)
        scenes = list(cw.iter_scenes("train", TRAIN_PER_PAIR * len(cw.SEEN_PAIRS)))
        tokens = frozen_tokens_of(net, [render(s) for _p, s in scenes], clip.image_size, clip.mean, clip.std)
        y = _pair_index([p for p, _s in scenes])
        res = train_msci(net, tokens, y[:, 0], y[:, 1], _pair_index(cw.SEEN_PAIRS), seed=SEED)
        if log:
            log(f"msci: trained on {len(scenes)} images of the seen pairs in {res.seconds:.0f}s "
                f"(best epoch {res.best_epoch} of {res.epochs_run})")
    finally:
        torch.set_num_threads(before)
    _trained[clip.model_id] = net
    return net


def score(clip: Any, ds: Any, classes: Any, config: Any) -> np.ndarray:
    """Scores [N, P] of the set's images over `ds.pairs` (pair logit + p(state) p(object))."""
    net = trained_model(clip)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tokens = frozen_tokens_of(net, ds.images, clip.image_size, clip.mean, clip.std)
        return predict_scores(net, tokens, _pair_index(ds.pairs))["pair"].float().numpy()
    finally:
        torch.set_num_threads(before)


def register(register_scorer: Callable[[str, str, Any], None]) -> None:
    register_scorer("msci", f"MSCI trained on the seen pairs ({TRAIN_PER_PAIR} images each, published "
                    "configuration, lr 1e-3)", score)
