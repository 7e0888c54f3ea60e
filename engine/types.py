"""Plain configuration dataclasses shared by the engine and its callers (no torch needed to read them)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

#: Default fixed multi-scale grid for ``ViewConfig(mode="grid")``: (rows/cols per scale).
DEFAULT_GRID_SCALES: tuple[int, ...] = (2, 3, 4)


# --- the registries: every name a user, a setting or a run can give a view mode, a scoring method or
# --- a transport solver. The CLI choices, the project settings, the GUI settings dialog and the
# --- scoring use cases read these; docs/architecture.md ("Adding a view mode") says what else a new
# --- entry needs (its box maker in engine/views.py, and tests).


@dataclass(frozen=True)
class ViewMode:
    """How images are cut into regions, as users name it (``--mode``, the ``view_mode`` setting).

    ``engine_mode`` is the `ViewConfig.mode` it runs as; ``aliases`` are older names still accepted
    on input (stored settings, scripts) and read as this mode.
    """

    name: str
    engine_mode: str
    description: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoringMethod:
    """How a class is scored from the image's views and its texts (`EngineConfig.method`)."""

    name: str
    description: str


@dataclass(frozen=True)
class OTMode:
    """How the entropic transport problems of `lazsl` are solved (`EngineConfig.ot_mode`).

    Not a view mode: ``faithful`` here names the solver's stopping rule, never how regions are cut.
    """

    name: str
    description: str


@dataclass(frozen=True)
class LearnMethod:
    """How a learning run turns the curators' decisions into better pre-labels (`lazlabel learn
    --method`). ``explainable``: the learned score is still a weighted sum over attributes, so the
    evidence keeps working; the others are labelled "less explainable" wherever they are offered.
    ``compositional``: only for projects whose classes are (state, object) pairs.
    """

    name: str
    description: str
    explainable: bool
    compositional: bool = False


_Entry = TypeVar("_Entry", ViewMode, ScoringMethod, OTMode, LearnMethod)


def _registry(*items: _Entry) -> dict[str, _Entry]:
    return {item.name: item for item in items}


#: View modes by name, in the order menus list them (the first is the published LaZSL scheme).
VIEW_MODES: dict[str, ViewMode] = _registry(
    ViewMode("random", "random", "the published LaZSL views, the whole image and 90 random square crops",
             aliases=("faithful",)),
    ViewMode("grid", "grid", "a fixed multi-scale grid of overlapping squares (faster, boxes localise better)"),
    ViewMode("dense", "dense", "one encoder pass with the ViT patch tokens as regions (fastest)"),
)

#: Scoring methods by name (the first is the default).
METHODS: dict[str, ScoringMethod] = _registry(
    ScoringMethod("lazsl", "regions and attributes aligned by optimal transport, the published method"),
    ScoringMethod("dclip", "mean similarity of the whole image to the class's attributes"),
    ScoringMethod("clip", "similarity of the whole image to the class name alone"),
    ScoringMethod("marginals", "state-object classes only: p(state) x p(object), each from the whole image's "
                  "similarity to state and object prompts"),
)

#: Transport solvers for the lazsl method by name (the first is the default).
OT_MODES: dict[str, OTMode] = _registry(
    OTMode("faithful", "the published Sinkhorn loop, its stopping rule applied to each (image, class) "
           "problem on its own: reproduces the paper"),
    OTMode("converged", "every problem solved to convergence with POT's batched solver"),
)


#: Learning methods by name (the first is the default; docs/architecture.md, "Learning from decisions").
LEARN_METHODS: dict[str, LearnMethod] = _registry(
    LearnMethod("attributes", "a learned weight per attribute (on how clearly it is present in its best "
                "region) and a bias per class, regularised toward zero-shot: the score stays a sum over "
                "the class's attributes", explainable=True),
    LearnMethod("adapter", "a Tip-Adapter-style cache model on the global image features, blended with "
                "the zero-shot scores: stronger, less explainable", explainable=False),
    LearnMethod("msci", "MSCI (IJCAI 2025) for (state, object) projects: soft prompts, adapters and "
                "multi-stage cross-modal interaction, trained on the decided pairs", explainable=False,
                compositional=True),
)


def view_mode_names(*, aliases: bool = False) -> tuple[str, ...]:
    """Every view mode's name, in menu order (with ``aliases=True`` the accepted old names too)."""
    names = tuple(VIEW_MODES)
    if aliases:
        names += tuple(a for m in VIEW_MODES.values() for a in m.aliases)
    return names


def view_mode(name: str) -> ViewMode:
    """The view mode a name or alias means; KeyError (naming the choices) when there is none."""
    found = VIEW_MODES.get(name)
    if found is None:
        found = next((m for m in VIEW_MODES.values() if name in m.aliases), None)
    if found is None:
        raise KeyError(f"unknown region mode {name!r} (one of: {', '.join(VIEW_MODES)})")
    return found


@dataclass(frozen=True)
class ClassSpec:
    """A label class and its visual attributes, in the order the curator set them.

    ``state`` / ``obj``: the parts of a compositional class (a state-object pair such as 'ripe
    tomato'); empty for a flat class (docs/architecture.md, "Compositional labels").
    """

    name: str
    attributes: tuple[str, ...] = ()
    state: str = ""
    obj: str = ""

    def __post_init__(self) -> None:
        # accept lists from callers, keep the value hashable
        object.__setattr__(self, "attributes", tuple(self.attributes))


@dataclass(frozen=True)
class ViewConfig:
    """How an image is cut into views (view 0 = global, 1..N = regions).

    ``mode``: a `ViewMode.engine_mode` (see `VIEW_MODES`): ``random`` (the published LaZSL crops),
    ``grid`` (fixed multi-scale square grid: for each k in ``grid_scales``, k x k overlapping squares
    of side 2·min(W,H)/(k+1)), ``dense`` (one pass; regions are the ViT patch tokens, boxes the
    patch cells).
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
    """Scoring method and its constants (defaults: the published LaZSL values; docs/architecture.md,
    "The LaZSL score").

    ``method``: a name in `METHODS`. ``ot_mode``: a name in `OT_MODES` (``faithful``: per-problem
    stopping, reproduces the paper; ``converged``: POT ``ot.solve_batch``). ``prefilter_k``: score
    only the top-k classes by the cheap dclip score with OT (None = all classes).
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
