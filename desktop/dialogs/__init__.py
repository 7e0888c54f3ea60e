"""Dialogs of the app shell: new/open project (with the recent list), settings, export."""
