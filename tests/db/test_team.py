"""Team mode (issue #20): assignments, agreement statistics, conflicts resolved by a lead, on
SQLite and on a real PostgreSQL (the `project` fixture of tests/db is parametrised)."""

from __future__ import annotations

import numpy as np
import pytest

from cli.main import main
from db.models import Decision
from tests.workflows.conftest import predicted, seeded  # noqa: F401  (fixtures)
from workflows.errors import UserError
from workflows.team import agreement, assign, cohen_kappa, conflicts, fleiss_kappa, resolve

# --- the statistics against hand-computed examples ----------------------------------------------


def test_cohen_kappa_hand_computed():
    """ana A A B B A / bob A B B B A: p_o = 4/5, p_e = .6*.4 + .4*.6 = .48,
    kappa = (.8 - .48) / (1 - .48) = 8/13."""
    k = cohen_kappa(list("AABBA"), list("ABBBA"))
    assert k == pytest.approx(8 / 13)
    assert cohen_kappa(list("AA"), list("AA")) is None  # one category: chance agreement is 1
    assert cohen_kappa(list("AB"), list("BA")) == pytest.approx(-1.0)


def test_fleiss_kappa_hand_computed():
    """4 images x 3 raters, counts (A, B): (3,0) (2,1) (1,2) (0,3). p_A = p_B = 1/2, P_e = 1/2;
    P_i = 1, 1/3, 1/3, 1 -> mean 2/3; kappa = (2/3 - 1/2) / (1/2) = 1/3. Per class A:
    sum n(m-n) = 0+2+2+0 = 4, over N m (m-1) p q = 4*3*2/4 = 6: kappa_A = 1 - 4/6 = 1/3."""
    overall, per = fleiss_kappa(np.array([[3, 0], [2, 1], [1, 2], [0, 3]]))
    assert overall == pytest.approx(1 / 3)
    assert per == [pytest.approx(1 / 3), pytest.approx(1 / 3)]
    # perfect agreement, and an image with one rater only (ignored)
    overall, per = fleiss_kappa(np.array([[2, 0, 0], [0, 2, 0], [0, 0, 2], [1, 0, 0]]))
    assert overall == pytest.approx(1.0) and per == [pytest.approx(1.0)] * 3


def test_fleiss_kappa_equals_cohen_style_formula_for_two_raters_with_varying_counts():
    """Rows with 2 and 3 raters mixed: the generalised formula, worked by hand.
    rows (A,B): (2,0) (1,1) (0,3): sum m = 7, p_A = 3/7, p_B = 4/7, P_e = 25/49;
    P_i = 1, 0, 1 -> mean 2/3; kappa = (2/3 - 25/49) / (24/49) = (98 - 75) / 72 = 23/72."""
    overall, _ = fleiss_kappa(np.array([[2, 0], [1, 1], [0, 3]]))
    assert overall == pytest.approx(23 / 72)


# --- assignments ---------------------------------------------------------------------------------


def test_assign_splits_the_queue_with_an_overlap_share(predicted):  # noqa: F811
    project, cids, iids, _run = predicted
    counts = assign(project, ["ana", "bob"], overlap=0.34, seed=3)  # round(0.34 * 6) = 2 to both
    assert counts == {"ana": 4, "bob": 4}
    rows = {(r.reviewer, r.assigned, r.overlap, r.pending) for r in project.assignment_counts()}
    assert rows == {("ana", 4, 2, 4), ("bob", 4, 2, 4)}
    assert assign(project, ["ana", "bob"]) == {"ana": 0, "bob": 0}  # nothing left unassigned
    from db.queries import ImageFilter

    ana = project.image_ids(ImageFilter(status="ok", pending_for="ana"))
    bob = project.image_ids(ImageFilter(status="ok", pending_for="bob"))
    assert len(set(ana) | set(bob)) == 6 and len(set(ana) & set(bob)) == 2
    project.record_decisions([ana[0]], "accepted", reviewer="ana")
    assert ana[0] not in project.image_ids(ImageFilter(status="ok", pending_for="ana"))
    if ana[0] in bob:  # an overlap image stays in bob's queue until bob decides it too
        assert ana[0] in project.image_ids(ImageFilter(status="ok", pending_for="bob"))
    with pytest.raises(UserError, match="overlap"):
        assign(project, ["ana"], overlap=1.5)


# --- conflicts -----------------------------------------------------------------------------------


def test_conflict_found_resolved_by_a_lead_and_every_decision_kept(predicted):  # noqa: F811
    project, cids, iids, _run = predicted
    cat, dog, fox = cids
    img = iids[0]  # predicted cat
    project.record_decisions([img], "accepted", reviewer="ana")
    project.record_decisions([img], "corrected", class_id=dog, reviewer="bob")
    project.record_decisions([iids[1]], "accepted", reviewer="ana")  # predicted dog; bob agrees
    project.record_decisions([iids[1]], "corrected", class_id=dog, reviewer="bob")
    [c] = conflicts(project)
    assert c.image_id == img and {(v.reviewer, v.label) for v in c.votes} == {("ana", cat), ("bob", dog)}

    did = resolve(project, img, fox, lead="lee")
    assert conflicts(project) == []
    trail = project.decision_history(img)
    assert [(d.reviewer, d.class_id) for d in trail] == [("ana", cat), ("bob", dog), ("lee", fox)]
    assert trail[-1].id == did and project.image(img).label_class_id == fox
    with pytest.raises(UserError, match="no open conflict"):
        resolve(project, img, cat, lead="lee")
    # a new vote after the resolution that still disagrees (ana: cat, bob: none) opens it again
    project.record_decisions([img], "rejected", reviewer="bob")
    assert [c.image_id for c in conflicts(project)] == [img]


def test_undone_vote_is_no_vote(predicted):  # noqa: F811
    project, cids, iids, _run = predicted
    project.record_decisions([iids[0]], "accepted", reviewer="ana")
    project.record_decisions([iids[0]], "rejected", reviewer="bob")
    assert len(conflicts(project)) == 1
    project.undo_decision(iids[0], reviewer="bob")
    assert conflicts(project) == []


def test_agreement_of_recorded_votes_matches_the_hand_computation(predicted):  # noqa: F811
    """The Cohen example above, as decisions: images 0-4, ana A A B B A, bob A B B B A
    with A = cat, B = dog (the lead's resolutions are not votes)."""
    project, cids, iids, _run = predicted
    cat, dog, _fox = cids
    for who, labels in (("ana", [cat, cat, dog, dog, cat]), ("bob", [cat, dog, dog, dog, cat])):
        for img, label in zip(iids[:5], labels):
            project.record_decisions([img], "corrected", class_id=label, reviewer=who)
    resolve(project, iids[1], cat, lead="lee")
    a = agreement(project)
    [pair] = a.pairs
    assert (pair.a, pair.b, pair.n) == ("ana", "bob", 5)
    assert pair.observed == pytest.approx(0.8) and pair.kappa == pytest.approx(8 / 13)
    # Fleiss with 2 raters: counts (2,0) (1,1) (0,2) (0,2) (2,0): p = (5/10, 5/10), P_e = 1/2,
    # mean P_i = 4/5, kappa = (4/5 - 1/2) / (1/2) = 3/5
    assert a.n_images == 5 and a.fleiss == pytest.approx(0.6)
    assert {c.name: round(c.kappa, 6) for c in a.classes} == {"cat": 0.6, "dog": 0.6}


def test_cli_team_commands(predicted, capsys):  # noqa: F811
    project, cids, iids, _run = predicted
    loc = project.location
    assert main(["team", "assign", "ana,bob", "--overlap", "1", "-p", loc]) == 0
    assert "ana: 6 images" in capsys.readouterr().out
    assert main(["-p", loc, "review", "--reviewer", "ana", "--limit", "100"]) == 0
    assert capsys.readouterr().out.count("img") == 6
    assert main(["-p", loc, "decide", "img0.png", "cat", "--reviewer", "ana"]) == 0
    assert main(["-p", loc, "decide", "img0.png", "dog", "--reviewer", "bob"]) == 0
    capsys.readouterr()
    assert main(["-p", loc, "review", "--reviewer", "ana", "--limit", "100"]) == 0
    assert capsys.readouterr().out.count("img") == 5
    assert main(["team", "conflicts", "-p", loc]) == 0
    out = capsys.readouterr().out
    assert "img0.png" in out and "ana: cat" in out and "bob: dog" in out
    assert main(["team", "agreement", "-p", loc, "--json"]) == 0
    assert '"images": 1' in capsys.readouterr().out
    assert main(["team", "conflicts", "--resolve", "img0.png", "dog", "--reviewer", "lee", "-p", loc]) == 0
    assert main(["team", "conflicts", "--resolve", "img0.png", "dog", "-p", loc]) == 1
    assert "no open conflict" in capsys.readouterr().err
    with project.session() as s:
        assert s.query(Decision).filter(Decision.image_id == iids[0]).count() == 3


def test_image_root_per_machine(predicted, tmp_path, capsys, monkeypatch):  # noqa: F811
    project, *_ = predicted
    shared = project.image_root
    mine = tmp_path / "mnt" / "images"
    mine.mkdir(parents=True)
    assert main(["-p", project.location, "team", "image-root", str(mine)]) == 0
    assert project.image_root == mine.resolve()
    assert project.get_setting("image_root") == str(shared)  # the others' setting is untouched
    assert main(["-p", project.location, "team", "image-root", "/srv/x", "--host", "other-box"]) == 0
    assert project.image_root == mine.resolve()
    monkeypatch.setenv("LAZLABEL_IMAGE_ROOT", str(tmp_path))
    assert project.image_root == tmp_path
    monkeypatch.delenv("LAZLABEL_IMAGE_ROOT")
    assert main(["-p", project.location, "team", "image-root", "--clear"]) == 0
    assert project.image_root == shared
