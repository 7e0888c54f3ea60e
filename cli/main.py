"""`lazlabel` command line. Subcommands live in small modules, each with `register(subparsers)`.

Conventions for every command: `--project PATH` (default: the one `*.lazlabel` file in the
current directory); exit 0 on success, 1 on a user-facing error (one line on stderr, traceback
only with `--debug`), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

# Modules that add subcommands; each defines `register(subparsers: argparse._SubParsersAction)`
# and sets `func=` on its parsers. Handlers take the parsed args and return an exit code.
COMMAND_MODULES = (
    "cli.project_cmds",  # init, scan, status          (issue #2)
    "cli.attribute_cmds",  # classes, attributes        (issue #5)
    "cli.run_cmds",  # prelabel, rescore, review, decide, audit, stats (issue #6)
    "cli.export_cmds",  # export, import-labels       (issue #7)
    "cli.demo_cmds",  # demo                           (issues #4, #8)
    "cli.explain_cmds",  # explain                     (issue #12)
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lazlabel", description=__doc__.splitlines()[0])
    parser.add_argument("--project", "-p", help="project file (default: the *.lazlabel file in .)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from workflows.errors import UserError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("lazlabel: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lazlabel ... | head`: the reader left; not an error of ours
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as err:  # noqa: BLE001 - the one place that turns errors into exit codes
        if args.debug:
            traceback.print_exc()
        known = (UserError,) + _known_errors()
        if isinstance(err, known):
            print(f"lazlabel: {err}", file=sys.stderr)
            return 1
        if not args.debug:
            print(f"lazlabel: internal error: {type(err).__name__}: {err} (run with --debug)", file=sys.stderr)
        return 1


def _known_errors() -> tuple[type[BaseException], ...]:
    from db import ProjectError

    return (ProjectError,)


if __name__ == "__main__":
    sys.exit(main())
