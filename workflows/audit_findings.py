"""Where the dataset checks of an audit keep their findings: one JSON value per check in the
project's `setting` table (key ``audit.<check>``), so they live in the project file with the label
issues, survive a deleted feature cache, and a check run alone replaces only its own findings.

The label issues themselves have their own table (`label_issue`, one row per labelled image).
"""

from __future__ import annotations

import dataclasses
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


#: what `audit report --check` accepts: the label issues and every stored check
REPORTS = ("labels", *STORED)


def _label_rows(project: Any, limit: int | None, everything: bool) -> dict[str, Any]:
    rows = project.label_issues(limit=limit, flagged_only=not everything)
    run_id = rows[0].run_id if rows else project.latest_audit_run_id()
    return {"run_id": run_id, "items": [dataclasses.asdict(r) for r in rows]}


def report(project: Any, check: str, *, limit: int | None = None, everything: bool = False) -> dict[str, Any] | None:
    """One check's newest findings with paths and class names resolved, JSON-ready; None when the
    check never ran. `everything`: also what was listed but not flagged (labels, outliers)."""
    if check not in REPORTS:
        raise ValueError(f"unknown audit check '{check}'")
    if check == "labels":
        out = _label_rows(project, limit, everything)
        return {"check": "labels", **out} if out["run_id"] is not None else None
    data = load_findings(project, check)
    if data is None:
        return None
    names = project.class_names_by_id()
    head = {k: v for k, v in data.items() if k not in ("groups", "items", "pairs", "classes")}
    if check == "duplicates":
        groups = data.get("groups", [])[:limit] if limit is not None else data.get("groups", [])
        paths = _paths(project, [i for g in groups for i in g["image_ids"]])
        items = [
            {"group": k + 1, "kind": g["kind"], "min_similarity": g["min_similarity"],
             "images": [{"image_id": i, "rel_path": paths[i]} for i in g["image_ids"] if i in paths]}
            for k, g in enumerate(groups)
        ]
        items = [g for g in items if len(g["images"]) > 1]
    elif check == "outliers":
        rows = [o for o in data.get("items", []) if everything or o.get("flagged")]
        rows = rows[:limit] if limit is not None else rows
        paths = _paths(project, [o["image_id"] for o in rows])
        preds = {r.id: names.get(r.pred_class_id) for r in project.images(list(paths))}
        items = [{**o, "rel_path": paths[o["image_id"]], "predicted": preds.get(o["image_id"])}
                 for o in rows if o["image_id"] in paths]
    elif check == "overlap":
        attrs = {cid: list(a) for cid, _n, a in project.class_specs()}
        pairs = data.get("pairs", [])[:limit] if limit is not None else data.get("pairs", [])
        items = [
            {**p, "name_a": names.get(p["class_a"]), "name_b": names.get(p["class_b"]),
             "attributes_a": attrs.get(p["class_a"], []), "attributes_b": attrs.get(p["class_b"], [])}
            for p in pairs
        ]
    elif check == "health":
        rows = data.get("classes", [])
        rows = rows[:limit] if limit is not None else rows
        items = [{**c, "class_name": names.get(c["class_id"])} for c in rows]
    else:  # decisions
        rows = data.get("items", [])[:limit] if limit is not None else data.get("items", [])
        paths = _paths(project, [r["image_id"] for r in rows])
        now = {r.id: r for r in project.images(list(paths))}
        items = [
            {**r, "rel_path": paths[r["image_id"]], "decided": names.get(r["decided_class_id"]),
             "suggested": names.get(r["suggested_class_id"]),
             "label_now": names.get(now[r["image_id"]].label_class_id) if r["image_id"] in now else None}
            for r in rows if r["image_id"] in paths
        ]
    return {"check": check, **head, "items": items}


def _paths(project: Any, image_ids: list[int]) -> dict[int, str]:
    """image id -> relative path, for the ids still in the project."""
    return {r.id: r.rel_path for r in project.images(list(dict.fromkeys(image_ids)))}
