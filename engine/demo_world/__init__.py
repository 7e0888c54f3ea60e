"""The demo world: procedurally generated part scenes, attribute-defined classes, and a tiny
open_clip model trained on them (shipped under `weights/`), so the whole pipeline runs and is
measurable offline."""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR: Path = Path(__file__).resolve().parent / "weights"
# Model spec understood by engine.models.load_model (open_clip's own local-dir loading path).
DEMO_MODEL_SPEC: str = f"local-dir:{WEIGHTS_DIR}"
# The same tiny model trained with SigLIP's sigmoid loss (learnable logit bias): alias "demo-sigmoid".
SIGMOID_WEIGHTS_DIR: Path = Path(__file__).resolve().parent / "weights_sigmoid"
DEMO_SIGMOID_MODEL_SPEC: str = f"local-dir:{SIGMOID_WEIGHTS_DIR}"

