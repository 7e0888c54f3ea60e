"""Presence calibration: each attribute's usual best-region similarity over the project's images.

Computed from the feature cache (a fixed sample of at most CALIBRATION_SAMPLE images, never
re-encoded) and kept in a small JSON file beside the cache, keyed by model, view configuration
and attribute-set version; it is recomputed once the cached image count has grown by a quarter.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from engine.evidence import PresenceCalibration, calibration_key
from workflows.errors import UserError

#: images sampled for the statistics (evenly spread over the project's cached images)
CALIBRATION_SAMPLE = 2000
#: fewer cached images than this: no calibration (presence is judged within the class)
MIN_IMAGES = 8
#: recompute when the cached image count has grown by this factor
REFRESH_GROWTH = 1.25

#: seconds a calibration is reused in-process before its freshness is checked again (review
#: navigation asks for it on every image; the check lists the project's images)
REUSE_SECONDS = 30.0

_lock = threading.Lock()
_recent: dict[tuple[str, str], tuple[float, PresenceCalibration | None]] = {}


def calibration_for_project(project: Any, ctx: Any = None) -> PresenceCalibration | None:
    """The calibration for the project's current model, views and attributes: from its file when
    still fresh (no model is loaded then), else computed from the cache and saved. None with too
    few cached images, or when no model or class is set up."""
    from engine.models import ModelLoadError, resolve_spec
    from workflows.feature_store import feature_root
    from workflows.scoring import engine_config, view_config
    from workflows.settings import load_settings

    try:
        settings = load_settings(project)
        model_id = ctx.model_id if ctx is not None else resolve_spec(settings.model).model_id
        view_cfg, eng = view_config(settings), engine_config(settings)
        root = feature_root(project, settings)
    except (ModelLoadError, UserError):
        return None
    memo_key = (str(root), _key(model_id, view_cfg.key(), project.attribute_set_version(), eng))
    hit = _recent.get(memo_key)
    if hit is not None and time.monotonic() - hit[0] < REUSE_SECONDS:
        return hit[1]
    cal = _fresh_calibration(project, settings, model_id, view_cfg, eng, ctx)
    _recent[memo_key] = (time.monotonic(), cal)
    return cal


def _fresh_calibration(project: Any, settings: Any, model_id: str, view_cfg: Any, eng: Any, ctx: Any
                       ) -> PresenceCalibration | None:
    from workflows.feature_store import open_feature_cache

    cache = open_feature_cache(project, model_id, view_cfg.key(), settings)
    ids = project.image_ids()
    hashes = project.content_hashes(ids)
    cached = [h for h in dict.fromkeys(hashes[i] for i in ids if hashes.get(i)) if cache.has(h)]
    if len(cached) < MIN_IMAGES:
        return None
    path = Path(cache.dir) / f"presence-{_key(model_id, view_cfg.key(), project.attribute_set_version(), eng)}.json"
    with _lock:
        old = _read(path)
        if old is not None and old.n_images * REFRESH_GROWTH >= len(cached):
            return old
        if ctx is None:
            from workflows.scoring import ScoringContext

            try:
                ctx = ScoringContext.from_project(project, settings)
            except UserError:
                return None
        cal = compute_calibration(ctx, cached)
        _write(path, cal)
        return cal


def compute_calibration(ctx: Any, hashes: list[str]) -> PresenceCalibration:
    """Statistics of each (class, attribute) sentence's best-region similarity over a sample."""
    from engine.pipeline import text_bank
    from engine.presence import best_region_similarity, mean_and_spread

    step = max(1, len(hashes) // CALIBRATION_SAMPLE)
    sample = sorted(hashes)[::step][:CALIBRATION_SAMPLE]
    cfg = ctx.engine_cfg if ctx.engine_cfg.method != "clip" else type(ctx.engine_cfg)(method="lazsl")
    bank = text_bank(ctx.model, ctx.classes, cfg)
    mean, std = mean_and_spread(best_region_similarity(ctx.cache, sample, bank.feats))
    stats: dict[str, tuple[float, float]] = {}
    owner = bank.owner.tolist()
    for row, c in enumerate(owner):
        spec = ctx.classes[c]
        attrs = spec.attributes or ("",)
        j = row - bank.first_row[c]
        stats[calibration_key(spec.name, attrs[j])] = (float(mean[row]), float(std[row]))
    return PresenceCalibration(stats, len(hashes))


def _key(model_id: str, view_key: str, attribute_set_version: str, eng: Any) -> str:
    key = json.dumps([model_id, view_key, attribute_set_version, eng.prompt_style, eng.imagenet_suffix])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _read(path: Path) -> PresenceCalibration | None:
    try:
        return PresenceCalibration.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _write(path: Path, cal: PresenceCalibration) -> None:
    """Atomic: written aside and renamed (a reader never sees half a file); failures are harmless."""
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        tmp.write_text(json.dumps(cal.to_json()))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
