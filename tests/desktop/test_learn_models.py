"""The Learn panel's and the refine dialog's Qt-free state (desktop/models/learn.py), without a
QApplication: events fire on real changes only, a preview goes stale with its inputs."""

from __future__ import annotations

import sys

from desktop.models.learn import (
    Change,
    ClassDecisions,
    HistoryRow,
    LearnModel,
    LearnPreview,
    MethodChoice,
    Proposal,
    RefineModel,
)

METHODS = [MethodChoice("attributes", "weights", True), MethodChoice("adapter", "cache model", False),
           MethodChoice("msci", "pairs", False, False, "msci is only for compositional (state, object) projects")]


def _record(model, *names):
    seen = []
    for n in names:
        getattr(model.events, n).connect(lambda e, n=n: seen.append((n, e.value)))
    return seen


def test_models_module_has_no_qt():
    assert "desktop.models.learn" in sys.modules
    import desktop.models.learn as m

    assert "PySide6" not in open(m.__file__).read()


def test_method_choice_skips_unavailable_and_labels_the_less_explainable():
    m = LearnModel()
    m.set_methods(METHODS)
    assert m.method == "attributes"
    assert m.choice("adapter").label.endswith("(less explainable)") and m.choice("attributes").label == "attributes"
    m.choose_method("msci")
    assert "compositional" in m.blocker() or m.blocker().startswith("No decisions")
    m.set_decisions([ClassDecisions(1, "zorbit", 3, 1)])
    assert "compositional" in m.blocker()
    m.choose_method("adapter")
    assert m.blocker() == ""
    m.set_methods([METHODS[0], METHODS[2]])  # adapter gone: back to an available one
    assert m.method == "attributes"


def test_no_decisions_blocks_with_the_reason():
    m = LearnModel()
    m.set_methods(METHODS)
    m.set_decisions([ClassDecisions(1, "zorbit", 0, 0), ClassDecisions(2, "quillan", 0, 0)])
    assert m.n_decisions == 0 and "No decisions yet" in m.blocker()
    m.set_decisions([ClassDecisions(1, "zorbit", 2, 1), ClassDecisions(2, "quillan", 0, 0)])
    assert m.n_decisions == 3 and m.classes_with_decisions == 1 and m.blocker() == ""
    m.set_busy("apply")
    assert m.blocker()


def test_preview_goes_stale_when_its_inputs_change_but_an_applied_one_stays():
    m = LearnModel()
    m.set_methods(METHODS)
    m.set_decisions([ClassDecisions(1, "zorbit", 2)])
    seen = _record(m, "preview", "decisions", "method")
    changes = (Change(5, "a.png", "zorbit", "quillan"), Change(6, "b.png", "zorbit", "quillan"),
               Change(7, "c.png", "quillan", "zorbit"))
    m.set_preview(LearnPreview("attributes", 2, changes, 0.5, 0.75))
    assert m.preview.pairs() == [("zorbit", "quillan", 2), ("quillan", "zorbit", 1)]
    assert m.preview.headline() == "3 label(s) would change: zorbit → quillan 2, quillan → zorbit 1"
    assert "50% → learned 75%" in m.preview.accuracy_text()
    m.set_decisions([ClassDecisions(1, "zorbit", 2)])  # the same: nothing happens
    assert m.preview is not None and [s[0] for s in seen] == ["preview"]
    m.set_decisions([ClassDecisions(1, "zorbit", 3)])  # a new decision: the preview is stale
    assert m.preview is None
    m.set_preview(LearnPreview("attributes", 3, changes[:1], applied_run=9))
    assert m.preview.headline().startswith("1 label(s) changed")
    m.choose_method("adapter")
    assert m.preview is not None  # an applied run is history, not a stale preview


def test_history_knows_the_run_in_use():
    m = LearnModel()
    seen = _record(m, "history")
    rows = [HistoryRow(4, "attributes", 40, "2026-12-03 13:00", 0.6, 0.7, 5, active=True),
            HistoryRow(2, "attributes", 20, "2026-12-03 12:00")]
    m.set_history(rows)
    m.set_history(list(rows))
    assert m.active_run == 4 and len(seen) == 1
    m.set_history([HistoryRow(4, "attributes", 40, "x"), HistoryRow(2, "attributes", 20, "y")])
    assert m.active_run is None


def test_refine_model_ticks_only_known_proposals():
    r = RefineModel("zorbit", "quillan")
    seen = _record(r, "ticked")
    r.set_proposals([Proposal(0, "zorbit", "a red crest", "quillan"), Proposal(1, "quillan", "webbed feet", "zorbit")])
    assert r.ticked == {0, 1} and r.pair_label == "zorbit vs quillan"
    r.tick(1, False)
    r.tick(7, True)  # not a proposal: ignored
    assert r.ticked == {0} and len(seen) == 2
    p = Proposal(0, "zorbit", "a red crest", "quillan", 0.5, 0.75, 3, 1)
    assert p.effect_text == "50% → 75%  (+3 / −1)" and Proposal(1, "q", "t", "z").effect_text == "…"
