"""Pre-label and audit image-classification datasets with interpretable zero-shot predictions.

(The first line above is what `lazlabel --help` opens with.) Subcommands live in small modules,
each with `register(subparsers)`. Conventions for every command: `--project PATH` (default: the one
`*.lazlabel` file in the current directory) and the other global options work before or after the
command name; exit 0 on success, 1 on a user-facing error (one line on stderr, traceback only with
`--debug`), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TextIO

# Modules that add subcommands; each defines `register(subparsers: argparse._SubParsersAction)`
# and sets `func=` on its parsers. Handlers take the parsed args and return an exit code.
COMMAND_MODULES = (
    "cli.project_cmds",  # init, scan, status          (issue #2)
    "cli.attribute_cmds",  # classes, attributes        (issue #5)
    "cli.compose_cmds",  # classes compose|pairs|part-attributes (issue #18; after attribute_cmds)
    "cli.run_cmds",  # prelabel, rescore, review, decide, stats (issue #6)
    "cli.audit_cmds",  # audit run / report            (issue #16)
    "cli.export_cmds",  # export, import-labels       (issue #7)
    "cli.demo_cmds",  # demo                           (issues #4, #8)
    "cli.explain_cmds",  # explain                     (issue #12)
    "cli.model_cmds",  # models list, models pull      (issue #19)
    "cli.cache_cmds",  # cache verify|clear            (issue #13)
    "cli.learn_cmds",  # learn, learn runs|use|weights  (issue #17)
    "cli.team_cmds",  # team assign|agreement|conflicts (issue #20)
)

EPILOG = """\
a first session:
  lazlabel init birds --images ~/data/birds     create birds.lazlabel and scan the folder
  lazlabel classes add sparrow robin             name the classes
  lazlabel attributes propose                    a local LLM (Ollama) proposes their attributes
  lazlabel prelabel                              pre-label every image, with evidence
  lazlabel-desktop birds.lazlabel                review, audit and export in the app

Every command finds its project with --project PATH (before or after the command name), else the
one *.lazlabel file in the current directory. Exit status: 0 done, 1 a problem you can fix (one
line; --debug shows the traceback), 2 bad usage. `lazlabel COMMAND --help` for each command."""


@dataclass(frozen=True)
class GlobalOption:
    """An option every command accepts, before or after its name."""

    flags: tuple[str, ...]
    dest: str
    options: dict[str, object] = field(default_factory=dict)


GLOBAL_OPTIONS: tuple[GlobalOption, ...] = (
    GlobalOption(
        ("--project", "-p"),
        "project",
        {"metavar": "PATH", "help": "project file, a folder holding one, or its name without .lazlabel "
         "(default: the *.lazlabel file in .); a team project's URL postgresql+psycopg://USER@HOST/NAME"},
    ),
    GlobalOption(("--debug",), "debug", {"action": "store_true", "help": "show tracebacks"}),
)


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Add GLOBAL_OPTIONS to one parser. Below the top, an option that is not given sets nothing
    (SUPPRESS), so `lazlabel --project X status` keeps X; given after the command, it wins."""
    group = parser.add_argument_group("global options" if top else "global options (also before the command)")
    for opt in GLOBAL_OPTIONS:
        flags = [f for f in opt.flags if f not in parser._option_string_actions]
        if not flags:  # the command already uses these flags for something of its own
            continue
        extra: dict[str, object] = {} if top else {"default": argparse.SUPPRESS}
        group.add_argument(*flags, dest=opt.dest, **opt.options, **extra)  # type: ignore[arg-type]


def iter_commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command parser below `parser`, nested ones included, with its command path."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias of a command already listed
                    continue
                seen.add(id(sub))
                yield (*path, name), sub
                yield from iter_commands(sub, (*path, name))


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__ or "lazlabel"
    parser = argparse.ArgumentParser(
        prog="lazlabel",
        description=doc.splitlines()[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_global_options(parser, top=True)
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subs)
    for _path, sub in iter_commands(parser):
        _add_global_options(sub, top=False)
    return parser


def report_error(err: BaseException, *, debug: bool, stream: TextIO | None = None) -> int:
    """The exit status for an error a handler raised, after telling the user (see workflows.errors)."""
    from workflows.errors import is_user_error

    out = stream if stream is not None else sys.stderr
    if debug:
        traceback.print_exception(type(err), err, err.__traceback__, file=out)
    if is_user_error(err):
        print(f"lazlabel: {err}", file=out)
    elif not debug:
        print(
            f"lazlabel: internal error (a bug, not something you did): {type(err).__name__}: {err}"
            " (run again with --debug for the traceback, and report it)",
            file=out,
        )
    return 1


def main(argv: Sequence[str] | None = None) -> int:
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
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as err:  # noqa: BLE001 - the one place that turns errors into exit codes
        return report_error(err, debug=bool(args.debug))


if __name__ == "__main__":
    sys.exit(main())
