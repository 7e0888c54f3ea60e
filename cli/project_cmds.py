"""Project subcommands: `init`, `scan`, `status`; and how every command finds its project.

Other command modules use `find_project_file(args.project)` / `open_project(args)`, so
`--project` means the same everywhere: a project file, a folder holding exactly one, or (when
omitted) the one `*.lazlabel` file in the current directory.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from db import PROJECT_SUFFIX, Project, ProjectError
from db.location import is_url
from workflows.errors import UserError
from workflows.progress import CancelToken

if TYPE_CHECKING:
    from workflows.scan import ScanResult

EXAMPLES_PER_REASON = 3


# --- finding the project ------------------------------------------------------------------------


def find_project_file(arg: str | None, cwd: Path | None = None) -> Path | str:
    """The project file `--project` names (a file, or a folder with exactly one), else the one in
    cwd; a database URL (team project, `postgresql+psycopg://user@host/name`) is returned as is."""
    if arg and is_url(arg):
        return arg
    if arg:
        p = Path(arg).expanduser()
        # what `init NAME` writes (project_file_for_init); "." and "/" have no name to extend
        named = p.with_name(p.name + PROJECT_SUFFIX) if p.name else p
        if p.is_dir() and not (named.is_file() and not any(p.glob(f"*{PROJECT_SUFFIX}"))):
            return _single_project_in(p, hint="--project")
        if p.is_file():
            return p
        if named.is_file():
            return named
        raise UserError(f"no project at {p} (create one with `lazlabel init {p} --images DIR`)")
    return _single_project_in(cwd or Path.cwd(), hint=None)


def _single_project_in(folder: Path, hint: str | None) -> Path:
    found = sorted(p for p in folder.glob(f"*{PROJECT_SUFFIX}") if p.is_file())
    if len(found) == 1:
        return found[0]
    if not found:
        where = "there" if hint else "in the current directory"
        raise UserError(
            f"no *{PROJECT_SUFFIX} project {where} ({folder}); pass --project PATH or run `lazlabel init`"
        )
    names = ", ".join(p.name for p in found)
    raise UserError(f"several projects in {folder} ({names}); choose one with --project PATH")


def open_project(args: argparse.Namespace) -> Project:
    """Open the project selected by `args.project` (see `find_project_file`)."""
    project: Project = Project.open(find_project_file(getattr(args, "project", None)))
    return project


def with_project(fn: Callable[[Project, argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn `fn(project, args)` into a subcommand handler that opens and always closes the project."""

    def handler(args: argparse.Namespace) -> int:
        project = open_project(args)
        try:
            return fn(project, args)
        finally:
            project.close()

    return handler


def project_file_for_init(arg: str) -> Path:
    """`init` target: a folder or a name without suffix becomes `<folder>/<name>.lazlabel`."""
    p = Path(arg).expanduser()
    if p.is_dir():
        return p / f"{p.resolve().name}{PROJECT_SUFFIX}"
    if not p.suffix:
        return p.with_name(p.name + PROJECT_SUFFIX)
    return p


# --- commands -----------------------------------------------------------------------------------


def _scan(project: Project, args: argparse.Namespace) -> ScanResult:
    from cli.progress import run_with_progress
    from workflows.scan import scan_folder

    token = CancelToken()
    gen = scan_folder(project, token, workers=args.workers, processes=args.processes, hash_all=args.hash)
    return run_with_progress(gen, "scanning", cancel=token, quiet=args.quiet)


def _print_scan(res: ScanResult) -> None:
    changed = f"{res.changed:,} changed"
    if res.stale_decisions:
        changed += f" ({res.stale_decisions:,} of them decided: back in review, decisions kept as stale)"
    changes = [f"{res.added:,} added", changed, f"{res.missing:,} newly missing"]
    if res.refreshed:
        changes.append(f"{res.refreshed:,} re-read")
    print(f"scanned {res.seen:,} image files in {res.elapsed_s:.1f} s ({res.rate:,.0f}/s): " + ", ".join(changes))
    for folder, why in res.skipped[:10]:
        print(f"  skipped folder {folder}: {why}")
    if len(res.skipped) > 10:
        print(f"  ... and {len(res.skipped) - 10} more skipped folders")


def cmd_init(args: argparse.Namespace) -> int:
    target = args.db or args.project_path
    if not target or (args.db and args.project_path):
        raise UserError("init needs one place for the project: a PROJECT file name, or --db URL (team project)")
    images = Path(args.images).expanduser()
    if not images.is_dir():
        raise UserError(f"image folder {images} does not exist or is not a folder")
    path: Path | str
    if is_url(target):
        path = target
    else:
        path = project_file_for_init(target)
        if path.exists():
            raise UserError(f"{path} already exists; re-scan it with `lazlabel --project {path} scan`")
        path.parent.mkdir(parents=True, exist_ok=True)
    with Project.create(path, images) as project:
        path = project.location
        print(f"created {path} for images in {project.image_root}")
        if args.no_scan:
            return 0
        try:
            res = _scan(project, args)
        except KeyboardInterrupt:
            print(f"project created; finish the scan with `lazlabel --project {path} scan`", file=sys.stderr)
            raise
        _print_scan(res)
        _print_status(project, path, errors_limit=EXAMPLES_PER_REASON)
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    with open_project(args) as project:
        if args.images:
            moved = Path(args.images).expanduser()
            if not moved.is_dir():
                raise UserError(f"image folder {moved} does not exist or is not a folder")
            project.set_setting("image_root", str(moved.resolve()))
            print(f"image folder is now {moved.resolve()} (paths inside it, and their decisions, are kept)")
        res = _scan(project, args)
        _print_scan(res)
        c = project.counts()
        print(f"{c['total']:,} images: {c['ok']:,} readable, {c['error']:,} unreadable, {c['missing']:,} missing")
    return 0


def status_data(project: Project, path: Path | str, errors_limit: int) -> dict[str, Any]:
    """What `status` prints, as plain data (also the --json output)."""
    c = project.counts()
    examples: dict[str, list[str]] = {}
    from db.store_images import error_kind

    for _id, rel, err in project.image_errors():
        bucket = examples.setdefault(error_kind(err), [])
        if len(bucket) < errors_limit:
            bucket.append(f"{rel}: {err}")
    try:
        root = str(project.image_root)
    except ProjectError:
        root = None
    return {"project": str(path), "image_root": root, **c, "error_examples": examples}


def _print_status(project: Project, path: Path | str, errors_limit: int) -> None:
    d = status_data(project, path, errors_limit)
    print(f"project      {d['project']}")
    gone = d["image_root"] and not Path(d["image_root"]).is_dir()
    note = "  (NOT FOUND: moved? point the project at it with `lazlabel scan --images DIR`)" if gone else ""
    print(f"images in    {d['image_root']}{note}")
    print(f"total        {d['total']:,}")
    print(f"readable     {d['ok']:,}")
    print(f"unreadable   {d['error']:,}")
    for reason, n in d["errors_by_reason"].items():
        print(f"  {n:>8,}  {reason}")
        for ex in d["error_examples"].get(reason, []):
            print(f"            e.g. {ex}")
    if d["missing"]:
        print(f"missing      {d['missing']:,}  (files gone since they were scanned; decisions kept)")
    print(f"predicted    {d['predicted']:,}")
    print(f"decided      {d['decided']:,}")
    for status, n in sorted(d["by_review_status"].items()):
        if status != "unreviewed":
            print(f"  {n:>8,}  {status}")
    if d["disagreements"]:
        print(f"disagree     {d['disagreements']:,}  (imported label differs from the current one)")


def cmd_status(args: argparse.Namespace) -> int:
    with Project.open(find_project_file(args.project)) as project:
        path = project.location
        if args.json:
            print(json.dumps(status_data(project, path, args.examples), indent=2))
        else:
            _print_status(project, path, args.examples)
    return 0


def _scan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hash", action="store_true", help="hash every file's bytes now (default: small files only)")
    p.add_argument("--workers", type=int, default=0, metavar="N", help="threads for header reads (default 0)")
    p.add_argument("--processes", type=int, default=0, metavar="N",
                   help="worker processes for header reads (big folders, idle cores; default 0)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def register(subs: argparse._SubParsersAction) -> None:
    """Add `init`, `scan` and `status`."""
    p = subs.add_parser("init", help="create a project for an image folder and scan it")
    p.add_argument("project_path", metavar="PROJECT", nargs="?",
                   help=f"project file to create (a folder or a name without suffix gets {PROJECT_SUFFIX})")
    p.add_argument("--db", metavar="URL",
                   help="a team project on PostgreSQL instead of a file: postgresql+psycopg://USER@HOST:PORT/NAME "
                        "(the password goes in ~/.pgpass, never in the URL)")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of images (scanned recursively)")
    p.add_argument("--no-scan", action="store_true", help="create the project without scanning")
    _scan_options(p)
    p.set_defaults(func=cmd_init)

    p = subs.add_parser("scan", help="re-scan the image folder: added, changed and removed files")
    p.add_argument("--images", metavar="DIR", help="the image folder moved here: point the project at it first")
    _scan_options(p)
    p.set_defaults(func=cmd_scan)

    p = subs.add_parser("status", help="counts: images, unreadable files and why, predicted, decided")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--examples", type=int, default=EXAMPLES_PER_REASON, metavar="N",
                   help=f"example files per unreadable reason (default {EXAMPLES_PER_REASON})")
    p.set_defaults(func=cmd_status)
