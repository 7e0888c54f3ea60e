"""Command-line options whose choices come from the engine's registries (engine/types.py), so a new
view mode, scoring method or transport solver shows up in every command without editing it."""

from __future__ import annotations

import argparse

from engine.types import METHODS, VIEW_MODES, view_mode


def canonical_view_mode(value: str) -> str:
    """An old name of a view mode ("faithful") reads as the mode's name; anything else is kept for
    argparse's choices check to refuse with the list of names."""
    try:
        return view_mode(value).name
    except KeyError:
        return value


def view_mode_help(default: str | None = None) -> str:
    """One line per mode for a --help text ('%' escaped for argparse)."""
    text = "region mode. " + "; ".join(f"{m.name}: {m.description}" for m in VIEW_MODES.values()) + "."
    text += "".join(f" '{a}' is an older name for {m.name}." for m in VIEW_MODES.values() for a in m.aliases)
    if default is not None:
        text += f" Default: {default}."
    return text.replace("%", "%%")


def add_view_mode_option(parser: argparse.ArgumentParser, *flags: str, default: str | None = None) -> argparse.Action:
    """A region-mode option: the registry's names, aliases accepted and stored as the name."""
    return parser.add_argument(*flags, type=canonical_view_mode, choices=tuple(VIEW_MODES), default=default,
                               help=view_mode_help(default))


def add_method_option(parser: argparse.ArgumentParser, *flags: str, default: str | None = None) -> argparse.Action:
    """A scoring-method option with the registry's names."""
    methods = "; ".join(f"{m.name}: {m.description}" for m in METHODS.values())
    return parser.add_argument(*flags, choices=tuple(METHODS), default=default,
                               help=f"scoring method. {methods}.".replace("%", "%%"))
