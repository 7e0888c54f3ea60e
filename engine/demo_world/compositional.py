"""The compositional demo world: (state, object) pairs drawn with the demo scene renderer.

Objects are the demo world's shapes. States are either a colour (the object drawn solid in it) or
a texture (the object drawn striped or dotted, always in orange, a colour no colour-state uses), so
every image has exactly one true pair. Dots are fine (a period of ~2.5% of the image): at the
demo model's 64 px input they blur into a lighter fill (a quarter of their contrast survives) and
are visible only in close crops -- the state-specific cue that needs regions, not the whole image.

The pair table is fixed (docs/architecture.md, "Compositional labels"): of the 7 x 6 = 42
state-object combinations, 12 never occur (infeasible: only open-world evaluation offers them),
and of the 30 that occur 18 are *seen* (training pairs) and 12 *unseen* (held out: only in
validation and test). Every state and every object has at least two seen pairs and one unseen
pair, as in the CZSL benchmarks. Everything is a pure function of a seed, like `scenes.py`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.demo_world.classes import SHAPES, Part, all_parts
from engine.demo_world.scenes import PlacedPart, Scene, _int3, render

#: Colour states (drawn solid) then texture states (drawn in `TEXTURE_COLOUR`).
COLOUR_STATES: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple")
TEXTURE_STATES: tuple[str, ...] = ("striped", "dotted")
STATES: tuple[str, ...] = COLOUR_STATES + TEXTURE_STATES
OBJECTS: tuple[str, ...] = SHAPES
TEXTURE_COLOUR = "orange"

# Seed ranges, disjoint from scenes.py's (0, 1e9, 2e9) and from each other.
TRAIN_SEED_BASE = 3_000_000_000
VAL_SEED_BASE = 4_000_000_000
TEST_SEED_BASE = 5_000_000_000
DEMO_SEED_BASE = 6_000_000_000

SIZES = (160, 192, 224)
#: Side of the main object as a fraction of the image side (context parts: `CONTEXT_SIZE`).
MAIN_SIZE = (0.46, 0.62)
CONTEXT_SIZE = (0.16, 0.22)
#: Dot period as a fraction of the image side: ~1.6 px at the demo model's 64 px input (blurred
#: away), 3-5 px in the close crops LaZSL scores.
DOT_PERIOD = (0.022, 0.027)
STRIPE_PERIOD = (0.05, 0.07)


@dataclass(frozen=True, order=True)
class Pair:
    """A compositional class: one state of one object."""

    state: str
    object: str

    def __post_init__(self) -> None:
        if self.state not in STATES or self.object not in OBJECTS:
            raise ValueError(f"unknown pair {self.state}/{self.object}")

    @property
    def name(self) -> str:
        """The class name a project uses, e.g. 'dotted circle'."""
        return f"{self.state} {self.object}"

    @property
    def part(self) -> Part:
        """The demo part that draws this pair."""
        if self.state in TEXTURE_STATES:
            return Part(TEXTURE_COLOUR, self.object, self.state)
        return Part(self.state, self.object)


def _table_role(i: int, j: int) -> int:
    """A Latin-square index 0..6 of (state i, object j): every object meets each role once."""
    return (j - i) % len(STATES)


ALL_PAIRS: tuple[Pair, ...] = tuple(Pair(s, o) for s in STATES for o in OBJECTS)
INFEASIBLE_PAIRS: tuple[Pair, ...] = tuple(
    Pair(s, o) for i, s in enumerate(STATES) for j, o in enumerate(OBJECTS) if _table_role(i, j) in (0, 1))
UNSEEN_PAIRS: tuple[Pair, ...] = tuple(
    Pair(s, o) for i, s in enumerate(STATES) for j, o in enumerate(OBJECTS) if _table_role(i, j) in (2, 4))
SEEN_PAIRS: tuple[Pair, ...] = tuple(
    Pair(s, o) for i, s in enumerate(STATES) for j, o in enumerate(OBJECTS) if _table_role(i, j) in (3, 5, 6))
#: Pairs that occur in the world (closed-world candidates), seen first.
FEASIBLE_PAIRS: tuple[Pair, ...] = SEEN_PAIRS + UNSEEN_PAIRS

SPLITS: dict[str, tuple[int, tuple[Pair, ...]]] = {
    "train": (TRAIN_SEED_BASE, SEEN_PAIRS),
    "val": (VAL_SEED_BASE, FEASIBLE_PAIRS),
    "test": (TEST_SEED_BASE, FEASIBLE_PAIRS),
    "demo": (DEMO_SEED_BASE, FEASIBLE_PAIRS),
}


def pair_by_name(name: str) -> Pair:
    """The pair a class name such as 'dotted circle' means (ValueError if none)."""
    state, _, obj = name.partition(" ")
    return Pair(state, obj)


def is_seen(pair: Pair) -> bool:
    return pair in SEEN_PAIRS


# ----------------------------------------------------------------------------- attributes


_TEXTURE_PHRASES = {"striped": "a shape with stripes", "dotted": "a shape with dots"}


def state_attributes(state: str) -> list[str]:
    """Attribute texts of a state, said of any shape: 'a red shape', 'red colour' / 'a shape with dots'.

    The LaZSL path scores a pair over the union of its state's and its object's attributes.
    """
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}")
    second = _TEXTURE_PHRASES[state] if state in TEXTURE_STATES else f"{state} colour"
    return [f"a {state} shape", second]


def object_attributes(obj: str) -> list[str]:
    """Attribute texts of an object, whatever its state: 'a circle', 'a circle shape'."""
    if obj not in OBJECTS:
        raise ValueError(f"unknown object {obj!r}")
    return [f"a {obj}", f"a {obj} shape"]


# ----------------------------------------------------------------------------- scenes


def _box(rng: np.random.Generator, size: int, lo: float, hi: float, taken: list[tuple[int, int, int, int]]
         ) -> tuple[int, int, int, int] | None:
    gap = max(2, size // 40)
    for _ in range(60):
        s = int(round(rng.uniform(lo, hi) * size))
        x0 = int(rng.integers(2, size - s - 1))
        y0 = int(rng.integers(2, size - s - 1))
        box = (x0, y0, x0 + s, y0 + s)
        if all(box[0] >= b[2] + gap or b[0] >= box[2] + gap or box[1] >= b[3] + gap or b[1] >= box[3] + gap
               for b in taken):
            return box
    return None


def _distractor(rng: np.random.Generator, main: Part) -> Part:
    """A small context part of another shape (never the main object's shape)."""
    pool = [p for p in all_parts() if p.shape != main.shape]
    return pool[int(rng.integers(len(pool)))]


def make_scene(seed: int, pair: Pair, size: int | None = None) -> Scene:
    """The scene for `seed` showing `pair` as the main (large) object, plus 0-2 small context parts."""
    rng = np.random.default_rng(seed)
    if size is None:
        size = int(SIZES[int(rng.integers(len(SIZES)))])
    main = pair.part
    u = rng.random()
    n_extra = 0 if u < 0.5 else (1 if u < 0.85 else 2)
    boxes: list[tuple[int, int, int, int]] = []
    main_box = _box(rng, size, *MAIN_SIZE, boxes)
    assert main_box is not None  # an empty canvas always fits
    boxes.append(main_box)
    parts = [main]
    for _ in range(n_extra):
        box = _box(rng, size, *CONTEXT_SIZE, boxes)
        cand = _distractor(rng, main)
        if box is not None:
            boxes.append(box)
            parts.append(cand)
    placed = []
    for k, (part, box) in enumerate(zip(parts, boxes, strict=True)):
        period_range = DOT_PERIOD if part.texture == "dotted" else STRIPE_PERIOD
        placed.append(PlacedPart(
            part=part,
            box=box,
            rotation=float(rng.uniform(-0.25, 0.25)),
            stripe_angle=float(rng.uniform(0, np.pi)),
            period=float(max(3.5, size * rng.uniform(*period_range))),
            jitter=_int3(rng.integers(-14, 15, size=3)),
            distractor=k > 0,
        ))
    bg = {
        "kind": int(rng.integers(3)),
        "a": int(rng.integers(10)),
        "b": int(rng.integers(10)),
        "angle": float(rng.uniform(0, 2 * np.pi)),
        "noise_seed": int(rng.integers(2**31)),
    }
    return Scene(seed=seed, label=pair.name, size=size, parts=tuple(placed), background=bg)


def iter_scenes(split: str, n: int, pairs: Sequence[Pair] | None = None) -> Iterator[tuple[Pair, Scene]]:
    """n scenes of a split (`SPLITS`), pairs cycled so every pair gets n / len(pairs) images."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (one of: {', '.join(SPLITS)})")
    base, default_pairs = SPLITS[split]
    pairs = tuple(pairs) if pairs is not None else default_pairs
    for i in range(n):
        pair = pairs[i % len(pairs)]
        yield pair, make_scene(base + i, pair)


def scene_record(pair: Pair, scene: Scene) -> dict:
    """The ground truth of one scene: its pair, state, object, seen/unseen and boxed parts."""
    rec = scene.to_json()
    rec.update(state=pair.state, object=pair.object, seen=is_seen(pair))
    return rec


def write_split(out_dir: Path, split: str, n: int, *, by_class_folder: bool = False, fmt: str = "png",
                pairs: Sequence[Pair] | None = None) -> list[dict]:
    """Render n scenes of `split` into out_dir and write `ground_truth.json`; returns its records."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    base = SPLITS[split][0] if split in SPLITS else 0
    for pair, scene in iter_scenes(split, n, pairs):
        folder = Path(f"{pair.state}_{pair.object}") if by_class_folder else Path()
        name = folder / f"scene_{scene.seed - base:05d}.{fmt}"
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        render(scene).save(out_dir / name)
        rec = scene_record(pair, scene)
        rec["path"] = name.as_posix()
        records.append(rec)
    meta = {
        "states": list(STATES), "objects": list(OBJECTS),
        "seen_pairs": [p.name for p in SEEN_PAIRS], "unseen_pairs": [p.name for p in UNSEEN_PAIRS],
        "infeasible_pairs": [p.name for p in INFEASIBLE_PAIRS],
    }
    (out_dir / "ground_truth.json").write_text(json.dumps({"world": meta, "images": records}, indent=1))
    return records
