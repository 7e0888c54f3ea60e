"""Global options (`--project`, `--debug`) work before or after every command, nested ones included;
`--project NAME` finds the `NAME.lazlabel` that `init NAME` wrote; every --help renders cleanly.

The commands are enumerated from the parser itself, so a new subcommand is covered without
editing this file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from PIL import Image

from cli.main import GLOBAL_OPTIONS, build_parser, iter_commands, main

#: Commands that make a project (or a demo folder) rather than open one: `--project` parses there
#: too, but there is nothing for it to find.
MAKES_ITS_OWN_PROJECT = {("init",), ("demo",)}
#: Commands about the machine, not a project (`--project` parses there and is not needed).
NEEDS_NO_PROJECT = {("models", "list"), ("models", "pull")}


def _dummy(action: argparse.Action) -> str:
    if action.choices:
        return str(next(iter(action.choices)))
    return "1" if action.type in (int, float) else "x"


def _leaf_commands() -> list[tuple[tuple[str, ...], list[str]]]:
    """(command path, argv with a value for every positional and required option) per leaf command."""
    out = []
    for path, sub in iter_commands(build_parser()):
        if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
            continue  # a group such as `classes`: its leaves are listed themselves
        argv = list(path)
        for a in sub._actions:
            if a.option_strings:
                if a.required:
                    argv += [a.option_strings[0], _dummy(a)]
            elif a.nargs != "*":
                argv.append(_dummy(a))
        for group in sub._mutually_exclusive_groups:  # e.g. (--state NAME | --object NAME)
            if group.required:
                first = group._group_actions[0]
                argv += [first.option_strings[0], _dummy(first)]
        out.append((path, argv))
    return out


LEAVES = _leaf_commands()


def test_the_parser_lists_nested_commands():
    paths = {p for p, _ in LEAVES}
    assert {("status",), ("classes", "add"), ("attributes", "propose"), ("audit", "report")} <= paths
    assert len(paths) > 20


@pytest.mark.parametrize("path,argv", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_global_options_parse_before_and_after_the_command(path, argv):
    parser = build_parser()
    after = parser.parse_args([*argv, "--project", "P", "--debug"])
    assert (after.project, after.debug) == ("P", True)
    before = parser.parse_args(["--project", "P", "--debug", *argv])
    assert (before.project, before.debug) == ("P", True)
    plain = parser.parse_args(argv)
    assert (plain.project, plain.debug) == (None, False)
    both = parser.parse_args(["-p", "FIRST", *argv, "-p", "LAST"])  # the later one wins
    assert both.project == "LAST"


def test_global_options_also_parse_between_a_group_and_its_action():
    args = build_parser().parse_args(["classes", "--project", "P", "add", "A"])
    assert args.project == "P" and args.names == ["A"]


@pytest.mark.parametrize(
    "path,argv",
    [(p, a) for p, a in LEAVES if p not in MAKES_ITS_OWN_PROJECT | NEEDS_NO_PROJECT],
    ids=[" ".join(p) for p, _ in LEAVES if p not in MAKES_ITS_OWN_PROJECT | NEEDS_NO_PROJECT],
)
def test_every_command_looks_for_the_project_given_after_its_name(path, argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no project here: only --project can name one
    target = tmp_path / "elsewhere" / "absent"
    assert main([*argv, "--project", str(target)]) == 1
    err = capsys.readouterr().err
    assert f"no project at {target}" in err and err.count("\n") == 1


def test_every_global_option_is_on_every_command():
    for path, sub in iter_commands(build_parser()):
        for opt in GLOBAL_OPTIONS:
            assert any(f in sub._option_string_actions for f in opt.flags), (path, opt.flags)


# --- a real project, named as `init` wrote it ---------------------------------------------------


@pytest.fixture
def images(tmp_path) -> Path:
    root = tmp_path / "images"
    (root / "a").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (8, 6 + i), (i * 60, 0, 0)).save(root / "a" / f"{i}.png")
    return root


def test_project_after_the_command_on_a_real_project(tmp_path, images, monkeypatch, capsys):
    assert main(["init", str(tmp_path / "birds"), "--images", str(images), "-q"]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    proj = str(tmp_path / "birds.lazlabel")
    assert main(["classes", "add", "--project", proj, "sparrow", "robin"]) == 0
    assert main(["classes", "list", "-p", proj]) == 0
    assert "sparrow" in capsys.readouterr().out
    assert main(["status", "--project", proj, "--json"]) == 0
    assert '"total": 3' in capsys.readouterr().out


def test_project_named_without_its_suffix_is_found(tmp_path, images, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "birds", "--images", str(images), "--no-scan"]) == 0
    assert (tmp_path / "birds.lazlabel").is_file()
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")  # two candidates can't be guessed from the cwd
    capsys.readouterr()
    assert main(["status", "--project", "../birds"]) == 0
    assert "birds.lazlabel" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)
    assert main(["--project", "birds", "status"]) == 0
    # a folder of the same name without a project inside: the sibling file `init birds` wrote
    (tmp_path / "birds").mkdir()
    assert main(["status", "--project", "birds"]) == 0
    assert "birds.lazlabel" in capsys.readouterr().out
    # and a folder or "." holding a project is still read as before
    assert main(["status", "--project", "."]) == 0
    assert main(["status", "--project", "nothing"]) == 1
    assert "no project at nothing" in capsys.readouterr().err


# --- help texts -----------------------------------------------------------------------------------


def _all_parsers() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    parser = build_parser()
    return [((), parser), *iter_commands(parser)]


@pytest.mark.parametrize("path,parser", _all_parsers(), ids=[" ".join(p) or "lazlabel" for p, _ in _all_parsers()])
def test_help_renders_without_escapes_or_placeholders(path, parser):
    text = parser.format_help()
    assert "%%" not in text and "%(" not in text, text
    assert "--project" in text and "--debug" in text


def test_top_level_help_speaks_to_users(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "Pre-label and audit image-classification datasets" in out
    assert "register(" not in out and "Subcommands live" not in out
    assert "lazlabel init" in out  # a first session is shown


def test_demo_help_shows_a_single_percent(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "~10% flipped" in capsys.readouterr().out
