"""`lazlabel audit run | report`: label issues, duplicates, outliers, overlapping classes, the
dataset health summary and a second opinion on curators' decisions (issue #16)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cli.project_cmds import with_project
from workflows.errors import UserError

#: `audit report --check` names (same as workflows.audit_findings.REPORTS; kept here so
#: building the parser imports neither torch nor cleanlab)
REPORT_CHECKS = ("labels", "duplicates", "outliers", "overlap", "health", "decisions")
RUN_CHECKS = ("labels", "duplicates", "outliers", "overlap", "decisions")


def _table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def _audit_run(project: Any, args: argparse.Namespace) -> int:
    from cli.progress import run_with_progress
    from workflows.audit import DEFAULT_FILTER, run_audit
    from workflows.progress import CancelToken

    token = CancelToken()
    gen = run_audit(project, checks=args.checks, filter_by=args.filter or DEFAULT_FILTER, temperature=args.temperature,
                    ranking=args.ranking, duplicate_threshold=args.duplicate_threshold, cancel=token)
    res = run_with_progress(gen, "audit", cancel=token)
    print(res.message)
    secs = ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in res.timings.items() if k.endswith("_s"))
    if secs:
        print(f"timings: {secs}")
    return 0


def _fmt(v: Any, digits: int = 3) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _print_table(check: str, doc: dict[str, Any]) -> None:
    items = doc["items"]
    if check == "labels":
        print(_table([[r["rel_path"], r["given_label"], r["suggested_label"], _fmt(r["p_given"]),
                       _fmt(r["issue_score"]), "yes" if r["flagged"] else ""] for r in items],
                     ["image", "given", "suggested", "p(given)", "issue", "flagged"]))
    elif check == "duplicates":
        print(f"threshold {doc.get('threshold')}: {len(items)} groups")
        print(_table([[g["group"], g["kind"], _fmt(g["min_similarity"], 4), im["rel_path"]]
                      for g in items for im in g["images"]], ["group", "kind", "similarity", "image"]))
    elif check == "outliers":
        print(_table([[o["rel_path"], _fmt(o["score"]), _fmt(o["mean_distance"]), o.get("predicted"),
                       "yes" if o["flagged"] else ""] for o in items],
                     ["image", "score", "distance", "predicted", "flagged"]))
    elif check == "overlap":
        for p in items:
            print(f"{p['name_a']}  <->  {p['name_b']}: {p['n_overlapping']} images, "
                  f"joint probability {p['joint_probability']:.4f}")
            a, b = p["attributes_a"], p["attributes_b"]
            width = max([len(x) for x in a] + [len(p["name_a"] or "")], default=10)
            print(f"  {str(p['name_a']).ljust(width)}  | {p['name_b']}")
            for k in range(max(len(a), len(b))):
                left = a[k] if k < len(a) else ""
                right = b[k] if k < len(b) else ""
                print(f"  {left.ljust(width)}  | {right}")
    elif check == "health":
        print(f"overall label health {doc.get('overall', 0):.3f} over {doc.get('n_labelled', 0)} labelled images "
              f"(1 - estimated share of wrong labels)")
        print(_table([[c["class_name"], c["n_labelled"], c["label_issues"], _fmt(c["label_noise"]),
                       _fmt(c["inverse_label_noise"]), _fmt(c["label_quality"])] for c in items],
                     ["class", "labelled", "issues", "noise", "inverse noise", "quality"]))
    else:
        print(_table([[r["rel_path"], r["decided"], r["suggested"], _fmt(r["p_decided"]), _fmt(r["p_suggested"]),
                       r["reviewer"], (r["at"] or "").replace("T", " ")[:16]] for r in items],
                     ["image", "decided", "model says", "p(decided)", "p(model)", "reviewer", "when"]))


_EMPTY = {
    "labels": "no label issues (run `lazlabel audit run` first)",
    "duplicates": "no duplicate groups",
    "outliers": "no outliers flagged (--all lists the most unusual images anyway)",
    "overlap": "no overlapping classes",
    "health": "no health summary",
    "decisions": "no decisions the model strongly contradicts",
}


def _audit_report(project: Any, args: argparse.Namespace) -> int:
    from workflows.audit_findings import report

    if args.limit is not None and args.limit < 0:
        raise UserError(f"--limit must be 0 or more, not {args.limit}")
    limit = None if args.all else args.limit
    doc = report(project, args.check, limit=limit, everything=args.all)
    if doc is None:
        if args.format == "json":
            print(json.dumps({"check": args.check, "run_id": None, "items": []}))
        elif args.format == "table" and args.check == "labels":
            print(_EMPTY["labels"])
        elif args.format == "table":
            print(f"the {args.check} check has not run yet (`lazlabel audit run --checks {_run_check(args.check)}`)")
        return 0
    if args.format == "json":
        print(json.dumps(doc, default=str))
    elif args.format == "jsonl":
        for item in doc["items"]:
            print(json.dumps(item, default=str))
    elif not doc["items"]:
        print(_EMPTY[args.check])
    else:
        _print_table(args.check, doc)
    return 0


def _run_check(check: str) -> str:
    return "labels" if check == "health" else check


def register(subs: argparse._SubParsersAction) -> None:
    """Add `audit run` and `audit report`."""
    audit = subs.add_parser("audit", help="find wrong labels, duplicates, outliers and confused classes")
    asubs = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    p = asubs.add_parser("run", help="run the audit's checks and store what they find")
    p.add_argument("--checks", default=None, metavar="LIST",
                   help=f"comma-separated checks to run (default all: {','.join(RUN_CHECKS)})")
    p.add_argument("--filter", default=None, dest="filter",
                   help="cleanlab filter_by for label issues (default low_self_confidence; also prune_by_noise_rate, "
                   "prune_by_class, both, confident_learning, low_normalized_margin, predicted_neq_given)")
    p.add_argument("--temperature", type=float, help="softmax temperature (default: calibrated)")
    p.add_argument("--ranking", default="self_confidence",
                   help="self_confidence, normalized_margin or confidence_weighted_entropy")
    p.add_argument("--duplicate-threshold", type=float, dest="duplicate_threshold",
                   help="similarity at or above which images are near duplicates (default 0.97; 1.0 = exact only)")
    p.set_defaults(func=with_project(_audit_run))
    p = asubs.add_parser("report", help="the newest findings of one check (default: label issues)")
    p.add_argument("--check", choices=REPORT_CHECKS, default="labels")
    p.add_argument("--limit", type=int, default=50, help="rows shown (default 50)")
    p.add_argument("--all", action="store_true", help="everything: no limit, unflagged rows too")
    p.add_argument("--format", choices=["table", "json", "jsonl"], default="table",
                   help="table, one JSON document, or JSON Lines (one item per line)")
    p.set_defaults(func=with_project(_audit_report))

