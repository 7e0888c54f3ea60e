""""Open team project…": a PostgreSQL project by URL, and the recent team projects.

The URL is stored (recent list, QSettings) without a password; the password is read by libpq
from the user's password file (`PGPASSFILE`, default ~/.pgpass), the usual convention, so it is
never kept in a plain project or settings file. A URL typed with a password is refused here with
the line to put into that file instead.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from db.location import LocationError, display_url, parse_url
from desktop.dialogs.recent import MAX_RECENT, app_settings

KEY = "recent_team_projects"
PLACEHOLDER = "postgresql+psycopg://USER@HOST:5432/PROJECT"


def recent_team_projects() -> list[str]:
    """Password-free URLs, most recent first."""
    raw = app_settings().value(KEY, []) or []
    return [raw] if isinstance(raw, str) else [str(x) for x in raw]


def add_recent_team(url: str) -> None:
    clean = display_url(url)
    items = [u for u in recent_team_projects() if u != clean]
    app_settings().setValue(KEY, [clean, *items][:MAX_RECENT])


def check_url(text: str) -> tuple[str | None, str]:
    """(the URL to open, "") or (None, why not) for what the user typed."""
    text = text.strip()
    if not text:
        return None, "Type the project's URL."
    try:
        url = parse_url(text)
    except LocationError as err:
        return None, str(err)
    if url.password:
        host = f"{url.host or 'localhost'}:{url.port or 5432}"
        return None, (f"Leave the password out of the URL: put the line "
                      f"<code>{host}:{url.database}:{url.username}:PASSWORD</code> "
                      "in your password file (~/.pgpass, or the file PGPASSFILE names).")
    return display_url(url), ""


class OpenTeamDialog(QDialog):
    """A URL field (with the recent team projects below it); `url()` once accepted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open team project")
        self.setMinimumWidth(560)
        lay = QVBoxLayout(self)
        intro = QLabel("A project several people share, on a PostgreSQL server. "
                       "The password comes from your password file (~/.pgpass), never from the URL.")
        intro.setWordWrap(True)
        intro.setObjectName("muted")
        lay.addWidget(intro)
        self.field = QLineEdit()
        self.field.setPlaceholderText(PLACEHOLDER)
        self.field.textChanged.connect(self._validate)
        lay.addWidget(self.field)
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setObjectName("error")
        self.problem.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.problem)
        lay.addWidget(QLabel("<b>Recent team projects</b>"))
        self.recent = QListWidget()
        for u in recent_team_projects():
            item = QListWidgetItem(u)
            item.setData(Qt.ItemDataRole.UserRole, u)
            self.recent.addItem(item)
        self.recent.currentItemChanged.connect(
            lambda item, _prev: item is not None and self.field.setText(item.data(Qt.ItemDataRole.UserRole)))
        self.recent.itemActivated.connect(lambda _item: self.accept())
        lay.addWidget(self.recent)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self._validate()

    def _validate(self) -> None:
        url, why = check_url(self.field.text())
        self.problem.setText("" if url or not self.field.text().strip() else why)
        self.buttons.button(QDialogButtonBox.StandardButton.Open).setEnabled(url is not None)

    def url(self) -> str | None:
        return check_url(self.field.text())[0]

    def accept(self) -> None:
        if self.url() is not None:
            super().accept()
