"""Screen state as plain Python (no Qt): what a screen shows and where the curator is in it.

Each model holds state and emits events when it changes (napari's `components/dims.py` pattern);
controllers change the models, Qt widgets only mirror them. Tested without a QApplication
(tests/desktop/test_models.py). See docs/desktop.md.
"""
