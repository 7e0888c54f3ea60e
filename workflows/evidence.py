"""Evidence use cases: the calibrated explanation of an image for a class, and the contrast with the
runner-up, for the review screen, the audit screen, `lazlabel explain` and the exports.

Every reader goes through here, so presence and shares are computed one way (engine/evidence.py;
docs/architecture.md, "Evidence"). Stored explanations are used when the latest run has one for
the class; otherwise the evidence is computed from the feature cache (never re-encodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.evidence import (
    SHARE_RULE,
    AttributeEvidence,
    ClassEvidence,
    Contrast,
    PresenceCalibration,
    contrast,
    read_evidence,
)
from workflows.errors import UserError

__all__ = ["EXPLAIN_SCHEMA", "SHARE_RULE", "ImageEvidence", "class_evidence", "explain_document", "image_evidence",
           "presence_calibration"]

#: the `lazlabel explain --format json` document (README, "Explaining a label")
EXPLAIN_SCHEMA = "lazlabel.explain/1"


@dataclass(frozen=True)
class ImageEvidence:
    """What the evidence panels show for one image.

    `topk`: (class_id, name, score) of the latest run, best first (up to nine); `shown`: the
    calibrated evidence of the class asked for (default the prediction); `other`: the class it is
    compared with (default the runner-up) and `contrast` between the two.
    """

    image_id: int
    run_id: int | None
    topk: list[tuple[int, str, float]]
    shown: ClassEvidence | None
    other: ClassEvidence | None
    contrast: Contrast | None


def presence_calibration(project: Any) -> PresenceCalibration | None:
    """The project's presence calibration for its current model, views and attributes (None when
    there are no cached features to calibrate on)."""
    from workflows.presence import calibration_for_project

    return calibration_for_project(project)


def class_evidence(project: Any, image_id: int, class_id: int, *, use_stored: bool = True,
                   calibration: PresenceCalibration | None = None) -> ClassEvidence:
    """Calibrated evidence of one image for one active class."""
    from workflows.review import explain_image

    data = explain_image(project, int(image_id), int(class_id), use_stored=use_stored)
    ev = read_evidence(data, int(class_id))
    if ev is None:
        raise UserError(f"the stored evidence for image #{image_id} cannot be read; run `lazlabel rescore`")
    cal = calibration if calibration is not None else presence_calibration(project)
    return ev.calibrated(cal)


def image_evidence(project: Any, image_id: int, class_id: int | None = None, versus: int | None = None,
                   *, calibration: PresenceCalibration | None = None) -> ImageEvidence:
    """Evidence of an image: the class asked for (default its prediction) against `versus`
    (default the best other class of the top-k)."""
    pred = project.latest_prediction(int(image_id))
    topk = list(pred.topk) if pred is not None else []
    if class_id is None:
        class_id = pred.class_id if pred is not None else None
    if class_id is None:
        return ImageEvidence(int(image_id), None, topk, None, None, None)
    if versus is None:
        versus = next((c for c, _n, _s in topk if c != class_id), None)
    cal = calibration if calibration is not None else presence_calibration(project)
    shown = class_evidence(project, image_id, class_id, calibration=cal)
    other = class_evidence(project, image_id, versus, calibration=cal) if versus is not None else None
    return ImageEvidence(int(image_id), pred.run_id if pred else None, topk, shown, other,
                         contrast(shown, other) if other is not None else None)


def _attribute_json(a: AttributeEvidence) -> dict[str, Any]:
    return {
        "text": a.text,
        "presence": None if a.presence is None else {"label": a.presence.label, "score": round(a.presence.score, 3),
                                                     "calibrated": a.presence.calibrated},
        "share": round(a.share, 4),
        "contribution": round(a.contribution, 5),
        "against": a.against,
        "peak": None if a.map is None else [round(v, 1) for v in a.map.peak],
        "box": None if a.map is None else [round(v, 1) for v in a.map.box],
    }


def explain_document(project: Any, image_id: int, class_id: int | None = None, *,
                     calibration: PresenceCalibration | None = None) -> dict[str, Any]:
    """One image's evidence as the documented JSON object (schema EXPLAIN_SCHEMA)."""
    row = project.image(int(image_id))
    ev = image_evidence(project, image_id, class_id, calibration=calibration)
    if ev.shown is None:
        raise UserError(f"{row.rel_path} has no prediction yet: run `lazlabel prelabel` first")
    top = ev.topk[0] if ev.topk else None
    doc: dict[str, Any] = {
        "schema": EXPLAIN_SCHEMA,
        "image": row.rel_path,
        "image_size": list(ev.shown.image_size),
        "run_id": ev.run_id,
        "predicted": None if top is None else {"class": top[1], "score": round(top[2], 5)},
        "class": ev.shown.class_name,
        "score": round(ev.shown.score, 5),
        "share_rule": SHARE_RULE,
        "attributes": [_attribute_json(a) for a in ev.shown.attributes],
        "runner_up": None,
    }
    if ev.contrast is not None:
        c = ev.contrast
        doc["runner_up"] = {
            "class": c.b.class_name,
            "score": round(c.b.score, 5),
            "score_gap": round(c.gap, 5),
            "not_found": [_attribute_json(a) for a in c.b_missing],
            "separating_for_class": [_attribute_json(a) for a in c.for_a],
            "separating_for_runner_up": [_attribute_json(a) for a in c.for_b],
            "shared_attributes": list(c.shared),
        }
    return doc
