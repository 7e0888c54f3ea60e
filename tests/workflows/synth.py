"""Builders for engine-backed use-case tests and benchmarks: a tiny random-init open_clip model,
real PNG files registered through the store, and feature caches with planted class structure."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image as PILImage

TINY_NAME = "lazlabel-wf-tiny"
TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
COLOURS = [(214, 39, 40), (44, 160, 44), (31, 90, 220), (240, 200, 20), (140, 60, 180)]
CLASSES = {
    "blorp": ["a red circle", "has a striped texture"],
    "zenti": ["a green triangle", "has dots", "often seen near water"],
    "quam": ["a yellow star"],
}


def tiny_spec() -> str:
    """Register the tiny config in this process and return its model spec."""
    from engine.models import register_model_config

    register_model_config(TINY_NAME, TINY_CFG)
    return f"random:{TINY_NAME}"


def tiny_settings(**kw: Any) -> Any:
    from workflows.settings import ProjectSettings

    base = dict(
        model=tiny_spec(), device="cpu", precision="fp32", n_crops=6, batch_size=3, topk=3, reviewer="tester"
    )
    return ProjectSettings(**{**base, **kw})


def add_images(
    project: Any, n: int, *, size: tuple[int, int] = (40, 32), seed: int = 0, corrupt: Sequence[int] = ()
) -> list[int]:
    """n small PNGs (a coloured square on a coloured ground) under the image root, scanned into the store."""
    from db.store_images import ScanRecord

    root = Path(project.image_root)
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        rel = f"img_{i:03d}.png"
        path = root / rel
        if i in corrupt:
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
        else:
            arr = np.zeros((size[1], size[0], 3), dtype=np.uint8)
            arr[:] = COLOURS[i % len(COLOURS)]
            x, y = rng.integers(0, size[0] // 2), rng.integers(0, size[1] // 2)
            arr[y : y + size[1] // 2, x : x + size[0] // 2] = COLOURS[(i * 3 + 1) % len(COLOURS)]
            PILImage.fromarray(arr).save(path)
        records.append(
            ScanRecord(
                rel_path=rel,
                size=path.stat().st_size,
                mtime_ns=path.stat().st_mtime_ns,
                width=size[0],
                height=size[1],
                format="PNG",
                mode="RGB",
            )
        )
    return project.write_scan_batch(records)


def add_classes(project: Any, classes: dict[str, list[str]] = CLASSES) -> dict[str, int]:
    ids = {}
    for name, attrs in classes.items():
        ids[name] = project.add_class(name)
        for a in attrs:
            project.add_attribute(ids[name], a, source="manual")
    return ids


# --- planted feature caches (no image files needed) ---------------------------------------------
def planted_features(
    model: Any,
    classes: dict[str, list[str]],
    true: torch.Tensor,
    *,
    n_regions: int = 12,
    noise: float = 1.0,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(global [B,D], regions [B,N,D], boxes [B,N,4]) whose content is the true class's attributes.

    Descriptor embeddings are centred (their common direction removed) so that classes are
    separable even with a random text tower; `noise` sets how hard the task is.
    """
    from engine.prompts import class_prompts
    from engine.types import ClassSpec

    specs = [ClassSpec(n, tuple(a)) for n, a in classes.items()]
    sentences, owner = class_prompts(specs)
    t = model.encode_texts(sentences).float()
    centred = F.normalize(t - t.mean(0, keepdim=True), dim=-1)
    g = torch.Generator().manual_seed(seed)
    B, D = true.shape[0], t.shape[1]
    rows_of = [torch.nonzero(owner == c)[:, 0] for c in range(len(specs))]
    attr_pick = torch.stack(
        [rows_of[int(c)][torch.randint(0, len(rows_of[int(c)]), (n_regions,), generator=g)] for c in true]
    )  # [B,N]
    region = centred[attr_pick] + noise * torch.randn(B, n_regions, D, generator=g) / D**0.5
    region = torch.where(
        torch.rand(B, n_regions, 1, generator=g) < 0.6,
        region,
        torch.randn(B, n_regions, D, generator=g) / D**0.5,
    )
    mean_attr = torch.stack([centred[rows_of[int(c)]].mean(0) for c in true])
    glob = F.normalize(mean_attr + noise * torch.randn(B, D, generator=g) / D**0.5, dim=-1)
    region = F.normalize(region + 0.3 * glob[:, None], dim=-1)
    xy = torch.randint(0, 32, (B, n_regions, 2), generator=g).float()
    boxes = torch.cat([xy, xy + 32], dim=-1)
    return glob, region, boxes


def synthetic_hashes(n: int, tag: str = "synth") -> list[str]:
    return [hashlib.sha256(f"{tag}-{i}".encode()).hexdigest() for i in range(n)]


def planted_project(
    project: Any,
    *,
    n: int,
    n_classes: int = 6,
    flip: float = 0.1,
    noise: float = 1.5,
    seed: int = 0,
    settings: Any = None,
    n_regions: int = 12,
) -> dict[str, Any]:
    """Image rows with synthetic content hashes, classes, a planted feature cache for the project's
    model/view, and imported labels with `flip` of them wrong. Returns ids, true/given labels, flips."""
    from db.store_images import ScanRecord
    from engine.cache import FeatureCache
    from workflows.models import get_model
    from workflows.scoring import view_config
    from workflows.settings import save_settings

    settings = settings or tiny_settings()
    save_settings(project, settings)
    classes = {
        f"class{k:02d}": [f"has feature {k} of kind {j}" for j in range(1 + k % 3)] for k in range(n_classes)
    }
    cids = add_classes(project, classes)
    hashes = synthetic_hashes(n, f"planted{seed}")
    ids = project.write_scan_batch(
        [
            ScanRecord(
                rel_path=f"planted/{i:05d}.png", size=1, mtime_ns=1, width=64, height=64, content_hash=h
            )
            for i, h in enumerate(hashes)
        ]
    )
    g = torch.Generator().manual_seed(seed + 1)
    true = torch.randint(0, n_classes, (n,), generator=g)
    model = get_model(settings.model, settings.device, settings.precision)
    cache = FeatureCache(project.cache_dir / "features", model.model_id, view_config(settings).key())
    for start in range(0, n, 512):
        sl = slice(start, start + 512)
        glob, reg, boxes = planted_features(
            model, classes, true[sl], noise=noise, seed=seed + start, n_regions=n_regions
        )
        cache.put_batch(hashes[sl], glob, reg, boxes)
    flipped = torch.rand(n, generator=g) < flip
    given = true.clone()
    given[flipped] = (
        true[flipped] + torch.randint(1, n_classes, (int(flipped.sum()),), generator=g)
    ) % n_classes
    names = list(classes)
    project.add_imported_labels([(i, names[int(c)]) for i, c in zip(ids, given)], source="csv")
    return {"ids": ids, "true": true, "given": given, "flipped": flipped, "class_ids": cids, "names": names}
