"""Presence calibration: each attribute's usual best-region similarity over the project's images.

Computed from the feature cache (a fixed sample of at most CALIBRATION_SAMPLE images, never
re-encoded) and kept in a small JSON file beside the cache, keyed by model, view configuration
and attribute-set version; it is recomputed when the cached image count has grown by a quarter.
"""

from __future__ import annotations

from typing import Any

from engine.evidence import PresenceCalibration


def calibration_for_project(project: Any) -> PresenceCalibration | None:
    """Placeholder until the calibration lands: no calibration (presence is per-image)."""
    return None
