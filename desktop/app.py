"""`lazlabel-desktop [PROJECT] [--demo]`: start the application.

Installs a `sys.excepthook` so an unexpected error is logged and shown in a dialog instead of
killing the app; logs go to the user log dir (`lazlabel.log`).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("lazlabel.desktop")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lazlabel-desktop", description="lazlabel desktop application")
    p.add_argument("project", nargs="?", help="a .lazlabel project file to open")
    p.add_argument("--demo", action="store_true", help="build (first time) and open the demo project")
    p.add_argument("--debug", action="store_true", help="verbose logging to stderr")
    return p


def _setup_logging(debug: bool) -> Path | None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    log_file: Path | None = None
    try:
        import platformdirs

        log_dir = Path(platformdirs.user_log_dir("lazlabel"))
        log_dir.mkdir(parents=True, exist_ok=True)
        log_file = log_dir / "lazlabel.log"
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    except OSError:
        pass
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
    )
    return log_file


def install_excepthook(ctx) -> None:
    """Unexpected errors on the GUI thread: log them and show a dialog; the app keeps running."""

    def hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("uncaught error:\n%s", "".join(traceback.format_exception(exc_type, exc, tb)))
        try:
            ctx.show_error("Unexpected error", exc)
        except Exception:  # noqa: BLE001 - never raise from the hook
            sys.__excepthook__(exc_type, exc, tb)

    sys.excepthook = hook


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.debug)
    from PySide6.QtWidgets import QApplication

    from desktop.main_window import MainWindow
    from desktop.style import apply_style

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("lazlabel")
    app.setApplicationName("lazlabel")
    apply_style(app)
    window = MainWindow()
    install_excepthook(window.ctx)
    window.show()
    if args.project:
        window.actions.open_path(Path(args.project))
    elif args.demo:
        window.actions.do_open_demo()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
