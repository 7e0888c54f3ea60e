"""`lazlabel team ...`: several reviewers on one project (issue #20; README "Team").

  team assign ana bob [--overlap 0.2]   split the unreviewed images (a share to everyone)
  team assignments                      per reviewer: assigned, overlap, still to decide
  team agreement [--json]               Cohen's kappa per reviewer pair, Fleiss' kappa per class
  team conflicts [--resolve IMAGE CLASS | --reject IMAGE]   disagreeing decisions; a lead settles
  team image-root DIR                   this machine's path to the shared image folder
"""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path
from typing import Any

from cli.project_cmds import with_project
from workflows.errors import UserError


def _fmt(k: float | None) -> str:
    return "n/a" if k is None else f"{k:.3f}"


def _assign(project: Any, args: argparse.Namespace) -> int:
    from workflows.team import assign

    reviewers = [r for part in args.reviewers for r in part.split(",") if r.strip()]
    counts = assign(project, reviewers, overlap=args.overlap, seed=args.seed, limit=args.limit)
    total = sum(counts.values())
    if not total:
        print("nothing to assign: every unreviewed image is assigned already")
        return 0
    for who, n in counts.items():
        print(f"{who}: {n:,} images")
    return 0


def _assignments(project: Any, args: argparse.Namespace) -> int:
    from workflows.team import assignment_counts

    rows = assignment_counts(project)
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], indent=2))
        return 0
    if not rows:
        print("no assignments (make them with `lazlabel team assign REVIEWER...`)")
        return 0
    print(f"{'reviewer':<20} {'assigned':>9} {'overlap':>8} {'to do':>8}")
    for r in rows:
        print(f"{r.reviewer:<20} {r.assigned:>9,} {r.overlap:>8,} {r.pending:>8,}")
    return 0


def _agreement(project: Any, args: argparse.Namespace) -> int:
    from workflows.team import agreement

    a = agreement(project)
    if args.json:
        print(json.dumps({"images": a.n_images, "votes": a.n_votes, "fleiss_kappa": a.fleiss,
                          "pairs": [p.__dict__ for p in a.pairs], "classes": [c.__dict__ for c in a.classes]},
                         indent=2))
        return 0
    if not a.pairs:
        print("no image has decisions of two reviewers yet (assign an overlap: `lazlabel team assign A B --overlap 0.2`)")
        return 0
    print(f"images decided by 2+ reviewers: {a.n_images:,} ({a.n_votes:,} votes); Fleiss' kappa {_fmt(a.fleiss)}")
    print(f"\n{'reviewers':<30} {'images':>7} {'agree':>7} {'kappa':>7}")
    for p in a.pairs:
        print(f"{p.a + ' / ' + p.b:<30} {p.n:>7,} {p.observed:>7.1%} {_fmt(p.kappa):>7}")
    print(f"\n{'class':<30} {'share':>7} {'kappa':>7}")
    for c in a.classes:
        print(f"{c.name:<30} {c.share:>7.1%} {_fmt(c.kappa):>7}")
    return 0


def _conflicts(project: Any, args: argparse.Namespace) -> int:
    from workflows.review import resolve_class, resolve_image
    from workflows.team import conflicts, describe_votes, resolve

    if args.resolve or args.reject:
        image_arg, class_arg = (args.resolve[0], args.resolve[1]) if args.resolve else (args.reject, None)
        image_id = resolve_image(project, image_arg)
        class_id = resolve_class(project, class_arg) if class_arg is not None else None
        did = resolve(project, image_id, class_id, lead=args.reviewer, note=args.note)
        print(f"resolved {image_arg}: {class_arg or 'no class'} (decision {did}; the disagreeing decisions are kept)")
        return 0
    rows = conflicts(project)
    names = project.class_names_by_id()
    if args.json:
        print(json.dumps([{"image": c.rel_path, "image_id": c.image_id,
                           "votes": [{"reviewer": v.reviewer, "decision": v.decision_id,
                                      "class": names.get(v.label) if v.label is not None else None}
                                     for v in c.votes]} for c in rows], indent=2))
        return 0
    if not rows:
        print("no conflicts: every image's reviewers agree (or a lead resolved them)")
        return 0
    for c in rows:
        print(f"{c.rel_path}  {describe_votes(c, names)}")
    print(f"\n{len(rows):,} conflict(s); settle one with `lazlabel team conflicts --resolve IMAGE CLASS`")
    return 0


def _image_root(project: Any, args: argparse.Namespace) -> int:
    from db.engine_setup import host_image_root_key

    host = args.host or socket.gethostname()
    key = host_image_root_key(host)
    if args.clear:
        project.set_setting(key, None)
        print(f"{host} uses the project's image folder again: {project.get_setting('image_root')}")
        return 0
    if not args.dir:
        print(f"{host}: {project.image_root}")
        return 0
    folder = Path(args.dir).expanduser()
    if args.host is None and not folder.is_dir():
        raise UserError(f"image folder {folder} does not exist or is not a folder")
    project.set_setting(key, str(folder.resolve() if args.host is None else folder))
    print(f"{host} reaches the images at {project.get_setting(key)}")
    return 0


def register(subs: argparse._SubParsersAction) -> None:
    team = subs.add_parser("team", help="several reviewers: assignments, agreement, conflicts (team projects)")
    tsub = team.add_subparsers(dest="team_command", metavar="ACTION", required=True)

    p = tsub.add_parser("assign", help="split the unassigned, unreviewed images between reviewers")
    p.add_argument("reviewers", nargs="+", metavar="REVIEWER", help="names (or one comma-separated list)")
    p.add_argument("--overlap", type=float, default=0.0, metavar="SHARE",
                   help="share of the images every reviewer decides, for agreement (0..1, default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random split (default 0)")
    p.add_argument("--limit", type=int, help="assign at most this many images")
    p.set_defaults(func=with_project(_assign))

    p = tsub.add_parser("assignments", help="per reviewer: images assigned, overlap, still to decide")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=with_project(_assignments))

    p = tsub.add_parser("agreement", help="Cohen's kappa per reviewer pair, Fleiss' kappa overall and per class")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=with_project(_agreement))

    p = tsub.add_parser("conflicts", help="images whose reviewers disagree; --resolve settles one")
    p.add_argument("--resolve", nargs=2, metavar=("IMAGE", "CLASS"), help="a lead's decision for IMAGE")
    p.add_argument("--reject", metavar="IMAGE", help="a lead's decision that IMAGE has none of the classes")
    p.add_argument("--reviewer", help="the lead's name (default: the project's reviewer setting)")
    p.add_argument("--note")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=with_project(_conflicts))

    p = tsub.add_parser("image-root", help="this machine's path to the image folder (shared mount elsewhere)")
    p.add_argument("dir", nargs="?", metavar="DIR", help="the folder (omit to show the one in use)")
    p.add_argument("--host", help="set it for another machine (default: this one)")
    p.add_argument("--clear", action="store_true", help="use the project's image folder again")
    p.set_defaults(func=with_project(_image_root))
