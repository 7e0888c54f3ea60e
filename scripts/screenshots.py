"""Render each main screen of the app on the demo project to docs/screenshots/*.png.

    xvfb-run -a .venv/bin/python scripts/screenshots.py [--demo-dir DIR] [--out docs/screenshots]

Builds the demo project first when DIR has none (generated scenes, attributes, noisy imported
labels, a pre-label run with the shipped demo model; minutes on first use), then opens it in the
real main window at 1440×900 and grabs: the welcome page, every registered screen (Review on the
image the audit finds most suspicious, when there is one, with its evidence and its "Why not"
tab), the pre-label, export, import-labels and accept-above dialogs, the Browse and Review screens
at 1024×700, and the new-project flow (a folder with class subfolders: the dialog, the offered
classes, and Pre-label disabled with its reason before any class exists).
Without a display it falls back to Qt's offscreen platform (same pixels, fonts permitting).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SIZE = (1440, 900)


def settle(app, seconds: float = 0.6) -> None:
    """Let queued signals, thumbnail jobs and timers run."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def build_demo(demo_dir: Path) -> Path:
    from workflows.demo import build_demo_project
    from workflows.progress import drive

    last = [0.0]

    def show(p) -> None:
        if time.monotonic() - last[0] > 2:
            last[0] = time.monotonic()
            print(f"  demo: {p.stage} {p.done}/{p.total or '?'} {p.message}", flush=True)

    return drive(build_demo_project(demo_dir), show)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo-dir", type=Path, default=Path(tempfile.gettempdir()) / "lazlabel-demo-shots")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ["LAZLABEL_SETTINGS"] = str(Path(tempfile.mkdtemp()) / "settings.ini")

    print(f"demo project under {args.demo_dir}", flush=True)
    project_path = build_demo(args.demo_dir)
    stage_review_session(project_path)

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    app.setOrganizationName("lazlabel")
    app.setApplicationName("lazlabel")
    from desktop.app import _tear_down, warm_up_imports
    from desktop.dialogs.recent import add_recent
    from desktop.main_window import MainWindow
    from desktop.style import apply_style

    apply_style(app)
    warm_up_imports()
    add_recent(project_path)
    win = MainWindow()
    win.resize(*SIZE)
    win.show()
    settle(app)
    shots: list[Path] = []

    def grab(widget, name: str) -> None:
        path = args.out / f"{name}.png"
        widget.grab().save(str(path))
        shots.append(path)
        print(f"  wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}", flush=True)

    grab(win, "welcome")
    if not win.actions.open_path(project_path):
        print("could not open the demo project:", win.ctx.errors, file=sys.stderr)
        return 1
    settle(app, 1.5)
    project = win.ctx.project
    first = _most_interesting_image(project)
    for i, key in enumerate(win.screens):
        if key == "review" and first is not None:
            win.ctx.open_image(first)
        else:
            win.show_screen(key)
        settle(app, 2.5 if key == "browser" else 1.2)
        if key == "review":
            wait_for(app, lambda: win.screens["review"].legend.evidence is not None)
        if key == "audit":  # the selected row's evidence is loaded off the GUI thread too
            wait_for(app, lambda: win.screens["audit"].evidence.found is not None, 60)
        grab(win, f"{i + 1}-{key}")
        if key == "review":
            review = win.screens["review"]
            review.tabs.setCurrentWidget(review.compare)
            settle(app, 0.4)
            grab(win, f"{i + 1}-{key}-why-not")
            if review.legend.rows:  # one attribute alone: its map, contour and peak
                review.tabs.setCurrentWidget(review.legend)
                review.legend.select(review.legend.rows[0].attr.index)
                settle(app, 0.4)
                grab(win, f"{i + 1}-{key}-one-attribute")
                review.legend.select(None)

    win.resize(1024, 700)
    for key in ("browser", "review"):
        win.show_screen(key)
        settle(app, 1.5)
        if key == "review":
            wait_for(app, lambda: win.screens["review"].legend.evidence is not None)
        grab(win, f"layout-1024x700-{key}")
    win.resize(*SIZE)
    settle(app, 0.5)

    from desktop.dialogs.export import ExportDialog
    from desktop.prelabel_panel import PrelabelDialog

    win.show_screen("browser")
    settle(app, 0.5)
    pre = PrelabelDialog(win.ctx, win)
    pre.open()
    settle(app, 0.3)
    grab(pre, "dialog-prelabel")
    pre.close()
    exp = ExportDialog(win.ctx, win)
    exp.set_format("imagefolder")
    exp.open()
    settle(app, 0.3)
    grab(exp, "dialog-export")
    exp.close()
    from desktop.dialogs.accept_above import AcceptAboveDialog
    from desktop.dialogs.import_labels import ImportLabelsDialog

    imp = ImportLabelsDialog(win.ctx, win)
    labels = args.demo_dir / "labels_noisy.csv"
    if labels.exists():
        imp.set_source("csv", labels)
        imp.preview()
    imp.resize(720, 560)
    imp.show()
    settle(app, 0.3)
    grab(imp, "dialog-import-labels")
    imp.close()
    acc = AcceptAboveDialog(win.ctx, win)
    acc.threshold.setValue(0.6)
    acc.show()
    settle(app, 0.3)
    grab(acc, "dialog-accept-above")
    acc.close()

    new_project_flow(app, win, grab, project_path)

    print(f"{len(shots)} screenshots in {args.out}")
    _tear_down(win)
    sys.stdout.flush()
    os._exit(0)  # skip interpreter finalisation of Qt wrappers (a known PySide crash at exit)


def wait_for(app, ready, seconds: float = 30.0) -> None:
    """Process events until `ready()` (evidence is loaded off the GUI thread)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not ready():
        app.processEvents()
        time.sleep(0.02)
    settle(app, 0.3)


def new_project_flow(app, win, grab, demo_project: Path) -> None:
    """A folder with class subfolders, as a new user brings it: the new-project dialog, the Add
    classes dialog offering the subfolders (plus a pasted list), and Pre-label before any class."""
    import shutil

    from desktop.dialogs.add_classes import AddClassesDialog
    from desktop.dialogs.new_project import NewProjectDialog
    from desktop.dialogs.project_tasks import create_and_scan
    from desktop.prelabel_panel import PrelabelDialog

    root = Path(tempfile.mkdtemp()) / "my-shapes"
    src = demo_project.parent / "images"
    for sub in sorted(d for d in src.iterdir() if d.is_dir())[:3]:
        (root / sub.name).mkdir(parents=True)
        for f in sorted(sub.iterdir())[:4]:
            shutil.copy(f, root / sub.name / f.name)
    dlg = NewProjectDialog(win, str(root))
    dlg.show()
    settle(app, 0.3)
    grab(dlg, "new-project-1-dialog")
    path = dlg.project_path()
    dlg.close()
    win.ctx.interactive = False  # the flow's own prompts are grabbed below, not run modally
    worker = create_and_scan(win.ctx, path, root)
    if worker is not None:
        wait_for(app, lambda: not worker.is_running)
    win.show_screen("browser")
    settle(app, 1.5)
    grab(win, "new-project-2-browse-no-classes")
    pre = PrelabelDialog(win.ctx, win)
    pre.open()
    settle(app, 0.3)
    grab(pre, "new-project-3-prelabel-blocked")
    pre.close()
    win.show_screen("attributes")
    add = AddClassesDialog([], root, win, tick_folders=True)
    add.set_text("zorbit, quillan")
    add.resize(520, 460)
    add.show()
    settle(app, 0.3)
    grab(add, "new-project-4-add-classes")
    add.close()
    win.ctx.interactive = True


def stage_review_session(project_path: Path) -> None:
    """Make the demo look mid-review (once): an audit run, confident predictions accepted, a few
    suspicious imported labels kept by correcting to them, and two rejections."""
    from db import ImageFilter, Project
    from workflows.audit import run_audit
    from workflows.progress import drive
    from workflows.review import accept_above, decide

    with Project.open(project_path) as project:
        if project.count_images(ImageFilter(decided=True)):
            return
        drive(run_audit(project))
        n = accept_above(project, 0.66, reviewer="demo")
        rows = project.page_images(ImageFilter(disagrees=True, decided=False), "disagreement", 0, 6)
        for r in rows:
            decide(project, [r.id], "corrected", class_id=r.imported_class_id, reviewer="demo")
        low = project.page_images(ImageFilter(decided=False, has_prediction=True), "confidence", 0, 2)
        decide(project, [r.id for r in low], "rejected", reviewer="demo")
        print(f"  staged a review session: {n} accepted, {len(rows)} corrected, {len(low)} rejected", flush=True)


def _most_interesting_image(project) -> int | None:
    """The image to show in Review: the most suspicious imported label, else the least confident."""
    from db import ImageFilter

    for sort, flt in (("disagreement", ImageFilter(disagrees=True)), ("confidence", ImageFilter(has_prediction=True))):
        rows = project.page_images(flt, sort, 0, 1)
        if rows:
            return rows[0].id
    return None


if __name__ == "__main__":
    sys.exit(main())
