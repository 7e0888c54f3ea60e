"""The state of "Bulk accept with a guarantee" (no Qt): the audit sample's progress, the proposal,
the curator's overrides and the preview. `desktop.dialogs.vouch.VouchDialog` shows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflows import vouch


@dataclass(frozen=True)
class PreviewRow:
    image_id: int
    rel_path: str
    class_name: str
    score: float


class VouchModel:
    """Sample -> propose -> (override) -> accept, over one project."""

    def __init__(self, project: Any) -> None:
        self.project = project
        self.sample: vouch.AuditSample | None = None
        self.proposal: vouch.VouchProposal | None = None
        self.base: vouch.VouchProposal | None = None  # the proposal before any override
        self.overrides: dict[int, float | None] = {}
        self.seed: int | None = None  # None: a fresh random draw (recorded); set to repeat a draw
        self.refresh_sample()

    # -- the sample -------------------------------------------------------------------------------
    def refresh_sample(self) -> vouch.AuditSample | None:
        self.sample = vouch.latest_sample(self.project) if self.project is not None else None
        return self.sample

    def draw(self, size: int, seed: int | None = None, reviewer: str | None = None) -> vouch.AuditSample:
        seed = self.seed if seed is None else seed
        self.sample = vouch.draw_audit_sample(self.project, size, seed=seed, reviewer=reviewer)
        self.proposal = self.base = None
        self.overrides = {}
        return self.sample

    def sample_text(self) -> str:
        s = self.sample
        if s is None:
            return "No audit sample yet."
        if s.vouched_by is not None:
            return f"Audit sample #{s.id} already vouched for acceptance #{s.vouched_by}: draw a new one."
        state = "all decided" if not s.pending else f"{len(s.pending)} still to decide in Review (order: audit sample)"
        extra = f"; predictions of {len(s.changed)} changed since (draw again)" if s.changed else ""
        return f"Audit sample #{s.id}: {s.n_decided} of {len(s.image_ids)} audited, {state}{extra} (seed {s.seed})."

    @property
    def ready(self) -> bool:
        s = self.sample
        return s is not None and not s.pending and not s.changed and s.vouched_by is None

    # -- the proposal ------------------------------------------------------------------------------
    def propose(self, target: float, confidence: float, per_class: bool = True) -> vouch.VouchProposal:
        self.base = vouch.propose(self.project, target, confidence, per_class=None if per_class else False)
        self.overrides = {}
        self.proposal = self.base
        return self.proposal

    def set_override(self, class_id: int, threshold: float | None) -> vouch.VouchProposal:
        """A curator's threshold for one class (the proposed value again removes the override)."""
        assert self.base is not None
        if threshold == self.base.thresholds.get(class_id):
            self.overrides.pop(class_id, None)
        else:
            self.overrides[class_id] = threshold
        self.proposal = vouch.with_overrides(self.project, self.base, self.overrides) if self.overrides else self.base
        return self.proposal

    def preview(self, limit: int = 200) -> list[PreviewRow]:
        """What will be accepted, least confident first (where an error would hide)."""
        p = self.proposal
        if p is None or not p.accept_ids:
            return []
        ids = sorted(p.accept_ids, key=lambda i: p.expected[i][1])[:limit]
        names = self.project.class_names_by_id()
        rows = {r.id: r for r in self.project.images(ids)}
        return [PreviewRow(i, rows[i].rel_path, names.get(p.expected[i][0], "?"), p.expected[i][1]) for i in ids if i in rows]

    def accept(self, reviewer: str | None = None, keys: int = 0, clicks: int = 0) -> vouch.VouchResult:
        assert self.proposal is not None
        res = vouch.accept_vouched(self.project, self.proposal, reviewer=reviewer, keys=keys, clicks=clicks)
        self.refresh_sample()
        self.proposal = self.base = None
        return res
