"""Built-in label importers (registered as entry points in pyproject.toml, like third-party ones)."""
