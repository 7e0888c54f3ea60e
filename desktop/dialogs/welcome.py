"""The start page shown while no project is open: new / open / open team project / demo, and the
recent list (files, and team projects on a server by their password-free URL)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.dialogs.recent import recent_projects
from desktop.dialogs.team_open import recent_team_projects


class WelcomePage(QWidget):
    """Built over an `AppActions`; refreshes the recent list each time it is shown."""

    def __init__(self, actions) -> None:
        super().__init__()
        self.actions = actions
        card = QFrame()
        card.setObjectName("card")
        card.setMaximumWidth(620)
        inner = QVBoxLayout(card)
        inner.setContentsMargins(28, 24, 28, 24)
        title = QLabel("lazlabel")
        title.setObjectName("screenTitle")
        blurb = QLabel(
            "Pre-label and audit image-classification datasets with interpretable zero-shot "
            "predictions: every label comes with the regions and attributes that support it."
        )
        blurb.setWordWrap(True)
        blurb.setObjectName("muted")
        inner.addWidget(title)
        inner.addWidget(blurb)
        row = QHBoxLayout()
        for text, act, primary in (
            ("New project from folder…", actions.new_project, True),
            ("Open project…", actions.open_project, False),
            ("Open team project…", actions.open_team, False),
            ("Try the demo project", actions.open_demo, False),
        ):
            b = QPushButton(text)
            if primary:
                b.setObjectName("primary")
            b.clicked.connect(act.trigger)
            row.addWidget(b)
        inner.addSpacing(8)
        inner.addLayout(row)
        inner.addSpacing(12)
        inner.addWidget(QLabel("<b>Recent projects</b>"))
        self.recent = QListWidget()
        self.recent.setObjectName("recent")
        self.recent.itemActivated.connect(self._open_item)
        inner.addWidget(self.recent)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        h = QHBoxLayout()
        h.addStretch(1)
        h.addWidget(card, 3)
        h.addStretch(1)
        outer.addLayout(h)
        outer.addStretch(2)
        self.refresh()

    def refresh(self) -> None:
        self.recent.clear()
        for p in recent_projects():
            item = QListWidgetItem(f"{p.stem}\n{p.parent}")
            item.setData(Qt.ItemDataRole.UserRole, str(p))
            item.setToolTip(str(p))
            self.recent.addItem(item)
        for url in recent_team_projects():  # team projects on a server: password-free URLs
            server, _, name = url.rpartition("/")
            item = QListWidgetItem(f"{name}  (team)\n{server}")
            item.setData(Qt.ItemDataRole.UserRole, url)
            item.setToolTip(url)
            self.recent.addItem(item)
        if not self.recent.count():
            item = QListWidgetItem("No recent projects yet.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent.addItem(item)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.refresh()
        super().showEvent(event)

    def _open_item(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            self.actions.open_path(path if "://" in path else Path(path))
