"""What the browser's filter and sort menus offer, as registries over `db.ImageFilter` fields.

Each entry is (menu label, ImageFilter keyword arguments); the controller merges the chosen
entries into one ImageFilter. A new filter is a new entry here, not a new branch somewhere.
"""

from __future__ import annotations

from typing import Any

from db import SORTS, ImageFilter

STATUS_FILTERS: dict[str, tuple[str, dict[str, Any]]] = {
    "all": ("All images", {}),
    "to_review": ("To review", {"status": "ok", "review_status": "unreviewed"}),
    "predicted": ("Predicted, not reviewed", {"review_status": "unreviewed", "has_prediction": True}),
    "unpredicted": ("No prediction yet", {"status": "ok", "has_prediction": False}),
    "decided": ("Decided (any)", {"decided": True}),
    "accepted": ("Accepted", {"review_status": "accepted"}),
    "corrected": ("Corrected", {"review_status": "corrected"}),
    "rejected": ("Rejected", {"review_status": "rejected"}),
    "uncertain": ("Uncertain", {"review_status": "uncertain"}),
    "disagrees": ("Disagrees with imported label", {"disagrees": True}),
    "unreadable": ("Unreadable or missing", {"status": ("error", "missing")}),
}

IMPORTED_FILTERS: dict[str, tuple[str, dict[str, Any]]] = {
    "any": ("Any imported label", {}),
    "has": ("Has an imported label", {"has_imported": True}),
    "none": ("No imported label", {"has_imported": False}),
}

SORT_LABELS: dict[str, str] = {
    "name": "Name",
    "confidence": "Confidence (lowest first)",
    "confidence_desc": "Confidence (highest first)",
    "margin": "Margin (smallest first)",
    "disagreement": "Disagreement first",
    "class": "Class",
    "recent": "Recently decided",
    "random": "Shuffled",
}


def sort_choices() -> list[tuple[str, str]]:
    """(key, label) for every sort the store knows, labelled ones first."""
    keys = [k for k in SORT_LABELS if k in SORTS] + [k for k in SORTS if k not in SORT_LABELS]
    return [(k, SORT_LABELS.get(k, k.replace("_", " ").capitalize())) for k in keys]


def build_filter(
    status: str = "all", class_id: int | None = None, imported: str | int = "any", text: str = ""
) -> ImageFilter:
    """One ImageFilter from the menus: a status key, a class id, an imported key or class id, text."""
    kwargs: dict[str, Any] = dict(STATUS_FILTERS[status][1])
    if class_id is not None:
        kwargs["class_id"] = class_id
    if isinstance(imported, int):
        kwargs["imported_class_id"] = imported
    else:
        kwargs.update(IMPORTED_FILTERS[imported][1])
    if text.strip():
        kwargs["text"] = text.strip()
    return ImageFilter(**kwargs)
