"""Team use cases: review assignments, agreement statistics, conflicts and their resolution.

Shared by `lazlabel team ...` / `lazlabel review --assign` and the desktop's conflict view. The
store (db/store_team.py) derives each reviewer's standing vote per image from the append-only
decision log; this layer computes the statistics and turns store errors into `UserError`.

Agreement (docs/architecture.md, "Team mode"):
* Cohen's kappa per reviewer pair, over the images both voted on (sklearn's `cohen_kappa_score`);
* Fleiss' kappa over the images with two or more votes, overall and per class (Fleiss 1971,
  with the per-image number of raters allowed to vary: images are weighted by their raters).
A vote's category is the class it leaves the image with, or "(no class)" for a rejection.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from db.store_team import AssignmentCount, Conflict, TeamError, Vote
from workflows.errors import UserError
from workflows.settings import load_settings

NO_CLASS = "(no class)"


@dataclass(frozen=True)
class PairAgreement:
    """Two reviewers over the images both voted on."""

    a: str
    b: str
    n: int
    observed: float  # share of identical votes
    kappa: float | None  # None when undefined (fewer than 2 images, or a single category in use)


@dataclass(frozen=True)
class ClassAgreement:
    name: str
    kappa: float | None
    share: float  # of all votes on multiply-voted images


@dataclass
class Agreement:
    n_images: int  # images with two or more votes
    n_votes: int
    fleiss: float | None
    pairs: list[PairAgreement] = field(default_factory=list)
    classes: list[ClassAgreement] = field(default_factory=list)


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float | None:
    """Cohen's kappa of two raters' labels over the same items (None where undefined)."""
    if len(a) < 2:
        return None
    labels = sorted({*map(str, a), *map(str, b)})
    if len(labels) < 2:
        return None  # both used one and the same category: chance agreement is 1
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score([str(x) for x in a], [str(x) for x in b], labels=labels))


def fleiss_kappa(counts: np.ndarray) -> tuple[float | None, list[float | None]]:
    """Fleiss' kappa and the per-category kappas of an items x categories count table (each row:
    how many raters put the item in each category; rows may have different totals >= 2).

    Generalised to varying raters per item m_i: P_i = sum_j n_ij (n_ij - 1) / (m_i (m_i - 1)),
    p_j = sum_i n_ij / sum_i m_i, kappa = (mean P_i - sum p_j^2) / (1 - sum p_j^2), and per
    category kappa_j = 1 - sum_i n_ij (m_i - n_ij) / (m_i - 1) / (sum_i m_i p_j q_j), which equal
    Fleiss' own formulas when every m_i is the same."""
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    keep = m >= 2
    counts, m = counts[keep], m[keep]
    if len(m) == 0:
        return None, [None] * counts.shape[1]
    p = counts.sum(axis=0) / m.sum()
    p_i = (counts * (counts - 1)).sum(axis=1) / (m * (m - 1))
    p_e = float((p**2).sum())
    overall = None if p_e >= 1.0 else float((p_i.mean() - p_e) / (1 - p_e))
    per: list[float | None] = []
    disagree = (counts * (m[:, None] - counts) / (m[:, None] - 1)).sum(axis=0)
    for j in range(counts.shape[1]):
        pq = p[j] * (1 - p[j])
        per.append(None if pq <= 0 else float(1 - disagree[j] / (m.sum() * pq)))
    return overall, per


def _category(v: Vote, names: dict[int, str]) -> str:
    if v.label is None:
        return NO_CLASS
    return names.get(v.label, f"#{v.label}")


def agreement(project: Any) -> Agreement:
    """Agreement statistics of the reviewers' standing votes."""
    votes = project.votes()
    names = project.class_names_by_id()
    by_image: dict[int, dict[str, str]] = {}
    for v in votes:
        by_image.setdefault(v.image_id, {})[v.reviewer] = _category(v, names)
    multi = {i: d for i, d in by_image.items() if len(d) >= 2}
    cats = sorted({c for d in multi.values() for c in d.values()})
    col = {c: j for j, c in enumerate(cats)}
    table = np.zeros((len(multi), len(cats)))
    for r, d in enumerate(multi.values()):
        for c in d.values():
            table[r, col[c]] += 1
    overall, per = fleiss_kappa(table) if cats else (None, [])
    total = table.sum()
    out = Agreement(n_images=len(multi), n_votes=int(total), fleiss=overall)
    out.classes = [ClassAgreement(c, per[j], float(table[:, j].sum() / total)) for j, c in enumerate(cats)]
    reviewers = sorted({v.reviewer for v in votes})
    for a, b in itertools.combinations(reviewers, 2):
        both = [(d[a], d[b]) for d in by_image.values() if a in d and b in d]
        if not both:
            continue
        xa, xb = [x for x, _ in both], [y for _, y in both]
        observed = sum(x == y for x, y in both) / len(both)
        out.pairs.append(PairAgreement(a, b, len(both), observed, cohen_kappa(xa, xb)))
    return out


# --- assignments --------------------------------------------------------------------------------


def assign(project: Any, reviewers: Sequence[str], *, overlap: float = 0.0, seed: int = 0,
           limit: int | None = None) -> dict[str, int]:
    """Split the unassigned, unreviewed images between `reviewers`, an `overlap` share to all."""
    try:
        return dict(project.assign_reviews(reviewers, overlap=overlap, seed=seed, limit=limit,
                                           assigned_by=load_settings(project).effective_reviewer))
    except TeamError as err:
        raise UserError(str(err)) from err


def assignment_counts(project: Any) -> list[AssignmentCount]:
    return list(project.assignment_counts())


# --- conflicts ----------------------------------------------------------------------------------


def conflicts(project: Any) -> list[Conflict]:
    return list(project.conflicts())


def resolve(project: Any, image_id: int, class_id: int | None, *, lead: str | None = None,
            note: str | None = None) -> int:
    """A lead settles an image's conflict with one more decision (None: reject every class)."""
    who = lead or load_settings(project).effective_reviewer
    try:
        return int(project.resolve_conflict(image_id, class_id, lead=who, note=note))
    except TeamError as err:
        raise UserError(str(err)) from err


def describe_votes(conflict: Conflict, names: dict[int, str]) -> str:
    """`ana: cat, bob: dog` (one line per conflict in the CLI and the desktop list)."""
    return ", ".join(f"{v.reviewer or '?'}: {_category(v, names)}" for v in conflict.votes)
