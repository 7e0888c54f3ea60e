"""Split leakage: duplicate groups stay in one split. `representatives` is tested here; the export's
use of it runs once the export side calls `workflows.duplicates.duplicate_groups` (skipped before)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.workflows.synth import synthetic_hashes, tiny_settings
from tests.workflows.test_audit_checks import GRID, _grid_boxes
from workflows.duplicates import representatives

EXPORT_PY = Path(__file__).resolve().parents[2] / "workflows" / "export.py"


def test_representatives_keep_each_group_on_its_smallest_exported_id():
    rep = representatives([5, 3, 9, 1, 7], [[9, 3, 42], [7, 1], [100, 101]])
    assert rep == {5: 5, 3: 3, 9: 3, 1: 1, 7: 1}  # 42, 100, 101 are not exported


def copies_world(project, n: int = 40, copies: int = 12, dim: int = 32):
    """n real PNG files with random features in the cache; the last `copies` are near copies of the
    first ones. Every image is labelled (decided) so that all of them are exported."""
    from PIL import Image

    from db.store_images import ScanRecord
    from workflows.neighbours import feature_cache
    from workflows.review import decide
    from workflows.settings import save_settings

    save_settings(project, tiny_settings(view_mode="grid"))
    g = torch.Generator().manual_seed(7)
    total = n + copies
    glob = torch.randn(total, dim, generator=g)
    reg = torch.randn(total, GRID * GRID, dim, generator=g)
    glob[n:] = glob[:copies] + 0.01 * torch.randn(copies, dim, generator=g)
    reg[n:] = reg[:copies] + 0.01 * torch.randn(copies, GRID * GRID, dim, generator=g)
    glob, reg = torch.nn.functional.normalize(glob, dim=1), torch.nn.functional.normalize(reg, dim=-1)
    hashes = synthetic_hashes(total, "split")
    root = Path(project.image_root)
    records = []
    for k, h in enumerate(hashes):
        rel = f"img_{k:03d}.png"
        Image.new("RGB", (60, 60), (k * 5 % 255, 80, 120)).save(root / rel)
        records.append(ScanRecord(rel_path=rel, size=(root / rel).stat().st_size, mtime_ns=1, width=60, height=60,
                                  format="PNG", mode="RGB", content_hash=h))
    ids = project.write_scan_batch(records)
    feature_cache(project).put_batch(hashes, glob, reg, _grid_boxes(total), [(60, 60)] * total)
    a, b = project.add_class("alpha"), project.add_class("beta")
    for k, iid in enumerate(ids):
        base = k if k < n else k - n  # a copy carries its original's label
        decide(project, [iid], "corrected", class_id=a if base % 2 else b, reviewer="t")
    return ids, [[ids[k], ids[n + k]] for k in range(copies)]


@pytest.mark.skipif("duplicate_groups" not in EXPORT_PY.read_text(encoding="utf-8"),
                    reason="the export's --split does not keep duplicate groups together yet "
                           "(workflows/export.py must call workflows.duplicates.duplicate_groups)")
def test_export_split_never_cuts_a_duplicate_group(project, tmp_path):
    from cli.main import main
    from workflows.duplicates import duplicate_groups

    ids, planted = copies_world(project)
    assert {frozenset(g) for g in duplicate_groups(project)} == {frozenset(g) for g in planted}
    out = tmp_path / "out"
    assert main(["-p", project.location, "export", "imagefolder", str(out), "--split", "train=0.5,val=0.5",
                 "--seed", "3"]) == 0
    split_of = {p.name: p.relative_to(out).parts[0] for p in out.rglob("*.png")}
    assert len(split_of) == len(ids)
    names = {iid: project.image(iid).rel_path for iid in ids}
    for a, b in planted:
        assert split_of[names[a]] == split_of[names[b]], (names[a], names[b])
    assert set(split_of.values()) == {"train", "val"}
