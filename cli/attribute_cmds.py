"""`lazlabel classes ...` and `lazlabel attributes ...` (issue #5)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

from cli.progress import Job, R, run_with_progress
from cli.project_cmds import open_project, with_project

# --- shared helpers ---------------------------------------------------------------------------
# Store edit errors (AttributeEditError) are ProjectErrors: cli.main prints them as one line.


def _who(project: Any) -> str:
    from workflows.settings import load_settings

    return load_settings(project).effective_reviewer


def _drive(gen: Job[R], label: str) -> R:
    return run_with_progress(gen, label)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


# --- classes ------------------------------------------------------------------------------------
@with_project
def _classes_add(project: Any, args: argparse.Namespace) -> int:
    from workflows.attributes import add_classes

    res = add_classes(project, args.names, _who(project))
    for cid, name in zip(res.ids, res.names, strict=True):
        print(f"added class {name!r} (id {cid})")
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


@with_project
def _classes_list(project: Any, args: argparse.Namespace) -> int:
    rows = project.list_classes(active_only=args.active)
    if args.json:
        _print_json([r.__dict__ for r in rows])
        return 0
    if not rows:
        print("no classes yet: `lazlabel classes add NAME...` or `lazlabel attributes import FILE`")
        return 0
    for r in rows:
        off = "" if r.active else "  [disabled]"
        attrs = (
            f"{r.n_active_attributes}/{r.n_attributes}"
            if r.n_active_attributes != r.n_attributes
            else r.n_attributes
        )
        print(f"{r.id:>6}  {attrs!s:>5} attrs  {r.name}{off}")
    print(f"{len(rows)} classes; attribute set {project.attribute_set_version()[:12]}")
    return 0


@with_project
def _classes_import(project: Any, args: argparse.Namespace) -> int:
    from workflows.attributes import import_attributes

    res = import_attributes(project, args.file, fmt=args.format, who=_who(project), classes_only=True)
    print(
        f"{len(res.classes_added)} classes added, {res.classes_in_file - len(res.classes_added)} already present"
    )
    print(f"note: {res.order_note}")
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


@with_project
def _classes_rename(project: Any, args: argparse.Namespace) -> int:
    from workflows.text import lookalikes

    cid = project.get_class(args.old).id
    project.rename_class(cid, args.new, _who(project))
    new = project.get_class(cid).name
    print(f"renamed {args.old!r} to {new!r}")
    others = [c.name for c in project.list_classes() if c.id != cid]
    for w in lookalikes([new], others):
        print(f"warning: {w}", file=sys.stderr)
    return 0


@with_project
def _classes_merge(project: Any, args: argparse.Namespace) -> int:
    project.merge_classes(args.sources, args.into, _who(project))
    print(f"merged {', '.join(map(repr, args.sources))} into {args.into!r}")
    return 0


@with_project
def _classes_delete(project: Any, args: argparse.Namespace) -> int:
    for name in args.names:
        project.delete_class(name, _who(project), force=args.force)
        print(f"deleted class {name!r}")
    return 0


def _set_class_active(active: bool) -> Callable[[argparse.Namespace], int]:
    @with_project
    def handler(project: Any, args: argparse.Namespace) -> int:
        for name in args.names:
            project.set_class_active(name, active, _who(project))
        print(f"{'enabled' if active else 'disabled'} {len(args.names)} classes")
        return 0

    return handler


# --- attributes ---------------------------------------------------------------------------------
@with_project
def _attrs_propose(project: Any, args: argparse.Namespace) -> int:
    from workflows.attributes import check_propose_args, propose_attributes

    check_propose_args(timeout=args.timeout, retries=args.retries, n=args.n, concurrency=args.concurrency)
    gen = propose_attributes(
        project,
        class_ids=args.classes,
        model=args.model,
        replace=args.replace,
        concurrency=args.concurrency,
        timeout=args.timeout,
        retries=args.retries,
        n=args.n,
        host=args.host,
        who=_who(project),
    )
    try:
        res = _drive(gen, "proposing")
    except KeyboardInterrupt:
        gen.close()
        print(
            "stopped: classes already answered are saved; run the same command again to continue",
            file=sys.stderr,
        )
        return 130
    print(f"{len(res.saved)} classes saved from {res.model} (prompt {res.prompt_version or '-'})")
    if res.skipped:
        print(f"{len(res.skipped)} classes already had attributes and were skipped (use --replace to re-ask)")
    for item in res.saved:
        for w in item.warnings:
            print(f"warning: {item.class_name}: {w}", file=sys.stderr)
    if res.failures:
        print(f"{len(res.failures)} classes failed:", file=sys.stderr)
        for reason, count in Counter(r for _, r in res.failures).most_common(5):
            names = [n for n, r in res.failures if r == reason]
            print(f"  {count} x {reason}" if count > 1 else f"  {names[0]}: {reason}", file=sys.stderr)
    if res.not_attempted:
        print(f"{len(res.not_attempted)} classes not attempted after a fatal error", file=sys.stderr)
    print(f"attribute set {res.attribute_set_version[:12]}")
    return 0 if res.ok else 1


@with_project
def _attrs_import(project: Any, args: argparse.Namespace) -> int:
    from workflows.attributes import import_attributes

    res = import_attributes(
        project, args.file, fmt=args.format, mode="replace" if args.replace else "merge", who=_who(project)
    )
    print(
        f"{res.path} ({res.format}): {res.classes_in_file} classes, {len(res.classes_added)} new; "
        f"{res.attributes_added} attributes added, {res.attributes_removed} removed ({res.mode})"
    )
    print(f"note: {res.order_note}")
    if res.duplicates_dropped:
        print(
            f"note: {len(res.duplicates_dropped)} duplicate attributes dropped, e.g. {res.duplicates_dropped[0]}"
        )
    if res.classes_not_in_file:
        print(
            f"note: {len(res.classes_not_in_file)} existing classes are not in the file and were left alone"
        )
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"attribute set {res.attribute_set_version[:12]}")
    return 0


@with_project
def _attrs_export(project: Any, args: argparse.Namespace) -> int:
    from workflows.attributes import export_attributes

    res = export_attributes(project, args.file, fmt=args.format, include_inactive=args.all)
    print(f"wrote {res.classes} classes, {res.attributes} attributes to {res.path} ({res.format})")
    return 0


@with_project
def _attrs_list(project: Any, args: argparse.Namespace) -> int:
    rows = project.list_attributes(args.class_name)
    if args.json:
        _print_json([r.__dict__ for r in rows])
        return 0
    current = None
    for r in rows:
        if r.class_id != current:
            current = r.class_id
            print(r.class_name)
        prov = r.source + (f" {r.origin_model}" if r.origin_model else "") + (", edited" if r.edited else "")
        state = "" if r.active else "[off] "
        print(f"  {r.id:>6}  {state}{r.text}  ({prov})")
    if not rows:
        print("no attributes")
    return 0


@with_project
def _attrs_add(project: Any, args: argparse.Namespace) -> int:
    from workflows.attributes import add_attributes

    ids, notes = add_attributes(project, args.class_name, args.texts, _who(project))
    for aid in ids:
        print(f"added attribute {aid}")
    for w in notes:
        print(f"warning: {w}", file=sys.stderr)
    return 0


@with_project
def _attrs_edit(project: Any, args: argparse.Namespace) -> int:
    project.edit_attribute(args.id, args.text, _who(project))
    return 0


@with_project
def _attrs_delete(project: Any, args: argparse.Namespace) -> int:
    for aid in args.ids:
        project.delete_attribute(aid, _who(project))
    print(f"deleted {len(args.ids)} attributes")
    return 0


def _set_attr_active(active: bool) -> Callable[[argparse.Namespace], int]:
    @with_project
    def handler(project: Any, args: argparse.Namespace) -> int:
        for aid in args.ids:
            project.set_attribute_active(aid, active, _who(project))
        return 0

    return handler


@with_project
def _attrs_history(project: Any, args: argparse.Namespace) -> int:
    rows = project.attribute_history(class_id=args.class_name, limit=args.limit)
    for e in rows:
        target = f"attr {e.attribute_id}" if e.attribute_id else f"class {e.class_id}"
        change = json.dumps({"before": e.before, "after": e.after}, ensure_ascii=False)[:160]
        print(f"{e.at:%Y-%m-%d %H:%M:%S}  {e.who or '-':<12} {e.action:<15} {target:<12} {change}")
    return 0


@with_project
def _attrs_version(project: Any, args: argparse.Namespace) -> int:
    if args.diff:
        from workflows.attributes import compare_attribute_sets

        _print_json(compare_attribute_sets(project, *args.diff))
        return 0
    print(project.attribute_set_version())
    return 0


def _attrs_models(args: argparse.Namespace) -> int:
    from workflows.attributes import list_ollama_models
    from workflows.settings import load_settings

    project = open_project(args)
    try:
        settings = load_settings(project)
        models = list_ollama_models(project, host=args.host)
    finally:
        project.close()
    if not models:
        print(
            f"no models installed on {args.host or settings.effective_ollama_host}: run `ollama pull {settings.ollama_model}`"
        )
        return 1
    for m in models:
        size = f"{m.size / 1e9:.1f} GB" if m.size else ""
        mark = "*" if m.name.split(":")[0] == settings.ollama_model.split(":")[0] else " "
        print(f"{mark} {m.name:<32} {m.parameter_size or '':>8} {size:>9}")
    return 0


# --- parser -------------------------------------------------------------------------------------
def register(subs: argparse._SubParsersAction) -> None:
    """Add `classes` and `attributes` with their subcommands."""
    classes = subs.add_parser("classes", help="add, list, import, rename, merge, delete classes")
    cs = classes.add_subparsers(dest="classes_command", metavar="ACTION", required=True)
    p = cs.add_parser("add", help="add classes by name")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.set_defaults(func=_classes_add)
    p = cs.add_parser("list", help="list classes in display order")
    p.add_argument("--active", action="store_true", help="only enabled classes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_classes_list)
    p = cs.add_parser("import", help="add class names from .txt (one per line), descriptor .json or .csv")
    p.add_argument("file")
    p.add_argument("--format", help="descriptor-json | csv | txt (default: by suffix)")
    p.set_defaults(func=_classes_import)
    p = cs.add_parser("rename", help="rename a class")
    p.add_argument("old")
    p.add_argument("new")
    p.set_defaults(func=_classes_rename)
    p = cs.add_parser("merge", help="fold classes into another (labels and attributes move)")
    p.add_argument("sources", nargs="+", metavar="SRC")
    p.add_argument("--into", required=True, metavar="DST")
    p.set_defaults(func=_classes_merge)
    p = cs.add_parser("delete", help="delete unused classes")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--force", action="store_true", help="even if decisions or imported labels use them")
    p.set_defaults(func=_classes_delete)
    for verb, active in (("enable", True), ("disable", False)):
        p = cs.add_parser(verb, help=f"{verb} classes for scoring")
        p.add_argument("names", nargs="+", metavar="NAME")
        p.set_defaults(func=_set_class_active(active))

    attrs = subs.add_parser("attributes", help="propose, import, export, list and edit class attributes")
    at = attrs.add_subparsers(dest="attributes_command", metavar="ACTION", required=True)
    p = at.add_parser("propose", help="ask a local LLM (Ollama) for visual attributes")
    p.add_argument("--model", "-m", help="Ollama model (default: the ollama_model setting)")
    p.add_argument(
        "--classes", nargs="+", metavar="NAME", help="only these classes (default: all without attributes)"
    )
    p.add_argument("--replace", action="store_true", help="replace existing attributes (default: keep them)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="parallel requests; match the server's OLLAMA_NUM_PARALLEL (default 4)",
    )
    p.add_argument("--timeout", type=float, help="seconds per class (default 120)")
    p.add_argument("--retries", type=int, help="extra attempts per class (default 2)")
    p.add_argument("--n", type=int, help="attributes per class (default: the n_attributes setting)")
    p.add_argument(
        "--host", help="Ollama server URL (default: the ollama_host setting, $OLLAMA_HOST, :11434)"
    )
    p.set_defaults(func=_attrs_propose)
    p = at.add_parser("import", help="import a descriptor JSON or class,attribute CSV")
    p.add_argument("file")
    p.add_argument("--format", help="descriptor-json | csv (default: by suffix)")
    p.add_argument("--replace", action="store_true", help="listed classes get exactly the file's attributes")
    p.set_defaults(func=_attrs_import)
    p = at.add_parser("export", help="export attributes as descriptor JSON or CSV (atomic)")
    p.add_argument("file")
    p.add_argument("--format", help="descriptor-json | csv (default: by suffix)")
    p.add_argument("--all", action="store_true", help="include disabled classes and attributes")
    p.set_defaults(func=_attrs_export)
    p = at.add_parser("list", help="list attributes with their provenance")
    p.add_argument("--class", dest="class_name", metavar="NAME")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_attrs_list)
    p = at.add_parser("models", help="list the models installed on the Ollama server")
    p.add_argument(
        "--host", help="Ollama server URL (default: the ollama_host setting, $OLLAMA_HOST, :11434)"
    )
    p.set_defaults(func=_attrs_models)
    p = at.add_parser("add", help="add attributes to a class by hand")
    p.add_argument("class_name", metavar="CLASS")
    p.add_argument("texts", nargs="+", metavar="TEXT")
    p.set_defaults(func=_attrs_add)
    p = at.add_parser("edit", help="change an attribute's text")
    p.add_argument("id", type=int)
    p.add_argument("text")
    p.set_defaults(func=_attrs_edit)
    p = at.add_parser("delete", help="delete attributes by id")
    p.add_argument("ids", nargs="+", type=int, metavar="ID")
    p.set_defaults(func=_attrs_delete)
    for verb, active in (("enable", True), ("disable", False)):
        p = at.add_parser(verb, help=f"{verb} attributes by id")
        p.add_argument("ids", nargs="+", type=int, metavar="ID")
        p.set_defaults(func=_set_attr_active(active))
    p = at.add_parser("history", help="the edit log (who, when, before/after)")
    p.add_argument("--class", dest="class_name", metavar="NAME")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=_attrs_history)
    p = at.add_parser("version", help="the current attribute-set version, or --diff OLD NEW")
    p.add_argument("--diff", nargs=2, metavar=("OLD", "NEW"))
    p.set_defaults(func=_attrs_version)
    from cli.refine_cmds import register_refine  # attributes refine (issue #17)

    register_refine(at)
