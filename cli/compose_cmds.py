"""`lazlabel classes compose | pairs | part-attributes`: compositional label spaces (issue #18).

Registered after `cli.attribute_cmds`, into its `classes` command group.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from cli.project_cmds import with_project


def _who(project: Any) -> str:
    from workflows.settings import load_settings

    return load_settings(project).effective_reviewer


def _n(items: list[str], one: str, many: str | None = None) -> str:
    return f"{len(items)} {one if len(items) == 1 else (many or one + 's')}"


@with_project
def _compose(project: Any, args: argparse.Namespace) -> int:
    from workflows.compose import compose, import_part_attributes

    who = _who(project)
    copied = 0
    if args.states or args.objects or args.pairs or not args.attributes:
        res = compose(project, args.states or [], args.objects or [], args.pairs, who=who)
        copied = res.attributes_copied
        print(f"{_n(res.states_added, 'state')}, {_n(res.objects_added, 'object')} and "
              f"{_n(res.pairs_added, 'pair class', 'pair classes')} added; {len(res.pairs_linked)} existing "
              f"classes became pairs, {res.pairs_kept} already were")
    if args.attributes:
        copied += import_part_attributes(project, args.attributes, who=who)
    space = project.label_space()
    print(f"label space: {len(space.states)} states x {len(space.objects)} objects, {len(space.pairs)} allowed pairs"
          + (f"; {copied} part attributes copied into pairs" if copied else ""))
    return 0


@with_project
def _pairs(project: Any, args: argparse.Namespace) -> int:
    from workflows.compose import pair_grid

    grid = pair_grid(project)
    if args.json:
        print(json.dumps({
            "states": list(grid.states), "objects": list(grid.objects),
            "pairs": [{"class_id": c.class_id, "state": c.state, "object": c.object, "decided": c.decided,
                       "seen": c.seen, "predicted_right": c.predicted_right, "state_right": c.state_right,
                       "object_right": c.object_right, "predicted_as": c.predicted_as}
                      for c in grid.cells.values()],
        }, ensure_ascii=False, indent=2))
        return 0
    if not grid.cells:
        print("no pairs yet: `lazlabel classes compose --states A B --objects X Y`")
        return 0
    width = max(len(o) for o in grid.objects) + 1
    head = max(len(s) for s in grid.states) + 1
    print(" " * head + "".join(f"{o:>{max(width, 9)}}" for o in grid.objects))
    for s in grid.states:
        cells = []
        for o in grid.objects:
            c = grid.cell(s, o)
            text = "." if not c.allowed else (f"{c.predicted_right}/{c.decided}" if c.decided else "unseen")
            cells.append(f"{text:>{max(width, 9)}}")
        print(f"{s:<{head}}" + "".join(cells))
    print(f"cells: pre-label right / decided images; 'unseen' = allowed, nothing decided yet; '.' = not allowed. "
          f"{len(grid.seen_pairs)} seen, {len(grid.unseen_pairs)} unseen pairs")
    return 0


@with_project
def _part_attributes(project: Any, args: argparse.Namespace) -> int:
    kind, name = ("state", args.state) if args.state else ("object", args.object)
    if args.texts:
        n = project.set_part_attributes(kind, name, args.texts, who=_who(project),
                                        mode="merge" if args.merge else "replace")
        print(f"{kind} {name!r}: {len(project.part_attributes(kind, name))} attributes; {n} copies added to its pairs")
        return 0
    for text in project.part_attributes(kind, name):
        print(text)
    return 0


def register(subs: argparse._SubParsersAction) -> None:
    """Add `compose`, `pairs` and `part-attributes` to the `classes` group (cli.attribute_cmds)."""
    classes = subs.choices["classes"]
    group = next(a for a in classes._actions if isinstance(a, argparse._SubParsersAction))
    p = group.add_parser(
        "compose", help="make state-object pair classes (a compositional label space)",
        description="Add states and objects and their pairs; each pair ('ripe tomato') is a class that knows "
        "its state and object. Re-running adds only what is new; a class already named like a pair becomes it.")
    p.add_argument("--states", nargs="+", metavar="STATE", help="states, e.g. ripe unripe rotten")
    p.add_argument("--objects", nargs="+", metavar="OBJECT", help="objects, e.g. tomato apple")
    p.add_argument("--pairs", nargs="+", metavar="PAIR",
                   help="allowed pairs: 'all' (default: every state with every object) or pairs as STATE/OBJECT")
    p.add_argument("--attributes", metavar="FILE",
                   help='attach attributes to states and objects: JSON {"states": {NAME: [TEXT...]}, "objects": {...}}')
    p.set_defaults(func=_compose)
    p = group.add_parser("pairs", help="the pair grid: states x objects, decided images and pre-label accuracy")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_pairs)
    p = group.add_parser("part-attributes", help="list or set the attributes of a state or an object")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--state", metavar="NAME")
    which.add_argument("--object", metavar="NAME")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="new attributes (replace the list; --merge appends)")
    p.add_argument("--merge", action="store_true", help="append to the existing attributes")
    p.set_defaults(func=_part_attributes)
