"""The one explanation schema: what the engine stores, the store keeps, exporters write and the GUI draws.

Torch-free on purpose (numpy only), so every layer can read it. `ClassEvidence.from_json` is the
only reader of stored explanation JSON and does the version check in one place; version 1 rows
(before localisation maps and presence) still read, with `map` and `presence` left empty.

Definitions (docs/architecture.md, "Evidence"):

* **presence** of an attribute in an image: its best region similarity, standardised against the
  same attribute's best-region similarity over the project's cached images
  (`PresenceCalibration`), so a score of 2 means "two spreads above what this attribute usually
  reaches here", whatever the attribute or model. Labels: ``found`` (score >= FOUND_AT),
  ``weak`` (>= WEAK_AT), ``not found``.
* **contribution** of an attribute: its transport mass times how far its presence score lies
  above the "not found" line (WEAK_AT). The **share** is its positive contribution over the sum
  of positive contributions: always in [0, 1] and summing to 1 over the attributes that count for
  the class, which are exactly those found or weak. Attributes not found have a negative
  contribution: evidence *against*, listed apart and never given a share.
* **weight** (optional; absent = zero-shot, i.e. 1): the attribute's learned weight when the score
  comes from a learning run (docs/architecture.md, "Learning from decisions"): its term of the
  score is weight x mass x similarity, so its contribution is weight x mass x (presence - WEAK_AT).
  A negative weight turns a found attribute into evidence against the class. Readers that do not
  know the key ignore it (the schema stays version 2).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

EVIDENCE_VERSION = 2
#: presence score (standard deviations above the attribute's usual best-region similarity)
FOUND_AT = 1.5
WEAK_AT = 1.0
PRESENCE_LABELS: tuple[str, ...] = ("found", "weak", "not found")
#: without a calibration, presence is the spread within the class's attributes in the image, times this
LOCAL_SCALE = 2.0

SHARE_RULE = (
    "share = transport mass x presence above the 'not found' line, over the sum for the class; "
    "attributes not found count against"
)


class EvidenceFormatError(ValueError):
    """Stored explanation JSON of an unknown version or shape."""


def presence_label(score: float | None) -> str | None:
    if score is None or not math.isfinite(score):
        return None
    if score >= FOUND_AT:
        return "found"
    if score >= WEAK_AT:
        return "weak"
    return "not found"


@dataclass(frozen=True)
class Region:
    """One region (box x0,y0,x1,y1 in original pixels) and the transport mass it gave an attribute."""

    box: tuple[float, float, float, float]
    mass: float
    similarity: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"box": [round(float(v), 2) for v in self.box], "mass": float(self.mass),
                "similarity": float(self.similarity)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Region:
        x0, y0, x1, y1 = (_num(v) for v in d["box"])
        return cls((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), _num(d.get("mass")),
                   _num(d.get("similarity")))


@dataclass(frozen=True)
class AttributeMap:
    """Where an attribute is: a coarse map over the whole image (rows x cols, values 0..1, row 0
    at the top), its peak point and the box around the cells above half the peak, in pixels."""

    values: np.ndarray  # [rows, cols] float32 in [0, 1]
    peak: tuple[float, float]
    box: tuple[float, float, float, float]

    def to_json(self) -> dict[str, Any]:
        q = np.clip(np.round(self.values * 255.0), 0, 255).astype(np.uint8)
        return {"shape": [int(q.shape[0]), int(q.shape[1])], "data": base64.b64encode(q.tobytes()).decode("ascii"),
                "peak": [round(float(v), 1) for v in self.peak], "box": [round(float(v), 1) for v in self.box]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AttributeMap:
        rows, cols = (int(v) for v in d["shape"])
        raw = np.frombuffer(base64.b64decode(d["data"]), dtype=np.uint8)
        if raw.size != rows * cols:
            raise EvidenceFormatError(f"attribute map holds {raw.size} cells, shape says {rows}x{cols}")
        px, py = (_num(v) for v in d["peak"])
        x0, y0, x1, y1 = (_num(v) for v in d["box"])
        return cls(raw.reshape(rows, cols).astype(np.float32) / 255.0, (px, py), (x0, y0, x1, y1))


@dataclass(frozen=True)
class Presence:
    """Calibrated presence: `score` in spreads above the attribute's usual level, and its label."""

    score: float
    label: str
    calibrated: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"score": round(float(self.score), 4), "label": self.label, "calibrated": self.calibrated}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Presence:
        score = _num(d.get("score"))
        return cls(score, str(d.get("label") or presence_label(score)), bool(d.get("calibrated", True)))


@dataclass(frozen=True)
class AttributeEvidence:
    """One attribute's part in a class score.

    `mass`: transport mass it received; `similarity`: transport-weighted similarity (its term of
    the LaZSL score is mass x similarity); `best_similarity`: its best single-region similarity
    (what presence is calibrated on); `contribution` and `share`: see the module docstring.
    """

    index: int
    text: str
    mass: float
    similarity: float
    best_similarity: float | None = None
    contribution: float = 0.0
    share: float = 0.0
    presence: Presence | None = None
    map: AttributeMap | None = None
    regions: tuple[Region, ...] = ()
    weight: float | None = None  # learned weight (None: zero-shot, i.e. 1)
    # presence, contribution and share set by the scoring method itself (the marginals method's
    # part probabilities, engine/compose.py): never recalibrated from similarities
    given: bool = False

    @property
    def against(self) -> bool:
        """Not found in this image: evidence against the class."""
        return self.contribution < 0

    @property
    def found(self) -> bool:
        return self.presence is not None and self.presence.label == "found"

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": int(self.index), "text": self.text, "mass": float(self.mass),
            "similarity": float(self.similarity), "contribution": float(self.contribution),
            "share": float(self.share), "regions": [r.to_json() for r in self.regions],
        }
        if self.best_similarity is not None:
            d["best_similarity"] = float(self.best_similarity)
        if self.presence is not None:
            d["presence"] = self.presence.to_json()
        if self.map is not None:
            d["map"] = self.map.to_json()
        if self.weight is not None:
            d["weight"] = float(self.weight)
        if self.given:
            d["given"] = True
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any], pos: int = 0) -> AttributeEvidence:
        regions = []
        for r in d.get("regions") or []:
            try:
                regions.append(Region.from_json(r))
            except (KeyError, TypeError, ValueError):
                continue
        best = d.get("best_similarity")
        weight = d.get("weight")
        given = bool(d.get("given", False))
        return cls(
            index=int(d.get("index", pos)), text=str(d.get("text", "")), mass=_num(d.get("mass")),
            similarity=_num(d.get("similarity")), best_similarity=None if best is None else _num(best),
            contribution=_num(d.get("contribution")), share=_num(d.get("share")),
            presence=Presence.from_json(d["presence"]) if isinstance(d.get("presence"), Mapping) else None,
            map=AttributeMap.from_json(d["map"]) if isinstance(d.get("map"), Mapping) else None,
            regions=tuple(regions), weight=None if weight is None else _num(weight, 1.0), given=given,
        )


@dataclass(frozen=True)
class PresenceCalibration:
    """Per attribute text: mean and spread of its best-region similarity over a project's images."""

    stats: Mapping[str, tuple[float, float]]
    n_images: int = 0

    def score(self, text: str, best: float) -> float | None:
        s = self.stats.get(text)
        if s is None:
            return None
        mean, std = s
        return (best - mean) / max(std, 1e-6)

    def to_json(self) -> dict[str, Any]:
        return {"n_images": self.n_images, "stats": {k: [float(m), float(s)] for k, (m, s) in self.stats.items()}}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PresenceCalibration:
        return cls({str(k): (float(v[0]), float(v[1])) for k, v in d.get("stats", {}).items()},
                   int(d.get("n_images", 0)))


@dataclass(frozen=True)
class ClassEvidence:
    """Why an image scored `score` for a class: its attributes, strongest support first."""

    class_name: str
    class_index: int
    score: float
    image_size: tuple[int, int]
    attributes: tuple[AttributeEvidence, ...] = field(default_factory=tuple)
    class_id: int | None = None

    # -- reading ---------------------------------------------------------------------------------
    @property
    def support(self) -> tuple[AttributeEvidence, ...]:
        """Attributes that count for the class (share > 0), largest share first."""
        return tuple(sorted((a for a in self.attributes if a.share > 0), key=lambda a: -a.share))

    @property
    def against(self) -> tuple[AttributeEvidence, ...]:
        """Attributes not found, most negative first."""
        return tuple(sorted((a for a in self.attributes if a.against), key=lambda a: a.contribution))

    @property
    def not_found(self) -> tuple[AttributeEvidence, ...]:
        return tuple(a for a in self.attributes if a.presence is not None and a.presence.label == "not found")

    @property
    def main_reason(self) -> AttributeEvidence | None:
        """The attribute shown first: the largest share among attributes not judged absent."""
        for a in self.support:
            if a.presence is None or a.presence.label != "not found":
                return a
        return None

    @property
    def max_region_mass(self) -> float:
        return max((r.mass for a in self.attributes for r in a.regions), default=0.0)

    def share_of(self, text: str) -> float | None:
        for a in self.attributes:
            if a.text == text:
                return a.share
        return None

    # -- calibration -----------------------------------------------------------------------------
    def calibrated(self, cal: PresenceCalibration | None) -> ClassEvidence:
        """Presence, contributions and shares from a calibration (keyed by `calibration_key`).
        Without one (or for attributes it lacks), presence is standardised within this class's
        attributes in this image and marked uncalibrated. Evidence whose attributes the scoring
        method set itself (`given`) stays as it is."""
        if self.attributes and all(a.given for a in self.attributes):
            return self
        bests = [a.best_similarity if a.best_similarity is not None else a.similarity for a in self.attributes]
        # uncalibrated: one spread above the class's other attributes here counts as 'found'
        local = [LOCAL_SCALE * z for z in _standardise(bests)]
        scores: list[float] = []
        flags: list[bool] = []
        for i, a in enumerate(self.attributes):
            # the calibration describes best-region similarities: rows without one (version 1) can't use it
            z = None
            if cal is not None and a.best_similarity is not None:
                z = cal.score(calibration_key(self.class_name, a.text), bests[i])
            scores.append(local[i] if z is None else z)
            flags.append(z is not None)
        contrib = [_w(a) * a.mass * (z - WEAK_AT) for a, z in zip(self.attributes, scores)]
        shares = honest_shares(contrib)
        attrs = tuple(
            replace(a, presence=Presence(z, presence_label(z) or "not found", ok), contribution=c, share=s)
            for a, z, ok, c, s in zip(self.attributes, scores, flags, contrib, shares)
        )
        return replace(self, attributes=_ordered(attrs))

    def weighted(self, weights: Mapping[int, float], score: float | None = None) -> ClassEvidence:
        """The evidence under learned attribute weights (by attribute `index`; missing ones keep
        theirs): each contribution is the weight times the unweighted one, shares recomputed."""
        attrs = []
        for a in self.attributes:
            w = weights.get(a.index, a.weight)
            if a.presence is not None:
                base = a.mass * (a.presence.score - WEAK_AT)
            else:
                base = a.contribution / _w(a) if _w(a) != 0 else 0.0
            attrs.append(replace(a, weight=None if w is None else float(w), contribution=(1.0 if w is None else w) * base))
        shares = honest_shares([a.contribution for a in attrs])
        attrs = [replace(a, share=sh) for a, sh in zip(attrs, shares)]
        return replace(self, attributes=_ordered(attrs), score=self.score if score is None else float(score))

    # -- JSON ------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "version": EVIDENCE_VERSION, "class_name": self.class_name, "class_index": int(self.class_index),
            "score": float(self.score), "image_size": [int(self.image_size[0]), int(self.image_size[1])],
            "attributes": [a.to_json() for a in self.attributes],
        }
        if self.class_id is not None:
            d["class_id"] = int(self.class_id)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any], class_id: int | None = None) -> ClassEvidence:
        """Read stored JSON (version 1 or 2); raises EvidenceFormatError on other versions/shapes."""
        if not isinstance(d, Mapping):
            raise EvidenceFormatError("explanation is not a JSON object")
        version = int(d.get("version", 1) or 1)
        if version not in (1, EVIDENCE_VERSION):
            raise EvidenceFormatError(f"explanation version {version} is newer than this lazlabel ({EVIDENCE_VERSION})")
        size = d.get("image_size") or [0, 0]
        try:
            w, h = int(size[0]), int(size[1])
        except (TypeError, ValueError, IndexError):
            w, h = 0, 0
        attrs = []
        for pos, raw in enumerate(d.get("attributes") or []):
            if isinstance(raw, Mapping):
                try:
                    attrs.append(AttributeEvidence.from_json(raw, pos))
                except (KeyError, TypeError, ValueError) as e:
                    raise EvidenceFormatError(f"attribute {pos}: {e}") from None
        cid = class_id if class_id is not None else d.get("class_id")
        ev = cls(str(d.get("class_name", "")), int(d.get("class_index", -1)), _num(d.get("score")), (w, h),
                 tuple(attrs), None if cid is None else int(cid))
        if version == 1:  # old shares were score fractions (could be <0 or >1): recompute honestly
            ev = ev.calibrated(None)
        return ev


def calibration_key(class_name: str, text: str) -> str:
    """Calibration entries are per (class, attribute): the encoded sentence names the class."""
    return f"{class_name}\x1f{text}"


def read_evidence(d: Any, class_id: int | None = None) -> ClassEvidence | None:
    """Lenient reader for display: None for a missing or malformed row (never a crash)."""
    if d is None:
        return None
    try:
        return ClassEvidence.from_json(d, class_id)
    except (EvidenceFormatError, KeyError, TypeError, ValueError):
        return None


def _w(a: AttributeEvidence) -> float:
    """An attribute's weight in the score (1 when nothing was learned)."""
    return 1.0 if a.weight is None else a.weight


def honest_shares(contributions: Sequence[float]) -> list[float]:
    """Positive parts over their sum: each in [0, 1], summing to 1 (all zero when none is positive)."""
    pos = [c if math.isfinite(c) and c > 0 else 0.0 for c in contributions]
    total = sum(pos)
    return [p / total if total > 0 else 0.0 for p in pos]


def _standardise(values: Sequence[float]) -> list[float]:
    if not values:
        return []
    arr = np.asarray(values, dtype=np.float64)
    sd = float(arr.std())
    if not math.isfinite(sd) or sd < 1e-9:
        return [0.0] * len(values)
    standard: list[float] = ((arr - arr.mean()) / sd).tolist()
    return standard


def _ordered(attrs: Iterable[AttributeEvidence]) -> tuple[AttributeEvidence, ...]:
    """Support first (largest share), then the rest from least to most negative contribution."""
    return tuple(sorted(attrs, key=lambda a: (-a.share, -a.contribution)))


def _num(v: Any, default: float = 0.0) -> float:
    try:
        out = float(v)
    except (TypeError, ValueError):
        return default
    return out if math.isfinite(out) else default


# ----------------------------------------------------------------------------- contrast


@dataclass(frozen=True)
class Contrast:
    """Why the shown class `a` and not `b`: b's attributes not found in the image, and the
    attributes that separate them (found for one class and not an attribute of the other)."""

    a: ClassEvidence
    b: ClassEvidence
    b_missing: tuple[AttributeEvidence, ...]
    for_a: tuple[AttributeEvidence, ...]
    for_b: tuple[AttributeEvidence, ...]
    shared: tuple[str, ...]

    @property
    def gap(self) -> float:
        return self.a.score - self.b.score

    def to_json(self) -> dict[str, Any]:
        def brief(x: AttributeEvidence) -> dict[str, Any]:
            return {"text": x.text, "presence": x.presence.to_json() if x.presence else None, "share": x.share,
                    "peak": list(x.map.peak) if x.map else None, "box": list(x.map.box) if x.map else None}

        return {"class": self.a.class_name, "runner_up": self.b.class_name, "score_gap": self.gap,
                "runner_up_not_found": [brief(x) for x in self.b_missing],
                "separating_for_class": [brief(x) for x in self.for_a],
                "separating_for_runner_up": [brief(x) for x in self.for_b],
                "shared_attributes": list(self.shared)}


def contrast(a: ClassEvidence, b: ClassEvidence) -> Contrast:
    """Contrast two calibrated explanations of the same image (see `Contrast`)."""
    a_texts = {x.text.casefold() for x in a.attributes}
    b_texts = {x.text.casefold() for x in b.attributes}
    shared = tuple(x.text for x in a.attributes if x.text.casefold() in b_texts)

    def strength(x: AttributeEvidence) -> float:
        return x.presence.score if x.presence is not None else x.contribution

    b_missing = tuple(sorted((x for x in b.attributes if x.presence is not None and x.presence.label == "not found"),
                             key=strength))
    for_a = tuple(sorted((x for x in a.attributes if x.text.casefold() not in b_texts and x.presence is not None
                          and x.presence.label != "not found"), key=lambda x: -strength(x)))
    for_b = tuple(sorted((x for x in b.attributes if x.text.casefold() not in a_texts and x.presence is not None
                          and x.presence.label != "not found"), key=lambda x: -strength(x)))
    return Contrast(a, b, b_missing, for_a, for_b, shared)
