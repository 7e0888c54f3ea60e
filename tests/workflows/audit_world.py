"""Demo worlds with planted duplicates and off-world images, for the audit's measurements
(scripts/bench_audit.py) and its floor tests: a normal demo project (the scenes and ~10% flipped
folder labels of `lazlabel demo --images N`) plus unlabelled files under images/planted/ and
planted.json naming what each one copies."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np

PLANTED_DIR = "planted"
PLANTED_FILE = "planted.json"


def plant_files(target: Path, n_sources: int, n_offworld: int, seed: int = 0) -> dict[str, dict[str, str]]:
    """Write duplicates of `n_sources` demo scenes and `n_offworld` off-world images under
    images/planted/; returns {rel_path: {"kind": ..., "source": rel_path of the original | ""}}."""
    from PIL import Image, ImageFilter

    images = target / "images"
    out_dir = images / PLANTED_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    scenes = sorted(p for p in images.rglob("*.png") if p.parent.name not in ("broken", PLANTED_DIR))
    picks = rng.choice(len(scenes), size=n_sources, replace=False)
    kinds = ("copy", "jpeg", "crop", "flip")
    plan: dict[str, dict[str, str]] = {}
    for j, k in enumerate(picks.tolist()):
        src = scenes[k]
        rel_src = src.relative_to(images).as_posix()
        im = Image.open(src).convert("RGB")
        w, h = im.size
        kind = kinds[j % len(kinds)]
        name = f"dup_{j:03d}_{kind}"
        if kind == "copy":
            path = out_dir / f"{name}.png"
            path.write_bytes(src.read_bytes())
        elif kind == "jpeg":
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=70)
            path = out_dir / f"{name}.jpg"
            path.write_bytes(buf.getvalue())
        elif kind == "crop":
            m = max(2, int(round(0.06 * min(w, h))))  # a small crop: 6% off each side
            path = out_dir / f"{name}.png"
            im.crop((m, m, w - m, h - m)).save(path)
        else:
            path = out_dir / f"{name}.png"
            im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(path)
        plan[path.relative_to(images).as_posix()] = {"kind": kind, "source": rel_src}
    for j in range(n_offworld):
        size = int(rng.choice([128, 160, 224]))
        if j % 2 == 0:
            arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            kind = "noise"
        else:  # a smooth two-colour gradient with a soft vignette, like an out-of-focus photo
            y, x = np.mgrid[0:size, 0:size] / size
            a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
            t = (0.6 * x + 0.4 * y)[..., None]
            vign = 1 - 0.4 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)[..., None]
            arr = np.clip((a * (1 - t) + b * t) * vign, 0, 255).astype(np.uint8)
            kind = "gradient"
        path = out_dir / f"off_{j:03d}_{kind}.png"
        img = Image.fromarray(arr)
        if kind == "gradient":
            img = img.filter(ImageFilter.GaussianBlur(2))
        img.save(path)
        plan[path.relative_to(images).as_posix()] = {"kind": kind, "source": ""}
    (target / PLANTED_FILE).write_text(json.dumps(plan, indent=1))
    return plan


def build_world(target: Path, n_images: int, n_sources: int, n_offworld: int) -> Path:
    """A demo project (same scenes and flips as `lazlabel demo --images N`) plus planted files, pre-labelled."""
    from db import Project
    from workflows.demo import PROJECT_NAME, build_demo_project
    from workflows.prelabel import run_prelabel
    from workflows.progress import drive
    from workflows.scan import scan_folder

    target = Path(target).resolve()
    t0 = time.perf_counter()
    proj = drive(build_demo_project(target, n_images, prelabel=False))
    if not (target / PLANTED_FILE).is_file():
        plant_files(target, n_sources, n_offworld)
    with Project.open(proj) as project:
        drive(scan_folder(project))
        drive(run_prelabel(project, scope="all"))
    print(f"world {target} ({n_images} scenes + {n_sources} duplicates + {n_offworld} off-world) "
          f"built and pre-labelled in {time.perf_counter() - t0:.0f} s")
    return target / PROJECT_NAME


