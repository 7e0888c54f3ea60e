"""Review use cases and project statistics over a real project file."""

from __future__ import annotations

import pytest

from tests.pg_fixtures import any_project, backend, pg_admin_url, pg_url, store_location  # noqa: F401
from workflows.errors import UserError
from workflows.review import accept_above, decide, history, resolve_class, resolve_image, undo
from workflows.stats import project_stats


@pytest.fixture
def project(any_project):  # noqa: F811
    """The store's review tests run on SQLite and on PostgreSQL (issue #20)."""
    return any_project


def test_decide_undo_via_use_cases(predicted):
    project, cids, iids, _ = predicted
    decide(project, [iids[0]], "corrected", class_id=cids[1], reviewer="ana", note="tail")
    undo(project, iids[0], reviewer="ana")
    h = history(project, iids[0])
    assert [d.action for d in h] == ["corrected", "undo"] and h[1].result_status == "unreviewed"
    with pytest.raises(UserError, match="nothing to undo"):
        undo(project, iids[0], reviewer="ana")


def test_reviewer_defaults_to_settings(predicted):
    project, cids, iids, _ = predicted
    project.set_setting("reviewer", "zoe")
    decide(project, [iids[1]], "accepted")
    assert history(project, iids[1])[0].reviewer == "zoe"


def test_resolvers_give_clear_errors(predicted):
    project, cids, iids, _ = predicted
    assert resolve_class(project, "DOG") == cids[1]
    assert resolve_image(project, "img3.png") == iids[3]
    assert resolve_image(project, str(project.image_root / "img3.png")) == iids[3]
    with pytest.raises(UserError, match="unknown class 'wolf'.*cat, dog, fox"):
        resolve_class(project, "wolf")
    with pytest.raises(UserError, match="no image 'nope.png'"):
        resolve_image(project, "nope.png")


def test_stats_counts_agreement_and_confusion(predicted):
    project, cids, iids, _ = predicted  # predictions: cat, dog, fox, cat, dog, fox
    accept_above(project, 0.35, reviewer="r")  # images 4, 5 accepted (dog, fox)
    decide(project, [iids[0]], "corrected", class_id=cids[2], reviewer="r")  # cat -> fox
    decide(project, [iids[1]], "rejected", reviewer="r")
    decide(project, [iids[2]], "uncertain", reviewer="r")
    st = project_stats(project)
    assert st.n_images == 6 and st.n_predicted == 6 and st.n_reviewed == 5
    assert st.by_review_status == {
        "accepted": 2,
        "corrected": 1,
        "rejected": 1,
        "uncertain": 1,
        "unreviewed": 1,
    }
    by_name = {c.name: c for c in st.classes}
    assert (by_name["cat"].predicted, by_name["cat"].decided) == (2, 0)
    assert (by_name["fox"].predicted, by_name["fox"].decided) == (2, 2)
    assert (st.n_compared, st.n_agree) == (4, 2) and st.agreement == pytest.approx(0.5)
    conf = st.predicted_vs_decided
    assert (
        conf.count(cids[0], cids[2]) == 1
        and conf.count(cids[1], None) == 1
        and conf.count(cids[2], cids[2]) == 1
    )
    assert sum(st.score_counts) == 6 and len(st.score_edges) == len(st.score_counts) + 1
    assert st.imported_vs_decided is None
