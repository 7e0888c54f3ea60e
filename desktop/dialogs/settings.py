"""Project settings dialog, generated from `workflows.settings.ProjectSettings`.

Every dataclass field gets an editor chosen by a registry (choices -> combo box, int -> spin box,
float -> double spin box, str -> line edit), grouped into sections; a field added to
ProjectSettings shows up here without code changes (under "Other").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.types import METHODS, OT_MODES, VIEW_MODES
from workflows.settings import DEFAULT_OLLAMA_HOST, ProjectSettings


@dataclass(frozen=True)
class FieldSpec:
    label: str
    section: str
    help: str = ""
    choices: tuple[str, ...] = ()
    editable_choices: bool = False  # a combo that also accepts free text (model specs, devices)
    minimum: float = 0
    maximum: float = 1_000_000
    placeholder: str = ""


SECTIONS = ("Model", "Engine", "Attributes (Ollama)", "Review", "Other")

FIELDS: dict[str, FieldSpec] = {
    "model": FieldSpec(
        "Model", "Model",
        "open_clip model: 'demo' (bundled), 'ViT-B-32:openai', 'NAME@/path/weights.safetensors', "
        "'hf-hub:ORG/NAME' (Hugging Face cache; Models… downloads), 'local-dir:/path' or 'random:NAME' (tests)",
        choices=("demo", "ViT-B-32:openai", "ViT-B-16:openai", "ViT-L-14:openai", "ViT-B-32-quickgelu:laion400m_e32"),
        editable_choices=True,
    ),
    "device": FieldSpec("Device", "Model", "auto picks CUDA/MPS when present", ("auto", "cpu", "cuda", "mps"), True),
    "precision": FieldSpec("Precision", "Model", "", ("auto", "fp32", "fp16", "bf16")),
    "batch_size": FieldSpec("Batch size", "Model", "images encoded per batch", minimum=1, maximum=4096),
    "method": FieldSpec(
        "Method", "Engine", "; ".join(f"{m.name}: {m.description}" for m in METHODS.values()), tuple(METHODS),
    ),
    "view_mode": FieldSpec(
        "Region views", "Engine", "; ".join(f"{m.name}: {m.description}" for m in VIEW_MODES.values()),
        tuple(VIEW_MODES),
    ),
    "n_crops": FieldSpec("Crops per image", "Engine", "LaZSL default 90", minimum=1, maximum=512),
    "alpha_crop": FieldSpec("Smallest crop (fraction)", "Engine", "crop side ~ U(alpha, 0.9)·min(W,H)", minimum=0.05, maximum=0.9),
    "ot_mode": FieldSpec(
        "Transport solver", "Engine", "; ".join(f"{m.name}: {m.description}" for m in OT_MODES.values()),
        tuple(OT_MODES),
    ),
    "topk": FieldSpec("Top-k kept", "Engine", "classes stored per prediction", minimum=1, maximum=100),
    "seed": FieldSpec("Seed", "Engine", "crops are deterministic per image and seed", minimum=0, maximum=2**31 - 1),
    "ollama_host": FieldSpec("Ollama host", "Attributes (Ollama)", "", placeholder=f"$OLLAMA_HOST or {DEFAULT_OLLAMA_HOST}"),
    "ollama_model": FieldSpec("Ollama model", "Attributes (Ollama)", "", ("llama3.2", "llama3.1", "qwen2.5", "mistral"), True),
    "n_attributes": FieldSpec("Attributes per class", "Attributes (Ollama)", minimum=1, maximum=50),
    "domain_hint": FieldSpec("Domain hint", "Attributes (Ollama)", "e.g. 'birds', 'retail products'", placeholder="optional"),
    "reviewer": FieldSpec("Reviewer name", "Review", "recorded with every decision", placeholder="your login name"),
}


# editor factory by kind: (make(spec, value) -> widget, read(widget) -> value)
def _combo(spec: FieldSpec, value: Any) -> QWidget:
    box = QComboBox()
    box.setEditable(spec.editable_choices)
    box.addItems(list(spec.choices))
    if str(value) not in spec.choices:
        box.addItem(str(value))
    box.setCurrentText(str(value))
    return box


def _int(spec: FieldSpec, value: Any) -> QWidget:
    box = QSpinBox()
    box.setRange(int(spec.minimum), int(spec.maximum))
    box.setValue(int(value))
    return box


def _float(spec: FieldSpec, value: Any) -> QWidget:
    box = QDoubleSpinBox()
    box.setDecimals(3)
    box.setSingleStep(0.05)
    box.setRange(spec.minimum, spec.maximum)
    box.setValue(float(value))
    return box


def _text(spec: FieldSpec, value: Any) -> QWidget:
    edit = QLineEdit(str(value))
    edit.setPlaceholderText(spec.placeholder)
    return edit


EDITORS: dict[str, tuple[Callable[[FieldSpec, Any], QWidget], Callable[[Any], Any]]] = {
    "choice": (_combo, lambda w: w.currentText().strip()),
    "int": (_int, lambda w: int(w.value())),
    "float": (_float, lambda w: float(w.value())),
    "str": (_text, lambda w: w.text().strip()),
}


def _kind(default: Any, spec: FieldSpec) -> str:
    if spec.choices:
        return "choice"
    return {bool: "int", int: "int", float: "float"}.get(type(default), "str")


class SettingsDialog(QDialog):
    """Edits a copy of the settings; `value()` returns the edited ProjectSettings."""

    def __init__(self, settings: ProjectSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Project settings")
        self.setMinimumWidth(520)
        self._original = settings
        self.editors: dict[str, tuple[QWidget, Callable[[Any], Any]]] = {}
        groups = {name: QFormLayout() for name in SECTIONS}
        for f in fields(ProjectSettings):
            spec = FIELDS.get(f.name, FieldSpec(f.name.replace("_", " ").capitalize(), "Other"))
            make, read = EDITORS[_kind(getattr(ProjectSettings(), f.name), spec)]
            widget = make(spec, getattr(settings, f.name))
            widget.setToolTip(spec.help)
            widget.setObjectName(f"setting_{f.name}")
            groups[spec.section].addRow(spec.label, widget)
            self.editors[f.name] = (widget, read)
            if f.name == "model":  # the model picker: cached / recommended models, Download (issue #19)
                pick = QPushButton("Models…", objectName="pick_model")
                pick.clicked.connect(lambda _=False, w=widget: self.pick_model(w))
                groups[spec.section].addRow("", pick)
        lay = QVBoxLayout(self)
        for name in SECTIONS:
            if groups[name].rowCount():
                box = QGroupBox(name)
                box.setLayout(groups[name])
                lay.addWidget(box)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self.restore_defaults)
        lay.addWidget(buttons)

    def pick_model(self, combo: QComboBox) -> None:
        from desktop.dialogs.models import ModelPickerDialog

        dlg = ModelPickerDialog(combo.currentText(), self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            combo.setCurrentText(dlg.selected_spec())

    def value(self) -> ProjectSettings:
        return dataclasses.replace(self._original, **{k: read(w) for k, (w, read) in self.editors.items()})

    def restore_defaults(self) -> None:
        defaults = ProjectSettings()
        for name, (widget, _read) in self.editors.items():
            value = getattr(defaults, name)
            setter = {
                QComboBox: lambda w, v: w.setCurrentText(str(v)),
                QSpinBox: lambda w, v: w.setValue(int(v)),
                QDoubleSpinBox: lambda w, v: w.setValue(float(v)),
                QLineEdit: lambda w, v: w.setText(str(v)),
            }[type(widget)]
            setter(widget, value)
