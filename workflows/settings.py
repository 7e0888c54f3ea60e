"""Typed project settings, stored as JSON values in the project's `setting` table.

One place for the names and defaults, so the GUI settings dialog, the CLI and the use cases agree.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from engine.types import VIEW_MODES, view_mode

if TYPE_CHECKING:
    from db.project import Project

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"


@dataclass
class ProjectSettings:
    model: str = "demo"  # engine.models spec: alias, "name:tag", "name@file", "local-dir:PATH", "random:NAME"
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"  # auto | fp32 | fp16 | bf16
    view_mode: str = "random"  # a name in engine.types.VIEW_MODES (random = the published LaZSL crops)
    n_crops: int = 90
    alpha_crop: float = 0.6
    seed: int = 0
    method: str = "lazsl"  # a name in engine.types.METHODS
    ot_mode: str = "faithful"  # a transport solver in engine.types.OT_MODES (not a view mode)
    topk: int = 9
    batch_size: int = 32
    ollama_host: str = ""  # empty: $OLLAMA_HOST or DEFAULT_OLLAMA_HOST
    ollama_model: str = "llama3.2"
    domain_hint: str = ""
    n_attributes: int = 6
    reviewer: str = ""  # empty: the login name
    cache_dir: str = ""  # feature store folder or file:// URL; empty: beside the project (workflows/feature_store.py)

    @property
    def effective_ollama_host(self) -> str:
        return self.ollama_host or os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST

    @property
    def effective_reviewer(self) -> str:
        if self.reviewer:
            return self.reviewer
        try:
            return os.getlogin()
        except OSError:
            return os.environ.get("USER") or "unknown"


_NAMES = {f.name for f in fields(ProjectSettings)}


def load_settings(project: Project) -> ProjectSettings:
    """Read settings from a `db.Project` (unknown keys are ignored, missing ones default; an old
    name of a view mode, such as "faithful", reads as the mode's name)."""
    stored = project.settings()
    settings = ProjectSettings(**{k: v for k, v in stored.items() if k in _NAMES})
    if settings.view_mode not in VIEW_MODES:
        try:
            settings.view_mode = view_mode(settings.view_mode).name
        except KeyError:
            pass  # kept as stored: scoring says it is unknown, the settings dialog shows it
    return settings


def save_settings(project: Project, settings: ProjectSettings) -> None:
    """Store every setting (one row per name)."""
    for key, value in dataclasses.asdict(settings).items():
        project.set_setting(key, value)
