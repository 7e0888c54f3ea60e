"""The image browser: a virtualised thumbnail grid (model + delegate + view + controller)."""
