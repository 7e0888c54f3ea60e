"""`lazlabel models list | pull`: the models in the Hugging Face cache, and an explicit download.

Loading a model never downloads anything; `models pull` is the one place that does, and only the
spec it is given (plus the tokenizer / text-tower repos that model's config names).
"""

from __future__ import annotations

import argparse
import json


def register(subs: argparse._SubParsersAction) -> None:
    """Add this module's subcommands."""
    p = subs.add_parser("models", help="models in the local Hugging Face cache; download one (pull)",
                        description="List the open_clip models in the Hugging Face cache (HF_HUB_CACHE, "
                        "else HF_HOME/hub) and the recommended ones, or download one explicitly.")
    msubs = p.add_subparsers(dest="models_command", metavar="ACTION")
    lp = msubs.add_parser("list", help="cached models with their size, and the recommended ones")
    lp.add_argument("--json", action="store_true", help="machine-readable output")
    lp.set_defaults(func=cmd_list)
    pp = msubs.add_parser("pull", help="download a model into the Hugging Face cache (with a progress bar)",
                          description="Download SPEC (hf-hub:ORG/NAME[@REVISION] or an open_clip NAME:TAG) into "
                          "the Hugging Face cache; HF_ENDPOINT and HF_TOKEN are honoured. Files already cached "
                          "are not downloaded again; a dropped connection resumes where it stopped.")
    pp.add_argument("spec", metavar="SPEC", help="hf-hub:ORG/NAME[@REVISION] or NAME:TAG")
    pp.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    pp.set_defaults(func=cmd_pull)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def human_size(n: int, approx: bool = False) -> str:
    """Bytes for people: 13.3 MB, 1.5 GB (with ~ when approximate)."""
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{'~' if approx else ''}{n / div:.1f} {unit}"
    return f"{n} B"


def cmd_list(args: argparse.Namespace) -> int:
    from engine.hub import hub_cache_dir
    from workflows.models import model_catalog

    rows = model_catalog()
    if args.json:
        print(json.dumps({"cache": str(hub_cache_dir()), "models": rows}, indent=1))
        return 0
    cached = [r for r in rows if r["cached"]]
    print(f"cached in {hub_cache_dir()}:" if cached else f"no open_clip models cached in {hub_cache_dir()}")
    for r in cached:
        rev = f"{', '.join(r['refs']) or 'commit'} -> {r['commit'][:12]}" if r.get("commit") else "open_clip cache"
        print(f"  {r['spec']:<52} {human_size(r['size_bytes'], r.get('approx', False)):>9}  {rev}")
    todo = [r for r in rows if r["recommended"] and not r["cached"]]
    if todo:
        print("recommended (download with `lazlabel models pull SPEC`):")
        for r in todo:
            print(f"  {r['spec']:<52} {human_size(r['size_bytes'], True):>9}  {r['what']}")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from cli.progress import run_with_progress
    from workflows.models import pull_model
    from workflows.progress import CancelToken

    token = CancelToken()
    res = run_with_progress(pull_model(args.spec, token), "pull", cancel=token, quiet=args.quiet)
    print(f"{res['spec']}: {len(res['files'])} files, {human_size(res['bytes'])} in the Hugging Face cache; "
          f"use it with --model {res['spec']}")
    return 0
