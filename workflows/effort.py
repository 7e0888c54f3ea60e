"""Work accounting (issue #21): what the curators did, and effort per correct label so far.

Every front records its own work: the desktop the keys and clicks behind each decision
(`desktop.review.keys.EffortCounter`), the CLI one command per `decide`/`review --accept-*`, a
bulk acceptance one event for all its images. `effort_summary` divides it by the labels it bought.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workflows.settings import load_settings

SOURCES = ("gui", "cli", "bulk")


def record(
    project: Any,
    source: str,
    action: str,
    *,
    n_images: int = 1,
    keys: int = 0,
    clicks: int = 0,
    commands: int = 0,
    decision_ids: Sequence[int] = (),
    reviewer: str | None = None,
) -> None:
    """Append one effort event (a read-only project records nothing: the work itself was refused)."""
    if source not in SOURCES:
        raise ValueError(f"unknown effort source {source!r}")
    project.record_effort([{
        "source": source, "action": action, "n_images": int(n_images), "keys": int(keys), "clicks": int(clicks),
        "commands": int(commands), "decision_id": int(decision_ids[0]) if decision_ids else None,
        "reviewer": reviewer or load_settings(project).effective_reviewer,
    }])


@dataclass(frozen=True)
class EffortSummary:
    """Totals of the effort log and what they bought."""

    by_source: dict[str, dict[str, int]]
    keys: int
    clicks: int
    commands: int
    labelled: int  # images labelled now (accepted or corrected)
    by_hand: int  # ... by a decision on that image alone or a plain bulk accept
    vouched: int  # ... by a vouched bulk acceptance still standing
    vouched_expected_correct: float  # sum over vouched acceptances of images x their precision bound

    @property
    def actions(self) -> int:
        return self.keys + self.clicks + self.commands

    @property
    def per_label(self) -> float | None:
        """Keys + clicks + commands per labelled image."""
        return self.actions / self.labelled if self.labelled else None

    @property
    def expected_correct(self) -> float:
        """Labels taken as right: hand decisions, plus vouched ones at their bound (a lower estimate)."""
        return self.by_hand + self.vouched_expected_correct

    @property
    def per_correct_label(self) -> float | None:
        c = self.expected_correct
        return self.actions / c if c > 0 else None


def effort_summary(project: Any) -> EffortSummary:
    """Effort so far, from the effort log and the current labels (a few aggregate queries)."""
    tot = project.effort_totals()
    by_review = project.count_by("review_status")
    labelled = int(by_review.get("accepted", 0)) + int(by_review.get("corrected", 0))
    standing = project.vouched_counts()
    bounds = {int(v["id"]): float(v["precision_bound"]) for v in project.vouches()} if standing else {}
    vouched = sum(standing.values())
    return EffortSummary(
        by_source=tot.by_source,
        keys=tot.total("keys"),
        clicks=tot.total("clicks"),
        commands=tot.total("commands"),
        labelled=labelled,
        by_hand=labelled - vouched,
        vouched=vouched,
        vouched_expected_correct=sum(n * bounds.get(v, 0.0) for v, n in standing.items()),
    )


def format_summary(e: EffortSummary) -> list[str]:
    """Lines for `lazlabel stats`."""
    parts = ", ".join(
        f"{src} {v['events']} event(s)/{v['images']} image(s)" for src, v in sorted(e.by_source.items())
    ) or "nothing recorded yet"
    lines = [f"effort: {e.keys} keys, {e.clicks} clicks, {e.commands} commands ({parts})"]
    if e.labelled:
        lines.append(
            f"labels: {e.labelled} ({e.by_hand} by hand or plain bulk accept, {e.vouched} vouched); "
            f"{e.per_label:.2f} actions per label"
            + (f", {e.per_correct_label:.2f} per correct label (vouched counted at their bound)"
               if e.per_correct_label is not None else "")
        )
    return lines
