"""Dataset checks on a real feature cache: duplicate groups (region-confirmed), outliers, the second
opinion on decisions, and the stored findings as the report reads them."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from tests.workflows.synth import planted_project, synthetic_hashes, tiny_settings
from workflows.progress import drive


def _other(h: str, tag: str) -> str:
    """Another image's content hash, as long as a real one (the store holds 64 characters)."""
    return hashlib.sha256(f"{tag}-{h}".encode()).hexdigest()

GRID = 3  # regions: a 3x3 grid of cells, like the grid view mode


def _grid_boxes(n: int, size: int = 60) -> torch.Tensor:
    step = size // GRID
    cells = [[x * step, y * step, (x + 1) * step, (y + 1) * step] for y in range(GRID) for x in range(GRID)]
    return torch.tensor(cells, dtype=torch.float32).expand(n, -1, -1).clone()


MIRROR = [y * GRID + (GRID - 1 - x) for y in range(GRID) for x in range(GRID)]


def cached_world(project, n: int = 40, dim: int = 32, seed: int = 0, clustered: bool = False):
    """n images with random unit features (or around 3 centres) in the project's real feature cache, plus planted copies:
    an identical file (same content hash), a near copy (noise), a mirror image (regions swapped
    left-right) and a decoy with the same global feature but other content in every cell."""
    from db.store_images import ScanRecord
    from workflows.neighbours import feature_cache
    from workflows.settings import save_settings

    save_settings(project, tiny_settings(view_mode="grid"))
    g = torch.Generator().manual_seed(seed)
    glob = torch.randn(n, dim, generator=g)
    if clustered:  # near neighbours everywhere: every image is a duplicate candidate, few are duplicates
        centres = torch.randn(3, dim, generator=g)
        glob = centres[torch.arange(n) % 3] * 4 + 0.3 * glob
    glob = torch.nn.functional.normalize(glob, dim=1)
    reg = torch.nn.functional.normalize(torch.randn(n, GRID * GRID, dim, generator=g), dim=-1)
    hashes = synthetic_hashes(n, f"w{seed}")
    extra = {  # name -> (global, regions, hash)
        "copy": (glob[0], reg[0], hashes[0]),
        "near": (torch.nn.functional.normalize(glob[1] + 0.02 * torch.randn(dim, generator=g), dim=0),
                 torch.nn.functional.normalize(reg[1] + 0.02 * torch.randn(GRID * GRID, dim, generator=g), dim=-1),
                 _other(hashes[1], "near")),
        "mirror": (glob[2], reg[2][MIRROR], _other(hashes[2], "mirror")),
        "decoy": (glob[3], torch.nn.functional.normalize(torch.randn(GRID * GRID, dim, generator=g), dim=-1),
                  _other(hashes[3], "decoy")),
    }
    all_hashes = hashes + [h for _g, _r, h in extra.values()]
    ids = project.write_scan_batch([
        ScanRecord(rel_path=f"img/{k:03d}.png", size=1, mtime_ns=1, width=60, height=60, content_hash=h)
        for k, h in enumerate(all_hashes)
    ])
    cache = feature_cache(project)
    cache.put_batch(hashes, glob, reg, _grid_boxes(n), [(60, 60)] * n)
    new = [(h, gg, rr) for gg, rr, h in extra.values() if h not in hashes]
    cache.put_batch([h for h, _g, _r in new], torch.stack([x[1] for x in new]), torch.stack([x[2] for x in new]),
                    _grid_boxes(len(new)), [(60, 60)] * len(new))
    by_name = dict(zip(extra, ids[n:]))
    return ids, by_name


def test_duplicate_groups_find_copies_and_mirror_images_but_not_a_same_global_decoy(project):
    from workflows.duplicates import duplicate_groups

    ids, planted = cached_world(project)
    groups = {frozenset(g) for g in duplicate_groups(project)}
    assert frozenset({ids[0], planted["copy"]}) in groups
    assert frozenset({ids[1], planted["near"]}) in groups
    assert frozenset({ids[2], planted["mirror"]}) in groups
    assert not any(planted["decoy"] in g for g in groups)  # same global feature, other content
    assert len(groups) == 3
    # the threshold is the user's: at 1.0 only the identical file and the exact mirror stay
    exact = {frozenset(g) for g in duplicate_groups(project, 1.0)}
    assert frozenset({ids[1], planted["near"]}) not in exact and frozenset({ids[0], planted["copy"]}) in exact


def test_duplicate_threshold_is_checked(project):
    from workflows.duplicates import duplicate_groups
    from workflows.errors import UserError

    cached_world(project, n=8)
    for bad in (0, 1.5, float("nan")):
        with pytest.raises(UserError, match="duplicate threshold"):
            duplicate_groups(project, bad)


def test_audit_run_stores_duplicates_and_outliers_and_the_report_resolves_them(project):
    from db.store_images import ScanRecord
    from workflows.audit import run_audit
    from workflows.audit_findings import load_findings, report
    from workflows.neighbours import feature_cache

    ids, planted = cached_world(project, n=60, clustered=True)
    # two off-world images: far from everything else (the rest sit around 3 centres)
    cache = feature_cache(project)
    g = torch.Generator().manual_seed(5)
    odd = synthetic_hashes(2, "odd")
    odd_glob = torch.nn.functional.normalize(torch.randn(2, 32, generator=g), dim=1)
    reg = torch.nn.functional.normalize(torch.randn(2, GRID * GRID, 32, generator=g), dim=-1)
    cache.put_batch(odd, odd_glob, reg, _grid_boxes(2), [(60, 60)] * 2)
    more = project.write_scan_batch([
        ScanRecord(rel_path=f"odd/{k:03d}.png", size=1, mtime_ns=1, width=60, height=60, content_hash=h)
        for k, h in enumerate(odd)
    ])
    res = drive(run_audit(project, checks="duplicates,outliers"))
    assert res.checks == ("duplicates", "outliers") and res.counts["duplicates"] == 3
    outl = load_findings(project, "outliers")
    flagged = [o["image_id"] for o in outl["items"] if o["flagged"]]
    assert set(more) <= set(flagged) and len(flagged) <= 4
    assert [o['image_id'] for o in outl['items'][:2]] in (more, more[::-1])  # most unusual first
    doc = report(project, "duplicates")
    paths = {im["rel_path"] for grp in doc["items"] for im in grp["images"]}
    assert project.image(ids[0]).rel_path in paths and doc["threshold"] == pytest.approx(0.97)
    assert report(project, "overlap") is None  # never ran
    # a second run of one check replaces only that check's findings
    drive(run_audit(project, checks="outliers"))
    assert load_findings(project, "duplicates")["run_id"] == res.run_id


def test_second_opinion_lists_decisions_the_model_strongly_contradicts(project):
    from workflows.audit import run_audit
    from workflows.audit_findings import report
    from workflows.review import decide

    world = planted_project(project, n=300, noise=1.0)
    true, ids, names, cids = world["true"], world["ids"], world["names"], world["class_ids"]
    wrong = [ids[k] for k in range(6)]
    for k, iid in enumerate(wrong):  # a curator "corrects" six images to a class they are not
        decide(project, [iid], "corrected", class_id=cids[names[(int(true[k]) + 1) % len(names)]],
               reviewer="bea", note="hasty")
    right = ids[10]
    decide(project, [right], "corrected", class_id=cids[names[int(true[10])]], reviewer="bea")
    res = drive(run_audit(project, checks="decisions"))
    doc = report(project, "decisions")
    listed = {r["image_id"] for r in doc["items"]}
    assert len(listed & set(wrong)) >= 4 and right not in listed  # measured: 6 of 6
    r = doc["items"][0]
    assert r["reviewer"] == "bea" and r["at"] and r["action"] == "corrected" and r["note"] == "hasty"
    assert r["p_suggested"] >= 0.7 and r["decided"] != r["suggested"] and r["label_now"] == r["decided"]
    assert res.counts["decisions"] == len(doc["items"])


def test_health_and_overlap_come_from_cleanlab_on_the_audit_probabilities(project):
    from workflows.audit import run_audit
    from workflows.audit_findings import report

    planted_project(project, n=400, n_classes=4, flip=0.15)
    res = drive(run_audit(project, checks="labels,overlap"))
    health = report(project, "health")
    assert 0.5 < health["overall"] < 1.0 and res.health == pytest.approx(health["overall"])
    assert {c["class_name"] for c in health["items"]} == {f"class{k:02d}" for k in range(4)}
    assert sum(c["n_labelled"] for c in health["items"]) == 400
    qualities = [c["label_quality"] for c in health["items"]]
    assert qualities == sorted(qualities)  # worst class first
    overlap = report(project, "overlap")
    assert overlap["items"], "15% flips between 4 classes must overlap somewhere"
    top = overlap["items"][0]
    assert top["attributes_a"] and top["attributes_b"] and top["name_a"] != top["name_b"]
    assert np.isclose(sum(1 for _ in overlap["items"]), res.counts["overlap"])
