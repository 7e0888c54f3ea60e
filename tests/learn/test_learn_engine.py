"""The learning engine on tensors: terms add up to the LaZSL score, learners leave undecided
classes bit-identical, fits are deterministic, parameters are content-addressed."""

from __future__ import annotations

import pytest
import torch

from engine.alignment import dclip_scores, lazsl_scores
from engine.evidence import AttributeEvidence, ClassEvidence, Presence
from engine.learn import params as param_files
from engine.learn.learners import (
    LEARNERS,
    AttributeLearner,
    LearnData,
    get_learner,
    presence_stats,
    select_and_fit,
)
from engine.learn.terms import attribute_terms, attribute_terms_best, class_sums
from engine.types import LEARN_METHODS, EngineConfig


def _unit(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(*shape, generator=g), dim=-1)


@pytest.mark.parametrize("ot_mode", ["faithful", "converged"])
def test_terms_add_up_to_the_lazsl_score(ot_mode):
    g, r, t = _unit(6, 16, seed=0), _unit(6, 24, 16, seed=1), _unit(9, 16, seed=2)
    owner = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    mask = torch.ones(6, 24, dtype=torch.bool)
    mask[2, 12:] = False  # an image with fewer regions
    cfg = EngineConfig(ot_mode=ot_mode)
    want = lazsl_scores(g, r, t, owner, mode=ot_mode, region_mask=mask, backend="torch").scores
    phi = attribute_terms(g, r, t, owner, cfg, region_mask=mask)
    assert torch.allclose(class_sums(phi, owner, 3), want, atol=1e-5)
    only = attribute_terms(g, r, t, owner, cfg, classes=[1], region_mask=mask)
    assert torch.allclose(only[:, 3:5], phi[:, 3:5], atol=1e-6) and not only[:, :3].any() and not only[:, 5:].any()
    d = attribute_terms(g, r, t, owner, EngineConfig(method="dclip"))
    assert torch.allclose(class_sums(d, owner, 3), dclip_scores(g, t, owner, 3), atol=1e-6)


def test_best_is_the_best_valid_region_similarity():
    g, r, t = _unit(4, 16, seed=7), _unit(4, 12, 16, seed=8), _unit(5, 16, seed=9)
    owner = torch.tensor([0, 0, 1, 1, 1])
    mask = torch.ones(4, 12, dtype=torch.bool)
    mask[1, 6:] = False
    mask[3] = False  # no valid region: the dclip fallback, <p_0, t_j>
    sims = torch.einsum("bnd,ad->bna", r, t).masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
    for backend in ("auto", "torch"):
        phi, best = attribute_terms_best(g, r, t, owner, EngineConfig(), region_mask=mask, backend=backend)
        assert torch.allclose(phi, attribute_terms(g, r, t, owner, EngineConfig(), region_mask=mask), atol=1e-6)
        assert torch.allclose(best[:3], sims[:3], atol=1e-6)
        assert torch.allclose(best[3], g[3] @ t.T, atol=1e-6)
    _phi, part = attribute_terms_best(g, r, t, owner, EngineConfig(), classes=[1], region_mask=mask)
    assert not part[:, :2].any() and torch.allclose(part[:3, 2:], sims[:3, 2:], atol=1e-6)


def _data(n: int = 90, C: int = 5, M: int = 4, seed: int = 0, decided: int | None = None,
          presence: bool = False) -> LearnData:
    """Scores whose zero-shot ranking is noisy, with one attribute per class that really tells;
    `presence`: also best-region similarities, where the telling attribute's part is found."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % C
    owner = torch.arange(C).repeat_interleave(M)
    terms = torch.rand(n, C * M, generator=g) * 0.05
    tell = torch.arange(C) * M  # the first attribute of each class
    terms[torch.arange(n), tell[y]] += 0.03
    terms[:, tell + 1] += torch.rand(n, C, generator=g) * 0.03  # a distractor attribute
    zero = class_sums(terms, owner, C)
    rows = torch.arange(n) if decided is None else torch.nonzero(y < decided).flatten()
    best = None
    if presence:
        best = 0.2 + torch.rand(n, C * M, generator=g) * 0.05
        best[torch.arange(n), tell[y]] += 0.04
    return LearnData(zero[rows], torch.arange(len(rows)), y[rows], terms=terms[rows], attr_class=owner,
                     global_feats=_unit(n, 8, seed=seed + 1)[rows], best=None if best is None else best[rows],
                     best_stats=None if best is None else presence_stats(best))


def test_every_registered_learner_is_a_known_method():
    assert set(LEARNERS) <= set(LEARN_METHODS)


@pytest.mark.parametrize("method,cue", [("attributes", "term"), ("attributes", "presence"), ("adapter", None)])
def test_classes_without_decisions_score_bit_identically(method, cue):
    full = _data(presence=True)
    part = _data(decided=2, presence=True)  # decisions only about classes 0 and 1
    learner = get_learner(method)
    hyper = learner.grid()[0] if cue is None else {"cue": cue, "l2": 3e-4}
    params = learner.fit(part, hyper, seed=0)
    scores = learner.score(params, full.zero_shot, full.terms, full.global_feats, full.best)
    assert torch.equal(scores[:, 2:], full.zero_shot[:, 2:])
    assert not torch.equal(scores[:, :2], full.zero_shot[:, :2])


def test_attribute_learner_improves_held_out_and_is_deterministic():
    data = _data(n=200)
    a = select_and_fit(get_learner("attributes"), data, seed=3)
    b = select_and_fit(get_learner("attributes"), data, seed=3)
    assert a.hyper == b.hyper and a.cv_learned == b.cv_learned
    assert all(torch.equal(a.params[k], b.params[k]) for k in a.params)
    assert a.cv_learned > a.cv_zero_shot
    w = AttributeLearner.weights(a.params)
    tell, distractor = w[0::4], w[1::4]
    assert (tell > distractor).all()  # the attribute that tells apart earns the larger weight


def test_presence_learner_finds_the_telling_part_and_is_deterministic():
    data = _data(n=200, presence=True)
    a = select_and_fit(get_learner("attributes"), data, seed=3)
    b = select_and_fit(get_learner("attributes"), data, seed=3)
    assert a.hyper == b.hyper and all(torch.equal(a.params[k], b.params[k]) for k in a.params)
    assert a.hyper["cue"] == "presence" and a.cv_learned > a.cv_zero_shot
    w = AttributeLearner.weights(a.params)
    assert (w[0::4] > 1).all() and (w[0::4] > w[1::4]).all()  # the found part earns the weight
    # the weight the evidence shows carries the learned part: (w - 1) x mass = gain (mass 1/M)
    assert torch.allclose((w - 1) / 4, a.params["gain"], atol=1e-6)


def test_parameters_of_the_first_version_still_score():
    data = _data()
    old = {"delta": torch.full((20,), 0.5), "bias": torch.zeros(5), "kappa": torch.tensor(100.0, dtype=torch.float64),
           "attr_class": data.attr_class, "learned": torch.ones(5, dtype=torch.uint8)}
    scores = get_learner("attributes").score(old, data.zero_shot, data.terms, None)
    assert torch.allclose(scores, data.zero_shot + 0.5 * class_sums(data.terms, data.attr_class, 5), atol=1e-6)
    assert torch.equal(AttributeLearner.weights(old), torch.full((20,), 1.5))


def test_zero_shot_wins_when_nothing_helps():
    data = _data(n=60)
    data.pos_class = torch.randint(0, 5, (60,), generator=torch.Generator().manual_seed(1))  # labels are noise
    rep = select_and_fit(get_learner("adapter"), data, seed=0)
    if rep.hyper.get("zero_shot"):
        scores = get_learner("adapter").score(rep.params, data.zero_shot, None, data.global_feats)
        assert torch.equal(scores, data.zero_shot)


def test_parameters_are_content_addressed(tmp_path):
    p = {"delta": torch.arange(4.0), "bias": torch.zeros(2)}
    h1, path = param_files.save(tmp_path, p, {"method": "attributes"})
    h2, _ = param_files.save(tmp_path, {k: v.clone() for k, v in p.items()}, {"method": "attributes"})
    assert h1 == h2 and path.name.startswith(h1) and len(list(tmp_path.iterdir())) == 1
    loaded, meta = param_files.load(tmp_path, h1)
    assert meta == {"method": "attributes"} and torch.equal(loaded["delta"], p["delta"])
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ValueError, match="damaged"):
        param_files.load(tmp_path, h1)


def test_evidence_weight_is_optional_and_enters_the_contributions():
    attrs = (AttributeEvidence(0, "red", 0.5, 0.3, presence=Presence(2.0, "found"), contribution=0.5),
             AttributeEvidence(1, "round", 0.5, 0.2, presence=Presence(1.5, "found"), contribution=0.25))
    ev = ClassEvidence("x", 0, 0.25, (10, 10), attrs)
    plain = ev.to_json()
    assert all("weight" not in a for a in plain["attributes"])  # zero-shot evidence: v2 as before
    w = ev.weighted({0: 2.0, 1: -1.0}, score=0.3)
    back = ClassEvidence.from_json(w.to_json())
    red = next(a for a in back.attributes if a.text == "red")
    rnd = next(a for a in back.attributes if a.text == "round")
    assert (red.weight, rnd.weight, back.score) == (2.0, -1.0, 0.3)
    assert red.contribution == pytest.approx(1.0) and red.share == 1.0
    assert rnd.against and rnd.share == 0.0  # a negative weight counts against the class
    assert back.calibrated(None).attributes[0].weight is not None  # recalibration keeps the weights


def test_numba_terms_match_the_torch_plans():
    from engine.learn import terms_cpu

    if not terms_cpu.AVAILABLE:
        pytest.skip("numba not installed")
    g, r, t = _unit(5, 16, seed=4), _unit(5, 20, 16, seed=5), _unit(7, 16, seed=6)
    owner = torch.tensor([0, 0, 1, 1, 1, 2, 2])
    mask = torch.ones(5, 20, dtype=torch.bool)
    mask[1, 8:] = False
    cfg = EngineConfig()
    fast = attribute_terms(g, r, t, owner, cfg, region_mask=mask)
    slow = attribute_terms(g, r, t, owner, cfg, region_mask=mask, backend="torch")
    assert torch.allclose(fast, slow, atol=1e-6)
    part = attribute_terms(g, r, t, owner, cfg, classes=[2], region_mask=mask)
    assert torch.allclose(part[:, 5:], fast[:, 5:], atol=1e-7) and not part[:, :5].any()
