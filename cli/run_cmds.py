"""Subcommands (placeholder until its issue lands)."""

from __future__ import annotations

import argparse


def register(subs: argparse._SubParsersAction) -> None:
    """Add this module's subcommands."""
