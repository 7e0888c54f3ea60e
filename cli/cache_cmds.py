"""`lazlabel cache verify|clear`: check the feature cache beside the project, or remove it.

The cache only holds what pre-label can compute again, so `clear` asks nothing; `verify` checks
every shard's sizes and sha256 sums and removes damaged ones (the next pre-label encodes exactly
those images again; see docs/architecture.md, "Run and cache life cycle").
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from cli.project_cmds import with_project


def _feature_dirs(root: Path) -> list[tuple[str, str, Path]]:
    """(model dir, view dir, path) of every cache space under `root`."""
    if not root.is_dir():
        return []
    return [(m.name, v.name, v) for m in sorted(root.iterdir()) if m.is_dir() for v in sorted(m.iterdir()) if v.is_dir()]


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def _verify(project: Any, _args: argparse.Namespace) -> int:
    from engine.cache import FeatureCache
    from workflows.feature_store import feature_root

    project.refuse_if_read_only("cache verify")
    root = feature_root(project)
    spaces = _feature_dirs(root)
    if not spaces:
        print(f"no feature cache at {root} (pre-label fills it)")
        return 0
    total_rows = total_bad = 0
    for model, view, path in spaces:
        check = FeatureCache(root, model, view, space=path).verify()
        total_rows += check.rows
        total_bad += len(check.damaged)
        state = "ok" if not check.damaged else f"{len(check.damaged)} damaged shard(s) removed"
        print(f"{model}/{view}: {check.shards} shards, {check.rows} images: {state}")
        for sid, why, n in check.damaged[:10]:
            print(f"  {sid}: {why} ({n} images; pre-label encodes them again)")
        if check.debris:
            print(f"  {check.debris} half-written file(s) of an interrupted write removed")
    print(f"{total_rows} cached images checked, {total_bad} damaged shard(s) removed")
    return 0


def _clear(project: Any, _args: argparse.Namespace) -> int:
    from workflows.feature_store import feature_root

    project.refuse_if_read_only("cache clear")
    root = feature_root(project)
    size = _size(root)
    if root.exists():
        shutil.rmtree(root)
    print(f"feature cache cleared ({size / 1e6:.1f} MB); the next pre-label encodes every image again")
    return 0


def register(subs: argparse._SubParsersAction) -> None:
    """Add `cache verify` and `cache clear`."""
    p = subs.add_parser("cache", help="check (verify) or remove (clear) the feature cache")
    cache_subs = p.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    v = cache_subs.add_parser("verify", help="check sizes and checksums of every shard; remove damaged ones")
    v.set_defaults(func=with_project(_verify))
    c = cache_subs.add_parser("clear", help="remove the feature cache (pre-label rebuilds it)")
    c.set_defaults(func=with_project(_clear))
