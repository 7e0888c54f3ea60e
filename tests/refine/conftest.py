"""A project whose stored attributes hide what tells two classes apart, over a planted feature
cache (tiny random-init model, no image files: anything that tried to encode an image would fail),
and the loopback Ollama server scripted to answer the confusion prompt with the missing parts."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import torch

from tests.attributes.conftest import FakeOllama, Reply, closed_port_url  # noqa: F401 - a fixture

#: what the images really show (demo-world parts; the planted cache is built from these)
TRUE_CLASSES = {
    "zorbit": ["a red striped circle", "a blue triangle"],
    "morvex": ["a red striped circle", "a yellow square"],
    "tellith": ["a yellow dotted square", "a green star"],
    "vispen": ["a purple diamond", "an orange striped cross"],
}
#: what the project holds: zorbit and morvex only keep the part they share, so they are confused
STORED = {
    "zorbit": ["a red striped circle"],
    "morvex": ["a red striped circle"],
    "tellith": ["a yellow dotted square", "a green star"],
    "vispen": ["a purple diamond", "an orange striped cross"],
}
#: the scripted model's answer to "what tells a X apart from a Y" (one already present: dropped)
DISTINGUISHING = {
    ("zorbit", "morvex"): ["a blue triangle", "a red striped circle"],
    ("morvex", "zorbit"): ["a yellow square"],
}
_ASKED = re.compile(r"tell an? (.+?) apart from an? (.+?) in a photo")


def asked_pair(body: dict[str, Any]) -> tuple[str, str]:
    """(class, other) of a confusion-prompt request."""
    m = _ASKED.search(body["messages"][-1]["content"])
    assert m, body["messages"][-1]["content"]
    return m.group(1), m.group(2)


def distinguishing_responder(body: dict[str, Any]) -> Reply:
    pair = asked_pair(body)
    return Reply(json.dumps({"attributes": DISTINGUISHING.get(pair, ["a green circle"])}))


def _planted(model: Any, true: torch.Tensor, *, n_regions: int = 12, noise: float = 0.8, seed: int = 0):
    """(global, regions, boxes) for images of TRUE_CLASSES: each image's regions show its class's
    parts as the demo model's text tower embeds them (the demo world's invented class names carry
    almost nothing, so only parts tell classes apart)."""
    import torch.nn.functional as F

    parts = sorted({a for attrs in TRUE_CLASSES.values() for a in attrs})
    t = model.encode_texts(parts).float()  # the parts alone: no class name in what the image shows
    t = F.normalize(t - t.mean(0, keepdim=True), dim=-1)
    pools = [t[[parts.index(a) for a in attrs]] for attrs in TRUE_CLASSES.values()]
    g = torch.Generator().manual_seed(seed)
    B, D = true.shape[0], t.shape[1]
    region = torch.stack([pools[int(c)][torch.randint(0, len(pools[int(c)]), (n_regions,), generator=g)]
                          for c in true])
    region = region + noise * torch.randn(B, n_regions, D, generator=g) / D**0.5
    background = torch.randn(B, n_regions, D, generator=g) / D**0.5
    region = torch.where(torch.rand(B, n_regions, 1, generator=g) < 0.6, region, background)
    glob = F.normalize(torch.stack([pools[int(c)].mean(0) for c in true])
                       + noise * torch.randn(B, D, generator=g) / D**0.5, dim=-1)
    region = F.normalize(region + 0.3 * glob[:, None], dim=-1)
    xy = torch.randint(0, 32, (B, n_regions, 2), generator=g).float()
    return glob, region, torch.cat([xy, xy + 32], dim=-1)


def build_confused_project(project: Any, *, n: int = 96, decide: int = 40, seed: int = 0) -> dict[str, Any]:
    """Rows, planted cache, stored (degraded) classes, a pre-label run, and `decide` decisions
    taken with the ground truth. Returns ids, true class ids and the class ids by name."""
    from db.store_images import ScanRecord
    from engine.cache import FeatureCache
    from tests.workflows.synth import add_classes, synthetic_hashes, tiny_settings
    from workflows.models import get_model
    from workflows.prelabel import run_prelabel
    from workflows.progress import drive
    from workflows.review import decide as decide_one
    from workflows.scoring import view_config
    from workflows.settings import save_settings

    settings = tiny_settings(model="demo", ollama_model="llama3.2", batch_size=64)
    save_settings(project, settings)
    cids = add_classes(project, STORED)
    hashes = synthetic_hashes(n, f"refine{seed}")
    ids = project.write_scan_batch(
        [ScanRecord(rel_path=f"p/{i:04d}.png", size=1, mtime_ns=1, width=64, height=64, content_hash=h)
         for i, h in enumerate(hashes)]
    )
    true = torch.arange(n) % len(TRUE_CLASSES)
    model = get_model(settings.model, settings.device, settings.precision)
    cache = FeatureCache(project.cache_dir / "features", model.model_id, view_config(settings).key())
    glob, reg, boxes = _planted(model, true, seed=seed)
    cache.put_batch(hashes, glob, reg, boxes)
    drive(run_prelabel(project, scope="all"))
    names = list(TRUE_CLASSES)
    truth = {i: cids[names[int(c)]] for i, c in zip(ids, true)}
    for iid in ids[:decide]:
        pred = project.latest_prediction(iid)
        action = "accepted" if pred is not None and pred.class_id == truth[iid] else "corrected"
        decide_one(project, [iid], action, class_id=truth[iid], reviewer="tester")
    return {"ids": ids, "truth": truth, "class_ids": cids}


@pytest.fixture
def fake_ollama():
    server = FakeOllama()
    server.responder = distinguishing_responder
    yield server
    server.close()


@pytest.fixture(scope="session")
def confused_template(tmp_path_factory):
    """Built once per session; each test gets its own copy (project file and cache)."""
    from db import Project

    root = tmp_path_factory.mktemp("confused")
    (root / "images").mkdir()
    with Project.create(root / "t.lazlabel", root / "images") as project:
        world = build_confused_project(project, n=48, decide=24)
    return root, world


@pytest.fixture
def confused(confused_template, tmp_path):
    """(project, world): a fresh copy of the confused project."""
    import shutil

    from db import Project

    root, world = confused_template
    shutil.copytree(root, tmp_path / "copy")
    project = Project.open(tmp_path / "copy" / "t.lazlabel")
    yield project, world
    project.close()


@pytest.fixture(scope="session")
def demo140(tmp_path_factory):
    """A 140-scene demo folder (built and pre-labelled once) for the demo-world floor tests; each
    test module reads its cache or changes its project as its own docstring says."""
    from workflows.demo import build_demo_project
    from workflows.progress import drive

    work = tmp_path_factory.mktemp("demo140")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches: more threads only spin on a shared CPU
    try:
        drive(build_demo_project(work, 140))
    finally:
        torch.set_num_threads(before)
    return work
