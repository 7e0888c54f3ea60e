"""The one registry of view modes, scoring methods and transport solvers (engine/types.py), and
everything that must agree with it: the engine's implementations, the CLI, the settings, scoring."""

from __future__ import annotations

import argparse

import pytest

from engine.types import LEARN_METHODS, METHODS, OT_MODES, VIEW_MODES, ViewConfig, view_mode, view_mode_names


def test_names_and_aliases_are_unique_and_resolve():
    names = view_mode_names(aliases=True)
    assert len(names) == len(set(names))
    for m in VIEW_MODES.values():
        assert view_mode(m.name) is m
        for a in m.aliases:
            assert view_mode(a) is m
    assert view_mode("faithful").name == "random"  # the old CLI name of the published crops
    with pytest.raises(KeyError, match="one of: random, grid, dense"):
        view_mode("sparse")


def test_faithful_is_a_solver_and_only_an_alias_for_a_view_mode():
    assert "faithful" in OT_MODES and "faithful" not in VIEW_MODES


def test_the_engine_implements_every_registered_entry():
    from engine.alignment import OT_SOLVERS
    from engine.pipeline import METHODS as ENGINE_METHODS
    from engine.views import BOX_MAKERS, PATCH_MODES

    assert set(ENGINE_METHODS) == set(METHODS)
    assert set(OT_SOLVERS) == set(OT_MODES)
    assert {m.engine_mode for m in VIEW_MODES.values()} <= set(BOX_MAKERS) | PATCH_MODES
    for m in VIEW_MODES.values():
        ViewConfig(mode=m.engine_mode).key()  # a cache key for each


def test_the_cli_offers_the_registry():
    from cli.main import build_parser, iter_commands

    seen = {}
    for path, sub in iter_commands(build_parser()):
        for a in sub._actions:
            if a.choices and (a.help or "").startswith("region mode"):
                seen[path] = tuple(a.choices)
            if "--method" in a.option_strings:
                # `learn --method` names a learning method; every other --method a scoring method
                want = LEARN_METHODS if path[0] == "learn" else METHODS
                assert tuple(a.choices) == tuple(want), path
    assert {("prelabel",), ("rescore",), ("demo",)} <= set(seen)
    assert all(c == tuple(VIEW_MODES) for c in seen.values()), seen
    args = build_parser().parse_args(["prelabel", "--mode", "faithful"])
    assert args.mode == "random"  # the old name is accepted and stored as the mode's name
    with pytest.raises(SystemExit):
        argparse.ArgumentParser.parse_args(build_parser(), ["prelabel", "--mode", "sparse"])


def test_settings_and_scoring_read_the_registry():
    from workflows.errors import UserError
    from workflows.scoring import VIEW_MODES as SCORING_MODES
    from workflows.scoring import engine_config, view_config
    from workflows.settings import ProjectSettings

    s = ProjectSettings()
    assert s.view_mode in VIEW_MODES and s.method in METHODS and s.ot_mode in OT_MODES
    assert SCORING_MODES["faithful"] == "random"
    assert set(SCORING_MODES) == set(view_mode_names(aliases=True))
    for name in view_mode_names(aliases=True):
        assert view_config(ProjectSettings(view_mode=name)).mode == view_mode(name).engine_mode
    with pytest.raises(UserError, match="unknown region mode 'sparse'"):
        view_config(ProjectSettings(view_mode="sparse"))
    with pytest.raises(UserError, match="unknown scoring method 'blip'"):
        engine_config(ProjectSettings(method="blip"))
    with pytest.raises(UserError, match="unknown transport solver"):
        engine_config(ProjectSettings(ot_mode="random"))


def test_a_stored_old_name_loads_as_the_mode_name(tmp_path):
    from db import Project
    from workflows.settings import load_settings

    (tmp_path / "img").mkdir()
    with Project.create(tmp_path / "p.lazlabel", tmp_path / "img") as project:
        project.set_setting("view_mode", "faithful")
        assert load_settings(project).view_mode == "random"
        project.set_setting("view_mode", "weird")
        assert load_settings(project).view_mode == "weird"  # kept; scoring names the choices
