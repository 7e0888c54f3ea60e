"""Measure the engine on held-out demo scenes: top-1 accuracy per method and explanation grounding.

Each image is encoded once per view configuration (random crops / grid / dense); every method
then scores from those features through the engine's own functions (`make_views`, `ClipModel`,
`prompts`, `alignment`), so the numbers are the engine's, not a re-implementation.

Grounding (for correctly predicted images, every attribute of the predicted class), two tests:
*top region* -- the region with the most transport mass for the attribute contains at least
`CONTAIN` of the true part's box (what the curator sees as the first evidence box); *pointing*
-- the peak of the attribute's mass map lies inside the true box. Each comes with its chance
level under uniform mass on the kept regions: LaZSL's random crops are 60-90% of the image, so a
big crop "contains" most parts by luck; a number near chance means the mass ignores the part.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from engine.alignment import AlignmentResult, clip_scores, dclip_scores, lazsl_scores, region_weights
from engine.demo_world.classes import CLASS_NAMES, CLASSES
from engine.demo_world.scenes import EVAL_SEED_BASE, Scene, iter_scenes, render
from engine.models import ClipModel
from engine.prompts import class_prompts, name_prompts
from engine.types import ClassSpec, EngineConfig, ViewConfig
from engine.views import dense_boxes, make_views

CONTAIN = 0.5
PREFILTER_K = 3


@dataclass
class EvalSet:
    """Held-out scenes rendered in memory, with their labels (index into CLASS_NAMES)."""

    scenes: list[Scene]
    images: list[Image.Image]
    hashes: list[str]
    labels: torch.Tensor


@dataclass
class Features:
    """One view configuration's features for every image of an EvalSet."""

    global_feats: torch.Tensor  # [B,D]
    region_feats: torch.Tensor  # [B,N,D]
    boxes: torch.Tensor  # [B,N,4] original pixels
    seconds: float


@dataclass
class ModeResult:
    name: str
    accuracy: float
    grounding: float | None = None  # top-mass region contains the part
    chance: float | None = None
    pointing: float | None = None  # peak of the attribute's mass map lies on the part
    pointing_chance: float | None = None
    n_images: int = 0
    n_grounded: int = 0
    seconds_per_image: float = 0.0
    agreement: float | None = None  # top-1 agreement with faithful lazsl


def content_hash(img: Image.Image) -> str:
    """Same role as the scanner's file hash: seeds the deterministic crops."""
    return hashlib.sha256(img.tobytes() + repr(img.size).encode()).hexdigest()


def demo_classes() -> list[ClassSpec]:
    return [ClassSpec(name, tuple(p.description for p in CLASSES[name])) for name in CLASS_NAMES]


def make_eval_set(n: int, seed_base: int = EVAL_SEED_BASE) -> EvalSet:
    scenes = list(iter_scenes(seed_base, n))
    images = [render(s) for s in scenes]
    labels = torch.tensor([CLASS_NAMES.index(s.label) for s in scenes])
    return EvalSet(scenes, images, [content_hash(i) for i in images], labels)


# ----------------------------------------------------------------------------- encoding


def _encode_views(model: ClipModel, es: EvalSet, cfg: ViewConfig, chunk: int = 8) -> Features:
    t0 = time.perf_counter()
    g_out, r_out, b_out = [], [], []
    for i in range(0, len(es.images), chunk):
        views, boxes = [], []
        for img, h in zip(es.images[i:i + chunk], es.hashes[i:i + chunk]):
            v, b = make_views(img, h, cfg, model.image_size, model.mean, model.std)
            views.append(v)
            boxes.append(b)
        f = model.encode_images(torch.cat(views)).cpu().view(len(views), views[0].shape[0], -1)
        g_out.append(f[:, 0])
        r_out.append(f[:, 1:])
        b_out.append(torch.stack(boxes))
    return Features(torch.cat(g_out), torch.cat(r_out), torch.cat(b_out), time.perf_counter() - t0)


def _encode_dense(model: ClipModel, es: EvalSet, cfg: ViewConfig, chunk: int = 64) -> Features:
    t0 = time.perf_counter()
    g_out, r_out, b_out = [], [], []
    for i in range(0, len(es.images), chunk):
        pairs = [make_views(img, h, cfg, model.image_size, model.mean, model.std)
                 for img, h in zip(es.images[i:i + chunk], es.hashes[i:i + chunk])]
        g, tokens, grid = model.encode_dense(torch.cat([v for v, _ in pairs]))
        g_out.append(g.cpu())
        r_out.append(tokens.cpu())
        b_out.append(torch.stack([torch.as_tensor(dense_boxes(*img.size, grid), dtype=torch.float32)
                                  for img in es.images[i:i + chunk]]))
    return Features(torch.cat(g_out), torch.cat(r_out), torch.cat(b_out), time.perf_counter() - t0)


ENCODERS: dict[str, Callable[[ClipModel, EvalSet, ViewConfig], Features]] = {
    "global": _encode_views,
    "random": _encode_views,
    "grid": _encode_views,
    "dense": _encode_dense,
}


# ----------------------------------------------------------------------------- scoring


@dataclass
class _Texts:
    attr_feats: torch.Tensor
    attr_class: torch.Tensor
    name_feats: torch.Tensor
    name_class: torch.Tensor
    first_row: torch.Tensor  # first attribute row of each class


def _texts(model: ClipModel, classes: Sequence[ClassSpec], config: EngineConfig) -> _Texts:
    sents, owner = class_prompts(classes, config.prompt_style, config.imagenet_suffix)
    names, name_owner = name_prompts(classes)
    first = torch.zeros(len(classes), dtype=torch.long)
    for c in range(len(classes) - 1, -1, -1):
        first[c] = int((owner == c).nonzero()[0])
    return _Texts(model.encode_texts(sents), owner, model.encode_texts(names), name_owner, first)


def _lazsl(f: Features, tx: _Texts, config: EngineConfig, classes: torch.Tensor | None = None) -> AlignmentResult:
    return lazsl_scores(
        f.global_feats, f.region_feats, tx.attr_feats, tx.attr_class, n_classes=len(tx.first_row),
        alpha=config.alpha, eps=config.eps, gamma=config.gamma, max_iter=config.max_iter, tol=config.tol,
        mode=config.ot_mode, classes=classes,
    )


def _grounding(
    es: EvalSet, f: Features, tx: _Texts, pred: torch.Tensor, config: EngineConfig
) -> tuple[float | None, float | None, float | None, float | None, int]:
    """Grounding over correctly predicted images, as (top-region, its chance, pointing, its chance, n).

    top-region: the region with the most mass for an attribute contains >= CONTAIN of its part's
    true box. pointing: the peak of the attribute's mass map (sum of its regions' mass over a
    POINT_GRID x POINT_GRID grid, as the evidence overlay paints it) lies inside the true box.
    Chances: for top-region, the same test on a uniformly drawn kept region; for pointing, the
    probability that a point drawn from the uniform-mass map (every kept region weighted equally)
    lands on the part.
    """
    ok = (pred == es.labels).nonzero().flatten()
    if ok.numel() == 0:
        return None, None, None, None, 0
    res = lazsl_scores(
        f.global_feats[ok], f.region_feats[ok], tx.attr_feats, tx.attr_class, n_classes=len(tx.first_row),
        alpha=config.alpha, eps=config.eps, gamma=config.gamma, max_iter=config.max_iter, tol=config.tol,
        mode=config.ot_mode, return_plans_for=pred[ok][:, None],
    )
    plans = res.plans
    assert plans is not None  # asked for with return_plans_for
    _, a = region_weights(f.global_feats[ok], f.region_feats[ok], config.gamma)
    kept = a > 0
    hits = torch.zeros(4)
    total = 0
    for row, b in enumerate(ok.tolist()):
        scene = es.scenes[b]
        cls = CLASS_NAMES[int(pred[b])]
        boxes = f.boxes[b]
        cover, centres = _coverage(boxes, scene.size)  # [N,G*G], [G*G,2]
        uniform_heat = a[row] @ cover
        uniform_heat = uniform_heat / uniform_heat.sum().clamp_min(1e-12)
        for j, part in enumerate(CLASSES[cls]):
            placed = next(p for p in scene.parts if p.part == part and not p.distractor)
            pbox = torch.tensor(placed.box, dtype=torch.float32)
            inside = _contained(pbox, boxes)  # [N] bool
            col = plans[row, 0, :, j]
            peak = centres[int((col @ cover).argmax())]
            hits += torch.tensor([
                float(inside[int(col.argmax())]),
                float(inside[kept[row]].float().mean()),
                float(_in_box(peak, pbox)),
                float(uniform_heat[_cells_in_box(centres, pbox)].sum()),
            ])
            total += 1
    g = (hits / total).tolist()
    return g[0], g[1], g[2], g[3], total


POINT_GRID = 32


def _coverage(boxes: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Which grid-cell centres each region box covers ([N,G*G] float) and the centres ([G*G,2])."""
    c = (torch.arange(POINT_GRID, dtype=torch.float32) + 0.5) * size / POINT_GRID
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    centres = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    x, y = centres[:, 0][None], centres[:, 1][None]
    cover = (x >= boxes[:, 0:1]) & (x < boxes[:, 2:3]) & (y >= boxes[:, 1:2]) & (y < boxes[:, 3:4])
    return cover.float(), centres


def _cells_in_box(centres: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    x, y = centres[:, 0], centres[:, 1]
    return (x >= box[0]) & (x < box[2]) & (y >= box[1]) & (y < box[3])


def _in_box(pt: torch.Tensor, box: torch.Tensor) -> bool:
    return bool(box[0] <= pt[0] < box[2] and box[1] <= pt[1] < box[3])


def _contained(part_box: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """Whether at least CONTAIN of the part box lies inside each region box."""
    iw = (torch.minimum(regions[:, 2], part_box[2]) - torch.maximum(regions[:, 0], part_box[0])).clamp_min(0)
    ih = (torch.minimum(regions[:, 3], part_box[3]) - torch.maximum(regions[:, 1], part_box[1])).clamp_min(0)
    area = (part_box[2] - part_box[0]) * (part_box[3] - part_box[1])
    return iw * ih >= CONTAIN * area


@dataclass(frozen=True)
class Mode:
    """One table row: which features it reads and how it scores them."""

    name: str
    views: str
    method: str
    grounding: bool = False


MODES: tuple[Mode, ...] = (
    Mode("clip (class names)", "global", "clip"),
    Mode("dclip", "global", "dclip"),
    Mode("lazsl faithful (90 random crops)", "random", "lazsl", True),
    Mode(f"lazsl prefilter top-{PREFILTER_K} (random crops)", "random", "prefilter", True),
    Mode("lazsl converged (POT)", "random", "converged", True),
    Mode("lazsl grid (1-4 scales)", "grid", "lazsl", True),
    Mode("lazsl dense (patch tokens)", "dense", "lazsl", True),
)

VIEW_CONFIGS: dict[str, ViewConfig] = {
    "global": ViewConfig(mode="random", n_crops=0),
    "random": ViewConfig(mode="random", n_crops=90),
    "grid": ViewConfig(mode="grid"),
    "dense": ViewConfig(mode="dense"),
}


def _score_clip(f: Features, tx: _Texts, config: EngineConfig) -> torch.Tensor:
    return clip_scores(f.global_feats, tx.name_feats, tx.name_class, len(tx.first_row))


def _score_dclip(f: Features, tx: _Texts, config: EngineConfig) -> torch.Tensor:
    return dclip_scores(f.global_feats, tx.attr_feats, tx.attr_class, len(tx.first_row))


def _score_lazsl(f: Features, tx: _Texts, config: EngineConfig) -> torch.Tensor:
    return _lazsl(f, tx, config).scores


def _score_prefilter(f: Features, tx: _Texts, config: EngineConfig) -> torch.Tensor:
    cand = _score_dclip(f, tx, config).topk(PREFILTER_K, dim=1).indices
    return _lazsl(f, tx, config, classes=cand).scores


def _score_converged(f: Features, tx: _Texts, config: EngineConfig) -> torch.Tensor:
    return _lazsl(f, tx, EngineConfig(**{**config.to_dict(), "ot_mode": "converged"})).scores


SCORERS: dict[str, Callable[[Features, _Texts, EngineConfig], torch.Tensor]] = {
    "clip": _score_clip,
    "dclip": _score_dclip,
    "lazsl": _score_lazsl,
    "prefilter": _score_prefilter,
    "converged": _score_converged,
}


def evaluate(
    model: ClipModel,
    n_images: int = 280,
    modes: Sequence[Mode] = MODES,
    config: EngineConfig | None = None,
    seed_base: int = EVAL_SEED_BASE,
    log: Callable[[str], None] | None = None,
) -> list[ModeResult]:
    """Score held-out scenes with every mode; grounding for the modes that have plans."""
    config = config or EngineConfig()
    es = make_eval_set(n_images, seed_base)
    tx = _texts(model, demo_classes(), config)
    feats: dict[str, Features] = {}
    results: list[ModeResult] = []
    faithful_pred: torch.Tensor | None = None
    for mode in modes:
        if mode.views not in feats:
            feats[mode.views] = ENCODERS[mode.views](model, es, VIEW_CONFIGS[mode.views])
            if log:
                log(f"encoded {len(es.images)} images ({mode.views}) in {feats[mode.views].seconds:.1f}s")
        f = feats[mode.views]
        t0 = time.perf_counter()
        pred = SCORERS[mode.method](f, tx, config).argmax(1)
        dt = time.perf_counter() - t0
        r = ModeResult(mode.name, float((pred == es.labels).float().mean()), n_images=len(es.images),
                       seconds_per_image=(f.seconds + dt) / len(es.images))
        if mode.method == "lazsl" and mode.views == "random":
            faithful_pred = pred
        if faithful_pred is not None:
            r.agreement = float((pred == faithful_pred).float().mean())
        if mode.grounding:
            r.grounding, r.chance, r.pointing, r.pointing_chance, r.n_grounded = _grounding(es, f, tx, pred, config)
        results.append(r)
        if log:
            log(f"{mode.name}: top-1 {r.accuracy:.3f}")
    return results


def markdown_table(results: Sequence[ModeResult]) -> str:
    """The results as a markdown table (percentages)."""

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.1f}"

    lines = [
        "| method | top-1 % | top region contains part % (chance) | mass peak on part % (chance) "
        "| agrees w/ faithful % | s/image |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        g = "–" if r.grounding is None else f"{pct(r.grounding)} ({pct(r.chance)})"
        pt = "–" if r.pointing is None else f"{pct(r.pointing)} ({pct(r.pointing_chance)})"
        lines.append(f"| {r.name} | {pct(r.accuracy)} | {g} | {pt} | {pct(r.agreement)} | {r.seconds_per_image:.3f} |")
    return "\n".join(lines)

