"""New project: pick the image folder; the project file defaults to `<folder>.lazlabel` beside it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from db import PROJECT_SUFFIX


def default_project_path(image_root: Path) -> Path:
    return image_root.parent / f"{image_root.name or 'project'}{PROJECT_SUFFIX}"


class NewProjectDialog(QDialog):
    """Two paths and a clear reason when OK is disabled."""

    def __init__(self, parent: QWidget | None = None, image_root: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("New project from an image folder")
        self.setMinimumWidth(560)
        self.root_edit = QLineEdit(image_root)
        self.root_edit.setPlaceholderText("folder that holds the images (searched recursively)")
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("where the project file is saved")
        self._path_touched = False
        self.path_edit.textEdited.connect(lambda _t: setattr(self, "_path_touched", True))
        self.root_edit.textChanged.connect(self._root_changed)
        self.problem = QLabel()
        self.problem.setObjectName("muted")
        form = QFormLayout()
        form.addRow("Image folder", _with_button(self.root_edit, "Browse…", self._pick_root))
        form.addRow("Project file", _with_button(self.path_edit, "Browse…", self._pick_path))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create and scan")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("lazlabel indexes the images in place; nothing is copied or modified."))
        lay.addLayout(form)
        lay.addWidget(self.problem)
        lay.addWidget(self.buttons)
        self.path_edit.textChanged.connect(self._validate)
        self._root_changed(image_root)

    def image_root(self) -> Path:
        return Path(self.root_edit.text().strip()).expanduser()

    def project_path(self) -> Path:
        p = Path(self.path_edit.text().strip()).expanduser()
        return p if p.suffix == PROJECT_SUFFIX else p.with_name(p.name + PROJECT_SUFFIX)

    def _root_changed(self, text: str) -> None:
        if text.strip() and not self._path_touched:
            self.path_edit.setText(str(default_project_path(self.image_root())))
        self._validate()

    def problem_text(self) -> str:
        """Why the dialog can't be accepted yet ('' when it can)."""
        if not self.root_edit.text().strip():
            return "Choose the image folder."
        if not self.image_root().is_dir():
            return f"{self.image_root()} is not a folder."
        if not self.path_edit.text().strip():
            return "Choose where to save the project file."
        path = self.project_path()
        if path.exists():
            return f"{path.name} already exists — open it instead (File ▸ Open project)."
        if not path.parent.is_dir():
            return f"The folder {path.parent} does not exist."
        return ""

    def _validate(self) -> None:
        text = self.problem_text()
        self.problem.setText(text)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not text)

    def _pick_root(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Image folder", self.root_edit.text())
        if d:
            self.root_edit.setText(d)

    def _pick_path(self) -> None:
        p, _ = QFileDialog.getSaveFileName(
            self, "Project file", self.path_edit.text(), f"lazlabel projects (*{PROJECT_SUFFIX})"
        )
        if p:
            self._path_touched = True
            self.path_edit.setText(p)


def _with_button(edit: QLineEdit, text: str, slot) -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    b = QPushButton(text)
    b.clicked.connect(slot)
    lay.addWidget(b)
    return w
