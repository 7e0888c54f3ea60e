"""Where the dataset checks of an audit keep their findings: one JSON value per check in the
project's `setting` table (key ``audit.<check>``), so they live in the project file with the label
issues, survive a deleted feature cache, and a check run alone replaces only its own findings.

The label issues themselves have their own table (`label_issue`, one row per labelled image).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

#: the checks whose findings live here (labels live in `label_issue`; its health summary here)
STORED = ("duplicates", "outliers", "overlap", "health", "decisions")
_PREFIX = "audit."


def save_findings(project: Any, check: str, run_id: int | None, payload: dict[str, Any]) -> None:
    """Replace the stored findings of one check (with the run that produced them and when)."""
    if check not in STORED:
        raise ValueError(f"unknown audit check '{check}'")
    value = {"run_id": run_id, "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **payload}
    project.set_setting(_PREFIX + check, value)


def load_findings(project: Any, check: str) -> dict[str, Any] | None:
    """The newest findings of one check, or None when it never ran."""
    if check not in STORED:
        raise ValueError(f"unknown audit check '{check}'")
    value = project.get_setting(_PREFIX + check)
    return value if isinstance(value, dict) else None
