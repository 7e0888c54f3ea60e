"""Screenshots of learning in the desktop (issues #17 item 7, #18 item 5) on the compositional demo.

    PYTHONPATH=. .venv/bin/python scripts/screenshots_learn.py [--demo-dir DIR] [--out docs/screenshots]

Builds `lazlabel demo --compositional --images 480` in DIR when none is there, opens it in the real
main window at 1440×900 and drives the Learn panel like a curator: Preview, Apply and Back to
zero-shot with the interpretable `attributes` method; then `msci` (training: per-epoch progress and
the held-out curve, then seen / unseen accuracy); a simulated curator then decides a few images of
unseen pairs with the demo's ground truth and the stored run is selected again (its accuracy on
pairs it never saw). Last, the refine dialog for the most confused pair, asking a loopback Ollama
server (the tests' `FakeOllama`, scripted: nothing leaves the machine). Each shot is the main window
with its open dialogs painted where they are, so it works on Qt's offscreen platform too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def settle(app, seconds: float = 0.5) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def wait_for(app, ready, seconds: float = 900.0, every=None) -> None:
    end = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > end:
            raise TimeoutError("the app did not get there in time")
        settle(app, 0.1)
        if every is not None:
            every()


def build(demo_dir: Path, images: int) -> Path:
    from workflows.demo_compose import PROJECT_NAME, build_compose_demo
    from workflows.progress import drive

    if (demo_dir / PROJECT_NAME).exists():
        return demo_dir / PROJECT_NAME
    return drive(build_compose_demo(demo_dir, images))


def scripted_llm():
    """A loopback Ollama that answers the confusion prompt with the parts of the asked class."""
    from tests.attributes.conftest import FakeOllama, Reply
    from tests.refine.conftest import asked_pair

    def answer(body):
        name, other = asked_pair(body)
        state, _, obj = name.partition(" ")
        o_state, _, o_obj = other.partition(" ")
        props = []
        if state != o_state:
            props += [f"a {state} surface pattern, not {o_state}", f"{state} marks across the whole shape"]
        if obj != o_obj:
            props += [f"the outline of a {obj}", f"corners like a {obj}, unlike a {o_obj}"]
        return Reply(json.dumps({"attributes": props or [f"a clear {name}"]}))

    server = FakeOllama()
    server.responder = answer
    return server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo-dir", type=Path, default=Path(tempfile.gettempdir()) / "lazlabel-demo-compositional-shots")
    ap.add_argument("--images", type=int, default=480)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ["LAZLABEL_SETTINGS"] = str(Path(tempfile.mkdtemp()) / "settings.ini")
    project_path = build(args.demo_dir, args.images)
    truth = {r["path"]: r for r in json.loads((args.demo_dir / "ground_truth.json").read_text())["images"]}

    from PySide6.QtGui import QColor, QPainter
    from PySide6.QtWidgets import QApplication, QDialog

    app = QApplication.instance() or QApplication([])
    from desktop.app import warm_up_imports
    from desktop.main_window import MainWindow
    from desktop.style import apply_style

    apply_style(app)
    warm_up_imports()
    win = MainWindow()
    win.resize(1440, 900)
    win.move(0, 0)
    win.show()
    settle(app)

    def shot(name: str) -> None:
        settle(app, 0.8)
        canvas = win.grab()
        painter = QPainter(canvas)
        for w in app.topLevelWidgets():
            if isinstance(w, QDialog) and w.isVisible():  # offscreen has no window frame: draw a plain one
                at = w.pos() - win.pos()
                painter.fillRect(at.x() - 1, at.y() - 25, w.width() + 2, w.height() + 26, QColor("#59606e"))
                painter.setPen(QColor("white"))
                painter.drawText(at.x() + 10, at.y() - 8, w.windowTitle())
                painter.drawPixmap(at, w.grab())
        painter.end()
        path = args.out / f"{name}.png"
        canvas.save(str(path))
        print(f"wrote {path}", flush=True)

    win.actions.open_path(project_path)
    settle(app, 1.0)
    ctx = win.ctx
    project = ctx.project
    win.show_screen("insight")
    win.actions.learn.trigger()
    settle(app)
    from desktop.learn.view import LearnDialog

    dlg = next(w for w in app.topLevelWidgets() if isinstance(w, LearnDialog))
    dlg.resize(1040, 760)
    dlg.move(200, 70)
    panel = dlg.panel
    c = panel.controller

    # -- attributes: preview, apply, undo ------------------------------------------------------------
    c.choose_method("attributes")
    c.preview()
    wait_for(app, lambda: c.worker is None)
    shot("learn-1-preview")
    c.apply()
    wait_for(app, lambda: c.worker is None)
    shot("learn-2-applied")
    # the learned weights in the evidence: Review on the first changed image (the dialog aside)
    dlg.hide()
    changed = c.model.preview.changes[0].image_id if c.model.preview and c.model.preview.changes else None
    if changed is not None:
        review = win.screens["review"]
        ctx.open_image(changed)
        win.show_screen("review")
        wait_for(app, lambda: review.legend.evidence is not None, 60)
        shot("learn-2b-learned-weights-in-the-evidence")
    win.show_screen("insight")
    dlg.show()
    panel.zero_button.click()
    shot("learn-3-back-to-zero-shot")

    # -- msci: training, curve, seen / unseen --------------------------------------------------------
    # the curator goes on reviewing the seen pairs (the demo decided half of their images): with more
    # decisions some can be held out, and the epoch is chosen on them
    from workflows.review import decide

    names = {n: cid for cid, n in project.class_names_by_id().items()}
    decided = {d.image_id for d in project.decided_images()}
    shown = project.current_top1()

    def curate(rows) -> None:
        for r in rows:
            rec = truth[r.rel_path]
            true = names[f"{rec['state']} {rec['object']}"]
            decide(project, [r.id], "accepted" if shown.get(r.id) == true else "corrected", class_id=true,
                   reviewer="demo-curator")
        ctx.labels_changed.emit([r.id for r in rows])
        settle(app)

    images = [r for r in project.images(list(shown)) if r.rel_path in truth]
    curate([r for r in images if truth[r.rel_path]["seen"] and r.id not in decided])
    c.choose_method("msci")
    c.apply()
    took = [False]

    def mid_training() -> None:
        if not took[0] and len(c.training.curve) >= 4:
            took[0] = True
            shot("learn-4-msci-training")

    wait_for(app, lambda: c.worker is None, every=mid_training)
    run_id = c.result.run_id
    shot("learn-5-msci-trained")
    # the curator then reviews a few images of pairs the run never trained on (one per unseen pair
    # and two more): selecting the stored run shows how it did on them
    shown = project.current_top1()
    per_pair: dict[tuple[str, str], int] = {}
    later = []
    for r in images:
        rec = truth[r.rel_path]
        key = (rec["state"], rec["object"])
        if not rec["seen"] and per_pair.get(key, 0) < 3:
            per_pair[key] = per_pair.get(key, 0) + 1
            later.append(r)
    curate(later)
    for k in range(panel.history.topLevelItemCount()):
        item = panel.history.topLevelItem(k)
        if item.text(0) == f"#{run_id}":
            panel.history.setCurrentItem(item)
    wait_for(app, lambda: c.report_worker is None)
    shot("learn-6-msci-seen-unseen")

    panel.zero_button.click()  # back to zero-shot: the refine dialog is about the attributes
    dlg.close()
    settle(app)

    # -- the refine dialog for the most confused pair, from Insight --------------------------------------
    from workflows.settings import load_settings, save_settings

    server = scripted_llm()
    try:
        settings = load_settings(project)
        settings.ollama_host = server.url
        save_settings(project, settings)
        ctx.settings_changed.emit()
        insight = win.screens["insight"]
        win.show_screen("insight")
        insight.find_confused_pairs()
        wait_for(app, lambda: insight.confused is not None)
        pair = insight.confused[0]
        refine = insight.refine_pair(pair.a, pair.b)
        refine.move(320, 160)
        refine.resize(900, 560)
        wait_for(app, lambda: refine.preview_result is not None and not refine.model.busy)
        # the dialog has ticked the ones that fix more than they break on the pair alone
        shot("refine-1-proposals-with-their-effect")
        refine.preview()
        wait_for(app, lambda: not refine.model.busy)
        shot("refine-2-ticked-previewed")
        refine.close()
    finally:
        server.close()
    win.close()
    settle(app)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
