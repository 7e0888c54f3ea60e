"""Encode images into the feature cache and score from it; the use-case layer drives these.

`encode_images` decodes and cuts views on a background thread (bounded queue) while the model
encodes the previous batch; `score_cached` scores from the cache only (attribute edits re-score
without touching images); `prelabel` chains both per batch. Cancel is any object with a
`.cancelled` attribute, checked between forward passes of the image encoder (a batch of 32
images in random mode is a dozen passes): a cancelled batch stores the images that went through
the encoder whole as a smaller final shard (never a torn entry) and drops the rest. Progress is
reported per forward pass (`EncodeEvent.in_flight`), so a watcher sees images move within a batch.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from engine.alignment import clip_scores, dclip_scores, lazsl_plans, lazsl_scores, uses_cpu_kernel
from engine.cache import FeatureCache
from engine.calibration import calibrated
from engine.compose import PairIndex, marginal_evidence, marginal_scores, pair_index
from engine.evidence import AttributeEvidence, ClassEvidence
from engine.explain import explain_batch, paused_gc
from engine.imageio import ImageError, open_rgb
from engine.localize import (
    DEFAULT_MAP_METHOD,
    capture_last_block,
    clear_tokens,
    pool_tokens,
    supports_tokens,
    wants_tokens,
)
from engine.models import ClipModel
from engine.prompts import CLIP_TEMPLATES, class_prompts, name_prompts
from engine.types import ClassSpec, EngineConfig, ViewConfig
from engine.views import global_crop_box, make_views

#: Views per forward pass of the image encoder (bounds activation memory).
ENCODE_VIEWS_PER_PASS = 256
#: Images per scoring chunk read back from the cache.
SCORE_CHUNK = 512


@dataclass(frozen=True)
class ImageItem:
    """An image to process: `key` is the caller's id (e.g. the db image id), echoed in events."""

    key: Any
    path: Path
    content_hash: str


@dataclass
class EncodeEvent:
    """One step of `encode_images`: keys encoded and cached now (`encoded`), keys whose features
    were already cached (`cached`), failures (`errors`: key → reason), original (W,H) of the
    encoded images, and running counts over all items.

    An event with only `in_flight` set is progress inside a batch: that many images of the batch
    being encoded have been through the image encoder but are not stored yet (not in `done`)."""

    encoded: list[Any] = field(default_factory=list)
    cached: list[Any] = field(default_factory=list)
    errors: dict[Any, str] = field(default_factory=dict)
    image_sizes: dict[Any, tuple[int, int]] = field(default_factory=dict)
    done: int = 0
    total: int = 0
    in_flight: int = 0


@dataclass
class ScoreResult:
    """Top-k predictions for cached images (rows follow the `hashes` order).

    ``margin`` = top-1 minus top-2 score (0 with a single class). ``explanations[i]`` holds the
    ClassEvidence of image i's top `explain_top` classes, best first.
    """

    topk_idx: torch.Tensor
    topk_scores: torch.Tensor
    margin: torch.Tensor
    explanations: list[list[ClassEvidence]]
    all_scores: torch.Tensor | None = None


@dataclass
class BatchResult:
    """`prelabel` output for one batch: which items were scored (rows of `result`) and which failed."""

    items: list[ImageItem]
    result: ScoreResult | None
    errors: dict[Any, str] = field(default_factory=dict)
    done: int = 0
    total: int = 0
    in_flight: int = 0  # images of the batch being encoded that went through the encoder (EncodeEvent)


# ----------------------------------------------------------------------------- encoding


_STOP = object()


def _decoder(items: Sequence[ImageItem], model: ClipModel, view_cfg: ViewConfig, out: queue.Queue,
             stop: threading.Event) -> None:
    """Background thread: open each image and cut its views; errors become (item, reason)."""
    grid = model.patch_grid if view_cfg.mode == "dense" else (7, 7)
    try:
        for it in items:
            if stop.is_set():
                break
            try:
                img = open_rgb(it.path)
                views, boxes = make_views(img, it.content_hash, view_cfg, model.image_size, model.mean, model.std,
                                          dense_grid=grid)
                msg = (it, views, boxes, img.size, None)
            except ImageError as e:
                msg = (it, None, None, None, str(e))
            except Exception as e:  # a codec or transform bug must not kill the run
                msg = (it, None, None, None, f"could not prepare views: {type(e).__name__}: {e}")
            while not stop.is_set():
                try:
                    out.put(msg, timeout=0.1)
                    break
                except queue.Full:
                    continue
    finally:
        while not stop.is_set():
            try:
                out.put(_STOP, timeout=0.1)
                break
            except queue.Full:
                continue


def _encode_batch(model: ClipModel, views: list[torch.Tensor], dense: bool, tokens: bool = True,
                  cancel: Any = None) -> Generator[int, None, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    """Views of b images → global [b,D], regions [b,N,D] and, for ViT towers when `tokens`, every
    view's text-aligned patch tokens [b,V,P,D] (engine/localize.py), all on CPU.

    A generator: yields the number of images whose every view has been through the encoder after
    each forward pass, and returns the features. When `cancel` is set between passes it stops
    and returns the features of the images encoded whole so far (fewer rows than `views`)."""
    visual = model.model.visual
    want_tokens = tokens and supports_tokens(visual)
    x = torch.cat(views)
    nv = views[0].shape[0]
    gs, rs, ts = [], [], []
    rows = 0
    with contextlib.ExitStack() as stack:
        seen = stack.enter_context(capture_last_block(visual)) if want_tokens else None
        for i in range(0, x.shape[0], ENCODE_VIEWS_PER_PASS):
            if i and _cancelled(cancel):
                break
            if dense:
                g, r, _ = model.encode_dense(x[i:i + ENCODE_VIEWS_PER_PASS])
                gs.append(g.cpu())
                rs.append(r.cpu())
            else:
                gs.append(model.encode_images(x[i:i + ENCODE_VIEWS_PER_PASS]).cpu())
            if seen:
                ts.append(clear_tokens(visual, seen.pop()).cpu())
                seen.clear()
            rows = min(i + ENCODE_VIEWS_PER_PASS, x.shape[0])
            yield rows // nv
    n = rows // nv  # images encoded whole (all of them unless cancelled)
    keep = n * nv
    tokens = torch.cat(ts)[:keep].view(n, nv, -1, ts[0].shape[-1]) if ts else None
    if dense:
        return torch.cat(gs)[:n], torch.cat(rs)[:n], tokens
    f = torch.cat(gs)[:keep].view(n, nv, -1)
    return f[:, 0].contiguous(), f[:, 1:].contiguous(), tokens


def _pooled_patches(tokens: torch.Tensor | None, region_boxes: torch.Tensor, sizes: list[tuple[int, int]],
                    grid: tuple[int, int], dense: bool) -> torch.Tensor | None:
    """Every view's patch tokens pooled onto a grid over each image (the cache's "p" part)."""
    if tokens is None:
        return None
    wh = torch.tensor(sizes, dtype=torch.float32)
    glob = torch.tensor([global_crop_box(w, h) for w, h in sizes], dtype=torch.float32)[:, None]
    view_boxes = glob if dense else torch.cat([glob, region_boxes.float()], dim=1)
    return pool_tokens(tokens, view_boxes, grid, wh)


def _cancelled(cancel: Any) -> bool:
    return bool(cancel is not None and getattr(cancel, "cancelled", False))


def encode_images(model: ClipModel, items: Sequence[ImageItem], view_cfg: ViewConfig, cache: FeatureCache,
                  batch_size: int = 32, cancel: Any = None) -> Iterator[EncodeEvent]:
    """Encode every not-yet-cached item's views into `cache`; one stored event per batch, and
    `in_flight` events after each forward pass inside a batch.

    Already-cached items are reported first (in batches, `cached`), then new ones as they are
    encoded. A broken image is an `errors` entry with its reason. Stops quietly when
    `cancel.cancelled` becomes true, within one forward pass: every finished batch is stored, and
    of the batch being encoded the images that went through the encoder whole are stored as a
    smaller shard; the others are not cached (they are encoded on the next run).
    """
    items = list(items)
    if view_cfg.mode == "dense" and not model.supports_dense:
        raise ValueError(getattr(model, "dense_unsupported", None)
                         or f"dense region mode needs a ViT image tower with patch tokens; {model.model_id} has none")
    total = len(items)
    done = 0
    todo = [it for it in items if not cache.has(it.content_hash)]
    todo_set = {id(it) for it in todo}
    cached = [it for it in items if id(it) not in todo_set]
    for i in range(0, len(cached), batch_size):
        chunk = cached[i:i + batch_size]
        done += len(chunk)
        yield EncodeEvent(cached=[it.key for it in chunk], done=done, total=total)
    if not todo or _cancelled(cancel):
        return
    q: queue.Queue = queue.Queue(maxsize=max(2, 2 * batch_size))
    stop = threading.Event()
    th = threading.Thread(target=_decoder, args=(todo, model, view_cfg, q, stop), name="lazlabel-decoder", daemon=True)
    th.start()
    dense = view_cfg.mode == "dense"
    try:
        finished = False
        while not finished:
            batch: list[tuple] = []
            errors: dict[Any, str] = {}
            while len(batch) < batch_size:
                try:
                    msg = q.get(timeout=0.1)
                except queue.Empty:  # the decoder is behind: a cancel need not wait for it
                    if _cancelled(cancel):
                        batch, finished = [], True
                        break
                    continue
                if msg is _STOP:
                    finished = True
                    break
                it, views, boxes, size, err = msg
                if err is not None:
                    errors[it.key] = err
                else:
                    batch.append((it, views, boxes, size))
            ev = EncodeEvent(errors=errors)
            if _cancelled(cancel):
                batch = []  # decoded, not encoded: nothing of it is stored
            if batch:
                views = [b[1] for b in batch]
                with contextlib.closing(_encode_batch(model, views, dense, wants_tokens(view_cfg.mode), cancel)) as passes:
                    while True:
                        try:
                            whole = next(passes)
                        except StopIteration as end:
                            g, r, tokens = end.value
                            break
                        if whole < len(batch):  # the store event follows the last pass at once
                            yield EncodeEvent(done=done, total=total, in_flight=whole)
                # cancelled mid-batch: the images encoded whole form a smaller final shard
                batch = batch[:g.shape[0]]
            if batch:
                # same-hash duplicates inside a batch are encoded once by the cache's skip rule
                boxes = torch.stack([b[2] for b in batch])
                sizes = [b[3] for b in batch]
                patches = _pooled_patches(tokens, boxes, sizes, model.patch_grid, dense)
                cache.put_batch([b[0].content_hash for b in batch], g, r, boxes, image_sizes=sizes,
                                patch_maps=patches)
                ev.encoded = [b[0].key for b in batch]
                ev.image_sizes = {b[0].key: b[3] for b in batch}
            done += len(batch) + len(errors)
            ev.done, ev.total = done, total
            if ev.encoded or ev.errors:
                yield ev
            if _cancelled(cancel):
                return
    finally:
        stop.set()
        th.join(timeout=10)


# ----------------------------------------------------------------------------- scoring


@dataclass
class TextBank:
    """Encoded class texts: `feats` [T,D] unit rows, `owner` [T] class of each row, and for
    attribute texts `first_row[c]` = the row of class c's first attribute (rows are in class order)."""

    sentences: list[str]
    owner: torch.Tensor
    feats: torch.Tensor
    first_row: list[int]
    pairs: PairIndex | None = None  # the marginals method: which rows are states / objects (engine/compose.py)




def _first_rows(owner: torch.Tensor, n: int) -> list[int]:
    counts = torch.bincount(owner, minlength=n)
    return (torch.cumsum(counts, 0) - counts).tolist()


def _attribute_texts(model: ClipModel, classes: Sequence[ClassSpec], config: EngineConfig) -> TextBank:
    sentences, owner = class_prompts(classes, config.prompt_style, config.imagenet_suffix)
    return TextBank(sentences, owner, model.encode_texts(sentences), _first_rows(owner, len(classes)))


def _score_lazsl(g, r, mask, texts: TextBank, C: int, config: EngineConfig) -> torch.Tensor:
    kw = dict(n_classes=C, alpha=config.alpha, eps=config.eps, gamma=config.gamma, max_iter=config.max_iter,
              tol=config.tol, mode=config.ot_mode, region_mask=mask)
    cand = None
    if config.prefilter_k and config.prefilter_k < C:
        cand = dclip_scores(g, texts.feats, texts.owner, C).topk(config.prefilter_k, dim=1).indices
    return lazsl_scores(g, r, texts.feats, texts.owner, classes=cand, **kw).scores


def _score_dclip(g, r, mask, texts: TextBank, C: int, config: EngineConfig) -> torch.Tensor:
    return dclip_scores(g, texts.feats, texts.owner, C)


def _score_clip(g, r, mask, texts: TextBank, C: int, config: EngineConfig) -> torch.Tensor:
    return clip_scores(g, texts.feats, texts.owner, C)


def _score_marginals(g, r, mask, texts: TextBank, C: int, config: EngineConfig) -> torch.Tensor:
    assert texts.pairs is not None  # built by _marginal_texts
    return marginal_scores(g, texts.feats, texts.pairs)


#: Scoring methods: name → f(global, regions, mask, texts, C, config) -> [B,C]; `clip` gets
#: class-name prompts as its texts, `marginals` state and object prompts (see _TEXTS).
METHODS: dict[str, Callable[..., torch.Tensor]] = {"lazsl": _score_lazsl, "dclip": _score_dclip, "clip": _score_clip,
                                                   "marginals": _score_marginals}


def _name_texts(model: ClipModel, classes: Sequence[ClassSpec], config: EngineConfig) -> TextBank:
    s, owner = name_prompts(classes, CLIP_TEMPLATES if config.clip_templates else None)
    return TextBank(s, owner, model.encode_texts(s), [])


def _marginal_texts(model: ClipModel, classes: Sequence[ClassSpec], config: EngineConfig) -> TextBank:
    index = pair_index(classes, model.logit_scale)
    s = index.sentences
    return TextBank(s, torch.zeros(len(s), dtype=torch.long), model.encode_texts(s), [], pairs=index)


#: The texts a method scores against, where they are not the attribute sentences.
_TEXTS: dict[str, Callable[[ClipModel, Sequence[ClassSpec], EngineConfig], TextBank]] = {
    "clip": _name_texts, "marginals": _marginal_texts}


def text_bank(model: ClipModel, classes: Sequence[ClassSpec], config: EngineConfig) -> TextBank:
    """The texts `config.method` scores against (attribute sentences, class-name prompts for clip, state
    and object prompts for marginals), encoded."""
    return _TEXTS.get(config.method, _attribute_texts)(model, classes, config)


def _explanations(g, r, boxes, mask, sizes, top: torch.Tensor, texts: TextBank, classes: Sequence[ClassSpec],
                  config: EngineConfig, patches: torch.Tensor | None = None, view_mode: str | None = None
                  ) -> list[list[ClassEvidence]]:
    B, k = top.shape
    if k == 0:
        return [[] for _ in range(B)]
    if config.method in _GLOBAL_EXPLAINERS:
        return _GLOBAL_EXPLAINERS[config.method](g, sizes, top, texts, classes)
    C = len(classes)
    res = lazsl_plans(g, r, texts.feats, texts.owner, top, n_classes=C, alpha=config.alpha, eps=config.eps,
                      gamma=config.gamma, max_iter=config.max_iter, tol=config.tol, mode=config.ot_mode,
                      region_mask=mask)
    top_l = top.tolist()
    cols_l = res.attr_index.tolist()
    texts_l, local_l, names_l = [], [], []
    for i in range(B):
        t_row, l_row, n_row = [], [], []
        for j in range(k):
            c = top_l[i][j]
            attrs = classes[c].attributes or ("",)
            local = [x - texts.first_row[c] for x in cols_l[i][j] if x >= 0]
            t_row.append([attrs[x] for x in local])
            l_row.append(local)
            n_row.append(classes[c].name)
        texts_l.append(t_row)
        local_l.append(l_row)
        names_l.append(n_row)
    # each plan column's text feature: region.text cosines (presence) and token maps (localisation)
    tf = texts.feats.float()[res.attr_index.clamp_min(0).to(texts.feats.device)].cpu()  # [B,k,M,D]
    region_sims = torch.einsum("bnd,bkmd->bknm", r.float().cpu(), tf)
    pooled_sims = torch.einsum("bgd,bkmd->bkmg", patches.float(), tf) if patches is not None else None
    method = DEFAULT_MAP_METHOD.get(view_mode or "", "tokens_x_mass" if patches is not None else "rise")
    return explain_batch(res.plans, res.sims, boxes, texts_l, local_l, names_l, top_l, sizes,
                         region_sims=region_sims, valid=None if mask is None else mask.cpu(),
                         pooled_sims=pooled_sims, map_method=method)


def _dclip_explanations(g, sizes, top: torch.Tensor, texts: TextBank, classes: Sequence[ClassSpec]
                        ) -> list[list[ClassEvidence]]:
    """Global-image evidence: each attribute's similarity to the whole image (no regions, no maps)."""
    sims = g.float() @ texts.feats.float().T
    out = []
    for i in range(top.shape[0]):
        row = []
        for c in top[i].tolist():
            lo, n = texts.first_row[c], len(classes[c].attributes) or 1
            s = sims[i, lo:lo + n].tolist()
            attrs = tuple(AttributeEvidence(j, (classes[c].attributes or ("",))[j], 1.0 / n, s[j],
                                            best_similarity=s[j]) for j in range(n))
            row.append(ClassEvidence(classes[c].name, c, sum(s) / n, sizes[i], attrs).calibrated(None))
        out.append(row)
    return out


def _clip_explanations(g, sizes, top: torch.Tensor, texts: TextBank, classes: Sequence[ClassSpec]
                       ) -> list[list[ClassEvidence]]:
    return [[ClassEvidence(classes[int(c)].name, int(c), 0.0, sizes[i]) for c in top[i]] for i in range(top.shape[0])]


def _marginal_explanations(g, sizes, top: torch.Tensor, texts: TextBank, classes: Sequence[ClassSpec]
                           ) -> list[list[ClassEvidence]]:
    assert texts.pairs is not None
    return marginal_evidence(g, texts.feats, texts.pairs, top, sizes, classes)


#: Methods scored from the whole image alone: their evidence needs no regions (lazsl is the default).
_GLOBAL_EXPLAINERS: dict[str, Callable[..., list[list[ClassEvidence]]]] = {
    "clip": _clip_explanations, "dclip": _dclip_explanations, "marginals": _marginal_explanations}


def score_cached(model: ClipModel, cache: FeatureCache, hashes: Sequence[str], classes: Sequence[ClassSpec],
                 config: EngineConfig, image_sizes: Sequence[tuple[int, int]] | None = None,
                 return_all: bool = False, view_mode: str | None = None) -> ScoreResult:
    """Score cached images against classes; never opens or re-encodes an image (texts come from
    the model's text cache). `view_mode` (the engine view mode the cache holds) picks the
    localisation-map method of the explanations. Raises KeyError if a hash is not cached,
    ValueError on an empty class list or unknown method."""
    if not classes:
        raise ValueError("no classes to score against")
    if config.method not in METHODS:
        raise ValueError(f"unknown method {config.method!r}; known: {', '.join(METHODS)}")
    config = calibrated(config, model)  # sigmoid models: eps on the model's logit scale (engine/calibration.py)
    return score_with_texts(cache, hashes, classes, text_bank(model, classes, config), config, image_sizes,
                            return_all, device=model.device, view_mode=view_mode)


def _read_ahead(cache: FeatureCache, hashes: list[str], step: int, dtype: torch.dtype):
    """(start, chunk, cache.get(chunk)) chunk by chunk; the next chunk is read on a helper thread
    while the caller scores this one (a memory copy overlapping the scoring's arithmetic)."""
    def read(s: int):
        return cache.get(hashes[s:s + step], with_mask=True, dtype=dtype)

    starts = range(0, len(hashes), step)
    if len(starts) < 2:
        for s in starts:
            yield s, hashes[s:s + step], read(s)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="lazlabel-read") as pool:
        pending = pool.submit(read, 0)
        for s in starts:
            data = pending.result()
            if s + step < len(hashes):
                pending = pool.submit(read, s + step)
            yield s, hashes[s:s + step], data


def score_with_texts(cache: FeatureCache, hashes: Sequence[str], classes: Sequence[ClassSpec], texts: TextBank,
                     config: EngineConfig, image_sizes: Sequence[tuple[int, int]] | None = None,
                     return_all: bool = False, device: torch.device | str = "cpu",
                     view_mode: str | None = None) -> ScoreResult:
    """`score_cached` with the texts already encoded (benchmarks, or callers holding a TextBank)."""
    if not classes:
        raise ValueError("no classes to score against")
    try:
        method = METHODS[config.method]
    except KeyError:
        raise ValueError(f"unknown method {config.method!r}; known: {', '.join(METHODS)}") from None
    hashes = list(hashes)
    C = len(classes)
    dev = torch.device(device)
    texts = replace(texts, feats=texts.feats.to(dev))
    k = min(config.topk, C)
    kx = min(config.explain_top, C)
    ti, ts, mg, ex, alls = [], [], [], [], []
    # scored by the numba kernel, regions stay half precision: it widens only the rows it uses
    half = config.method == "lazsl" and uses_cpu_kernel(config.ot_mode, dev)
    dtype = torch.float16 if half else torch.float32
    for s, chunk, (g, r, b, mask) in _read_ahead(cache, hashes, SCORE_CHUNK, dtype):
        g, r = g.float().to(dev), r.to(dev)
        mask = None if bool(mask.all()) else mask.to(dev)
        sc = method(g, r, mask, texts, C, config).float()
        top = sc.topk(k, dim=1)
        ti.append(top.indices.cpu())
        ts.append(top.values.cpu())
        second = top.values[:, 1] if k > 1 else top.values[:, 0]
        mg.append((top.values[:, 0] - second).cpu())
        sizes = list(image_sizes[s:s + len(chunk)]) if image_sizes is not None else cache.sizes(chunk)
        patches = cache.patch_maps(chunk) if kx and config.method == "lazsl" else None
        with paused_gc():  # thousands of small result objects: no generation-2 passes over them meanwhile
            ex.extend(_explanations(g, r, b, mask, sizes, top.indices[:, :kx], texts, classes, config,
                                    patches=patches, view_mode=view_mode))
        if return_all:
            alls.append(sc.cpu())
    empty = torch.zeros(0, k)
    return ScoreResult(
        topk_idx=torch.cat(ti) if ti else empty.long(),
        topk_scores=torch.cat(ts) if ts else empty,
        margin=torch.cat(mg) if mg else torch.zeros(0),
        explanations=ex,
        all_scores=(torch.cat(alls) if alls else torch.zeros(0, C)) if return_all else None,
    )


def prelabel(model: ClipModel, items: Sequence[ImageItem], classes: Sequence[ClassSpec], config: EngineConfig,
             view_cfg: ViewConfig, cache: FeatureCache, cancel: Any = None) -> Iterator[BatchResult]:
    """Encode what the cache lacks and score, batch by batch (a BatchResult per encode event; an
    `in_flight` event passes through with no items). Once cancelled, what was encoded is cached
    but not scored: the next run scores it from the cache."""
    items = list(items)
    by_key = {it.key: it for it in items}
    for ev in encode_images(model, items, view_cfg, cache, config.batch_size, cancel):
        ready = [by_key[k] for k in ev.cached + ev.encoded]
        if _cancelled(cancel):
            ready = []
        result = None
        if ready:
            sizes = [ev.image_sizes.get(it.key) for it in ready]
            result = score_cached(model, cache, [it.content_hash for it in ready], classes, config,
                                  image_sizes=None if any(s is None for s in sizes) else sizes,
                                  view_mode=view_cfg.mode)
        yield BatchResult(items=ready, result=result, errors=dict(ev.errors), done=ev.done, total=ev.total,
                          in_flight=ev.in_flight)
        if _cancelled(cancel) and not ev.in_flight:  # mid-batch, encode_images stores what it has first
            return
