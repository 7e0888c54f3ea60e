"""`lazlabel attributes refine`: the LLM proposes attributes that tell confused classes apart
(issue #17 item 5). Registered under `attributes` by `cli.attribute_cmds.register`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.progress import run_with_progress
from cli.project_cmds import with_project
from workflows.errors import UserError

ACCEPT_MODES = ("all", "none", "interactive")


def _pct(x: float | None) -> str:
    return "  -  " if x is None else f"{100 * x:5.1f}"


def _arrow(before: float | None, after: float | None) -> str:
    return f"{_pct(before)} -> {_pct(after)}"


def _ask(prompt: str) -> bool | None:
    """y/n from stdin (None at end of input: stop asking)."""
    while True:
        print(prompt, end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            print()
            return None
        answer = line.strip().casefold()
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no", ""):
            return False
        print("  answer y or n")


@with_project
def _attrs_refine(project: Any, args: argparse.Namespace) -> int:
    from workflows.attributes import check_propose_args
    from workflows.refine import (
        accept_refinement,
        confused_pairs,
        parse_pair,
        preview_refinement,
        propose_distinguishing,
    )

    check_propose_args(timeout=args.timeout, retries=args.retries, n=args.n)
    if args.top < 1:
        raise UserError(f"--top must be 1 or more, not {args.top}")
    accept = args.accept or ("interactive" if sys.stdin.isatty() else "none")
    if args.pairs == ["auto"]:
        pairs = confused_pairs(project, top=args.top)
        if not pairs:
            raise UserError(
                "no confused class pairs yet: decide some images (or pre-label first), or name a pair as A:B"
            )
    else:
        pairs = [parse_pair(project, spec) for spec in args.pairs]
    total_added = 0
    for pair in pairs:
        print(f"{pair.label}: {pair.describe()}")
        ref = propose_distinguishing(
            project, pair, model=args.model, n=args.n, host=args.host, timeout=args.timeout, retries=args.retries
        )
        for w in ref.warnings:
            print(f"warning: {w}", file=sys.stderr)
        if ref.dropped:
            print(f"  {len(ref.dropped)} proposals the classes already have were dropped")
        if not ref.attributes:
            print(f"  {ref.model} proposed nothing new for {pair.label}")
            continue
        pv = run_with_progress(preview_refinement(project, ref), "previewing")
        print(
            f"  accuracy on {pv.n_decided} decided images (of them {pv.n_pair} of the pair), from the cache: "
            f"all {_arrow(pv.before.accuracy, pv.together.accuracy)}, "
            f"pair {_arrow(pv.before.pair_accuracy, pv.together.pair_accuracy)} with all {len(ref.attributes)} added"
        )
        if pv.missing:
            print(f"  {len(pv.missing)} decided images have no cached features (run pre-label)")
        print(f"  {'#':>2}  {'class':<20} {'all %':>14}  {'pair %':>14}  fixed broken  attribute")
        for i, (p, eff) in enumerate(pv.per_attribute, 1):
            print(
                f"  {i:>2}  {p.class_name[:20]:<20} {_arrow(pv.before.accuracy, eff.accuracy)}  "
                f"{_arrow(pv.before.pair_accuracy, eff.pair_accuracy)}  {eff.fixed:>5} {eff.broken:>6}  {p.text}"
            )
        if accept == "all":
            chosen = list(ref.attributes)
        elif accept == "none":
            chosen = []
        else:
            chosen = []
            for p, _eff in pv.per_attribute:
                yes = _ask(f"  add {p.text!r} to {p.class_name}? [y/N] ")
                if yes is None:
                    break
                if yes:
                    chosen.append(p)
        res = accept_refinement(project, ref, chosen)
        total_added += len(res.added)
        if res.added:
            print(f"  {len(res.added)} attributes added ({res.origin}); attribute set {res.attribute_set_version[:12]}")
        else:
            print("  nothing added")
    if total_added:
        print(f"{total_added} attributes added in all: `lazlabel rescore --preview` shows their effect on every image")
    elif accept == "none":
        print("nothing added (--accept none): run again with --accept all or interactive to keep them")
    return 0


def register_refine(at: argparse._SubParsersAction) -> None:
    """Add `refine` to the `attributes` subcommands."""
    p = at.add_parser(
        "refine",
        help="ask the LLM for attributes that tell confused classes apart (preview, then accept)",
        description=(
            "For the most confused class pairs (from decisions, else close calls), ask the Ollama model for "
            "visual attributes that tell the two apart, preview their effect on the decided images from the "
            "feature cache, and add the accepted ones with their provenance."
        ),
    )
    p.add_argument(
        "--pairs", nargs="+", default=["auto"], metavar="auto|A:B",
        help="'auto' (the most confused pairs) or class pairs as A:B (default: auto)",
    )
    p.add_argument("--model", "-m", help="Ollama model (default: the ollama_model setting)")
    p.add_argument("--top", type=int, default=3, help="with --pairs auto: how many pairs (default 3)")
    p.add_argument(
        "--accept", choices=ACCEPT_MODES,
        help="which proposals to add: all, none (preview only) or interactive, one question per attribute "
        "(default: interactive on a terminal, else none)",
    )
    p.add_argument("--n", type=int, default=4, help="new attributes asked per class of a pair (default 4)")
    p.add_argument("--timeout", type=float, help="seconds per request (default 120)")
    p.add_argument("--retries", type=int, help="extra attempts per request (default 2)")
    p.add_argument("--host", help="Ollama server URL (default: the ollama_host setting, $OLLAMA_HOST, :11434)")
    p.set_defaults(func=_attrs_refine)
