"""Subcommands for runs and review: prelabel, rescore, runs, review, decide, undo, stats (issue #6)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from typing import Any

from cli.progress import Job, R
from cli.project_cmds import with_project
from workflows.errors import UserError
from workflows.progress import CancelToken


# --- shared helpers ----------------------------------------------------------------------------
def _drive(start: Callable[[CancelToken], Job[R]], label: str) -> R:
    """Run a use case under the shared progress bar; the first Ctrl+C stops it at a batch boundary."""
    from cli.progress import run_with_progress

    token = CancelToken()
    return run_with_progress(start(token), label, cancel=token)


def _settings(project: Any, args: argparse.Namespace) -> Any:
    """Project settings with this command's overrides (not saved unless --save)."""
    from workflows.settings import load_settings, save_settings

    s = load_settings(project)
    overrides = {
        "model": args.model,
        "view_mode": args.mode,
        "device": args.device,
        "precision": args.precision,
        "method": args.method,
        "n_crops": args.crops,
        "batch_size": args.batch_size,
        "cache_dir": getattr(args, "cache_dir", None),
    }
    s = dataclasses.replace(s, **{k: v for k, v in overrides.items() if v is not None})
    if getattr(args, "save", False):
        save_settings(project, s)
    return s




def _table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


# --- handlers ---------------------------------------------------------------------------------
WAIT_POLL_S = 1.0


def _prelabel(project: Any, args: argparse.Namespace) -> int:
    import sys
    import time

    from db.store_runs import RunInProgress
    from workflows.prelabel import run_prelabel

    if args.join and args.force:
        raise UserError("--join works on the run in progress; --force starts a new one: choose one")
    if (args.workers is not None or args.gpus_per_worker is not None) and args.ray is None:
        raise UserError("--workers and --gpus-per-worker shape the Ray worker pool: use them with --ray")
    settings = _settings(project, args)

    def start(c: CancelToken) -> Any:
        if args.ray is not None:  # the only path that imports Ray
            from workflows.prelabel_ray import run_prelabel_ray

            return run_prelabel_ray(project, address=args.ray, workers=args.workers,
                                    gpus_per_worker=args.gpus_per_worker, scope=args.scope,
                                    settings=settings, cancel=c, join=args.join, force=args.force)
        return run_prelabel(project, scope=args.scope, settings=settings, cancel=c, join=args.join, force=args.force)

    while True:
        try:
            summary = _drive(start, "pre-label")
            break
        except RunInProgress as busy:
            if not args.wait:
                raise
            print(f"{busy}".split(";")[0] + "; waiting for it to finish (Ctrl+C to stop waiting)", file=sys.stderr)
            while project.run_lease(busy.run_id)[1]:
                time.sleep(WAIT_POLL_S)
    for note in summary.notes:
        print(note)
    print(summary.message)
    for iid, reason in list(summary.errors.items())[:10]:
        print(f"  error: {project.image(iid).rel_path}: {reason}")
    if len(summary.errors) > 10:
        print(f"  ... and {len(summary.errors) - 10} more unreadable images")
    return 0


def _rescore(project: Any, args: argparse.Namespace) -> int:
    from workflows.rescore import rescore

    res = _drive(
        lambda c: rescore(project, preview=args.preview, settings=_settings(project, args), cancel=c),
        "re-score",
    )
    print(res.message)
    names = project.class_names_by_id()
    moves = res.named_changes(names)
    if moves:
        print(_table([[a, b, n] for a, b, n in moves[: args.limit]], ["from", "to", "images"]))
    if args.preview and res.n_changed:
        print("commit with `lazlabel rescore` (without --preview)")
    return 0


def _runs(project: Any, args: argparse.Namespace) -> int:
    rows = [
        [
            r.id,
            r.kind,
            r.status,
            r.model_id,
            r.attribute_set_version[:10],
            f"{r.n_done}/{r.n_images}",
            r.n_errors,
            r.started_at.strftime("%Y-%m-%d %H:%M"),
            r.message or "",
        ]
        for r in project.runs()[: args.limit]
    ]
    print(
        _table(rows, ["run", "kind", "status", "model", "attributes", "done", "errors", "started", "message"])
    )
    return 0


def _review(project: Any, args: argparse.Namespace) -> int:
    from db.queries import ImageFilter
    from workflows.review import accept_above, resolve_class, review_queue

    class_id = resolve_class(project, args.class_name) if args.class_name else None
    if args.sample is not None or args.accept_vouched or args.propose or args.preview:
        from cli.vouch_cmds import vouch_command

        return vouch_command(project, args)
    if args.assign:  # team mode: split the queue (cli/team_cmds.py)
        from cli.team_cmds import _assign

        args.reviewers, args.limit = [args.assign], None
        return _assign(project, args)
    if args.accept_above is not None:
        from workflows.effort import record

        n = accept_above(project, args.accept_above, reviewer=args.reviewer, class_id=class_id)
        record(project, "bulk", "accept_above", n_images=n, commands=1, reviewer=args.reviewer)
        what = f" of class {args.class_name}" if args.class_name else ""
        print(f"accepted {n} predictions{what} with score >= {args.accept_above:g}")
        return 0
    names = project.class_names_by_id()
    status = None if args.status == "all" else args.status
    filt = ImageFilter(status="ok", review_status=status, class_id=class_id)
    if args.reviewer and project.has_assignments(args.reviewer):  # team mode: that reviewer's share
        filt = ImageFilter(status="ok", class_id=class_id, pending_for=args.reviewer)
    rows = review_queue(project, args.order, filt, seed=args.seed or 0, limit=args.limit)
    print(
        _table(
            [
                [r.rel_path, names.get(r.pred_class_id, ""), _fmt(r.pred_score), _fmt(r.pred_margin)]
                for r in rows
            ],
            ["image", "predicted", "score", "margin"],
        )
    )
    return 0


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.4f}"


def _decide(project: Any, args: argparse.Namespace) -> int:
    from workflows.review import decide, resolve_class, resolve_image

    image_id = resolve_image(project, args.path)
    class_id = resolve_class(project, args.label) if args.label else None
    action = args.action
    if action is None:
        if class_id is None:
            raise UserError(
                "give a LABEL, or an --action that needs none (rejected, uncertain, confirmed_negative)"
            )
        pred = project.latest_prediction(image_id)
        action = "accepted" if pred is not None and pred.class_id == class_id else "corrected"
    if action == "accepted" and class_id is not None:
        pred = project.latest_prediction(image_id)
        if pred is None or pred.class_id != class_id:
            raise UserError(
                f"cannot accept '{args.label}': it is not the prediction (use --action corrected)"
            )
        class_id = None
    from workflows.effort import record

    ids = decide(project, [image_id], action, class_id=class_id, reviewer=args.reviewer, note=args.note)
    record(project, "cli", action, commands=1, decision_ids=ids, reviewer=args.reviewer)
    hist = project.decision_history(image_id)[-1]
    print(f"{args.path}: {hist.action} {hist.class_name or ''}".rstrip())
    return 0


def _undo(project: Any, args: argparse.Namespace) -> int:
    from workflows.review import resolve_image, undo_many

    image_ids = [resolve_image(project, p) for p in args.paths]
    undo_many(project, image_ids, reviewer=args.reviewer)
    for path, image_id in zip(args.paths, image_ids):
        h = project.decision_history(image_id)[-1]
        print(f"{path}: back to {h.result_status} {h.class_name or ''}".rstrip())
    return 0


def _stats(project: Any, args: argparse.Namespace) -> int:
    from workflows.effort import effort_summary, format_summary
    from workflows.stats import project_stats

    st = project_stats(project)
    effort = effort_summary(project)
    if args.json:
        d = {**dataclasses.asdict(st), "agreement": st.agreement,
             "effort": {**dataclasses.asdict(effort), "per_label": effort.per_label,
                        "per_correct_label": effort.per_correct_label}}
        print(json.dumps(d, default=str))
        return 0
    print(f"images: {st.n_images} ({', '.join(f'{k} {v}' for k, v in sorted(st.by_status.items()))})")
    print(
        f"predicted: {st.n_predicted}  reviewed: {st.n_reviewed} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(st.by_review_status.items()))})"
    )
    if st.agreement is not None:
        print(f"reviewed vs predicted agreement: {st.agreement:.1%} ({st.n_agree}/{st.n_compared})")
    from cli.learn_cmds import learn_status_line

    line = learn_status_line(project)
    if line:
        print(line)
    for line in format_summary(effort):
        print(line)
    print(
        _table(
            [[c.name, c.predicted, c.decided, c.imported] for c in st.classes],
            ["class", "predicted", "decided", "imported"],
        )
    )
    return 0


# --- registration -----------------------------------------------------------------------------
def _engine_options(p: argparse.ArgumentParser) -> None:
    from cli.choices import add_method_option, add_view_mode_option

    p.add_argument("--model", help="model spec (alias, NAME:TAG, NAME@FILE, hf-hub:ORG/NAME[@REV], local-dir:PATH, random:NAME)")
    add_view_mode_option(p, "--mode")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--precision", choices=["auto", "fp32", "fp16", "bf16"])
    add_method_option(p, "--method")
    p.add_argument("--crops", type=int, help="number of random crops (random mode)")
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--cache-dir", dest="cache_dir", metavar="DIR|file://URL",
                   help="feature store (a shared folder); default beside the project; $LAZLABEL_CACHE_DIR wins")
    p.add_argument("--save", action="store_true", help="store these options in the project settings")


def register(subs: argparse._SubParsersAction) -> None:
    """Add this module's subcommands."""
    from workflows.review import QUEUE_ORDERS, REVIEWABLE_ACTIONS

    p = subs.add_parser("prelabel", help="pre-label images (resumes an interrupted run)")
    _engine_options(p)
    p.add_argument("--scope", choices=["all", "unlabelled"], default="all")
    p.add_argument("--force", action="store_true",
                   help="start a new run and encode every image again (drops their cached features)")
    lease = p.add_mutually_exclusive_group()
    lease.add_argument("--wait", action="store_true",
                       help="if another process is running a pre-label here, wait for it, then continue")
    lease.add_argument("--join", action="store_true",
                       help="if another process is running this pre-label, work on the images it has not reached")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="encode on a Ray cluster (auto, HOST:PORT, ray://HOST:10001); without ADDRESS a local "
                        "Ray instance; needs pip install 'lazlabel[ray]' and a --cache-dir every node mounts")
    p.add_argument("--workers", type=int, metavar="N",
                   help="Ray encoding actors (default: 8 per GPU as the cores allow, else one per CPU core)")
    p.add_argument("--gpus-per-worker", type=float, metavar="F", dest="gpus_per_worker",
                   help="each Ray actor's share of a GPU (default 0.125: eight actors cut views for one GPU)")
    p.set_defaults(func=with_project(_prelabel))

    p = subs.add_parser("rescore", help="re-score from cached features after attribute edits")
    _engine_options(p)
    p.add_argument("--preview", action="store_true", help="only report how many labels would change")
    p.add_argument("--limit", type=int, default=30, help="rows of the from/to table")
    p.set_defaults(func=with_project(_rescore))

    p = subs.add_parser("runs", help="list pre-label, re-score and audit runs")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=with_project(_runs))

    p = subs.add_parser("review", help="bulk-accept confident predictions, or list the review queue")
    p.add_argument("--accept-above", type=float, metavar="SCORE", dest="accept_above")
    p.add_argument("--class", dest="class_name", help="only images predicted (or decided) as this class")
    p.add_argument(
        "--status", default="unreviewed", help="review status to list (default: unreviewed; 'all' for any)"
    )
    p.add_argument("--order", choices=list(QUEUE_ORDERS), default="lowest_confidence")
    p.add_argument("--seed", type=int, help="seed of the random order / the audit sample (default: 0 / fresh)")
    p.add_argument("--limit", type=int, default=30)
    p.add_argument("--reviewer", help="list this reviewer's assigned images they have not decided yet (team mode)")
    p.add_argument("--assign", metavar="A,B,...", help="team mode: split the unreviewed images between reviewers")
    p.add_argument("--overlap", type=float, default=0.0, metavar="SHARE",
                   help="with --assign: share of the images every reviewer decides (agreement)")
    from cli.vouch_cmds import add_vouch_options

    add_vouch_options(p)
    p.set_defaults(func=with_project(_review))

    p = subs.add_parser("decide", help="record a decision for one image")
    p.add_argument("path", help="image path (relative to the image root, or a path to the file)")
    p.add_argument("label", nargs="?", help="class name (accept if it is the prediction, else correct)")
    p.add_argument("--action", choices=list(REVIEWABLE_ACTIONS))
    p.add_argument("--note")
    p.add_argument("--reviewer")
    p.set_defaults(func=with_project(_decide))

    p = subs.add_parser("undo", help="undo the latest decision on images (recorded, never deleted)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--reviewer")
    p.set_defaults(func=with_project(_undo))

    p = subs.add_parser("stats", help="counts per class and status, agreement of reviews with predictions")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=with_project(_stats))
