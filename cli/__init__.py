"""Command-line front: the same use cases as the desktop app, headless."""
