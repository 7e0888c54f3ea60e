"""The standard CZSL numbers of the zero-shot routes on the compositional demo world.

Test images of all 30 pairs that occur (18 seen, 12 unseen) are encoded once; each route scores
them against all 42 state-object pairs through the engine's own scoring functions
(`engine.pipeline.text_bank` and `METHODS`), and `engine.czsl` gives seen, unseen, HM and AUC in
the closed world (the 30 pairs), the open world (all 42) and the open world filtered by
CompCos-style feasibility. A learned route (MSCI, helper "msci") plugs in with `register_scorer`
(docs/architecture.md, "Compositional labels").
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.calibration import calibrated
from engine.czsl import CZSLResult, closed_world, open_world
from engine.demo_world import compositional as cw
from engine.demo_world.scenes import render
from engine.models import ClipModel
from engine.pipeline import METHODS, text_bank
from engine.types import ClassSpec, EngineConfig, ViewConfig
from engine.views import make_views


@dataclass
class CZSLSet:
    """Rendered images of a split, their true pair (index into `cw.ALL_PAIRS`) and the pair masks."""

    images: list[Image.Image]
    hashes: list[str]
    labels: np.ndarray  # [N]
    pairs: tuple[cw.Pair, ...] = cw.ALL_PAIRS
    global_feats: torch.Tensor | None = None  # [N, D]
    region_feats: torch.Tensor | None = None  # [N, R, D]
    encode_seconds: float = 0.0

    @property
    def seen(self) -> np.ndarray:
        return np.array([p in cw.SEEN_PAIRS for p in self.pairs])

    @property
    def feasible(self) -> np.ndarray:
        return np.array([p in cw.FEASIBLE_PAIRS for p in self.pairs])

    @property
    def pair_states(self) -> np.ndarray:
        return np.array([cw.STATES.index(p.state) for p in self.pairs])

    @property
    def pair_objects(self) -> np.ndarray:
        return np.array([cw.OBJECTS.index(p.object) for p in self.pairs])


def content_hash(img: Image.Image) -> str:
    return hashlib.sha256(img.tobytes() + repr(img.size).encode()).hexdigest()


def make_set(split: str = "test", per_pair: int = 7, pairs: Sequence[cw.Pair] | None = None) -> CZSLSet:
    """`per_pair` images of every pair of the split (test and val: the 30 pairs that occur)."""
    chosen = tuple(pairs) if pairs is not None else cw.SPLITS[split][1]
    scenes = list(cw.iter_scenes(split, per_pair * len(chosen), chosen))
    images = [render(s) for _p, s in scenes]
    labels = np.array([cw.ALL_PAIRS.index(p) for p, _s in scenes])
    return CZSLSet(images, [content_hash(i) for i in images], labels)


def encode(model: ClipModel, ds: CZSLSet, view_cfg: ViewConfig, chunk: int = 8) -> CZSLSet:
    """Global and region features of every image (the same views the pipeline makes)."""
    t0 = time.perf_counter()
    g_out, r_out = [], []
    for i in range(0, len(ds.images), chunk):
        views = [make_views(img, h, view_cfg, model.image_size, model.mean, model.std)[0]
                 for img, h in zip(ds.images[i:i + chunk], ds.hashes[i:i + chunk], strict=True)]
        f = model.encode_images(torch.cat(views)).cpu().view(len(views), views[0].shape[0], -1)
        g_out.append(f[:, 0])
        r_out.append(f[:, 1:])
    ds.global_feats, ds.region_feats = torch.cat(g_out), torch.cat(r_out)
    ds.encode_seconds = time.perf_counter() - t0
    return ds


def cached_encode(model: ClipModel, ds: CZSLSet, view_cfg: ViewConfig, folder: Path | None, tag: str) -> CZSLSet:
    """`encode`, kept in `folder` (keyed by model, views and the images' hashes) when given."""
    if folder is None:
        return encode(model, ds, view_cfg)
    key = hashlib.sha256("".join([model.model_id, view_cfg.key(), *ds.hashes]).encode()).hexdigest()[:16]
    path = Path(folder) / f"czsl-{tag}-{key}.pt"
    if path.is_file():
        data = torch.load(path, weights_only=True)
        ds.global_feats, ds.region_feats = data["global"], data["regions"]
        return ds
    encode(model, ds, view_cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"global": ds.global_feats, "regions": ds.region_feats}, path)
    return ds


def pair_classes(pairs: Sequence[cw.Pair] = cw.ALL_PAIRS) -> list[ClassSpec]:
    """Every pair as a class: its state and object, and the union of their demo attributes
    (what `lazlabel demo --compositional` stores in the project)."""
    from engine.compose import union_attributes

    return [ClassSpec(p.name, union_attributes((), cw.state_attributes(p.state), cw.object_attributes(p.object)),
                      state=p.state, obj=p.object) for p in pairs]


#: A route: (model, encoded set, classes, engine config) -> scores [N, P] over `ds.pairs`.
Scorer = Callable[[ClipModel, CZSLSet, list[ClassSpec], EngineConfig], np.ndarray]


def _engine_method(method: str) -> Scorer:
    def score(model: ClipModel, ds: CZSLSet, classes: list[ClassSpec], config: EngineConfig) -> np.ndarray:
        cfg = calibrated(EngineConfig.from_dict({**config.to_dict(), "method": method}), model)
        texts = text_bank(model, classes, cfg)
        assert ds.global_feats is not None and ds.region_feats is not None
        return METHODS[method](ds.global_feats, ds.region_feats, None, texts, len(classes), cfg).float().numpy()
    return score


#: Routes in table order: name -> (description, scorer). `register_scorer` adds learned ones.
SCORERS: dict[str, tuple[str, Scorer]] = {
    "clip": ("CLIP pair prompts, 'a photo of a {state} {object}.'", _engine_method("clip")),
    "lazsl": ("LaZSL over the union of the state's and the object's attributes", _engine_method("lazsl")),
    "dclip": ("DCLIP (mean over the same union, whole image)", _engine_method("dclip")),
    "marginals": ("product of marginals p(state) x p(object)", _engine_method("marginals")),
}


def register_scorer(name: str, description: str, scorer: Scorer) -> None:
    """Add a route to the table (the hook for MSCI: train on the `train` split, the seen pairs,
    then score `ds` over all of `ds.pairs`)."""
    SCORERS[name] = (description, scorer)


def compcos_feasibility(model: ClipModel, pairs: Sequence[cw.Pair] = cw.ALL_PAIRS,
                        seen: Sequence[cw.Pair] = cw.SEEN_PAIRS) -> np.ndarray:
    """Feasibility of each pair from the seen pairs, as CompCos (Mancini et al. 2021): a state is
    plausible for an object when it was seen with similar objects, and vice versa. Similarities of
    the model's own text embeddings of "a photo of a {object}." / "a photo of a {state} object.";
    seen pairs score 1."""
    from engine.compose import OBJECT_TEMPLATE, STATE_TEMPLATE

    so = model.encode_texts([STATE_TEMPLATE.format(s) for s in cw.STATES]).float()
    oo = model.encode_texts([OBJECT_TEMPLATE.format(o) for o in cw.OBJECTS]).float()
    s_sim, o_sim = (so @ so.T).numpy(), (oo @ oo.T).numpy()
    seen_set = set(seen)
    out = np.zeros(len(pairs))
    for k, p in enumerate(pairs):
        if p in seen_set:
            out[k] = 1.0
            continue
        si, oi = cw.STATES.index(p.state), cw.OBJECTS.index(p.object)
        objs = [cw.OBJECTS.index(q.object) for q in seen_set if q.state == p.state and q.object != p.object]
        sts = [cw.STATES.index(q.state) for q in seen_set if q.object == p.object and q.state != p.state]
        f_obj = max((o_sim[oi, j] for j in objs), default=0.0)
        f_st = max((s_sim[si, j] for j in sts), default=0.0)
        out[k] = 0.5 * (f_obj + f_st)
    return out


def feasibility_threshold(feasibility: np.ndarray, seen: np.ndarray, scores_val: np.ndarray, labels_val: np.ndarray
                          ) -> float:
    """The threshold CompCos picks on validation: the one giving the best open-world HM."""
    from engine.czsl import feasibility_mask

    best, best_t = -1.0, 0.0
    for t in np.unique(feasibility[~seen]):
        r = open_world(scores_val, labels_val, seen, feasibility_mask(feasibility, seen, float(t)))
        if r.hm > best:
            best, best_t = r.hm, float(t)
    return best_t


@dataclass
class RouteResult:
    name: str
    description: str
    closed: CZSLResult
    open: CZSLResult
    open_feasible: CZSLResult | None = None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def evaluate_route(name: str, model: ClipModel, ds: CZSLSet, classes: list[ClassSpec], config: EngineConfig,
                   feasible: np.ndarray | None = None) -> RouteResult:
    """Closed world, open world and (with `feasible`, bool [P]) the filtered open world of one route."""
    desc, scorer = SCORERS[name]
    t0 = time.perf_counter()
    scores = scorer(model, ds, classes, config)
    secs = time.perf_counter() - t0
    kw = dict(pair_states=ds.pair_states, pair_objects=ds.pair_objects)
    closed = closed_world(scores, ds.labels, ds.seen, ds.feasible, **kw)
    opened = open_world(scores, ds.labels, ds.seen, **kw)
    filtered = open_world(scores, ds.labels, ds.seen, feasible, **kw) if feasible is not None else None
    return RouteResult(name, desc, closed, opened, filtered, secs)


def markdown_table(results: Sequence[RouteResult]) -> str:
    """One row per route: S, U, HM, AUC in the closed world, the open world, the feasible open world."""
    head = ("| route | closed S | U | HM | AUC | open S | U | HM | AUC | open+feasible HM | AUC | state % | object % |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = [head]
    for r in results:
        c, o, f = r.closed.as_row(), r.open.as_row(), r.open_feasible.as_row() if r.open_feasible else None
        feas = f"{f['HM']:.1f} | {f['AUC']:.1f}" if f else "– | –"
        rows.append(f"| {r.name} | {c['S']:.1f} | {c['U']:.1f} | {c['HM']:.1f} | {c['AUC']:.1f} | {o['S']:.1f} | "
                    f"{o['U']:.1f} | {o['HM']:.1f} | {o['AUC']:.1f} | {feas} | {100 * r.closed.state_acc:.1f} | "
                    f"{100 * r.closed.object_acc:.1f} |")
    return "\n".join(rows)
