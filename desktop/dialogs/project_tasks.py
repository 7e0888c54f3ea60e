"""Project-level tasks started from menus and the welcome page: create + scan, rescan, demo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktop.context import AppContext
from desktop.workers import GeneratorWorker


def demo_dir() -> Path:
    """Where the demo project lives (built on first use): the user's data dir."""
    import platformdirs

    return Path(platformdirs.user_data_dir("lazlabel")) / "demo"


def create_and_scan(ctx: AppContext, project_path: Path, image_root: Path) -> GeneratorWorker | None:
    """Create a project over `image_root`, open it, and scan the folder (progress + cancel)."""
    from db import Project

    try:
        project = Project.create(project_path, image_root)
    except Exception as err:  # noqa: BLE001 - shown to the user
        ctx.show_error("New project", err)
        return None
    ctx.set_project(project)
    return scan(ctx)


def scan(ctx: AppContext) -> GeneratorWorker | None:
    """(Re)scan the project's image folder; new, changed and missing files are recorded."""
    from workflows.scan import scan_folder

    project = ctx.project
    if project is None:
        return None

    def done(result: Any) -> None:
        ctx.images_changed.emit()
        ctx.show_status(f"Scan finished: {_summary(result)}", 8000)
        guide_first_steps(ctx)

    def cancelled() -> None:
        # whatever was recorded before the cancel is kept; show it
        ctx.images_changed.emit()

    return ctx.run_task(
        "Scanning images", lambda cancel: scan_folder(project, cancel=cancel), done, on_cancel=cancelled
    )


def open_demo(ctx: AppContext, target: Path | None = None) -> GeneratorWorker | None:
    """Build the demo project on first use (pre-labelled), then open it."""
    from workflows.demo import build_demo_project

    target = target or demo_dir()

    def done(result: Any) -> None:
        try:
            ctx.open_project(_project_path(result, target))
        except Exception as err:  # noqa: BLE001
            ctx.show_error("Open demo project", err)

    def failed(err: BaseException) -> None:
        # the build stops at its last step (e.g. no demo model to pre-label with): open what exists
        existing = sorted(target.glob("*.lazlabel"))
        if existing:
            try:
                ctx.open_project(existing[0])
            except Exception:  # noqa: BLE001 - the original error is the one worth showing
                pass
        ctx.show_error("Build the demo project", err)

    return ctx.run_task(
        "Building the demo project",
        lambda cancel: build_demo_project(target, cancel=cancel),
        done,
        on_error=failed,
        on_cancel=lambda: ctx.show_status("Demo build cancelled; it resumes where it stopped next time", 8000),
    )


def _project_path(result: Any, target: Path) -> Path:
    """The demo builder returns a path or a Project (closed here, re-opened by the context)."""
    if isinstance(result, (str, Path)):
        return Path(result)
    path = getattr(result, "path", None)
    if path is not None:
        if hasattr(result, "close"):
            result.close()
        return Path(path)
    found = sorted(Path(target).glob("*.lazlabel"))
    if not found:
        raise FileNotFoundError(f"the demo builder made no project under {target}")
    return found[0]


def _summary(result: Any) -> str:
    """One line from a scan result (a dataclass or dict of counts)."""
    if result is None:
        return "done"
    items = result if isinstance(result, dict) else getattr(result, "__dict__", {})
    parts = [f"{v:,} {k.replace('_', ' ')}" for k, v in items.items() if isinstance(v, int)]
    return ", ".join(parts) or str(result)


def guide_first_steps(ctx: AppContext) -> None:
    """After a scan of a project without classes: say what comes next, and offer the image
    subfolders as classes (the Classes screen opens with the dialog)."""
    from desktop.dialogs.add_classes import subfolder_classes

    project = ctx.project
    if project is None or project.list_classes():
        return
    folders = subfolder_classes(project.image_root)
    hint = (f"Next: add classes — {len(folders)} image subfolder(s) can become classes"
            if folders else "Next: add classes (paste a list such as “zorbit, quillan”)")
    ctx.show_status(hint + ", then propose attributes and pre-label.", 0)
    ctx.screen_requested.emit("attributes")
    if ctx.interactive:
        screen = ctx.dialog_parent.screens.get("attributes") if ctx.dialog_parent is not None and hasattr(
            ctx.dialog_parent, "screens") else None
        if screen is not None and hasattr(screen, "add_classes_dialog"):
            screen.add_classes_dialog(tick_folders=bool(folders))
