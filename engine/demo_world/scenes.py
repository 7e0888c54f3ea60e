"""Procedural scenes: 2-4 parts (shape x colour x texture) at known boxes on varied backgrounds.

Everything is a pure function of a seed (numpy `default_rng`), so a split is reproducible
bit-for-bit and held-out scenes (a disjoint seed range) never leak into training.
Rendering is vectorised numpy over each part's box; PIL is used only to encode files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from engine.demo_world.classes import (
    CLASS_NAMES,
    CLASSES,
    COLOURS,
    Part,
    all_parts,
    class_parts,
    classes_satisfied,
)

# Seed ranges: a scene's seed is base + index, so the splits never overlap.
TRAIN_SEED_BASE = 0
EVAL_SEED_BASE = 1_000_000_000
DEMO_SEED_BASE = 2_000_000_000

SIZES = (96, 128, 160, 192, 224)
_BACKGROUNDS = np.array(
    [
        (236, 236, 236),
        (214, 214, 210),
        (190, 190, 196),
        (238, 228, 206),
        (206, 222, 214),
        (222, 214, 228),
        (160, 160, 160),
        (120, 124, 120),
        (70, 70, 76),
        (226, 232, 240),
    ],
    dtype=np.float32,
)


@dataclass(frozen=True)
class PlacedPart:
    """A part drawn at a pixel box (x0, y0, x1, y1), with its drawing parameters."""

    part: Part
    box: tuple[int, int, int, int]
    rotation: float = 0.0
    stripe_angle: float = 0.0
    period: float = 6.0
    jitter: tuple[int, int, int] = (0, 0, 0)
    distractor: bool = False

    def to_json(self) -> dict:
        return {
            "description": self.part.description,
            "colour": self.part.colour,
            "shape": self.part.shape,
            "texture": self.part.texture,
            "box": list(self.box),
            "distractor": self.distractor,
        }


@dataclass(frozen=True)
class Scene:
    """A full scene description; `render` turns it into pixels."""

    seed: int
    label: str
    size: int
    parts: tuple[PlacedPart, ...]
    background: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "seed": self.seed,
            "class": self.label,
            "width": self.size,
            "height": self.size,
            "parts": [p.to_json() for p in self.parts],
        }


# ----------------------------------------------------------------------------- layout


def _pick_distractors(rng: np.random.Generator, label: str, n: int) -> list[Part]:
    """Extra parts that never make the scene satisfy a second class."""
    own = set(CLASSES[label])
    pools = (class_parts(), all_parts())
    chosen: list[Part] = []
    for _ in range(50 * max(n, 1)):
        if len(chosen) == n:
            break
        pool = pools[int(rng.random() < 0.5)]
        cand = pool[int(rng.integers(len(pool)))]
        trial = own | set(chosen) | {cand}
        if cand in own or cand in chosen or classes_satisfied(trial) != [label]:
            continue
        chosen.append(cand)
    return chosen


def _place_boxes(rng: np.random.Generator, size: int, n: int) -> list[tuple[int, int, int, int]]:
    """Non-overlapping square boxes; parts shrink a little when there are more of them."""
    lo, hi = {2: (0.30, 0.42), 3: (0.26, 0.36), 4: (0.24, 0.32)}[n]
    for _attempt in range(200):
        boxes: list[tuple[int, int, int, int]] = []
        for _ in range(n):
            for _try in range(40):
                s = int(round(rng.uniform(lo, hi) * size))
                x0 = int(rng.integers(2, size - s - 1))
                y0 = int(rng.integers(2, size - s - 1))
                box = (x0, y0, x0 + s, y0 + s)
                gap = max(2, size // 40)
                if all(
                    box[0] >= b[2] + gap or b[0] >= box[2] + gap or box[1] >= b[3] + gap or b[1] >= box[3] + gap
                    for b in boxes
                ):
                    boxes.append(box)
                    break
            else:
                break
        if len(boxes) == n:
            return boxes
        lo, hi = lo * 0.95, hi * 0.95
    raise RuntimeError("could not lay out scene")  # pragma: no cover - sizes above always fit


def make_scene(seed: int, label: str | None = None, size: int | None = None) -> Scene:
    """The scene for `seed`: its class (uniform unless given), parts, distractors and layout."""
    rng = np.random.default_rng(seed)
    if label is None:
        label = CLASS_NAMES[int(rng.integers(len(CLASS_NAMES)))]
    if label not in CLASSES:
        raise ValueError(f"unknown demo class {label!r}")
    if size is None:
        size = int(SIZES[int(rng.integers(len(SIZES)))])
    own = list(CLASSES[label])
    room = 4 - len(own)
    u = rng.random()
    n_distract = 0 if u < 0.45 else (1 if u < 0.85 or room < 2 else 2)
    n_distract = min(n_distract, room)
    extras = _pick_distractors(rng, label, n_distract)
    parts = own + extras
    order = rng.permutation(len(parts))
    boxes = _place_boxes(rng, size, len(parts))
    placed = []
    for k, idx in enumerate(order):
        part = parts[int(idx)]
        box = boxes[k]
        side = box[2] - box[0]
        placed.append(
            PlacedPart(
                part=part,
                box=box,
                rotation=float(rng.uniform(-0.25, 0.25)),
                stripe_angle=float(rng.uniform(0, np.pi)),
                period=float(max(4.0, side / rng.uniform(4.0, 6.0))),
                jitter=_int3(rng.integers(-18, 19, size=3)),  # drawn in this order: scenes stay the same
                distractor=int(idx) >= len(own),
            )
        )
    bg = {
        "kind": int(rng.integers(3)),
        "a": int(rng.integers(len(_BACKGROUNDS))),
        "b": int(rng.integers(len(_BACKGROUNDS))),
        "angle": float(rng.uniform(0, 2 * np.pi)),
        "noise_seed": int(rng.integers(2**31)),
    }
    return Scene(seed=seed, label=label, size=size, parts=tuple(placed), background=bg)


# ----------------------------------------------------------------------------- rendering


def _background(scene: Scene) -> np.ndarray:
    s = scene.size
    bg = scene.background
    a, b = _BACKGROUNDS[bg["a"]], _BACKGROUNDS[bg["b"]]
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / max(s - 1, 1)
    if bg["kind"] == 0:  # flat
        img = np.broadcast_to(a, (s, s, 3)).copy()
    elif bg["kind"] == 1:  # linear gradient
        t = (np.cos(bg["angle"]) * xx + np.sin(bg["angle"]) * yy)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        img = a * (1 - t[..., None]) + b * t[..., None]
    else:  # flat with fine noise
        noise = np.random.default_rng(bg["noise_seed"]).normal(0, 9, size=(s, s, 1)).astype(np.float32)
        img = a + noise
    return np.asarray(img)


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test in part coordinates (u, v in [-1, 1])."""
    return _SHAPE_TESTS[shape](u, v)


def _star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    r = np.hypot(u, v)
    th = np.arctan2(v, u) + np.pi / 2
    k = (th % (2 * np.pi / 5)) / (2 * np.pi / 5)
    edge = 0.42 + 0.53 * np.abs(1 - 2 * k) ** 1.4
    return np.asarray(r <= edge)


def _triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # apex up, base at v = 0.85
    return np.asarray((v <= 0.85) & (v >= -0.95 + 2 * np.abs(u) * 0.9))


def _int3(v: np.ndarray) -> tuple[int, int, int]:
    return int(v[0]), int(v[1]), int(v[2])


_SHAPE_TESTS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "circle": lambda u, v: u * u + v * v <= 0.92,
    "square": lambda u, v: (np.abs(u) <= 0.82) & (np.abs(v) <= 0.82),
    "diamond": lambda u, v: np.abs(u) + np.abs(v) <= 0.98,
    "cross": lambda u, v: ((np.abs(u) <= 0.3) & (np.abs(v) <= 0.95)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 0.95)),
    "star": _star,
    "triangle": _triangle,
}

_LIGHT = np.array((250, 250, 245), dtype=np.float32)


def _texture(pp: PlacedPart, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1 where the part's own colour shows, 0 where the light secondary colour shows."""
    if pp.part.texture == "striped":
        t = (np.cos(pp.stripe_angle) * x + np.sin(pp.stripe_angle) * y) / pp.period
        return np.asarray((t % 1.0) < 0.55)
    if pp.part.texture == "dotted":
        gx = (x % pp.period) - pp.period / 2
        gy = (y % pp.period) - pp.period / 2
        return np.hypot(gx, gy) > pp.period * 0.28
    return np.ones_like(x, dtype=bool)


def render(scene: Scene) -> Image.Image:
    """Pixels of a scene as an RGB PIL image."""
    img = _background(scene)
    for pp in scene.parts:
        x0, y0, x1, y1 = pp.box
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        cx, cy, half = (x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2, (x1 - x0) / 2
        c, s = np.cos(pp.rotation), np.sin(pp.rotation)
        du, dv = (xx - cx) / half, (yy - cy) / half
        u, v = c * du + s * dv, -s * du + c * dv
        mask = _shape_mask(pp.part.shape, u, v)
        colour = np.clip(np.array(COLOURS[pp.part.colour], dtype=np.float32) + np.array(pp.jitter), 0, 255)
        own = _texture(pp, xx, yy)
        fill = np.where(own[..., None], colour, _LIGHT)
        region = img[y0:y1, x0:x1]
        region[mask] = fill[mask]
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


# ----------------------------------------------------------------------------- splits on disk


def iter_scenes(seed_base: int, n: int, size: int | None = None) -> Iterator[Scene]:
    """Scenes seed_base .. seed_base + n - 1, classes cycled so every split is balanced."""
    for i in range(n):
        yield make_scene(seed_base + i, label=CLASS_NAMES[i % len(CLASS_NAMES)], size=size)


def write_split(
    out_dir: Path, seed_base: int, n: int, *, by_class_folder: bool = False, fmt: str = "png"
) -> list[dict]:
    """Render n scenes into out_dir and write `ground_truth.json`; returns its records.

    Records hold the image's path relative to out_dir, its class and the boxed parts.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for scene in iter_scenes(seed_base, n):
        rel = Path(scene.label) if by_class_folder else Path()
        name = rel / f"scene_{scene.seed - seed_base:05d}.{fmt}"
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        render(scene).save(out_dir / name)
        rec = scene.to_json()
        rec["path"] = name.as_posix()
        records.append(rec)
    (out_dir / "ground_truth.json").write_text(json.dumps({"images": records}, indent=1))
    return records
