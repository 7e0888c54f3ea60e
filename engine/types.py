"""Plain configuration dataclasses shared by the engine and its callers (no torch needed to read them)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: Default fixed multi-scale grid for ``ViewConfig(mode="grid")``: (rows/cols per scale).
DEFAULT_GRID_SCALES: tuple[int, ...] = (2, 3, 4)


@dataclass(frozen=True)
class ClassSpec:
    """A label class and its visual attributes, in the order the curator set them."""

    name: str
    attributes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # accept lists from callers, keep the value hashable
        object.__setattr__(self, "attributes", tuple(self.attributes))


@dataclass(frozen=True)
class ViewConfig:
    """How an image is cut into views (view 0 = global, 1..N = regions).

    ``mode``: ``random`` (the published LaZSL crops), ``grid`` (fixed multi-scale square grid,
    ``grid_scales`` cells per side per scale, overlapping squares of side min(W,H)/k*1.5 clipped),
    ``dense`` (one pass; regions are the ViT patch tokens, boxes the patch cells).
    """

    mode: str = "random"
    n_crops: int = 90
    alpha_crop: float = 0.6
    seed: int = 0
    grid_scales: tuple[int, ...] = DEFAULT_GRID_SCALES

    def __post_init__(self) -> None:
        object.__setattr__(self, "grid_scales", tuple(int(s) for s in self.grid_scales))

    def key(self) -> str:
        """Stable string naming this view configuration (feature-cache directory component)."""
        if self.mode == "random":
            return f"random-n{self.n_crops}-a{self.alpha_crop:g}-s{self.seed}"
        if self.mode == "grid":
            return "grid-" + "x".join(str(s) for s in self.grid_scales)
        return self.mode

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["grid_scales"] = list(self.grid_scales)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ViewConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class EngineConfig:
    """Scoring method and its constants (DESIGN.md defaults: the published LaZSL values).

    ``method``: ``lazsl`` | ``dclip`` | ``clip``. ``ot_mode``: ``faithful`` (per-problem stopping,
    reproduces the paper) | ``converged`` (POT ``ot.solve_batch``). ``prefilter_k``: score only the
    top-k classes by the cheap dclip score with OT (None = all classes).
    """

    method: str = "lazsl"
    ot_mode: str = "faithful"
    alpha: float = 0.8
    eps: float = 0.1
    gamma: float = 0.0
    max_iter: int = 100
    tol: float = 1e-2
    topk: int = 9
    explain_top: int = 2
    prefilter_k: int | None = None
    prompt_style: str = "lazsl"
    imagenet_suffix: bool = False
    batch_size: int = 32
    clip_templates: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EngineConfig:
        """Build from a stored dict; unknown keys (from newer versions) are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def key(self) -> str:
        """Stable JSON string (run provenance)."""
        return json.dumps(self.to_dict(), sort_keys=True)
