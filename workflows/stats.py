"""Project statistics for `lazlabel stats` and the desktop Insight screen.

Counts come from GROUP BY queries on the denormalised image columns (one indexed table), so the
numbers are cheap on large projects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# review statuses that state what the image is (or is not): compared with the prediction
_JUDGED = ("accepted", "corrected", "rejected", "confirmed_negative")
NONE_LABEL = "(none)"


@dataclass(frozen=True)
class ClassCount:
    class_id: int
    name: str
    predicted: int  # images whose latest top-1 is this class
    decided: int  # images a reviewer labelled with this class
    imported: int  # images whose imported label is this class


@dataclass(frozen=True)
class Confusion:
    """rows: the source label (predicted or imported); columns: the decided label.

    `class_ids`/`labels` index both axes; the last entry is None / "(none)" (no label).
    """

    class_ids: list[int | None]
    labels: list[str]
    matrix: list[list[int]]

    def count(self, row_class: int | None, col_class: int | None) -> int:
        return self.matrix[self.class_ids.index(row_class)][self.class_ids.index(col_class)]


@dataclass(frozen=True)
class Stats:
    n_images: int
    by_status: dict[str, int]  # image status: ok / error / missing
    by_review_status: dict[str, int]
    classes: list[ClassCount]
    n_predicted: int
    n_reviewed: int
    n_compared: int  # judged images that have a prediction
    n_agree: int  # ... whose decided label is the predicted class
    score_edges: list[float] = field(default_factory=list)  # histogram of top-1 scores
    score_counts: list[int] = field(default_factory=list)
    predicted_vs_decided: Confusion | None = None
    imported_vs_decided: Confusion | None = None

    @property
    def agreement(self) -> float | None:
        """Fraction of judged images whose decision agreed with the prediction."""
        return self.n_agree / self.n_compared if self.n_compared else None


def _confusion(cells: dict[tuple[Any, Any], int], names: dict[int, str]) -> Confusion:
    ids: list[int | None] = [*names, None]
    pos = {c: i for i, c in enumerate(ids)}
    m = [[0] * len(ids) for _ in ids]
    for (a, b), n in cells.items():
        m[pos.get(a, len(ids) - 1)][pos.get(b, len(ids) - 1)] += n
    return Confusion(ids, [*names.values(), NONE_LABEL], m)


def project_stats(project: Any, *, bins: int = 20) -> Stats:
    """Everything the Insight screen shows, in a handful of aggregate queries."""
    names = project.class_names_by_id()
    by_status = project.count_by("status")
    by_review = project.count_by("review_status")
    predicted = project.count_by("predicted")
    decided = project.count_by("decided")
    imported = project.count_by("imported")
    judged = project.crosstab("predicted", "decided", review_statuses=_JUDGED)
    pred_vs_dec = project.crosstab("predicted", "decided", review_statuses=[*_JUDGED, "uncertain"])
    imp_vs_dec = project.crosstab("imported", "decided", review_statuses=[*_JUDGED, "uncertain"])
    n_compared = sum(n for (p, _d), n in judged.items() if p is not None)
    n_agree = sum(n for (p, d), n in judged.items() if p is not None and p == d)
    scores = np.asarray(project.prediction_scores(), dtype=np.float64)
    if scores.size:
        lo, hi = float(scores.min()), float(scores.max())
        counts, edges = np.histogram(scores, bins=bins, range=(lo, hi if hi > lo else lo + 1e-6))
    else:
        counts, edges = np.zeros(0, dtype=int), np.zeros(0)
    return Stats(
        n_images=sum(by_status.values()),
        by_status=by_status,
        by_review_status=by_review,
        classes=[
            ClassCount(cid, name, predicted.get(cid, 0), decided.get(cid, 0), imported.get(cid, 0))
            for cid, name in names.items()
        ],
        n_predicted=sum(n for c, n in predicted.items() if c is not None),
        n_reviewed=sum(n for s, n in by_review.items() if s != "unreviewed"),
        n_compared=n_compared,
        n_agree=n_agree,
        score_edges=[float(e) for e in edges],
        score_counts=[int(c) for c in counts],
        predicted_vs_decided=_confusion(pred_vs_dec, names),
        imported_vs_decided=_confusion(imp_vs_dec, names) if imported.keys() - {None} else None,
    )
