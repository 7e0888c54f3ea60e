"""The project summary in the status bar: image, prediction and decision counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget

from desktop.context import AppContext
from desktop.signals import listen

# counts() key -> how it reads in the status bar, in display order
COUNT_LABELS: dict[str, str] = {
    "total": "images",
    "predicted": "predicted",
    "decided": "decided",
    "disagreements": "disagree with imported labels",
    "error": "unreadable",
    "missing": "missing",
}


def format_counts(counts: Mapping[str, Any]) -> str:
    """'12,000 images · 11,950 predicted · 3,100 decided · 20 unreadable' (zeros left out)."""
    flat = {k: v for k, v in counts.items() if isinstance(v, int)}
    parts, seen = [], set()
    for key, label in COUNT_LABELS.items():
        v = flat.get(key)
        if v is None or label in seen or (v == 0 and key != "total"):
            continue
        seen.add(label)
        parts.append(f"{v:,} {label}")
    return " · ".join(parts)


class CountsLabel(QLabel):
    """Refreshes (coalesced, at most every 300 ms) when images or labels change."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._timer = QTimer(self, singleShot=True, interval=300)
        self._timer.timeout.connect(self.refresh)
        for sig in (ctx.project_changed, ctx.images_changed, ctx.labels_changed, ctx.classes_changed):
            listen(sig, self, lambda *_: self._timer.start())
        self.refresh()

    def refresh(self) -> None:
        p = self.ctx.project
        if p is None:
            self.setText("No project open")
            return
        try:
            self.setText(f"{p.path.stem}: {format_counts(p.counts())}")
        except Exception as err:  # noqa: BLE001 - a status line must never raise into Qt
            self.setText(f"{p.path.stem}: counts unavailable ({err})")
