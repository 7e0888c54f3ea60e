"""Screenshots of "Bulk accept with a guarantee" (issue #21) on a copy of a demo project.

    xvfb-run -a -s "-screen 0 1440x900x24" .venv/bin/python scripts/screenshots_vouch.py --demo-dir /tmp/demo1400

Draws a random audit sample, shows Review serving it (order "audit sample"), lets a simulated
curator decide it with the demo's ground truth, then opens the dialog: the proposed threshold with
its bound, the per-class table and the preview; then one class overridden. Each step is captured
from the X screen with ImageMagick (`import -window root`) into docs/screenshots/vouch-*.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def settle(app, seconds: float = 0.8) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo-dir", type=Path, required=True, help="a demo project built by `lazlabel demo`")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    ap.add_argument("--sample", type=int, default=400)
    ap.add_argument("--target", type=float, default=0.93)
    args = ap.parse_args()
    if not os.environ.get("DISPLAY"):
        print("needs an X display: run under xvfb-run", file=sys.stderr)
        return 1
    os.environ["LAZLABEL_SETTINGS"] = str(Path(tempfile.mkdtemp()) / "settings.ini")
    work = Path(tempfile.mkdtemp(prefix="vouch-shots-"))
    for name in ("demo.lazlabel", "demo.lazlabel.cache"):
        src = args.demo_dir / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / name)
    from db import Project
    from workflows import vouch

    truth = {r["path"]: r["class"] for r in json.loads((args.demo_dir / "ground_truth.json").read_text())["images"]}
    with Project.open(work / "demo.lazlabel") as p:
        p.set_setting("image_root", str(args.demo_dir / "images"))
        sample = vouch.draw_audit_sample(p, args.sample, seed=21, reviewer="curator")

    from PySide6.QtWidgets import QApplication

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
    args.out.mkdir(parents=True, exist_ok=True)

    def shot(name: str) -> None:
        settle(app, 1.2)
        path = args.out / f"{name}.png"
        subprocess.run(["import", "-window", "root", str(path)], check=True)
        print(f"wrote {path}", flush=True)

    win.actions.open_path(work / "demo.lazlabel")
    settle(app, 1.5)
    review = win.screens["review"]
    win.show_screen("review")
    review.order.setCurrentIndex(review.order.findData("audit_sample"))
    deadline = time.monotonic() + 30
    while review.legend.evidence is None and time.monotonic() < deadline:
        settle(app, 0.2)
    shot("vouch-1-review-serves-the-audit-sample")

    project = win.ctx.project
    names = {v: k for k, v in project.class_names_by_id().items()}
    rows = {r.id: r for r in project.images(sample.image_ids)}
    for i in sample.image_ids:  # the simulated curator decides the sample with the ground truth
        true = names[truth[rows[i].rel_path]]
        if rows[i].pred_class_id == true:
            project.record_decisions([i], "accepted", reviewer="curator")
        else:
            project.record_decisions([i], "corrected", class_id=true, reviewer="curator")
    win.ctx.labels_changed.emit([])
    from desktop.dialogs.vouch import VouchDialog

    dlg = VouchDialog(win.ctx, win)
    dlg.move(290, 90)
    dlg.show()
    dlg.target.setValue(args.target)
    dlg.propose()
    shot("vouch-2-proposed-threshold")
    p = dlg.model.proposal
    if p is not None and p.rows:
        row = p.rows[0]
        dlg.set_override(row.class_id, None if row.threshold is not None else 0.5)
    shot("vouch-3-override")
    dlg.close()
    win.close()
    settle(app)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
