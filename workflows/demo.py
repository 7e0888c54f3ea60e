"""Build (or reuse) the bundled demo project: generated part scenes, their attribute file, noisy
folder labels for the audit, a few broken files, and a pre-label run with the shipped demo model.

Layout of a demo directory (everything the builder writes; nothing else is ever deleted):

    <dir>/demo.lazlabel            the project (SQLite) and demo.lazlabel.cache/ beside it
    <dir>/images/<class>/*.png     the scenes, in folders named for their true class
    <dir>/images/broken/*          a zero-byte, a truncated and a fake image (shown as errors)
    <dir>/attributes.json          the classes' parts, DCLIP descriptor-JSON format
    <dir>/labels_noisy.csv         folder labels with ~10% flipped, imported for the audit
    <dir>/ground_truth.json        classes and part boxes of every scene
    <dir>/demo.json                manifest: what was built, so a second call reuses it
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.demo_world.classes import CLASS_NAMES, descriptors
from engine.demo_world.scenes import DEMO_SEED_BASE, iter_scenes, render
from workflows.errors import UserError
from workflows.progress import CancelToken, Progress, check

PROJECT_NAME = "demo.lazlabel"
MANIFEST = "demo.json"
MANIFEST_VERSION = 1
DEFAULT_IMAGES = 140  # 10 per class: build + pre-label in about a minute on 2 shared cores
#: The demo pre-labels with the fixed multi-scale grid: ~3x fewer regions than the 90 random crops,
#: the same accuracy on the demo world, and evidence boxes that sit on the parts (eval_demo.py).
DEFAULT_VIEW_MODE = "grid"
FLIP_FRACTION = 0.10
NOISY_SOURCE = "demo-folder-labels"
_OWNED = ("images", PROJECT_NAME, PROJECT_NAME + ".cache", PROJECT_NAME + "-wal", PROJECT_NAME + "-shm",
          PROJECT_NAME + "-journal", "attributes.json", "labels_noisy.csv", "ground_truth.json", MANIFEST)


@dataclass
class DemoSummary:
    """What `lazlabel demo` prints: project counts and how the pre-labels compare with the truth."""

    project_path: Path
    n_images: int = 0
    n_errors: int = 0
    n_classes: int = 0
    n_predicted: int = 0
    n_correct: int = 0
    n_flipped: int = 0
    flipped_flagged: int = 0  # flipped labels where the prediction disagrees with the imported label
    clean_flagged: int = 0  # correct labels where it disagrees anyway
    per_class: dict[str, tuple[int, int]] = field(default_factory=dict)  # class -> (correct, total)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def accuracy(self) -> float | None:
        return self.n_correct / self.n_predicted if self.n_predicted else None


def _manifest(n_images: int) -> dict:
    return {"version": MANIFEST_VERSION, "n_images": n_images, "seed_base": DEMO_SEED_BASE,
            "classes": list(CLASS_NAMES)}


def clear_owned(target: Path, owned: tuple[str, ...]) -> None:
    """Remove what an earlier build wrote (only the names the builder owns)."""
    for name in owned:
        p = target / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()


def check_demo_target(target: Path, rebuild: bool, manifest: dict, owned: tuple[str, ...]) -> bool:
    """True when a finished demo with this `manifest` is already there (reuse it); otherwise the
    folder is made ready for a build. A demo of another kind (the manifest's "kind") is refused
    unless `rebuild`; a folder holding anything the builder does not own is always refused."""
    man = target / MANIFEST
    if man.is_file():
        try:
            old = json.loads(man.read_text())
        except (OSError, ValueError):
            old = {}
        if not rebuild and old == manifest and (target / PROJECT_NAME).is_file():
            return True
        if not rebuild and "kind" in manifest and old.get("kind") != manifest["kind"]:
            raise UserError(f"{target} holds another demo; choose another folder with --dir, or --rebuild")
        clear_owned(target, owned)
        return False
    if target.exists() and any(target.iterdir()):
        if any(p.name not in owned for p in target.iterdir()):
            raise UserError(
                f"{target} is not empty and holds no demo project ({MANIFEST} is missing); "
                "choose an empty or new folder with --dir"
            )
        clear_owned(target, owned)  # an interrupted build of ours: start over
    return False


def _atomic_save(img, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    img.save(tmp, format="PNG")
    tmp.replace(path)


def _write_broken(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.png").write_bytes(b"")
    (folder / "not_an_image.jpg").write_text("this is a text file with an image name\n")
    good = folder / "truncated.png"
    scene = next(iter_scenes(DEMO_SEED_BASE - 1, 1))
    _atomic_save(render(scene), good)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 3])


def _generate(target: Path, n_images: int, cancel: CancelToken | None) -> Generator[Progress, None, list[dict]]:
    images = target / "images"
    records = []
    for i, scene in enumerate(iter_scenes(DEMO_SEED_BASE, n_images)):
        rel = Path("images") / scene.label / f"{scene.label}_{i:04d}.png"
        out = target / rel
        if not out.is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            _atomic_save(render(scene), out)
        rec = scene.to_json()
        rec["path"] = rel.relative_to("images").as_posix()
        records.append(rec)
        if (i + 1) % 20 == 0 or i + 1 == n_images:
            yield Progress(i + 1, n_images, "generating scenes", stage="generate")
            check(cancel)
    _write_broken(images / "broken")
    (target / "ground_truth.json").write_text(json.dumps({"images": records}, indent=1))
    return records


def _write_noisy_labels(target: Path, records: list[dict]) -> int:
    """Folder labels with FLIP_FRACTION of them changed to another class (seeded); returns #flipped."""
    rng = np.random.default_rng(DEMO_SEED_BASE)
    flip = rng.random(len(records)) < FLIP_FRACTION
    rows = []
    for rec, f in zip(records, flip):
        label = rec["class"]
        if f:
            others = [c for c in CLASS_NAMES if c != label]
            label = others[int(rng.integers(len(others)))]
        rows.append((rec["path"], label))
    with open(target / "labels_noisy.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label"])
        w.writerows(rows)
    return int(flip.sum())


def build_demo_project(
    target_dir: str | Path,
    n_images: int = DEFAULT_IMAGES,
    cancel: CancelToken | None = None,
    *,
    rebuild: bool = False,
    prelabel: bool = True,
    view_mode: str = DEFAULT_VIEW_MODE,
) -> Generator[Progress, None, Path]:
    """Create the demo project in `target_dir` (or reuse a finished one) and pre-label it.

    Idempotent: a second call with the same `n_images` reuses the images and the project, and the
    pre-label run resumes or reports nothing to do. A cancelled build is resumable the same way.
    `view_mode` is the project's region mode (random = the published 90 crops, grid, dense);
    changing it on a reused demo starts a new pre-label run. Returns the project file's path.
    """
    from db import Project
    from workflows.attributes import import_attributes
    from workflows.import_labels import import_labels
    from workflows.prelabel import run_prelabel
    from workflows.scan import scan_folder
    from workflows.settings import load_settings, save_settings

    if n_images < len(CLASS_NAMES):
        raise UserError(f"the demo needs at least {len(CLASS_NAMES)} images (one per class), not {n_images}")
    target = Path(target_dir).expanduser().resolve()
    reuse = check_demo_target(target, rebuild, _manifest(n_images), _OWNED)
    target.mkdir(parents=True, exist_ok=True)
    proj_path = target / PROJECT_NAME
    if not reuse:
        records = yield from _generate(target, n_images, cancel)
        (target / "attributes.json").write_text(json.dumps(descriptors(), indent=2) + "\n")
        _write_noisy_labels(target, records)
        if proj_path.exists():
            proj_path.unlink()
        project = Project.create(proj_path, target / "images")
    else:
        project = Project.open(proj_path)
    try:
        settings = load_settings(project)
        if not reuse or settings.view_mode != view_mode:
            settings.model = "demo"
            settings.reviewer = settings.reviewer or "demo"
            settings.view_mode = view_mode
            save_settings(project, settings)
        if not reuse:
            yield from scan_folder(project, cancel)
            import_attributes(project, target / "attributes.json", fmt="descriptor-json", mode="replace")
            import_labels(project, "csv", target / "labels_noisy.csv", source=NOISY_SOURCE)
            (target / MANIFEST).write_text(json.dumps(_manifest(n_images), indent=2) + "\n")
        if prelabel:
            yield from run_prelabel(project, scope="all", cancel=cancel)
    finally:
        project.close()
    return proj_path


def demo_summary(project_path: str | Path) -> DemoSummary:
    """Counts of a demo project and its latest predictions scored against the generated truth."""
    from db import Project

    project_path = Path(project_path)
    target = project_path.parent
    try:
        truth = {r["path"]: r["class"] for r in json.loads((target / "ground_truth.json").read_text())["images"]}
        noisy = dict(csv.reader((target / "labels_noisy.csv").open(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"{target} is not a complete demo project ({err}); rebuild it with --rebuild") from err
    out = DemoSummary(project_path)
    with Project.open(project_path) as project:
        counts = project.counts()
        out.n_images, out.n_errors = counts["ok"], counts["error"]
        names = dict(project.class_names_in_order())
        out.n_classes = len(names)
        out.errors = [(path, reason) for _, path, reason in project.image_errors()]
        rows = project.images(project.image_ids())
    tally: dict[str, list[int]] = {c: [0, 0] for c in CLASS_NAMES}
    for row in rows:
        true = truth.get(row.rel_path)
        if true is None or row.pred_class_id is None:
            continue
        pred = names.get(row.pred_class_id)
        out.n_predicted += 1
        hit = pred == true
        out.n_correct += hit
        tally[true][0] += hit
        tally[true][1] += 1
        imported = noisy.get(row.rel_path)
        if imported is not None and imported != true:
            out.n_flipped += 1
            out.flipped_flagged += pred != imported
        elif imported is not None:
            out.clean_flagged += pred != imported
    out.per_class = {c: (v[0], v[1]) for c, v in tally.items()}
    return out
