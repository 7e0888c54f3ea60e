"""The screen registry: what the navigation list shows, in order.

Each screen is a QWidget built as `Cls(ctx: AppContext)`; an optional `activate()` is called each
time it is shown (refresh lazily, not on every signal while hidden). A screen that fails to import
shows its error instead of vanishing.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

log = logging.getLogger("lazlabel.desktop")

# (key, title, "module:Class")
SCREENS: list[tuple[str, str, str]] = [
    ("browser", "Browse", "desktop.browser.view:BrowserView"),
    ("attributes", "Classes & attributes", "desktop.attributes.view:AttributesView"),
    ("review", "Review", "desktop.review.view:ReviewView"),
    ("audit", "Audit", "desktop.audit.view:AuditView"),
    ("insight", "Insight", "desktop.insight.view:InsightView"),
]


@dataclass
class ScreenSpec:
    key: str
    title: str
    target: str
    cls: type | None = None
    error: str | None = None


def load_screens() -> list[ScreenSpec]:
    """Resolve the registry; a screen that fails to import shows its error instead of vanishing."""
    specs: list[ScreenSpec] = []
    for key, title, target in SCREENS:
        mod_name, _, cls_name = target.partition(":")
        try:
            cls = getattr(importlib.import_module(mod_name), cls_name)
        except Exception as err:  # noqa: BLE001 - a broken screen must not take the app down
            log.exception("screen %s failed to import", key)
            specs.append(ScreenSpec(key, title, target, error=f"{type(err).__name__}: {err}"))
            continue
        specs.append(ScreenSpec(key, title, target, cls=cls))
    return specs


class BrokenScreen(QWidget):
    """Stands in for a screen that failed to load, saying why."""

    def __init__(self, title: str, error: str) -> None:
        super().__init__()
        lay = QVBoxLayout(self)
        label = QLabel(f"<h3>{title} is unavailable</h3><p>{error}</p>")
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(label)
