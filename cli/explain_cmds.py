"""`lazlabel explain`: the evidence behind a label, for people (text) and programs (JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cli.project_cmds import with_project
from db.project import Project


def _presence(a: dict[str, Any]) -> str:
    p = a["presence"]
    if p is None:
        return "?"
    mark = {"found": "+", "weak": "~", "not found": "-"}.get(p["label"], "?")
    return f"{mark} {p['label']:<9} {p['score']:+5.2f}"


def _where(a: dict[str, Any]) -> str:
    if a["peak"] is None:
        return ""
    x, y = a["peak"]
    x0, y0, x1, y1 = a["box"]
    return f"  at ({x:.0f},{y:.0f}) in [{x0:.0f},{y0:.0f},{x1:.0f},{y1:.0f}]"


def format_text(doc: dict[str, Any]) -> str:
    """The human-readable form of one explain document."""
    pred = doc["predicted"]
    head = f"{doc['image']}: {doc['class']} {doc['score']:.4f}"
    if pred and pred["class"] != doc["class"]:
        head += f" (predicted: {pred['class']} {pred['score']:.4f})"
    lines = [head]
    support = [a for a in doc["attributes"] if a["share"] > 0]
    against = [a for a in doc["attributes"] if a["against"]]
    for a in support:
        lines.append(f"  {100 * a['share']:5.1f}%  {_presence(a)}  {a['text']}{_where(a)}")
    if not support:
        lines.append("  no attribute is above its usual level in this image")
    for a in against:
        lines.append(f"  against {_presence(a)}  {a['text']}{_where(a)}")
    ru = doc["runner_up"]
    if ru:
        lines.append(f"  why not {ru['class']} ({ru['score']:.4f}, {ru['score_gap']:+.4f} behind):")
        for a in ru["not_found"]:
            lines.append(f"    not found: {a['text']} ({_presence(a).split()[-1]})")
        for a in ru["separating_for_class"]:
            lines.append(f"    only {doc['class']} has: {a['text']} ({a['presence']['label']}){_where(a)}")
        for a in ru["separating_for_runner_up"]:
            lines.append(f"    only {ru['class']} has: {a['text']} ({a['presence']['label']}){_where(a)}")
    lines.append(f"  (share: {doc['share_rule']})")
    return "\n".join(lines)


@with_project
def cmd_explain(project: Project, args: argparse.Namespace) -> int:
    from workflows.evidence import explain_document, presence_calibration
    from workflows.review import resolve_class, resolve_image

    ids = [resolve_image(project, p) for p in args.paths]  # every path checked before any work
    class_id = resolve_class(project, args.class_name) if args.class_name else None
    cal = presence_calibration(project)
    docs = [explain_document(project, i, class_id, calibration=cal) for i in ids]
    if args.format == "json":
        json.dump(docs[0] if len(docs) == 1 else docs, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print("\n\n".join(format_text(d) for d in docs))
    return 0


def register(subs: argparse._SubParsersAction) -> None:
    """Add `explain`."""
    p = subs.add_parser("explain", help="the evidence behind an image's label: where each attribute is, "
                                        "whether it is there, and why not the runner-up")
    p.add_argument("paths", nargs="+", metavar="PATH", help="images (relative to the image folder, or absolute)")
    p.add_argument("--class", dest="class_name", metavar="NAME", help="explain this class (default: the prediction)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: one object for one image, an array for several (schema in the README)")
    p.set_defaults(func=cmd_explain)
