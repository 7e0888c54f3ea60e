"""Built-in exporters (registered as entry points in pyproject.toml, like third-party ones)."""
