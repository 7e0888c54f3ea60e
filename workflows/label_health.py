"""What the labels as a whole suffer from, from cleanlab's dataset-level calls on the same calibrated
probabilities as the label issues: the dataset health summary (per-class label quality and
estimated noise) and the class pairs that the labels and the model confuse most (overlapping
classes; the report shows their attributes side by side as a hint for attribute editing).
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_PAIRS = 50  # overlapping pairs kept (most overlapping first)
MIN_OVERLAP = 2  # a pair needs at least this many images in either direction to be listed


def health_summary(labels: np.ndarray, probs: np.ndarray, class_ids: list[int]) -> dict[str, Any]:
    """Overall label health (1 - estimated fraction of wrong labels) and per class: images labelled
    with it, estimated wrong among them (noise), images of it labelled otherwise (inverse noise),
    and cleanlab's label quality score. Classes worst first."""
    from cleanlab.dataset import overall_label_health_score, rank_classes_by_label_quality

    ranked = rank_classes_by_label_quality(labels=labels, pred_probs=probs)
    counts = np.bincount(labels, minlength=probs.shape[1])
    classes = [
        {
            "class_id": class_ids[int(r["Class Index"])],
            "n_labelled": int(counts[int(r["Class Index"])]),
            "label_issues": int(r["Label Issues"]),
            "label_noise": round(float(r["Label Noise"]), 6),
            "inverse_label_issues": int(r["Inverse Label Issues"]),
            "inverse_label_noise": round(float(r["Inverse Label Noise"]), 6),
            "label_quality": round(float(r["Label Quality Score"]), 6),
        }
        for _, r in ranked.iterrows()
        if counts[int(r["Class Index"])] > 0 or int(r["Inverse Label Issues"]) > 0
    ]
    overall = float(overall_label_health_score(labels=labels, pred_probs=probs, verbose=False))
    return {"overall": round(overall, 6), "n_labelled": int(len(labels)), "classes": classes}


def overlapping_classes(labels: np.ndarray, probs: np.ndarray, class_ids: list[int],
                        *, max_pairs: int = MAX_PAIRS) -> list[dict[str, Any]]:
    """Class pairs ranked by cleanlab's estimated joint probability of the two being swapped."""
    from cleanlab.dataset import find_overlapping_classes

    df = find_overlapping_classes(labels=labels, pred_probs=probs)
    out = []
    for _, r in df.iterrows():
        n = int(r["Num Overlapping Examples"])
        if n < MIN_OVERLAP:
            continue
        out.append({
            "class_a": class_ids[int(r["Class Index A"])],
            "class_b": class_ids[int(r["Class Index B"])],
            "n_overlapping": n,
            "joint_probability": round(float(r["Joint Probability"]), 6),
        })
        if len(out) >= max_pairs:
            break
    return out
