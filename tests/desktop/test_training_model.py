"""The msci training state of the Learn panel (desktop/models/learn.py: `TrainingModel`,
`tally_seen_unseen`) and the service's curve carrier (`with_curve`), without a QApplication."""

from __future__ import annotations

from desktop.learn.service import with_curve
from desktop.models.learn import EpochPoint, TrainingModel, is_epoch_end, tally_seen_unseen
from workflows.progress import Progress


def _batches(epochs=3, steps=2, val=(0.4, 0.7, 0.6)):
    """What `engine.msci.train.iter_train` reports through `learn_msci`: per batch, then per epoch."""
    step = 0
    for e in range(1, epochs + 1):
        for _ in range(steps):
            step += 1
            yield Progress(step, epochs * steps, "", stage="train",
                           extra={"epoch": e, "epochs": epochs, "step": step, "steps": epochs * steps, "loss": 3.0 / e})
        yield Progress(step, epochs * steps, "", stage="train",
                       extra={"epoch": float(e), "epochs": epochs, "step": step, "steps": epochs * steps,
                              "loss": 2.5 / e, "val_accuracy": val[e - 1]})


def _gen(items, result):
    yield from items
    return result


def test_epoch_reports_are_told_from_batch_reports():
    assert is_epoch_end({"epoch": 2.0, "loss": 1.0})  # nothing held out: the history row, epoch a float
    assert is_epoch_end({"epoch": 2, "val_accuracy": 0.5})
    assert not is_epoch_end({"epoch": 2, "step": 4, "loss": 1.0})


def test_with_curve_carries_every_epoch_so_far_and_returns_the_result():
    curve: list[EpochPoint] = []
    out = []
    gen = with_curve(_gen([Progress(0, None, "", stage="prepare"), *_batches()], "R"), curve)
    while True:
        try:
            out.append(next(gen))
        except StopIteration as stop:
            assert stop.value == "R"
            break
    assert [p.epoch for p in curve] == [1, 2, 3] and [p.val_accuracy for p in curve] == [0.4, 0.7, 0.6]
    assert "curve" not in out[0].extra and "curve" not in out[1].extra  # before the first epoch ends
    assert [len(p.extra["curve"]) for p in out[3:]] == [1, 1, 1, 2, 2, 2, 3]
    # a throttled stream that kept only the last report still has the whole curve
    m = TrainingModel()
    m.start("msci training")
    m.feed(out[-1].stage, out[-1].extra)
    assert m.curve == curve and m.best == curve[1]


def test_training_model_follows_the_progress_and_emits_on_change_only():
    m = TrainingModel()
    seen = []
    for n in ("stage", "step", "curve", "report"):
        getattr(m.events, n).connect(lambda e, n=n: seen.append(n))
    m.start("msci training")
    assert m.stage == "prepare" and m.status_text() == "loading the model"
    m.feed("encode", {})
    assert "encoding" in m.status_text()
    curve: list[EpochPoint] = []
    reports = list(with_curve(_gen(list(_batches()), None), curve))
    for p in reports:
        m.feed(p.stage, p.extra)
    assert m.stage == "train" and (m.epoch, m.epochs, m.step, m.steps) == (3, 3, 6, 6)
    assert m.status_text() == "epoch 3/3 · step 6/6 · loss 0.833 · held-out seen pairs 60%"
    assert seen.count("curve") == 3 and seen.count("stage") == 3  # prepare, encode, train
    n = len(seen)
    m.feed(reports[-1].stage, reports[-1].extra)
    assert len(seen) == n  # nothing changed: nothing emitted
    m.start("again")
    assert m.curve == [] and m.report is None and m.stage == "prepare"
    m.reset()
    assert (m.stage, m.title, m.curve, m.report, m.status_text()) == ("", "", [], None, "")


def test_best_epoch_is_the_first_of_the_best_held_out_else_the_last():
    m = TrainingModel()
    m.set_curve([EpochPoint(1, 3.0, 0.5), EpochPoint(2, 2.0, 0.8), EpochPoint(3, 1.0, 0.8)])
    assert m.best.epoch == 2
    m.set_curve([EpochPoint(1, 3.0), EpochPoint(2, 2.0)])
    assert m.best.epoch == 2


def test_seen_unseen_splits_the_decided_images_by_the_pairs_training_saw():
    # pairs 1, 2 seen; 3, 4 unseen; images 10.. decided
    decided = {10: 1, 11: 1, 12: 2, 13: 3, 14: 4, 15: 4}
    before = {10: 1, 11: 2, 12: 2, 13: 1, 14: 1, 15: 4, 16: 1}
    after = {10: 1, 11: 1, 12: 1, 13: 3, 14: 4, 15: 3, 16: 3}
    r = tally_seen_unseen(after, before, decided, seen={1, 2}, pairs={1, 2, 3, 4}, heldout=(0.5, 0.75, 8))
    assert (r.n_pairs, r.n_seen_pairs, r.n_unseen_pairs) == (4, 2, 2)
    assert (r.seen_right, r.seen_n) == (2, 3) and (r.unseen_right, r.unseen_n) == (2, 3)
    assert r.unseen_right_before == 1 and r.seen_right_before == 2
    assert r.rows()[:3] == [("seen pairs, held out", "50%", "75%", "8"),
                            ("seen pairs, every decided image", "67%", "67%", "3"),
                            ("unseen pairs, decided images", "33%", "67%", "3")]
    assert r.rows()[3] == ("images labelled as an unseen pair", "1", "4", "") and r.hint() == ""
    assert (r.predicted_unseen, r.predicted_unseen_before) == (4, 1)
    lines = r.lines()
    assert "zero-shot 50% → learned 75%" in lines[1] and "8 decided images" in lines[1]
    assert any(line.startswith("unseen pairs, decided since: 67% of 3 (zero-shot 33%)") for line in lines)
    none = tally_seen_unseen(after, before, {10: 1}, seen={1, 2}, pairs={1, 2, 3, 4})
    assert none.unseen_accuracy is None and any("no decided image yet" in line for line in none.lines())
    assert "too few decided images" in none.lines()[1]
    assert none.hint().startswith("No decided image of an unseen pair yet")
    assert tally_seen_unseen(after, before, decided, seen={1, 2}, pairs={1, 2, 3, 4}).hint().startswith("Too few")
