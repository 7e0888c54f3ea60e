"""Pre-label progress inside a batch and a cancel that stops within one forward pass (#14 item 8).

Real tiny open_clip model, real PNGs, real SQLite; the cache is checked by the real
`lazlabel cache verify` command.
"""

from __future__ import annotations

import pytest

from cli.main import main
from engine import pipeline
from tests.workflows.synth import tiny_settings
from workflows.prelabel import run_prelabel
from workflows.progress import Cancelled, CancelToken, drive
from workflows.settings import save_settings


@pytest.fixture
def many_passes(engine_project, monkeypatch):
    """Batches of 6 images × 10 views in passes of 16 views: 4 passes per batch."""
    project, ids, cids = engine_project
    save_settings(project, tiny_settings(n_crops=9, batch_size=6))
    monkeypatch.setattr(pipeline, "ENCODE_VIEWS_PER_PASS", 16)
    return project, ids


def test_progress_counts_images_inside_the_encoder(many_passes):
    project, ids = many_passes
    seen = []
    summary = drive(run_prelabel(project), lambda p: seen.append(p) if p.stage == "prelabel" else None)
    assert summary.n_scored == 12
    shown = [p.done for p in seen]
    assert shown == sorted(shown) and shown[-1] == 12  # the bar never goes back
    inside = [p for p in seen if p.extra.get("in_flight")]
    # images still inside the encoder count: the bar moves before the first batch is stored
    assert inside and inside[0].done == inside[0].extra["in_flight"] > 0 and inside[0].extra["stored"] == 0
    assert len(seen) > 2 * len({p.extra["stored"] for p in seen})  # several updates per stored batch


def test_cancel_mid_batch_stops_within_a_pass_and_leaves_a_valid_cache(many_passes, capsys):
    project, ids = many_passes
    cancel = CancelToken()
    gen = run_prelabel(project, cancel=cancel)
    at_cancel = None
    updates_after = 0
    with pytest.raises(Cancelled):
        for p in gen:
            if at_cancel is not None and p.stage == "prelabel":
                updates_after += 1
            if at_cancel is None and p.extra.get("stored", 0) > 0 and p.extra.get("in_flight"):
                at_cancel = p  # in the second batch, some images through the encoder
                cancel.cancel()
    run = project.latest_prediction_run()
    assert run.status == "cancelled" and run.n_done == 6  # the first batch's predictions are kept
    assert updates_after == 0  # no further pass ran: the engine stopped at once
    ctx_cache = _cache(project)
    # the images encoded whole when the cancel came are a smaller shard; the rest of the batch is not cached
    assert len(ctx_cache) == 6 + at_cancel.extra["in_flight"]
    assert main(["-p", project.location, "cache", "verify"]) == 0
    assert "0 damaged shard(s) removed" in capsys.readouterr().out
    summary = drive(run_prelabel(project))  # resume: the cached ones are scored, the rest encoded
    assert summary.resumed and summary.n_skipped == 6 and summary.n_scored == 6
    distinct = len(set(project.content_hashes(ids).values()))  # the cache keeps one row per content
    assert project.run(run.id).n_done == 12 and len(_cache(project)) == distinct


def _cache(project):
    from workflows.scoring import ScoringContext

    return ScoringContext.from_project(project).cache
