"""Entry-point discovery for attribute sources, exporters and importers.

Built-ins register in pyproject.toml exactly as third-party packages do, so a format added by
another distribution shows up in `lazlabel export --list` and in the GUI without code changes here.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Any

ATTRIBUTE_SOURCES = "lazlabel.attribute_sources"
EXPORTERS = "lazlabel.exporters"
IMPORTERS = "lazlabel.importers"


class PluginError(Exception):
    """A plugin name that is unknown or fails to load (user-facing)."""


@cache
def available(group: str) -> dict[str, Any]:
    """name -> entry point (not loaded) for one group, sorted by name."""
    eps = entry_points(group=group)
    return {ep.name: ep for ep in sorted(eps, key=lambda e: e.name)}


def _folded(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def resolve(group: str, name: str) -> str | None:
    """The registered name `name` means: exact, else the one equal to it ignoring case, '-' and '_'
    (users type ``label-studio`` or ``HF_imagefolder`` for ``labelstudio`` and ``hf-imagefolder``)."""
    eps = available(group)
    if name in eps:
        return name
    matches = [n for n in eps if _folded(n) == _folded(name)]
    return matches[0] if len(matches) == 1 else None


def load(group: str, name: str) -> Any:
    """Load the object registered under `name` in `group`, with a clear error if missing."""
    eps = available(group)
    name = resolve(group, name) or name
    if name not in eps:
        known = ", ".join(eps) or "none installed"
        raise PluginError(f"unknown {group.rsplit('.', 1)[-1][:-1].replace('_', ' ')} '{name}' (known: {known})")
    try:
        return eps[name].load()
    except Exception as err:  # a broken third-party plugin must not take the app down
        raise PluginError(f"plugin '{name}' failed to load: {err}") from err
