"""Subcommands `export` and `import-labels` (issue #7)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.progress import Job, R
from cli.project_cmds import open_project
from workflows.errors import UserError
from workflows.progress import CancelToken


def _nothing_kept(gen: Job[R]) -> Job[R]:
    """A cancelled export keeps nothing: say so (not "finished batches are saved") and interrupt."""
    from workflows.progress import Cancelled

    try:
        return (yield from gen)
    except Cancelled as err:
        print(f"\nlazlabel: {err or 'cancelled'}", file=sys.stderr)
        raise KeyboardInterrupt from None


def _drive(gen: Job[R], label: str, cancel: CancelToken | None = None) -> R:
    """Run a use case with the shared progress bar; the first Ctrl+C cancels cleanly, and the
    generator is closed on every exit so the export removes its temporary folder."""
    from cli.progress import run_with_progress

    return run_with_progress(_nothing_kept(gen), label, cancel=cancel)


def _kv(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _list(formats: dict[str, str]) -> int:
    width = max((len(n) for n in formats), default=0)
    for name, desc in formats.items():
        print(f"{name:<{width}}  {desc}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from workflows import export as wf

    if args.list:
        return _list(wf.list_formats())
    if not args.format or not args.out:
        raise UserError("usage: lazlabel export FORMAT OUT [options] (formats: lazlabel export --list)")
    args.format = wf.format_name(args.format)
    splits = wf.parse_splits(args.split) if args.split else None
    project = open_project(args)
    cancel = CancelToken()
    try:
        gen = wf.export(
            project,
            args.format,
            args.out,
            mode=args.mode,
            splits=splits,
            seed=args.seed,
            include_predictions_above=args.include_predictions_above,
            include_unsure_set=args.include_unsure,
            classes=args.classes,
            options=dict(args.option or []),
            overwrite=args.overwrite,
            cancel=cancel,
        )
        summary = _drive(gen, f"export {args.format}", cancel)
    finally:
        project.close()
    parts = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_split.items()))
    print(f"exported {summary.n_samples} image(s) as {args.format} to {summary.out_dir} ({parts})")
    for w in summary.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace) -> int:
    from workflows import import_labels as wf

    if args.list:
        return _list(wf.list_formats())
    if not args.format or not args.path:
        raise UserError("usage: lazlabel import-labels FORMAT PATH (formats: lazlabel import-labels --list)")
    project = open_project(args)
    try:
        r = wf.import_labels(
            project, args.format, args.path, create_classes=not args.no_create_classes, source=args.source
        )
    finally:
        project.close()
    print(
        f"imported {r.n_imported} label(s) from {r.path} as source '{r.source}' "
        f"({r.n_rows} rows, {len(r.unmatched)} unmatched, {r.n_no_label} without a label"
        + (f", {r.n_by_content} matched by file name and content" if r.n_by_content else "")
        + (f", replaced {r.replaced} earlier" if r.replaced else "")
        + ")"
    )
    if r.created_classes:
        print(f"new classes: {', '.join(r.created_classes)}")
    if r.duplicates:
        print(
            f"warning: {r.duplicates} image(s) listed more than once (the last label kept)", file=sys.stderr
        )
    if r.unknown_labels:
        print(f"warning: {r.unknown_labels} label(s) name no class (kept as text)", file=sys.stderr)
    if r.unmatched:
        shown = r.unmatched[:10]
        print(f"warning: {len(r.unmatched)} path(s) match no project image:", file=sys.stderr)
        for p in shown:
            print(f"  {p}", file=sys.stderr)
        if len(r.unmatched) > len(shown):
            print(
                f"  ... ({len(r.unmatched) - len(shown)} more; --unmatched-out FILE lists all)",
                file=sys.stderr,
            )
        if args.unmatched_out:
            Path(args.unmatched_out).write_text("".join(p + "\n" for p in r.unmatched), encoding="utf-8")
    return 0


def register(subs: argparse._SubParsersAction) -> None:
    """Add `export` and `import-labels`."""
    p = subs.add_parser(
        "export",
        help="export audited labels (imagefolder, csv, jsonl, hf-imagefolder, fiftyone, labelstudio, imagenet)",
        description="Export decided images (accepted/corrected) atomically into a new folder OUT.",
    )
    p.add_argument("format", nargs="?", metavar="FORMAT", help="export format (see --list)")
    p.add_argument("out", nargs="?", metavar="OUT", help="new (or empty) output folder")
    p.add_argument("--list", action="store_true", help="list the installed export formats")
    p.add_argument(
        "--mode", choices=("copy", "hardlink", "symlink"), default="copy", help="how images are placed"
    )
    p.add_argument(
        "--split", metavar="SPEC", help="seeded stratified splits, e.g. train=0.8,val=0.1,test=0.1"
    )
    p.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    p.add_argument(
        "--include-predictions-above",
        type=float,
        metavar="SCORE",
        help="also export unreviewed images whose prediction scores at least SCORE",
    )
    p.add_argument(
        "--include-unsure",
        action="store_true",
        help="add rejected/uncertain images as a separate 'unsure' set",
    )
    p.add_argument("--classes", nargs="+", metavar="CLASS", help="export only these classes")
    p.add_argument(
        "--option", "-o", type=_kv, action="append", metavar="KEY=VALUE", help="format-specific option"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier lazlabel export in OUT (refused if OUT holds files that export did not write)",
    )
    p.set_defaults(func=_export)

    q = subs.add_parser(
        "import-labels",
        help="import existing labels for audit (folder, csv, jsonl, fiftyone, labelstudio)",
        description="Import labels as imported labels (audited against predictions; never decisions).",
    )
    q.add_argument("format", nargs="?", metavar="FORMAT", help="label format (see --list)")
    q.add_argument("path", nargs="?", metavar="PATH", help="label file or folder")
    q.add_argument("--list", action="store_true", help="list the installed import formats")
    q.add_argument("--source", help="name of this label source (default: the format); re-import replaces it")
    q.add_argument(
        "--no-create-classes", action="store_true", help="do not create classes for unknown labels"
    )
    q.add_argument("--unmatched-out", metavar="FILE", help="write every unmatched path to FILE")
    q.set_defaults(func=_import)
