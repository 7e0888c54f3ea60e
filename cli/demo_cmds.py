"""`lazlabel demo`: build (or reuse) the bundled demo project, pre-label it, print its summary."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workflows.demo import DemoSummary


def register(subs: argparse._SubParsersAction) -> None:
    """Add this module's subcommands."""
    from cli.choices import add_view_mode_option
    from workflows.demo import DEFAULT_IMAGES, DEFAULT_VIEW_MODE

    p = subs.add_parser(
        "demo",
        help="build and pre-label the bundled demo project (generated scenes, shipped tiny model)",
        description="Build (or reuse) the demo project: generated part scenes in class folders, their "
        "attribute file, folder labels with ~10% flipped for the audit, a few broken files, and a "
        "pre-label run with the shipped demo model. Prints the project summary and the accuracy of "
        "the pre-labels against the generated ground truth.",
    )
    p.add_argument("--dir", type=Path, default=None,
                   help="where to build it (default: ./demo-project, or ./demo-compositional)")
    p.add_argument("--images", type=int, default=None,
                   help=f"number of scenes (default {DEFAULT_IMAGES}; 120 with --compositional)")
    p.add_argument("--compositional", action="store_true",
                   help="the state-object demo: colour/texture states on shapes, held-out unseen pairs (issue #18)")
    add_view_mode_option(p, "--views", default=DEFAULT_VIEW_MODE)
    p.add_argument("--rebuild", action="store_true", help="delete an existing demo in --dir and build it again")
    p.add_argument("--no-prelabel", action="store_true", help="build the project but do not pre-label it")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from cli.progress import run_with_progress
    from workflows.demo import build_demo_project, demo_summary
    from workflows.progress import CancelToken

    token = CancelToken()
    if args.compositional:
        from workflows.demo_compose import (
            DEFAULT_IMAGES,
            build_compose_demo,
            compose_demo_summary,
            format_compose_summary,
        )

        gen_c = build_compose_demo(args.dir or Path("demo-compositional"), args.images or DEFAULT_IMAGES, token,
                                   rebuild=args.rebuild, prelabel=not args.no_prelabel, view_mode=args.views)
        path = run_with_progress(gen_c, "demo", cancel=token, quiet=args.quiet)
        print(format_compose_summary(compose_demo_summary(path)))
        return 0
    from workflows.demo import DEFAULT_IMAGES as FLAT_IMAGES

    gen = build_demo_project(args.dir or Path("demo-project"), args.images or FLAT_IMAGES, token,
                             rebuild=args.rebuild, prelabel=not args.no_prelabel, view_mode=args.views)
    path = run_with_progress(gen, "demo", cancel=token, quiet=args.quiet)
    print(format_summary(demo_summary(path)))
    return 0


def format_summary(s: DemoSummary) -> str:
    """Plain-text summary for the terminal."""
    lines = [
        f"demo project: {s.project_path}",
        f"  images: {s.n_images} readable, {s.n_errors} unreadable (on purpose: see below); classes: {s.n_classes}",
    ]
    if s.accuracy is None:
        lines.append("  no pre-labels yet (run `lazlabel prelabel` in that folder)")
    else:
        lines.append(f"  pre-label accuracy vs generated ground truth: {100 * s.accuracy:.1f}% "
                     f"({s.n_correct}/{s.n_predicted})")
        if s.n_flipped:
            lines.append(f"  audit: {s.n_flipped} imported labels were flipped on purpose; the pre-label disagrees "
                         f"with {s.flipped_flagged} of them (and with {s.clean_flagged} correct labels)")
        worst = sorted(((c / t if t else 1.0), name, c, t) for name, (c, t) in s.per_class.items() if t)[:3]
        lines.append("  hardest classes: " + ", ".join(f"{n} {c}/{t}" for _, n, c, t in worst))
    for path, reason in s.errors:
        lines.append(f"  unreadable: {path}: {reason}")
    lines.append(f"next: cd {s.project_path.parent} && lazlabel review / lazlabel audit run (or lazlabel-desktop)")
    return "\n".join(lines)

