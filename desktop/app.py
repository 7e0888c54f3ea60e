"""`lazlabel-desktop [PROJECT] [--demo]`: start the application.

Installs a `sys.excepthook` so an unexpected error is logged and shown in a dialog instead of
killing the app; logs go to the user log dir (`lazlabel.log`).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("lazlabel.desktop")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lazlabel-desktop", description="lazlabel desktop application")
    p.add_argument("project", nargs="?", help="a .lazlabel project file to open")
    p.add_argument("--demo", action="store_true", help="build (first time) and open the demo project")
    p.add_argument("--demo-dir", type=Path, help="where the demo project lives (default: the user data dir)")
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
    if not debug:  # schema checks on every project open are not news
        logging.getLogger("alembic").setLevel(logging.WARNING)
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


# The first pre-label would otherwise pay, mid-run, for importing torch/open_clip and for numba
# loading its compiled OT kernel: seconds during which the worker holds the GIL in long stretches
# and the GUI stutters. The app pays it in a background thread right after start-up instead.
WARM_UP_MODULES = ("workflows.prelabel", "workflows.rescore", "workflows.attributes", "workflows.evidence",
                   "workflows.scoring")


def _warm_numba_kernel() -> None:
    """Tiny calls of the engine's numba Sinkhorn kernel (loads it from numba's cache)."""
    from engine import sinkhorn_cpu

    sinkhorn_cpu.warmup()


WARM_UP_CALLS = (_warm_numba_kernel,)


def warm_up_imports() -> None:
    """Import the heavy use-case modules and prime lazy kernels (any thread; errors only logged)."""
    import importlib

    for name in WARM_UP_MODULES:
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - a missing optional piece shows up when used
            log.info("warm-up import of %s failed: %s", name, err)
    for fn in WARM_UP_CALLS:
        try:
            fn()
        except Exception as err:  # noqa: BLE001
            log.info("warm-up %s failed: %s", fn.__name__, err)


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
    threading.Thread(target=warm_up_imports, name="warm-up", daemon=True).start()
    if args.project:
        window.actions.open_path(Path(args.project))
    elif args.demo:
        from desktop.dialogs.project_tasks import open_demo

        open_demo(window.ctx, args.demo_dir)
    code = app.exec()
    _tear_down(window)
    return code


def _tear_down(window) -> None:
    """Delete Qt objects while the QApplication lives (PySide can crash collecting them at exit)."""
    import gc

    from PySide6.QtCore import QCoreApplication, QEvent

    window.ctx.cancel_all()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


if __name__ == "__main__":
    sys.exit(main())
