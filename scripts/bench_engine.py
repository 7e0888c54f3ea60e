#!/usr/bin/env python
"""Engine benchmarks (CPU unless a GPU is present). Ratios are measured within one run.

  rescore : re-score N cached images × C classes × ~7 attributes × 90 regions (random unit
            features, D=512) from a real FeatureCache, vs the plain published-style per-class
            loop (timed on a sample between the re-score repeats, extrapolated); identical argmax on
            the sample and numba == torch on a slice; a one-class edit; peak memory.
  e2e     : ViT-B-32 (random init) end to end in faithful mode vs the image encoder alone on the
            same views; images/s for random (faithful), grid and dense views.
  views   : batched tensor crop+resize vs 90 PIL resizes: time and closeness.
  agreement: top-1 agreement of converged / prefilter / fewer crops / grid / dense with faithful,
            and accuracy of every method, on demo-world scenes (needs the demo weights).

    .venv/bin/python scripts/bench_engine.py rescore [--images 10000 --classes 200]
    .venv/bin/python scripts/bench_engine.py e2e [--images 6]
    .venv/bin/python scripts/bench_engine.py views
    .venv/bin/python scripts/bench_engine.py agreement [--model demo --images 110]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine import sinkhorn_cpu  # noqa: E402
from engine.alignment import lazsl_scores  # noqa: E402
from engine.cache import FeatureCache  # noqa: E402
from engine.pipeline import TextBank, score_with_texts  # noqa: E402
from engine.types import ClassSpec, EngineConfig  # noqa: E402


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _emit(**kw) -> None:
    print(json.dumps(kw), flush=True)


# ----------------------------------------------------------------------------- rescore


def _attr_problem(C: int, D: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(5, 10, (C,), generator=g)  # 5..9, mean ~7
    owner = torch.repeat_interleave(torch.arange(C), counts)
    feats = F.normalize(torch.randn(len(owner), D, generator=g), dim=-1)
    classes = [ClassSpec(f"class{c}", tuple(f"attr{j}" for j in range(int(n)))) for c, n in enumerate(counts)]
    return classes, TextBank([f"s{i}" for i in range(len(owner))], owner, feats,
                             (torch.cumsum(counts, 0) - counts).tolist())


def _fill_cache(root: Path, n: int, N: int, D: int, chunk: int = 500) -> list[str]:
    cache = FeatureCache(root, "bench-random-unit", f"n{N}")
    hashes = [f"img{i:07d}" for i in range(n)]
    todo = set(cache.missing(hashes))
    for s in range(0, n, chunk):
        hs = hashes[s:s + chunk]
        if not todo.intersection(hs):
            continue
        g = torch.Generator().manual_seed(1000 + s)
        P0 = F.normalize(torch.randn(len(hs), D, generator=g), dim=-1)
        R = F.normalize(torch.randn(len(hs), N, D, generator=g), dim=-1)
        boxes = torch.rand(len(hs), N, 4, generator=g).sort(-1).values * 500
        cache.put_batch(hs, P0, R, boxes, image_sizes=[(500, 500)] * len(hs))
    return hashes


def published_loop_one(p0, regions, attrs, alpha=0.8, eps=0.1, tol=1e-2, max_iter=100) -> float:
    """One image × one class the way the published code does it: float32, a host sync per iteration."""
    g = regions @ p0
    P = regions[g >= g.mean()]
    S = alpha * (P @ attrs.T) + (1 - alpha) * (p0 @ attrs.T)[None]
    K = torch.exp(-(1 - S) / eps)
    a = torch.full((P.shape[0],), 1.0 / P.shape[0])
    b = torch.full((attrs.shape[0],), 1.0 / attrs.shape[0])
    r, c = torch.ones_like(a), torch.ones_like(b)
    for _ in range(max_iter):
        r_prev = r
        r = a / (K @ c)
        c = b / (K.T @ r)
        if (r - r_prev).abs().mean().item() < tol:
            break
    return float(((r[:, None] * K * c[None]) * S).sum().item())


def _rescore_child(args) -> None:
    """Runs in a fresh process so ru_maxrss is the re-score's own peak. The plain loop's sample is
    timed in rounds between the re-score repeats, so both see the same machine load (this box is
    shared): the speed-up is a ratio of numbers taken side by side."""
    classes, texts = _attr_problem(args.classes, args.dim)
    cache = FeatureCache(Path(args.cache), "bench-random-unit", f"n{args.regions}")
    hashes = [f"img{i:07d}" for i in range(args.images)]
    base_rss = _rss_mb()
    # warm-up: numba compile (cached on disk after the first run) and BLAS threads, on 8 images
    score_with_texts(cache, hashes[:8], classes, texts, EngineConfig(explain_top=0))
    sample = hashes[: args.sample]
    g_s, r_s, _ = cache.get(sample)
    rows = [(texts.owner == c).nonzero().flatten() for c in range(len(classes))]
    loop_rows, loop_wall, loop_cpu = [], 0.0, 0.0
    rounds = np.array_split(np.arange(len(sample)), args.repeat + 1)

    def loop_round(k: int) -> None:
        nonlocal loop_wall, loop_cpu
        t, c = time.perf_counter(), time.process_time()
        for i in rounds[k].tolist():
            loop_rows.append([published_loop_one(g_s[i], r_s[i], texts.feats[rows[j]]) for j in range(len(classes))])
        loop_wall += time.perf_counter() - t
        loop_cpu += time.process_time() - c

    out = {"rescore_runs_s": [], "rescore_runs_cpu_s": []}
    loop_round(0)
    for k in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        res = score_with_texts(cache, hashes, classes, texts, EngineConfig(explain_top=0))
        out["rescore_runs_s"].append(time.perf_counter() - t)
        out["rescore_runs_cpu_s"].append(time.process_time() - c)  # CPU seconds, all threads
        loop_round(k + 1)
    out["scores_only_peak_rss_mb"] = _rss_mb()
    out["loop_per_image_s"] = loop_wall / len(sample)
    out["loop_cpu_per_image_s"] = loop_cpu / len(sample)
    out["loop_argmax_identical"] = bool(torch.equal(torch.tensor(loop_rows).argmax(1), res.topk_idx[: len(sample), 0]))
    t = time.perf_counter()
    score_with_texts(cache, hashes, classes, texts, EngineConfig(explain_top=2))
    out["with_explanations"] = time.perf_counter() - t
    out["with_explanations_peak_rss_mb"] = _rss_mb()
    top1 = res.topk_idx[:, 0]
    # alignment alone on in-memory features (no cache read), both backends, on a slice
    g, r, _ = cache.get(hashes[: args.slice])
    argmax = {}
    for be in (["numba"] if sinkhorn_cpu.AVAILABLE else []) + ["torch"]:
        t = time.perf_counter()
        argmax[be] = lazsl_scores(g, r, texts.feats, texts.owner, n_classes=len(classes), backend=be).scores.argmax(1)
        out[f"align_{be}_per_image_ms"] = (time.perf_counter() - t) / args.slice * 1000
    out["backends_identical_argmax_on_slice"] = bool(torch.equal(*argmax.values())) if len(argmax) == 2 else None
    out["pipeline_vs_torch_identical_argmax_on_slice"] = bool(torch.equal(argmax["torch"], top1[: args.slice]))
    # the curator's real re-score: one class's attributes edited, only that class scored again
    one = texts.owner == 0
    one_bank = TextBank([s for s, k in zip(texts.sentences, one.tolist()) if k], texts.owner[one], texts.feats[one], [0])
    t = time.perf_counter()
    score_with_texts(cache, hashes, classes[:1], one_bank, EngineConfig(explain_top=0, topk=1), return_all=True)
    out["one_class_edited_s"] = time.perf_counter() - t
    # prefilter agreement (random features are the worst case for dclip as a filter)
    t = time.perf_counter()
    pre = score_with_texts(cache, hashes[: args.slice], classes, texts, EngineConfig(explain_top=0, prefilter_k=20))
    out["prefilter20_per_image_ms"] = (time.perf_counter() - t) / args.slice * 1000
    out["prefilter20_top1_agreement"] = float((pre.topk_idx[:, 0] == top1[: args.slice]).float().mean())
    out["peak_rss_mb"] = _rss_mb()
    out["rss_before_mb"] = base_rss
    print("CHILD " + json.dumps(out), flush=True)


def bench_rescore(args) -> None:
    tmp = Path(args.cache or tempfile.mkdtemp(prefix="lazlabel-bench-"))
    t = time.perf_counter()
    hashes = _fill_cache(tmp, args.images, args.regions, args.dim)
    _emit(stage="cache filled", images=len(hashes), seconds=round(time.perf_counter() - t, 1), dir=str(tmp))
    cmd = [sys.executable, __file__, "_rescore_child", "--cache", str(tmp), "--images", str(args.images),
           "--classes", str(args.classes), "--regions", str(args.regions), "--dim", str(args.dim),
           "--slice", str(args.slice), "--sample", str(args.sample), "--repeat", str(args.repeat)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    child = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("CHILD "))[6:])
    runs, runs_cpu = child["rescore_runs_s"], child["rescore_runs_cpu_s"]
    rescore_s, rescore_cpu = float(np.median(runs)), float(np.median(runs_cpu))
    loop_total = child["loop_per_image_s"] * args.images
    loop_cpu_total = child["loop_cpu_per_image_s"] * args.images
    texts_n = int(_attr_problem(args.classes, args.dim)[1].feats.shape[0])
    _emit(bench="rescore", images=args.images, classes=args.classes, attributes=texts_n,
          regions=args.regions, dim=args.dim, threads=torch.get_num_threads(), numba=sinkhorn_cpu.AVAILABLE,
          rescore_s=round(rescore_s, 2), rescore_runs_s=[round(x, 2) for x in runs],
          rescore_with_explanations_s=round(child["with_explanations"], 2),
          plain_loop_extrapolated_s=round(loop_total, 1), speedup=round(loop_total / rescore_s, 1),
          rescore_cpu_s=round(rescore_cpu, 1), plain_loop_extrapolated_cpu_s=round(loop_cpu_total, 1),
          speedup_cpu_time=round(loop_cpu_total / rescore_cpu, 1),
          identical_argmax_on_sample=child["loop_argmax_identical"], sample=args.sample,
          align_ms_per_image={k: round(v, 2) for k, v in child.items() if k.startswith("align_")},
          identical_argmax_numba_vs_torch_on_slice=child["backends_identical_argmax_on_slice"],
          identical_argmax_pipeline_vs_torch_on_slice=child["pipeline_vs_torch_identical_argmax_on_slice"],
          slice=args.slice, one_class_edited_rescore_s=round(child["one_class_edited_s"], 2),
          prefilter20_ms_per_image=round(child["prefilter20_per_image_ms"], 2),
          prefilter20_top1_agreement_random_features=child["prefilter20_top1_agreement"],
          peak_rss_mb_after_scores_only=round(child["scores_only_peak_rss_mb"]),
          peak_rss_mb_after_explanations=round(child["with_explanations_peak_rss_mb"]),
          peak_rss_mb=round(child["peak_rss_mb"]), rss_before_mb=round(child["rss_before_mb"]),
          load_avg=os.getloadavg()[0])


# ----------------------------------------------------------------------------- e2e


def _synthetic_images(d: Path, n: int, size=(640, 480)) -> list:
    from PIL import Image

    from engine.pipeline import ImageItem

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        small = rng.integers(0, 255, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
        p = d / f"img{i}.jpg"
        Image.fromarray(small).resize(size, Image.BICUBIC).save(p, quality=90)
        items.append(ImageItem(i, p, f"synthetic-{i}"))
    return items


def bench_e2e(args) -> None:
    from engine.imageio import open_rgb
    from engine.models import load_model
    from engine.pipeline import ENCODE_VIEWS_PER_PASS, prelabel
    from engine.types import ViewConfig
    from engine.views import make_views

    model = load_model(args.model, device="cpu")
    tmp = Path(tempfile.mkdtemp(prefix="lazlabel-e2e-"))
    items = _synthetic_images(tmp / "img", args.images)
    classes = [ClassSpec(f"class{c}", tuple(f"has feature {c}-{j}" for j in range(7))) for c in range(args.classes)]
    cfg = EngineConfig(batch_size=args.batch)
    t = time.perf_counter()
    from engine.pipeline import text_bank

    text_bank(model, classes, cfg)  # warm the text cache: a once-per-attribute-set cost
    text_s = time.perf_counter() - t
    vc = ViewConfig()
    # encoder alone on the very same views
    views = [make_views(open_rgb(it.path), it.content_hash, vc, model.image_size, model.mean, model.std)[0]
             for it in items]
    model.encode_images(views[0][:8])  # warm-up

    def encoder_alone() -> float:
        total = 0.0
        for s in range(0, len(views), args.batch):
            x = torch.cat(views[s:s + args.batch])
            t = time.perf_counter()
            for i in range(0, x.shape[0], ENCODE_VIEWS_PER_PASS):
                model.encode_images(x[i:i + ENCODE_VIEWS_PER_PASS])
            total += time.perf_counter() - t
        return total

    enc_before = encoder_alone()
    results = {}
    for mode in ("random", "grid", "dense"):
        cache = FeatureCache(tmp / f"cache-{mode}", model.model_id, ViewConfig(mode=mode).key())
        t = time.perf_counter()
        out = list(prelabel(model, items, classes, cfg, ViewConfig(mode=mode), cache))
        dt = time.perf_counter() - t
        assert sum(len(b.items) for b in out) == len(items)
        results[mode] = dt
        if mode == "random":
            enc_after = encoder_alone()  # bracket the faithful run: load on a shared box drifts
    enc = (enc_before + enc_after) / 2
    _emit(bench="e2e", model=args.model, images=args.images, classes=args.classes, views_per_image=91,
          threads=torch.get_num_threads(), encoder_alone_s=round(enc, 2),
          encoder_alone_before_after_s=[round(enc_before, 2), round(enc_after, 2)], faithful_total_s=round(results["random"], 2),
          ratio_total_over_encoder=round(results["random"] / enc, 3),
          images_per_s={m: round(args.images / v, 3) for m, v in results.items()},
          text_encoding_once_s=round(text_s, 2), load_avg=os.getloadavg()[0])


# ----------------------------------------------------------------------------- views


def bench_views(args) -> None:
    from engine.models import load_model
    from engine.types import ViewConfig
    from engine.views import _normalise, crops_pil, crops_tensor, random_boxes

    tmp = Path(tempfile.mkdtemp(prefix="lazlabel-views-"))
    items = _synthetic_images(tmp, 4, size=(1024, 768))
    from engine.imageio import open_rgb

    model = load_model(args.model, device="cpu")
    tp = tt = 0.0
    diffs, coss = [], []
    for it in items:
        img = open_rgb(it.path)
        boxes = random_boxes(img.width, img.height, it.content_hash, ViewConfig())
        t = time.perf_counter()
        a = crops_pil(img, boxes, 224)
        tp += time.perf_counter() - t
        t = time.perf_counter()
        b = crops_tensor(img, boxes, 224)
        tt += time.perf_counter() - t
        diffs.append(float((a - b).abs().mean()))
        fa = model.encode_images(_normalise(a, model.mean, model.std))
        fb = model.encode_images(_normalise(b, model.mean, model.std))
        coss.append(float((fa * fb).sum(-1).min()))
    _emit(bench="views", image="1024x768", crops=90, pil_ms_per_image=round(tp / len(items) * 1000, 1),
          tensor_ms_per_image=round(tt / len(items) * 1000, 1), mean_abs_pixel_diff_of_255=round(float(np.mean(diffs)), 2),
          min_feature_cosine=round(min(coss), 4), model=args.model, load_avg=os.getloadavg()[0])


# ----------------------------------------------------------------------------- agreement


def bench_agreement(args) -> None:
    """Top-1 agreement of each fast path with faithful LaZSL (random crops) on demo-world scenes,
    plus each method's accuracy against the scene labels. Meaningful with trained weights (demo)."""
    import open_clip

    from engine.demo_world.classes import descriptors
    from engine.demo_world.scenes import iter_scenes, render
    from engine.models import ModelLoadError, load_model
    from engine.pipeline import ImageItem, prelabel
    from engine.types import ViewConfig

    cfg_dir = REPO / "engine" / "demo_world" / "model_config"
    if cfg_dir.is_dir():
        open_clip.add_model_config(cfg_dir)
    try:
        model = load_model(args.model, device="cpu")
    except ModelLoadError as e:
        _emit(bench="agreement", error=str(e))
        return
    tmp = Path(tempfile.mkdtemp(prefix="lazlabel-agree-"))
    items, labels = [], []
    for sc in iter_scenes(9_000_000, args.images):
        p = tmp / f"s{sc.seed}.png"
        render(sc).save(p)
        items.append(ImageItem(sc.seed, p, f"demo-{sc.seed}"))
        labels.append(sc.label)
    classes = [ClassSpec(n, tuple(a)) for n, a in descriptors().items()]
    names = [c.name for c in classes]
    variants = {
        "faithful": (EngineConfig(explain_top=0), ViewConfig()),
        "converged": (EngineConfig(explain_top=0, ot_mode="converged"), ViewConfig()),
        "prefilter5": (EngineConfig(explain_top=0, prefilter_k=5), ViewConfig()),
        "crops30": (EngineConfig(explain_top=0), ViewConfig(n_crops=30)),
        "grid": (EngineConfig(explain_top=0), ViewConfig(mode="grid")),
        "dense": (EngineConfig(explain_top=0), ViewConfig(mode="dense")),
        "dclip": (EngineConfig(explain_top=0, method="dclip"), ViewConfig()),
        "clip": (EngineConfig(explain_top=0, method="clip"), ViewConfig()),
    }
    top1, secs = {}, {}
    for name, (cfg, vc) in variants.items():
        cache = FeatureCache(tmp / "cache", model.model_id, vc.key())
        t = time.perf_counter()
        preds = {}
        for br in prelabel(model, items, classes, cfg, vc, cache):
            for i, it in enumerate(br.items):
                preds[it.key] = names[int(br.result.topk_idx[i, 0])]
        secs[name] = time.perf_counter() - t
        top1[name] = [preds[it.key] for it in items]
    ref = top1["faithful"]
    _emit(bench="agreement", model=args.model, images=len(items), classes=len(classes),
          agreement_with_faithful={k: round(float(np.mean([a == b for a, b in zip(v, ref)])), 3) for k, v in top1.items()},
          accuracy={k: round(float(np.mean([a == b for a, b in zip(v, labels)])), 3) for k, v in top1.items()},
          seconds_cache_shared_per_view_config={k: round(v, 1) for k, v in secs.items()})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["rescore", "e2e", "views", "agreement", "_rescore_child"])
    ap.add_argument("--images", type=int, default=None)
    ap.add_argument("--classes", type=int, default=None)
    ap.add_argument("--regions", type=int, default=90)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--sample", type=int, default=20, help="images timed with the plain loop")
    ap.add_argument("--slice", type=int, default=500, help="images for per-backend/prefilter timings")
    ap.add_argument("--repeat", type=int, default=3, help="re-score repeats (median), the loop timed between them")
    ap.add_argument("--cache", default=None, help="reuse this directory for the rescore feature cache")
    ap.add_argument("--model", default="random:ViT-B-32")
    ap.add_argument("--batch", type=int, default=2)
    args = ap.parse_args(argv)
    defaults = {"rescore": (10000, 200), "_rescore_child": (10000, 200), "e2e": (4, 20), "views": (4, 0),
                "agreement": (110, 0)}
    if args.what == "agreement" and args.model == "random:ViT-B-32":
        args.model = "demo"
    di, dc = defaults[args.what]
    args.images = args.images or di
    args.classes = args.classes or dc
    {"rescore": bench_rescore, "e2e": bench_e2e, "views": bench_views, "agreement": bench_agreement,
     "_rescore_child": _rescore_child}[args.what](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
