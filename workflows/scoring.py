"""What pre-label, re-score, audit and on-demand explanations share: the model, the classes, the
engine and view configuration from the project settings, the feature cache, and the conversion of
engine results into store rows.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from db.store_runs import PredictionWrite
from engine.cache import FeatureCache
from engine.models import ClipModel
from engine.pipeline import ScoreResult, score_cached
from engine.types import METHODS, OT_MODES, ClassSpec, EngineConfig, ViewConfig, view_mode, view_mode_names
from workflows.errors import UserError
from workflows.feature_store import open_feature_cache
from workflows.models import get_model
from workflows.progress import CancelToken, Progress, check
from workflows.settings import ProjectSettings, load_settings

if TYPE_CHECKING:
    from db.project import Project

#: CLI / settings names of region modes (aliases included) -> engine view modes, from the one
#: registry (engine.types.VIEW_MODES).
VIEW_MODES: dict[str, str] = {name: view_mode(name).engine_mode for name in view_mode_names(aliases=True)}

SCORE_CHUNK = 512  # images per score_cached call when re-scoring from the cache
MIN_TOPK = 9  # review keys 1-9 always have nine classes to pick from


def view_config(settings: ProjectSettings) -> ViewConfig:
    """The engine view configuration for the settings' region mode (an alias reads as its mode)."""
    try:
        mode = view_mode(settings.view_mode)
    except KeyError as err:
        raise UserError(err.args[0]) from None
    return ViewConfig(
        mode=mode.engine_mode,
        n_crops=int(settings.n_crops),
        alpha_crop=float(settings.alpha_crop),
        seed=int(settings.seed),
    )


def engine_config(settings: ProjectSettings) -> EngineConfig:
    """The engine configuration the settings ask for; a method or solver name not in the registry
    (engine.types) is the user's to fix, not a failure deep in the engine."""
    for what, value, known in (("scoring method", settings.method, METHODS),
                               ("transport solver", settings.ot_mode, OT_MODES)):
        if value not in known:
            raise UserError(f"unknown {what} '{value}' (one of: {', '.join(known)})")
    return EngineConfig(
        method=settings.method,
        ot_mode=settings.ot_mode,
        topk=max(MIN_TOPK, int(settings.topk)),
        batch_size=int(settings.batch_size),
    )


def _load_model(settings: ProjectSettings) -> ClipModel:
    from engine.models import ModelLoadError

    try:
        return get_model(settings.model, settings.device, settings.precision)
    except ModelLoadError as err:
        raise UserError(str(err)) from err


@dataclass
class ScoringContext:
    """One consistent view of (model, classes, configs, cache) for a use case."""

    settings: ProjectSettings
    model: ClipModel
    class_ids: list[int]
    classes: list[ClassSpec]
    attribute_set_version: str
    view_cfg: ViewConfig
    engine_cfg: EngineConfig
    cache: FeatureCache

    @classmethod
    def from_project(cls, project: Project, settings: ProjectSettings | None = None) -> ScoringContext:
        settings = settings or load_settings(project)
        from workflows.compose import check_method, class_specs_with_ids

        class_ids, classes = class_specs_with_ids(project)  # pairs know their state and object
        if not classes:
            raise UserError("the project has no active classes (add some with `lazlabel classes add`)")
        check_method(classes, settings.method)
        view_cfg = view_config(settings)
        model = _load_model(settings)
        if view_cfg.mode == "dense" and not model.supports_dense:  # a tower without patch tokens
            raise UserError(model.dense_unsupported or f"dense region mode needs patch tokens; {model.model_id} has none")
        cache = open_feature_cache(project, model.model_id, view_cfg.key(), settings)
        return cls(
            settings=settings,
            model=model,
            class_ids=class_ids,
            classes=classes,
            attribute_set_version=project.attribute_set_version(),
            view_cfg=view_cfg,
            engine_cfg=engine_config(settings),
            cache=cache,
        )

    @property
    def model_id(self) -> str:
        return self.model.model_id

    @property
    def class_index(self) -> dict[int, int]:
        return {cid: i for i, cid in enumerate(self.class_ids)}

    def config_dict(self) -> dict[str, Any]:
        """What a run records and resumes on: engine and view settings (batch size is not a result input)."""
        eng = self.engine_cfg.to_dict()
        eng.pop("batch_size", None)
        eng.pop("extra", None)
        return {"engine": eng, "view": self.view_cfg.to_dict()}

    # -- results -> store rows -------------------------------------------------------------------
    def to_writes(self, image_ids: Sequence[int], res: ScoreResult) -> list[PredictionWrite]:
        """Engine top-k (class indices) -> store rows keyed by class id; tensors read once."""
        cids = self.class_ids
        idx = res.topk_idx.tolist()
        scores = res.topk_scores.tolist()
        margins = res.margin.tolist()
        out = []
        for row, iid in enumerate(image_ids):
            top = [(cids[c], s) for c, s in zip(idx[row], scores[row])]
            expl = (
                {cids[e.class_index]: e.to_json() for e in res.explanations[row]} if res.explanations else {}
            )
            out.append(
                PredictionWrite(
                    int(iid),
                    top[0][0] if top else None,
                    scores[row][0] if top else 0.0,
                    margins[row],
                    top,
                    expl,
                )
            )
        return out

    # -- scoring from the cache --------------------------------------------------------------------
    def split_cached(self, hashes: Mapping[int, str | None]) -> tuple[list[int], list[int]]:
        """(ids whose features are cached, ids that were never encoded), in the given order."""
        known = {i: h for i, h in hashes.items() if h}
        missing_hashes = set(self.cache.missing(list(known.values())))
        cached = [i for i in known if hashes[i] not in missing_hashes]
        absent = [i for i, h in hashes.items() if not h or h in missing_hashes]
        return cached, absent

    def score_chunks(
        self,
        image_ids: Sequence[int],
        hashes: Mapping[int, str | None],
        *,
        config: EngineConfig | None = None,
        chunk: int = SCORE_CHUNK,
        return_all: bool = False,
        cancel: CancelToken | None = None,
    ) -> Generator[tuple[list[int], ScoreResult], None, None]:
        """Score cached images in chunks (image sizes come from the cache); yields (ids, ScoreResult)
        and checks cancel between chunks."""
        cfg = config or self.engine_cfg
        for start in range(0, len(image_ids), chunk):
            check(cancel)
            ids = list(image_ids[start : start + chunk])
            res = score_cached(
                self.model, self.cache, _hashes_of(ids, hashes), self.classes, cfg, return_all=return_all,
                view_mode=self.view_cfg.mode,
            )
            yield ids, res

    def score_all(
        self,
        project: Project,
        image_ids: Sequence[int],
        *,
        cancel: CancelToken | None = None,
        stage: str = "score",
    ) -> Generator[Progress, None, tuple[list[int], torch.Tensor, list[int]]]:
        """Scores of every active class for cached images: (scored ids, [n, C] scores, never-encoded ids)."""
        hashes = project.content_hashes(image_ids)
        cached, missing = self.split_cached({i: hashes.get(i) for i in image_ids})
        cfg = replace(self.engine_cfg, topk=1, explain_top=0, prefilter_k=None)
        parts: list[torch.Tensor] = []
        done = 0
        progress = Progress(0, len(cached), "scoring all classes", stage=stage)
        for ids, res in self.score_chunks(cached, hashes, config=cfg, return_all=True, cancel=cancel):
            if res.all_scores is None:
                raise RuntimeError("score_cached(return_all=True) returned no all_scores")
            parts.append(res.all_scores.float())
            done += len(ids)
            yield Progress(
                done, len(cached), f"scored {done}/{len(cached)}", stage=stage, started=progress.started
            )
        scores = torch.cat(parts) if parts else torch.zeros(0, len(self.classes))
        return cached, scores, missing

    def explain_pairs(
        self,
        project: Project,
        wanted: Mapping[int, Iterable[int]],
        *,
        cancel: CancelToken | None = None,
        stage: str = "explain",
    ) -> Generator[Progress, None, dict[int, dict[int, dict[str, Any]]]]:
        """Explanations of chosen classes per image ({image: class ids} -> {image: {class: JSON}}).

        Each class is scored once, against just itself, for all the images that ask for it (a LaZSL
        score of one class does not depend on the others, so the evidence is the same): as many
        engine calls as distinct classes, however the pairs are spread.
        """
        by_class: dict[int, list[int]] = {}
        for iid, cids in wanted.items():
            for c in dict.fromkeys(int(c) for c in cids):
                by_class.setdefault(c, []).append(int(iid))
        hashes = project.content_hashes(list(wanted))
        index = self.class_index
        total = sum(len(v) for v in by_class.values())
        out: dict[int, dict[int, dict[str, Any]]] = {}
        done = 0
        cfg = replace(self.engine_cfg, topk=1, explain_top=1, prefilter_k=None)
        for c, ids in by_class.items():
            check(cancel)
            sub = ScoringContext(**{**self.__dict__, "class_ids": [c], "classes": [self.classes[index[c]]]})
            cached, _missing = sub.split_cached({i: hashes.get(i) for i in ids})
            for chunk_ids, res in sub.score_chunks(cached, hashes, config=cfg, cancel=cancel):
                for w in sub.to_writes(chunk_ids, res):
                    out.setdefault(w.image_id, {}).update(
                        (cc, _with_class(d, cc, index)) for cc, d in w.explanations.items()
                    )
            done += len(ids)
            yield Progress(done, total, "explaining", stage=stage)
        return out


def _hashes_of(ids: Sequence[int], hashes: Mapping[int, str | None]) -> list[str]:
    """The content hashes of images known to be cached (split_cached keeps only hashed ones)."""
    out: list[str] = []
    for i in ids:
        h = hashes[i]
        if not h:
            raise LookupError(f"image {i} has no content hash, so no cached features")
        out.append(h)
    return out


def _with_class(data: dict[str, Any], class_id: int, index: Mapping[int, int]) -> dict[str, Any]:
    """An explanation computed against a class subset, re-indexed to the full class list."""
    return {**data, "class_index": index[class_id], "class_id": class_id}
