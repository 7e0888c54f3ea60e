"""Training and prediction for MSCI: batched, seeded, with progress and cancel between batches.

Published optimisation (config/msci/ut-zappos.yml): AdamW, lr 2.5e-4, weight decay 1e-5, batch 48,
StepLR (step 5 epochs, gamma 0.5), 15 epochs, loss = pair + state + object cross-entropy over the
seen pairs. The best epoch is picked on held-out images of the seen pairs (early stopping).
The frozen image path before the first adapter is computed once per image (`MSCI.frozen_tokens`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import torch

from engine.msci.model import MSCI


class TrainingCancelled(Exception):
    """The cancel callback said stop; nothing was kept."""


@dataclass
class TrainResult:
    """Learned parameters (best epoch) and how training went."""

    state: dict[str, torch.Tensor]
    best_epoch: int
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    n_train: int = 0
    n_val: int = 0
    best_val_accuracy: float | None = None
    val_rows: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))  # held-out rows


def pair_targets(state: torch.Tensor, obj: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """Index of each image's (state, object) in `pairs` [K, 2]; ValueError if one is missing."""
    n_obj = int(max(obj.max(), pairs[:, 1].max())) + 1
    code = pairs[:, 0] * n_obj + pairs[:, 1]
    lookup = {int(c): i for i, c in enumerate(code.tolist())}
    want = (state * n_obj + obj).tolist()
    missing = sorted({c for c in want if c not in lookup})
    if missing:
        raise ValueError(f"{len(missing)} labelled pair(s) are not among the training pairs")
    return torch.tensor([lookup[c] for c in want], dtype=torch.long)


def held_out_split(target: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pair, a `fraction` of its images (none when it has fewer than 3) held out for early stopping."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(target), generator=g)
    order = perm[torch.argsort(target[perm], stable=True)]  # shuffled within each pair
    counts = torch.bincount(target, minlength=int(target.max()) + 1)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(order)) - starts[target[order]]
    n_val = torch.where(counts >= 3, (counts.float() * fraction).round().long().clamp(min=1), torch.zeros_like(counts))
    is_val = rank < n_val[target[order]]
    return order[~is_val].sort().values, order[is_val].sort().values


def _trainable(model: MSCI) -> list[torch.nn.Parameter]:
    return [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("clip.")]


@torch.no_grad()
def predict_scores(model: MSCI, tokens: torch.Tensor, pairs: torch.Tensor, batch_size: int = 128) -> dict[str, torch.Tensor]:
    """Eval-mode scores over `pairs` [K, 2] for cached frozen tokens [N, 1+P, W]:
    ``pair`` (the inference rule), ``comp`` (pair logits), ``state`` / ``object`` (probabilities)."""
    model.eval()
    pairs = pairs.to(tokens.device)
    text = model.text_features(pairs)
    out: dict[str, list[torch.Tensor]] = {"pair": [], "comp": [], "state": [], "object": []}
    for i in range(0, len(tokens), batch_size):
        logits = model.logits(tokens[i:i + batch_size], text)
        out["pair"].append(model.logit_infer(logits, pairs))
        out["comp"].append(logits[0])
        out["state"].append(logits[1].softmax(-1))
        out["object"].append(logits[2].softmax(-1))
    return {k: torch.cat(v) if v else torch.zeros(0) for k, v in out.items()}


def iter_train(model: MSCI, tokens: torch.Tensor, state: torch.Tensor, obj: torch.Tensor, pairs: torch.Tensor,
               *, seed: int = 0, epochs: int | None = None) -> Generator[dict[str, Any], None, TrainResult]:
    """Train on cached frozen tokens [N, 1+P, W] labelled (state, object), over the seen `pairs`.

    Yields a dict after every batch (``epoch``, ``step``, ``steps``, ``loss``) and after every epoch
    (``val_accuracy`` too); the caller may stop iterating (close()) to cancel. Returns the best
    epoch's parameters by held-out accuracy on the seen pairs, with early stopping (``patience``);
    with fewer than ``min_val`` held-out images, every image trains and the last epoch is kept.
    """
    cfg = model.config
    epochs = cfg.epochs if epochs is None else epochs
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    state, obj, pairs = state.cpu(), obj.cpu(), pairs.cpu()
    target = pair_targets(state, obj, pairs)
    tr, va = held_out_split(target, cfg.val_fraction, seed)
    if len(va) < cfg.min_val:  # too few to choose an epoch by: all images train, the last epoch is kept
        tr, va = torch.arange(len(target)), torch.zeros(0, dtype=torch.long)
    params = _trainable(model)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma)
    g = torch.Generator().manual_seed(seed)
    bs = cfg.train_batch_size
    steps_per_epoch = max(1, -(-len(tr) // bs))
    total = steps_per_epoch * epochs
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    history: list[dict[str, float]] = []
    stale = 0
    step = 0
    epoch = 0
    for epoch in range(1, epochs + 1):
        model.train()
        order = tr[torch.randperm(len(tr), generator=g)]
        losses = []
        for i in range(0, len(order), bs):
            idx = order[i:i + bs]
            if len(idx) < 2:  # BatchNorm in the disentanglers needs two images
                continue
            dev = tokens.device
            logits = model(tokens[idx.to(dev)], pairs.to(dev))
            loss = model.loss(logits, target[idx].to(dev), state[idx].to(dev), obj[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            losses.append(float(loss.detach()))
            yield {"epoch": epoch, "epochs": epochs, "step": step, "steps": total, "loss": losses[-1]}
        sched.step()
        row = {"epoch": float(epoch), "loss": sum(losses) / max(1, len(losses))}
        if len(va):
            scores = predict_scores(model, tokens[va.to(tokens.device)], pairs)["pair"]
            row["val_accuracy"] = float((scores.argmax(-1).cpu() == target[va]).float().mean())
            score = row["val_accuracy"]
        else:
            score = float(epoch)  # nothing held out: the last epoch
        history.append(row)
        if best is None or score > best[0]:
            best, stale = (score, epoch, model.trainable_state()), 0
        else:
            stale += 1
        yield {"epoch": epoch, "epochs": epochs, "step": step, "steps": total, **row}
        if len(va) and stale >= cfg.patience:
            break
    assert best is not None
    model.load_trainable_state(best[2])
    model.eval()
    return TrainResult(state=best[2], best_epoch=best[1], epochs_run=epoch, history=history,
                       seconds=time.perf_counter() - t0, n_train=len(tr), n_val=len(va),
                       best_val_accuracy=best[0] if len(va) else None, val_rows=va)


def train_msci(model: MSCI, tokens: torch.Tensor, state: torch.Tensor, obj: torch.Tensor, pairs: torch.Tensor,
               *, seed: int = 0, epochs: int | None = None, progress: Callable[[dict[str, Any]], None] | None = None,
               cancel: Callable[[], bool] | None = None) -> TrainResult:
    """`iter_train` driven with callbacks; raises TrainingCancelled when `cancel()` turns true."""
    gen = iter_train(model, tokens, state, obj, pairs, seed=seed, epochs=epochs)
    try:
        while True:
            info = next(gen)
            if progress is not None:
                progress(info)
            if cancel is not None and cancel():
                gen.close()
                raise TrainingCancelled()
    except StopIteration as stop:
        result: TrainResult = stop.value  # the generator's return value (StopIteration types it Any)
        return result
