"""Use cases shared by the GUI and the CLI: they join engine, store and plugins. No Qt."""
