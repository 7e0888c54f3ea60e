"""Review screen: overlay evidence, keyboard decisions and undo, asserted on the project store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

CLASSES = {
    "blorp": ["a red circle", "has a striped texture", "a blue square"],
    "zenti": ["a green triangle", "has dots"],
    "quam": ["a yellow star", "has a smooth surface"],
}
SIZE = (96, 64)  # W, H of every test image
# names as long as real data sets have them (CUB-200 folders, class names without spaces)
LONG_CLASSES = {
    "Yellow-bellied_Sapsucker_of_the_northern_forests": [
        "a woodpecker with a long attribute text that goes on and on about the barring of its back feathers",
        "has a red crown"],
    "Black-throated_Blue_Warbler_juvenile_plumage": ["a small songbird with a dark throat and a blue back", "has dots"],
    "Ruby-crowned_Kinglet": ["a tiny olive bird", "has a white eye ring"],
}
LONG_REL = "CUB_200_2011/images/188.Pileated_Woodpecker_and_relatives/Pileated_Woodpecker_0000{i}_180419_crop.jpg"
MAX_SCREEN_MIN_WIDTH = 1024 - 176  # the screen next to the navigation column fits a 1024 px window
MAX_SCREEN_MIN_HEIGHT = 560  # ...and a 700 px high one with menus and status bar


def explanation(name: str, attrs: list[str], score: float, seed: int) -> dict:
    """Engine-shaped explanation JSON: each attribute with two regions in original pixels."""
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.ones(len(attrs)))
    out = []
    for j, text in enumerate(attrs):
        regions = []
        for _ in range(2):
            x0, y0 = rng.integers(0, SIZE[0] // 2), rng.integers(0, SIZE[1] // 2)
            side = int(rng.integers(16, 32))
            regions.append({"box": [int(x0), int(y0), int(x0 + side), int(y0 + side)],
                            "mass": float(rng.uniform(0.01, 0.2)), "similarity": float(rng.uniform(0.2, 0.3))})
        out.append({"index": j, "text": text, "share": float(shares[j]), "mass": float(sum(r["mass"] for r in regions)),
                    "similarity": 0.25, "regions": regions})
    return {"class_name": name, "class_index": 0, "score": score, "image_size": list(SIZE), "attributes": out}


def explanation_v2(name: str, attrs: list[str], score: float, seed: int) -> dict:
    """Version-2 evidence as the engine stores it: each attribute with a localisation map (a bump
    at a random peak on a 6 x 8 grid over the whole image) and a best-region similarity."""
    from engine.evidence import AttributeMap

    data = explanation(name, attrs, score, seed)
    rng = np.random.default_rng(seed + 1000)
    yy, xx = np.mgrid[0:6, 0:8]
    for a in data["attributes"]:
        r, c = int(rng.integers(0, 6)), int(rng.integers(0, 8))
        values = np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / 2.0).astype(np.float32)
        cw, ch = SIZE[0] / 8, SIZE[1] / 6
        a["map"] = AttributeMap(values, ((c + 0.5) * cw, (r + 0.5) * ch),
                                (c * cw, r * ch, (c + 1) * cw, (r + 1) * ch)).to_json()
        a["best_similarity"] = float(rng.uniform(0.1, 0.4))
    data["version"] = 2
    return data


def build_world(project, n_images: int = 4, *, classes: dict | None = None, rel: str = "img_{i:02d}.png") -> dict:
    """Real rows through the store's own API: images on disk, classes, attributes, one pre-label run.
    `classes`: name -> attribute texts (default CLASSES); `rel`: each image's relative path."""
    from db.store_images import ScanRecord
    from db.store_runs import PredictionWrite

    classes = CLASSES if classes is None else classes
    root = Path(project.image_root)
    records = []
    for i in range(n_images):
        path = rel.format(i=i)
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        PILImage.new("RGB", SIZE, (40 * i % 255, 90, 160)).save(root / path)
        records.append(ScanRecord(rel_path=path, size=(root / path).stat().st_size, mtime_ns=1,
                                  width=SIZE[0], height=SIZE[1], format="PNG", mode="RGB"))
    project.write_scan_batch(records)
    ids = project.image_ids()
    cids = {}
    for name, attrs in classes.items():
        cids[name] = project.add_class(name)
        for a in attrs:
            project.add_attribute(cids[name], a, source="llm")
    version = project.snapshot_attribute_set()
    run = project.create_run(kind="prelabel", model_id="random:tiny", engine_config={"method": "lazsl"},
                             attribute_set_version=version, n_images=len(ids))
    names = list(classes)
    rows = []
    for k, iid in enumerate(ids):
        order = names[k % 3:] + names[:k % 3]  # image k predicts class k % 3
        scores = [0.31, 0.29, 0.20]
        rows.append(PredictionWrite(
            image_id=iid, class_id=cids[order[0]], score=scores[0], margin=scores[0] - scores[1],
            topk=[(cids[n], s) for n, s in zip(order, scores)],
            explanations={cids[n]: explanation_v2(n, classes[n], s, seed=10 * k + j)
                          for j, (n, s) in enumerate(zip(order[:2], scores[:2]))},
        ))
    project.write_prediction_batch(run, rows)
    project.update_run(run, status="done", finished=True)
    return {"ids": ids, "classes": cids, "run": run, "order": names, "attributes": classes}


@pytest.fixture
def world(ctx, project):
    data = build_world(project)
    ctx.set_project(project)
    return data


@pytest.fixture
def review(ctx, world, qtbot):
    import workflows.evidence  # noqa: F401 - the app warms these up at start; a first import of
    import workflows.scoring  # noqa: F401 - torch in the loader thread under a busy event loop is slow
    from desktop.review.view import ReviewView

    view = ReviewView(ctx)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    qtbot.waitExposed(view)
    view.activateWindow()
    view.activate()
    qtbot.waitUntil(lambda: view.legend.evidence is not None, timeout=10000)
    return view


def press(qtbot, view, key, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(view, key, modifier)


def test_evidence_tab_and_overlay_show_the_maps_and_a_row_click_shows_one(review, qtbot):
    ev = review.legend.evidence
    present = [a for a in ev.attributes if a.presence is None or a.presence.label != "not found"]
    assert review.overlay.evidence is ev
    assert len(review.overlay.overlay_items()) == 2 * len(present)  # one contour + one peak each
    first = review.legend.rows[0]
    qtbot.mouseClick(first, Qt.MouseButton.LeftButton)
    assert review.overlay.attribute is first.attr and len(review.overlay.overlay_items()) == 2
    assert not review.overlay.heat_image().isNull()  # its map as a heat layer
    qtbot.mouseClick(first, Qt.MouseButton.LeftButton)  # second click: all attributes again
    assert review.overlay.attribute is None
    review.mode.setCurrentIndex(review.mode.findData("heatmap"))
    assert not review.overlay.heat_image().isNull()
    press(qtbot, review, Qt.Key.Key_Space)
    assert review.overlay.overlay_items() == [] and not review.show_overlay.isChecked()


# -- keyboard decisions -----------------------------------------------------------------------

def test_keys_accept_correct_reject_undo_and_navigate(review, world, project, qtbot):
    ids, cids = world["ids"], world["classes"]
    c = review.controller
    queue = list(c.queue)
    assert sorted(queue) == sorted(ids) and c.current_id == queue[0]

    first = c.current_id
    predicted = project.image(first).pred_class_id
    press(qtbot, review, Qt.Key.Key_A)  # accept -> advances
    img = project.image(first)
    assert img.review_status == "accepted" and img.label_class_id == predicted
    assert c.current_id == queue[1]

    second = c.current_id
    runner_up = project.latest_prediction(second).topk[1][0]
    press(qtbot, review, Qt.Key.Key_2)  # corrects to the second class of the top-k
    img = project.image(second)
    assert img.review_status == "corrected" and img.label_class_id == runner_up

    third = c.current_id
    press(qtbot, review, Qt.Key.Key_R)
    assert project.image(third).review_status == "rejected" and project.image(third).label_class_id is None

    press(qtbot, review, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undoes the reject
    assert c.current_id == third
    img = project.image(third)
    assert img.review_status == "unreviewed" and img.label_class_id is None
    actions = [d.action for d in project.decision_history(third)]
    assert actions == ["rejected", "undo"]  # undo is a new row, nothing deleted

    press(qtbot, review, Qt.Key.Key_K)
    assert c.current_id == second
    press(qtbot, review, Qt.Key.Key_J)
    press(qtbot, review, Qt.Key.Key_J)
    assert c.current_id == queue[3]
    press(qtbot, review, Qt.Key.Key_Left)
    assert c.current_id == third
    assert project.image(second).label_class_id in cids.values()
    # the decision trail of the shown image lists the reject and its undo
    assert review.info.history.topLevelItemCount() == 2


def test_search_box_corrects_to_any_class(review, world, project, qtbot):
    c = review.controller
    target = c.current_id
    press(qtbot, review, Qt.Key.Key_Slash)
    assert review.search.hasFocus()
    not_in_top2 = next(n for n in world["order"] if world["classes"][n] not in
                       [t[0] for t in project.latest_prediction(target).topk[:2]])
    qtbot.keyClicks(review.search, not_in_top2[:3])
    press(qtbot, review.search, Qt.Key.Key_Return)
    img = project.image(target)
    assert img.review_status == "corrected" and img.label_class_id == world["classes"][not_in_top2]
    # letters typed into the search (u, a) did not trigger the U / A shortcuts: one decision only
    assert [d.action for d in project.decision_history(target)] == ["corrected"]
    assert not review.search.hasFocus()


def test_labels_changed_is_emitted_and_errors_are_readable(review, world, ctx, qtbot):
    with qtbot.waitSignal(ctx.labels_changed) as blocker:
        press(qtbot, review, Qt.Key.Key_U)
    assert blocker.args[0] == [world["ids"][0]] or len(blocker.args[0]) == 1
    review.controller.decided.clear()
    # undo on an image with nothing to undo: a one-line notice, no dialog, nothing written
    press(qtbot, review, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "nothing to undo" in review.notice.text()
    assert ctx.errors == []


def test_bulk_accept_of_the_browser_selection(review, world, ctx, project):
    ids = world["ids"][:3]
    ctx.set_selection(ids)
    review.bulk_accept()
    assert [project.image(i).review_status for i in ids] == ["accepted"] * 3
    assert project.image(world["ids"][3]).review_status == "unreviewed"
    assert review.controller.queue_source == "selection" and review.controller.queue == ids


def test_why_not_contrasts_the_prediction_with_the_runner_up(review, world, project, qtbot):
    target = review.controller.current_id
    topk = project.latest_prediction(target).topk
    c = review.compare.contrast
    assert c is not None and (c.a.class_name, c.b.class_name) == (topk[0][1], topk[1][1])
    assert topk[0][1] in review.compare.summary.text() and topk[1][1] in review.compare.summary.text()
    listed = set(review.compare.row_texts())
    assert listed == {a.text for a in (*c.b_missing, *c.for_a, *c.for_b)}
    if review.compare.rows:  # clicking a row draws that attribute's map alone
        qtbot.mouseClick(review.compare.rows[0], Qt.MouseButton.LeftButton)
        assert review.overlay.attribute is review.compare.rows[0].attr
    # showing the runner-up's evidence does not change what Enter does (it accepts the prediction)
    review.controller.show_class(topk[1][0])
    qtbot.waitUntil(lambda: review.legend.evidence is not None and review.legend.evidence.class_name == topk[1][1],
                    timeout=10000)
    press(qtbot, review, Qt.Key.Key_Return)
    img = project.image(target)
    assert img.review_status == "accepted" and img.label_class_id == topk[0][0]


def prelabelled(project) -> list[int]:
    """A real pre-label run (tiny random open_clip, 6 crops) over 8 real PNGs: engine-made evidence."""
    from tests.workflows.synth import add_classes, add_images, tiny_settings
    from workflows.prelabel import run_prelabel
    from workflows.progress import drive
    from workflows.settings import save_settings

    ids = add_images(project, 8)
    add_classes(project)
    save_settings(project, tiny_settings())
    drive(run_prelabel(project))
    return ids


def test_review_shows_engine_evidence_and_explains_any_class_on_demand(ctx, project, qtbot):
    from desktop.review.view import ReviewView

    prelabelled(project)
    ctx.set_project(project)
    view = ReviewView(ctx)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    view.activate()
    c = view.controller
    assert c.state is not None and c.state.topk
    qtbot.waitUntil(lambda: view.overlay.evidence is not None, timeout=20000)
    ev = view.overlay.evidence
    from desktop.widgets.evidence_overlay import shown_attributes

    assert ev.class_name == c.state.topk[0][1]
    assert bool(view.overlay.overlay_items()) == bool(shown_attributes(ev))  # present ones are drawn
    assert view.topk.count() == len(c.state.topk)  # every class the run kept is listed
    # the last class of the top-k (its evidence may not be stored) is explained off the GUI thread
    other = c.state.topk[-1][0]
    c.show_class(other)
    qtbot.waitUntil(lambda: view.overlay.evidence is not None and view.overlay.evidence.class_id == other,
                    timeout=20000)
    qtbot.keyClick(view, Qt.Key.Key_A)
    assert ctx.errors == []


# -- layout -----------------------------------------------------------------------------------------

def test_review_screen_fits_a_small_window_with_long_names(ctx, project, qtbot):
    """Long paths and class names elide or wrap; they never force the window wider."""
    from desktop.review.view import ReviewView

    build_world(project, classes=LONG_CLASSES, rel=LONG_REL)
    ctx.set_project(project)
    view = ReviewView(ctx)
    qtbot.addWidget(view)
    view.resize(1080, 760)
    view.show()
    view.activate()
    assert view.controller.state is not None
    qtbot.waitUntil(lambda: view.legend.evidence is not None, timeout=10000)
    assert len(view.legend.rows) == 2
    for i in range(view.tabs.count()):  # every tab filled in
        view.tabs.setCurrentIndex(i)
    QApplication.processEvents()  # pending layout requests: the hints below are up to date
    hint = view.minimumSizeHint()
    assert hint.width() <= MAX_SCREEN_MIN_WIDTH and hint.height() <= MAX_SCREEN_MIN_HEIGHT, hint
    view.resize(hint.width(), 700)
    qtbot.wait(10)
    assert view.headline_path.is_elided() and view.headline_path.toolTip() == view.controller.state.rel_path
    assert view.headline_path.text() == f"<b>{view.controller.state.rel_path}</b>"  # the full text is kept


def test_elided_label_keeps_its_text_and_shows_all_of_it_in_the_tooltip(qtbot):
    from desktop.widgets.fit import ElidedLabel

    label = ElidedLabel("<b>a_very_long_file_name_without_any_space_at_all.png</b>")
    qtbot.addWidget(label)
    label.show()
    assert label.minimumSizeHint().width() < label.sizeHint().width()
    label.resize(label.sizeHint())
    assert not label.is_elided() and label.toolTip() == ""
    label.resize(80, label.height())
    assert label.is_elided() and label.toolTip() == "a_very_long_file_name_without_any_space_at_all.png"
    label.grab()  # paints the elided text
    label.setText("short")
    assert not label.is_elided() and label.toolTip() == ""


def test_search_exact_or_unique_match_wins_and_ambiguous_text_opens_the_popup(ctx, project, qtbot):
    """'/pim⏎' used to do nothing because 'pim' is also inside 'kappimon' (issue #14 item 2)."""
    from desktop.review.view import ReviewView

    world = build_world(project, classes={"pim": ["a"], "kappimon": ["b"], "zorbit": ["c"]})
    ctx.set_project(project)
    view = ReviewView(ctx)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    view.activate()
    first = view.controller.current_id
    press(qtbot, view, Qt.Key.Key_Slash)
    qtbot.keyClicks(view.search, "pim")
    press(qtbot, view.search, Qt.Key.Key_Return)  # exact name wins over "kappimon"
    assert project.image(first).label_class_id == world["classes"]["pim"]
    second = view.controller.current_id
    assert second != first
    press(qtbot, view, Qt.Key.Key_Slash)
    qtbot.keyClicks(view.search, "PI")
    press(qtbot, view.search, Qt.Key.Key_Return)  # two match: popup + message, nothing recorded
    assert project.image(second).review_status == "unreviewed"
    assert "2 classes match" in view.notice.text() and view.search.completer().popup().isVisible()
    view.search.completer().activated.emit("kappimon")  # picked from the popup
    assert project.image(second).label_class_id == world["classes"]["kappimon"]
    assert [d.action for d in project.decision_history(second)] == ["corrected"] or \
        [d.action for d in project.decision_history(second)] == ["accepted"]


def test_a_value_error_from_a_bug_is_a_bug_and_a_user_error_is_one_line(review, ctx, qtbot, monkeypatch):
    """One error policy (issue #15 item 5): `workflows.errors.is_user_error` decides."""
    from desktop.context import describe_error
    from desktop.review import service
    from workflows.errors import UserError

    def broken(*_a, **_k):
        raise ValueError("index out of range in some helper")

    monkeypatch.setattr(service, "decide", broken)
    press(qtbot, review, Qt.Key.Key_A)
    assert ctx.errors and ctx.errors[-1][0] == "Decision not saved"
    summary, text, details = describe_error(ValueError("x"))
    assert "this is a bug" in summary

    def refused(*_a, **_k):
        raise UserError("class #9 is not an active class of this project")

    monkeypatch.setattr(service, "decide", refused)
    n = len(ctx.errors)
    press(qtbot, review, Qt.Key.Key_A)
    assert len(ctx.errors) == n and "not an active class" in review.notice.text()
