"""User-facing errors: the CLI prints the message (exit 1), the GUI shows it in a dialog."""


class UserError(Exception):
    """Something the user can fix; `str(err)` is a complete one-line message."""
