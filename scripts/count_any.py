"""Count `Any` in function signatures (parameters and return annotations), per package.

    python scripts/count_any.py [PACKAGE ...]   # default: the six top-level packages

A signature slot counts once when its annotation mentions `Any` anywhere (`Any`, `dict[str, Any]`,
`typing.Any`); the total is the number the type-checking work tracks (issue #15).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGES = ("engine", "db", "workflows", "plugins", "cli", "desktop")


def _mentions_any(node: ast.expr | None) -> bool:
    if node is None:
        return False
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id == "Any":
            return True
        if isinstance(sub, ast.Attribute) and sub.attr == "Any":
            return True
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and "Any" in sub.value:
            return True
    return False


def count_file(path: Path) -> tuple[int, int]:
    """(parameters annotated with Any, returns annotated with Any) in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    params = returns = 0
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            every = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x)]
            params += sum(_mentions_any(arg.annotation) for arg in every)
            returns += _mentions_any(node.returns)
    return params, returns


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    total_p = total_r = 0
    for pkg in argv or PACKAGES:
        p = r = 0
        for path in sorted((root / pkg).rglob("*.py")):
            fp, fr = count_file(path)
            p, r = p + fp, r + fr
        print(f"{pkg:<10} {p:>4} parameters  {r:>4} returns")
        total_p, total_r = total_p + p, total_r + r
    print(f"{'total':<10} {total_p:>4} parameters  {total_r:>4} returns  ({total_p + total_r} signature slots)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
