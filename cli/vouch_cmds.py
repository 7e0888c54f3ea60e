"""`lazlabel review --sample N` / `--propose` / `--accept-vouched`: bulk acceptance with a guarantee.

    lazlabel review --sample 200                      # draw a random audit sample (served by --order audit_sample)
    lazlabel review --propose --target 0.98           # the threshold it vouches for (writes nothing)
    lazlabel review --accept-vouched --target 0.98 [--confidence 0.95] [--preview] [--global]
"""

from __future__ import annotations

import argparse
from typing import Any

from workflows.errors import UserError


def add_vouch_options(p: argparse.ArgumentParser) -> None:
    """The review command's options for audit samples and vouched acceptance."""
    g = p.add_argument_group("bulk acceptance with a guarantee")
    g.add_argument("--sample", type=int, metavar="N",
                   help="draw N random unreviewed images to audit (then review them with --order audit_sample)")
    g.add_argument("--propose", action="store_true",
                   help="show the threshold the audited sample vouches for, per class (writes nothing)")
    g.add_argument("--accept-vouched", action="store_true", dest="accept_vouched",
                   help="accept the predictions above the vouched threshold(s)")
    g.add_argument("--target", type=float, default=0.98, help="precision the accepted labels must reach (default 0.98)")
    g.add_argument("--confidence", type=float, default=0.95,
                   help="probability that the guarantee holds over the random audit draw (default 0.95)")
    g.add_argument("--preview", action="store_true", help="with --accept-vouched: say what would be accepted")
    g.add_argument("--global", action="store_true", dest="global_only", help="one threshold for every class")


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _print_proposal(vp: Any) -> None:
    from cli.run_cmds import _table

    rows = [
        [r.name, "-" if r.threshold is None else f"{r.threshold:.4f}", "own" if r.own else "pooled",
         r.n_audited, r.n_errors, _pct(r.bound) if r.threshold is not None else "-", r.n_accept]
        for r in vp.rows
    ]
    print(_table(rows, ["class", "threshold", "family", "audited above", "wrong", "precision >=", "accepts"]))
    for note in vp.notes:
        print(f"note: {note}")
    print(vp.summary())


def vouch_command(project: Any, args: argparse.Namespace) -> int:
    from workflows import vouch

    if args.class_name or args.accept_above is not None:
        raise UserError("--class and --accept-above do not combine with --sample / --propose / --accept-vouched "
                        "(the vouched thresholds are per class already)")
    if args.sample is not None:
        if args.accept_vouched or args.propose:
            raise UserError("--sample draws a new audit sample; review it before --propose or --accept-vouched")
        s = vouch.draw_audit_sample(project, args.sample, seed=args.seed, reviewer=args.reviewer)
        need = vouch.minimum_sample(args.target, args.confidence)
        print(f"audit sample #{s.id}: {len(s.image_ids)} of {s.n_pool} unreviewed images, seed {s.seed}")
        print("decide them in the review queue (lazlabel review --order audit_sample; desktop: Review, "
              "order 'audit sample'), then: lazlabel review --accept-vouched --target "
              f"{args.target:g} --preview")
        if len(s.image_ids) < need:
            print(f"note: to vouch for {args.target:.0%} at {args.confidence:.0%} confidence at least {need} "
                  "audited images above the threshold are needed; this sample may be too small")
        return 0
    vp = vouch.propose(project, args.target, args.confidence, per_class=False if args.global_only else None)
    _print_proposal(vp)
    if args.propose or args.preview:
        if vp.accept_ids:
            print("accept them with: lazlabel review --accept-vouched "
                  f"--target {args.target:g} --confidence {args.confidence:g}")
        return 0
    res = vouch.accept_vouched(project, vp, reviewer=args.reviewer, commands=1)
    print(f"accepted {res.n_accepted} predictions (vouch #{res.vouch_id}): {res.statement}")
    return 0
