"""The `msci` learning method: MSCI (engine/msci) trained on the curators' decided pairs of a
compositional project (the seen pairs) and scoring every allowed pair, unseen ones included.

It shares the learning-run machinery of `workflows.learning` (a run of kind "learn" over the
latest prediction run, a content-addressed parameter file, preview before commit, activate/undo),
but learns from the images themselves, not from the feature cache: MSCI adapts the image encoder.
The frozen part of the image path (before the first adapter) is computed once per image per run.
docs/architecture.md, "MSCI".
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import torch

from db.queries import ImageFilter
from db.store_learning import LEARN_KIND
from engine.imageio import ImageError, open_rgb
from engine.learn import params as param_files
from engine.learn.learners import one_thread
from engine.msci import MSCI, MSCIConfig, iter_train, predict_scores
from engine.msci.data import pixels
from engine.msci.towers import unsupported
from engine.types import LEARN_METHODS
from workflows.errors import UserError
from workflows.progress import Cancelled, CancelToken, Progress, check
from workflows.scoring import ScoringContext
from workflows.settings import ProjectSettings

METHOD = "msci"
#: Our defaults over the published configuration (engine/msci/config.py). lr: the published 2.5e-4
#: is tuned for ViT-L/14; the small demo model learns several times slower with it (measured in
#: docs/architecture.md, "MSCI"), 1e-3 reaches a better held-out accuracy in the same epochs.
DEFAULT_HYPER: dict[str, Any] = {"lr": 1e-3}
MIN_DECIDED = 4
ENCODE_BATCH = 64


def _config(hyper: dict[str, Any] | None) -> MSCIConfig:
    merged = {**DEFAULT_HYPER, **(hyper or {})}
    try:
        return MSCIConfig.from_json({**MSCIConfig().to_json(), **merged})
    except (TypeError, ValueError) as err:
        raise UserError(f"msci: {err}") from None


def _label_space(project: Any) -> Any:
    """The project's states, objects and pairs; a one-line error for a flat project."""
    space = project.label_space() if hasattr(project, "label_space") else None
    if space is None or not space.pairs:
        raise UserError("msci learns (state, object) pairs and this project has none: add them with "
                        "`lazlabel classes compose --states ... --objects ...`")
    return space


def _pairs(project: Any, ctx: ScoringContext) -> tuple[list[str], list[str], torch.Tensor]:
    """States, objects and the (state, object) index of every active class, in the context's order."""
    space = _label_space(project)
    of_class = {p.class_id: (p.state, p.object) for p in space.pairs}
    flat = [cid for cid in ctx.class_ids if cid not in of_class]
    if flat:
        raise UserError(f"msci scores (state, object) pairs only: {len(flat)} active class(es) are not pairs "
                        "(deactivate them or make them pairs with `lazlabel classes compose`)")
    states, objects = list(space.states), list(space.objects)
    s_idx = {s: i for i, s in enumerate(states)}
    o_idx = {o: i for i, o in enumerate(objects)}
    pairs = torch.tensor([[s_idx[of_class[c][0]], o_idx[of_class[c][1]]] for c in ctx.class_ids], dtype=torch.long)
    return states, objects, pairs


def _tokens(project: Any, ctx: ScoringContext, model: MSCI, ids: list[int], cancel: CancelToken | None
            ) -> Generator[Progress, None, tuple[list[int], torch.Tensor]]:
    """The frozen image path of every readable image, in batches (ids of unreadable files dropped)."""
    paths = project.image_paths(ids)
    clip = ctx.model
    kept: list[int] = []
    out: list[torch.Tensor] = []
    started = time.monotonic()
    for s in range(0, len(ids), ENCODE_BATCH):
        check(cancel)
        batch, imgs = [], []
        for iid in ids[s:s + ENCODE_BATCH]:
            try:
                imgs.append(open_rgb(paths[iid]))
                batch.append(iid)
            except (ImageError, KeyError):
                continue
        if imgs:
            out.append(model.frozen_tokens(pixels(imgs, clip.image_size, clip.mean, clip.std).to(clip.device)))
            kept.extend(batch)
        done = min(s + ENCODE_BATCH, len(ids))
        yield Progress(done, len(ids), f"encoded {done}/{len(ids)} images", stage="encode", started=started)
    return kept, (torch.cat(out) if out else torch.zeros(0))


def learn_msci(project: Any, *, seed: int = 0, preview: bool = False, hyper: dict[str, Any] | None = None,
               cancel: CancelToken | None = None, settings: ProjectSettings | None = None
               ) -> Generator[Progress, None, Any]:
    """Train MSCI on the decided pairs and (unless `preview`) commit its predictions as a learning run."""
    from workflows.learning import (
        LearnResult,
        _check_parent,
        _message,
        _params_dir,
        activate,
        decided_examples,
        store_learned_scores,
    )

    t0 = time.perf_counter()
    yield Progress(0, None, "loading model and classes", stage="prepare")
    _label_space(project)
    ctx = ScoringContext.from_project(project, settings)
    parent = _check_parent(project, ctx)
    states, objects, pair_idx = _pairs(project, ctx)
    why = unsupported(ctx.model.model)
    if why:
        raise UserError(f"msci cannot use {ctx.model_id}: {why}")
    cfg = _config(hyper)
    examples = decided_examples(project)
    index = ctx.class_index
    pos = [(i, index[c]) for i, c in examples.positives if c in index]
    if len(pos) < MIN_DECIDED:
        raise UserError(f"msci needs at least {MIN_DECIDED} decided images of pairs (accepted or corrected); "
                        f"there are {len(pos)}")
    timings: dict[str, float] = {}
    with one_thread():
        model = MSCI(ctx.model.model, ctx.model.tokenizer, states, objects, cfg, seed=seed).to(ctx.model.device)
        # 1. the frozen image path of every image, once (decided ones are a subset)
        t = time.perf_counter()
        ids = project.image_ids(ImageFilter(status="ok"))
        kept, tokens = yield from _tokens(project, ctx, model, ids, cancel)
        timings["encode_s"] = time.perf_counter() - t
        row_of = {iid: r for r, iid in enumerate(kept)}
        pos = [(row_of[i], c) for i, c in pos if i in row_of]
        if len(pos) < MIN_DECIDED:
            raise UserError(f"msci needs at least {MIN_DECIDED} readable decided images; there are {len(pos)}")
        rows = torch.tensor([r for r, _c in pos], dtype=torch.long)
        cls = torch.tensor([c for _r, c in pos], dtype=torch.long)
        seen = sorted(set(cls.tolist()))  # the seen pairs: those the curators decided
        seen_t = torch.tensor(seen, dtype=torch.long)
        y = pair_idx[cls]
        # 2. train on the seen pairs (held-out seen images pick the epoch)
        t = time.perf_counter()
        started = time.monotonic()
        gen = iter_train(model, tokens[rows], y[:, 0], y[:, 1], pair_idx[seen_t], seed=seed)
        try:
            while True:
                info = next(gen)
                msg = f"epoch {info['epoch']}/{info['epochs']} loss {info['loss']:.3f}"
                if "val_accuracy" in info:
                    msg += f", held-out seen pairs {100 * info['val_accuracy']:.1f}%"
                yield Progress(info["step"], info["steps"], msg, stage="train", started=started, extra=dict(info))
                check(cancel)
        except StopIteration as stop:
            trained = stop.value
        except (Cancelled, GeneratorExit, KeyboardInterrupt):
            gen.close()
            raise
        timings["train_s"] = time.perf_counter() - t
        # 3. every image scored over every allowed pair (the inference rule)
        t = time.perf_counter()
        scores = predict_scores(model, tokens, pair_idx.to(tokens.device))["pair"].float().cpu()
        timings["score_s"] = time.perf_counter() - t
    before = project.current_top1()
    top1 = [ctx.class_ids[c] for c in scores.argmax(1).tolist()]
    changes = [(iid, before.get(iid), new) for iid, new in zip(kept, top1) if before.get(iid) != new]
    # held out: the zero-shot top-1 shown before vs MSCI on the decided images training never saw
    val = [int(r) for r in rows[trained.val_rows].tolist()] if len(trained.val_rows) else []
    truth = {int(r): ctx.class_ids[int(c)] for r, c in zip(rows.tolist(), cls.tolist())}
    cv_zs = cv_ms = None
    if val:
        cv_zs = sum(before.get(kept[r]) == truth[r] for r in val) / len(val)
        cv_ms = sum(top1[r] == truth[r] for r in val) / len(val)
    hyper_out = {k: v for k, v in cfg.to_json().items() if k in ("lr", "weight_decay", "epochs", "train_batch_size")}
    hyper_out.update(best_epoch=trained.best_epoch, epochs_run=trained.epochs_run, seen_pairs=len(seen),
                     **{k: v for k, v in (hyper or {}).items() if k not in hyper_out})
    result = LearnResult(
        preview=preview, run_id=None, parent_run_id=parent.id, method=METHOD,
        explainable=LEARN_METHODS[METHOD].explainable, hyperparameters=hyper_out, seed=int(seed),
        n_decisions=len(pos), n_positive=len(pos), n_negative=0, last_decision_id=examples.last_decision_id,
        attribute_set_version=ctx.attribute_set_version, cv_zero_shot=cv_zs, cv_learned=cv_ms, n_heldout=len(val),
        classes_learned=len(seen), changes=changes, n_scored=len(kept), timings=timings,
    )
    if preview:
        result.message = _message(result) + _unseen_note(len(seen), len(ctx.class_ids))
        timings["total_s"] = time.perf_counter() - t0
        yield Progress(1, 1, result.message, stage="done")
        return result
    meta = {"method": METHOD, "config": cfg.to_json(), "seed": int(seed), "states": states, "objects": objects,
            "class_ids": ctx.class_ids, "pairs": pair_idx.tolist(), "seen": seen, "model_id": ctx.model_id,
            "history": trained.history}
    digest, _path = param_files.save(_params_dir(project), trained.state, meta)
    result.params_hash = digest
    record = {
        "method": METHOD, "explainable": result.explainable, "hyperparameters": result.hyperparameters,
        "seed": result.seed, "n_decisions": result.n_decisions, "n_positive": result.n_positive,
        "n_negative": 0, "last_decision_id": result.last_decision_id,
        "attribute_set_version": result.attribute_set_version, "params_hash": digest,
        "cv": {"zero_shot": cv_zs, "learned": cv_ms, "n_heldout": len(val)},
        "classes_learned": len(seen), "n_changed": result.n_changed, "history": trained.history,
    }
    run_id = project.create_run(
        kind=LEARN_KIND, parent_run_id=parent.id, model_id=ctx.model_id,
        engine_config={**ctx.config_dict(), "learn": record},
        attribute_set_version=project.snapshot_attribute_set(), n_images=len(kept),
    )
    result.run_id = run_id
    t = time.perf_counter()
    yield from store_learned_scores(project, run_id, kept, scores, ctx, cancel)
    timings["store_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    result.message = _message(result) + _unseen_note(len(seen), len(ctx.class_ids))
    project.update_run(run_id, status="done", timings=timings, message=result.message, finished=True)
    activate(project, run_id)
    yield Progress(len(kept), len(kept), result.message, stage="done")
    return result


def _unseen_note(n_seen: int, n_pairs: int) -> str:
    unseen = n_pairs - n_seen
    return f"; {n_seen} seen pairs, {unseen} never decided (predicted from their state and object)" if unseen else ""
