"""Where a project's feature cache lives: beside the project (the default), or a store shared by a
team or a Ray cluster (docs/architecture.md, "Large datasets").

Which folder, first that is set: `LAZLABEL_CACHE_DIR` (this machine's mapping of a shared store,
so a project on a shared database can be opened where the share is mounted elsewhere), the project
setting `cache_dir` (which `--cache-dir` overrides for one command), then ``<project>.cache/features``.
Keys inside are content-addressed (engine/cache.py), so projects and machines can share one store.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.cache import FeatureCache, StoreError, store_root
from workflows.errors import UserError

#: environment variable naming this machine's feature store (overrides the project setting)
ENV_CACHE_DIR = "LAZLABEL_CACHE_DIR"


def feature_root(project: Any, settings: Any = None) -> Path:
    """The feature store folder of `project` under `settings` (see the module docstring)."""
    if settings is None:
        from workflows.settings import load_settings

        settings = load_settings(project)
    spec = os.environ.get(ENV_CACHE_DIR) or getattr(settings, "cache_dir", "") or ""
    try:
        return store_root(spec, project.cache_dir / "features")
    except StoreError as err:
        raise UserError(str(err)) from None


def open_feature_cache(project: Any, model_id: str, view_key: str, settings: Any = None) -> FeatureCache:
    """The feature cache of (model, view configuration) in the project's store; a store folder that
    cannot be created or written is the user's to fix (one line), not an internal error."""
    root = feature_root(project, settings)
    try:
        return FeatureCache(root, model_id, view_key)
    except PermissionError as err:
        raise UserError(f"feature store {root}: {err.strerror or err} (check the folder's permissions, "
                        f"or set {ENV_CACHE_DIR})") from None
